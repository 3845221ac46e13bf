"""MailboxConnection's envelope on a reused connection against a real aiosmtpd server: refusals keep
their phase and code whether the addresses take the dot-atom fast path or aiosmtplib's own parser."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pot_stack.service import free_port
from pot_worker.classify import Phase
from pot_worker.smtp import Endpoint, MailboxConnection


class Rules:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, list[str]]] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("refused"):
            return "550 5.7.1 sender refused"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Ok"


@pytest.fixture
def server() -> Any:
    rules = Rules()
    controller = Controller(rules, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, rules
    controller.stop()


async def test_refusals_keep_their_phase_on_a_reused_connection(server: Any) -> None:
    controller, rules = server
    conn = MailboxConnection(
        Endpoint("127.0.0.1", controller.port, "none"), "worker.test", 5, ssl.create_default_context()
    )
    body = b"Subject: x\r\n\r\nhi\r\n"
    try:
        first = await conn.send("mb@acme.test", "one@good.test", body, None)
        bounced = await conn.send("mb@acme.test", "bounce-x@good.test", body, None)
        refused = await conn.send("refused@acme.test", "two@good.test", body, None)
        quoted = await conn.send("mb@acme.test", '"odd name"@good.test', body, None)
        last = await conn.send("mb@acme.test", "three@good.test", body, None)
    finally:
        await conn.quit()
    assert (first.phase, first.code) == (Phase.DATA, 250)
    assert (bounced.phase, bounced.code, bounced.enhanced) == (Phase.RCPT, 550, "5.1.1")
    assert (refused.phase, refused.code, refused.enhanced) == (Phase.MAIL, 550, "5.7.1")
    assert (quoted.phase, quoted.code) == (Phase.DATA, 250)
    assert (last.phase, last.code) == (Phase.DATA, 250)
    assert rules.delivered == [
        ("mb@acme.test", ["one@good.test"]),
        ("mb@acme.test", ['"odd name"@good.test']),
        ("mb@acme.test", ["three@good.test"]),
    ]

"""A Mailbox whose inbox refuses its login says so on the Mailbox, and its sends go on: the IMAP
server (Dovecot) holds another password than Vault, the SMTP provider (the sink) the one in Vault."""

from __future__ import annotations

from typing import Any

import pytest
from pot_stack.e2e import condition

from .conftest import Box, World, campaign, mailbox, pool

pytestmark = pytest.mark.timeout(300)


def test_a_wrong_imap_password_shows_login_refused_and_smtp_sends_go_on(start_world: Any) -> None:
    box = Box("locked-inbox", "locked-inbox@acme-mail.test", "smtp-pass-CANARY-inbox")
    world: World = start_world([box])
    world.imap.add_user(box.address, "the-inbox-has-another")  # the inbox's login is not Vault's
    recipients = [f"ok-{i}@example.test" for i in range(3)]
    world.apply([pool("locked"), mailbox(world, "locked", box), *campaign("hello", "locked", recipients)])

    def refused() -> dict[str, Any] | None:
        obj = world.custom("mailboxes", box.name)
        return obj if condition(obj, "InboxReady").get("reason") == "LoginRefused" else None

    obj = world.wait(refused, 120, "InboxReady=False LoginRefused")
    inbox = condition(obj, "InboxReady")
    assert inbox["status"] == "False"
    assert "AUTHENTICATIONFAILED" in inbox["message"] and " since " in inbox["message"]
    assert box.password not in str(obj)
    world.wait(lambda: len(world.sink.messages()) == len(recipients), 120, "the sends went on")
    assert condition(world.custom("mailboxes", box.name), "CredentialsReady").get("status") == "True"
    assert world.sql("SELECT state FROM mailboxes WHERE name = $1", box.name)[0]["state"] == "active"
    assert box.password not in world.all_logs()

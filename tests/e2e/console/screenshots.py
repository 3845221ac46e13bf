"""`make screenshots`: a PNG of each console page in docs/console/, taken by Playwright on the local stack.

Not collected by `make test` (no test_ prefix); `make screenshots` runs it by name. It uses the same
fixtures as the browser tests: the example objects with operator statuses, the campaign's counts
moving so its chart has a history, and a tool run so the output is real.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from pot_stack.controlplane import ControlPlane
from pot_stack.dns_server import DnsServer
from pot_stack.openbao import OpenBao
from pot_stack.redis_server import RedisServer

from .conftest import REPO, StartConsole, write_status
from .test_diagnostics_and_secrets import prepare

OUT = REPO / "docs" / "console"
LEADS = "\n".join(
    (
        "email",
        "alice@good.test",
        "bob@good.test",
        "info@good.test",
        "sales@mailinator.com",
        "not-an-address",
        "carol@gmial.com",
    )
)
MESSAGE = (
    "*Pool acme\\-outreach paused*\n"
    "Bounce rate _5\\.2 %_ is over the pause threshold \\(5 %\\)\\.\n"
    ">Resume with `potctl resume pool acme-outreach -n acme`\n"
    "||Sent by POT||"
)


@pytest.fixture
def namespace(kube_api: Any) -> str:
    """The pictures show the examples where a reader would put them: namespace acme (a fresh session's)."""
    from kubernetes import client

    client.CoreV1Api(kube_api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="acme")))
    return "acme"


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def test_screenshots(
    page: Any,
    kube: ControlPlane,
    fleet: str,
    fresh_database: str,
    redis_server: RedisServer,
    vault: OpenBao,
    dns_server: DnsServer,
    tmp_path: Path,
    stack_env: Callable[[dict[str, str]], None],
    start_console: StartConsole,
) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    prepare(fresh_database, heartbeat=True)
    stack_env(
        {
            "POT_DATABASE_URL": fresh_database,
            "POT_REDIS_URL": redis_server.url,
            **vault.env(),
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_DNSBL_ZONES": "bl.test,domain:dbl.test",
            "POT_CONSOLE_DNS_NAME": "good.test",
            "POT_CONSOLE_SMTP_TARGET": dns_server.resolver.replace(str(dns_server.port), "9"),
        }
    )
    console = start_console(kube.admin_kubeconfig, namespace=fleet)
    # The campaign sends: its counts move a few times, and the console's watch samples each change.
    for sent, bounced, deferred in ((4, 1, 0), (6, 1, 1), (8, 1, 1), (9, 1, 1)):
        counts = {
            "total": 10,
            "queued": 10 - sent - bounced,
            "sent": sent,
            "bounced": bounced,
            "deferred": deferred,
        }
        write_status(kube, "campaign", "welcome", fleet, {"counts": counts})
        time.sleep(0.6)
    page.set_viewport_size({"width": 1280, "height": 800})
    console.sign_in(page)
    expect(page.locator("#mailboxes")).to_contain_text("bob-acme-mail")
    shoot(page, "fleet")
    page.goto(f"{console.url}/mailboxes/{fleet}/bob-acme-mail")
    shoot(page, "mailbox")
    page.goto(f"{console.url}/campaigns")
    shoot(page, "campaigns")
    page.goto(f"{console.url}/campaigns/{fleet}/welcome")
    expect(page.locator("#campaign-chart polyline").first).to_be_visible()
    shoot(page, "campaign")
    page.goto(f"{console.url}/tools")
    shoot(page, "tools")

    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    page.goto(f"{console.url}/tools/check-emails")
    page.get_by_label("SOURCE").set_input_files(leads)
    page.get_by_label("--mode").select_option("format+mx")
    page.get_by_label("--test-domains").select_option("on")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#job-state")).to_have_text("exit 0", timeout=60_000)
    shoot(page, "check-emails")

    page.goto(f"{console.url}/tools/send-telegram")
    page.get_by_label("--parse-mode").select_option("MarkdownV2")
    page.get_by_label("TEXT").fill(MESSAGE)
    page.get_by_label("--chat-id").fill("-1001234567890")
    expect(page.locator("#telegram-preview strong")).to_be_visible()
    shoot(page, "telegram")

    page.goto(f"{console.url}/diagnostics")
    page.get_by_role("button", name="Run diagnostics").click()
    expect(page.locator("#diagnostics")).to_be_visible()
    shoot(page, "diagnostics")

"""Each tool runs from the browser with its flags set by clicking, and its output streams in live: potctl
itself against the local stack's DNS, Postgres and fake chat."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.sync_api import expect
from pot_common.db import apply_schema
from pot_stack.controlplane import ControlPlane
from pot_stack.dns_server import DnsServer
from pot_stack.fake_chat import FakeChat
from pot_stack.fixtures import run_sync

from .conftest import RunningConsole, StartConsole

TELEGRAM_TOKEN = "123:console-test"
SLACK_HOOK = "/services/T000/B000/CONSOLE"


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    started = FakeChat(telegram_tokens={TELEGRAM_TOKEN}, slack_hooks={SLACK_HOOK}).start()
    yield started
    started.stop()


@pytest.fixture
def console(
    kube: ControlPlane,
    crds: ControlPlane,
    namespace: str,
    dns_server: DnsServer,
    fresh_database: str,
    chat: FakeChat,
    stack_env: Callable[[dict[str, str]], None],
    start_console: StartConsole,
) -> RunningConsole:
    async def schema() -> None:
        conn = await asyncpg.connect(fresh_database)
        try:
            await apply_schema(conn)
        finally:
            await conn.close()

    run_sync(schema())  # in its own thread: Playwright's loop runs in this one
    stack_env(
        {
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_DNSBL_ZONES": "bl.test,domain:dbl.test",
            "POT_DATABASE_URL": fresh_database,
            "POT_TELEGRAM_API_URL": chat.url,
            "POT_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
            "POT_SLACK_WEBHOOK": f"https://hooks.slack.test{SLACK_HOOK}",
            "POT_SLACK_WEBHOOK_URL": chat.url,
        }
    )
    return start_console(kube.admin_kubeconfig, namespace=namespace)


def run(page: Any, exit_code: int) -> str:
    """Submit the tool's form; wait for the job to end with `exit_code`; the streamed output."""
    page.get_by_role("button", name=re_button()).click()
    expect(page.locator("#job-state")).to_have_text(f"exit {exit_code}", timeout=60_000)
    return str(page.locator("#output").inner_text())


def re_button() -> Any:
    import re

    return re.compile("^(Run|Send)$")


def test_check_emails_upload_mode_stream_and_download(
    page: Any, console: RunningConsole, tmp_path: Path
) -> None:
    listing = tmp_path / "leads.csv"
    listing.write_text("email,name\nalice@good.test,Alice\nnot-an-address,Bad\ninfo@good.test,Info\n")
    console.sign_in(page, "/tools/check-emails")
    page.get_by_label("SOURCE").set_input_files(listing)
    page.get_by_label("--mode").select_option("syntax")
    page.get_by_label("--test-domains").select_option("on")
    output = run(page, 0)
    assert "$ potctl check-emails --output json --mode=syntax --test-domains -- <uploaded file>" in output
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(3)
    results = {r[1]: r[2] for r in (row.locator("td").all_inner_texts() for row in rows.all())}
    assert results == {"alice@good.test": "valid", "not-an-address": "invalid", "info@good.test": "risky"}
    expect(page.locator("#result-count")).to_have_text("3 results")

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["address"] for r in table] == ["alice@good.test", "not-an-address", "info@good.test"]
    assert table[2]["role"] == "True"
    with page.expect_download() as download:
        page.get_by_role("link", name="JSON").click()
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [r["result"] for r in lines] == ["valid", "invalid", "risky"]


def test_preflight_spf_and_blocklists(page: Any, console: RunningConsole) -> None:
    console.sign_in(page, "/tools/preflight")
    page.get_by_label("DOMAIN (required)", exact=True).fill("good.test")
    page.get_by_label("--smtp-host").fill("mx.good.test")
    page.get_by_label("--dkim-selector").fill("pot")
    output = run(page, 0)
    assert "$ potctl preflight --smtp-host=mx.good.test --dkim-selector=pot -- good.test" in output
    assert "overall: pass" in output

    page.goto(console.url + "/tools/spf-check")
    page.get_by_label("--ip").fill("127.0.0.1")
    page.get_by_label("--sender").fill("alice@good.test")
    assert run(page, 0).rstrip().endswith("pass")
    page.get_by_label("--ip").fill("192.0.2.9")
    assert run(page, 1).rstrip().endswith("fail")

    page.goto(console.url + "/tools/blocklist-check")
    page.get_by_label("IP ADDRESSES").fill("127.0.0.2\n127.0.0.1")
    page.get_by_label("DOMAINS").fill("listed.test")
    output = run(page, 1)
    assert "127.0.0.2: LISTED in ip:bl.test" in output
    assert "127.0.0.1: not listed in ip:bl.test" in output
    assert "listed.test: LISTED in domain:dbl.test" in output


def test_suppression_add_list_and_export(page: Any, console: RunningConsole) -> None:
    console.sign_in(page, "/tools/suppression-add")
    page.get_by_label("ADDRESSES").fill("Bob@Good.test\ncarol@good.test")
    page.get_by_label("--tenant").fill("acme")
    page.get_by_label("--reason").select_option("complaint")
    assert "suppressed 2 address(es) for acme" in run(page, 0)

    page.goto(console.url + "/tools/suppression-list")
    page.get_by_label("--tenant").fill("acme")
    output = run(page, 0)
    assert "bob@good.test" in output and "complaint" in output

    page.goto(console.url + "/tools/suppression-export")
    page.get_by_label("--tenant").fill("acme")
    run(page, 0)
    with page.expect_download() as download:
        page.get_by_role("link", name="output").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["address"] for r in exported] == ["bob@good.test", "carol@good.test"]


def test_telegram_editor_previews_and_reaches_the_chat(
    page: Any, console: RunningConsole, chat: FakeChat
) -> None:
    console.sign_in(page, "/tools/send-telegram")
    page.get_by_label("--parse-mode").select_option("MarkdownV2")
    page.get_by_label("TEXT").fill("*Pool acme* paused")
    preview = page.locator("#telegram-preview")
    expect(preview.locator("strong")).to_have_text("Pool acme")
    expect(preview).to_contain_text("sent as 1 message")
    # Telegram would refuse an unescaped "." in MarkdownV2: the preview says so before sending.
    page.get_by_label("TEXT").fill("*Pool acme* paused at 5.2 %")
    expect(preview.get_by_role("alert")).to_contain_text("Character '.' is reserved")
    page.get_by_label("TEXT").fill("*Pool acme* paused at 5\\.2 %")
    expect(preview.locator("strong")).to_have_text("Pool acme")
    page.get_by_label("--chat-id").fill("-100123")
    page.get_by_label("--silent").check()
    assert "sent 1 message(s) to -100123" in run(page, 0)
    assert [(m["chat"]["id"], m["text"], m["parse_mode"]) for m in chat.telegram_messages] == [
        ("-100123", "*Pool acme* paused at 5\\.2 %", "MarkdownV2")
    ]


def test_slack(page: Any, console: RunningConsole, chat: FakeChat) -> None:
    console.sign_in(page, "/tools/send-slack")
    page.get_by_label("TEXT").fill("campaign welcome completed")
    assert "sent" in run(page, 0)
    assert [m["text"] for m in chat.slack_messages] == ["campaign welcome completed"]

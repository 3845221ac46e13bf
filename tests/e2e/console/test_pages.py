"""Every console page loads in a real browser against a real apiserver, shows what potctl shows, and works
from the keyboard with a label on every control."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import httpx
from playwright.sync_api import expect
from pot_stack.controlplane import ControlPlane
from pot_stack.service import free_port, wait_until

from .conftest import StartConsole, write_status

PAGES = (
    ("/fleet", "Fleet"),
    ("/campaigns", "Campaigns"),
    ("/tools", "Tools"),
    ("/diagnostics", "Diagnostics"),
    ("/tools/check-emails", "Check email addresses"),
    ("/tools/preflight", "Preflight a sending domain"),
    ("/tools/spf-check", "SPF check"),
    ("/tools/blocklist-check", "Blocklist check"),
    ("/tools/suppression-add", "Suppress addresses"),
    ("/tools/suppression-list", "List suppressions"),
    ("/tools/send-telegram", "Telegram message"),
    ("/tools/send-slack", "Slack message"),
)
# Every form control must have a name a screen reader can say: a <label for>, or aria-label.
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .filter(el => !el.textContent.trim())
    .map(el => el.outerHTML)"""


def row_cells(page: Any, table: str, name: str) -> list[str]:
    row = page.locator(f"{table} tbody tr", has=page.get_by_role("cell", name=name, exact=True)).first
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_every_page_loads(page: Any, kube: ControlPlane, fleet: str, start_console: StartConsole) -> None:
    console = start_console(kube.admin_kubeconfig, namespace=fleet)
    console.sign_in(page)
    for path, heading in PAGES:
        page.goto(console.url + path)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        assert page.locator(".flash.error:visible").count() == 0, (
            path,
            page.locator(".flash.error").all_inner_texts(),
        )
        assert page.evaluate(UNLABELLED) == [], path

    page.goto(console.url + "/fleet")
    # The pool and mailbox rows hold potctl status's cells.
    pool = row_cells(page, "table.data", "acme-outreach")
    assert pool[:9] == [
        fleet,
        "acme-outreach",
        "3 (1 active, 1 warming, 1 cooling)",
        "True",
        "44",
        "12",
        "1",
        "88",
        "no",
    ]
    bob = row_cells(page, "#mailboxes", "bob-acme-mail")
    assert bob[:11] == [
        "bob-acme-mail", fleet, "bob@acme-mail.test", "acme-outreach", "Cooling", "12", "9", "6", "61",
        "False: CoolingDown", "DeferralRate",
    ]  # fmt: skip

    page.get_by_role("link", name="bob-acme-mail").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Mailbox bob-acme-mail")
    expect(page.locator("main")).to_contain_text("because DeferralRate")
    expect(page.locator("svg.chart title").first).to_have_text("Warmup curve: daily cap by warmup day")
    expect(page.get_by_role("row", name=re.compile("Deferral rate"))).to_contain_text("36.0 %")
    expect(page.locator("main")).to_contain_text("CooldownStarted")  # its Kubernetes Events

    page.goto(console.url + "/campaigns")
    expect(page.locator("#campaigns")).to_contain_text("welcome")
    # Live: the operator reports more sends and the row follows without a reload (server-sent events).
    counts = {"total": 10, "queued": 2, "sent": 7, "bounced": 1}
    write_status(kube, "campaign", "welcome", fleet, {"counts": counts})
    sent = page.locator(f'[data-campaign="{fleet}/welcome"] [data-cell="6"]')
    expect(sent).to_have_text("7", timeout=10_000)
    expect(page.locator(f'[data-campaign="{fleet}/welcome"] [data-progress]')).to_have_text("8/10")
    page.get_by_role("link", name="welcome").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Campaign welcome")
    expect(page.get_by_role("button", name="Cancel campaign")).to_be_disabled()  # only once Paused


def test_fleet_filters_sorts_and_pages_by_keyboard(
    page: Any, kube: ControlPlane, fleet: str, start_console: StartConsole
) -> None:
    console = start_console(kube.admin_kubeconfig, namespace=fleet)
    console.sign_in(page)
    # Choose the state filter with the keyboard only: focus it, pick "Cooling", submit with Enter.
    page.get_by_label("State").focus()
    page.keyboard.type("Cooling")
    page.get_by_label("Name or address").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"state=Cooling"))
    names = page.locator("#mailboxes tbody tr td:first-child").all_inner_texts()
    assert names == ["bob-acme-mail"]

    page.goto(console.url + "/fleet?sort=health&order=desc")
    names = page.locator("#mailboxes tbody tr td:first-child").all_inner_texts()
    assert names == ["carol-acme-outreach", "alice-acme-mail", "bob-acme-mail"]
    expect(page.locator("#mailboxes th[aria-sort=descending]")).to_contain_text("HEALTH")

    page.goto(console.url + "/fleet?per_page=25&cooldown=any")
    expect(page.locator("main")).to_contain_text("Mailboxes 1 of 3")
    # Skip link and tab order: the first Tab reaches "Skip to content", Enter moves focus to the page.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_potctl_console_serves_with_the_callers_kubeconfig(kube: ControlPlane, fleet: str) -> None:
    """The real command: it prints a URL with a token; without the token nothing is served."""
    port = free_port()
    env = {**os.environ, "KUBECONFIG": str(kube.admin_kubeconfig)}
    process = subprocess.Popen(
        [sys.executable, "-m", "potctl.main", "console", "--port", str(port), "-n", fleet],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
        assert url, line
        wait_until(lambda: _answers(port), timeout=20, what="potctl console")
        assert httpx.get(f"http://127.0.0.1:{port}/fleet").status_code == 401
        with httpx.Client(follow_redirects=True) as browser:
            page = browser.get(url.group(0))
            assert page.status_code == 200 and "acme-outreach" in page.text
            assert "token=" not in str(page.url)  # traded for a cookie, gone from the address bar
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.HTTPError:
        return False

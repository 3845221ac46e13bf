"""Diagnostics with one button show a stopped service as down; and no secret the console holds (Vault
token, bot token, webhook URL, database password) ever reaches a page or an event stream."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.sync_api import expect
from pot_common.db import apply_schema
from pot_stack.controlplane import ControlPlane
from pot_stack.dns_server import DnsServer
from pot_stack.fake_chat import FakeChat
from pot_stack.fixtures import run_sync
from pot_stack.openbao import OpenBao
from pot_stack.redis_server import RedisServer

from .conftest import StartConsole

VAULT_CANARY = "hvs.canary-vault-token-7Qz"
BOT_CANARY = "987654:canary-bot-token-Xk2"
HOOK_PATH = "/services/T0CANARY/B0CANARY/canary-webhook-Pq9"
DB_CANARY = "canary-db-password-Mv4"
CANARIES = (VAULT_CANARY, BOT_CANARY, "canary-bot-token", "canary-webhook-Pq9", DB_CANARY)


def prepare(url: str, heartbeat: bool) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await apply_schema(conn)
            if heartbeat:
                await conn.execute(
                    "INSERT INTO worker_heartbeats "
                    "(worker_id, pool_id, hostname, pid, started_at, seen_at, in_flight) "
                    "VALUES ('w1', 1, 'host', 1, now(), now(), 2)"
                )
        finally:
            await conn.close()

    run_sync(go())


@pytest.fixture
def smtp_port() -> Iterator[str]:
    """Something listening where the outbound SMTP check connects."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_a_stopped_service_shows_down(
    page: Any,
    kube: ControlPlane,
    crds: ControlPlane,
    namespace: str,
    fresh_database: str,
    vault: OpenBao,
    dns_server: DnsServer,
    smtp_port: str,
    tmp_path: Path,
    stack_env: Callable[[dict[str, str]], None],
    start_console: StartConsole,
) -> None:
    prepare(fresh_database, heartbeat=True)
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        stack_env(
            {
                "POT_DATABASE_URL": fresh_database,
                "POT_REDIS_URL": redis.url,
                **vault.env(),
                "POT_DNS_RESOLVER": dns_server.resolver,
                "POT_CONSOLE_DNS_NAME": "good.test",
                "POT_CONSOLE_SMTP_TARGET": smtp_port,
            }
        )
        console = start_console(kube.admin_kubeconfig, namespace=namespace)
        console.sign_in(page, "/diagnostics")
        page.get_by_role("button", name="Run diagnostics").click()
        states = page.locator("#diagnostics tbody tr")
        expect(states).to_have_count(9)
        shown = {r.locator("th").inner_text(): r.locator(".badge").inner_text() for r in states.all()}
        assert shown == {
            "Kubernetes apiserver": "up",
            "Postgres": "up",
            "Redis": "up",
            "Vault": "up",
            "DNS": "up",
            "Outbound SMTP port": "up",
            "Operator": "skipped",
            "Workers": "up",
            "Queue lag": "up",
        }
        expect(page.get_by_role("status")).to_contain_text("Overall: up")

        redis.stop()
        page.get_by_role("button", name="Run diagnostics").click()
        row = page.locator('#diagnostics tr[data-probe="Redis"]')
        expect(row.locator(".badge")).to_have_text("down")
        expect(row).to_contain_text("ConnectionError")
        expect(page.get_by_role("status")).to_contain_text("Overall: down")
    finally:
        redis.stop()


def test_no_secret_is_ever_rendered(
    page: Any,
    kube: ControlPlane,
    fleet: str,
    postgres: Any,
    fresh_database: str,
    vault: OpenBao,
    dns_server: DnsServer,
    stack_env: Callable[[dict[str, str]], None],
    start_console: StartConsole,
) -> None:
    prepare(fresh_database, heartbeat=False)
    chat = FakeChat(telegram_tokens={BOT_CANARY}, slack_hooks={HOOK_PATH}).start()
    try:
        # The database accepts anyone local (trust): the password rides along in the URL, unused.
        with_password = fresh_database.replace(f"{postgres.user}@", f"{postgres.user}:{DB_CANARY}@")
        stack_env(
            {
                "POT_DATABASE_URL": with_password,
                "POT_VAULT_ADDR": vault.addr,
                "POT_VAULT_TOKEN": VAULT_CANARY,
                "POT_TELEGRAM_TOKEN": BOT_CANARY,
                "POT_TELEGRAM_API_URL": chat.url,
                "POT_SLACK_WEBHOOK": f"https://hooks.slack.test{HOOK_PATH}",
                "POT_SLACK_WEBHOOK_URL": chat.url,
                "POT_DNS_RESOLVER": dns_server.resolver,
            }
        )
        console = start_console(kube.admin_kubeconfig, namespace=fleet)
        seen: list[str] = []
        page.on(
            "response",
            lambda r: (
                seen.append(r.text()) if "event-stream" not in r.headers.get("content-type", "") else None
            ),
        )
        console.sign_in(page)
        jobs: list[str] = []
        page.on("request", lambda r: jobs.append(r.url) if r.url.endswith("/events") else None)
        for path in (
            "/fleet",
            "/campaigns",
            f"/campaigns/{fleet}/welcome",
            f"/mailboxes/{fleet}/bob-acme-mail",
            "/tools",
            "/diagnostics?run=1",
        ):
            page.goto(console.url + path)
            seen.append(page.content())
        page.goto(console.url + "/tools/send-telegram")
        page.get_by_label("TEXT").fill("canary check")
        page.get_by_label("--chat-id").fill("-1")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#job-state")).to_have_text("exit 0", timeout=60_000)
        seen.append(page.content())
        page.goto(console.url + "/tools/send-slack")
        page.get_by_label("TEXT").fill("canary check")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#job-state")).to_have_text("exit 0", timeout=60_000)
        seen.append(page.content())
        # A failing send too: the error line must not quote the token either.
        page.goto(console.url + "/tools/send-telegram")
        page.get_by_label("TEXT").fill("x")
        page.get_by_role("button", name="Send").click()  # no chat id: potctl refuses
        expect(page.locator("#job-state")).to_have_text("exit 2", timeout=60_000)
        seen.append(page.content())
        assert chat.telegram_messages and chat.slack_messages

        # Each job's event stream, read again from the start, as a reconnecting browser would.
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        with httpx.Client(base_url=console.url, cookies=cookies, timeout=30) as client:
            for url in jobs:
                seen.append(client.get(url).text)
            streamed = seen[-len(jobs) :]
            with client.stream("GET", "/campaigns/live") as live:
                seen.append(next(live.iter_text()))
        assert len(jobs) == 3 and all("event: done" in s for s in streamed)
        for text in seen:
            for canary in CANARIES:
                assert canary not in text, f"{canary} rendered"
    finally:
        chat.stop()

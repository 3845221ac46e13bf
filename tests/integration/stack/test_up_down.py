"""`python -m pot_stack up` brings every service up and returns; `down` leaves no process behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pot_stack.redis_server import ping
from pot_stack.stack import group_members, leftover_processes

UP_BUDGET_SECONDS = 120  # the acceptance criterion for `make up` with a warm cache


def pot_stack(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pot_stack", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def root(request: pytest.FixtureRequest) -> Iterator[Path]:
    # Outside pytest's 0700 tmp folder: Postgres runs as another user when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="pot-up-"))
    path.chmod(0o755)
    failed_before = request.session.testsfailed
    yield path
    pot_stack("down", "--root", str(path))  # whatever the test did, stop what is left
    if request.session.testsfailed == failed_before:
        shutil.rmtree(path, ignore_errors=True)
    else:
        print(f"stack logs kept in {path / 'logs'}")


def read_env(root: Path) -> dict[str, str]:
    env = {}
    for line in (root / "env").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'")
    return env


def assert_all_answer(env: dict[str, str]) -> None:
    import asyncio

    import asyncpg

    async def select_one() -> int:
        conn = await asyncpg.connect(env["POT_DATABASE_URL"])
        try:
            return int(await conn.fetchval("SELECT 1"))
        finally:
            await conn.close()

    assert asyncio.run(select_one()) == 1
    assert redis.Redis.from_url(env["POT_REDIS_URL"]).ping()
    health = f"{env['POT_VAULT_ADDR']}/v1/sys/health"
    with urllib.request.urlopen(health, timeout=5) as response:  # noqa: S310 - our loopback http URL
        assert json.loads(response.read())["sealed"] is False
    import dns.resolver

    host, port = env["POT_DNS_RESOLVER"].split(":")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port = [host], int(port)
    assert str(res.resolve("acme-mail.test", "MX")[0].exchange) == "mx.acme-mail.test."
    with socket.create_connection((env["POT_SMTP_HOST"], int(env["POT_SMTP_PORT"])), timeout=5) as smtp:
        assert smtp.recv(64).startswith(b"220")
    # The fake chat takes whatever token the operator read from Vault (any bot, any hook path).
    import httpx

    sent = httpx.post(
        f"{env['POT_TELEGRAM_API_URL']}/bot1:any/sendMessage", json={"chat_id": "1", "text": "up"}
    )
    assert sent.json()["ok"] is True
    # The transcripts' store: the bucket is there and the keys in .pot/env may use it.
    from minio import Minio

    store = Minio(
        env["POT_TRANSCRIPTS_ENDPOINT"].removeprefix("http://"),
        env["POT_TRANSCRIPTS_ACCESS_KEY"],
        env["POT_TRANSCRIPTS_SECRET_KEY"],
        secure=False,
        region="us-east-1",
    )
    assert store.bucket_exists(env["POT_TRANSCRIPTS_BUCKET"])


def assert_secured(root: Path, env: dict[str, str]) -> None:
    """What `secure` set up: OpenBao's kubernetes auth with POT's roles and its audit log, a token
    with only the operator's policy, and the workers' Postgres role."""
    import asyncio

    import asyncpg
    import hvac

    assert env["POT_WORKER_VAULT_ROLE"] == "pot-worker" and env["POT_ALLOW_PLAINTEXT_AUTH"] == "true"
    admin = hvac.Client(url=env["POT_VAULT_ADDR"], token=env["POT_VAULT_TOKEN"])
    roles = admin.auth.kubernetes.list_roles()["keys"]
    assert {"pot-worker", "pot-operator"} <= set(roles)
    assert (root / "logs" / "openbao-audit.log").stat().st_size > 0
    looked_up = admin.auth.token.lookup(env["POT_OPERATOR_VAULT_TOKEN"])
    assert looked_up["data"]["policies"] == ["pot-operator"]

    async def worker_role() -> str:
        conn = await asyncpg.connect(env["POT_WORKER_DATABASE_URL"])
        try:
            return str(await conn.fetchval("SELECT current_user"))
        finally:
            await conn.close()

    assert asyncio.run(worker_role()) == "pot_worker"


def assert_groups_gone(state: dict[str, object]) -> None:
    services = state["services"]
    assert isinstance(services, list)
    for entry in services:
        for pgid in entry["pgids"]:
            assert group_members(pgid) == [], f"{entry['name']} left processes in group {pgid}"


def assert_nothing_left(root: Path, state: dict[str, object]) -> None:
    assert_groups_gone(state)
    assert leftover_processes(root) == []


def test_up_then_down_with_the_control_plane(root: Path) -> None:
    began = time.monotonic()
    up = pot_stack("up", "--root", str(root))
    elapsed = time.monotonic() - began
    assert up.returncode == 0, up.stderr
    print(f"make_up_seconds={elapsed:.1f}")
    assert elapsed < UP_BUDGET_SECONDS

    state = json.loads((root / "state.json").read_text())
    names = [entry["name"] for entry in state["services"]]
    # the services, then the apps that need them: the operator, the local runner for its workers, the
    # job runner for its checker Jobs and the unsubscribe endpoint
    assert names == [
        "controlplane",
        "postgres",
        "redis",
        "openbao",
        "dns",
        "smtp-sink",
        "chat",
        "s3",
        "oauth",
        "imap",
        "operator",
        "local-runner",
        "job-runner",
        "unsubscribe",
    ]
    env_file = root / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env = read_env(root)
    expected = {
        "POT_DATABASE_URL",
        "POT_REDIS_URL",
        "POT_VAULT_ADDR",
        "POT_VAULT_TOKEN",
        "POT_DNS_RESOLVER",
        "POT_SMTP_HOST",
        "POT_SMTP_PORT",
        "POT_DNSBL_ZONES",
        "POT_TELEGRAM_API_URL",
        "POT_SLACK_WEBHOOK_URL",
        "POT_OPERATOR_METRICS_URL",
        "POT_STACK_OAUTH_URL",
        "POT_STACK_IMAP_PORT",
        "POT_UNSUBSCRIBE_URL",
        "POT_TRANSCRIPTS_ENDPOINT",
        "POT_TRANSCRIPTS_BUCKET",
        "POT_TRANSCRIPTS_ACCESS_KEY",
        "POT_TRANSCRIPTS_SECRET_KEY",
        "KUBECONFIG",
    }
    assert expected <= set(env)
    assert Path(env["KUBECONFIG"]) == root / "kubeconfig"
    assert env["POT_VAULT_TOKEN"] not in (root / "state.json").read_text()
    assert env["POT_TRANSCRIPTS_SECRET_KEY"] not in (root / "state.json").read_text()
    assert_all_answer(env)
    assert_secured(root, env)
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=env["KUBECONFIG"])
    try:
        crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    finally:
        api.close()
    assert {crd.metadata.name for crd in crds} >= {
        "mailboxes.pot.dev",
        "mailboxpools.pot.dev",
        "campaigns.pot.dev",
    }

    again = pot_stack("up", "--root", str(root))
    assert again.returncode == 0 and "already up" in again.stderr
    assert json.loads((root / "state.json").read_text()) == state  # nothing restarted
    assert pot_stack("status", "--root", str(root)).returncode == 0

    down = pot_stack("down", "--root", str(root))
    assert down.returncode == 0, down.stderr
    assert_nothing_left(root, state)
    assert not (root / "env").exists()
    assert not [path for entry in state["services"] for path in entry["leftovers"] if Path(path).exists()]
    assert pot_stack("status", "--root", str(root)).returncode == 1


def test_up_after_a_crash_restarts_cleanly(root: Path) -> None:
    assert pot_stack("up", "--root", str(root), "--without-controlplane").returncode == 0
    state = json.loads((root / "state.json").read_text())
    redis_entry = next(e for e in state["services"] if e["name"] == "redis")
    os.killpg(redis_entry["pgids"][0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while group_members(redis_entry["pgids"][0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pot_stack("status", "--root", str(root)).returncode == 1

    up = pot_stack("up", "--root", str(root), "--without-controlplane")
    assert up.returncode == 0, up.stderr
    assert "partly up" in up.stderr
    assert_groups_gone(state)  # the survivors of the first run were stopped...
    restarted = json.loads((root / "state.json").read_text())
    port = int(read_env(root)["POT_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    assert ping(port)  # ...and a complete stack runs again
    assert pot_stack("down", "--root", str(root)).returncode == 0
    assert_nothing_left(root, restarted)


def test_up_without_crds_says_so(tmp_path: Path) -> None:
    # Checked with the data services only: the message comes before any apiserver work.
    from pot_stack import stack
    from rich.console import Console

    class NoPlane:
        name = "controlplane"

    console = Console(record=True, width=200)
    stack._install_crds(NoPlane(), tmp_path / "empty", console)  # type: ignore[arg-type]
    assert "No CRD manifests" in console.export_text()

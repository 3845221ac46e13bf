"""Fixtures for the operator e2e tests: CRDs installed and `pot-operator` running as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


class OperatorProcess:
    """`pot-operator --standalone` against the test control plane; restartable, log kept on disk."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pot_operator.cli", "--standalone", "--verbose"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        out.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def crds_installed(kube):  # type: ignore[no-untyped-def]
    kube.apply_crds(REPO / "crds")
    return kube


# The Slack webhook the tests store in Vault; the operator rebases it onto the fake (POT_SLACK_WEBHOOK_URL).
SLACK_HOOK = "/services/T000/B000/XXXX"
TELEGRAM_TOKEN = "123:test-token"


@pytest.fixture
def fake_chat() -> Iterator[Any]:
    """Local servers speaking the Telegram Bot API and Slack webhooks (pot_stack.fake_chat)."""
    from pot_stack.fake_chat import FakeChat

    chat = FakeChat(telegram_tokens={TELEGRAM_TOKEN}, slack_hooks={SLACK_HOOK}).start()
    yield chat
    chat.stop()


@pytest.fixture
def operator_env() -> dict[str, str]:
    """The cluster admin's settings for this operator; these tests' mailboxes log in to loopback test
    servers without TLS, as the local stack allows for its sink (tests/e2e/tenancy refuses it)."""
    return {"POT_ALLOW_PLAINTEXT_AUTH": "true"}


@pytest.fixture
def operator(
    crds_installed, fresh_database, vault, dns_server, fake_chat, tmp_path, operator_env
) -> Iterator[OperatorProcess]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "KUBECONFIG": str(crds_installed.admin_kubeconfig),
        "POT_DATABASE_URL": fresh_database,
        **vault.env(),
        "POT_RECONCILE_INTERVAL": "1",
        "POT_CAMPAIGN_INTERVAL": "1",
        "POT_CREDENTIALS_RECHECK": "600",
        # DNS preflight against the test zones, with the test blocklists (bl.test lists 127.0.0.2,
        # dbl.test lists listed.test); domains rechecked every 2 s instead of hourly.
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_DNSBL_ZONES": "bl.test,domain:dbl.test",
        "POT_DOMAIN_RECHECK": "2",
        "POT_TELEGRAM_API_URL": fake_chat.url,
        "POT_SLACK_WEBHOOK_URL": fake_chat.url,
        **operator_env,
    }
    proc = OperatorProcess(env, tmp_path / "operator.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()

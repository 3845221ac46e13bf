"""Fixtures for the console's browser tests: Debian's chromium driven by Playwright, the console served
in a thread against the test control plane, and the example objects with the statuses the operator writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pot_console.app import create_app
from pot_console.auth import Auth, KubernetesAuth, LocalAuth
from pot_console.settings import AuthMode, ConsoleSettings
from pot_console.web import Console
from pot_stack.controlplane import ControlPlane
from pot_stack.service import free_port
from potctl.kube_commands import connect

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
INSTALL_CHROMIUM = REPO / "tests" / "browser" / "install-chromium.sh"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLES = tuple(REPO / "examples" / f for f in ("mailboxpool.yaml", "mailboxes.yaml", "campaign.yaml"))
AT = "2026-11-27T10:00:00Z"


class ServerThread:
    """uvicorn serving one app on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class RunningConsole:
    url: str
    auth: Auth
    state: Console

    def sign_in(self, page: Any, path: str = "/fleet") -> None:
        """Open the URL `potctl console` would print (local mode): the token becomes a cookie."""
        token = self.auth.token if isinstance(self.auth, LocalAuth) else ""
        page.goto(f"{self.url}{path}?token={token}")


StartConsole = Callable[..., RunningConsole]


@pytest.fixture
def start_console() -> Iterator[StartConsole]:
    """Serve the console with a kubeconfig (the caller's, locally; the console's own in kubernetes mode).

    Settings come from os.environ at start, as `potctl console` reads them (tests set POT_* first).
    """
    stack = contextlib.ExitStack()

    def start(
        kubeconfig: Path, *, auth: AuthMode = AuthMode.LOCAL, namespace: str | None = None
    ) -> RunningConsole:
        cluster = stack.enter_context(connect(str(kubeconfig), None))
        settings = ConsoleSettings.from_env(namespace=namespace, auth=auth)
        guard: Auth = KubernetesAuth(cluster.api.api_client) if auth is AuthMode.KUBERNETES else LocalAuth()
        app = create_app(settings, cluster, guard)
        server = ServerThread(app)
        server.start()
        stack.callback(server.stop)
        state: Console = app.state.console
        assert state.view.wait_synced(20), "the console's informers did not list in time"
        return RunningConsole(f"http://127.0.0.1:{server.port}", guard, state)

    yield start
    stack.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium (installed by `make tools`, or here when missing) under Playwright.

    Per module, not per session: Playwright's sync API keeps an event loop running in the main
    thread until it stops, and every later test that calls asyncio.run() would fail.
    """
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        subprocess.run(["bash", str(INSTALL_CHROMIUM)], check=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


@pytest.fixture(scope="module")
def crds(kube: ControlPlane) -> ControlPlane:
    kube.apply_crds(REPO / "crds")
    return kube


def _ready(status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": "Ready", "status": status, "reason": reason, "message": message, "lastTransitionTime": AT}


# What the operator writes, in the CRDs' wire names (as in tests/e2e/potctl).
POOL_STATUS = {
    "mailboxes": {"total": 3, "warming": 1, "active": 1, "cooling": 1},
    "capacityToday": 44,
    "sentToday": 12,
    "workerReplicas": 1,
    "health": {"windowSeconds": 604800, "sent": 240, "bounceRateBasisPoints": 120, "score": 88},
    "paused": False,
    "conditions": [_ready("True", "Sending")],
}
MAILBOX_STATUSES = {
    "alice-acme-mail": {
        "state": "Warming",
        "pool": "acme-outreach",
        "warmupDay": 4,
        "capToday": 9,
        "sentToday": 2,
        "healthScore": 97,
        "health": {"windowSeconds": 604800, "sent": 60, "bounced": 1, "bounceRateBasisPoints": 163},
        "conditions": [_ready("True", "Sending")],
    },
    "bob-acme-mail": {
        "state": "Cooling",
        "pool": "acme-outreach",
        "warmupDay": 12,
        "capToday": 9,
        "sentToday": 6,
        "healthScore": 61,
        "cooldownUntil": "2026-11-28T10:00:00Z",
        "health": {"windowSeconds": 604800, "sent": 80, "deferred": 30, "deferralRateBasisPoints": 3600},
        "conditions": [
            {
                "type": "Healthy",
                "status": "False",
                "reason": "DeferralRate",
                "message": "Cooling down until 2026-11-28T10:00:00Z",
                "lastTransitionTime": AT,
            },
            _ready("False", "CoolingDown", "Cooling down until 2026-11-28T10:00:00Z"),
        ],
    },
    "carol-acme-outreach": {
        "state": "Active",
        "pool": "acme-outreach",
        "warmupDay": 25,
        "capToday": 30,
        "sentToday": 4,
        "healthScore": 99,
        "conditions": [_ready("True", "Sending")],
    },
}
CAMPAIGN_STATUS = {
    "phase": "Running",
    "counts": {"total": 10, "queued": 6, "sent": 3, "bounced": 1},
    "conditions": [_ready("True", "Running")],
}


def write_status(
    kube: ControlPlane, resource: str, name: str, namespace: str, status: dict[str, Any]
) -> None:
    kube.kubectl(
        "patch", resource, name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def get(kube: ControlPlane, resource: str, name: str, namespace: str) -> dict[str, Any]:
    return dict(json.loads(kube.kubectl("get", resource, name, "-n", namespace, "-o", "json").stdout))


@pytest.fixture
def fleet(crds: ControlPlane, namespace: str) -> str:
    """The example pool, three mailboxes and the campaign in a fresh namespace, with operator statuses."""
    args = [a for path in EXAMPLES for a in ("-f", str(path))]
    crds.kubectl("apply", "--server-side", "-n", namespace, *args)
    write_status(crds, "mailboxpool", "acme-outreach", namespace, POOL_STATUS)
    for name, status in MAILBOX_STATUSES.items():
        write_status(crds, "mailbox", name, namespace, status)
    write_status(crds, "campaign", "welcome", namespace, CAMPAIGN_STATUS)
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "bob-cooldown", "namespace": namespace},
        "involvedObject": {"kind": "Mailbox", "name": "bob-acme-mail", "namespace": namespace},
        "type": "Warning",
        "reason": "CooldownStarted",
        "message": "DeferralRate: cooling down until 2026-11-28T10:00:00Z",
        "firstTimestamp": AT,
        "lastTimestamp": AT,
        "count": 1,
        "source": {"component": "pot-operator"},
    }
    crds.kubectl("apply", "-f", "-", input=json.dumps(event))
    return namespace


@pytest.fixture
def stack_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Set POT_* for the console (and the potctl it runs) for this test only."""

    def apply(env: dict[str, str]) -> None:
        for key in [k for k in os.environ if k.startswith("POT_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    return apply

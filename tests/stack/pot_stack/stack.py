"""`make up` / `make down` / status: the whole local stack in one folder; called by pot_stack.__main__.

`up` starts the control plane, PostgreSQL, Redis, OpenBao, the DNS server, the SMTP sink, the fake
Telegram/Slack server, the S3 object store for transcripts, the local OAuth2 token endpoint and the
IMAP server (all at once, in threads: those that talk to each other, the sink, the IMAP server and
the token endpoint, get their ports before any starts), installs the CRDs, secures
the stack as a cluster admin would (`secure`: OpenBao's kubernetes auth against the apiserver with
POT's policies and roles, a Vault token holding only the operator's policy, the `pot_worker`
Postgres role), then starts the APPS below (which so get every address, the chat API bases
included), and records everything in `<root>/state.json`; `<root>/env` gets `export` lines for every
variable. OpenBao's audit log is `<root>/logs/openbao-audit.log`.
Every server runs in its own process group, so `down` can stop each group (its stop signal, then
SIGTERM, then SIGKILL) and then checks that no process is left.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shlex
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pot_stack.dns_server import DnsServer
from pot_stack.fake_chat import FakeChatService
from pot_stack.imap_server import ImapServer
from pot_stack.oauth_server import OAuthService
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.redis_server import RedisServer
from pot_stack.s3_server import S3Server
from pot_stack.service import Service, free_port, kill_group
from pot_stack.smtp_sink import SmtpSink

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_ROOT = Path(".pot")
CRDS_DIR = REPO_ROOT / "crds"
STATE_FILE = "state.json"
ENV_FILE = "env"

# ---------------------------------------------------------------------------------------------
# Apps started after the services are up and the CRDs are installed, in this order: the operator,
# then the local runner that plays the kubelet for the worker Deployments the operator creates.
# Each factory takes the stack root and the environment of everything started before it (POT_* and
# KUBECONFIG) and returns an unstarted Service; `up` starts it, records its process groups and adds
# its env() to `.pot/env`, and `down` stops it first. Apps need the control plane, so
# `--without-controlplane` skips them.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppSpec:
    name: str
    factory: Callable[[Path, dict[str, str]], Service]


def _operator_app(root: Path, env: dict[str, str]) -> Service:
    from pot_stack.local_runner import OperatorService

    return OperatorService(root, env)


def _runner_app(root: Path, env: dict[str, str]) -> Service:
    from pot_stack.local_runner import LocalRunnerService

    return LocalRunnerService(root, env)


def _job_runner_app(root: Path, env: dict[str, str]) -> Service:
    from pot_stack.job_runner import JobRunnerService

    return JobRunnerService(root, env)


def _unsubscribe_app(root: Path, env: dict[str, str]) -> Service:
    from pot_stack.unsubscribe_app import UnsubscribeService

    return UnsubscribeService(root, env)


APPS: list[AppSpec] = [
    AppSpec("operator", _operator_app),
    AppSpec("local-runner", _runner_app),
    AppSpec("job-runner", _job_runner_app),
    AppSpec("unsubscribe", _unsubscribe_app),
]


def _console() -> Console:
    return Console(stderr=True, highlight=False)


def build_services(root: Path, *, with_controlplane: bool) -> list[Service]:
    """The stack's services in start order (the control plane imported only when it is wanted)."""
    services: list[Service] = []
    if with_controlplane:
        from pot_stack.controlplane import ControlPlane

        services.append(ControlPlane(root))
    # The sink checks XOAUTH2 tokens with the token endpoint and delivers late mail to the IMAP server's
    # LMTP, Dovecot checks tokens with the endpoint: ports chosen now, so all three start together.
    oauth = OAuthService(root, port=free_port())
    imap = ImapServer(root, oauth_introspect_url=oauth.introspect_url, lmtp_port=free_port())
    sink = SmtpSink(
        root,
        maildir=root / "mail",
        oauth_introspect_url=oauth.introspect_url,
        late_lmtp=(imap.host, imap.lmtp_port),
    )
    services += [
        Postgres(root),
        RedisServer(root),
        OpenBao(root),
        DnsServer(root),
        sink,
        FakeChatService(root),
        S3Server(root),
        oauth,
        imap,
    ]
    return services


def address_of(service: Service) -> str:
    """Where a client finds the service, for the table and state.json (never a secret)."""
    if isinstance(service, Postgres):
        return service.url
    if isinstance(service, RedisServer):
        return service.url
    if isinstance(service, OpenBao):
        return service.addr
    if isinstance(service, DnsServer):
        return service.resolver
    if isinstance(service, SmtpSink):
        return f"{service.host}:{service.port} (TLS :{service.tls_port}), mail in {service.maildir}"
    if isinstance(service, FakeChatService):
        return f"{service.url} (Telegram Bot API, Slack webhooks), messages in {service.store}"
    if isinstance(service, S3Server):
        return f"{service.endpoint} (S3, bucket {service.bucket})"
    if isinstance(service, OAuthService):
        return f"{service.url} (OAuth2 /token, /{{tenant}}/oauth2/v2.0/token, /introspect)"
    if isinstance(service, ImapServer):
        return f"{service.host}:{service.port} (IMAPS :{service.tls_port}, LMTP :{service.lmtp_port})"
    server = getattr(service, "server", "")
    return str(server)


def _stop_signal(service: Service) -> int:
    return int(getattr(service, "stop_signal", signal.SIGTERM))


def _record(service: Service) -> dict[str, Any]:
    pids = service.pids()
    pgids = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            pgids.append(os.getpgid(pid))
    return {
        "name": service.name,
        "pids": pids,
        "pgids": pgids,
        "stop_signal": signal.Signals(_stop_signal(service)).name,
        "ports": {key: getattr(service, key) for key in ("port", "tls_port") if getattr(service, key, 0)},
        "address": address_of(service),
        "log": str(service.log_path),
        # Files a server leaves outside the stack's folder (SeaweedFS's sockets in /tmp): `down` removes them.
        "leftovers": [str(p) for p in getattr(service, "leftovers", list)()],
    }


def read_state(root: Path) -> dict[str, Any] | None:
    path = root / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`.

    A zombie still counts for killpg(pgid, 0) until its parent reaps it, and once `up` has returned
    that parent is init, which may take seconds; a zombie holds no port and no file, so it is gone.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces, so split after ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def _write_env(root: Path, env: dict[str, str]) -> Path:
    """Shell `export` lines; mode 0600 from the first byte because it holds the dev Vault token."""
    path = root / ENV_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Written by `make up` (python -m pot_stack up). Use: source .pot/env\n")
        for key in sorted(env):
            out.write(f"export {key}={shlex.quote(env[key])}\n")
    return path


def read_env(root: Path) -> dict[str, str]:
    """The variables `up` wrote to `<root>/env` (what `source .pot/env` sets), for tools and tests."""
    env = {}
    for line in (root / ENV_FILE).read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            parsed = shlex.split(value)
            env[key] = parsed[0] if parsed else ""
    return env


def _start_all(services: list[Service], console: Console) -> None:
    """Start independent services concurrently; on any failure stop whatever started and re-raise."""

    def start(service: Service) -> float:
        began = time.monotonic()
        service.start()
        elapsed = time.monotonic() - began
        console.print(f"  [green]✓[/green] {service.name} ready in {elapsed:.1f}s")
        return elapsed

    console.print(f"Starting {', '.join(s.name for s in services)} …")
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        futures = [(service, pool.submit(start, service)) for service in services]
        errors = []
        for service, future in futures:
            try:
                future.result()
            except BaseException as error:
                errors.append((service, error))
    if errors:
        for service in services:
            with contextlib.suppress(Exception):
                service.stop()
        names = ", ".join(f"{service.name} ({error})" for service, error in errors)
        raise RuntimeError(f"could not start: {names}") from errors[0][1]


def up(
    root: Path = DEFAULT_ROOT,
    *,
    with_controlplane: bool = True,
    crds_dir: Path = CRDS_DIR,
    console: Console | None = None,
) -> dict[str, Any]:
    """Start the stack in `root` (or report that it is already up); returns the recorded state."""
    console = console or _console()
    root = root.resolve()
    state = read_state(root)
    if state is not None:
        groups = [pgid for entry in state["services"] for pgid in entry["pgids"]]
        if groups and all(_alive(pgid) for pgid in groups):
            console.print(f"The stack in {root} is already up (`python -m pot_stack down` stops it).")
            return state
        console.print("[yellow]The stack is partly up; stopping what is left before starting again.[/yellow]")
        down(root, console=console)

    began = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    services = build_services(root, with_controlplane=with_controlplane)
    _start_all(services, console)
    try:
        env: dict[str, str] = {}
        for service in services:
            env.update(service.env())
        if with_controlplane:
            _install_crds(services[0], crds_dir, console)
        env.update(secure(services, console))
        for app in APPS if with_controlplane else []:
            console.print(f"Starting {app.name} …")
            service = app.factory(root, dict(env))
            service.start()
            services.append(service)
            env.update(service.env())
        state = {
            "root": str(root),
            "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "startup_seconds": round(time.monotonic() - began, 1),
            "services": [_record(service) for service in services],
        }
        (root / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        _write_env(root, env)
    except BaseException:
        for service in reversed(services):
            with contextlib.suppress(Exception):
                service.stop()
        raise
    console.print(f"Stack up in {state['startup_seconds']}s. Use it with: source {root / ENV_FILE}")
    return state


def _install_crds(controlplane: Service, crds_dir: Path, console: Console) -> None:
    manifests = sorted([*crds_dir.glob("*.yaml"), *crds_dir.glob("*.yml")]) if crds_dir.is_dir() else []
    if not manifests:
        console.print(
            f"[yellow]No CRD manifests in {crds_dir} yet (make crds): skipped installing CRDs.[/yellow]"
        )
        return
    began = time.monotonic()
    apply_crds = getattr(controlplane, "apply_crds")  # noqa: B009 - ControlPlane is imported lazily
    apply_crds(crds_dir)
    console.print(f"  [green]✓[/green] {len(manifests)} CRDs established in {time.monotonic() - began:.1f}s")


def secure(services: list[Service], console: Console) -> dict[str, str]:
    """What a cluster admin sets up around POT (charts/pot/README.md, "Vault"; docs/worker.md,
    "Database role"), for the stack's services; returns the variables the apps get.

    OpenBao: kubernetes auth against the control plane (when there is one) with POT's policies and
    roles, so workers log in as their ServiceAccounts (POT_WORKER_VAULT_ROLE), and a token with only
    the operator's policy for the operator (POT_OPERATOR_VAULT_TOKEN; the root token stays for
    people and the demo). Postgres: the schema and the `pot_worker` role the workers connect as
    (POT_WORKER_DATABASE_URL). The sink speaks AUTH without TLS on its plain port, which the stack
    allows (POT_ALLOW_PLAINTEXT_AUTH).
    """
    began = time.monotonic()
    env = {"POT_ALLOW_PLAINTEXT_AUTH": "true"}
    bao = next(s for s in services if isinstance(s, OpenBao))
    plane = next((s for s in services if s.name == "controlplane"), None)
    if plane is not None:
        from pot_stack.openbao import WORKER_ROLE, enable_kubernetes_auth

        enable_kubernetes_auth(bao, plane)
        env["POT_WORKER_VAULT_ROLE"] = WORKER_ROLE
    env["POT_OPERATOR_VAULT_TOKEN"] = bao.operator_token()
    postgres = next(s for s in services if isinstance(s, Postgres))
    env["POT_WORKER_DATABASE_URL"] = create_worker_role(postgres)
    console.print(
        f"  [green]✓[/green] Vault auth, policies and the worker's roles in {time.monotonic() - began:.1f}s"
    )
    return env


def create_worker_role(postgres: Postgres, database: str = "postgres") -> str:
    """Apply the schema and common/pot_common/db/worker_role.sql; returns the URL as `pot_worker`."""
    import asyncio

    import asyncpg
    from pot_common.db import apply_schema
    from pot_common.sql import load_sql

    async def run() -> None:
        conn = await asyncpg.connect(postgres.url_for(database))
        try:
            await apply_schema(conn)
            await conn.execute(load_sql("pot_common.db", "worker_role", folder=""))
        finally:
            await conn.close()

    asyncio.run(run())
    return f"postgresql://pot_worker@127.0.0.1:{postgres.port}/{database}"


def _stop_group(pgid: int, first_signal: int, timeout: float = 15.0) -> None:
    """Send the service's own stop signal to its group, give it time, then SIGTERM/SIGKILL what is left."""
    if pgid in (0, 1) or pgid == os.getpgid(0):
        return  # never signal our own group (or everything)
    for signum in (first_signal, signal.SIGTERM):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
        deadline = time.monotonic() + timeout
        while _alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pgid):
            return
    kill_group(pgid, timeout=1.0)  # SIGTERM again, then SIGKILL


def leftover_processes(root: Path) -> list[str]:
    """Processes whose command line mentions `root` (what `down` must not leave behind)."""
    marker = str(root.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if marker in cmdline and status != "Z":
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def down(root: Path = DEFAULT_ROOT, *, console: Console | None = None) -> list[str]:
    """Stop everything in state.json (apps first); returns the recorded groups still alive (none: done)."""
    console = console or _console()
    root = root.resolve()
    state = read_state(root)
    if state is None:
        console.print(f"Nothing recorded in {root / STATE_FILE}: the stack is not up.")
        return []
    for entry in reversed(state["services"]):
        first = signal.Signals[entry.get("stop_signal", "SIGTERM")]
        for pgid in reversed(entry["pgids"]):
            _stop_group(pgid, first)
        for path in entry.get("leftovers", []):
            Path(path).unlink(missing_ok=True)
        console.print(f"  [green]✓[/green] stopped {entry['name']}")
    left = [f"process group {pgid}" for entry in state["services"] for pgid in entry["pgids"] if _alive(pgid)]
    if left:
        console.print("[red]Still running after down:[/red]\n  " + "\n  ".join(left))
        return left
    (root / STATE_FILE).unlink(missing_ok=True)
    (root / ENV_FILE).unlink(missing_ok=True)
    # Not ours to stop (say a `kubectl --kubeconfig .pot/kubeconfig -w` elsewhere), but worth a word.
    strangers = leftover_processes(root)
    if strangers:
        console.print(
            "[yellow]Other processes still mention this stack:[/yellow]\n  " + "\n  ".join(strangers)
        )
    console.print("Stack down: every process it started is gone.")
    return left


def status_table(state: dict[str, Any]) -> Table:
    table = Table(
        title=f"POT local stack in {state['root']}", caption=f"logs in {Path(state['root']) / 'logs'}"
    )
    table.add_column("service", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("address", overflow="fold")
    for entry in state["services"]:
        alive = [pgid for pgid in entry["pgids"] if _alive(pgid)]
        running = "[green]up[/green]" if len(alive) == len(entry["pgids"]) else "[red]down[/red]"
        table.add_row(entry["name"], running, entry["address"])
    return table


def status(root: Path = DEFAULT_ROOT, *, console: Console | None = None) -> bool:
    """Print what runs where; True when every recorded process group is alive."""
    console = console or Console()
    state = read_state(root.resolve())
    if state is None:
        console.print(f"The stack in {root.resolve()} is not up.")
        return False
    console.print(status_table(state))
    return all(_alive(pgid) for entry in state["services"] for pgid in entry["pgids"])

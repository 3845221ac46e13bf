"""potctl mailboxes rotate and retire: a new password version in Vault; pause, drain and remove mailboxes.
Registered by potctl.mailbox_commands.

Rotation writes a new KV version at the Mailbox's own path; workers read it when their credentials
cache entry ends (POT_CREDENTIALS_TTL_SECONDS) and the operator's check sees the new version, so
nothing restarts. Retirement pauses (no new jobs), waits until the workers' claimed and sending
jobs for those mailboxes are done, then, with --delete, removes the Mailboxes and their secrets. The
rows in Postgres (mailboxes, send_jobs, delivery_events) stay: statistics keep their history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
from typing import Annotated, Any

import asyncpg
import typer
from pot_common.api.base import GROUP, VERSION
from pot_common.api.kinds import MAILBOX
from pot_common.vault import VaultError, tenant_path
from rich.markup import escape

from potctl import inputs
from potctl.console import checked, fail, out
from potctl.database import DatabaseOpt, run_db
from potctl.kube_commands import (
    REQUEST_TIMEOUT,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    api_errors,
    connect,
    list_objects,
)
from potctl.kube_views import Target, pause_patch
from potctl.mailbox_commands import read_secret, vault_errors, vault_kv, vault_prefix

RETIRED = "Retired by potctl"
MAX_PASSWORD = 1024
# Rows the operator has not yet paused, and jobs a worker still holds, for these mailboxes.
DRAIN_QUERY = """
WITH chosen AS (SELECT id, state FROM mailboxes WHERE namespace = $1 AND name = ANY($2::text[]))
SELECT (SELECT count(*) FROM chosen WHERE state = 'active') AS active,
       (SELECT count(*) FROM send_jobs j
         WHERE j.mailbox_id IN (SELECT id FROM chosen) AND j.state IN ('claimed', 'sending')) AS in_flight
"""


def new_password(password_env: str | None) -> str:
    """The new password from the named environment variable, else the first line of stdin."""
    if password_env is not None:
        value = os.environ.get(password_env, "")
        if not value:
            fail(
                f"--password-env: the environment variable {inputs.shown(password_env)} is empty or unset", 2
            )
    elif sys.stdin.isatty():
        import getpass

        value = getpass.getpass("new password: ")
    else:
        value = sys.stdin.readline(MAX_PASSWORD + 1).rstrip("\r\n")
    if not value or len(value) > MAX_PASSWORD or not value.isprintable():
        fail(f"the new password must be 1 to {MAX_PASSWORD} printable characters", 2)
    return value


def rotate_cmd(
    name: Annotated[str, typer.Argument(help="The Mailbox.")],
    namespace: NamespaceOpt = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env", help="Read the new password from this environment variable. Default: stdin."
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="A new SMTP username too. Default: keep the secret's.")
    ] = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Write a new password for a Mailbox into Vault, as a new version of its secret.

    The password comes from stdin (or a prompt) or the variable --password-env names: never from a
    flag, which `ps` and the shell history would show. Workers pick the new version up when their
    credentials cache entry ends (POT_CREDENTIALS_TTL_SECONDS), without a restart; keep the old
    password valid at the provider until then. Exit status 1 when the Mailbox does not exist or keeps
    its credentials in a Kubernetes Secret.

    Example: `printf '%s\\n' "$NEW" | potctl mailboxes rotate alice-acme-mail -n acme`
    """
    name = checked(lambda: inputs.kube_name(name))
    namespace = checked(lambda: inputs.kube_namespace(namespace))
    password = new_password(password_env)
    kv = vault_kv()
    with connect(kubeconfig, context) as cluster:
        ns = namespace or cluster.namespace
        with api_errors(f"Mailbox {ns}/{name}"):
            obj = cluster.api.get_namespaced_custom_object(
                GROUP, VERSION, ns, MAILBOX.plural, name, _request_timeout=REQUEST_TIMEOUT
            )
    relative = ((obj.get("spec") or {}).get("credentials") or {}).get("vaultPath")
    if not relative:
        fail(f"Mailbox {ns}/{name} keeps its credentials in a Kubernetes Secret; rotate that with kubectl")
    with vault_errors():
        path = tenant_path(ns, relative, vault_prefix())
        current = read_secret(kv, path) or {}
        secret = {**current, "password": password}
        if username is not None:
            secret["username"] = username
        secret.setdefault("username", (obj.get("spec") or {}).get("address", ""))
        where = f"{kv.config.mount}/{path}"
        if secret == current:
            out.print(escape(f"Mailbox {ns}/{name}: {where} already holds that password"), highlight=False)
            return
        version = kv.write(path, secret)
    out.print(
        escape(
            f"Mailbox {ns}/{name}: wrote version {version} of {where}; "
            "workers use it once their cache entry ends"
        ),
        highlight=False,
        soft_wrap=True,
    )


def _checked_name(value: str) -> str:
    return checked(lambda: inputs.kube_name(value))


def domain_of(obj: dict[str, Any]) -> str:
    return str((obj.get("spec") or {}).get("address", "")).rpartition("@")[2].lower()


def retire_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="Mailboxes to retire (or --domain).")] = None,
    domain: Annotated[
        str | None, typer.Option("--domain", help="Retire every Mailbox of the namespace sending from it.")
    ] = None,
    namespace: NamespaceOpt = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Once drained, delete the Mailboxes and their Vault secrets.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the drain.")] = 300.0,
    settle: Annotated[
        float,
        typer.Option(
            "--settle", help="Seconds for every worker to reload its mailboxes (POT_REFRESH_SECONDS x 2)."
        ),
    ] = 10.0,
    database_url: DatabaseOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Take mailboxes out of service: pause, drain, and with --delete remove them and their secrets.

    Pausing stops new jobs; the drain waits until the operator has paused their rows, the workers have
    reloaded their mailboxes (--settle) and no job is claimed or sending through them. Their rows,
    jobs and delivery events stay in Postgres for statistics. Run it again with --delete to remove
    retired mailboxes later. Exit status 1 when the drain did not finish within --timeout.

    Example: `potctl mailboxes retire --domain burnt-mail.test -n acme --delete`
    """
    if bool(names) == bool(domain):
        fail("name the Mailboxes or give --domain, not both", 2)
    namespace = checked(lambda: inputs.kube_namespace(namespace))
    wanted = [_checked_name(n) for n in names or []]
    given_domain = domain
    domain = checked(lambda: inputs.domain(given_domain, "--domain")) if given_domain else None
    timeout = checked(lambda: inputs.seconds(timeout, "--timeout"))
    settle = checked(lambda: inputs.seconds(settle, "--settle"))
    kv = vault_kv() if delete else None
    with connect(kubeconfig, context) as cluster:
        ns = namespace or cluster.namespace
        with api_errors(f"listing {MAILBOX.plural}.{GROUP} in namespace {ns}"):
            listed = {o["metadata"]["name"]: o for o in list_objects(cluster, MAILBOX, ns)}
        if domain:
            chosen = sorted(n for n, o in listed.items() if domain_of(o) == domain)
            if not chosen:
                fail(f"no Mailbox in namespace {ns} sends from {domain}")
        else:
            missing = [n for n in wanted if n not in listed]
            if missing:
                fail(f"Mailbox {ns}/{missing[0]} not found")
            chosen = wanted
        patch = pause_patch(Target.MAILBOX, True, RETIRED, dt.datetime.now(dt.UTC))
        for name in chosen:
            if not (listed[name].get("spec") or {}).get("paused"):
                with api_errors(f"Mailbox {ns}/{name}"):
                    cluster.api.patch_namespaced_custom_object(
                        GROUP,
                        VERSION,
                        ns,
                        MAILBOX.plural,
                        name,
                        patch,
                        field_manager="potctl",
                        _request_timeout=REQUEST_TIMEOUT,
                    )
        out.print(f"paused {len(chosen)} mailbox(es) in {ns}; draining", highlight=False)
        left = run_db(database_url, lambda conn: _drain(conn, ns, chosen, timeout, settle))
        if left:
            fail(f"not drained after {timeout:g} s: {left}; run again later")
        out.print(
            f"drained: no job is claimed or sending through the {len(chosen)} mailbox(es)", highlight=False
        )
        if not delete:
            out.print("kept the Mailboxes and their secrets (--delete removes them)", highlight=False)
            return
        assert kv is not None
        for name in chosen:
            relative = ((listed[name].get("spec") or {}).get("credentials") or {}).get("vaultPath")
            with api_errors(f"Mailbox {ns}/{name}"):
                cluster.api.delete_namespaced_custom_object(
                    GROUP, VERSION, ns, MAILBOX.plural, name, _request_timeout=REQUEST_TIMEOUT
                )
            where = ""
            if relative:
                with vault_errors():
                    try:
                        path = tenant_path(ns, relative, vault_prefix())
                    except VaultError:
                        path = ""  # a path outside the tenant was never this Mailbox's to delete
                    if path:
                        kv.delete(path)
                        where = f" and secret {kv.config.mount}/{path}"
            out.print(escape(f"deleted Mailbox {ns}/{name}{where}"), highlight=False, soft_wrap=True)


async def _drain(
    conn: asyncpg.Connection, namespace: str, names: list[str], wait: float, settle: float
) -> str:
    """Empty once drained within `wait` seconds, else what is still going on."""
    deadline = time.monotonic() + wait
    paused_at: float | None = None
    state = ""
    while time.monotonic() < deadline:
        row = await conn.fetchrow(DRAIN_QUERY, namespace, names)
        active, in_flight = (row["active"], row["in_flight"]) if row else (0, 0)
        if active:
            state = f"{active} mailbox row(s) not paused by the operator yet"
            paused_at = None
        else:
            paused_at = paused_at if paused_at is not None else time.monotonic()
            settled = time.monotonic() - paused_at >= settle
            state = f"{in_flight} job(s) claimed or sending" if in_flight else ""
            if settled and not in_flight:
                return ""
            if not in_flight:
                state = "waiting for the workers to reload their mailboxes"
        await asyncio.sleep(0.5)
    return state


def register(group: typer.Typer) -> None:
    group.command("rotate")(rotate_cmd)
    group.command("retire")(retire_cmd)

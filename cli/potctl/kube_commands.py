"""potctl's Kubernetes commands (status, pause, resume of pools, mailboxes, campaigns); main registers them.

They read the live pot.dev objects and merge-patch `spec.paused`; the rows, patches and error
sentences they print are the pure functions of potctl.kube_views. The cluster comes from
--kubeconfig/KUBECONFIG, else ~/.kube/config, else the in-cluster service account.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pot_common.api.base import GROUP, VERSION
from pot_common.api.kinds import Kind
from pot_common.api.pool import MailboxPoolStatus
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from potctl import inputs
from potctl.console import checked, fail, out
from potctl.kube_views import (
    KINDS,
    TAKES_REASON,
    VIEWS,
    Target,
    api_error_message,
    name_of,
    parse_status,
    pause_patch,
)

# Connect and read timeouts: a CLI that hangs on an unreachable apiserver looks like a dead CLI.
REQUEST_TIMEOUT = (10, 60)
LIST_PAGE = 500
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
TABLE_WIDTH = 400

KubeconfigOpt = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        envvar="KUBECONFIG",
        show_envvar=True,
        help="kubeconfig file(s), `:`-separated. Default: ~/.kube/config, else the in-cluster account.",
    ),
]
ContextOpt = Annotated[
    str | None, typer.Option("--context", help="kubeconfig context to use. Default: its current context.")
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="The object's namespace. Default: the context's, else `default`."),
]


# --- the cluster ----------------------------------------------------------------------------------------


@dataclass
class Cluster:
    api: Any  # kubernetes.client.CustomObjectsApi
    namespace: str  # the context's namespace: the default for commands acting on one object


def _context_namespace(config: Any, path: str, context: str | None) -> str:
    contexts, current = config.list_kube_config_contexts(config_file=path)
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


@contextmanager
def connect(kubeconfig: str | None, context: str | None) -> Iterator[Cluster]:
    """A client for the chosen cluster; configuration problems end the command with exit status 2."""
    import yaml
    from kubernetes import client, config

    configuration = client.Configuration()
    default_file = Path("~/.kube/config").expanduser()
    in_cluster = not kubeconfig and not default_file.exists() and "KUBERNETES_SERVICE_HOST" in os.environ
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            namespace = (
                IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else "default"
            )
        else:
            path = kubeconfig or str(default_file)
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=configuration, persist_config=False
            )
            namespace = _context_namespace(config, path, context)
    except (config.ConfigException, OSError, ValueError, KeyError, yaml.YAMLError) as exc:
        where = "the in-cluster service account" if in_cluster else f"kubeconfig {kubeconfig or default_file}"
        fail(f"cannot use {where}: {exc} (set KUBECONFIG; with the local stack: source .pot/env)", 2)
    with client.ApiClient(configuration) as api_client:
        yield Cluster(client.CustomObjectsApi(api_client), namespace)


@contextmanager
def api_errors(subject: str, server_hint: str = "") -> Iterator[None]:
    """Turn the client's exceptions into one line and exit status 1, never a traceback."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        fail(api_error_message(exc.status, exc.body, subject) + server_hint)
    except (HTTPError, OSError) as exc:
        fail(f"cannot reach the Kubernetes API: {exc}")


def list_objects(cluster: Cluster, kind: Kind, namespace: str | None) -> list[dict[str, Any]]:
    """Every object of `kind`, a page at a time (a fleet has thousands of Mailboxes)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page_args: dict[str, Any] = {"limit": LIST_PAGE, "_request_timeout": REQUEST_TIMEOUT}
        if token:
            page_args["_continue"] = token
        if namespace:
            page = cluster.api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, kind.plural, **page_args
            )
        else:
            page = cluster.api.list_cluster_custom_object(GROUP, VERSION, kind.plural, **page_args)
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


# --- commands ------------------------------------------------------------------------------------------


def status_cmd(
    kind: Annotated[
        Target | None,
        typer.Argument(help="Show only this kind: pool, mailbox or campaign. Default: all three."),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Only this namespace. Default: every namespace.")
    ] = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Show MailboxPools, Mailboxes and Campaigns as the operator last reported them.

    One table per kind, read from the objects' **status**: a pool's mailboxes by state, today's
    remaining capacity, sends and workers; a mailbox's warmup day, cap and health score; a
    campaign's phase and recipients by outcome. **READY** is the Ready condition (with its reason
    when not True); **PAUSED** says why (a person's reason or the operator's auto-pause). `-` means
    the operator has not reported that figure yet.

    Examples: `potctl status` · `potctl status pool -n acme` · `potctl status campaign -n acme`
    """
    namespace = checked(lambda: inputs.kube_namespace(namespace))
    targets = [kind] if kind else list(VIEWS)
    where = f" in namespace {namespace}" if namespace else ""
    hint = "" if namespace else " (narrow to a namespace you may read with -n NAMESPACE)"
    with connect(kubeconfig, context) as cluster:
        listed = {}
        for target in targets:
            with api_errors(f"listing {KINDS[target].plural}.{GROUP}{where}", hint):
                listed[target] = list_objects(cluster, KINDS[target], namespace)
    # As kubectl does: a row is one line however narrow the terminal (it wraps, we do not squeeze or
    # drop columns), so piped output greps and a CI log stays readable.
    tables = Console(width=TABLE_WIDTH)
    for target in targets:
        view = VIEWS[target]
        objects = sorted(listed[target], key=name_of)
        if not objects:
            out.print(f"No {view.title}{where or ' in any namespace'}.", highlight=False)
            continue
        table = Table(title=view.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        columns = view.columns if namespace else ("NAMESPACE", *view.columns)
        for column in columns:
            table.add_column(column, overflow="fold")
        for obj in objects:
            row = view.row(obj) if namespace else (name_of(obj)[0], *view.row(obj))
            # Text, not markup: a pause reason like "[ops] DNS move" must show as written.
            table.add_row(*(Text(value) for value in row))
        tables.print(table)


def _set_paused(
    target: Target,
    name: str,
    namespace: str | None,
    paused: bool,
    reason: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    if reason is not None and target not in TAKES_REASON:
        fail(f"--reason: a {target.value} has no pause reason field; pause it without one", 2)
    name = checked(lambda: inputs.kube_name(name))
    namespace = checked(lambda: inputs.kube_namespace(namespace))
    reason = checked(lambda: inputs.pause_reason(reason))
    kind = KINDS[target]
    with connect(kubeconfig, context) as cluster:
        ns = namespace or cluster.namespace
        subject = f"{kind.kind} {ns}/{name}"
        with api_errors(subject):
            updated = cluster.api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                kind.plural,
                name,
                pause_patch(target, paused, reason, dt.datetime.now(dt.UTC)),
                field_manager="potctl",
                _request_timeout=REQUEST_TIMEOUT,
            )
    verb = "paused" if paused else "resumed"
    line = f"{subject} {verb}" + (f": {reason}" if paused and reason else "")
    if not paused and target is Target.POOL:
        status = parse_status(MailboxPoolStatus, updated)
        if status is not None and status.paused and status.pause_reason:
            line += (
                f"; it was paused ({status.pause_reason}) and sends again once the operator sees the resume"
            )
    out.print(escape(line), highlight=False, soft_wrap=True)


def pause_cmd(
    kind: Annotated[Target, typer.Argument(help="pool, mailbox or campaign.")],
    name: Annotated[str, typer.Argument(help="The object's name.")],
    namespace: NamespaceOpt = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", "-r", help="Why (pools and mailboxes; shown in status, at most 256 chars)."),
    ] = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Pause a pool (none of its mailboxes sends), a mailbox, or a campaign (no new sends).

    Sets **spec.paused: true** (and spec.pauseReason with --reason); queued mail waits.
    Exit status 1 when the object does not exist or you may not patch it.

    Example: `potctl pause pool acme-outreach -n acme --reason "DNS change"`
    """
    _set_paused(kind, name, namespace, True, reason, kubeconfig, context)


def resume_cmd(
    kind: Annotated[Target, typer.Argument(help="pool, mailbox or campaign.")],
    name: Annotated[str, typer.Argument(help="The object's name.")],
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Resume a paused pool, mailbox or campaign.

    Sets **spec.paused: false** and removes spec.pauseReason. For a pool it also stamps the
    `pot.dev/resume-requested-at` annotation, which the operator takes as a person's go-ahead to end
    an automatic pause (auto-pause with `resume: manual`).

    Example: `potctl resume campaign welcome -n acme`
    """
    _set_paused(kind, name, namespace, False, None, kubeconfig, context)


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
    app.command("pause")(pause_cmd)
    app.command("resume")(resume_cmd)

"""potctl's Kubernetes commands (status, pause, resume of pools, mailboxes, campaigns); main registers them.

They read the live pot.dev objects, parse their status with pot_common.api's models (the types the
operator writes and the CRDs are generated from) and merge-patch `spec.paused`. The cluster comes from
--kubeconfig/KUBECONFIG, else ~/.kube/config, else the in-cluster service account.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import pydantic
import typer
from pot_common.annotations import RESUME_ANNOTATION
from pot_common.api.base import GROUP, VERSION, Condition
from pot_common.api.campaign import CampaignStatus
from pot_common.api.kinds import CAMPAIGN, MAILBOX, MAILBOX_POOL, Kind
from pot_common.api.mailbox import MailboxStatus
from pot_common.api.pool import MailboxCounts, MailboxPoolStatus
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

out = Console()
err = Console(stderr=True)

# Connect and read timeouts: a CLI that hangs on an unreachable apiserver looks like a dead CLI.
REQUEST_TIMEOUT = (10, 60)
LIST_PAGE = 500
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
NONE = "-"
TABLE_WIDTH = 400


class Target(StrEnum):
    """The kinds potctl shows and steers, named as a person types them."""

    POOL = "pool"
    MAILBOX = "mailbox"
    CAMPAIGN = "campaign"


KINDS: dict[Target, Kind] = {Target.POOL: MAILBOX_POOL, Target.MAILBOX: MAILBOX, Target.CAMPAIGN: CAMPAIGN}
# Campaigns have no spec.pauseReason (CampaignSpec): a reason for them would be refused by the apiserver.
TAKES_REASON = frozenset({Target.POOL, Target.MAILBOX})

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


def fail(message: str, code: int = 1) -> NoReturn:
    # soft_wrap: one error is one line, whatever the terminal width, so it can be grepped.
    # escape: apiserver messages hold `[...]` lists that rich would take for markup and drop.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# --- pure parts: rows, cells, patches, error messages ------------------------------------------------------

M = TypeVar("M", bound=pydantic.BaseModel)


def parse_status(model: type[M], obj: dict[str, Any]) -> M | None:
    """The object's status as `model`; None when it does not parse (an operator of another version)."""
    try:
        return model.model_validate(obj.get("status") or {})
    except pydantic.ValidationError:
        return None


def cell(value: object) -> str:
    return NONE if value is None else str(value)


def ready_cell(conditions: list[Condition]) -> str:
    """`True`, or `False: Reason` so a person sees why without `kubectl describe`."""
    for condition in conditions:
        if condition.type == "Ready":
            return "True" if condition.status == "True" else f"{condition.status}: {condition.reason}"
    return NONE


def mailboxes_cell(counts: MailboxCounts | None) -> str:
    """`3 (2 active, 1 warming)`: the total first, as the printer column shows it, then non-zero states."""
    if counts is None:
        return NONE
    states = ("active", "warming", "cooling", "paused", "failed")
    parts = [f"{getattr(counts, s)} {s}" for s in states if getattr(counts, s)]
    return f"{counts.total} ({', '.join(parts)})" if parts else str(counts.total)


def paused_cell(
    spec_paused: bool, spec_reason: str | None, observed: bool | None, observed_reason: str | None
) -> str:
    """Paused if a person asked for it (spec) or the operator reports it (status, e.g. an auto-pause).

    The spec counts at once, so `potctl pause` shows before the operator's next pass; the status
    reason wins because it also names automatic pauses.
    """
    if observed:
        return f"yes: {observed_reason}" if observed_reason else "yes"
    if spec_paused:
        return f"yes: {spec_reason}" if spec_reason else "yes"
    return "no"


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _name(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


@dataclass(frozen=True)
class View:
    """One table of `potctl status`: its columns and how an object becomes a row."""

    title: str
    columns: tuple[str, ...]
    row: Callable[[dict[str, Any]], tuple[str, ...]]


def pool_row(obj: dict[str, Any]) -> tuple[str, ...]:
    spec = _spec(obj)
    status = parse_status(MailboxPoolStatus, obj)
    if status is None:
        return (_name(obj)[1], "status unreadable", *([NONE] * 6))
    health = status.health.score if status.health else None
    return (
        _name(obj)[1],
        mailboxes_cell(status.mailboxes),
        ready_cell(status.conditions),
        cell(status.capacity_today),
        cell(status.sent_today),
        cell(status.worker_replicas),
        cell(health),
        paused_cell(bool(spec.get("paused")), spec.get("pauseReason"), status.paused, status.pause_reason),
    )


def mailbox_row(obj: dict[str, Any]) -> tuple[str, ...]:
    spec = _spec(obj)
    status = parse_status(MailboxStatus, obj)
    if status is None:
        return (_name(obj)[1], cell(spec.get("address")), "status unreadable", *([NONE] * 6))
    return (
        _name(obj)[1],
        cell(spec.get("address")),
        cell(status.state),
        cell(status.warmup_day),
        cell(status.cap_today),
        cell(status.sent_today),
        cell(status.health_score),
        ready_cell(status.conditions),
        paused_cell(
            bool(spec.get("paused")), spec.get("pauseReason"), status.state == "Paused", status.pause_reason
        ),
    )


def campaign_row(obj: dict[str, Any]) -> tuple[str, ...]:
    spec = _spec(obj)
    pool = (spec.get("poolRef") or {}).get("name")
    status = parse_status(CampaignStatus, obj)
    if status is None:
        return (_name(obj)[1], cell(pool), "status unreadable", *([NONE] * 7))
    counts = status.counts
    paused = bool(spec.get("paused")) or status.phase == "Paused"

    def count(field: str) -> str:
        return cell(getattr(counts, field) if counts else None)

    return (
        _name(obj)[1],
        cell(pool),
        cell(status.phase),
        "yes" if paused else "no",
        count("total"),
        count("queued"),
        count("sent"),
        count("deferred"),
        count("bounced"),
        ready_cell(status.conditions),
    )


VIEWS: dict[Target, View] = {
    Target.POOL: View(
        "MailboxPools",
        ("NAME", "MAILBOXES", "READY", "CAPACITY", "SENT TODAY", "WORKERS", "HEALTH", "PAUSED"),
        pool_row,
    ),
    Target.MAILBOX: View(
        "Mailboxes",
        ("NAME", "ADDRESS", "STATE", "WARMUP DAY", "CAP", "SENT TODAY", "HEALTH", "READY", "PAUSED"),
        mailbox_row,
    ),
    Target.CAMPAIGN: View(
        "Campaigns",
        ("NAME", "POOL", "PHASE", "PAUSED", "TOTAL", "QUEUED", "SENT", "DEFERRED", "BOUNCED", "READY"),
        campaign_row,
    ),
}


def pause_patch(target: Target, paused: bool, reason: str | None, now: dt.datetime) -> dict[str, Any]:
    """The merge patch for `pause` (paused=True) or `resume` (paused=False)."""
    spec: dict[str, Any] = {"paused": paused}
    patch: dict[str, Any] = {"spec": spec}
    if target in TAKES_REASON:
        if paused and reason is not None:
            spec["pauseReason"] = reason
        elif not paused:
            # The CRD allows pauseReason only while paused; null removes it in a merge patch.
            spec["pauseReason"] = None
    if target is Target.POOL and not paused:
        stamp = now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        patch["metadata"] = {"annotations": {RESUME_ANNOTATION: stamp}}
    return patch


def api_error_message(status: int | None, body: str | None, subject: str) -> str:
    """A sentence for a failed API call, from the apiserver's own Status message where there is one."""
    message: str = ""
    details: dict[str, Any] = {}
    try:
        parsed = json.loads(body or "")
        if isinstance(parsed, dict):
            message = str(parsed.get("message") or "")
            details = parsed.get("details") or {}
    except ValueError:
        pass
    if status == 404:
        if not details.get("name"):
            # A 404 for the resource type itself, not for one object.
            return f"{subject}: the pot.dev CRDs are not installed in this cluster (kubectl apply -f crds/)"
        return f"{subject} not found"
    if status == 403:
        # The apiserver's message already says who may not do what ("... is forbidden: User ...").
        return message if "forbidden" in message else f"{subject}: forbidden {message}".rstrip()
    if status == 401:
        return f"{subject}: unauthorized (the kubeconfig's credentials were refused) {message}".rstrip()
    return f"{subject}: {message or 'the apiserver answered ' + str(status)}"


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
        objects = sorted(listed[target], key=_name)
        if not objects:
            out.print(f"No {view.title}{where or ' in any namespace'}.", highlight=False)
            continue
        table = Table(title=view.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        columns = view.columns if namespace else ("NAMESPACE", *view.columns)
        for column in columns:
            table.add_column(column, overflow="fold")
        for obj in objects:
            row = view.row(obj) if namespace else (_name(obj)[0], *view.row(obj))
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

"""potctl's Kubernetes commands: status tables and pause/resume of pools and campaigns; registered by main.

They read and patch the live pot.dev objects through the kubernetes client (KUBECONFIG, or the
in-cluster service account).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from pot_common.api.base import GROUP, VERSION
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)

PLURALS = {"pool": "mailboxpools", "campaign": "campaigns", "mailbox": "mailboxes"}


class Pausable(StrEnum):
    POOL = "pool"
    CAMPAIGN = "campaign"


def _api() -> Any:
    from kubernetes import client, config

    try:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            err.print(
                "[red]error:[/red] no Kubernetes config: set KUBECONFIG (the local stack: source .pot/env)"
            )
            raise typer.Exit(2) from None
    return client.CustomObjectsApi()


def _list(api: Any, plural: str, namespace: str | None) -> list[dict[str, Any]]:
    if namespace:
        items = api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
    else:
        items = api.list_cluster_custom_object(GROUP, VERSION, plural)["items"]
    return list(items)


def _get(obj: dict[str, Any], path: str, default: Any = "") -> Any:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def _ready(obj: dict[str, Any]) -> str:
    for condition in _get(obj, "status.conditions", []) or []:
        if condition.get("type") == "Ready":
            reason = condition.get("reason", "")
            return f"{condition.get('status', '?')} {reason}".strip()
    return "-"


def status_cmd(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Only this namespace. Default: all.")
    ] = None,
) -> None:
    """Show pools, mailboxes and campaigns from the live objects (their status as the operator wrote it)."""
    from kubernetes.client.exceptions import ApiException

    api = _api()
    try:
        pools = _list(api, "mailboxpools", namespace)
        mailboxes = _list(api, "mailboxes", namespace)
        campaigns = _list(api, "campaigns", namespace)
    except ApiException as exc:
        err.print(f"[red]error:[/red] Kubernetes said {exc.status} {exc.reason}")
        raise typer.Exit(1) from None

    table = Table(title="Pools")
    for c in (
        "namespace",
        "name",
        "paused",
        "ready",
        "mailboxes",
        "capacity today",
        "sent today",
        "replicas",
    ):
        table.add_column(c)
    for p in pools:
        table.add_row(
            _get(p, "metadata.namespace"),
            _get(p, "metadata.name"),
            str(bool(_get(p, "spec.paused", False))),
            _ready(p),
            str(_get(p, "status.mailboxes", _get(p, "status.counts.total", "-"))),
            str(_get(p, "status.capacityToday", "-")),
            str(_get(p, "status.sentToday", "-")),
            str(_get(p, "status.workerReplicas", "-")),
        )
    out.print(table)
    table = Table(title="Mailboxes")
    for c in ("namespace", "name", "address", "ready", "warmup day", "cap today", "sent today", "health"):
        table.add_column(c)
    for m in mailboxes:
        table.add_row(
            _get(m, "metadata.namespace"),
            _get(m, "metadata.name"),
            str(_get(m, "spec.address")),
            _ready(m),
            str(_get(m, "status.warmupDay", "-")),
            str(_get(m, "status.capToday", _get(m, "status.effectiveCap", "-"))),
            str(_get(m, "status.sentToday", "-")),
            str(_get(m, "status.healthScore", "-")),
        )
    out.print(table)
    table = Table(title="Campaigns")
    for column in ("namespace", "name", "pool", "paused", "ready", "queued", "sent", "bounced"):
        table.add_column(column)
    for camp in campaigns:
        table.add_row(
            _get(camp, "metadata.namespace"),
            _get(camp, "metadata.name"),
            str(_get(camp, "spec.poolRef.name", _get(camp, "spec.poolRef", ""))),
            str(bool(_get(camp, "spec.paused", False))),
            _ready(camp),
            str(_get(camp, "status.counts.queued", "-")),
            str(_get(camp, "status.counts.sent", "-")),
            str(_get(camp, "status.counts.bounced", "-")),
        )
    out.print(table)


def _set_paused(kind: Pausable, name: str, namespace: str, paused: bool) -> None:
    from kubernetes.client.exceptions import ApiException

    api = _api()
    try:
        api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind.value], name, {"spec": {"paused": paused}}
        )
    except ApiException as exc:
        err.print(
            f"[red]error:[/red] {kind.value} {namespace}/{name}: Kubernetes said {exc.status} {exc.reason}"
        )
        raise typer.Exit(1) from None
    err.print(f"{kind.value} {namespace}/{name} {'paused' if paused else 'resumed'}", highlight=False)


def pause_cmd(
    kind: Annotated[Pausable, typer.Argument(help="pool or campaign.")],
    name: Annotated[str, typer.Argument(help="Object name.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Its namespace.")] = "default",
) -> None:
    """Pause a pool (no mailbox in it sends) or a campaign (no new sends), by setting spec.paused=true."""
    _set_paused(kind, name, namespace, True)


def resume_cmd(
    kind: Annotated[Pausable, typer.Argument(help="pool or campaign.")],
    name: Annotated[str, typer.Argument(help="Object name.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Its namespace.")] = "default",
) -> None:
    """Resume a paused pool or campaign: spec.paused=false (an auto-pause also needs its cause gone)."""
    _set_paused(kind, name, namespace, False)


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
    app.command("pause")(pause_cmd)
    app.command("resume")(resume_cmd)

"""The pure half of potctl's Kubernetes commands: status rows and cells, pause patches, API error sentences.

Used by potctl.kube_commands. Rows parse an object's status with pot_common.api's models (the types
the operator writes and the CRDs are generated from), so a renamed field fails here, in a unit test,
rather than showing `-` in a table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import pydantic
from pot_common.annotations import RESUME_ANNOTATION
from pot_common.api.base import Condition
from pot_common.api.campaign import CampaignStatus
from pot_common.api.kinds import CAMPAIGN, MAILBOX, MAILBOX_POOL, Kind
from pot_common.api.mailbox import MailboxStatus
from pot_common.api.pool import MailboxCounts, MailboxPoolStatus

NONE = "-"


class Target(StrEnum):
    """The kinds potctl shows and steers, named as a person types them."""

    POOL = "pool"
    MAILBOX = "mailbox"
    CAMPAIGN = "campaign"


KINDS: dict[Target, Kind] = {Target.POOL: MAILBOX_POOL, Target.MAILBOX: MAILBOX, Target.CAMPAIGN: CAMPAIGN}
# Campaigns have no spec.pauseReason (CampaignSpec): a reason for them would be refused by the apiserver.
TAKES_REASON = frozenset({Target.POOL, Target.MAILBOX})


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


def name_of(obj: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object."""
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
        return (name_of(obj)[1], "status unreadable", *([NONE] * 6))
    health = status.health.score if status.health else None
    return (
        name_of(obj)[1],
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
        return (name_of(obj)[1], cell(spec.get("address")), "status unreadable", *([NONE] * 6))
    return (
        name_of(obj)[1],
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
        return (name_of(obj)[1], cell(pool), "status unreadable", *([NONE] * 7))
    counts = status.counts
    paused = bool(spec.get("paused")) or status.phase == "Paused"

    def count(field: str) -> str:
        return cell(getattr(counts, field) if counts else None)

    return (
        name_of(obj)[1],
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

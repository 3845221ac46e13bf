"""Status conditions in the Kubernetes convention, with a summary Ready; used by every controller."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Condition = dict[str, Any]


def rfc3339(moment: dt.datetime) -> str:
    """UTC, second precision, `Z` suffix: the format Kubernetes uses for timestamps."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: object) -> dt.datetime | None:
    """A timestamp from the API or remembered state (`Z` or an offset), None when absent or unreadable."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: dt.datetime,
) -> list[Condition]:
    """A new list with `type_` set; lastTransitionTime moves only when the status itself changes."""
    status_text = status if isinstance(status, str) else ("True" if status else "False")
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = (
        previous["lastTransitionTime"]
        if previous is not None
        and previous.get("status") == status_text
        and previous.get("lastTransitionTime")
        else rfc3339(now)
    )
    new: Condition = {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    out = [dict(c) for c in conditions if c.get("type") != type_]
    out.append(new)
    return sorted(out, key=lambda c: (c["type"] != "Ready", str(c["type"])))


def get_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def with_ready(
    conditions: Sequence[Mapping[str, Any]],
    required: Sequence[str],
    *,
    generation: int | None,
    now: dt.datetime,
    blocked: tuple[str, str] | None = None,
) -> list[Condition]:
    """Set the summary `Ready`: True when every `required` condition is True and nothing blocks.

    `blocked` is (reason, message) for a state that is healthy but not ready to send (paused).
    The first failing condition gives Ready its reason, so `kubectl get` shows what to fix.
    """
    for type_ in required:
        c = get_condition(conditions, type_)
        if c is None or c.get("status") != "True":
            reason = str(c.get("reason")) if c is not None else f"{type_}Unknown"
            message = str(c.get("message", "")) if c is not None else f"{type_} not evaluated yet"
            return set_condition(conditions, "Ready", False, reason, message, generation=generation, now=now)
    if blocked is not None:
        return set_condition(conditions, "Ready", False, *blocked, generation=generation, now=now)
    return set_condition(
        conditions, "Ready", True, "Ready", "All checks passed", generation=generation, now=now
    )

"""The Campaign's DNS preflight gate, pure: until the campaign has started, every sending domain of its
pool must pass (or spec.preflightOverride says to send anyway). Called by pot_operator.campaign.plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pot_common.api.campaign import CampaignSpec
from pot_deliverability.gate import campaign_gate, preflight_status

from pot_operator.conditions import get_condition, rfc3339

if TYPE_CHECKING:
    from pot_operator.campaign.plan import CampaignObserved


@dataclasses.dataclass(frozen=True)
class PreflightOutcome:
    """The DNS gate's effect on a scan; nothing (status.preflight kept) once the campaign started."""

    status: dict[str, Any] | None  # status.preflight
    condition: tuple[bool, str, str] | None = None  # PreflightPassed: (status, reason, message)
    blocks: bool = False
    failing: bool | None = None  # the metric, when the gate was evaluated
    alerts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


def preflight_gate(o: CampaignObserved, spec: CampaignSpec, now: dt.datetime) -> PreflightOutcome:
    """Until the campaign has started, every sending domain of the pool must pass (or
    spec.preflightOverride says to send anyway); its jobs stay unclaimable ('pending') meanwhile."""
    namespace, name = o.key
    current: Mapping[str, Any] = o.body.get("status") or {}
    if o.preflight is None:
        return PreflightOutcome(current.get("preflight"))
    gate = campaign_gate(o.preflight)
    status = preflight_status(gate, current.get("preflight"), rfc3339(now))
    if gate.passed:
        condition = (True, gate.reason, gate.message)
    elif spec.preflight_override:
        condition = (False, gate.reason, f"Overridden by spec.preflightOverride: {gate.message}")
    else:
        condition = (False, gate.reason, gate.message)
    blocks = not gate.passed and not spec.preflight_override
    alerts, events = [], []
    was = get_condition(list(current.get("conditions") or []), "PreflightPassed")
    if not gate.passed and (was is None or was.get("status") != "False" or was.get("reason") != gate.reason):
        alerts.append(
            (
                f"preflight:{name}",
                f"POT: campaign {namespace}/{name} preflight failed"
                + (" (sending anyway: preflightOverride)" if spec.preflight_override else "")
                + f": {gate.message}",
            )
        )
        next_step = (
            "sending anyway (spec.preflightOverride)"
            if spec.preflight_override
            else "held until it passes; fix the records or set spec.preflightOverride to send anyway"
        )
        events.append(("Warning", "PreflightFailed", f"Preflight failed: {gate.message}; {next_step}"))
    return PreflightOutcome(status, condition, blocks, not gate.passed, alerts, events)

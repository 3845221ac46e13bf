"""The Campaign controller: validates pool and recipients, materialises send jobs once, tracks the lifecycle.

Called by the campaign daemon in pot_operator.main after a change and every POT_CAMPAIGN_INTERVAL
seconds. Parsing and phase decisions are pure functions here; the scan writes only what changed.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
from collections.abc import Mapping
from typing import Any

import pydantic
from pot_common.api.campaign import CampaignSpec
from pot_common.api.pool import MailboxPoolSpec

from pot_operator import db, metrics
from pot_operator.conditions import get_condition, rfc3339, set_condition, with_ready
from pot_deliverability.gate import Gate, campaign_gate, preflight_status, sending_targets
from pot_operator.pool import select_mailboxes
from pot_operator.runtime import Key, Runtime
from pot_operator.statusdiff import status_patch

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ParsedRecipients:
    rows: list[tuple[str, dict[str, str]]]
    rejected_lines: list[int]


class RecipientsError(ValueError):
    """A recipient source that cannot be used as it is (permanent until the source changes)."""


def parse_recipient_csv(text: str) -> ParsedRecipients:
    """Rows of a CSV with an `email` column; other columns become template variables.

    A row without a plausible address is skipped and its line number reported, the others go on.
    """
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "email" not in fields:
        raise RecipientsError("the CSV has no `email` column in its header row")
    rows: list[tuple[str, dict[str, str]]] = []
    rejected: list[int] = []
    for record in reader:
        clean = {(k or "").strip(): (v or "").strip() for k, v in record.items() if k is not None}
        address = clean.pop("email", "")
        local, _, domain = address.rpartition("@")
        if not local or "." not in domain or any(c.isspace() for c in address):
            rejected.append(reader.line_num)
            continue
        rows.append((address, clean))
    return ParsedRecipients(rows, rejected)


def decide_phase(
    *, paused: bool, total: int, open_jobs: int, previous: str | None, preflight_blocks: bool = False
) -> str:
    """The lifecycle phase from the job counts: Completed is final once reached; a failed preflight
    (without override) holds a campaign that has not started in `Preflight`."""
    if previous in ("Completed", "Failed"):
        return previous
    if total > 0 and open_jobs == 0:
        return "Completed"
    if paused:
        return "Paused"
    if preflight_blocks:
        return "Preflight"
    return "Running" if total > 0 else "Pending"


def has_started(status: Mapping[str, Any]) -> bool:
    """Past the preflight gate: later DNS trouble is the pool's business (cooldowns), not a restart."""
    return status.get("phase") in ("Running", "Completed", "Failed") or bool(status.get("startedAt"))


async def _preflight_gate(rt: Runtime, namespace: str, pool_name: str) -> Gate:
    """Preflight of every sending domain of the pool's mailboxes (cached per domain)."""
    body = rt.pools.get((namespace, pool_name)) or {}
    try:
        pool_spec = MailboxPoolSpec.model_validate(body.get("spec") or {})
    except pydantic.ValidationError:
        return campaign_gate([])
    selection = select_mailboxes(rt, (namespace, pool_name), pool_spec.selector)
    targets = sending_targets(parsed.spec for _, parsed in selection.mailboxes)
    return campaign_gate(await rt.checks.reports(targets))


def _pool_routes(rt: Runtime, namespace: str, pool_name: str) -> Any:
    body = rt.pools.get((namespace, pool_name)) or {}
    try:
        return MailboxPoolSpec.model_validate(body.get("spec") or {}).alerts
    except pydantic.ValidationError:
        return None


async def _recipients(rt: Runtime, namespace: str, spec: CampaignSpec) -> ParsedRecipients | None:
    source = spec.recipients
    if source.config_map_ref is not None:
        ref = source.config_map_ref
        text = await rt.kube.read_config_map_key(namespace, ref.name, ref.key)
        if text is None:
            raise RecipientsError(f"ConfigMap {ref.name} with key {ref.key} not found")
        return parse_recipient_csv(text)
    if source.secret_ref is not None:
        sref = source.secret_ref
        data = await rt.kube.read_secret_keys(namespace, sref.name)
        if data is None or sref.key not in data:
            raise RecipientsError(f"Secret {sref.name} with key {sref.key} not found")
        return parse_recipient_csv(data[sref.key].decode("utf-8", errors="replace"))
    return None  # importName: already in Postgres


async def reconcile_campaign(rt: Runtime, key: Key, body: Mapping[str, Any], now: dt.datetime) -> None:
    namespace, name = key
    meta = body.get("metadata", {})
    generation = meta.get("generation")
    current: Mapping[str, Any] = body.get("status") or {}
    conditions = list(current.get("conditions") or [])
    previous_phase = current.get("phase")

    async def write(desired: dict[str, Any]) -> None:
        patch = status_patch(current, {"observedGeneration": generation, **desired})
        if patch is not None:
            await rt.kube.patch_status("campaigns", namespace, name, patch)

    def cond(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(conditions, type_, ok, reason, message, generation=generation, now=now)

    try:
        spec = CampaignSpec.model_validate(body.get("spec") or {})
    except pydantic.ValidationError as e:
        cond("Ready", False, "InvalidSpec", str(e)[:1000])
        await write({"phase": "Failed", "conditions": conditions})
        return

    pool_name = spec.pool_ref.name
    if (namespace, pool_name) not in rt.pools:
        cond("PoolReady", False, "PoolNotFound", f"MailboxPool {pool_name} does not exist in {namespace}")
        conditions = with_ready(conditions, ["PoolReady"], generation=generation, now=now)
        await write({"phase": "Pending", "conditions": conditions})
        return
    database = await rt.database()
    if database is None:
        cond("DatabaseReady", False, "DatabaseUnreachable", rt.db_error or "")
        conditions = with_ready(conditions, ["DatabaseReady"], generation=generation, now=now)
        await write({"conditions": conditions})
        return
    pool_id = await database.fetchval(db.sql("pool_id"), namespace, pool_name)
    if pool_id is None:
        cond("PoolReady", False, "PoolNotReconciled", f"MailboxPool {pool_name} has not been reconciled yet")
        conditions = with_ready(conditions, ["PoolReady"], generation=generation, now=now)
        await write({"phase": "Pending", "conditions": conditions})
        return
    cond("PoolReady", True, "PoolFound", f"Sending through MailboxPool {pool_name}")
    cond("DatabaseReady", True, "Connected", "Postgres reachable")

    # The DNS gate: until the campaign has started, every sending domain of the pool must pass
    # (or spec.preflightOverride says to send anyway); jobs stay unclaimable ('pending') meanwhile.
    preflight: dict[str, Any] | None = current.get("preflight")
    preflight_blocks = False
    if not has_started(current):
        gate = await _preflight_gate(rt, namespace, pool_name)
        preflight = preflight_status(gate, current.get("preflight"), rfc3339(now))
        if gate.passed:
            cond("PreflightPassed", True, gate.reason, gate.message)
        elif spec.preflight_override:
            cond(
                "PreflightPassed", False, gate.reason, f"Overridden by spec.preflightOverride: {gate.message}"
            )
        else:
            cond("PreflightPassed", False, gate.reason, gate.message)
            preflight_blocks = True
        metrics.campaign_preflight_failing.labels(namespace, name).set(0 if gate.passed else 1)
        was = get_condition(list(current.get("conditions") or []), "PreflightPassed")
        if not gate.passed and (
            was is None or was.get("status") != "False" or was.get("reason") != gate.reason
        ):
            rt.alerts.notify(
                namespace,
                pool_name,
                _pool_routes(rt, namespace, pool_name),
                f"preflight:{name}",
                f"POT: campaign {namespace}/{name} preflight failed"
                + (" (sending anyway: preflightOverride)" if spec.preflight_override else "")
                + f": {gate.message}",
            )

    tenant = spec.tenant or namespace
    final = previous_phase in ("Completed", "Failed")
    db_state = "completed" if previous_phase == "Completed" else "paused" if spec.paused else "running"
    if preflight_blocks and db_state == "running":
        db_state = "pending"
    if previous_phase == "Failed":
        db_state = "failed"
    loaded = get_condition(conditions, "RecipientsReady")
    needs_load = not final and (
        loaded is None or loaded.get("status") != "True" or loaded.get("observedGeneration") != generation
    )
    memory = rt.campaign_memory.get(key, {})
    campaign_id, _, jobs = await db.upsert_campaign(
        database,
        pool_id,
        db.CampaignRow(
            namespace=namespace,
            name=name,
            tenant=tenant,
            subject=spec.template.subject,
            text=spec.template.text or "",
            html=spec.template.html,
            daily_limit=spec.limits.per_day,
            hourly_limit=spec.limits.per_hour,
            unsubscribe_url=spec.unsubscribe.url if spec.unsubscribe else None,
            unsubscribe_mailto=spec.unsubscribe.mailto if spec.unsubscribe else None,
            state=db_state if not needs_load else "pending",
        ),
    )

    suppressed_at_load = int(memory.get("suppressedAtLoad") or 0)
    if needs_load:
        try:
            parsed = await _recipients(rt, namespace, spec)
        except RecipientsError as e:
            cond("RecipientsReady", False, "RecipientSourceInvalid", str(e))
            conditions = with_ready(
                conditions, ["PoolReady", "RecipientsReady"], generation=generation, now=now
            )
            await write({"phase": "Pending", "conditions": conditions})
            return
        inserted, suppressed_at_load = await db.materialise_send_jobs(
            database,
            campaign_id,
            tenant,
            parsed.rows if parsed is not None else None,
            spec.recipients.import_name if parsed is None else None,
        )
        rejected = parsed.rejected_lines if parsed is not None else []
        message = f"{inserted} send jobs created, {suppressed_at_load} suppressed addresses left out"
        if rejected:
            message += f"; rows rejected at lines {', '.join(map(str, rejected[:20]))}"
        cond("RecipientsReady", True, "Materialised", message)
        if memory.get("suppressedAtLoad") != suppressed_at_load:
            rt.campaign_memory[key] = {"suppressedAtLoad": suppressed_at_load}
            await db.save_object_state(database, "Campaign", namespace, name, rt.campaign_memory[key])
        log.info("Materialised send jobs: campaign=%s/%s inserted=%d", namespace, name, inserted)
        if inserted or jobs:
            await db.set_campaign_state(database, campaign_id, db_state)

    counts = await db.campaign_counts(database, campaign_id)
    open_jobs = int(counts["queued"]) + int(counts["deferred"])
    phase = decide_phase(
        paused=spec.paused,
        total=int(counts["total"]),
        open_jobs=open_jobs,
        previous=previous_phase,
        preflight_blocks=preflight_blocks,
    )
    if phase == "Completed" and previous_phase != "Completed":
        await db.set_campaign_state(database, campaign_id, "completed")
        log.info("Completed campaign: campaign=%s/%s sent=%d", namespace, name, counts["sent"])
        rt.alerts.notify(
            namespace,
            pool_name,
            _pool_routes(rt, namespace, pool_name),
            f"completed:{name}",
            f"POT: campaign {namespace}/{name} completed: {counts['sent']} sent, "
            f"{counts['bounced']} bounced, {counts['failed']} failed",
        )
    blocked = None
    if phase == "Paused":
        blocked = ("Paused", "Paused by spec")
    elif phase == "Preflight":
        blocked = ("PreflightFailed", (get_condition(conditions, "PreflightPassed") or {}).get("message", ""))
    conditions = with_ready(
        conditions, ["PoolReady", "RecipientsReady"], generation=generation, now=now, blocked=blocked
    )
    started = counts["first_sent_at"]
    completed_at = current.get("completedAt")
    if phase == "Completed" and not completed_at:
        last = counts["last_final_at"]
        completed_at = rfc3339(last or now)
    await write(
        {
            "phase": phase,
            "preflight": preflight,
            "counts": {
                "total": int(counts["total"]) + suppressed_at_load,
                "queued": int(counts["queued"]),
                "sent": int(counts["sent"]),
                "deferred": int(counts["deferred"]),
                "bounced": int(counts["bounced"]),
                "failed": int(counts["failed"]),
                "suppressed": suppressed_at_load + int(counts["suppressed"]),
                "unsubscribed": int(counts["unsubscribed"]),
            },
            "startedAt": current.get("startedAt") or (rfc3339(started) if started else None),
            "completedAt": completed_at,
            "conditions": conditions,
        }
    )

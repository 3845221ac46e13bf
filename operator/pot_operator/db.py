"""The operator's Postgres access: schema, limit projection, health counts, send-job materialisation.

Called by the pool and campaign controllers' observe and apply steps; SQL lives in `sql/*.sql`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
from pot_common.db import apply_schema
from pot_common.sql import load_sql

from pot_operator.health import WindowCounts


def sql(name: str) -> str:
    """The text of `sql/<name>.sql`, read once per process."""
    return load_sql("pot_operator", name, folder="sql")


async def connect(dsn: str) -> asyncpg.Pool:
    """A small pool: the operator makes a few batched queries per pool scan, never one per mailbox."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, command_timeout=30)
    async with pool.acquire() as conn:
        await apply_schema(conn)
        await conn.execute(sql("schema"))
    return pool


async def load_object_states(db: asyncpg.Pool, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = await db.fetch(sql("load_object_state"), kind)
    return {(r["namespace"], r["name"]): json.loads(r["data"]) for r in rows}


async def save_object_state(
    db: asyncpg.Pool, kind: str, namespace: str, name: str, data: dict[str, Any]
) -> None:
    await db.execute(sql("save_object_state"), kind, namespace, name, json.dumps(data, sort_keys=True))


@dataclass(frozen=True)
class PoolRow:
    namespace: str
    name: str
    domain_hourly_limit: int | None
    window_start: dt.time | None
    window_end: dt.time | None
    time_zone: str
    window_days: list[int]
    paused: bool


async def upsert_pool(db: asyncpg.Pool, row: PoolRow) -> int:
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            sql("upsert_pool"),
            row.namespace,
            row.name,
            row.domain_hourly_limit,
            row.window_start,
            row.window_end,
            row.time_zone,
            row.window_days,
            row.paused,
        )
        pool_id: int = await conn.fetchval(sql("pool_id"), row.namespace, row.name)
        return pool_id


async def pool_id(db: asyncpg.Pool, namespace: str, name: str) -> int | None:
    """The pool's id, or None before its first reconcile projected it."""
    found: int | None = await db.fetchval(sql("pool_id"), namespace, name)
    return found


@dataclass(frozen=True)
class MailboxRow:
    """The effective limits the workers read; equality decides whether to write."""

    name: str
    address: str
    display_name: str
    smtp_host: str
    smtp_port: int
    smtp_tls: str
    credentials_ref: str | None
    daily_cap: int
    hourly_cap: int
    min_spacing_seconds: int
    state: str
    state_reason: str
    cooldown_until: dt.datetime | None
    signature: str = ""  # spec.signature, `sender_signature` in the worker's templates
    # The inbox the ingester reads (spec.imap, or the provider's), None when it is not read.
    imap_host: str | None = None
    imap_port: int = 993
    imap_tls: str = "implicit"
    auth_mechanism: str = "password"  # 'oauth2' with spec.credentials.oauth2
    oauth_provider: str | None = None
    oauth_token_url: str | None = None


class MailboxId(NamedTuple):
    """A mailbox's row as the workers may have changed it."""

    id: int
    state: str
    # The KV version of the secret the SMTP server refused, when the worker recorded one.
    credentials_bad_version: int | None = None
    # The ingester's last verdict on the inbox (reading, login_refused, ...), its words and since when.
    inbox_state: str | None = None
    inbox_error: str | None = None
    inbox_since: dt.datetime | None = None


async def mailbox_ids(db: asyncpg.Pool, pool_id: int) -> dict[str, MailboxId]:
    rows = await db.fetch(sql("mailbox_ids"), pool_id)
    return {r["name"]: MailboxId(*(r[c] for c in MailboxId._fields)) for r in rows}


async def upsert_mailboxes(
    db: asyncpg.Pool, pool_id: int, namespace: str, rows: Sequence[MailboxRow]
) -> None:
    if not rows:
        return
    columns = list(zip(*[_mailbox_tuple(r) for r in rows], strict=True))
    await db.execute(sql("upsert_mailboxes"), pool_id, namespace, *[list(c) for c in columns])


def _mailbox_tuple(r: MailboxRow) -> tuple[Any, ...]:
    return (
        r.name,
        r.address,
        r.display_name,
        r.smtp_host,
        r.smtp_port,
        r.smtp_tls,
        r.credentials_ref,
        r.daily_cap,
        r.hourly_cap,
        r.min_spacing_seconds,
        r.state,
        r.state_reason,
        r.cooldown_until,
        r.signature,
        r.imap_host,
        r.imap_port,
        r.imap_tls,
        r.auth_mechanism,
        r.oauth_provider,
        r.oauth_token_url,
    )


async def window_counts(
    db: asyncpg.Pool, since_by_id: dict[int, dt.datetime]
) -> dict[int, tuple[WindowCounts, int]]:
    """Per mailbox id: the window counts since its own start, and what it sent today (UTC)."""
    if not since_by_id:
        return {}
    ids = list(since_by_id)
    rows = await db.fetch(sql("mailbox_window_counts"), ids, [since_by_id[i] for i in ids])
    return {
        r["mailbox_id"]: (
            WindowCounts(
                attempted=r["attempted"],
                bounced=r["bounced"],
                complained=r["complained"],
                deferred=r["deferred"],
                sent=r["sent"],
            ),
            int(r["sent_today"]),
        )
        for r in rows
    }


# Jobs due within this many seconds count as backlog: the workers are there when they fall due.
BACKLOG_HORIZON_SECONDS = 300.0


async def due_backlog(db: asyncpg.Pool, pool_id: int, horizon: float = BACKLOG_HORIZON_SECONDS) -> int:
    """Claimed, sending, and queued or deferred jobs due within `horizon` seconds, of running campaigns."""
    return int(await db.fetchval(sql("pool_due_backlog"), pool_id, horizon))


@dataclass(frozen=True)
class CampaignRow:
    namespace: str
    name: str
    tenant: str
    subject: str
    text: str
    html: str | None
    daily_limit: int | None
    hourly_limit: int | None
    unsubscribe_url: str | None
    unsubscribe_mailto: str | None
    state: str
    template_variables: Mapping[str, str] = dataclasses.field(default_factory=dict)
    unsubscribe_one_click: bool = True
    suppression_lists: Sequence[str] = ()
    # spec.schedule as JSON (camelCase, unset fields left out): the worker re-checks it at each claim.
    schedule: str | None = None


async def upsert_campaign(db: asyncpg.Pool, pool_id: int, row: CampaignRow) -> tuple[int, str, int]:
    """Project the campaign; returns (id, state in Postgres, number of jobs already materialised)."""
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            sql("upsert_campaign"),
            pool_id,
            row.namespace,
            row.name,
            row.tenant,
            row.subject,
            row.text,
            row.html,
            row.daily_limit,
            row.hourly_limit,
            row.unsubscribe_url,
            row.unsubscribe_mailto,
            row.state,
            json.dumps(dict(row.template_variables), sort_keys=True),
            row.unsubscribe_one_click,
            list(row.suppression_lists),
            row.schedule,
        )
        rec = await conn.fetchrow(sql("campaign_row"), row.namespace, row.name)
        return int(rec["id"]), str(rec["state"]), int(rec["jobs"])


async def materialise_send_jobs(
    db: asyncpg.Pool,
    campaign_id: int,
    tenant: str,
    recipients: Iterable[tuple[str, dict[str, str]]] | None,
    import_name: str | None,
) -> tuple[int, int]:
    """COPY the recipients into staging and insert their send jobs once; returns (inserted, suppressed)."""
    async with db.acquire() as conn, conn.transaction():
        suppressed = await stage_recipients(conn, campaign_id, tenant, recipients, import_name)
        inserted = int(await conn.fetchval(sql("materialise_send_jobs"), campaign_id, tenant))
        return inserted, suppressed


async def stage_recipients(
    conn: asyncpg.Connection,
    campaign_id: int,
    tenant: str,
    recipients: Iterable[tuple[str, dict[str, str]]] | None,
    import_name: str | None,
) -> int:
    """Inside the caller's transaction: the list (given, or an imported one) into the session's staging
    table, suppressed addresses left out; returns how many were suppressed."""
    await conn.execute(sql("create_recipient_staging"))
    if recipients is not None:
        await conn.copy_records_to_table(
            "recipient_staging",
            records=[(address, json.dumps(variables)) for address, variables in recipients],
            columns=["address", "variables"],
        )
    if import_name is not None:
        await conn.execute(sql("stage_imported_recipients"), tenant, import_name)
    return int(await conn.fetchval(sql("count_suppressed"), tenant, campaign_id))


async def imported_list_exists(db: asyncpg.Pool, tenant: str, list_name: str) -> bool:
    """Whether `potctl import-recipients` imported a list of that name for the tenant (namespace)."""
    return bool(await db.fetchval(sql("imported_list_exists"), tenant, list_name))


# A campaign's status counts by job state: written once on its row when it ended (`final_counts`).
JOB_COUNTS = (
    "total",
    "queued",
    "sent",
    "deferred",
    "bounced",
    "failed",
    "unknown",
    "suppressed",
    "first_sent_at",
    "last_final_at",
    "next_due_at",
)
# Its feedback counts: counted live for the retention after the end, then frozen (`final_feedback`).
FEEDBACK_COUNTS = ("unsubscribed", "replied", "bounced_later", "complained", "auto_replied")
_TIMES = ("first_sent_at", "last_final_at", "next_due_at")


async def campaign_counts(db: asyncpg.Pool, campaign_id: int) -> dict[str, Any]:
    """The campaign's status counts: from its jobs and events, or what its row froze once it ended."""
    return merged_counts(dict(await db.fetchrow(sql("campaign_counts"), campaign_id)))


def merged_counts(row: Mapping[str, Any]) -> dict[str, Any]:
    """The live counts with the frozen ones over them (pure); `final` and `frozen` say which are.

    The frozen JSON holds the same keys as the live columns, times as ISO 8601 text."""
    counts = {k: v for k, v in row.items() if k not in ("final_counts", "final_feedback")}
    final = _json_object(row.get("final_counts"))
    feedback = _json_object(row.get("final_feedback"))
    for key, value in {**(final or {}), **(feedback or {})}.items():
        counts[key] = dt.datetime.fromisoformat(value) if key in _TIMES and value else value
    counts["final"] = final is not None
    counts["frozen"] = feedback is not None
    return counts


def frozen_json(counts: Mapping[str, Any], keys: Sequence[str]) -> str:
    """`keys` of the counts as the JSON a campaign's row keeps (pure)."""
    return json.dumps(
        {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in ((k, counts[k]) for k in keys)},
        sort_keys=True,
    )


def _json_object(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    data = json.loads(value) if isinstance(value, str) else value
    return dict(data)


async def store_final_counts(db: asyncpg.Pool, campaign_id: int, counts: Mapping[str, Any]) -> bool:
    """Write an ended campaign's counts by job state on its row, once; whether this call wrote them."""
    return bool(await db.fetchval(sql("campaign_final"), campaign_id, frozen_json(counts, JOB_COUNTS)))


async def freeze_feedback(db: asyncpg.Pool, campaign_id: int, counts: Mapping[str, Any]) -> bool:
    """Write an ended campaign's feedback counts on its row, once; whether this call wrote them."""
    return bool(await db.fetchval(sql("retention_freeze"), campaign_id, frozen_json(counts, FEEDBACK_COUNTS)))


async def set_campaign_state(db: asyncpg.Pool, campaign_id: int, state: str) -> None:
    await db.execute(sql("set_campaign_state"), campaign_id, state)

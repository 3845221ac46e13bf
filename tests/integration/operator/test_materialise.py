"""Materialising a Campaign's send jobs (real Postgres): list order, first duplicate, suppression lists,
the campaign's variables and one-click flag as the workers read them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
from pot_common.db import apply_schema
from pot_common.sql import load_sql
from pot_operator import db as operator_db
from pot_operator.campaign.recipients import parse_recipient_csv

CSV = "email,n\nzed@x.test,1\nAmy@x.test,2\nlisted@x.test,3\namy@x.test,4\nbob@x.test,5\nsup@x.test,6\n"


def row(**over: object) -> operator_db.CampaignRow:
    base: dict[str, object] = {
        "namespace": "acme",
        "name": "c",
        "tenant": "acme",
        "subject": "s",
        "text": "t",
        "html": None,
        "daily_limit": None,
        "hourly_limit": None,
        "unsubscribe_url": "https://u.test/u",
        "unsubscribe_mailto": None,
        "state": "running",
        "template_variables": {"sender_name": "The Acme team"},
        "unsubscribe_one_click": False,
        "suppression_lists": ("acme-global",),
    }
    return operator_db.CampaignRow(**{**base, **over})  # type: ignore[arg-type]


async def test_jobs_follow_the_list_first_duplicate_wins_and_lists_suppress(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=2)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval("INSERT INTO pools (namespace, name) VALUES ('acme', 'p') RETURNING id")
        await conn.execute(
            "INSERT INTO suppressions (tenant, address, reason) VALUES ('acme', 'sup@x.test', 'manual')"
        )
        await conn.execute(
            "INSERT INTO suppression_list_entries (tenant, list_name, address) VALUES"
            " ('acme', 'acme-global', 'listed@x.test'), ('acme', 'other-list', 'bob@x.test'),"
            " ('globex', 'acme-global', 'zed@x.test')"
        )
        cid, _, _ = await operator_db.upsert_campaign(pool, pool_id, row())
        parsed = parse_recipient_csv(CSV)
        inserted, suppressed = await operator_db.materialise_send_jobs(pool, cid, "acme", parsed.rows, None)
        assert (inserted, suppressed) == (3, 2)
        jobs = await conn.fetch("SELECT recipient, variables::text AS v FROM send_jobs ORDER BY id")
        assert [(j["recipient"], json.loads(j["v"])["n"]) for j in jobs] == [
            ("zed@x.test", "1"),
            ("Amy@x.test", "2"),
            ("bob@x.test", "5"),
        ]
        campaign = await conn.fetchrow(load_sql("pot_common.db", "worker_campaigns"), pool_id)
        assert json.loads(campaign["template_variables"]) == {"sender_name": "The Acme team"}
        assert campaign["unsubscribe_one_click"] is False
        # A list entry added after the jobs exist still stops the send at the claim.
        await conn.execute(
            "INSERT INTO suppression_list_entries (tenant, list_name, address)"
            " VALUES ('acme', 'acme-global', 'bob@x.test')"
        )
        claimed = await conn.fetch(
            load_sql("pot_common.db", "worker_claim"), pool_id, "w1", _now(), _now(), 10, [], []
        )
        assert [c["recipient"] for c in claimed] == ["zed@x.test", "Amy@x.test"]
        states = dict(await conn.fetch("SELECT recipient, state::text FROM send_jobs"))
        assert states["bob@x.test"] == "suppressed"
    finally:
        await pool.close()
        await conn.close()


def _now() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)

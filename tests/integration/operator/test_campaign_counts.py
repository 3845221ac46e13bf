"""The counts in a Campaign's status, as the operator reads them from Postgres (real Postgres)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from pot_common.db import apply_schema
from pot_operator import db as operator_db

SENT_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def test_counts_by_state_and_unsubscribes_after_the_message_was_sent(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval("INSERT INTO pools (namespace, name) VALUES ('acme', 'p') RETURNING id")
        campaign_ids = []
        for name in ("c", "other"):
            campaign_ids.append(
                await conn.fetchval(
                    "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template,"
                    " text_template, state)"
                    " VALUES ($1, 'acme', $2, 'acme', 's', 't', 'running') RETURNING id",
                    pool_id,
                    name,
                )
            )
        cid, other = campaign_ids
        jobs = {
            "Sent.Then.Left@x.test": "sent",  # unsubscribes after the send: counted (case-insensitively)
            "left-before@x.test": "sent",  # unsubscribed before this campaign reached them: not counted
            "complained@x.test": "sent",  # a complaint is not an unsubscribe
            "queued@x.test": "queued",  # never sent: not counted
            "bounced@x.test": "bounced",
            "unknown@x.test": "unknown",
        }
        for recipient, state in jobs.items():
            await conn.execute(
                "INSERT INTO send_jobs (campaign_id, recipient, state, updated_at) VALUES ($1, $2, $3, $4)",
                cid,
                recipient,
                state,
                SENT_AT,
            )
        # The same address sent by another campaign of the tenant later: counted there, not twice here.
        await conn.execute(
            "INSERT INTO send_jobs (campaign_id, recipient, state, updated_at) VALUES ($1, $2, 'sent', $3)",
            other,
            "sent.then.left@x.test",
            SENT_AT + timedelta(days=1),
        )
        for address, reason, at in [
            ("sent.then.left@x.test", "unsubscribe", SENT_AT + timedelta(hours=2)),
            ("left-before@x.test", "unsubscribe", SENT_AT - timedelta(days=1)),
            ("complained@x.test", "complaint", SENT_AT + timedelta(hours=1)),
            ("queued@x.test", "unsubscribe", SENT_AT + timedelta(hours=1)),
        ]:
            await conn.execute(
                "INSERT INTO suppressions (tenant, address, reason, created_at) VALUES ('acme', $1, $2, $3)",
                address,
                reason,
                at,
            )
        await conn.execute(
            "INSERT INTO suppressions (tenant, address, reason, created_at) VALUES ('other-client', $1,"
            " 'unsubscribe', $2)",
            "complained@x.test",
            SENT_AT + timedelta(hours=1),
        )

        counts = await operator_db.campaign_counts(conn, cid)  # type: ignore[arg-type]
        assert (counts["total"], counts["sent"], counts["queued"], counts["bounced"], counts["failed"]) == (
            6,
            3,
            1,
            1,
            0,
        )
        assert counts["unknown"] == 1  # its own count: maybe delivered, not a failure
        assert counts["unsubscribed"] == 1
        other_counts = await operator_db.campaign_counts(conn, other)  # type: ignore[arg-type]
        assert other_counts["unsubscribed"] == 0  # sent a day after the unsubscribe
    finally:
        await conn.close()


async def test_feedback_counts_each_recipient_once_and_only_for_its_campaign(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval("INSERT INTO pools (namespace, name) VALUES ('acme', 'p') RETURNING id")
        cid, other = [
            await conn.fetchval(
                "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template)"
                " VALUES ($1, 'acme', $2, 'acme', 's', 't') RETURNING id",
                pool_id,
                name,
            )
            for name in ("c", "other")
        ]
        events = [
            (cid, "Replier@x.test", "reply"),
            (cid, "replier@x.test", "reply"),  # a second reply of the same person: one recipient
            (cid, "gone@x.test", "late_bounce"),
            (cid, "angry@x.test", "complaint"),
            (cid, "away@x.test", "auto_reply"),
            (cid, "fine@x.test", "sent"),
            (other, "someone@x.test", "reply"),  # another campaign's reply: not counted here
        ]
        for campaign, recipient, outcome in events:
            await conn.execute(
                "INSERT INTO delivery_events (campaign_id, recipient, outcome) VALUES ($1, $2, $3)",
                campaign,
                recipient,
                outcome,
            )
        counts = await operator_db.campaign_counts(conn, cid)  # type: ignore[arg-type]
        got = (counts["replied"], counts["bounced_later"], counts["complained"], counts["auto_replied"])
        assert got == (1, 1, 1, 1)
    finally:
        await conn.close()

"""potctl preview and named suppression lists as a person runs them (a real process, real Postgres)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from email.utils import parsedate_to_datetime

import asyncpg
from pot_common.db import apply_schema
from pot_common.message import Sender, message_id, render_message, template_from_row


def potctl(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "potctl.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "POT_DATABASE_URL": database},
        timeout=120,
        check=False,
    )


async def seed(url: str, text: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval("INSERT INTO pools (namespace, name) VALUES ('acme', 'p') RETURNING id")
        await conn.execute(
            "INSERT INTO mailboxes (pool_id, namespace, name, address, display_name, smtp_host, smtp_port)"
            " VALUES ($1, 'acme', 'ann', 'ann@acme-mail.test', 'Ann Example', 'h.test', 587)",
            pool_id,
        )
        cid = await conn.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template,"
            " template_variables, unsubscribe_url, unsubscribe_one_click, state)"
            " VALUES ($1, 'acme', 'welcome', 'acme', '{Hi|Hello} {{ first_name }}', $2,"
            " '{\"company\": \"Acme\"}', 'https://u.test/u', false, 'running') RETURNING id",
            pool_id,
            text,
        )
        await conn.execute(
            "INSERT INTO send_jobs (campaign_id, recipient, variables) VALUES"
            " ($1, 'dana@x.test', '{\"first_name\": \"Dana\"}'),"
            " ($1, 'eve@x.test', '{\"first_name\": \"\"}')",
            cid,
        )
    finally:
        await conn.close()


async def first_job(url: str) -> tuple[asyncpg.Record, asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT id, namespace, name, tenant, subject_template, text_template, html_template,"
            " template_variables::text AS template_variables, unsubscribe_url, unsubscribe_mailto,"
            " unsubscribe_one_click FROM campaigns"
        )
        job = await conn.fetchrow(
            "SELECT id, attempts, variables::text AS v FROM send_jobs ORDER BY id LIMIT 1"
        )
        return row, job
    finally:
        await conn.close()


def test_preview_is_the_message_the_worker_renders(fresh_database: str) -> None:
    text = "I am {{ sender_name }} from {{ company }}, {{ first_name | default('friend') }}."
    asyncio.run(seed(fresh_database, text))
    shown = potctl("preview", "welcome", "-n", "acme", database=fresh_database)
    assert shown.returncode == 0, shown.stderr
    assert "To: dana@x.test" in shown.stdout
    assert "I am Ann Example from Acme, Dana." in shown.stdout
    assert (
        "List-Unsubscribe: <https://u.test/u>" in shown.stdout and "List-Unsubscribe-Post" not in shown.stdout
    )
    other = potctl("preview", "welcome", "-n", "acme", "--recipient", "EVE@x.test", database=fresh_database)
    assert "I am Ann Example from Acme, friend." in other.stdout

    row, job = asyncio.run(first_job(fresh_database))
    raw = subprocess.run(
        [sys.executable, "-m", "potctl.main", "preview", "welcome", "-n", "acme", "--raw"],
        capture_output=True,
        env={**os.environ, "POT_DATABASE_URL": fresh_database},
        timeout=120,
        check=True,
    ).stdout
    date = next(line for line in raw.split(b"\r\n") if line.startswith(b"Date: "))
    sender = Sender("ann@acme-mail.test", "Ann Example")
    expected = render_message(
        template_from_row(dict(row)),
        sender,
        "dana@x.test",
        json.loads(job["v"]),
        message_id(row["id"], job["id"], 1, sender.address),
        parsedate_to_datetime(date[6:].decode()),
    )
    assert raw == expected


def test_a_missing_value_fails_the_preview_as_it_would_fail_the_job(fresh_database: str) -> None:
    asyncio.run(seed(fresh_database, "Hi {{ last_name }}"))
    shown = potctl("preview", "welcome", "-n", "acme", database=fresh_database)
    assert shown.returncode == 1 and "'last_name' is undefined" in shown.stderr


def test_named_lists_are_managed_per_tenant(fresh_database: str) -> None:
    asyncio.run(seed(fresh_database, "t"))
    assert (
        potctl(
            "suppression",
            "add",
            "Bob@X.test",
            "--tenant",
            "acme",
            "--list",
            "acme-global",
            database=fresh_database,
        ).returncode
        == 0
    )
    listed = potctl(
        "suppression", "list", "--tenant", "acme", "--list", "acme-global", database=fresh_database
    )
    assert "bob@x.test" in listed.stdout
    assert (
        "bob@x.test" not in potctl("suppression", "list", "--tenant", "acme", database=fresh_database).stdout
    )
    assert (
        "bob@x.test"
        not in potctl(
            "suppression", "list", "--tenant", "globex", "--list", "acme-global", database=fresh_database
        ).stdout
    )
    removed = potctl(
        "suppression",
        "remove",
        "bob@x.test",
        "--tenant",
        "acme",
        "--list",
        "acme-global",
        database=fresh_database,
    )
    assert removed.returncode == 0
    again = potctl(
        "suppression",
        "remove",
        "bob@x.test",
        "--tenant",
        "acme",
        "--list",
        "acme-global",
        database=fresh_database,
    )
    assert again.returncode == 1

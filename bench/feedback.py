"""Benchmark: one `pot-ingester` reading 1,200 inboxes on the stack's real IMAP server (Dovecot).

Run by `make bench-feedback` (`python bench/feedback.py`). Starts Postgres, OpenBao and Dovecot in a
temporary folder; makes 1,200 IMAP users with their secrets in Vault, a pool of 1,200 mailboxes with
their sent jobs; starts `pot-ingester` as a process and waits until it holds every inbox in IDLE over
implicit TLS. Then one RFC 3464 bounce lands (LMTP, as a provider's MDA delivers) in every inbox, and
each bounce is timed from its landing to its `late_bounce` event in the table the operator's health
scan reads (operator/pot_operator/sql/mailbox_window_counts.sql; the scan itself runs every
POT_RECONCILE_INTERVAL, 15 s by default, which comes on top). Prints progress on stderr and one
`name=value` per line on stdout:

mailboxes, imap_connections (held by the ingester, from its metrics), rss_mib (the ingester process
with every inbox idle), connect_seconds (start to all inboxes idle), classify_per_s (the classifier
alone, in this process, on the bounces delivered), ingest_per_s (bounces recorded per second across
all inboxes), bounce_to_health_seconds (median landing → event) and bounce_to_health_p95_seconds.

Dovecot runs in its high-performance mode here (a few login processes terminate TLS for every client,
IDLE sessions hibernate in one process), as a provider's servers would: its defaults start one
process per TLS connection and stop at 1,000, which measures the test server, not the ingester.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from pot_common.db import apply_schema
from pot_common.sql import load_sql
from pot_feedback.classify import classify
from pot_stack.imap_server import ImapServer
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.service import free_port, kill_group

NAMESPACE, POOL = "bench", "inboxes"
DOMAIN = "bench-mail.test"


class ScaledImapServer(ImapServer):
    """The stack's Dovecot with limits for thousands of connections (see the module docstring)."""

    def _write_config(self, tree: Path) -> None:
        super()._write_config(tree)
        with self.config.open("a") as out:
            out.write(
                """
# bench/feedback.py: many clients, few processes.
default_client_limit = 5000
default_vsz_limit = 0
mail_max_userip_connections = 20
imap_hibernate_timeout = 2 secs
service imap-login {
  service_count = 0
  client_limit = 5000
  process_min_avail = 2
  process_limit = 4
}
service imap {
  process_limit = 5000
  client_limit = 1
  unix_listener imap-master {
    user = $default_internal_user
  }
}
service imap-hibernate {
  client_limit = 5000
  process_limit = 2
  unix_listener imap-hibernate {
    mode = 0660
    group = $default_internal_group
  }
}
service auth {
  client_limit = 10000
}
"""
            )


def progress(text: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {text}", file=sys.stderr, flush=True)


def dsn(recipient: str, original: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.test (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.{recipient}>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: User unknown\r\n\r\n"
        f"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nTo: {recipient}\r\nMessage-ID: {original}\r\n\r\n"
        "--b1--\r\n"
    ).encode()


async def seed(
    url: str, mailboxes: int, imap: ImapServer, jobs_per_mailbox: int
) -> list[tuple[int, str, str]]:
    """The pool, its mailboxes (each read on the IMAP server) and their sent jobs; returns, per mailbox,
    (mailbox id, address, a sent job's Message-ID and recipient as 'mid recipient')."""
    conn = await asyncpg.connect(url)
    try:
        await apply_schema(conn)
        pool_id = await conn.fetchval(
            "INSERT INTO pools (namespace, name) VALUES ($1, $2) RETURNING id", NAMESPACE, POOL
        )
        campaign_id = await conn.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template, state)"
            " VALUES ($1, $2, 'spring', $2, 's', 't', 'running') RETURNING id",
            pool_id,
            NAMESPACE,
        )
        rows = [
            (
                pool_id,
                NAMESPACE,
                f"m{i:05d}",
                f"m{i:05d}@{DOMAIN}",
                f"vault:pot/{NAMESPACE}/mailboxes/m{i:05d}",
            )
            for i in range(mailboxes)
        ]
        await conn.copy_records_to_table(
            "mailboxes",
            records=[(*r, "127.0.0.1", 25, imap.host, imap.tls_port, "implicit") for r in rows],
            columns=[
                "pool_id",
                "namespace",
                "name",
                "address",
                "credentials_ref",
                "smtp_host",
                "smtp_port",
                "imap_host",
                "imap_port",
                "imap_tls",
            ],
        )
        boxes = await conn.fetch("SELECT id, address FROM mailboxes ORDER BY id")
        jobs = [
            (campaign_id, f"r{b['id']}-{j}@example.test", "sent", 1, b["id"])
            for b in boxes
            for j in range(jobs_per_mailbox)
        ]
        await conn.copy_records_to_table(
            "send_jobs", records=jobs, columns=["campaign_id", "recipient", "state", "attempts", "mailbox_id"]
        )
        await conn.execute(
            "UPDATE send_jobs SET message_id = '<pot.' || campaign_id || '.' || id || '.1@' || $1 || '>'",
            DOMAIN,
        )
        await conn.execute(
            "INSERT INTO delivery_events (job_id, attempt, campaign_id, mailbox_id, recipient, outcome)"
            " SELECT id, 1, campaign_id, mailbox_id, recipient, 'sent' FROM send_jobs"
        )
        firsts = await conn.fetch(
            "SELECT DISTINCT ON (mailbox_id) mailbox_id, message_id, recipient FROM send_jobs"
            " ORDER BY mailbox_id, id"
        )
        by_box = {r["mailbox_id"]: f"{r['message_id']} {r['recipient']}" for r in firsts}
        return [(int(b["id"]), b["address"], by_box[b["id"]]) for b in boxes]
    finally:
        await conn.close()


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^(pot_ingester_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if m:
            key = m.group(1) + (m.group(2) or "")
            values[key] = values.get(key, 0.0) + float(m.group(3))
    return values


def metric(values: dict[str, float], name: str, **labels: str) -> float:
    return sum(
        v
        for k, v in values.items()
        if k.split("{")[0] == name and all(f'{a}="{b}"' in k for a, b in labels.items())
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def classify_rate(corpus: list[bytes], seconds: float = 3.0) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for raw in corpus:
            classify(raw)
        done += len(corpus)
    return done / (time.perf_counter() - started)


async def wait_recorded(url: str, want: int, within: float) -> None:
    conn = await asyncpg.connect(url)
    try:
        deadline, last = time.monotonic() + within, -1
        while True:
            n = int(await conn.fetchval("SELECT count(*) FROM inbox_messages"))
            if n != last:
                progress(f"recorded {n}/{want} bounces")
                last = n
            if n >= want:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"bench-feedback: only {n} of {want} bounces recorded in {within:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def latencies(url: str, landed: dict[int, float]) -> tuple[list[float], int]:
    """Landing → event per mailbox, and how many mailboxes the operator's window query sees bounced."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT mailbox_id, extract(epoch FROM at) AS at FROM delivery_events"
            " WHERE outcome = 'late_bounce'"
        )
        ids = list(landed)
        since = [datetime.fromtimestamp(0, UTC)] * len(ids)
        counts = await conn.fetch(load_sql("pot_operator", "mailbox_window_counts", folder="sql"), ids, since)
        bounced = sum(1 for r in counts if r["bounced"] >= 1)
        return [float(r["at"]) - landed[r["mailbox_id"]] for r in rows if r["mailbox_id"] in landed], bounced
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-feedback", description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=1200)
    parser.add_argument("--jobs-per-mailbox", type=int, default=5)
    parser.add_argument("--max-logins", type=int, default=20, help="POT_MAX_LOGINS of the ingester")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds allowed for each phase.")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="pot-bench-feedback-"))
    root.chmod(0o755)
    services: list[object] = []
    ingester: subprocess.Popen[bytes] | None = None
    try:
        progress(f"starting Postgres, OpenBao and Dovecot in {root}")
        postgres, bao, imap = Postgres(root), OpenBao(root), ScaledImapServer(root)
        for service in (postgres, bao, imap):
            service.start()
            services.append(service)
        url = postgres.url

        progress(f"adding {args.mailboxes} IMAP users and their Vault secrets")

        def add(i: int) -> None:
            address = f"m{i:05d}@{DOMAIN}"
            imap.add_user(address, f"pw-{i}")
            bao.put_secret(
                f"pot/{NAMESPACE}/mailboxes/m{i:05d}", {"username": address, "password": f"pw-{i}"}
            )

        with ThreadPoolExecutor(8) as pool:
            for n, _ in enumerate(pool.map(add, range(args.mailboxes)), 1):
                if n % 200 == 0:
                    progress(f"  {n}/{args.mailboxes} users")
        boxes = asyncio.run(seed(url, args.mailboxes, imap, args.jobs_per_mailbox))
        progress(f"seeded {len(boxes)} mailboxes with {len(boxes) * args.jobs_per_mailbox} sent jobs")

        metrics_port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "POT_POOL": f"{NAMESPACE}/{POOL}",
            "POT_DATABASE_URL": url,
            **bao.env(),
            "POT_IMAP_CA_FILE": str(imap.cert_path),
            "POT_METRICS_PORT": str(metrics_port),
            "POT_MAX_LOGINS": str(args.max_logins),
            "POT_REFRESH_SECONDS": "5",
        }
        log = root / "ingester.log"
        with log.open("ab") as out:
            ingester = subprocess.Popen(
                [sys.executable, "-m", "pot_ingester.cli"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = time.monotonic()
        progress(f"started pot-ingester pid={ingester.pid}; waiting for {args.mailboxes} idle inboxes")
        connections = idle = 0.0
        while time.monotonic() - started < args.timeout:
            time.sleep(2)
            if ingester.poll() is not None:
                raise SystemExit(f"bench-feedback: pot-ingester exited, see {log}")
            try:
                values = scrape(metrics_port)
            except OSError:
                continue
            connections = metric(values, "pot_ingester_imap_connections")
            idle = metric(values, "pot_ingester_mailboxes", mode="idle")
            progress(f"  connections={connections:.0f} idle={idle:.0f} rss_mib={rss_mib(ingester.pid):.0f}")
            if idle >= args.mailboxes:
                break
        connect_seconds = time.monotonic() - started
        if idle < args.mailboxes:
            raise SystemExit(
                f"bench-feedback: only {idle:.0f} inboxes idle after {args.timeout:.0f} s, see {log}"
            )
        time.sleep(5)  # settled: every connection idle, nothing in flight
        rss = rss_mib(ingester.pid)
        connections = metric(scrape(metrics_port), "pot_ingester_imap_connections")

        progress(f"delivering one bounce into each of {len(boxes)} inboxes")
        corpus = []
        landed: dict[int, float] = {}

        def land(box: tuple[int, str, str]) -> None:
            mailbox_id, address, job = box
            message_id, recipient = job.split(" ")
            raw = dsn(recipient, message_id)
            corpus.append(raw)
            imap.deliver(address, raw)
            landed[mailbox_id] = time.time()

        first = time.time()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(land, boxes))
        asyncio.run(wait_recorded(url, len(boxes), args.timeout))
        ingest_seconds = time.time() - first
        delays, bounced = asyncio.run(latencies(url, landed))
        delays.sort()
        progress(f"the operator's window query sees {bounced} of {len(boxes)} mailboxes bounced")
        progress("timing the classifier alone")
        rate = classify_rate(corpus[:200])

        print(f"mailboxes={args.mailboxes}")
        print(f"imap_connections={connections:.0f}")
        print(f"rss_mib={rss:.0f}")
        print(f"connect_seconds={connect_seconds:.1f}")
        print(f"classify_per_s={rate:.0f}")
        print(f"ingest_per_s={len(boxes) / ingest_seconds:.0f}")
        print(f"bounce_to_health_seconds={statistics.median(delays):.2f}")
        print(f"bounce_to_health_p95_seconds={delays[int(len(delays) * 0.95) - 1]:.2f}")
        print(f"window_counts_bounced_mailboxes={bounced}")
    finally:
        if ingester is not None and ingester.poll() is None:
            kill_group(ingester.pid, timeout=20)
        for service in reversed(services):
            service.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

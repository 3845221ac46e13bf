"""potctl transcript (a job's SMTP transcript) and potctl transcripts retention; registered by potctl.main.

The workers write transcripts to an S3-compatible bucket (pot_worker.archive), one gzip JSON-lines
object per batch, keyed `<tenant>/<pool>/<date>/<first>-<last>-<min job>-<max job>-<worker>-<seq>.jsonl.gz`
(times HHMMSS, UTC). A job is found without an index: Postgres gives its pool and its attempts' times
(delivery_events), the key names narrow the day's objects to those whose job range holds it and that
began before the attempt, nearest first, and those are read until every attempt is found.
Retention is the bucket's lifecycle rules, one per tenant or pool prefix (docs/transcripts.md).
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import asyncpg
import typer
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import MinioException, S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from potctl import inputs
from potctl.console import checked, fail, out, printable
from potctl.database import DatabaseOpt, run_db

KEY_NAME = re.compile(r"(\d{6})-(\d{6})-(\d+)-(\d+)-[A-Za-z0-9._-]+-\d+\.jsonl\.gz")
LOOKBACK = timedelta(days=1)  # how long before an attempt its batch may have begun (a store outage)
LEEWAY = timedelta(minutes=1)  # clocks of workers and Postgres may differ a little
MOST_OBJECTS = 200  # objects read for one job at most
RULE_PREFIX = "pot-retention-"

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint", help="The object store, http(s)://host:port. Default: POT_TRANSCRIPTS_ENDPOINT."
    ),
]
BucketOpt = Annotated[
    str | None, typer.Option("--bucket", help="Default: POT_TRANSCRIPTS_BUCKET, else pot-transcripts.")
]


@dataclass(frozen=True)
class Candidate:
    """An object that may hold the job: its key and when its batch began (UTC)."""

    key: str
    began: datetime


def candidate(key: str, day: date, job_id: int) -> Candidate | None:
    """The key as a Candidate when its job range holds `job_id` (pure); None otherwise."""
    match = KEY_NAME.fullmatch(key.rsplit("/", 1)[-1])
    if match is None or not int(match[3]) <= job_id <= int(match[4]):
        return None
    began = datetime.strptime(f"{day:%Y-%m-%d} {match[1]}", "%Y-%m-%d %H%M%S").replace(tzinfo=UTC)
    return Candidate(key, began)


def ordered(candidates: list[Candidate], attempts: list[datetime]) -> list[Candidate]:
    """The candidates that began shortly before some attempt (within LOOKBACK, give or take LEEWAY),
    nearest first (pure)."""
    scored = []
    for c in candidates:
        gaps = [abs(at - c.began) for at in attempts if -LEEWAY <= at - c.began <= LOOKBACK]
        if gaps:
            scored.append((min(gaps), c.key, c))
    return [c for _, _, c in sorted(scored)]


def days(attempts: list[datetime]) -> list[date]:
    """The dates whose folders may hold these attempts' batches (pure)."""
    found = {(at - delta).date() for at in attempts for delta in (timedelta(0), LOOKBACK)}
    return sorted(d for d in found if d <= max(attempts).date())


def line_text(record_line: list[Any]) -> Iterator[str]:
    """One tape line as printed: UTC time to the microsecond, direction, text (a multi-line reply one
    printed line per line)."""
    stamp, direction, text = record_line
    when = datetime.fromtimestamp(float(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for part in str(text).split("\n"):
        yield f"{when} {direction} {printable(part)}"


def store(endpoint: str | None) -> Minio:
    """The client from POT_TRANSCRIPTS_* (the keys only from the environment, never a flag)."""
    url = endpoint or os.environ.get("POT_TRANSCRIPTS_ENDPOINT") or ""
    if not url:
        fail("no object store: set POT_TRANSCRIPTS_ENDPOINT or give --endpoint", 2)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        fail(f"--endpoint/POT_TRANSCRIPTS_ENDPOINT {inputs.shown(url)}: not http(s)://host[:port]", 2)
    access, secret = (
        os.environ.get("POT_TRANSCRIPTS_ACCESS_KEY"),
        os.environ.get("POT_TRANSCRIPTS_SECRET_KEY"),
    )
    if not access or not secret:
        fail("no store credentials: set POT_TRANSCRIPTS_ACCESS_KEY and POT_TRANSCRIPTS_SECRET_KEY", 2)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5.0, read=30.0),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("POT_TRANSCRIPTS_CA_FILE") or None,
    )
    region = os.environ.get("POT_TRANSCRIPTS_REGION") or "us-east-1"
    return Minio(
        parts.netloc, access, secret, secure=parts.scheme == "https", region=region, http_client=http
    )


def bucket_name(bucket: str | None) -> str:
    return bucket or os.environ.get("POT_TRANSCRIPTS_BUCKET") or "pot-transcripts"


def store_error(exc: Exception) -> str:
    """A one-line reason from the client's exceptions (S3's own code when it answered)."""
    if isinstance(exc, S3Error):
        return f"the object store refused it: {exc.code}"
    return f"the object store did not answer: {exc.__class__.__name__}"


STORE_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)


def transcript_cmd(
    job_id: Annotated[int, typer.Argument(help="The send job's id (send_jobs.id, in events and status).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the stored records, one JSON per line.")
    ] = False,
    database_url: DatabaseOpt = None,
    endpoint: EndpointOpt = None,
    bucket: BucketOpt = None,
) -> None:
    """Print a job's SMTP transcripts: each command and reply of each attempt, with its time (UTC).

    AUTH exchanges show as `[redacted]`; the message itself as its size. Postgres (POT_DATABASE_URL)
    says where the job's pool is and when it was attempted; the object store (POT_TRANSCRIPTS_*)
    holds the transcripts. Exit status 2, with one line, when the job, its attempts or its
    transcripts cannot be found (off, not written yet, or past the bucket's retention).
    """
    checked(lambda: inputs.at_least(job_id, 1, "JOB_ID"))
    client, name = store(endpoint), bucket_name(bucket)

    async def look(conn: asyncpg.Connection) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
        job = await conn.fetchrow(
            "SELECT j.id, j.recipient, j.state::text AS state, p.namespace, p.name AS pool FROM send_jobs j"
            " JOIN campaigns c ON c.id = j.campaign_id JOIN pools p ON p.id = c.pool_id WHERE j.id = $1",
            job_id,
        )
        events = await conn.fetch(
            "SELECT attempt, outcome, at FROM delivery_events WHERE job_id = $1 ORDER BY at, id", job_id
        )
        return job, list(events)

    job, events = run_db(database_url, look)
    if job is None:
        fail(f"no job {job_id} in Postgres", 2)
    if not events:
        fail(f"job {job_id} ({job['state']}) has not been attempted yet: no transcript", 2)
    attempts = [e["at"] for e in events]
    try:
        records = find(client, name, job["namespace"], job["pool"], job_id, attempts)
    except STORE_ERRORS as exc:
        fail(f"{store_error(exc)} (bucket {name})", 2)
    if not records:
        fail(
            f"no transcript of job {job_id} in bucket {name} under {job['namespace']}/{job['pool']}/ "
            "(transcripts off, not written yet, or past retention)",
            2,
        )
    if as_json:
        for record in records:
            out.print(json.dumps(record), markup=False, highlight=False, soft_wrap=True)
        return
    out.print(
        f"job {job_id} {printable(job['recipient'])} ({job['state']}) pool {job['namespace']}/{job['pool']}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for record in records:
        mailbox, message_id = printable(str(record.get("mailbox"))), printable(str(record.get("message_id")))
        out.print(
            f"attempt {record.get('attempt')} {record.get('outcome')} mailbox {mailbox} "
            f"message-id {message_id}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        for tape_line in record.get("lines") or []:
            for text in line_text(tape_line):
                out.print(text, markup=False, highlight=False, soft_wrap=True)
    found = {(r.get("attempt"), r.get("outcome")) for r in records}
    missing = [e for e in events if (e["attempt"], e["outcome"]) not in found]
    if missing:
        shown = ", ".join(f"attempt {e['attempt']} {e['outcome']}" for e in missing)
        out.print(f"(no transcript found for {shown})", markup=False, highlight=False, soft_wrap=True)


def find(
    client: Minio, bucket: str, namespace: str, pool: str, job_id: int, attempts: list[datetime]
) -> list[dict[str, Any]]:
    """The job's records, oldest first: candidate objects read nearest first until every attempt has one."""
    candidates: list[Candidate] = []
    for day in days(attempts):
        prefix = f"{namespace}/{pool}/{day:%Y-%m-%d}/"
        for item in client.list_objects(bucket, prefix=prefix):
            found = candidate(str(item.object_name), day, job_id)
            if found is not None:
                candidates.append(found)
    records: list[dict[str, Any]] = []
    for c in ordered(candidates, attempts)[:MOST_OBJECTS]:
        response = client.get_object(bucket, c.key)
        try:
            body = gzip.decompress(response.read())
        finally:
            response.close()
            response.release_conn()
        for line in body.splitlines():
            record = json.loads(line)
            if record.get("job") == job_id:
                records.append(record)
        if len(records) >= len(attempts):
            break
    return sorted(records, key=lambda r: (r.get("at") or 0, r.get("attempt") or 0))


transcripts = typer.Typer(
    help="The SMTP transcripts the workers keep in object storage (docs/transcripts.md).",
    no_args_is_help=True,
)


def retention_target(value: str) -> str:
    """TENANT or TENANT/POOL as a key prefix ending in '/' (a namespace and a Kubernetes name)."""
    tenant, sep, pool = value.partition("/")
    prefix = checked(lambda: inputs.kube_name(tenant, "TENANT"))
    if "." in tenant or len(tenant) > 63:
        fail(f"TENANT {inputs.shown(tenant)}: not a namespace name (a-z, 0-9, '-', at most 63)", 2)
    if sep:
        prefix += "/" + checked(lambda: inputs.kube_name(pool, "POOL"))
    return prefix + "/"


def rules_after(rules: list[Rule], prefix: str, days_kept: int | None) -> list[Rule]:
    """The bucket's rules with this prefix's rule set to `days_kept` days, or removed for None (pure)."""
    rule_id = RULE_PREFIX + prefix.rstrip("/").replace("/", ".")
    kept = [r for r in rules if r.rule_id != rule_id]
    if days_kept is not None:
        kept.append(
            Rule(
                ENABLED,
                rule_filter=Filter(prefix=prefix),
                rule_id=rule_id,
                expiration=Expiration(days=days_kept),
            )
        )
    return kept


@transcripts.command("retention")
def retention_cmd(
    target: Annotated[
        str | None, typer.Argument(help="TENANT (a namespace) or TENANT/POOL; none: list the rules.")
    ] = None,
    days_kept: Annotated[
        int | None, typer.Option("--days", help="Keep this target's transcripts this many days (1 or more).")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove this target's rule.")] = False,
    endpoint: EndpointOpt = None,
    bucket: BucketOpt = None,
) -> None:
    """Show or set how long transcripts are kept: the bucket's lifecycle rules, one per tenant or pool.

    The object store deletes what is older (a pool's rule and its tenant's both apply: the shorter
    wins). Needs keys allowed to change the bucket's lifecycle configuration.
    """
    if target is None and (days_kept is not None or remove):
        fail("--days and --remove need a TENANT or TENANT/POOL", 2)
    if target is not None and (days_kept is None) == (not remove):
        fail("give either --days N or --remove with a TENANT or TENANT/POOL", 2)
    if days_kept is not None:
        checked(lambda: inputs.at_least(days_kept, 1, "--days"))
    client, name = store(endpoint), bucket_name(bucket)
    try:
        config = client.get_bucket_lifecycle(name)
        rules = list(config.rules) if config is not None else []
        if target is not None:
            rules = rules_after(rules, retention_target(target), days_kept)
            if rules:
                client.set_bucket_lifecycle(name, LifecycleConfig(rules))
            else:
                client.delete_bucket_lifecycle(name)
    except STORE_ERRORS as exc:
        fail(f"{store_error(exc)} (bucket {name})", 2)
    for rule in sorted(rules, key=lambda r: str(r.rule_filter.prefix if r.rule_filter else "")):
        prefix = rule.rule_filter.prefix if rule.rule_filter is not None else ""
        kept = rule.expiration.days if rule.expiration is not None else None
        unit = "day" if kept == 1 else "days"
        out.print(
            f"{prefix or '(whole bucket)'} {kept} {unit} (rule {rule.rule_id})", markup=False, highlight=False
        )
    if not rules:
        out.print(f"no retention rules on bucket {name}: transcripts are kept until deleted", markup=False)


def register(app: typer.Typer) -> None:
    app.command("transcript")(transcript_cmd)
    app.add_typer(transcripts, name="transcripts")

"""`potctl check-emails --in-cluster`: the checker as a Job in the cluster, run from a laptop; for
email_commands.

Port 25 is often blocked on laptops and office networks while a cluster's egress nodes may send. So the
list goes into Postgres as a verification run (the potctl database URL), the same Job the operator runs
for a Campaign (pot_deliverability.emailcheck.job) is created in the namespace with the workers' image
and database Secret, its progress is shown while it runs, and its results are read back in the list's
order and written in the same formats as a local run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import typer
from pot_deliverability import emailcheck
from pot_deliverability.emailcheck.job import (
    SWEEP_RUN_ADDRESSES,
    checker_job,
    job_name,
    job_state,
    parse_duration,
    sweep_arguments,
)

from potctl.console import err, fail
from potctl.inputs import BadInput, shown

WORKER_SELECTOR = "app.kubernetes.io/name=pot-worker"
POLL_SECONDS = 0.5

CREATE_RUN = """
INSERT INTO verification_runs (tenant, owner, mode, max_age) VALUES ($1, $2, $3, $4) RETURNING id
"""
RESULTS = """
SELECT a.line, a.address, r.verdict, r.reason, r.smtp_reply, r.mode
FROM verification_run_addresses a
LEFT JOIN verification_results r ON r.tenant = $2 AND r.address = lower(a.address)
WHERE a.run_id = $1 ORDER BY a.line
"""
# A run potctl gave up on: failed with the reason (a run already done stays done: its results were
# written, only reading them back failed), and its address list deleted; never another run's rows.
GIVE_UP = """
UPDATE verification_runs
SET state = CASE WHEN state = 'done' THEN state ELSE 'failed' END, failure = $2,
    finished_at = coalesce(finished_at, now())
WHERE id = $1
"""


class RunFailed(Exception):
    """The run cannot end well: `reason` for the person and the run; `stop_job` when the Job must go
    (nobody will read what it finds)."""

    def __init__(self, reason: str, stop_job: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stop_job = stop_job


LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def duration(value: str, what: str) -> dt.timedelta:
    """--max-age as a timedelta (pure); BadInput naming the option otherwise."""
    try:
        return parse_duration(value)
    except ValueError:
        raise BadInput(f"{what} {shown(value)}: not a duration such as 720h, 90m or 0s") from None


def key_values(values: list[str], what: str) -> dict[str, str]:
    """KEY=VALUE pairs with Kubernetes label syntax (pure)."""
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not LABEL_KEY.match(key) or len(value) > 63 or not LABEL_VALUE.match(value):
            raise BadInput(f"{what} {shown(item)}: not KEY=VALUE with a label's key and value")
        pairs[key] = value
    return pairs


def database_url(value: str | None) -> str:
    """--database-url, else POT_DATABASE_URL (pure but for the environment); never shown back."""
    url = value or os.environ.get("POT_DATABASE_URL") or ""
    if not url:
        raise BadInput("--in-cluster needs the database: set POT_DATABASE_URL or give --database-url")
    if not url.startswith(("postgresql://", "postgres://")):
        raise BadInput("--database-url/POT_DATABASE_URL: not a postgresql:// URL")
    return url


@dataclass(frozen=True)
class JobTemplate:
    """What the Job takes from the cluster: the workers' image and how they reach Postgres."""

    image: str
    env: list[dict[str, Any]]


def template_from_deployment(deployment: dict[str, Any]) -> JobTemplate | None:
    """The image and POT_DATABASE_URL entry of a worker Deployment's container (pure); None without them."""
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    container = (containers or [{}])[0]
    env = [e for e in container.get("env") or [] if e.get("name") == "POT_DATABASE_URL"]
    image = container.get("image")
    return JobTemplate(str(image), env) if image and env else None


def template_for(apps: Any, namespace: str, image: str | None, secret: str | None) -> JobTemplate:
    """--image and --database-secret, else what the namespace's worker Deployment runs."""
    found = None
    if image is None or secret is None:
        listed = apps.list_namespaced_deployment(namespace, label_selector=WORKER_SELECTOR)
        for item in apps.api_client.sanitize_for_serialization(listed).get("items") or []:
            if (found := template_from_deployment(item)) is not None:
                break
        if found is None:
            fail(
                f"no POT worker Deployment in namespace {namespace} to take the image and database Secret "
                "from: give --image and --database-secret",
                2,
            )
    env = (
        [
            {
                "name": "POT_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "POT_DATABASE_URL"}},
            }
        ]
        if secret is not None
        else found.env  # type: ignore[union-attr]
    )
    return JobTemplate(image or found.image, env)  # type: ignore[union-attr]


async def upload(
    url: str, tenant: str, mode: str, max_age: dt.timedelta, rows: Iterator[tuple[int, str]]
) -> tuple[int, int]:
    """The run and its addresses (the first line of each address, case-insensitively): (run id, total)."""
    conn = await asyncpg.connect(url, timeout=15)
    try:
        # What an earlier potctl of this namespace that died (kill -9) left behind.
        await conn.fetchval(SWEEP_RUN_ADDRESSES, *sweep_arguments(tenant))
        async with conn.transaction():
            owner = f"potctl/{getpass.getuser()}"
            run_id = int(await conn.fetchval(CREATE_RUN, tenant, owner, mode, max_age))
            seen: set[str] = set()
            records = []
            for line, address in rows:
                if address.lower() not in seen:
                    seen.add(address.lower())
                    records.append((run_id, line, address))
            await conn.copy_records_to_table(
                "verification_run_addresses", records=records, columns=["run_id", "line", "address"]
            )
            await conn.execute("UPDATE verification_runs SET total = $2 WHERE id = $1", run_id, len(records))
        return run_id, len(records)
    finally:
        await conn.close()


async def wait(
    url: str,
    run_id: int,
    read_job: Callable[[], dict[str, Any] | None],
    advance: Callable[[int], None],
    limit_s: float,
) -> str:
    """Poll the run's progress until it is done; the checker's notice (why auto fell back), or
    RunFailed when the Job failed, vanished or the timeout passed."""
    conn = await asyncpg.connect(url, timeout=15)
    deadline = time.monotonic() + limit_s
    try:
        while True:
            run = await conn.fetchrow(
                "SELECT checked, reused, state, notice FROM verification_runs WHERE id = $1", run_id
            )
            advance(int(run["checked"]) + int(run["reused"]))
            if run["state"] == "done":
                return str(run["notice"])
            state, why = await asyncio.to_thread(lambda: job_state(read_job()))
            if state == "failed":
                raise RunFailed(f"the checker Job failed: {why}")
            if state == "missing":
                raise RunFailed("the checker Job was deleted before it finished")
            if time.monotonic() > deadline:
                raise RunFailed(f"the checker Job did not finish within {limit_s:.0f}s", stop_job=True)
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await conn.close()


async def results(
    url: str, run_id: int, tenant: str, total: int, write: Callable[[emailcheck.EmailResult], None]
) -> None:
    """Each of the run's results to `write`, in the list's order, read a page at a time; the run's
    addresses are deleted once read (the results stay, for later runs to reuse)."""
    conn = await asyncpg.connect(url, timeout=15)
    try:
        read = 0
        async with conn.transaction():
            async for r in conn.cursor(RESULTS, run_id, tenant, prefetch=1000):
                verdict = emailcheck.Verdict(r["verdict"] or "unknown")
                reason = r["reason"] if r["verdict"] else "no result was written"
                reply, mode = r["smtp_reply"] or "", r["mode"] or ""
                write(emailcheck.EmailResult(r["address"], verdict, reason, "", reply, mode, int(r["line"])))
                read += 1
        if read != total:  # swept meanwhile (a laptop asleep for over an hour): say so, not a short list
            raise RunFailed(f"only {read} of the run's {total} addresses were still in Postgres")
        await conn.execute("DELETE FROM verification_run_addresses WHERE run_id = $1", run_id)
    finally:
        await conn.close()


async def give_up(url: str, run_id: int, reason: str) -> None:
    """Mark run `run_id` failed with `reason` and delete its address list, in one transaction."""
    conn = await asyncpg.connect(url, timeout=15)
    try:
        async with conn.transaction():
            await conn.execute(GIVE_UP, run_id, reason[:1000])
            await conn.execute("DELETE FROM verification_run_addresses WHERE run_id = $1", run_id)
    finally:
        await conn.close()


def give_up_quietly(url: str, run_id: int, reason: str) -> None:
    """give_up, or one line on stderr when Postgres cannot be reached (the sweep removes it later)."""
    try:
        asyncio.run(give_up(url, run_id, reason))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        err.print(
            f"warning: run {run_id}'s address list stays until the next sweep: Postgres: "
            f"{exc.__class__.__name__}",
            highlight=False,
        )


def build_job(
    namespace: str, run_id: int, template: JobTemplate, node_selector: dict[str, str]
) -> dict[str, Any]:
    return checker_job(
        namespace=namespace,
        name=job_name(run_id, "potctl"),
        run_id=run_id,
        image=template.image,
        env=template.env,
        managed_by="potctl",
        node_selector=node_selector,
    )


@dataclass(frozen=True)
class ClusterRun:
    """What `--in-cluster` was asked (the options of check-emails)."""

    database_url: str
    namespace: str | None
    kubeconfig: str | None
    context: str | None
    mode: str
    max_age: dt.timedelta
    image: str | None
    secret: str | None
    node_selector: dict[str, str]
    timeout: float


def run_in_cluster(
    ask: ClusterRun,
    rows: Iterator[tuple[int, str]],
    write: Callable[[emailcheck.EmailResult], None],
    progress: Callable[[int | None, int], None],
) -> str:
    """Upload, run the Job, wait, write the results; returns the checker's notice. `progress(total,
    done)` is called as the run advances."""
    from kubernetes import client

    from potctl.kube_commands import api_errors, connect

    mode = ask.mode
    if mode == emailcheck.Mode.SYNTAX.value:
        fail("--in-cluster: mode syntax needs no network; run it without --in-cluster", 2)
    with connect(ask.kubeconfig, ask.context) as cluster:
        namespace = ask.namespace or cluster.namespace
        batch = client.BatchV1Api(cluster.api.api_client)
        with api_errors(f"namespace {namespace}"):
            template = template_for(
                client.AppsV1Api(cluster.api.api_client), namespace, ask.image, ask.secret
            )
        run_id, total = asyncio.run(upload(ask.database_url, namespace, mode, ask.max_age, rows))
        name = job_name(run_id, "potctl")
        created = False
        stage = "creating the checker Job"
        try:
            progress(total, 0)
            job = build_job(namespace, run_id, template, ask.node_selector)
            with api_errors(f"Job {name} in {namespace}"):
                batch.create_namespaced_job(namespace, job)  # type: ignore[arg-type]
            created = True
            stage = "waiting for the checker Job"

            def read_job() -> dict[str, Any] | None:
                from kubernetes.client.exceptions import ApiException

                try:
                    found = batch.read_namespaced_job(name, namespace)
                except ApiException as exc:
                    if exc.status == 404:
                        return None
                    raise
                return dict(batch.api_client.sanitize_for_serialization(found))

            with api_errors(f"Job {name} in {namespace}"):
                notice = asyncio.run(
                    wait(ask.database_url, run_id, read_job, lambda done: progress(total, done), ask.timeout)
                )
            stage = "reading the results"
            asyncio.run(results(ask.database_url, run_id, namespace, total, write))
        except RunFailed as exc:
            give_up_quietly(ask.database_url, run_id, exc.reason)
            if exc.stop_job:
                stop_job(batch, namespace, name)
            fail(f"{exc.reason}{STOPPED if exc.stop_job else ''}")
        except KeyboardInterrupt:
            give_up_quietly(ask.database_url, run_id, f"interrupted (Ctrl-C) while {stage}")
            if created:
                stop_job(batch, namespace, name)
            fail(f"interrupted while {stage}{STOPPED if created else ''}", 130)
        except BaseException as exc:  # the Job not created, Postgres or the apiserver gone, a closed pipe
            why = "potctl stopped" if isinstance(exc, typer.Exit) else exc.__class__.__name__
            give_up_quietly(ask.database_url, run_id, f"{why} while {stage}")
            raise
    return notice


# Said when potctl deleted the Job: results it wrote stay and a rerun with --max-age reuses them.
STOPPED = "; stopped the Job (results written so far are kept: --max-age reuses them)"


def stop_job(batch: Any, namespace: str, name: str) -> None:
    """Delete the Job and its pod (nobody reads what it finds any more); a Job already gone is fine."""
    from kubernetes.client.exceptions import ApiException

    try:
        batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            err.print(f"warning: could not delete Job {name}: HTTP {exc.status}", highlight=False)

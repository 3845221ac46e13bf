"""`potctl check-emails --in-cluster` that does not end well leaves no address list in Postgres: a Job
that cannot be made, a timeout, Ctrl-C each mark the run failed with why and delete its own list (the
Job stopped when nobody will read it), never another run's; a potctl killed with SIGKILL leaves its list
to the sweep the next run does. Real control plane and Postgres; no job runner, so the Job never ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client
from pot_stack.e2e import sql

JOB_ARGS = ["--image", "pot:test", "--database-secret", "pot-worker"]


def command(listing: Path, namespace: str, *extra: str) -> list[str]:
    args = ["check-emails", str(listing), "--in-cluster", "-n", namespace, *JOB_ARGS, *extra]
    return [sys.executable, "-m", "potctl.main", *args]


def environment(kube: Any, database: str, dns_server: Any) -> dict[str, str]:
    return {
        **os.environ,
        "COLUMNS": "200",
        "KUBECONFIG": str(kube.admin_kubeconfig),
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_DATABASE_URL": database,
    }


def runs(database: str) -> dict[int, tuple[str, str, int]]:
    """Each run: (state, failure, addresses still listed)."""
    rows = sql(
        database,
        "SELECT v.id, v.state, v.failure, (SELECT count(*) FROM verification_run_addresses a"
        " WHERE a.run_id = v.id) AS listed FROM verification_runs v ORDER BY v.id",
    )
    return {r["id"]: (r["state"], r["failure"], int(r["listed"])) for r in rows}


def started(database: str, batch: client.BatchV1Api, namespace: str, known: set[int]) -> int:
    """The new run once its Job exists (potctl is then waiting)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(runs(database)) - known
        if new and batch.list_namespaced_job(namespace).items:
            return new.pop()
        time.sleep(0.2)
    raise AssertionError("potctl made no run and Job within 60 s")


def test_a_failed_in_cluster_run_cleans_up_after_itself(  # type: ignore[no-untyped-def]
    kube, kube_api, namespace, database, dns_server, tmp_path: Path
) -> None:
    listing = tmp_path / "leads.txt"
    listing.write_text("alice@acme.probe.test\nbob@acme.probe.test\n")
    env = environment(kube, database, dns_server)
    batch = client.BatchV1Api(kube_api)
    # Another namespace's run in progress: none of the failures below may touch its list.
    other = sql(
        database,
        "INSERT INTO verification_runs (tenant, owner, mode, max_age, total)"
        " VALUES ('elsewhere', 'potctl/someone', 'smtp', '0s', 1) RETURNING id",
    )[0]["id"]
    sql(database, "INSERT INTO verification_run_addresses VALUES ($1, 1, 'canary@x.test')", other)

    # The Job cannot be made (no such namespace): exit 1, the run failed, its list gone.
    missing = subprocess.run(
        command(listing, "no-such-namespace"), env=env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr, missing.stderr
    ((state, failure, listed),) = [v for k, v in runs(database).items() if k != other]
    assert (state, listed) == ("failed", 0) and "creating the checker Job" in failure

    # Timeout: nothing runs the Job here; potctl gives up, stops the Job and says so.
    known = set(runs(database))
    late = subprocess.run(
        command(listing, namespace, "--timeout", "2"), env=env, capture_output=True, text=True, timeout=120
    )
    assert late.returncode == 1, late.stderr
    assert "did not finish within 2s; stopped the Job" in late.stderr, late.stderr
    ((state, failure, listed),) = [v for k, v in runs(database).items() if k not in known]
    assert (state, listed) == ("failed", 0) and "did not finish" in failure
    assert batch.list_namespaced_job(namespace).items == []

    # Ctrl-C while waiting: the same, exit 130.
    known = set(runs(database))
    waiting = subprocess.Popen(command(listing, namespace), env=env, stderr=subprocess.PIPE, text=True)
    run_id = started(database, batch, namespace, known)
    waiting.send_signal(signal.SIGINT)
    _, stderr = waiting.communicate(timeout=60)
    assert waiting.returncode == 130 and "interrupted while waiting" in stderr, stderr
    state, failure, listed = runs(database)[run_id]
    assert (state, listed) == ("failed", 0) and failure.startswith("interrupted (Ctrl-C)")
    assert batch.list_namespaced_job(namespace).items == []

    # SIGKILL: potctl cannot clean up; its list stays until a sweep finds it past the rules (here made
    # to look three days old), which the namespace's next potctl run does first.
    known = set(runs(database))
    killed = subprocess.Popen(command(listing, namespace), env=env, stderr=subprocess.DEVNULL)
    run_id = started(database, batch, namespace, known)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    assert runs(database)[run_id][2] == 2, "nothing could remove it"
    sql(
        database,
        "UPDATE verification_runs SET created_at = now() - interval '73 hours' WHERE id = $1",
        run_id,
    )
    batch.delete_collection_namespaced_job(namespace, propagation_policy="Background")
    again = subprocess.run(
        command(listing, namespace, "--timeout", "1"), env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 1, again.stderr
    state, failure, listed = runs(database)[run_id]
    assert (state, listed) == ("failed", 0) and failure.startswith("given up")
    assert runs(database)[other] == ("pending", "", 1), "another namespace's run is never touched"

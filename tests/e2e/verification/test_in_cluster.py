"""`potctl check-emails --in-cluster` from a host whose port 25 is blocked: the same list checked locally
falls back to format+mx, while the checker Job, run by the job runner on the real control plane whose
network reaches the probe server, returns SMTP-level results (issue 15). Real Postgres, DNS, SMTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client
from pot_stack.e2e import sql, wait_for

LIST = (
    "email,first_name\n"
    "alice@acme.probe.test,Alice\n"
    "nobody@acme.probe.test,Nobody\n"
    "anyone@catchall.probe.test,Any\n"
    "x@nullmx.probe.test,Null\n"
    "ALICE@acme.probe.test,Again\n"
)


def potctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "potctl.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=180,
        check=False,
    )


def by_address(stdout: str) -> dict[str, dict[str, Any]]:
    return {r["address"]: r for r in map(json.loads, stdout.splitlines())}


def test_in_cluster_from_a_blocked_host_returns_smtp_level_results(  # type: ignore[no-untyped-def]
    kube, kube_api, namespace, database, dns_server, probe_server, closed_port, job_runner, tmp_path: Path
) -> None:
    listing = tmp_path / "leads.csv"
    listing.write_text(LIST)
    here = {
        "KUBECONFIG": str(kube.admin_kubeconfig),
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_SMTP_PROBE_PORT": str(closed_port),  # this host: nothing answers on the probe port
        "POT_DATABASE_URL": database,
    }
    local = potctl("check-emails", str(listing), "-o", "json", env=here)
    assert local.returncode == 0, local.stderr
    found_here = by_address(local.stdout)
    assert found_here["alice@acme.probe.test"]["mode"] == "format+mx"
    assert found_here["nobody@acme.probe.test"]["result"] == "valid", "not probed: MX ok is all it knows"
    assert not any(r["smtp_reply"] for r in found_here.values())
    assert "looks blocked" in local.stderr
    assert probe_server.rcpt_log == []

    args = ["check-emails", str(listing), "--in-cluster", "-n", namespace, "-o", "json"]
    job_args = ["--image", "pot:test", "--database-secret", "pot-worker"]
    cluster = potctl(*args, *job_args, env=here)
    assert cluster.returncode == 0, cluster.stderr + job_runner.log_path.read_text()
    results = by_address(cluster.stdout)
    assert set(results) == {
        "alice@acme.probe.test",
        "nobody@acme.probe.test",
        "anyone@catchall.probe.test",
        "x@nullmx.probe.test",
    }, "each address once, at its first line"
    assert [r["line"] for r in map(json.loads, cluster.stdout.splitlines())] == [2, 3, 4, 5]
    alice, nobody = results["alice@acme.probe.test"], results["nobody@acme.probe.test"]
    assert (alice["result"], alice["mode"]) == ("valid", "smtp") and alice["smtp_reply"].startswith("250")
    assert (nobody["result"], nobody["mode"]) == ("invalid", "smtp")
    assert nobody["smtp_reply"].startswith("550"), nobody
    assert results["anyone@catchall.probe.test"]["result"] == "risky"
    assert results["x@nullmx.probe.test"]["result"] == "invalid"
    assert "nobody@acme.probe.test" in probe_server.rcpt_log
    assert probe_server.data_commands == 0

    # The Job the person's potctl made: the checker, finished, and the results stored for the namespace.
    jobs = client.BatchV1Api(kube_api).list_namespaced_job(namespace).items
    assert len(jobs) == 1 and jobs[0].metadata.labels["app.kubernetes.io/name"] == "pot-checker"

    def succeeded() -> bool:  # the run is done a moment before its process ends and the runner sees it
        (job,) = client.BatchV1Api(kube_api).list_namespaced_job(namespace).items
        return job.status.succeeded == 1

    wait_for(succeeded, 30, "the checker Job succeeded")
    container = jobs[0].spec.template.spec.containers[0]
    assert container.args[:3] == ["potctl", "check-emails", "--job"] and container.image == "pot:test"
    stored = sql(database, "SELECT tenant, address, verdict FROM verification_results ORDER BY address")
    assert {(r["tenant"], r["verdict"]) for r in stored} <= {
        (namespace, v) for v in ("valid", "invalid", "risky")
    }
    assert len(stored) == 4
    assert sql(database, "SELECT count(*) AS n FROM verification_run_addresses")[0]["n"] == 0, "list not kept"

    # Asked again within --max-age: the namespace's results are reused, nobody is probed again.
    probes = len(probe_server.rcpt_log)
    again = potctl(*args, *job_args, "--max-age", "1h", env=here)
    assert again.returncode == 0, again.stderr
    assert by_address(again.stdout) == results
    assert len(probe_server.rcpt_log) == probes


def test_in_cluster_says_what_is_missing_in_one_line(  # type: ignore[no-untyped-def]
    kube, namespace, database, dns_server, tmp_path: Path
) -> None:
    listing = tmp_path / "one.txt"
    listing.write_text("alice@acme.probe.test\n")
    env = {"KUBECONFIG": str(kube.admin_kubeconfig), "POT_DNS_RESOLVER": dns_server.resolver}
    no_db = potctl(
        "check-emails", str(listing), "--in-cluster", "-n", namespace, env={**env, "POT_DATABASE_URL": ""}
    )
    assert no_db.returncode == 2 and "POT_DATABASE_URL" in no_db.stderr and "Traceback" not in no_db.stderr
    no_workers = potctl(
        "check-emails",
        str(listing),
        "--in-cluster",
        "-n",
        namespace,
        env={**env, "POT_DATABASE_URL": database},
    )
    assert no_workers.returncode == 2, no_workers.stderr
    assert "no POT worker Deployment" in no_workers.stderr and "Traceback" not in no_workers.stderr
    with_db = {**env, "POT_DATABASE_URL": database}
    bad_age = potctl("check-emails", str(listing), "--in-cluster", "--max-age", "soon", env=with_db)
    assert bad_age.returncode == 2 and "--max-age" in bad_age.stderr

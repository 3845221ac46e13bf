"""A Campaign with spec.verification on the real stack (issue 15): the operator runs the checker as a Job
(run by the job runner, whose network reaches the probe server's MX hosts), shows its progress, and makes
send jobs only for what the check let through, before any send: invalid addresses never reach the SMTP
sink, risky ones per `risky`; results are reused by a later campaign within `maxAge` (no new probe) and
checked again with `maxAge: 0s`; `format+mx` never probes; `job` puts the nodeSelector and tolerations on
the Job's pod. Real control plane, operator, workers (local runner), Postgres, Redis, OpenBao, DNS, SMTP.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pot_stack.e2e import condition, wait_for

from .conftest import USERS, start_job_runner

REPO = Path(__file__).resolve().parents[3]


def _world_module() -> Any:
    """tests/e2e/api/world.py, loaded by path (test folders are not packages)."""
    spec = importlib.util.spec_from_file_location(
        "pot_e2e_api_world_verification", REPO / "tests/e2e/api/world.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


W = _world_module()
LIST = (
    "email,first_name\n"
    "alice@acme.probe.test,Alice\n"
    "nobody@acme.probe.test,Nobody\n"
    "anyone@catchall.probe.test,Any\n"
    "x@nullmx.probe.test,Null\n"
    "carol@globex.probe.test,Carol\n"
    "bob@acme.probe.test,Bob\n"
)
GOOD = {"alice@acme.probe.test", "carol@globex.probe.test", "bob@acme.probe.test"}
EGRESS = {"pot.dev/egress": "smtp-open"}
TOLERATIONS = [
    {"key": "pot.dev/egress", "operator": "Equal", "value": "smtp-open", "effect": "NoSchedule"},
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 30,
    },
]


@pytest.fixture(scope="module")
def probe() -> Iterator[Any]:
    from pot_stack.probe_server import ProbeServer

    server = ProbeServer(users=USERS, catch_all_domains={"catchall.probe.test"}, rcpt_delay=0.5).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(
    kube, kube_api, postgres, redis_server, vault, dns_server, probe, tmp_path_factory
) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("verify")
    with W.open_world(
        "verify",
        kube=kube,
        api=kube_api,
        postgres=postgres,
        redis_url=redis_server.url,
        vault=vault,
        dns_server=dns_server,
        root=root,
    ) as w:
        runner = start_job_runner(root, kube, w.database, dns_server, probe.port)
        try:
            w.put_secret("mailboxes/m1", {"username": "m1", "password": "pw-m1"})
            w.create("mailboxpools", W.pool("p"))
            w.create("mailboxes", W.mailbox("m1", "p", w.sink))
            w.config_map("leads", LIST)
            yield w
        finally:
            runner.stop()


def verified(name: str, **verification: Any) -> dict[str, Any]:
    return W.campaign(name, "p", "leads", verification=verification)


def jobs_of(w: Any, name: str) -> dict[str, str]:
    rows = w.sql(
        "SELECT j.recipient, j.state FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id"
        " WHERE c.namespace = $1 AND c.name = $2",
        w.namespace,
        name,
    )
    return {r["recipient"]: str(r["state"]) for r in rows}


def sunk(w: Any) -> set[str]:
    return {m.rcpt_to.lower() for m in w.sink.messages()}


def test_invalid_addresses_are_skipped_before_any_send_and_results_are_reused(world: Any, probe: Any) -> None:
    w = world
    w.create(
        "campaigns",
        verified(
            "skip",
            mode="smtp",
            maxAge="720h",
            risky="skip",
            job={"nodeSelector": EGRESS, "tolerations": TOLERATIONS},
        ),
    )

    # While the Job checks (each RCPT answered after 0.5 s), the campaign waits with Verified=False, its
    # progress in the message, and not one send job exists.
    def verifying() -> tuple[dict[str, Any], dict[str, str]] | None:
        found = condition(w.get("campaigns", "skip"), "Verified")
        return (found, jobs_of(w, "skip")) if found.get("reason") == "Verifying" else None

    first, jobs_meanwhile = wait_for(verifying, 60, "Verified=False Verifying on skip", w.logs)
    assert first["status"] == "False" and jobs_meanwhile == {}
    assert re.search(r"\d/6 checked|Starting the checker Job", first["message"]), first
    assert condition(w.get("campaigns", "skip"), "Ready")["status"] == "False"

    status = w.wait_phase("skip", "Completed", timeout=120)
    assert condition({"status": status}, "Verified")["status"] == "True"
    assert set(jobs_of(w, "skip")) == GOOD, "invalid and (risky: skip) risky addresses got no send job"
    assert set(jobs_of(w, "skip").values()) == {"sent"}
    counts = status["counts"]
    assert (counts["total"], counts["sent"], counts["invalid"], counts["riskySkipped"]) == (6, 3, 2, 1)
    v = status["verification"]
    assert (v["total"], v["valid"], v["invalid"], v["risky"], v["mode"]) == (6, 3, 2, 1, "smtp")
    assert v["reused"] == 0 and v["job"].startswith("pot-verify-")
    assert (
        "2 invalid and 1 risky addresses skipped"
        in condition({"status": status}, "RecipientsReady")["message"]
    )
    assert "nobody@acme.probe.test" in probe.rcpt_log, "probed over SMTP from the Job's network"
    assert not sunk(w) & {"nobody@acme.probe.test", "x@nullmx.probe.test", "anyone@catchall.probe.test"}

    # The Job: the checker, on the egress node pool, owned by the Campaign.
    job = client.BatchV1Api(w.api).read_namespaced_job(v["job"], w.namespace)
    pod = w.api.sanitize_for_serialization(job.spec.template.spec)
    assert pod["nodeSelector"] == EGRESS
    assert pod["tolerations"] == TOLERATIONS
    assert (
        job.metadata.owner_references[0].kind == "Campaign"
        and job.metadata.owner_references[0].name == "skip"
    )
    assert pod["containers"][0]["args"][:3] == ["potctl", "check-emails", "--job"]

    # Within maxAge a later campaign reuses every result: nobody is probed again; risky ones are sent.
    probes = len(probe.rcpt_log)
    w.create("campaigns", verified("reuse", mode="auto", maxAge="720h", risky="send"))
    status = w.wait_phase("reuse", "Completed", timeout=120)
    assert status["verification"]["reused"] == 6 and status["verification"]["checked"] == 0
    assert len(probe.rcpt_log) == probes
    assert set(jobs_of(w, "reuse")) == GOOD | {"anyone@catchall.probe.test"}
    assert (status["counts"]["invalid"], status["counts"]["riskySkipped"]) == (2, 0)

    # maxAge 0s checks every address again; auto probes, since the Job's network reaches port 25.
    w.create("campaigns", verified("fresh", mode="auto", maxAge="0s"))
    status = w.wait_phase("fresh", "Completed", timeout=120)
    assert status["verification"]["reused"] == 0 and status["verification"]["mode"] == "smtp"
    assert len(probe.rcpt_log) > probes
    assert "nobody@acme.probe.test" not in sunk(w)

    # format+mx never probes: the mailbox nobody@ passes on its domain's MX and is sent.
    probes = len(probe.rcpt_log)
    w.create("campaigns", verified("shallow", mode="format+mx", maxAge="0s"))
    status = w.wait_phase("shallow", "Completed", timeout=120)
    assert len(probe.rcpt_log) == probes
    assert status["verification"]["mode"] == "format+mx"
    assert "nobody@acme.probe.test" in jobs_of(w, "shallow")
    assert status["counts"]["invalid"] == 1, "only the null-MX domain"

    # Without spec.verification (mode off, the default) nothing is checked: no Job, everything sent.
    w.create("campaigns", W.campaign("plain", "p", "leads"))
    status = w.wait_phase("plain", "Completed", timeout=120)
    assert len(jobs_of(w, "plain")) == 6 and "verification" not in status
    assert condition({"status": status}, "Verified") == {}
    assert len(client.BatchV1Api(w.api).list_namespaced_job(w.namespace).items) == 4
    # Every run's address list is gone once its send jobs exist; the results stay for reuse.
    assert w.sql("SELECT count(*) AS n FROM verification_run_addresses")[0]["n"] == 0
    assert w.sql("SELECT count(*) AS n FROM verification_results WHERE tenant = $1", w.namespace)[0]["n"] == 6

    # Switched to mode off, a campaign loses the Verified condition and status.verification its earlier
    # generation left: they described a check this generation does not make.
    w.custom.patch_namespaced_custom_object(
        "pot.dev", "v1alpha1", w.namespace, "campaigns", "reuse", {"spec": {"verification": {"mode": "off"}}}
    )

    def unverified() -> dict[str, Any] | None:
        status = w.status("reuse")
        left = condition({"status": status}, "Verified") or status.get("verification")
        return None if left else status

    wait_for(unverified, 30, "campaign reuse without Verified and status.verification", w.logs)

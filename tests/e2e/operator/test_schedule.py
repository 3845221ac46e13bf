"""Campaign schedules and what a Campaign waits on, on the real control plane and Postgres: a campaign
before its start is Scheduled with its jobs made and not due; sending hours follow each recipient's
time zone; a paused pool and a spent cap show on the Campaign's Ready condition."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubernetes import client
from pot_common.window import in_window
from pot_stack.e2e import sql, wait_for

from .test_lifecycle import GROUP, POOL_SPEC, VERSION, mailbox

NINE_TO_FIVE = (dt.time(9), dt.time(17))
ALL_DAYS = range(1, 8)


def zones_open_and_closed(now: dt.datetime) -> tuple[str, str]:
    """A fixed-offset zone where 09:00-17:00 is open for the next hour, and one where it stays shut."""

    def hours_open(zone: str) -> bool:
        return all(in_window(now + dt.timedelta(minutes=m), *NINE_TO_FIVE, zone, ALL_DAYS) for m in (0, 60))

    def hours_shut(zone: str) -> bool:
        return not any(
            in_window(now + dt.timedelta(minutes=m), *NINE_TO_FIVE, zone, ALL_DAYS) for m in (0, 60)
        )

    zones = [f"Etc/GMT{sign}{h}" for h in range(1, 12) for sign in "+-"]
    return next(z for z in zones if hours_open(z)), next(z for z in zones if hours_shut(z))


def test_schedules_and_what_a_campaign_waits_on(
    operator, crds_installed, kube_api, namespace, vault, fresh_database
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    core = client.CoreV1Api(kube_api)
    ns = namespace
    vault.client().secrets.kv.v2.create_or_update_secret(
        path=f"pot/{ns}/mailboxes/m1", secret={"username": "m1", "password": "pw"}, mount_point="secret"
    )

    def status(name: str) -> dict[str, Any]:
        body = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", name)
        return body.get("status") or {}  # type: ignore[no-any-return]

    def ready(name: str) -> dict[str, Any]:
        return next((c for c in status(name).get("conditions") or [] if c["type"] == "Ready"), {})

    def campaign(name: str, schedule: dict[str, Any], limits: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Campaign",
            "metadata": {"name": name},
            "spec": {
                "poolRef": {"name": "p"},
                "recipients": {"configMapRef": {"name": "list"}},
                "template": {"subject": "Hi", "text": "Hello"},
                "schedule": schedule,
                "limits": limits or {},
            },
        }

    pool = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": "p"},
        "spec": POOL_SPEC,
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "mailboxpools", pool)
    now = dt.datetime.now(dt.UTC)
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "mailboxes", mailbox("m1", "p", now.date()))
    open_zone, shut_zone = zones_open_and_closed(now)
    csv = (
        f"email,timezone\nopen@example.test,{open_zone}\nshut@example.test,{shut_zone}\nplain@example.test,\n"
    )
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="list"), data={"recipients.csv": csv})
    )

    # Before its start: Scheduled, its jobs made and none due, its row not claimable.
    start = (now + dt.timedelta(days=1)).replace(microsecond=0)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, ns, "campaigns", campaign("later", {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ")})
    )
    wait_for(lambda: status("later").get("phase") == "Scheduled", what="campaign Scheduled")
    assert (ready("later")["status"], ready("later")["reason"]) == ("False", "Scheduled")
    jobs = sql(
        fresh_database,
        "SELECT j.next_attempt_at, c.state FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id"
        " WHERE c.namespace = $1 AND c.name = 'later'",
        ns,
    )
    assert len(jobs) == 3 and all(r["next_attempt_at"] >= start and r["state"] == "pending" for r in jobs)

    # 09:00-17:00 in each recipient's zone: the open zone's job is due now, the shut zone's at its next
    # opening; a recipient without a zone follows schedule.timeZone (the open one here).
    hours = {"sendFrom": "09:00", "sendUntil": "17:00", "timeZone": open_zone}
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "campaigns", campaign("local", hours))
    wait_for(lambda: status("local").get("phase") == "Running", what="campaign Running")
    due = {
        r["recipient"]: r["next_attempt_at"]
        for r in sql(
            fresh_database,
            "SELECT recipient, next_attempt_at FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id"
            " WHERE c.namespace = $1 AND c.name = 'local'",
            ns,
        )
    }
    later = dt.datetime.now(dt.UTC)
    assert due["open@example.test"] <= later and due["plain@example.test"] <= later
    assert due["shut@example.test"] > later
    assert in_window(due["shut@example.test"], *NINE_TO_FIVE, shut_zone, ALL_DAYS)
    assert ready("local")["status"] == "True", ready("local")

    # Its pool paused: the campaign says so and names the command that resumes the pool.
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "mailboxpools", "p", {"spec": {"paused": True}})
    wait_for(lambda: ready("local").get("reason") == "PoolPaused", what="campaign waits on its pool")
    assert f"potctl resume pool p -n {ns}" in ready("local")["message"]
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "mailboxpools", "p", {"spec": {"paused": False}}
    )
    wait_for(lambda: ready("local").get("status") == "True", what="campaign ready again")

    # Its per-hour cap spent (one message reserved this hour): which cap, until when.
    sql(
        fresh_database,
        "UPDATE send_jobs SET state = 'sent', reserved_at = now() WHERE recipient = 'open@example.test'"
        " AND campaign_id = (SELECT id FROM campaigns WHERE namespace = $1 AND name = 'local')",
        ns,
    )
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "campaigns", "local", {"spec": {"limits": {"perHour": 1}}}
    )
    wait_for(lambda: ready("local").get("reason") == "CapReached", what="campaign waits on its cap")
    assert ready("local")["message"].startswith("limits.perHour (1) spent until ")

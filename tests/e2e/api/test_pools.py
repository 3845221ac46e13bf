"""MailboxPools on the real control plane, Postgres, the operator, real workers run by the local runner
and an SMTP sink (issue 12): over a 1,200-message campaign the worker Deployment's replicas, watched from
the apiserver, go down once, after the last job finished; and remembered state belongs to the object
whose uid it carries (pot_operator.lifecycle.StateOwners), so a pool and a mailbox re-created under
their names while the operator was away come back fresh, not auto-paused or cooling, while a pool's own
remembered pause still holds it across a restart.

One world for the module. The operator's scale-down stabilization is 5 s here instead of 300 s, so a
momentary dip in the due count would show as a scale-down within the test; the campaign takes far
longer than that.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

from kubernetes import client, watch
from pot_stack.e2e import condition, wait_for

from .world import World, campaign, mailbox, module_world, pool

RECIPIENTS = 1200
STABILIZATION_SECONDS = 5


world = module_world("api-pools", operator_env={"POT_SCALE_DOWN_STABILIZATION": str(STABILIZATION_SECONDS)})


class ReplicaHistory:
    """Every spec.replicas the apiserver reports for one Deployment, with when it was seen (a watch
    sees every update, so no brief flip is missed as a poll could)."""

    def __init__(self, apps: client.AppsV1Api, namespace: str, name: str) -> None:
        self.values: list[tuple[dt.datetime, int]] = []
        self._stopped = threading.Event()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(apps, namespace, name), daemon=True)
        self._thread.start()

    def _run(self, apps: client.AppsV1Api, namespace: str, name: str) -> None:
        version = None
        while not self._stopped.is_set():
            try:
                # Resumed from the last version seen when the server ends a stream: no update is lost.
                for event in self._watch.stream(
                    apps.list_namespaced_deployment,
                    namespace,
                    field_selector=f"metadata.name={name}",
                    resource_version=version,
                    timeout_seconds=30,
                ):
                    version = event["object"].metadata.resource_version
                    replicas = int(event["object"].spec.replicas or 0)
                    if not self.values or self.values[-1][1] != replicas:
                        self.values.append((dt.datetime.now(dt.UTC), replicas))
            except Exception:  # the stream broke off (or was stopped): watch again from `version`
                self._stopped.wait(0.2)

    def stop(self) -> None:
        self._stopped.set()
        self._watch.stop()
        self._thread.join(timeout=5)

    def scale_downs(self) -> list[tuple[dt.datetime, int, int]]:
        return [
            (at, before, after)
            for (_, before), (at, after) in zip(self.values, self.values[1:], strict=False)
            if after < before
        ]


def test_a_large_campaign_scales_its_workers_down_once_at_the_end(world: World) -> None:
    world.put_secret("mailboxes/m1", {"username": "m1", "password": "pw-m1"})
    world.put_secret("mailboxes/m2", {"username": "m2", "password": "pw-m2"})
    history = ReplicaHistory(world.apps, world.namespace, "pot-worker-p")
    try:
        world.create("mailboxpools", pool("p", min_replicas=0, max_replicas=2, per_worker=100))
        world.create("mailboxes", mailbox("m1", "p", world.sink))
        world.create("mailboxes", mailbox("m2", "p", world.sink))
        csv = "email,first_name\n" + "".join(f"r{i:04d}@example.test,R{i}\n" for i in range(RECIPIENTS))
        world.config_map("big", csv)
        world.create(
            "campaigns",
            campaign("big", "p", "big", template={"subject": "Hi {{ first_name }}", "text": "Hello"}),
        )
        counts = world.wait_phase("big", "Completed", timeout=180)["counts"]
        assert counts["sent"] == RECIPIENTS
        last_finished = world.sql("SELECT max(updated_at) AS at FROM send_jobs")[0]["at"]
        wait_for(
            lambda: history.values and history.values[-1][1] == 0,
            STABILIZATION_SECONDS + 30,
            "workers scaled to zero after the campaign",
            world.logs,
        )
    finally:
        history.stop()
    assert len(world.sink.messages()) == RECIPIENTS
    assert max(r for _, r in history.values) == 2, history.values
    downs = history.scale_downs()
    print(f"replicas_history={[(at.isoformat(), r) for at, r in history.values]}")
    assert len(downs) == 1, f"scaled down {len(downs)} times: {history.values}"
    at, before, after = downs[0]
    assert (before, after) == (2, 0)
    assert at >= last_finished, (at, last_finished)


def remember(world: World, kind: str, name: str, data: dict[str, Any]) -> None:
    """A state row as the operator writes it (operator_object_state)."""
    world.sql(
        "INSERT INTO operator_object_state (kind, namespace, name, data) VALUES ($1, $2, $3, $4::jsonb)"
        " ON CONFLICT (kind, namespace, name) DO UPDATE SET data = EXCLUDED.data",
        kind,
        world.namespace,
        name,
        json.dumps(data),
    )


def forgotten(world: World, kind: str) -> bool:
    return f"Forgot state of an earlier object: kind={kind} " in world.operator.log_text()


def paused_pool(world: World) -> dict[str, Any] | None:
    p = world.get("mailboxpools", "q")
    return p if (p.get("status") or {}).get("paused") else None


def test_state_of_an_earlier_object_of_the_same_name_is_forgotten(world: World) -> None:
    world.put_secret("mailboxes/m9", {"username": "m9", "password": "pw-m9"})
    world.create("mailboxpools", pool("q", min_replicas=0))
    world.create("mailboxes", mailbox("m9", "q", world.sink))
    wait_for(lambda: world.get("mailboxes", "m9").get("status", {}).get("state"), 60, "m9 reconciled")
    pool_uid = world.get("mailboxpools", "q")["metadata"]["uid"]
    now = dt.datetime.now(dt.UTC)
    paused = {"pausedAt": now.isoformat(), "reason": "BounceRateHigh", "message": "bounce 9.00%"}
    cooling = {"cooldownUntil": (now + dt.timedelta(hours=2)).isoformat(), "cooldownReason": "BounceRateHigh"}

    # While the operator is away, state left by earlier objects named q and m9 is in Postgres.
    starts = world.operator.log_text().count("Started pot-operator")
    world.kill_operator()
    remember(world, "MailboxPool", "q", {**paused, "uid": "uid-of-an-earlier-pool"})
    remember(world, "Mailbox", "m9", {**cooling, "uid": "uid-of-an-earlier-mailbox"})
    world.operator.start()
    wait_for(
        lambda: world.operator.log_text().count("Started pot-operator") > starts, 60, "restart", world.logs
    )
    time.sleep(5)  # scans every second: the stale pause would have been applied by now
    p = world.get("mailboxpools", "q")
    assert not (p.get("status") or {}).get("paused"), p.get("status")
    assert condition(p, "AutoPaused").get("status") != "True"
    assert world.get("mailboxes", "m9")["status"]["state"] != "Cooling"
    assert forgotten(world, "MailboxPool") and forgotten(world, "Mailbox")
    rows = world.sql("SELECT kind, data FROM operator_object_state WHERE namespace = $1", world.namespace)
    assert not any("earlier" in row["data"] for row in rows), rows

    # The pool's own remembered pause (its uid) still holds it across a restart.
    world.kill_operator()
    remember(world, "MailboxPool", "q", {**paused, "uid": pool_uid})
    world.operator.start()
    held = wait_for(lambda: paused_pool(world), 60, "the pool held by its own remembered pause", world.logs)
    assert "BounceRateHigh" in held["status"]["pauseReason"]

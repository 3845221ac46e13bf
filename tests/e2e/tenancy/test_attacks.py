"""The attack suite (issue 11): a hostile tenant next to `acme` on the real control plane, Postgres,
OpenBao, the SMTP sink and real workers. Each attack is refused with a condition, an Event or the
apiserver's answer that says why; the attacker's SMTP server receives nothing; none of acme's secrets
appears anywhere outside acme's Vault folder and acme's own sends.

The world (conftest.py) is built once: acme's pool, mailbox and campaign, and every attack at once.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client
from pot_stack.e2e import condition, wait_for

from .world import CANARY_HOOK, CANARY_PASSWORD, CANARY_TOKEN, DOMAIN, WORKER_IMAGE, World

pytestmark = pytest.mark.timeout(300)


def cond_is(world: World, namespace: str, plural: str, name: str, type_: str, **want: str) -> dict[str, Any]:
    """Wait until the object's condition has the wanted fields; returns the condition."""

    def check() -> dict[str, Any] | None:
        found = condition(world.get(namespace, plural, name), type_)
        return found if found and all(found.get(k) == v for k, v in want.items()) else None

    found: dict[str, Any] = wait_for(
        check,
        what=f"{plural}/{name} {type_} {want}",
        show=lambda: (world.get(namespace, plural, name).get("status"), world.operator.log_text()[-3000:]),
    )
    return found


def event_reasons(world: World, namespace: str, name: str) -> set[str]:
    return {e.reason for e in world.events(namespace) if e.involved_object.name == name}


def test_attack_1_a_foreign_vault_path_with_the_attackers_server_and_no_tls_is_refused(world: World) -> None:
    evil, acme = world.evil, world.acme
    # The attack: acme's password path (as the old convention named it), evil's server, cleartext.
    plain = cond_is(
        world, evil, "mailboxes", "steal-plain", "CredentialsReady", reason="PlaintextAuthNotAllowed"
    )
    assert plain["status"] == "False"
    assert "127.0.0.1" in plain["message"] and "POT_ALLOW_PLAINTEXT_AUTH" in plain["message"]
    wait_for(
        lambda: "PlaintextAuthNotAllowed" in event_reasons(world, evil, "steal-plain"), what="refusal Event"
    )
    # With TLS the path is read, but inside evil's folder: acme's secret is out of reach.
    tls = cond_is(world, evil, "mailboxes", "steal-tls", "CredentialsReady", reason="SecretMissing")
    assert f"secret/pot/{evil}/pot/{acme}/mailboxes/alice" in tls["message"]
    # A path climbing out of the folder never gets stored.
    assert "spec.credentials.vaultPath" in world.refused["vault-path-climb"]
    # Neither mailbox may send: paused with no cap, its reference inside evil's folder.
    rows = world.sql(
        "SELECT name, state, daily_cap, credentials_ref FROM mailboxes WHERE namespace = $1 ORDER BY name",
        evil,
    )
    assert [r["name"] for r in rows] == ["steal-plain", "steal-tls"]
    for row in rows:
        assert (row["state"], row["daily_cap"]) == ("paused", 0), dict(row)
        assert row["credentials_ref"].startswith(f"vault:pot/{evil}/"), dict(row)
    for name in ("steal-plain", "steal-tls"):
        assert world.get(evil, "mailboxes", name)["status"]["state"] == "Failed"
    # The workers the operator deploys refuse cleartext AUTH too (defence in depth).
    deployment = world.apps.read_namespaced_deployment("pot-worker-grab", evil)
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["POT_ALLOW_PLAINTEXT_AUTH"] == "false"


def test_attack_2_a_campaign_cannot_claim_another_tenant_or_its_imported_list(world: World) -> None:
    evil = world.evil
    assert 'unknown field "spec.tenant"' in world.refused["tenant-claim"]
    borrow = world.get(evil, "campaigns", "borrow")
    assert "tenant" not in borrow["spec"]  # without strict validation the apiserver dropped it
    ready = cond_is(world, evil, "campaigns", "borrow", "RecipientsReady", reason="ImportNotFound")
    assert ready["status"] == "False" and f"namespace {evil}" in ready["message"]
    rows = world.sql("SELECT tenant FROM campaigns WHERE namespace = $1 AND name = 'borrow'", evil)
    assert [r["tenant"] for r in rows] == [evil]
    jobs = world.sql(
        "SELECT count(*) FROM send_jobs j JOIN campaigns c ON c.id = j.campaign_id "
        "WHERE c.namespace = $1 AND c.name = 'borrow'",
        evil,
    )
    assert jobs[0][0] == 0
    assert (
        world.sql("SELECT count(*) FROM send_jobs WHERE recipient = $1", f"lead-{world.uid}@{DOMAIN}")[0][0]
        == 0
    )


def test_attack_3_renaming_the_tenant_does_not_escape_its_unsubscribes(world: World, smtp_sink: Any) -> None:
    acme, uid = world.acme, world.uid
    assert 'unknown field "spec.tenant"' in world.refused["tenant-rename"]
    done = wait_for(
        lambda: (lambda o: o if (o.get("status") or {}).get("phase") == "Completed" else None)(
            world.get(acme, "campaigns", "spring")
        ),
        timeout=180,
        what="acme's campaign Completed",
        show=lambda: (world.get(acme, "campaigns", "spring").get("status"), world.workers.log_text()[-3000:]),
    )
    counts = done["status"]["counts"]
    assert (counts["total"], counts["sent"], counts["suppressed"]) == (2, 1, 1), counts
    assert (
        world.sql("SELECT tenant FROM campaigns WHERE namespace = $1 AND name = 'spring'", acme)[0][0] == acme
    )
    delivered = [m.rcpt_to for m in smtp_sink.messages()]
    assert delivered.count(f"ok-{uid}@{DOMAIN}") == 1
    assert f"gone-{uid}@{DOMAIN}" not in delivered
    assert world.sql("SELECT count(*) FROM send_jobs WHERE recipient = $1", f"gone-{uid}@{DOMAIN}")[0][0] == 0
    # acme's own alert routes work: its campaign's completion reached acme's bot and webhook.
    completed = f"campaign {acme}/spring completed"
    wait_for(
        lambda: (
            any(completed in m["text"] for m in world.chat.telegram_messages)
            and any(completed in m["text"] for m in world.chat.slack_messages)
        ),
        what="acme's completion alerts",
    )


def test_attack_4_a_pool_never_uses_another_tenants_alert_bot_or_webhook(world: World) -> None:
    evil, acme = world.evil, world.acme
    assert "spec.alerts.telegram.tokenVaultPath" in world.refused["alert-path-climb"]
    alerts = cond_is(world, evil, "mailboxpools", "grab", "AlertsReady", reason="PathsResolved")
    assert f"secret/pot/{evil}/pot/{acme}/alerts/telegram" in alerts["message"]
    assert f"secret/pot/{evil}/pot/{acme}/alerts/slack" in alerts["message"]
    # evil's campaigns failed preflight (nospf.test) and alerted: read from evil's folder, found nothing.
    for channel in ("telegram", "slack"):
        wait_for(
            lambda c=channel: f"Sending alert failed: route={c}:{evil}/grab" in world.operator.log_text(),
            what=f"evil's {channel} alert refused",
        )
    log = world.operator.log_text()
    assert f"no secret at secret/pot/{evil}/pot/{acme}/alerts/telegram" in log
    received = [m["text"] for m in world.chat.telegram_messages] + [
        m["text"] for m in world.chat.slack_messages
    ]
    assert not any(evil in text for text in received), received


def test_attack_5_a_pool_cannot_choose_the_image_that_gets_the_worker_secret(world: World) -> None:
    evil = world.evil
    workers = cond_is(world, evil, "mailboxpools", "image", "WorkersReady", reason="WorkerImageNotAllowed")
    assert workers["status"] == "False" and "evil.example/steal:latest" in workers["message"]
    assert condition(world.get(evil, "mailboxpools", "image"), "Ready")["reason"] == "WorkerImageNotAllowed"
    wait_for(lambda: "WorkerImageNotAllowed" in event_reasons(world, evil, "image"), what="image Event")
    deployment = world.apps.read_namespaced_deployment("pot-worker-image", evil)
    assert [c.image for c in deployment.spec.template.spec.containers] == [WORKER_IMAGE]


def test_attack_6_a_squatted_deployment_is_never_adopted_or_patched(world: World) -> None:
    evil = world.evil
    workers = cond_is(world, evil, "mailboxpools", "squat", "WorkersReady", reason="DeploymentNotOwned")
    assert workers["status"] == "False" and "left alone" in workers["message"]
    wait_for(lambda: "DeploymentNotOwned" in event_reasons(world, evil, "squat"), what="squat Event")
    time.sleep(2)  # a few more scans: still untouched
    squat = world.apps.read_namespaced_deployment("pot-worker-squat", evil)
    assert squat.metadata.owner_references is None
    assert squat.spec.replicas == 0  # the pool asked for one worker; the operator did not scale this
    container = squat.spec.template.spec.containers[0]
    assert container.image == "evil.example/steal:latest" and not container.env  # no Secret handed over


def test_attack_7_a_pool_selects_only_in_its_own_namespace(world: World) -> None:
    reach = wait_for(
        lambda: (lambda o: o if (o.get("status") or {}).get("mailboxes") else None)(
            world.get(world.evil, "mailboxpools", "reach")
        ),
        what="reach scanned",
    )
    assert reach["status"]["mailboxes"]["total"] == 0
    assert world.get(world.acme, "mailboxes", "alice")["status"]["pool"] == "outreach"


def test_the_attackers_server_receives_nothing_and_no_secret_crosses_namespaces(world: World) -> None:
    evil, acme = world.evil, world.acme
    # evil's worker has been running with a due job the whole time (blast sends past its preflight).
    wait_for(
        lambda: (world.get(evil, "campaigns", "blast").get("status") or {}).get("phase") == "Running",
        what="blast Running",
    )
    heartbeats = (
        "SELECT count(*) FROM worker_heartbeats h JOIN pools p ON p.id = h.pool_id "
        "WHERE p.namespace = $1 AND p.name = 'grab'"
    )
    wait_for(lambda: world.sql(heartbeats, evil)[0][0] >= 1, what="evil's worker alive")
    time.sleep(5)
    assert world.attacker.lines == []
    sent = world.sql(
        "SELECT count(*) FROM delivery_events e JOIN campaigns c ON c.id = e.campaign_id "
        "WHERE c.namespace = $1 AND e.outcome = 'sent'",
        evil,
    )[0][0]
    assert sent == 0
    # Nothing of acme's secrets anywhere: objects, Events, logs, Postgres.
    dumped = ""
    for namespace in (acme, evil):
        for plural in ("mailboxes", "mailboxpools", "campaigns"):
            dumped += json.dumps(
                world.custom.list_namespaced_custom_object("pot.dev", "v1alpha1", namespace, plural)
            )
        dumped += json.dumps([e.to_dict() for e in world.events(namespace)], default=str)
    dumped += world.operator.log_text() + world.workers.log_text()
    for (table,) in world.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
        dumped += json.dumps([dict(r) for r in world.sql(f'SELECT * FROM "{table}"')], default=str)  # noqa: S608
    assert f"ok-{world.uid}@{DOMAIN}" in dumped  # the dump did see real content
    for canary in (CANARY_PASSWORD, CANARY_TOKEN, CANARY_HOOK, CANARY_TOKEN.split(":")[1]):
        assert canary not in dumped
    # Every Vault reference of evil's mailboxes stays in evil's folder.
    refs = world.sql("SELECT credentials_ref FROM mailboxes WHERE namespace = $1", evil)
    assert refs and all(r["credentials_ref"].startswith(f"vault:pot/{evil}/") for r in refs)


def test_apiserver_answers_name_the_refused_field(world: World) -> None:
    # What a person sees for each refused create: the field, and why.
    for key, field in (
        ("vault-path-climb", "spec.credentials.vaultPath"),
        ("alert-path-climb", "spec.alerts.telegram.tokenVaultPath"),
        ("tenant-claim", "spec.tenant"),
        ("tenant-rename", "spec.tenant"),
    ):
        assert field in world.refused[key], (key, world.refused[key])
    with pytest.raises(client.ApiException):
        world.get(world.evil, "mailboxes", "steal-climb")

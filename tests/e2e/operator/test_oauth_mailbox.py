"""An OAuth2 Mailbox on the real control plane, Postgres, Redis, OpenBao, the operator, a real worker run by
the local runner, the SMTP sink and the local token endpoint (issue 13): `spec.credentials.oauth2`
{provider: custom, tokenUrl} becomes Ready on a secret without a password, the operator projects the
sign-in into the mailbox row, and the campaign's messages reach the sink over XOAUTH2 with tokens the
endpoint issued for the secret's refresh token; no secret value reaches a status, an Event or a log."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pot_stack.e2e import condition, sql, wait_for
from pot_stack.local_runner import LocalRunnerService
from pot_stack.oauth_server import OAuthServer
from pot_stack.smtp_sink import SmtpSink

GROUP, VERSION = "pot.dev", "v1alpha1"
USER = "oauth-e2e@acme-mail.test"
CLIENT_ID = "pot-e2e-client"
CLIENT_SECRET = "cs-CANARY-e2e-3f9a"
REFRESH_TOKEN = "rt-CANARY-e2e-b27c"
RECIPIENTS = [f"oauth-{i}@example.test" for i in range(6)]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def oauth_sink(tmp_path: Path, oauth_server: OAuthServer) -> Iterator[SmtpSink]:
    """A sink that takes only XOAUTH2 logins whose token the local endpoint says is active."""
    users = tmp_path / "sink-users"
    users.write_text("")  # no password is accepted
    sink = SmtpSink(tmp_path / "sink", auth_file=users, oauth_introspect_url=oauth_server.introspect_url)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def operator_env(namespace: str, fresh_redis: str, oauth_sink: SmtpSink) -> dict[str, str]:
    # The local token endpoint is http:// on loopback: only the admin's cleartext setting admits it.
    return {
        "POT_ALLOW_PLAINTEXT_AUTH": "true",
        "POT_NAMESPACE": namespace,
        "POT_REDIS_URL": fresh_redis,
        "POT_SMTP_CA_FILE": str(oauth_sink.cert_path),
        "POT_DNSBL_ZONES": "",
        "POT_REFRESH_SECONDS": "1",
    }


@pytest.fixture
def runner(  # type: ignore[no-untyped-def]
    operator, crds_installed, namespace, fresh_database, fresh_redis, vault, dns_server, oauth_sink, tmp_path
) -> Iterator[LocalRunnerService]:
    """Real `pot-worker` processes for the operator's worker Deployments."""
    env = {
        "KUBECONFIG": str(crds_installed.admin_kubeconfig),
        "POT_NAMESPACE": namespace,
        "POT_DATABASE_URL": fresh_database,
        "POT_REDIS_URL": fresh_redis,
        **vault.env(),
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_SMTP_CA_FILE": str(oauth_sink.cert_path),
        "POT_REFRESH_SECONDS": "1",
    }
    service = LocalRunnerService(tmp_path / "runner", env)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def manifests(namespace: str, sink: SmtpSink, token_url: str) -> list[tuple[str, dict[str, Any]]]:
    pool = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": "oauth"},
        "spec": {
            "selector": {"matchLabels": {"pot.dev/pool": "oauth"}},
            "limits": {
                "perInboxPerDay": 500,
                "perInboxPerHour": 500,
                "minSpacingSeconds": 0,
                "perRecipientDomainPerHour": 500,
            },
            "warmup": {"days": 14, "startVolume": 500, "maxVolume": 500},
            "workers": {"minReplicas": 1, "maxReplicas": 1},
        },
    }
    box = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": "oauth-box", "labels": {"pot.dev/pool": "oauth"}},
        "spec": {
            "address": USER,
            "smtp": {"host": sink.host, "port": sink.port, "tlsMode": "starttls"},
            "credentials": {
                "vaultPath": "mailboxes/oauth-box",
                "oauth2": {"provider": "custom", "tokenUrl": token_url},
            },
        },
    }
    campaign = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Campaign",
        "metadata": {"name": "hello"},
        "spec": {
            "poolRef": {"name": "oauth"},
            "recipients": {"configMapRef": {"name": "hello-recipients", "key": "recipients.csv"}},
            "template": {"subject": "Hello {{ first_name }}", "text": "Hi {{ first_name }}"},
        },
    }
    return [("mailboxpools", pool), ("mailboxes", box), ("campaigns", campaign)]


def test_an_oauth2_mailbox_becomes_ready_and_its_campaign_reaches_the_sink_over_xoauth2(  # type: ignore[no-untyped-def]
    operator, runner, kube_api, namespace, vault, fresh_database, oauth_server, oauth_sink
) -> None:
    oauth_server.register(USER, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    vault.client().secrets.kv.v2.create_or_update_secret(
        path=f"pot/{namespace}/mailboxes/oauth-box",
        secret={
            "username": USER,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        },
        mount_point="secret",
    )
    core, custom = client.CoreV1Api(kube_api), client.CustomObjectsApi(kube_api)
    csv = "email,first_name\n" + "".join(f"{r},{r.split('@')[0]}\n" for r in RECIPIENTS)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="hello-recipients"), data={"recipients.csv": csv}
        ),
    )
    for plural, body in manifests(namespace, oauth_sink, oauth_server.token_url):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)

    def get(plural: str, name: str) -> dict[str, Any]:
        return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)  # type: ignore[no-any-return]

    def logs() -> str:
        tails = [operator.log_text()[-3000:]]
        for path in sorted((runner.root).rglob("*.log")):
            tails.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(tails)

    # Ready on a secret with no password: the operator checked the OAuth2 keys, not the endpoint.
    ready = wait_for(
        lambda: (lambda m: m if condition(m, "Ready").get("status") == "True" else None)(
            get("mailboxes", "oauth-box")
        ),
        120,
        "the OAuth2 mailbox Ready",
        logs,
    )
    credentials = condition(ready, "CredentialsReady")
    assert credentials["reason"] == "Verified" and "refresh token" in credentials["message"]

    # The operator projected spec.credentials.oauth2 into the row the worker reads.
    row = sql(
        fresh_database,
        "SELECT auth_mechanism, oauth_provider, oauth_token_url FROM mailboxes WHERE namespace = $1",
        namespace,
    )[0]
    assert (row["auth_mechanism"], row["oauth_provider"], row["oauth_token_url"]) == (
        "oauth2",
        "custom",
        oauth_server.token_url,
    )

    wait_for(
        lambda: (get("campaigns", "hello").get("status") or {}).get("phase") == "Completed",
        180,
        "the campaign Completed",
        logs,
    )
    stored = oauth_sink.messages()
    assert sorted(m.rcpt_to for m in stored) == sorted(RECIPIENTS)
    # Over XOAUTH2 as the secret's user, with tokens from the endpoint named by tokenUrl.
    assert all(m.auth_user == USER and m.auth_mechanism == "XOAUTH2" and m.tls for m in stored)
    assert oauth_server.token_requests(REFRESH_TOKEN) >= 1
    outcomes = sql(fresh_database, "SELECT DISTINCT outcome FROM delivery_events")
    assert [r["outcome"] for r in outcomes] == ["sent"]

    # Canaries: no secret value or access token in the objects, Events or any log.
    worker_logs = list((runner.root / "logs" / "workers").glob("*.log"))
    assert worker_logs and all(p.stat().st_size for p in worker_logs)
    events = core.list_namespaced_event(namespace).items
    seen = " ".join(
        [
            str(get("mailboxes", "oauth-box")),
            str(get("mailboxpools", "oauth")),
            " ".join(str(e.message) for e in events),
            operator.log_text(),
            *(p.read_text(errors="replace") for p in runner.root.rglob("*.log")),
        ]
    )
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, "pot-at-"):
        assert secret not in seen, f"{secret} leaked"
    print(f"token_requests={oauth_server.token_requests(REFRESH_TOKEN)} sent={len(stored)}", file=sys.stderr)

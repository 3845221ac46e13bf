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

import asyncpg
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
REFRESH_TOKEN_2 = "rt-CANARY-e2e-second-41d8"
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


def manifests(sink: SmtpSink, token_url: str) -> list[tuple[str, dict[str, Any]]]:
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
    return [("mailboxpools", pool), ("mailboxes", box)]


class World:
    """This test's namespace as the test drives it: secrets, objects, and what POT did."""

    def __init__(self, kube_api: Any, namespace: str, vault: Any, operator: Any, runner: Any) -> None:
        self.core, self.custom = client.CoreV1Api(kube_api), client.CustomObjectsApi(kube_api)
        self.namespace, self.vault, self.operator, self.runner = namespace, vault, operator, runner

    def put_secret(self, refresh_token: str) -> int:
        written = self.vault.client().secrets.kv.v2.create_or_update_secret(
            path=f"pot/{self.namespace}/mailboxes/oauth-box",
            secret={
                "username": USER,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": refresh_token,
            },
            mount_point="secret",
        )
        return int(written["data"]["version"])

    def create(self, plural: str, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)  # type: ignore[no-any-return]

    def campaign(self, name: str, recipients: list[str]) -> None:
        csv = "email,first_name\n" + "".join(f"{r},{r.split('@')[0]}\n" for r in recipients)
        self.core.create_namespaced_config_map(
            self.namespace,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"{name}-list"), data={"recipients.csv": csv}
            ),
        )
        spec = {
            "poolRef": {"name": "oauth"},
            "recipients": {"configMapRef": {"name": f"{name}-list", "key": "recipients.csv"}},
            "template": {"subject": "Hello {{ first_name }}", "text": "Hi {{ first_name }}"},
        }
        self.create(
            "campaigns",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Campaign",
                "metadata": {"name": name},
                "spec": spec,
            },
        )

    def logs(self) -> str:
        tails = [self.operator.log_text()[-3000:]]
        for path in sorted(self.runner.root.rglob("*.log")):
            tails.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(tails)

    def credentials(self) -> dict[str, Any]:
        return condition(self.get("mailboxes", "oauth-box"), "CredentialsReady")

    def wait_completed(self, name: str) -> None:
        wait_for(
            lambda: (self.get("campaigns", name).get("status") or {}).get("phase") == "Completed",
            180,
            f"campaign {name} Completed",
            self.logs,
        )

    def assert_no_leak(self, *secrets: str) -> None:
        """Canaries: no secret value or access token in the objects, Events or any log."""
        worker_logs = list((self.runner.root / "logs" / "workers").glob("*.log"))
        assert worker_logs and all(p.stat().st_size for p in worker_logs)
        events = self.core.list_namespaced_event(self.namespace).items
        seen = " ".join(
            [
                str(self.get("mailboxes", "oauth-box")),
                str(self.get("mailboxpools", "oauth")),
                " ".join(str(e.message) for e in events),
                self.operator.log_text(),
                *(p.read_text(errors="replace") for p in self.runner.root.rglob("*.log")),
            ]
        )
        for secret in (CLIENT_SECRET, *secrets, "pot-at-"):
            assert secret not in seen, f"{secret} leaked"


@pytest.fixture
def world(  # type: ignore[no-untyped-def]
    operator, runner, kube_api, namespace, vault, oauth_server, oauth_sink
) -> World:
    w = World(kube_api, namespace, vault, operator, runner)
    for plural, body in manifests(oauth_sink, oauth_server.token_url):
        w.create(plural, body)
    return w


def test_an_oauth2_mailbox_becomes_ready_and_its_campaign_reaches_the_sink_over_xoauth2(
    world: World, fresh_database: str, oauth_server: OAuthServer, oauth_sink: SmtpSink
) -> None:
    oauth_server.register(USER, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    world.put_secret(REFRESH_TOKEN)
    world.campaign("hello", RECIPIENTS)

    # Ready on a secret with no password: the operator checked the OAuth2 keys, not the endpoint.
    ready = wait_for(
        lambda: (lambda m: m if condition(m, "Ready").get("status") == "True" else None)(
            world.get("mailboxes", "oauth-box")
        ),
        120,
        "the OAuth2 mailbox Ready",
        world.logs,
    )
    credentials = condition(ready, "CredentialsReady")
    assert credentials["reason"] == "Verified" and "refresh token" in credentials["message"]

    # The operator projected spec.credentials.oauth2 into the row the worker reads.
    row = sql(
        fresh_database,
        "SELECT auth_mechanism, oauth_provider, oauth_token_url FROM mailboxes WHERE namespace = $1",
        world.namespace,
    )[0]
    assert (row["auth_mechanism"], row["oauth_provider"], row["oauth_token_url"]) == (
        "oauth2",
        "custom",
        oauth_server.token_url,
    )

    world.wait_completed("hello")
    stored = oauth_sink.messages()
    assert sorted(m.rcpt_to for m in stored) == sorted(RECIPIENTS)
    # Over XOAUTH2 as the secret's user, with tokens from the endpoint named by tokenUrl.
    assert all(m.auth_user == USER and m.auth_mechanism == "XOAUTH2" and m.tls for m in stored)
    assert oauth_server.token_requests(REFRESH_TOKEN) >= 1
    outcomes = sql(fresh_database, "SELECT DISTINCT outcome FROM delivery_events")
    assert [r["outcome"] for r in outcomes] == ["sent"]
    world.assert_no_leak(REFRESH_TOKEN)
    print(f"token_requests={oauth_server.token_requests(REFRESH_TOKEN)} sent={len(stored)}", file=sys.stderr)


def test_a_refused_refresh_token_holds_the_mailbox_until_a_new_secret_version(
    world: World, fresh_database: str, oauth_server: OAuthServer, oauth_sink: SmtpSink
) -> None:
    """The token endpoint refusing the refresh token (invalid_grant) is a verdict on the credentials,
    as a refused password is: the mailbox is credentials_bad with that version, its jobs wait, and a
    new version of the secret in Vault (no spec edit) brings it back and the campaign completes."""
    unknown = "rt-CANARY-e2e-never-granted"
    bad_version = world.put_secret(unknown)  # a refresh token the endpoint never issued
    world.campaign("held", RECIPIENTS[:3])

    def row() -> tuple[str, int | None, str]:
        try:
            rows = sql(
                fresh_database,
                "SELECT state, credentials_bad_version, state_reason FROM mailboxes WHERE namespace = $1",
                world.namespace,
            )
        except asyncpg.UndefinedTableError:  # the operator has not applied the schema yet
            rows = []
        return (
            (rows[0]["state"], rows[0]["credentials_bad_version"], rows[0]["state_reason"])
            if rows
            else ("", None, "")
        )

    wait_for(lambda: row()[0] == "credentials_bad", 120, "credentials_bad", world.logs)
    _, version, reason = row()
    assert version == bad_version and "invalid_grant" in reason
    wait_for(
        lambda: world.credentials().get("reason") == "AuthenticationRejected", 60, "rejected", world.logs
    )
    assert not oauth_sink.messages()  # nothing went out

    oauth_server.register(USER, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN_2)
    good_version = world.put_secret(REFRESH_TOKEN_2)
    assert good_version > bad_version
    world.wait_completed("held")
    assert row()[:2] == ("active", None)
    assert sorted(m.rcpt_to for m in oauth_sink.messages()) == sorted(RECIPIENTS[:3])
    assert oauth_server.token_requests(REFRESH_TOKEN_2) >= 1
    world.assert_no_leak(unknown, REFRESH_TOKEN_2)

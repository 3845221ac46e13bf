"""Credentials on the real control plane, Postgres and OpenBao (issue 11): only the SMTP server's refusal
marks a mailbox's credentials bad, a new secret version in Vault clears that without editing the spec,
a deleted secret says SecretMissing and a restored one brings the mailbox back, and Vault going away
is a pool condition that stops nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from pot_stack.e2e import condition, sql, wait_for
from pot_stack.openbao import OpenBao

GROUP, VERSION = "pot.dev", "v1alpha1"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """This module's own OpenBao: these tests stop it, which the session's shared one must not see."""
    root = Path(tmp_path_factory.mktemp("bao"))
    bao = OpenBao(root)
    bao.start()
    yield bao
    bao.stop()


@pytest.fixture
def operator_env() -> dict[str, str]:
    # A verified secret is read again after 2 s (not 10 minutes), so deletions and outages show fast.
    return {"POT_ALLOW_PLAINTEXT_AUTH": "true", "POT_CREDENTIALS_RECHECK": "2"}


def put(vault: OpenBao, path: str, password: str) -> int:
    """Write a secret version; returns its KV version number."""
    written = vault.client().secrets.kv.v2.create_or_update_secret(
        path=path, secret={"username": "m@acme-mail.test", "password": password}, mount_point="secret"
    )
    return int(written["data"]["version"])


def objects(ns: str) -> list[tuple[str, dict[str, Any]]]:
    pool = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MailboxPool",
        "metadata": {"name": "p"},
        "spec": {"selector": {"matchLabels": {"pot.dev/pool": "p"}}},
    }
    mailbox = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {"name": "m", "labels": {"pot.dev/pool": "p"}},
        "spec": {
            "address": "m@acme-mail.test",
            "smtp": {"host": "127.0.0.1", "port": 2525, "tlsMode": "none"},
            "credentials": {"vaultPath": "mailboxes/m"},
            "warmupStart": "2026-01-05",
        },
    }
    return [("mailboxpools", pool), ("mailboxes", mailbox)]


def test_a_refused_secret_comes_back_with_a_new_version_and_a_missing_one_says_so(  # type: ignore[no-untyped-def]
    operator, kube_api, namespace, vault, fresh_database
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    ns, path = namespace, f"pot/{namespace}/mailboxes/m"
    version = put(vault, path, "first")
    for plural, body in objects(ns):
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)

    def creds() -> dict[str, Any]:
        return condition(
            custom.get_namespaced_custom_object(GROUP, VERSION, ns, "mailboxes", "m"), "CredentialsReady"
        )

    def row() -> tuple[str, int | None]:
        rows = sql(
            fresh_database, "SELECT state, credentials_bad_version FROM mailboxes WHERE namespace = $1", ns
        )
        return (rows[0]["state"], rows[0]["credentials_bad_version"]) if rows else ("", None)

    wait_for(lambda: creds().get("reason") == "Verified" and row()[0] == "active", what="verified")
    # The worker's AUTH was refused with this version (what pot-worker writes then).
    sql(
        fresh_database,
        "UPDATE mailboxes SET state = 'credentials_bad', state_reason = '535 5.7.8 refused', "
        "credentials_bad_version = $2 WHERE namespace = $1",
        ns,
        version,
    )
    wait_for(lambda: creds().get("reason") == "AuthenticationRejected", what="AuthenticationRejected")
    assert row() == ("credentials_bad", version)  # the same secret stays refused, however often it is read
    # A person rotates the password in Vault only: the mailbox sends again, no spec edit needed.
    put(vault, path, "second")
    wait_for(lambda: creds().get("reason") == "Verified" and row() == ("active", None), what="cleared")

    # Deleting the secret is a missing secret, not a refused password; restoring it is enough.
    vault.client().secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")
    missing = wait_for(
        lambda: (lambda c: c if c.get("reason") == "SecretMissing" else None)(creds()), what="missing"
    )
    assert f"secret/{path}" in missing["message"]
    assert row()[0] == "paused"
    put(vault, path, "third")
    wait_for(lambda: creds().get("reason") == "Verified" and row()[0] == "active", what="restored")


def test_vault_away_is_a_pool_condition_and_stops_no_mailbox(  # type: ignore[no-untyped-def]
    operator, kube_api, namespace, vault, fresh_database
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    ns, path = namespace, f"pot/{namespace}/mailboxes/m"
    put(vault, path, "pw")
    for plural, body in objects(ns):
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, body)

    def get(plural: str, name: str) -> dict[str, Any]:
        return custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)  # type: ignore[no-any-return]

    def state() -> str:
        rows = sql(fresh_database, "SELECT state FROM mailboxes WHERE namespace = $1", ns)
        return str(rows[0]["state"]) if rows else ""

    wait_for(lambda: condition(get("mailboxes", "m"), "Ready").get("status") == "True", what="Ready")
    vault.stop()
    try:
        down = wait_for(
            lambda: (lambda c: c if c.get("status") == "False" else None)(
                condition(get("mailboxpools", "p"), "VaultAvailable")
            ),
            what="VaultAvailable False",
            show=operator.log_text,
        )
        assert down["reason"] == "VaultUnavailable"
        # The mailbox keeps its verdict and keeps sending.
        assert condition(get("mailboxes", "m"), "CredentialsReady")["reason"] == "Verified"
        assert state() == "active"
    finally:
        vault.start()  # same port and token; dev mode starts empty
    put(vault, path, "pw")
    wait_for(
        lambda: condition(get("mailboxpools", "p"), "VaultAvailable").get("reason") == "VaultAnswered",
        timeout=90,
        what="VaultAvailable True",
        show=operator.log_text,
    )
    assert state() == "active"
    assert "Read Vault failed, retrying later" in operator.log_text()

"""Workers log in to Vault as their own ServiceAccount, the apiserver's TokenReview decides, and each
reads only its own namespace's folder: two tenants send their campaigns with their own credentials,
no worker holds a Vault token, and a worker of one namespace is refused (403) the other's secret."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pot_common.vault import VaultConfig, VaultForbidden, VaultKV
from pot_stack.e2e import wait_for

from .conftest import Box, World, campaign, environ, mailbox, new_namespace, pool, wait_completed


def test_each_tenants_worker_logs_in_as_its_service_account_and_reads_only_its_folder(
    start_world: Any, kube: Any, tmp_path: Path
) -> None:
    a, b = new_namespace(kube, "tenant-a"), new_namespace(kube, "tenant-b")
    alice = Box("alice", "alice-a", "pw-alice-a")
    bob = Box("bob", "bob-b", "pw-bob-b")
    world: World = start_world({a: [alice], b: [bob]})
    recipients = {a: [f"a{i}@example.test" for i in range(5)], b: [f"b{i}@example.test" for i in range(5)]}
    for namespace, box in ((a, alice), (b, bob)):
        hello = campaign(namespace, "outreach", "hello", recipients[namespace])
        world.apply(
            [pool(namespace, "outreach", spacing=2), mailbox(namespace, "outreach", box, world.sink), *hello]
        )

    # The workers' environment, as the kernel holds it while they run (the two-second spacing keeps
    # them sending for a while): a role and a token file, no Vault token, no admin kubeconfig, the
    # database as the least-privileged role. The runner's record says the same by name.
    # Only these two namespaces' workers: a pool of an earlier test in the same world may still keep
    # its worker for the scale-down stabilization window.
    workers = wait_for(
        lambda: (
            (w := [x for x in world.workers() if x["namespace"] in (a, b)])
            and {x["namespace"] for x in w} == {a, b}
            and w
        ),
        60,
        "a worker in each namespace",
        world.logs,
    )
    for w in workers:
        env = environ(w["pid"])
        assert "POT_VAULT_TOKEN" not in env and "KUBECONFIG" not in env
        assert world.bao.token not in "".join(env.values())
        assert env["POT_VAULT_ROLE"] == "pot-worker" and w["service_account"] == "pot-worker"
        assert env["POT_DATABASE_URL"].startswith("postgresql://pot_worker@")
        token = Path(env["POT_VAULT_JWT_PATH"])
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        assert "POT_VAULT_TOKEN" not in w["env"] and "POT_VAULT_JWT_PATH" in w["env"]
        if w["namespace"] == b:
            kept = tmp_path / "b.jwt"  # the runner deletes it when the worker stops
            kept.write_text(token.read_text())
    for namespace in (a, b):
        wait_completed(world, namespace, "hello")

    # Each tenant's mail went out once per recipient, authenticated as its own mailbox.
    stored = world.sink.messages()
    assert Counter(m.rcpt_to for m in stored) == Counter(recipients[a] + recipients[b])
    by_user = {m.rcpt_to: m.auth_user for m in stored}
    assert {by_user[r] for r in recipients[a]} == {"alice-a"}
    assert {by_user[r] for r in recipients[b]} == {"bob-b"}
    assert all(m.tls for m in stored)

    # Namespace B's worker, with its own ServiceAccount token, may read B's folder and not A's.
    as_b = VaultKV(VaultConfig(addr=world.bao.addr, role="pot-worker", jwt_path=tmp_path / "b.jwt"))
    assert as_b.read(f"pot/{b}/mailboxes/bob")["username"] == "bob-b"
    with pytest.raises(VaultForbidden, match="does not allow"):
        as_b.read(f"pot/{a}/mailboxes/alice")

    # Vault's audit log: every read by a worker's login stayed inside its ServiceAccount's namespace,
    # but for the refused probe above.
    reads = [r for r in worker_reads(world.bao.audit_log) if r[0] in (a, b)]
    assert {(ns, path.split("/")[3]) for ns, path, refused in reads if not refused} == {(a, a), (b, b)}
    refused = [(ns, path) for ns, path, error in reads if error]
    assert refused == [(b, f"secret/data/pot/{a}/mailboxes/alice")]
    assert not world.sql("SELECT 1 FROM mailboxes WHERE state = 'credentials_bad'")


def worker_reads(audit_log: Path) -> list[tuple[str, str, bool]]:
    """(ServiceAccount namespace, path, refused) of every KV read made with a kubernetes-auth token."""
    out = []
    for line in audit_log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") != "response":
            continue
        request, auth = entry.get("request") or {}, entry.get("auth") or {}
        namespace = (auth.get("metadata") or {}).get("service_account_namespace")
        if namespace and str(request.get("path", "")).startswith("secret/data/"):
            out.append((namespace, request["path"], bool(entry.get("error"))))
    return out

"""potctl mailboxes import, rotate and retire against a real apiserver, OpenBao, Postgres and operator.

The fleet test is the issue's acceptance: 1,200 rows become 1,200 Mailboxes and secrets that turn
Ready, and a second import changes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from kubernetes import client
from pot_stack.e2e import condition, sql, wait_for
from potctl.main import app
from typer.testing import CliRunner, Result

CANARY = "canary-pw-7f3a"  # every password in these files carries it; no output may
HEADER = "address,display_name,smtp_host,smtp_port,smtp_tls,password,pool\n"


def fleet_csv(path: Path, count: int, domain: str = "acme-mail.test", pool: str = "fleet") -> Path:
    rows = (f"m{i:05d}@{domain},Sender {i},127.0.0.1,2525,none,{CANARY}-{i},{pool}\n" for i in range(count))
    path.write_text(HEADER + "".join(rows))
    return path


def potctl(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert "Traceback" not in result.output, result.output
    assert CANARY not in result.stdout + result.stderr, "a password from the file was echoed"
    return result


@pytest.fixture
def env(crds_installed: Any, vault: Any) -> dict[str, str]:
    return {
        "KUBECONFIG": str(crds_installed.admin_kubeconfig),
        **vault.env(),
        "POT_DNS_RESOLVER": "127.0.0.1:53",  # only read as "the local stack": .test addresses allowed
    }


def mailboxes(kube_api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    api = client.CustomObjectsApi(kube_api)
    return list(api.list_namespaced_custom_object("pot.dev", "v1alpha1", namespace, "mailboxes")["items"])


def test_dry_run_bad_records_output_dir_and_idempotence(
    env: dict[str, str], namespace: str, kube_api: client.ApiClient, vault: Any, tmp_path: Path
) -> None:
    source = fleet_csv(tmp_path / "fleet.csv", 3)
    with source.open("a") as f:
        f.write(f"not-an-address,x,127.0.0.1,2525,none,{CANARY}-bad,fleet\n")
        f.write(f"m00000@acme-mail.test,again,127.0.0.1,2525,none,{CANARY}-dup,fleet\n")
    dry = potctl(env, "mailboxes", "import", str(source), "-n", namespace)
    assert dry.exit_code == 1, dry.output
    assert "record 4 (line 5): address 'not-an-address'" in dry.stderr
    assert "record 5 (line 6)" in dry.stderr and "already came in record 1" in dry.stderr
    assert "3 would be created" in dry.stdout and "dry run: nothing changed" in dry.stdout
    assert mailboxes(kube_api, namespace) == []

    applied = potctl(env, "mailboxes", "import", str(source), "-n", namespace, "--apply")
    assert "mailboxes: 3 created, 0 updated, 0 unchanged; secrets: 3 created" in applied.stdout
    assert len(mailboxes(kube_api, namespace)) == 3
    kv = vault.client().secrets.kv.v2
    stored = kv.read_secret_version(
        path=f"pot/{namespace}/mailboxes/m00001-acme-mail-test",
        mount_point="secret",
        raise_on_deleted_version=True,
    )
    assert stored["data"]["data"] == {"username": "m00001@acme-mail.test", "password": f"{CANARY}-1"}

    again = potctl(env, "mailboxes", "import", str(source), "-n", namespace, "--apply")
    assert "0 created, 0 updated, 3 unchanged; secrets: 0 created, 0 updated, 3 unchanged" in again.stdout
    assert "record 1:" not in again.stdout  # no change line for an unchanged row

    folder = tmp_path / "gitops"
    gitops = potctl(
        env, "mailboxes", "import", str(source), "-n", namespace, "--apply", "--output-dir", str(folder)
    )
    assert "3 created" in gitops.stdout and "secrets: 0 created, 0 updated, 3 unchanged" in gitops.stdout
    assert sorted(p.name for p in folder.iterdir())[0] == "m00000-acme-mail-test.yaml"
    assert CANARY not in "".join(p.read_text() for p in folder.iterdir())

    header = tmp_path / "imap.csv"
    header.write_text("address,smtp_host,password,imap_host\n")
    refused = potctl(env, "mailboxes", "import", str(header), "-n", namespace)
    assert refused.exit_code == 2 and "IMAP and OAuth2" in refused.stderr


def test_rotate_writes_a_new_version_from_stdin_or_env(
    env: dict[str, str], namespace: str, vault: Any, tmp_path: Path
) -> None:
    potctl(env, "mailboxes", "import", str(fleet_csv(tmp_path / "one.csv", 1)), "-n", namespace, "--apply")
    name, path = "m00000-acme-mail-test", f"pot/{namespace}/mailboxes/m00000-acme-mail-test"
    kv = vault.client().secrets.kv.v2
    result = CliRunner().invoke(
        app, ["mailboxes", "rotate", name, "-n", namespace], input=f"{CANARY}-new\n", env=env
    )
    assert result.exit_code == 0, result.output
    assert "wrote version 2" in result.stdout and CANARY not in result.output
    assert (
        kv.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)["data"][
            "data"
        ]["password"]
        == f"{CANARY}-new"
    )
    by_env = potctl(
        {**env, "NEW_PW": f"{CANARY}-env"},
        "mailboxes",
        "rotate",
        name,
        "-n",
        namespace,
        "--password-env",
        "NEW_PW",
    )
    assert "wrote version 3" in by_env.stdout
    missing = potctl(env, "mailboxes", "rotate", "nobody", "-n", namespace, "--password-env", "NEW_PW")
    assert missing.exit_code == 2  # the variable is unset: refused before any call


def rows_of(database: str, namespace: str) -> int:
    """The operator's rows for the namespace's mailboxes (0 until it has created the schema)."""
    try:
        return len(sql(database, "SELECT 1 FROM mailboxes WHERE namespace = $1", namespace))
    except asyncpg.UndefinedTableError:
        return 0


POOL = {
    "apiVersion": "pot.dev/v1alpha1",
    "kind": "MailboxPool",
    "metadata": {"name": "fleet"},
    "spec": {"selector": {"matchLabels": {"pot.dev/pool": "fleet"}}},
}


def test_a_fleet_of_1200_becomes_ready_and_a_second_import_changes_nothing(
    env: dict[str, str], namespace: str, kube_api: client.ApiClient, operator: Any, tmp_path: Path
) -> None:
    client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        "pot.dev", "v1alpha1", namespace, "mailboxpools", POOL
    )
    source = fleet_csv(tmp_path / "fleet.csv", 1200)
    started = time.monotonic()
    first = potctl(env, "mailboxes", "import", str(source), "-n", namespace, "--apply")
    assert first.exit_code == 0, first.stderr
    assert "mailboxes: 1200 created, 0 updated, 0 unchanged; secrets: 1200 created" in first.stdout
    print(f"import_seconds={time.monotonic() - started:.1f}")

    def ready() -> int:
        return sum(condition(m, "Ready").get("status") == "True" for m in mailboxes(kube_api, namespace))

    wait_for(lambda: ready() == 1200, timeout=240, what="1200 Ready Mailboxes", show=lambda: ready())
    second = potctl(env, "mailboxes", "import", str(source), "-n", namespace, "--apply")
    assert (
        "mailboxes: 0 created, 0 updated, 1200 unchanged; secrets: 0 created, 0 updated, 1200 unchanged"
        in (second.stdout)
    )


def test_retire_a_domain_drains_then_deletes_objects_and_secrets_but_keeps_rows(
    env: dict[str, str],
    namespace: str,
    kube_api: client.ApiClient,
    operator: Any,
    fresh_database: str,
    vault: Any,
    tmp_path: Path,
) -> None:
    client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        "pot.dev", "v1alpha1", namespace, "mailboxpools", POOL
    )
    source = fleet_csv(tmp_path / "keep.csv", 2)
    burnt = fleet_csv(tmp_path / "burnt.csv", 2, domain="burnt-mail.test")
    for path in (source, burnt):
        potctl(env, "mailboxes", "import", str(path), "-n", namespace, "--apply")
    wait_for(lambda: rows_of(fresh_database, namespace) == 4, what="the operator's mailbox rows")
    db_env = {**env, "POT_DATABASE_URL": fresh_database}
    kept = potctl(
        db_env, "mailboxes", "retire", "--domain", "burnt-mail.test", "-n", namespace, "--settle", "1"
    )
    assert kept.exit_code == 0, kept.output
    assert "paused 2 mailbox(es)" in kept.stdout and "kept the Mailboxes" in kept.stdout
    paused = {m["metadata"]["name"]: m["spec"].get("paused", False) for m in mailboxes(kube_api, namespace)}
    assert paused == {
        "m00000-acme-mail-test": False,
        "m00001-acme-mail-test": False,
        "m00000-burnt-mail-test": True,
        "m00001-burnt-mail-test": True,
    }
    gone = potctl(
        db_env,
        "mailboxes",
        "retire",
        "--domain",
        "burnt-mail.test",
        "-n",
        namespace,
        "--settle",
        "1",
        "--delete",
    )
    assert gone.exit_code == 0, gone.output
    assert (
        f"deleted Mailbox {namespace}/m00000-burnt-mail-test and secret secret/pot/{namespace}/mailboxes/"
        in gone.stdout
    )
    assert sorted(m["metadata"]["name"] for m in mailboxes(kube_api, namespace)) == [
        "m00000-acme-mail-test",
        "m00001-acme-mail-test",
    ]
    keys = vault.client().secrets.kv.v2.list_secrets(path=f"pot/{namespace}/mailboxes", mount_point="secret")
    assert sorted(keys["data"]["keys"]) == ["m00000-acme-mail-test", "m00001-acme-mail-test"]
    rows = sql(
        fresh_database, "SELECT name, state FROM mailboxes WHERE namespace = $1 ORDER BY name", namespace
    )
    assert [(r["name"], r["state"]) for r in rows if "burnt" in r["name"]] == [
        ("m00000-burnt-mail-test", "paused"),
        ("m00001-burnt-mail-test", "paused"),
    ]  # history stays

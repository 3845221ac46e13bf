"""potctl.mailbox_import: columns, rows, manifests and what an import would change, without a cluster."""

from __future__ import annotations

import io
import os
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from potctl import mailbox_import as mi
from potctl.main import run

HEADER = ["Address", "Display Name", "smtp-host", "smtp_port", "smtp_tls", "password", "pool", "warmup_start"]
GOOD = [
    "alice@acme-mail.test",
    "Alice",
    "smtp.acme-mail.test",
    "465",
    "implicit",
    "s3cret-canary",
    "outreach",
    "",
]


def row(cells: list[str] = GOOD, header: list[str] = HEADER) -> mi.Row:
    parsed = mi.parse_row(mi.columns(header), cells, 1, 2, allow_test=True)
    assert isinstance(parsed, mi.Row), parsed
    return parsed


def test_columns_are_matched_loosely_and_aliases_resolve() -> None:
    assert mi.columns(["EMAIL", "SMTP Host", "Password", "tls"]) == [
        "address",
        "smtp_host",
        "password",
        "smtp_tls",
    ]


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (["address", "smtp_host", "password", "imap_host"], "IMAP and OAuth2"),
        (["address", "smtp_host", "password", "oauth_refresh_token"], "IMAP and OAuth2"),
        (["address", "smtp_host", "password", "pasword"], "unknown column 'pasword'"),
        (["address", "smtp_host"], "no password column"),
        (["address", "email", "smtp_host", "password"], "appears twice"),
    ],
)
def test_a_header_that_cannot_be_imported_names_the_column(header: list[str], says: str) -> None:
    with pytest.raises(mi.BadHeader, match=says):
        mi.columns(header)


def test_a_row_becomes_a_mailbox_and_a_secret() -> None:
    r = row()
    assert r.name == "alice-acme-mail-test"
    assert r.labels == {mi.POOL_LABEL: "outreach"}
    assert r.vault_path == "mailboxes/alice-acme-mail-test"
    assert r.spec == {
        "address": "alice@acme-mail.test",
        "smtp": {"host": "smtp.acme-mail.test", "port": 465, "tlsMode": "implicit"},
        "credentials": {"vaultPath": "mailboxes/alice-acme-mail-test"},
        "displayName": "Alice",
    }
    assert r.secret == {"username": "alice@acme-mail.test", "password": "s3cret-canary"}
    assert "s3cret-canary" not in repr(r)
    document = mi.manifest_yaml(r, "acme")
    assert "s3cret-canary" not in document
    assert yaml.safe_load(document)["metadata"] == {
        "name": "alice-acme-mail-test",
        "namespace": "acme",
        "labels": {mi.POOL_LABEL: "outreach", "app.kubernetes.io/managed-by": "potctl"},
    }


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({0: "not-an-address"}, "address 'not-an-address'"),
        ({2: "bad host!"}, "smtp_host"),
        ({3: "70000"}, "smtp_port"),
        ({4: "ssl"}, "smtp_tls"),
        ({5: ""}, "password is empty"),
        ({6: "bad pool!"}, "pool"),
        ({7: "2026-13-40"}, "warmup_start"),
    ],
)
def test_a_bad_cell_makes_a_bad_record_that_never_quotes_the_password(
    change: dict[int, str], says: str
) -> None:
    cells = [change.get(i, c) for i, c in enumerate(GOOD)]
    bad = mi.parse_row(mi.columns(HEADER), cells, 7, 8, allow_test=True)
    assert isinstance(bad, mi.BadRecord)
    assert (bad.record, bad.line) == (7, 8)
    assert says in bad.why
    assert "s3cret-canary" not in bad.why


def test_a_row_with_the_wrong_number_of_cells_is_bad() -> None:
    bad = mi.parse_row(mi.columns(HEADER), GOOD[:3], 1, 2, allow_test=True)
    assert isinstance(bad, mi.BadRecord) and "3 cells" in bad.why


def test_test_domains_only_when_allowed() -> None:
    assert isinstance(mi.parse_row(mi.columns(HEADER), GOOD, 1, 2, allow_test=False), mi.BadRecord)


def test_only_the_fields_a_row_gives_are_compared() -> None:
    r = row()
    assert mi.mailbox_action(r, None) == (mi.Action.CREATE, "")
    live = {
        "metadata": {"labels": {mi.POOL_LABEL: "outreach", "other": "x"}},
        # What the apiserver holds after the create: defaults and a person's pause added.
        "spec": {**r.spec, "paused": True, "pauseReason": "ops", "warmupStart": "2026-01-01"},
    }
    assert mi.mailbox_action(r, live) == (mi.Action.UNCHANGED, "")
    moved = {**live, "metadata": {"labels": {mi.POOL_LABEL: "other-pool"}}}
    assert mi.mailbox_action(r, moved) == (mi.Action.UPDATE, "")
    assert mi.merge_patch(r) == {"spec": r.spec, "metadata": {"labels": {mi.POOL_LABEL: "outreach"}}}
    renamed = {**live, "spec": {**live["spec"], "address": "bob@acme-mail.test"}}
    action, why = mi.mailbox_action(r, renamed)
    assert action is mi.Action.UNCHANGED and "immutable" in why


def test_secret_actions() -> None:
    r = row()
    assert mi.secret_action(r, None) is mi.Action.CREATE
    assert mi.secret_action(r, dict(r.secret)) is mi.Action.UNCHANGED
    assert mi.secret_action(r, {**r.secret, "extra": "kept"}) is mi.Action.UNCHANGED
    assert mi.secret_action(r, {**r.secret, "password": "old"}) is mi.Action.UPDATE


def test_default_names() -> None:
    assert mi.default_name("Alice.B+x@Acme-Mail.test") == "alice-b-x-acme-mail-test"


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.text(max_size=40), min_size=len(HEADER), max_size=len(HEADER)))
def test_any_cells_give_a_row_or_a_bad_record_never_an_exception(cells: list[str]) -> None:
    cells[5] = "CANARY-" + cells[5]
    parsed = mi.parse_row(mi.columns(HEADER), cells, 1, 2, allow_test=True)
    assert isinstance(parsed, mi.Row | mi.BadRecord)
    if isinstance(parsed, mi.BadRecord) and not any("CANARY-" in c for i, c in enumerate(cells) if i != 5):
        assert "CANARY-" not in parsed.why


@settings(max_examples=40, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_any_file_ends_in_one_line_without_a_traceback(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "f.csv"
        source.write_bytes(data)
        stderr = io.StringIO()
        env = {k: v for k, v in os.environ.items() if not k.startswith("POT_VAULT")}
        with (
            mock.patch.dict(os.environ, env, clear=True),
            redirect_stderr(stderr),
            redirect_stdout(io.StringIO()),
        ):
            code = run(["mailboxes", "import", str(source), "-n", "acme"])
    assert code in (1, 2), code  # nothing is reached: a bad header, or no Vault configured
    assert "Traceback" not in stderr.getvalue() and "a bug in potctl" not in stderr.getvalue()

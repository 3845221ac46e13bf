"""The pure part of `potctl mailboxes import`: CSV columns and rows to Mailbox manifests and secrets, and
what a run would change; called by potctl.mailbox_commands, unit-tested without a cluster or Vault.

A row becomes one Mailbox (its spec checked by the same pydantic model the CRD is generated from) and
one Vault secret (`username`, `password`) at `<prefix>/<namespace>/<vaultPath>`. Only the fields a row
gives are compared and written, so an import never unpauses a mailbox or moves its warmup start.
Secret values live in `Row.secret` only: nothing here puts them in a message, a manifest or a repr.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pot_common.addresses import check_syntax
from pot_common.annotations import POOL_LABEL
from pot_common.api.base import GROUP, VERSION
from pot_common.api.mailbox import MailboxSpec
from pydantic import ValidationError

MANAGED_BY = ("app.kubernetes.io/managed-by", "potctl")
DEFAULT_VAULT_FOLDER = "mailboxes"

# Column -> what it holds. Names are matched case-insensitively, with `-` and spaces read as `_`.
COLUMNS: dict[str, str] = {
    "address": "the sending address (required); `email` is accepted as its name too",
    "name": "the Mailbox's name; default: the address with `@` and `.` as `-`, lower case",
    "display_name": "the From header's display name",
    "smtp_host": "the submission server (required)",
    "smtp_port": "its port; default 587",
    "smtp_tls": "starttls (default), implicit or none",
    "username": "the SMTP username; default: the address",
    "password": "the SMTP password (required; written to Vault only, never printed)",
    "pool": f"the pool: the Mailbox gets the label {POOL_LABEL}=<pool>",
    "warmup_start": "first day of warmup, YYYY-MM-DD; default: the day the Mailbox is created",
    "vault_path": f"the secret's path in the namespace's folder; default {DEFAULT_VAULT_FOLDER}/<name>",
}
ALIASES = {"email": "address", "smtp_tls_mode": "smtp_tls", "tls": "smtp_tls", "warmup": "warmup_start"}
REQUIRED = ("address", "smtp_host", "password")
# Columns a fleet export carries for what the Mailbox API does not hold yet (IMAP, OAuth2): refused
# by name, so nobody believes a refresh token was stored when it was dropped.
NOT_YET = re.compile(r"^(imap_.*|oauth.*|refresh_token|client_id|client_secret)$")
_NAME_CHARS = re.compile(r"[^a-z0-9-]+")


class BadHeader(ValueError):
    """The header cannot be imported at all (nothing is changed); the message says which column."""


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclasses.dataclass(frozen=True)
class Row:
    """One good CSV record: the Mailbox to have and the secret to hold."""

    record: int  # 1 = the first row after the header
    line: int
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]  # wire (camelCase) fields this row sets
    vault_path: str  # relative to the namespace's folder
    secret: dict[str, str] = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class BadRecord:
    record: int
    line: int
    why: str  # never holds a cell's secret


def columns(header: Sequence[str]) -> list[str]:
    """The canonical name of each header cell; BadHeader for an unknown, repeated or future column."""
    names: list[str] = []
    for cell in header:
        key = re.sub(r"[\s-]+", "_", cell.strip().lower())
        key = ALIASES.get(key, key)
        if NOT_YET.match(key):
            raise BadHeader(
                f"column {cell[:60]!r}: IMAP and OAuth2 settings are not in the Mailbox API yet; "
                "remove the column (SMTP with a password is what can be imported)"
            )
        if key not in COLUMNS:
            raise BadHeader(f"unknown column {cell[:60]!r}; the columns are: {', '.join(COLUMNS)}")
        if key in names:
            raise BadHeader(f"column {key!r} appears twice")
        names.append(key)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise BadHeader(f"no {', '.join(missing)} column (required: {', '.join(REQUIRED)})")
    return names


def default_name(address: str) -> str:
    """A Mailbox name from an address: `Alice.B@acme-mail.test` -> `alice-b-acme-mail-test`."""
    return _NAME_CHARS.sub("-", address.lower()).strip("-")[:253].strip("-")


def parse_row(
    names: Sequence[str], cells: Sequence[str], record: int, line: int, *, allow_test: bool
) -> Row | BadRecord:
    """One record to a Row, or why it cannot be imported (the reason never quotes the password)."""

    def bad(why: str) -> BadRecord:
        return BadRecord(record, line, why)

    if len(cells) != len(names):
        return bad(f"{len(cells)} cells where the header has {len(names)}")
    cell = {n: c.strip() for n, c in zip(names, cells, strict=True)}
    password = cells[names.index("password")]
    syntax = check_syntax(cell["address"], allow_test_domains=allow_test)
    if not syntax.ok:
        return bad(f"address {cell['address'][:80]!r}: {syntax.reason}")
    if not password:
        return bad("password is empty")
    name = cell.get("name") or default_name(cell["address"])
    spec: dict[str, Any] = {
        "address": cell["address"],
        "smtp": {"host": cell["smtp_host"], "port": cell.get("smtp_port") or 587},
        "credentials": {"vaultPath": cell.get("vault_path") or f"{DEFAULT_VAULT_FOLDER}/{name}"},
    }
    if cell.get("smtp_tls"):
        spec["smtp"]["tlsMode"] = cell["smtp_tls"].lower()
    if cell.get("display_name"):
        spec["displayName"] = cell["display_name"]
    if cell.get("warmup_start"):
        spec["warmupStart"] = cell["warmup_start"]
    try:
        checked = MailboxSpec.model_validate(spec)
    except ValidationError as exc:
        return bad(_first_error(exc))
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) or len(name) > 253:
        return bad(f"name {name[:80]!r}: not a Kubernetes object name (lower case, digits, '-', '.')")
    spec["smtp"]["port"] = checked.smtp.port
    if "warmupStart" in spec:
        assert checked.warmup_start is not None
        spec["warmupStart"] = checked.warmup_start.isoformat()
    labels = {POOL_LABEL: cell["pool"]} if cell.get("pool") else {}
    if labels and not re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", cell["pool"]):
        return bad(f"pool {cell['pool'][:80]!r}: not a label value (63 letters, digits, '-', '_', '.')")
    secret = {"username": cell.get("username") or cell["address"], "password": password}
    vault_path = spec["credentials"]["vaultPath"]
    return Row(record, line, name, labels, spec, vault_path, secret)


def _first_error(exc: ValidationError) -> str:
    """The first field error in the CSV's words; pydantic's own text may echo the input, so it is not used
    for anything that could be a secret (no secret goes through the spec model)."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    column = {
        "smtp.host": "smtp_host",
        "smtp.port": "smtp_port",
        "smtp.tlsMode": "smtp_tls",
        "displayName": "display_name",
        "warmupStart": "warmup_start",
        "credentials.vaultPath": "vault_path",
        "credentials": "vault_path",
    }.get(where, where)
    return f"{column}: {first['msg']}"


def manifest(row: Row, namespace: str) -> dict[str, Any]:
    """The Mailbox object for `kubectl apply` or a GitOps repository."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Mailbox",
        "metadata": {
            "name": row.name,
            "namespace": namespace,
            "labels": {**row.labels, MANAGED_BY[0]: MANAGED_BY[1]},
        },
        "spec": row.spec,
    }


def manifest_yaml(row: Row, namespace: str) -> str:
    return yaml.safe_dump(manifest(row, namespace), sort_keys=False, default_flow_style=False)


def _covers(have: Any, want: Any) -> bool:
    """Whether `have` already holds every field of `want` (dicts compared key by key)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(_covers(have.get(k), v) for k, v in want.items())
    return bool(have == want)


def mailbox_action(row: Row, existing: Mapping[str, Any] | None) -> tuple[Action, str]:
    """What the import does to the Mailbox object, and why not when it cannot (address is immutable)."""
    if existing is None:
        return Action.CREATE, ""
    spec = existing.get("spec") or {}
    if spec.get("address") != row.spec["address"]:
        return Action.UNCHANGED, (
            f"Mailbox {row.name} exists with another address; an address is immutable "
            "(retire the old Mailbox or pick another name)"
        )
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if _covers(spec, row.spec) and _covers(labels, row.labels):
        return Action.UNCHANGED, ""
    return Action.UPDATE, ""


def merge_patch(row: Row) -> dict[str, Any]:
    """The fields the row sets, as a JSON merge patch (what it does not set stays as it is)."""
    patch: dict[str, Any] = {"spec": row.spec}
    if row.labels:
        patch["metadata"] = {"labels": row.labels}
    return patch


def secret_action(row: Row, existing: Mapping[str, Any] | None) -> Action:
    if existing is None:
        return Action.CREATE
    same = all(existing.get(k) == v for k, v in row.secret.items())
    return Action.UNCHANGED if same else Action.UPDATE

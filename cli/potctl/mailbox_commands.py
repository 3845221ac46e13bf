"""potctl mailboxes import: a CSV of mailboxes into Vault secrets and Mailbox objects (or GitOps YAML);
registered by potctl.main with rotate and retire (potctl.mailbox_lifecycle).

Dry run by default: it reads the namespace's Mailboxes and each row's secret and prints what would
change; `--apply` writes. Rows are compared field by field (potctl.mailbox_import), so a second run
changes nothing. A bad record is reported by number on stderr and the others go on. Passwords go to
Vault only: never to stdout, stderr, a manifest or a log line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pot_common.api.base import GROUP, VERSION
from pot_common.api.kinds import MAILBOX
from pot_common.vault import (
    DEFAULT_TENANT_PREFIX,
    SecretNotFound,
    VaultConfig,
    VaultError,
    VaultKV,
    tenant_path,
)
from pot_deliverability import emailcheck
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from potctl import inputs
from potctl import mailbox_import as mi
from potctl.console import checked, err, fail, out
from potctl.database import csv_records, open_input
from potctl.kube_commands import (
    REQUEST_TIMEOUT,
    Cluster,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    api_errors,
    connect,
    list_objects,
)
from potctl.kube_views import api_error_message

PROGRESS_FROM = 200  # rows: a shorter file is done before a bar would help

ApplyOpt = Annotated[
    bool, typer.Option("--apply", help="Make the changes. Default: a dry run that only shows them.")
]


def vault_prefix() -> str:
    """The tenants' folder in Vault, as the operator reads it (the same variable and default)."""
    return os.environ.get("POT_VAULT_TENANT_PREFIX", "") or DEFAULT_TENANT_PREFIX


def vault_kv() -> VaultKV:
    """The Vault client every POT process uses, from POT_VAULT_*; exit status 2 when not configured."""
    config = VaultConfig.from_env()
    if not config.configured:
        fail("no Vault: set POT_VAULT_ADDR and POT_VAULT_TOKEN (with the local stack: source .pot/env)", 2)
    return VaultKV(config)


@contextmanager
def vault_errors() -> Iterator[None]:
    """Vault's errors as one line and exit status 1 (their messages name paths, never values)."""
    try:
        yield
    except VaultError as exc:
        fail(str(exc))


def read_secret(kv: VaultKV, path: str) -> dict[str, Any] | None:
    try:
        return kv.read(path)
    except SecretNotFound:
        return None


def import_cmd(
    source: Annotated[
        Path, typer.Argument(help="CSV file, one mailbox a row (the columns are listed above).")
    ],
    namespace: NamespaceOpt = None,
    apply: ApplyOpt = False,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Write each Mailbox as DIR/NAME.yaml (for a GitOps repository) instead of applying it; "
            "needs -n. Secrets still go to Vault.",
        ),
    ] = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
) -> None:
    """Import mailboxes from CSV: each password into Vault, each Mailbox into the cluster (or a folder).

    Columns (header names, any case): **address** (or email), **smtp_host**, **password** are required;
    name, display_name, smtp_port, smtp_tls, username, pool, warmup_start and vault_path are optional.
    The secret goes to `<prefix>/<namespace>/<vault_path>` (default vault_path `mailboxes/<name>`,
    prefix POT_VAULT_TENANT_PREFIX or `pot`); `pool` becomes the label `pot.dev/pool`. IMAP and OAuth2
    columns are refused: the Mailbox API has no such fields yet. An unknown column stops the import
    before anything is changed.

    Without --apply nothing changes: the lines say what would. Only the fields a row gives are
    written, so a paused mailbox stays paused and a second run changes nothing. Bad records are
    reported by number on stderr and the other rows go on; exit status 1 when any was bad, 2 for a
    bad header or option.

    Example: `potctl mailboxes import fleet.csv -n acme --apply`
    """
    namespace = checked(lambda: inputs.kube_namespace(namespace))
    if output_dir is not None and namespace is None:
        fail("--output-dir: give the namespace with -n (the manifests and Vault paths name it)", 2)
    stream = open_input(source, "SOURCE")
    try:
        header, records = csv_records(stream, inputs.shown(str(source)))
        try:
            names = mi.columns(header)
        except mi.BadHeader as exc:
            fail(f"{inputs.shown(str(source))}: {exc}", 2)
        kv = vault_kv()
        total = _count_lines(source)
        if output_dir is not None:
            assert namespace is not None
            target: _Target = _Folder(output_dir, namespace)
            counts = _run(target, kv, names, records, apply, total)
        else:
            with connect(kubeconfig, context) as cluster:
                ns = namespace or cluster.namespace
                with api_errors(f"listing {MAILBOX.plural}.{GROUP} in namespace {ns}"):
                    existing = {o["metadata"]["name"]: o for o in list_objects(cluster, MAILBOX, ns)}
                counts = _run(_Cluster(cluster, ns, existing), kv, names, records, apply, total)
    finally:
        stream.close()
    out.print(counts.summary(apply), highlight=False, soft_wrap=True)
    raise typer.Exit(1 if counts.bad else 0)


class _Counts:
    def __init__(self) -> None:
        self.mailboxes = dict.fromkeys(mi.Action, 0)
        self.secrets = dict.fromkeys(mi.Action, 0)
        self.bad = 0

    def summary(self, applied: bool) -> str:
        m, s = self.mailboxes, self.secrets
        verb = "" if applied else "would be "
        line = (
            f"mailboxes: {m[mi.Action.CREATE]} {verb}created, {m[mi.Action.UPDATE]} {verb}updated, "
            f"{m[mi.Action.UNCHANGED]} unchanged; secrets: {s[mi.Action.CREATE]} {verb}created, "
            f"{s[mi.Action.UPDATE]} {verb}updated, {s[mi.Action.UNCHANGED]} unchanged; "
            f"bad records: {self.bad}"
        )
        return line if applied else line + " (dry run: nothing changed; --apply makes the changes)"


class _Target:
    """Where the Mailboxes go: the cluster, or a folder of YAML files."""

    namespace: str

    def action(self, row: mi.Row) -> tuple[mi.Action, str]:
        raise NotImplementedError

    def write(self, row: mi.Row, action: mi.Action) -> str:
        """Make the change; an error sentence when this row's object was refused, else ""."""
        raise NotImplementedError

    def where(self, row: mi.Row) -> str:
        raise NotImplementedError


class _Cluster(_Target):
    def __init__(self, cluster: Cluster, namespace: str, existing: dict[str, Any]) -> None:
        self.cluster, self.namespace, self.existing = cluster, namespace, existing

    def action(self, row: mi.Row) -> tuple[mi.Action, str]:
        return mi.mailbox_action(row, self.existing.get(row.name))

    def where(self, row: mi.Row) -> str:
        return f"Mailbox {self.namespace}/{row.name}"

    def write(self, row: mi.Row, action: mi.Action) -> str:
        from kubernetes.client.exceptions import ApiException

        api, common = self.cluster.api, {"field_manager": "potctl", "_request_timeout": REQUEST_TIMEOUT}
        with api_errors(self.where(row)):  # a dead apiserver ends the run; a refused object does not
            try:
                if action is mi.Action.CREATE:
                    body = mi.manifest(row, self.namespace)
                    api.create_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, MAILBOX.plural, body, **common
                    )
                else:
                    patch = mi.merge_patch(row)
                    api.patch_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, MAILBOX.plural, row.name, patch, **common
                    )
            except ApiException as exc:
                if exc.status in (400, 409, 422):  # this object was refused (CEL, a name taken meanwhile)
                    return api_error_message(exc.status, exc.body, self.where(row))
                raise
        return ""


class _Folder(_Target):
    def __init__(self, folder: Path, namespace: str) -> None:
        self.folder, self.namespace = folder, namespace

    def _path(self, row: mi.Row) -> Path:
        return self.folder / f"{row.name}.yaml"

    def where(self, row: mi.Row) -> str:
        return str(self._path(row))

    def action(self, row: mi.Row) -> tuple[mi.Action, str]:
        path = self._path(row)
        if not path.exists():
            return mi.Action.CREATE, ""
        same = path.read_text(encoding="utf-8") == mi.manifest_yaml(row, self.namespace)
        return (mi.Action.UNCHANGED if same else mi.Action.UPDATE), ""

    def write(self, row: mi.Row, action: mi.Action) -> str:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self._path(row).with_suffix(".yaml.tmp")
            temporary.write_text(mi.manifest_yaml(row, self.namespace), encoding="utf-8")
            temporary.replace(self._path(row))
        except OSError as exc:
            fail(f"cannot write {inputs.shown(str(self._path(row)))}: {exc.strerror or exc}")
        return ""


def _run(
    target: _Target,
    kv: VaultKV,
    names: list[str],
    records: Iterator[tuple[int, list[str]] | emailcheck.BadRow],
    apply: bool,
    total: int | None,
) -> _Counts:
    counts = _Counts()
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    allow_test = bool(os.environ.get("POT_DNS_RESOLVER"))
    prefix = vault_prefix()

    def bad(record: int, line: int, why: str) -> None:
        counts.bad += 1
        err.print(
            f"[red]error:[/red] record {record} (line {line}): {escape(why)}", highlight=False, soft_wrap=True
        )

    with (
        Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=total is None or total < PROGRESS_FROM,
        ) as progress,
        vault_errors(),
    ):
        task = progress.add_task("import", total=total)
        for item in records:
            progress.advance(task)
            if isinstance(item, emailcheck.BadRow):
                bad(item.line - 1, item.line, item.why)
                continue
            line, cells = item
            row = mi.parse_row(names, cells, line - 1, line, allow_test=allow_test)
            if isinstance(row, mi.BadRecord):
                bad(row.record, row.line, row.why)
                continue
            key = row.spec["address"].lower()
            if row.name in seen_names or key in seen_addresses:
                first = seen_names.get(row.name) or seen_addresses[key]
                bad(row.record, row.line, f"Mailbox {row.name} or its address already came in record {first}")
                continue
            seen_names[row.name] = seen_addresses[key] = row.record
            mailbox, refusal = target.action(row)
            if refusal:
                bad(row.record, row.line, refusal)
                continue
            try:
                path = tenant_path(target.namespace, row.vault_path, prefix)
            except VaultError as exc:
                bad(row.record, row.line, f"vault_path: {exc}")
                continue
            secret = mi.secret_action(row, read_secret(kv, path))
            if apply and secret is not mi.Action.UNCHANGED:
                kv.write(path, row.secret)
            if apply and mailbox is not mi.Action.UNCHANGED:
                refused = target.write(row, mailbox)
                if refused:
                    bad(row.record, row.line, refused)
                    continue
            counts.mailboxes[mailbox] += 1
            counts.secrets[secret] += 1
            _report(target, row, mailbox, secret, f"{kv.config.mount}/{path}", apply)
    return counts


def _report(
    target: _Target, row: mi.Row, mailbox: mi.Action, secret: mi.Action, path: str, apply: bool
) -> None:
    """One line per change (nothing for a row already as the file says); never the secret's value."""
    changes = []
    if mailbox is not mi.Action.UNCHANGED:
        changes.append(f"{mailbox.value} {target.where(row)}")
    if secret is not mi.Action.UNCHANGED:
        changes.append(f"{'write' if secret is mi.Action.CREATE else 'update'} secret {path}")
    if changes:
        prefix = "" if apply else "would "
        out.print(
            escape(f"record {row.record}: {prefix}" + "; ".join(changes)), highlight=False, soft_wrap=True
        )


def _count_lines(path: Path) -> int | None:
    """Records in a regular file, for the progress bar; None when it cannot be counted cheaply."""
    try:
        with path.open("rb") as stream:
            return max(sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b"")) - 1, 0)
    except OSError:
        return None


def register(app: typer.Typer) -> None:
    from potctl import mailbox_lifecycle

    group = typer.Typer(
        name="mailboxes",
        help="Bulk work on Mailboxes: import a CSV, rotate a password, retire mailboxes or a whole domain.",
        no_args_is_help=True,
    )
    group.command("import")(import_cmd)
    mailbox_lifecycle.register(group)
    app.add_typer(group, name="mailboxes")

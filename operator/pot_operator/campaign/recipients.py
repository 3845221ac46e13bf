"""A Campaign's recipient list: the CSV parser (pure) and the read of the ConfigMap or Secret holding it.

Called by the campaign controller's observe step when the recipients must be (re)loaded.
"""

from __future__ import annotations

import csv
import dataclasses
import io

from pot_common.addresses import check_syntax, is_plain_address
from pot_common.api.campaign import CampaignSpec

from pot_operator.kube import KubeApi


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A CSV row left out: its record number (1 = the first row after the header) and the physical line
    it starts on (they differ once a quoted field holds a line break), and why."""

    record: int
    line: int
    reason: str

    def __str__(self) -> str:
        return f"record {self.record} (line {self.line}): {self.reason}"


@dataclasses.dataclass(frozen=True)
class ParsedRecipients:
    rows: list[tuple[str, dict[str, str]]]  # in the list's order, duplicates included
    rejected_lines: list[int]
    rejected: list[Rejected] = dataclasses.field(default_factory=list)
    columns: tuple[str, ...] | None = None  # the header's variable columns (`email` out); None: unknown


def rejected_summary(rejected: list[Rejected], most: int = 20) -> str:
    """`record 3 (line 4): no valid address; ...`, at most `most` of them and how many more."""
    text = "; ".join(map(str, rejected[:most]))
    if len(rejected) > most:
        text += f"; and {len(rejected) - most} more"
    return text


class RecipientsError(ValueError):
    """A recipient source that cannot be used as it is (permanent until the source changes)."""

    def __init__(self, message: str, reason: str = "RecipientSourceInvalid") -> None:
        super().__init__(message)
        self.reason = reason


def parse_recipient_csv(text: str) -> ParsedRecipients:
    """Rows of a CSV with an `email` column; other columns become template variables.

    A row without a valid address (pot_common.addresses; a domain with at least one dot), with fewer
    fields than the header (it would be sent with empty placeholders) or with a NUL, is skipped and
    reported by record number and line; the others go on. Addresses as written, rows in file order.
    """
    reader = csv.DictReader(io.StringIO(text))
    try:
        fields = [f.strip() for f in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise RecipientsError(f"the CSV header row cannot be read: {exc}") from exc
    if "email" not in fields:
        raise RecipientsError("the CSV has no `email` column in its header row")
    rows: list[tuple[str, dict[str, str]]] = []
    rejected: list[Rejected] = []
    record, line = 0, reader.line_num + 1
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            # The csv module cannot resume after this (e.g. a field over its 128 KiB limit, a NUL).
            raise RecipientsError(
                f"the CSV cannot be read at record {record + 1} (line {line}): {exc}"
            ) from exc
        if row is None:
            break
        record += 1
        start, line = line, reader.line_num + 1
        missing = [k for k, v in row.items() if v is None]
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        address = clean.pop("email", "")
        if missing:
            rejected.append(Rejected(record, start, f"{len(fields) - len(missing)} of {len(fields)} fields"))
        elif any("\x00" in v for v in clean.values()) or "\x00" in address:
            rejected.append(Rejected(record, start, "a NUL character"))  # Postgres text cannot hold one
        elif not _acceptable(address):
            rejected.append(Rejected(record, start, "no valid address"))
        else:
            rows.append((address, clean))
    columns = tuple(f for f in fields if f and f != "email")
    return ParsedRecipients(rows, [r.line for r in rejected], rejected, columns)


def _acceptable(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain:
        return False
    # The regular expression answers for nearly every address; email-validator for the rest.
    return is_plain_address(address) or check_syntax(address, allow_test_domains=True).ok


async def read_recipients(
    kube: KubeApi, namespace: str, spec: CampaignSpec, *, allow_secrets: bool = True
) -> ParsedRecipients | None:
    """The parsed CSV of the ConfigMap or Secret; None for `importName` (already in Postgres).

    `allow_secrets` is POT_ALLOW_SECRET_REFS: without it the operator may not read Secrets at all.
    """
    source = spec.recipients
    if source.config_map_ref is not None:
        ref = source.config_map_ref
        text = await kube.read_config_map_key(namespace, ref.name, ref.key)
        if text is None:
            raise RecipientsError(f"ConfigMap {ref.name} with key {ref.key} not found")
        return parse_recipient_csv(text)
    if source.secret_ref is not None:
        if not allow_secrets:
            raise RecipientsError(
                "The cluster admin turned Kubernetes Secret references off (POT_ALLOW_SECRET_REFS=false): "
                "use recipients.configMapRef or importName",
                "SecretRefsDisabled",
            )
        sref = source.secret_ref
        data = await kube.read_secret_keys(namespace, sref.name)
        if data is None or sref.key not in data:
            raise RecipientsError(f"Secret {sref.name} with key {sref.key} not found")
        return parse_recipient_csv(data[sref.key].decode("utf-8", errors="replace"))
    return None

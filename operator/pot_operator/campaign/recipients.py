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
class ParsedRecipients:
    rows: list[tuple[str, dict[str, str]]]
    rejected_lines: list[int]


class RecipientsError(ValueError):
    """A recipient source that cannot be used as it is (permanent until the source changes)."""

    def __init__(self, message: str, reason: str = "RecipientSourceInvalid") -> None:
        super().__init__(message)
        self.reason = reason


def parse_recipient_csv(text: str) -> ParsedRecipients:
    """Rows of a CSV with an `email` column; other columns become template variables.

    A row without a valid address (pot_common.addresses; a domain with at least one dot) is skipped
    and its line number reported, the others go on. The address is kept as written.
    """
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in (reader.fieldnames or [])]
    if "email" not in fields:
        raise RecipientsError("the CSV has no `email` column in its header row")
    rows: list[tuple[str, dict[str, str]]] = []
    rejected: list[int] = []
    for record in reader:
        clean = {(k or "").strip(): (v or "").strip() for k, v in record.items() if k is not None}
        address = clean.pop("email", "")
        if not _acceptable(address):
            rejected.append(reader.line_num)
            continue
        rows.append((address, clean))
    return ParsedRecipients(rows, rejected)


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

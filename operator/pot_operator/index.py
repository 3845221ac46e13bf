"""The operator's typed index of watched MailboxPools and Mailboxes, and which pool owns which mailbox.

Fed by the event handlers (pot_operator.watch) and read by the pool and campaign controllers'
observe steps: scans read only this, never the API. Parsing and selection are memoised here
because at 12,000 mailboxes they would otherwise cost more CPU than everything else in an idle scan.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import pydantic
from pot_common.api.mailbox import MailboxSpec
from pot_common.api.pool import LabelSelector
from pot_deliverability.gate import Target, target_of

Key = tuple[str, str]  # (namespace, name)
Body = dict[str, Any]  # a plain snapshot of an object (main._snapshot): metadata, spec, status
R = TypeVar("R")
V = TypeVar("V")


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every matchLabels pair and every expression must hold."""
    if not selector.match_labels and not selector.match_expressions:
        return False  # the CRD forbids it; never select a whole namespace by accident
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        value = labels.get(req.key)
        values = req.values or []
        ok = {
            "In": present and value in values,
            "NotIn": not present or value not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[req.operator]
        if not ok:
            return False
    return True


class ParseMemo(Generic[R, V]):
    """Per key: the value parsed from a raw mapping, parsed again only when the raw mapping changed.

    A parse that raises is not remembered: the next ask raises again.
    """

    def __init__(self, parse: Callable[[R], V]) -> None:
        self._parse = parse
        self._items: dict[Key, tuple[R, V]] = {}

    def get(self, key: Key, raw: R) -> V:
        cached = self._items.get(key)
        if cached is not None and cached[0] == raw:
            return cached[1]
        value = self._parse(raw)
        self._items[key] = (raw, value)
        return value

    def pop(self, key: Key) -> None:
        self._items.pop(key, None)


@dataclasses.dataclass(frozen=True)
class ParsedMailbox:
    spec: MailboxSpec
    credentials_fingerprint: str
    target: Target  # its sending domain and SMTP host, for DNS and blocklist checks


def parse_mailbox(raw: Mapping[str, Any]) -> ParsedMailbox:
    """The validated spec (raises pydantic.ValidationError) with what the scans derive from it."""
    spec = MailboxSpec.model_validate(raw)
    # The verdict depends on the encryption too (cleartext AUTH is refused): a changed tlsMode is
    # checked again at once, not when POT_CREDENTIALS_RECHECK runs out.
    tls = (spec.smtp.tls_mode, spec.imap.tls_mode if spec.imap else "")
    fingerprint = hashlib.sha256(f"{spec.credentials.model_dump_json()}|{tls}".encode()).hexdigest()
    return ParsedMailbox(spec, fingerprint, target_of(spec))


def parse_selector(raw: Mapping[str, Any]) -> LabelSelector | None:
    """A pool's selector, or None when it does not parse (that pool selects nothing)."""
    try:
        return LabelSelector.model_validate(raw)
    except pydantic.ValidationError:
        return None


@dataclasses.dataclass(frozen=True)
class Selection:
    """A pool's mailboxes as of (mailbox_version, pool_version, selector): keys with parsed specs, and
    the names of selected mailboxes whose spec does not parse."""

    versions: tuple[int, int, LabelSelector]
    mailboxes: list[tuple[Key, ParsedMailbox]]
    invalid: list[str]


@dataclasses.dataclass
class Index:
    """The latest body of each watched pool and mailbox, with the memos that keep scans cheap."""

    pools: dict[Key, Body] = dataclasses.field(default_factory=dict)
    mailboxes: dict[Key, Body] = dataclasses.field(default_factory=dict)
    # Bumped by the event handlers when a mailbox's spec/labels or a pool changes: a pool scan
    # re-selects its mailboxes only then (selection is O(mailboxes x pools)).
    mailbox_version: int = 0
    pool_version: int = 0
    selectors: ParseMemo[Mapping[str, Any], LabelSelector | None] = dataclasses.field(
        default_factory=lambda: ParseMemo(parse_selector)
    )
    specs: ParseMemo[Mapping[str, Any], ParsedMailbox] = dataclasses.field(
        default_factory=lambda: ParseMemo(parse_mailbox)
    )
    selections: dict[Key, Selection] = dataclasses.field(default_factory=dict)

    def pools_selecting(self, namespace: str, labels: Mapping[str, str]) -> list[str]:
        """Names of the pools in `namespace` whose selector matches, sorted: the first owns the mailbox."""
        names = []
        for key, body in self.pools.items():
            if key[0] != namespace:
                continue
            # Parsed again only when it changed: this is asked per mailbox event.
            selector = self.selectors.get(key, body.get("spec", {}).get("selector") or {})
            if selector is not None and selector_matches(selector, labels):
                names.append(key[1])
        return sorted(names)

    def parsed_mailbox(self, key: Key, body: Mapping[str, Any]) -> ParsedMailbox:
        """The mailbox's parsed spec, validated again only when the spec changed."""
        return self.specs.get(key, body.get("spec") or {})

    def select_mailboxes(self, key: Key, selector: LabelSelector) -> Selection:
        """The mailboxes this pool owns (the first pool by name wins when several select one).

        Recomputed only when a mailbox's labels/spec or a pool changed: walking every mailbox and every
        pool on each scan of each pool is what made an idle operator busy at 12,000 mailboxes.
        """
        namespace, name = key
        versions = (self.mailbox_version, self.pool_version, selector)
        cached = self.selections.get(key)
        if cached is not None and cached.versions == versions:
            return cached
        owners_by_labels: dict[tuple[tuple[str, str], ...], list[str]] = {}
        chosen: list[tuple[Key, ParsedMailbox]] = []
        invalid: list[str] = []
        for mkey, mbody in self.mailboxes.items():
            if mkey[0] != namespace:
                continue
            labels = mbody.get("metadata", {}).get("labels") or {}
            if not selector_matches(selector, labels):
                continue
            label_key = tuple(sorted(labels.items()))
            owners = owners_by_labels.get(label_key)
            if owners is None:
                owners = owners_by_labels[label_key] = self.pools_selecting(namespace, labels)
            if owners and owners[0] != name:
                continue
            try:
                chosen.append((mkey, self.parsed_mailbox(mkey, mbody)))
            except pydantic.ValidationError:
                invalid.append(mkey[1])
        selection = Selection(versions, chosen, invalid)
        self.selections[key] = selection
        return selection

    def forget_mailbox(self, key: Key) -> None:
        """Drop a deleted mailbox's body and parsed spec; pools re-select on their next scan."""
        self.mailboxes.pop(key, None)
        self.specs.pop(key)
        self.mailbox_version += 1

    def forget_pool(self, key: Key) -> None:
        """Drop a deleted pool's body, parsed selector and selection; every pool re-selects."""
        self.pools.pop(key, None)
        self.selectors.pop(key)
        self.selections.pop(key, None)
        self.pool_version += 1

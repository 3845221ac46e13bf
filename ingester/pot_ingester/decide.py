"""Pure decisions of the ingester: what each classified message does, its key, where a read resumes,
what an inbox's failures say about it; used by pot_ingester.store (the record step) and
pot_ingester.inbox (the checkpoint and the inbox's state)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pot_feedback.classify import Verdict

# POT's own Message-IDs: <pot.{campaign}.{job}.{attempt}@domain> (pot_common.message.message_id). A
# bounce of an earlier attempt names that attempt's id, which the job row no longer holds.
_POT_MESSAGE_ID = re.compile(r"<pot\.(\d+)\.(\d+)\.(\d+)@[^>]*>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]{1,900}>)", re.IGNORECASE | re.MULTILINE)
_PRINTABLE = re.compile(rb"[\x21-\x7e]+")  # a Message-ID with other bytes is known by the hash instead
MAX_REFERENCES = 50  # a References chain is not read further (a long thread names its oldest first)


@dataclass(frozen=True)
class Effect:
    """What a linked message does. outcome: the delivery_events row (None: none); suppression: the
    reason the job's recipient is suppressed for the tenant (None: not); cancel: the recipient's open
    jobs in the tenant's campaigns are cancelled."""

    outcome: str | None
    suppression: str | None = None
    cancel: bool = False


NOTHING = Effect(None)


def effect(verdict: Verdict) -> Effect:
    """The effect of a message linked to one of this mailbox's send jobs (docs/feedback.md).

    A hard bounce suppresses, unless it is a policy refusal (5.7.x: the sending IP on a blocklist, DMARC):
    the address is usually fine, the sender is what was refused, so it counts against the mailbox's
    health only. A soft or delayed one is recorded only. A reply stops further sends to
    its author: a suppression ('unsubscribe' when the reply asks for it, else 'reply': an address has one
    suppression, and an unsubscribe is the stronger statement) and the open jobs cancelled.
    """
    if verdict.kind == "bounce":
        if not verdict.hard:
            return Effect("late_soft_bounce")
        return Effect("late_bounce", None if verdict.reason == "policy" else "hard_bounce")
    if verdict.kind == "complaint":
        return Effect("complaint", "complaint")
    if verdict.kind == "auto-reply":
        return Effect("auto_reply")
    if verdict.kind == "reply":
        return Effect("reply", "unsubscribe" if verdict.unsubscribe else "reply", cancel=True)
    return NOTHING


def note(verdict: Verdict) -> str:
    """The delivery event's short text: the classifier's reason word and status, never message text."""
    return f"{verdict.kind}: {verdict.reason}" + (f" {verdict.status}" if verdict.status else "")


def message_key(raw: bytes) -> str:
    """The message's identity across UIDs and UIDVALIDITYs: its Message-ID, else a hash of its bytes."""
    end = _HEADER_END.search(raw)
    header = raw[: end.start()] if end else raw
    found = _MESSAGE_ID.search(header)
    if found and _PRINTABLE.fullmatch(found.group(1)):
        return "mid:" + found.group(1).decode("ascii")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def referenced_ids(verdict: Verdict) -> tuple[list[str], list[int]]:
    """The Message-IDs the message names, and the job ids read from those that are POT's own."""
    refs = list(dict.fromkeys(verdict.references))[:MAX_REFERENCES]
    jobs = [int(m.group(2)) for ref in refs if (m := _POT_MESSAGE_ID.fullmatch(ref.strip()))]
    return refs, list(dict.fromkeys(jobs))


def resume_after(checkpoint: tuple[int, int] | None, uidvalidity: int) -> int:
    """The last UID already recorded in an inbox whose UIDVALIDITY is `uidvalidity` now: the
    checkpoint's when it was taken under the same value, else 0 (the inbox was renumbered, or never
    read: everything is read, and messages already recorded are recognised by their key)."""
    if checkpoint is None or checkpoint[0] != uidvalidity:
        return 0
    return checkpoint[1]


# Consecutive failures of other kinds (a lost connection, Vault away) before the inbox is said to be
# failing: one dropped connection is reconnected within seconds and is nobody's news.
FAILING_AFTER = 3
MAX_ERROR_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def inbox_state(reason: str, failures: int) -> str | None:
    """The inbox state a failure of `reason` (pot_ingester_errors_total's word), the `failures`-th in a
    row, records; None: the last state stands. A refused login or a refused plaintext connection is the
    server's (or the settings') final word and says so at once; a Postgres failure is not the inbox's."""
    if reason == "login":
        return "login_refused"
    if reason == "plaintext_refused":
        return "plaintext_refused"
    if reason == "postgres":
        return None
    return "failing" if failures >= FAILING_AFTER else None


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` as one line of at most `limit` characters (a server's words go into a status message)."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"

"""RFC 3464 delivery status notifications (multipart/report; report-type=delivery-status) → a bounce Verdict.

Called by core.classify for any message with a message/delivery-status part: Postfix, Sendmail,
Gmail, Exchange and most providers send their bounces this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message

from pot_feedback.classify import mime, status
from pot_feedback.classify.verdict import Verdict

_RANK = {"failed": 0, "delayed": 1}  # which recipient block speaks for the report


@dataclass(frozen=True)
class Block:
    """One per-recipient block of a delivery-status part."""

    action: str
    status: str | None
    recipient: str | None
    diagnostic: str


def delivery_status_part(msg: Message) -> Message | None:
    return mime.first_part(msg, "message/delivery-status", "message/global-delivery-status")


def _fields(block: Message | dict[str, str], name: str) -> str:
    if isinstance(block, Message):
        return mime.header(block, name)
    return block.get(name.lower(), "")


def blocks(part: Message) -> list[Block]:
    """The per-recipient blocks (those with an Action or Final-Recipient) of a delivery-status part."""
    payload = mime.payload_of(part)
    raw_blocks: Sequence[Message | dict[str, str]]
    if isinstance(payload, list):
        raw_blocks = [p for p in payload if isinstance(p, Message)]
    elif isinstance(payload, str):
        data = mime.payload_of(part, decode=True)
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else payload
        raw_blocks = mime.field_blocks(text)
    else:
        return []
    found: list[Block] = []
    for raw in raw_blocks[:50]:
        action = _fields(raw, "Action").lower().split(" ")[0]
        final = _fields(raw, "Final-Recipient")
        if not action and not final:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        code = status.status_in(_fields(raw, "Status"))
        original = _fields(raw, "Original-Recipient")
        # The Original-Recipient is the address as we sent it (before aliases and forwarding).
        recipient = None
        for value in (original, final):
            kind, _, address = value.partition(";")
            if address and kind.strip().lower() in ("rfc822", "utf-8"):
                recipient = mime.first_address(address)
            if recipient:
                break
        found.append(Block(action, code, recipient, _fields(raw, "Diagnostic-Code")))
    return found


def from_dsn(msg: Message, part: Message, returned: Message | None, references: tuple[str, ...]) -> Verdict:
    """A DSN's Verdict: its failed (else delayed, else first) recipient's status, reason and hardness."""
    found = sorted(blocks(part), key=lambda b: _RANK.get(b.action, 2))
    human = mime.body_text(msg)
    block = found[0] if found else Block("", None, None, "")
    recipient = block.recipient or _fallback_recipient(msg, returned)
    if block.action in ("delivered", "relayed", "expanded"):
        return Verdict("unknown", block.status, False, "delivered", recipient, references)
    diagnostic = block.diagnostic
    code = status.better_status(block.status, diagnostic)
    if code is None:
        code = status.status_in(human)
    delayed = block.action == "delayed" or (
        block.action != "failed" and (code or "").startswith("4") and status.sounds_temporary(human)
    )
    if delayed:
        return Verdict("bounce", code, False, "delayed", recipient, references)
    reason = status.reason_for(code, diagnostic, human)
    hard = status.is_hard(code, reason, diagnostic or human)
    return Verdict("bounce", code, hard, reason, recipient, references)


def _fallback_recipient(msg: Message, returned: Message | None) -> str | None:
    failed = mime.header(msg, "X-Failed-Recipients")
    if failed:
        return mime.first_address(failed)
    if returned is not None:
        return mime.first_address(mime.header(returned, "To"))
    return None

"""RFC 5965 abuse reports (ARF: multipart/report; report-type=feedback-report) → a complaint Verdict.

Called by core.classify. A mailbox provider's feedback loop (Yahoo, AOL, Microsoft's JMRP, many ISPs)
sends one of these when a recipient marks a message as spam.
"""

from __future__ import annotations

from email.message import Message

from pot_feedback.classify import mime
from pot_feedback.classify.verdict import Verdict

# Feedback-Type → reason. "auth-failure" (a DMARC/SPF failure report) and "not-spam" are about the
# message, not a recipient's complaint: they classify as unknown with this reason.
_COMPLAINTS = {"abuse": "spam-complaint", "fraud": "fraud", "virus": "virus", "other": "other"}
_NOT_COMPLAINTS = {"auth-failure": "auth-failure", "not-spam": "not-spam"}


def feedback_part(msg: Message) -> Message | None:
    return mime.first_part(msg, "message/feedback-report")


def _report_fields(part: Message) -> dict[str, str]:
    """The report's fields, lower-case names; the email parser gives message/* parts as a sub-message."""
    payload = mime.payload_of(part)
    if isinstance(payload, list):
        fields: dict[str, str] = {}
        for sub in payload:
            if isinstance(sub, Message):
                for name in sub.keys()[:50]:
                    fields.setdefault(name.lower(), mime.header(sub, name))
        return fields
    if isinstance(payload, str):
        merged: dict[str, str] = {}
        for block in mime.field_blocks(payload):
            for name, value in block.items():
                merged.setdefault(name, value)
        return merged
    return {}


def from_arf(part: Message, returned: Message | None, references: tuple[str, ...]) -> Verdict:
    """The complaint (or, for auth-failure/not-spam, unknown) Verdict of one feedback report."""
    fields = _report_fields(part)
    feedback_type = fields.get("feedback-type", "abuse").strip().lower() or "abuse"
    recipient = mime.first_address(fields.get("original-rcpt-to", ""))
    if recipient is None and returned is not None:
        # Microsoft's feedback loop names the complaining address in a header of its own.
        for name in ("X-HmXmrOriginalRecipient", "To"):
            recipient = recipient or mime.first_address(mime.header(returned, name))
    if feedback_type in _NOT_COMPLAINTS:
        return Verdict("unknown", None, False, _NOT_COMPLAINTS[feedback_type], recipient, references)
    reason = _COMPLAINTS.get(feedback_type, "spam-complaint")
    return Verdict("complaint", None, False, reason, recipient, references)

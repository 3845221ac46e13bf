"""classify(): raw RFC 5322 bytes → Verdict, never an exception; the entry point of pot_feedback.classify.

The readers run from the most to the least specific: an abuse report (ARF), a delivery status
notification (RFC 3464), a prose bounce, an automatic reply, a human reply; anything else is unknown.
"""

from __future__ import annotations

import logging
from email.message import Message

from pot_feedback.classify import arf, autoreply, dsn, mime, reply, text_bounces
from pot_feedback.classify.verdict import UNKNOWN, Verdict

log = logging.getLogger(__name__)


def references_of(msg: Message, returned: Message | None) -> tuple[str, ...]:
    """In-Reply-To, then References (newest last as sent), then the returned original's Message-ID."""
    found: list[str] = []
    values = [mime.header(msg, "In-Reply-To"), mime.header(msg, "References")]
    if returned is not None:
        values.append(mime.header(returned, "Message-ID"))
    for value in values:
        for ref in mime.message_ids(value)[:50]:
            if ref not in found:
                found.append(ref)
    return tuple(found)


def _classify(raw: bytes) -> Verdict:
    msg = mime.parse(raw)
    subject = mime.header(msg, "Subject")
    kind = mime.ctype(msg)
    returned = mime.returned_message(msg) if kind.startswith("multipart/") else None
    references = references_of(msg, returned)
    feedback = arf.feedback_part(msg)
    if feedback is not None:
        return arf.from_arf(feedback, returned, references)
    status_part = dsn.delivery_status_part(msg)
    if status_part is not None:
        return dsn.from_dsn(msg, status_part, returned, references)
    if kind == "multipart/report" and mime.param(msg, "report-type") == "disposition-notification":
        recipient = mime.first_address(mime.header(msg, "From"))
        return Verdict("unknown", None, False, "read-receipt", recipient, references)
    text = mime.body_text(msg)
    if text_bounces.looks_like_bounce(msg, subject, text):
        return text_bounces.from_text(msg, subject, text, returned, references)
    auto = autoreply.classify_auto(msg, subject, text, references)
    if auto is not None:
        return auto
    human = reply.classify_reply(msg, subject, text, references)
    if human is not None:
        return human
    return Verdict("unknown", None, False, "unknown", None, references)


def classify(raw: bytes) -> Verdict:
    """What `raw` (one message as fetched from the inbox) says about an earlier send; never raises."""
    try:
        return _classify(bytes(raw))
    except Exception as exc:  # a parser corner no reader foresaw (or RecursionError): unclassified
        log.warning("Classifier failed on a message error=%s", exc.__class__.__name__)
        return UNKNOWN

"""Bounces that are not RFC 3464 reports: the prose formats of qmail, Exim, Sendmail, Exchange, Gmail, Yahoo.

Called by core.classify when a message has no delivery-status part. Whether it is a bounce at all
comes from who sent it (MAILER-DAEMON, postmaster, Mail Delivery System), its subject and the
well-known openings of each MTA's text; the facts (status, recipient, returned original) come from
the prose before the copy of the returned message.
"""

from __future__ import annotations

import re
from email.message import Message

from pot_feedback.classify import mime, status
from pot_feedback.classify.verdict import Verdict

DAEMONS = frozenset(
    {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon", "bounce", "bounces", "nobody"}
)
_DAEMON_NAME = re.compile(r"mail delivery (?:subsystem|system|service)|mailer.daemon|postmaster", re.I)
_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery (?:failure|failed|has failed|problem)|"
    r"mail delivery failed|returned mail|failure notice|non.?delivery|could not be delivered|"
    r"not delivered|unzustellbar|nicht zustellbar|non remis|delivery delayed|delayed mail|"
    r"warning: message \S{1,40} delayed|mail system error|returned to sender|delivery notification",
    re.I,
)
# Openings that only bounces have; enough on their own within the first lines of the text.
_STRONG = re.compile(
    r"this is the qmail-send program|created automatically by mail delivery software|"
    r"delivery has failed to these recipients|i'm sorry to have to inform you that your message|"
    r"the following addresses had permanent fatal errors|delivery to the following recipients? failed|"
    r"your message (?:wasn't|was not|couldn't be|could not be) delivered|"
    r"could not be delivered to one or more (?:of its )?recipients|"
    r"unable to deliver your message to the following|\*\* (?:address not found|message not delivered|"
    r"delivery incomplete) \*\*|could not send message for past|message delivery has been delayed",
    re.I,
)
_WEAK = re.compile(
    r"delivery|deliver|recipient|returned|failed|remote (?:server|host)|said:|user unknown|mailbox",
    re.I,
)
_DELAYED = re.compile(
    r"delivery incomplete|delayed|will (?:retry|continue trying|keep trying|try again)|"
    r"still (?:being )?retried|could not send message for past|not yet been delivered|"
    r"this is a warning|no action is required",
    re.I,
)
# Where the prose ends and the copy of the returned message begins.
_COPY = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:below this line is a copy of the message|this is a copy of the message|"
    r"original message(?: follows)?|message header follows|returned message|headers of the message)"
    r"|^[ \t]*(?:original message headers|ursprüngliche nachrichtenkopfzeilen|"
    r"en-têtes du message d'origine|encabezados del mensaje original):"
    r"|^-{2,}[ \t]*the header of the original message",
    re.I | re.M,
)


def _sender_is_daemon(msg: Message) -> bool:
    # Not the empty Return-Path: RFC 3834 asks auto-replies to use it too.
    sender = mime.header(msg, "From")
    address = mime.first_address(sender) or ""
    if address.split("@", 1)[0] in DAEMONS:
        return True
    return _DAEMON_NAME.search(sender) is not None


def split_copy(text: str) -> tuple[str, str]:
    """(prose, copy): the text before the returned message's copy, and the copy (may be "")."""
    match = _COPY.search(text)
    if match is None:
        return text, ""
    rest = text[match.end() :]
    newline = rest.find("\n")
    return text[: match.start()], rest[newline + 1 :] if newline >= 0 else ""


def looks_like_bounce(msg: Message, subject: str, text: str) -> bool:
    """Whether a message without a delivery-status part reports a failed or delayed delivery."""
    if mime.header(msg, "X-Failed-Recipients"):
        return True
    head = text[:4000]
    if _STRONG.search(head):
        return True
    from_daemon = _sender_is_daemon(msg)
    bounce_subject = _SUBJECT.search(subject) is not None
    if from_daemon and bounce_subject:
        return True
    if from_daemon or bounce_subject:
        # One signal from the envelope or subject: the text must read like a delivery report too.
        return _WEAK.search(head) is not None and (
            status.status_in(head) is not None or status.reply_class(head) is not None
        )
    return False


def own_addresses(msg: Message, returned: Message | None) -> set[str]:
    """Addresses that are never the failed recipient: the bounce's own and the original's sender."""
    own: set[str] = set()
    for name in ("From", "To", "Cc", "Sender", "Reply-To"):
        own.update(mime.addresses(mime.header(msg, name)))
    if returned is not None:
        own.update(mime.addresses(mime.header(returned, "From")))
    return own


def recipient_in(prose: str, own: set[str]) -> str | None:
    for address in mime.addresses(prose, 40):
        if address not in own and address.split("@", 1)[0] not in DAEMONS:
            return address
    return None


def from_text(
    msg: Message, subject: str, text: str, returned: Message | None, references: tuple[str, ...]
) -> Verdict:
    """The Verdict of a prose bounce; an original returned inline (none attached) adds its Message-ID."""
    prose, copy = split_copy(text)
    if returned is None and copy:
        returned = mime.headers_only(copy)
        if returned is not None:
            extra = tuple(mime.message_ids(mime.header(returned, "Message-ID"))[:1])
            references = references + tuple(r for r in extra if r not in references)
    recipient = mime.first_address(mime.header(msg, "X-Failed-Recipients"))
    if recipient is None:
        recipient = recipient_in(prose, own_addresses(msg, returned))
    if recipient is None and returned is not None:
        recipient = mime.first_address(mime.header(returned, "To"))
    code = status.status_in(prose)
    delayed = (code or "").startswith("4") or (
        code is None and _DELAYED.search(f"{subject}\n{prose[:4000]}") is not None
    )
    if delayed and status.sounds_temporary(f"{subject}\n{prose}"):
        return Verdict("bounce", code, False, "delayed", recipient, references)
    reason = status.reason_for(code, prose)
    hard = status.is_hard(code, reason, prose)
    return Verdict("bounce", code, hard, reason, recipient, references)

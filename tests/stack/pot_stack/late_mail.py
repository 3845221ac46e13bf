"""What arrives in a sending mailbox's inbox minutes after its provider accepted a message: bounces,
complaints, auto-replies and replies; built here and delivered by pot_stack.smtp_sink over LMTP into the
stack's IMAP server (pot_stack.imap_server).

| recipient's local part | what lands in the sender's INBOX later                                      |
|------------------------|-----------------------------------------------------------------------------|
| `late-bounce-*`        | RFC 3464 DSN from MAILER-DAEMON (null envelope sender): multipart/report    |
|                        | report-type=delivery-status, Action failed, Status 5.1.1, Final-Recipient,  |
|                        | the original's headers (with its Message-ID) as text/rfc822-headers         |
| `complain-*`           | RFC 5965 ARF report: multipart/report report-type=feedback-report,          |
|                        | Feedback-Type abuse, Original-Mail-From, Original-Rcpt-To, the original     |
|                        | message as message/rfc822                                                   |
| `ooo-*`                | RFC 3834 out-of-office from the recipient (null envelope sender):           |
|                        | Auto-Submitted auto-replied, In-Reply-To/References the original            |
| `reply-*`              | a human reply from the recipient: Subject "Re: ...", In-Reply-To/References |
|                        | the original's Message-ID, a short text above the quoted original           |

The builders are pure (bytes in, bytes out); `LateMail` schedules and delivers, logging and dropping
(never raising) when the inbox's user is unknown to the IMAP server or no server is configured.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import email.utils
import logging
import smtplib
import uuid
from collections.abc import Callable
from email.message import EmailMessage

log = logging.getLogger("pot_stack.late_mail")

KINDS = {"late-bounce-": "bounce", "complain-": "complaint", "ooo-": "auto-reply", "reply-": "reply"}
DEFAULT_DELAY = 3.0
REPLY_TEXT = "Thanks for reaching out. This sounds interesting: could we talk next week?"
OOO_TEXT = (
    "I am out of the office until next Monday with limited access to email. I will reply when I return."
)


def late_kind(rcpt: str) -> str | None:
    """The late effect a recipient asks for ("bounce", "complaint", "auto-reply", "reply"), or None."""
    local = rcpt.rsplit("@", 1)[0].strip("<>").lower()
    return next((kind for prefix, kind in KINDS.items() if local.startswith(prefix)), None)


def _parse(original: bytes) -> EmailMessage:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(original)
    assert isinstance(message, EmailMessage)
    return message


def _headers_block(original: bytes) -> str:
    """The original's header section as sent (LF line endings), without the body."""
    text = original.replace(b"\r\n", b"\n").decode("utf-8", "replace")
    return text.split("\n\n", 1)[0] + "\n"


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip("<>") or "example.test"


def _common(subject: str, sender: str, to: str, hostname: str) -> str:
    return (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {email.utils.formatdate(localtime=False)}\n"
        f"Message-ID: <{uuid.uuid4().hex}@{hostname}>\nMIME-Version: 1.0\n"
    )


def build_bounce(original: bytes, *, sender: str, rcpt: str, hostname: str) -> bytes:
    """An RFC 3464 non-delivery report to `sender` for `rcpt` (as Postfix writes one, status 5.1.1)."""
    boundary = f"dsn-{uuid.uuid4().hex}"
    now = email.utils.formatdate(localtime=False)
    head = _common(
        "Undelivered Mail Returned to Sender",
        f"Mail Delivery System <MAILER-DAEMON@{hostname}>",
        sender,
        hostname,
    )
    diagnostic = (
        f"smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    return (
        head
        + "Auto-Submitted: auto-replied\n"
        + f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n\n'
        + "This is a MIME-encapsulated message.\n\n"
        + f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\n"
        + f"This is the mail system at host {hostname}.\n\n"
        + "I'm sorry to have to inform you that your message could not\n"
        + "be delivered to one or more recipients.\n\n"
        + f"<{rcpt}>: host mx.{_domain(rcpt)} said: 550 5.1.1 User unknown\n\n"
        + f"--{boundary}\nContent-Type: message/delivery-status\n\n"
        + f"Reporting-MTA: dns; {hostname}\nX-Postfix-Queue-ID: {uuid.uuid4().hex[:10].upper()}\n"
        + f"Arrival-Date: {now}\n\n"
        + f"Final-Recipient: rfc822; {rcpt}\nOriginal-Recipient: rfc822;{rcpt}\nAction: failed\n"
        + f"Status: 5.1.1\nRemote-MTA: dns; mx.{_domain(rcpt)}\nDiagnostic-Code: {diagnostic}\n\n"
        + f"--{boundary}\nContent-Type: text/rfc822-headers\n"
        + "Content-Description: Undelivered Message Headers\n\n"
        + _headers_block(original)
        + f"\n--{boundary}--\n"
    ).encode()


def build_complaint(original: bytes, *, sender: str, rcpt: str, hostname: str) -> bytes:
    """An RFC 5965 abuse report about the original, as a mailbox provider's feedback loop sends it."""
    boundary = f"arf-{uuid.uuid4().hex}"
    subject = str(_parse(original)["Subject"] or "")
    head = _common(f"Abuse report: {subject}", f"Feedback Loop <fbl@{_domain(rcpt)}>", sender, hostname)
    return (
        head
        + f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\n\n'
        + f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\n"
        + "This is an email abuse report for an email message received from you.\n"
        + "A recipient marked it as spam.\n\n"
        + f"--{boundary}\nContent-Type: message/feedback-report\n\n"
        + "Feedback-Type: abuse\nUser-Agent: pot-stack-fbl/1.0\nVersion: 1\n"
        + f"Original-Mail-From: <{sender}>\nOriginal-Rcpt-To: <{rcpt}>\n"
        + f"Arrival-Date: {email.utils.formatdate(localtime=False)}\nSource-IP: 127.0.0.1\n"
        + f"Reported-Domain: {_domain(sender)}\n\n"
        + f"--{boundary}\nContent-Type: message/rfc822\nContent-Disposition: inline\n\n"
        + original.replace(b"\r\n", b"\n").decode("utf-8", "replace").rstrip("\n")
        + f"\n\n--{boundary}--\n"
    ).encode()


def _thread_headers(message: EmailMessage) -> str:
    message_id = str(message["Message-ID"] or "").strip()
    if not message_id:
        return ""
    references = " ".join([str(message["References"] or "").strip(), message_id]).strip()
    return f"In-Reply-To: {message_id}\nReferences: {references}\n"


def _re(subject: str, prefix: str) -> str:
    return subject if subject.lower().startswith(prefix.lower()) else f"{prefix}{subject}"


def build_auto_reply(original: bytes, *, sender: str, rcpt: str, hostname: str) -> bytes:
    """An RFC 3834 out-of-office answer from `rcpt` to `sender`."""
    message = _parse(original)
    head = _common(_re(str(message["Subject"] or ""), "Out of Office: "), rcpt, sender, hostname)
    return (
        head
        + _thread_headers(message)
        + "Auto-Submitted: auto-replied\nX-Autoreply: yes\nPrecedence: auto_reply\n"
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + OOO_TEXT
        + "\n"
    ).encode()


def build_reply(original: bytes, *, sender: str, rcpt: str, hostname: str) -> bytes:
    """A person's reply from `rcpt`: a short text above the quoted original."""
    message = _parse(original)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    quoted = "\n".join(f"> {line}" if line else ">" for line in str(text).rstrip("\n").splitlines())
    head = _common(_re(str(message["Subject"] or ""), "Re: "), rcpt, sender, hostname)
    written = str(message["Date"] or email.utils.formatdate(localtime=False))
    return (
        head
        + _thread_headers(message)
        + "Content-Type: text/plain; charset=utf-8\n\n"
        + f"{REPLY_TEXT}\n\nOn {written}, {message['From'] or sender} wrote:\n{quoted}\n"
    ).encode()


BUILDERS: dict[str, Callable[..., bytes]] = {
    "bounce": build_bounce,
    "complaint": build_complaint,
    "auto-reply": build_auto_reply,
    "reply": build_reply,
}
# Delivery status notifications and auto-replies go out with the null envelope sender (RFC 3464, 3834).
NULL_SENDER = {"bounce", "auto-reply"}


class LateMail:
    """Schedules late messages and delivers them over LMTP to `lmtp` (host, port); None drops them."""

    def __init__(self, lmtp: tuple[str, int] | None, *, delay: float = DEFAULT_DELAY, hostname: str) -> None:
        self.lmtp = lmtp
        self.delay = delay
        self.hostname = hostname
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, *, inbox: str, sender: str, rcpt: str, original: bytes) -> str | None:
        """When `rcpt` asks for a late effect, deliver it to `inbox` after the delay; returns the kind."""
        kind = late_kind(rcpt)
        if kind is None:
            return None
        task = asyncio.get_running_loop().create_task(self._later(kind, inbox, sender, rcpt, original))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("Scheduled late message kind=%s rcpt=%s inbox=%s delay=%.1f", kind, rcpt, inbox, self.delay)
        return kind

    async def _later(self, kind: str, inbox: str, sender: str, rcpt: str, original: bytes) -> None:
        try:
            await asyncio.sleep(self.delay)
            raw = BUILDERS[kind](original, sender=sender or inbox, rcpt=rcpt, hostname=self.hostname)
            envelope_sender = "" if kind in NULL_SENDER else rcpt
            await asyncio.to_thread(self.deliver, inbox, raw, envelope_sender)
            log.info("Delivered late message kind=%s rcpt=%s inbox=%s", kind, rcpt, inbox)
        except Exception as error:  # a late message never takes the sink down
            log.warning("Dropped late message kind=%s rcpt=%s inbox=%s error=%s", kind, rcpt, inbox, error)

    def deliver(self, inbox: str, raw: bytes, envelope_sender: str) -> None:
        if self.lmtp is None:
            raise RuntimeError("no IMAP server configured (--late-lmtp)")
        if not inbox:
            raise RuntimeError("no inbox: the submission was neither authenticated nor had a sender")
        host, port = self.lmtp
        with smtplib.LMTP(host, port, timeout=30) as lmtp:
            lmtp.sendmail(envelope_sender, [inbox], raw.replace(b"\n", b"\r\n"))

    async def drain(self) -> None:
        """Wait for every scheduled message (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

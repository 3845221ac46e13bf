"""Inbox messages as providers deliver them, for the ingester's tests: an RFC 3464 bounce and a human
reply that name the original's Message-ID, and an ARF complaint."""

from __future__ import annotations

import uuid


def dsn(recipient: str, original_message_id: str, status: str = "5.1.1") -> bytes:
    """A Postfix-style RFC 3464 delivery status notification from MAILER-DAEMON."""
    boundary = uuid.uuid4().hex
    return (
        f"From: MAILER-DAEMON@mx.good.test (Mail Delivery System)\r\n"
        f"To: sender@acme-outreach.test\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.good.test>\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.good.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: failed\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/rfc822-headers\r\n\r\n"
        f"From: sender@acme-outreach.test\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Hello\r\n"
        f"Message-ID: {original_message_id}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def human_reply(author: str, original_message_id: str, text: str = "Thanks, tell me more.") -> bytes:
    return (
        f"From: {author}\r\n"
        f"To: sender@acme-outreach.test\r\n"
        f"Subject: Re: Hello\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@good.test>\r\n"
        f"In-Reply-To: {original_message_id}\r\n"
        f"References: {original_message_id}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n\r\n> Hi there\r\n"
    ).encode()

"""A Mailbox's InboxReady condition from what the pool's ingester last said of its inbox (the row's
inbox_state, written by pot_ingester.inbox); pure, called by pot_operator.mailbox.plan."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pot_operator.conditions import rfc3339


@dataclasses.dataclass(frozen=True)
class InboxVerdict:
    """The ingester's last word on the inbox, from the mailbox row: 'reading', 'login_refused',
    'plaintext_refused' or 'failing'; the server's words (never a secret) and since when."""

    state: str
    error: str | None = None
    since: dt.datetime | None = None


def inbox_verdict(
    endpoint: str | None, smtp_host: str, db_state: str, read: InboxVerdict | None
) -> tuple[bool | str, str, str]:
    """InboxReady's (status, reason, message): whether the pool's ingester knows where the inbox is
    (`endpoint`), reads it (it skips a paused mailbox and one whose credentials the SMTP server refused:
    the row's `db_state`), and what it last said of it (`read`). The SMTP side is not judged here."""
    if endpoint is None:
        return (
            False,
            "ImapHostUnknown",
            f"POT knows no IMAP server for SMTP host {smtp_host}: set spec.imap.host",
        )
    if db_state in ("paused", "credentials_bad"):
        why = "is paused" if db_state == "paused" else "has credentials the SMTP server refused"
        return False, "NotRead", f"The ingester does not read {endpoint} while the mailbox {why}"
    if read is None:
        return "Unknown", "NotReadYet", f"The ingester has not read {endpoint} yet"
    since = f" since {rfc3339(read.since)}" if read.since else ""
    if read.state == "reading":
        return True, "Reading", f"The ingester reads {endpoint}{since}"
    words = f" ({read.error})" if read.error else ""
    if read.state == "login_refused":
        return False, "LoginRefused", f"The IMAP server {endpoint} refused the login{words}{since}"
    if read.state == "plaintext_refused":
        return (
            False,
            "PlaintextRefused",
            f"The ingester may not log in to {endpoint} without TLS{words}{since}",
        )
    return False, "InboxFailing", f"Reading {endpoint} keeps failing{words}{since}"

"""Delivery failure facts from codes and wording: the enhanced status in a text, its reason word and hardness.

Shared by the DSN reader (Status and Diagnostic-Code fields) and the readers of non-standard bounces
(their prose), so one failure gets the same reason and hardness whatever format carried it.
"""

from __future__ import annotations

import re

# A failure's facts are in the first lines of a diagnostic; the wording patterns (long alternations) read
# no further, so a huge body costs what a normal one does.
WINDOW = 8192

# "550 5.1.1", "550-5.1.1", "#550 5.1.10", "(#5.1.1)" (qmail), or a bare "5.7.26". The look-arounds keep
# "203.0.5.1.1"-like runs and version numbers in dotted strings from passing for a status.
_STATUS = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
_REPLY_STATUS = re.compile(r"(?<!\d)([245])\d\d[ -]{1,3}#?([245]\.\d{1,3}\.\d{1,3})(?!\d|\.\d)")
_QMAIL_STATUS = re.compile(r"\(#([245]\.\d{1,3}\.\d{1,3})\)")
_REPLY_CODE = re.compile(r"(?<![\w.#-])([45])[0-5]\d(?=[ -]|$)", re.M)

# Reason words by the status's subject.detail, where the code alone says what happened.
_BY_CODE = {
    "1.1": "no-such-user",
    "1.10": "no-such-user",  # Exchange's RecipientNotFound
    "1.6": "no-such-user",  # mailbox moved, no forwarding address
    "1.3": "bad-address",
    "1.2": "bad-domain",
    "4.4": "bad-domain",  # no answer from the domain's DNS / no route
    "2.1": "mailbox-disabled",
    "2.2": "mailbox-full",
    "2.3": "message-too-large",
    "3.4": "message-too-large",
    "4.7": "expired",
}
# When the code is generic (5.0.0, 5.5.0, ...), the wording decides. First match wins; the patterns are
# plain alternations of literals (no nested quantifiers), so their cost is linear in the text.
_WORDING: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "expired",  # the MTA gave up after temporary failures: the address itself may be fine
        re.compile(
            r"retry timeout exceeded|retry time not reached for any host|delivery time expired|"
            r"message expired|too long in (?:the )?queue|queue lifetime|could not be delivered within",
            re.I,
        ),
    ),
    (
        "mailbox-full",
        re.compile(
            r"mailbox (?:is )?full|over (?:the )?(?:allowed )?quota|quota exceeded|exceeded storage|"
            r"insufficient (?:system )?storage|mailfolder is over|mailbox size limit|QuotaExceeded",
            re.I,
        ),
    ),
    (
        "mailbox-disabled",
        re.compile(
            r"mailbox (?:is )?(?:disabled|inactive|suspended)|account (?:is )?(?:disabled|inactive|"
            r"suspended|deactivated)|account has been disabled",
            re.I,
        ),
    ),
    (
        "bad-domain",
        re.compile(
            r"host (?:or domain name )?not found|domain (?:name )?not found|host unknown|"
            r"name service error|NXDOMAIN|unrouteable address|no mx (?:record|host)|"
            r"unrouteable (?:domain|mail domain)|"
            r"domain (?:does not|doesn'?t) exist|mx records point to non-existent|"
            r"no valid (?:mx|hosts)|domain not exist|dns error",
            re.I,
        ),
    ),
    (
        "no-such-user",
        re.compile(
            r"user unknown|unknown user|no such user|no such (?:mailbox|recipient)|does not exist|"
            r"doesn'?t exist|doesn'?t have an? [\w.-]{1,60} account|recipient not found|"
            r"RecipientNotFound|ExRecipNotFound|address not found|couldn'?t be found|invalid recipient|"
            r"recipient (?:address )?rejected|no mailbox here|mailbox unavailable|mailbox not found|"
            r"unknown (?:or illegal )?(?:alias|recipient|local.part)|not a valid (?:mailbox|recipient)|"
            r"address (?:is )?(?:unknown|invalid)|no longer (?:valid|available|in use)|"
            r"invalid mailbox|undeliverable address",
            re.I,
        ),
    ),
    (
        "network",
        re.compile(
            r"connection (?:timed out|refused)|timed out|could not connect|network is unreachable",
            re.I,
        ),
    ),
    (
        "policy",
        re.compile(
            r"block ?list|blacklist|spamhaus|prohibit|\bspam\b|unsolicited|policy|blocked|access denied|"
            r"not authori[sz]ed|reputation|dmarc|rejected due to|refused|\bTSS\d\d\b|user complaints",
            re.I,
        ),
    ),
    ("message-too-large", re.compile(r"message (?:size )?(?:too large|too big|exceeds)", re.I)),
)
_BY_SUBJECT = {
    "1": "no-such-user",
    "2": "mailbox",
    "3": "system",
    "4": "network",
    "5": "protocol",
    "6": "content",
    "7": "policy",
}
HARD_REASONS = frozenset(
    {"no-such-user", "bad-address", "bad-domain", "mailbox-disabled", "policy", "message-too-large"}
)
_PERMANENT = re.compile(
    r"permanent(?:ly)? (?:error|failure|fatal)|failed permanently|permanent fatal|given up|"
    r"giving up|this is a permanent error",
    re.I,
)
_TEMPORARY = re.compile(
    r"temporar(?:y|ily)|will (?:retry|continue trying|try again|keep trying)|still (?:being )?retried|"
    r"not yet been delivered|delayed|delivery incomplete|deferred",
    re.I,
)


def status_in(text: str) -> str | None:
    """The enhanced status a diagnostic text gives, preferring one that follows an SMTP reply code."""
    text = text[:WINDOW]
    match = _REPLY_STATUS.search(text)
    if match and match.group(1) == match.group(2)[0]:
        return match.group(2)
    match = _QMAIL_STATUS.search(text)
    if match:
        return match.group(1)
    match = _STATUS.search(text)
    return match.group(0) if match else None


def reply_class(text: str) -> str | None:
    """ "5" or "4" from a basic SMTP reply code (554, 452) in the text, when no enhanced status is given."""
    match = _REPLY_CODE.search(text[:WINDOW])
    return match.group(1) if match else None


def better_status(field: str | None, diagnostic: str) -> str | None:
    """A DSN's Status, unless it is generic (x.0.0) and the diagnostic names a specific one of its class."""
    found = status_in(diagnostic) if diagnostic else None
    if field is None:
        return found
    if found and field.endswith(".0.0") and found[0] == field[0]:
        return found
    return field


def reason_for(status: str | None, *texts: str) -> str:
    """The one-word reason for a failure with this status and wording (texts in order of trust)."""
    if status:
        subject_detail = status.split(".", 1)[1]
        if subject_detail in _BY_CODE:
            return _BY_CODE[subject_detail]
        if subject_detail.startswith("7."):
            return "policy"
    for text in (t[:WINDOW] for t in texts):
        for reason, pattern in _WORDING:
            if text and pattern.search(text):
                return reason
    if status:
        subject = status.split(".")[1]
        return _BY_SUBJECT.get(subject, "unknown")
    return "unknown"


def is_hard(status: str | None, reason: str, text: str) -> bool:
    """Permanent failure: a 5.x.x status (a full mailbox excepted), else a 5xx reply or hard wording."""
    if reason in ("mailbox-full", "delayed", "expired"):
        return False
    text = text[:WINDOW]
    if status:
        return status.startswith("5")
    basic = reply_class(text)
    if basic:
        return basic == "5"
    if _TEMPORARY.search(text) and not _PERMANENT.search(text):
        return False
    return reason in HARD_REASONS or _PERMANENT.search(text) is not None


def sounds_temporary(text: str) -> bool:
    text = text[:WINDOW]
    return _TEMPORARY.search(text) is not None and _PERMANENT.search(text) is None

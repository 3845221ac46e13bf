"""Human replies → a reply Verdict, and whether the reply's own words ask to stop (unsubscribe-by-reply).

Called by core.classify last, once the message is none of bounce, complaint or auto-reply. Only the
new text counts: the quoted original below it carries our own footer ("reply STOP to opt out"), which
must not read as the recipient's request.
"""

from __future__ import annotations

import re
from email.message import Message

from pot_feedback.classify import mime
from pot_feedback.classify.verdict import Verdict

_RE_SUBJECT = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|odp|r|rif|ynt|atb|res|ref|réf|ha|回复|答复)\s*(?:\[\d{1,3}\])?\s*[:\uff1a]",
    re.I,
)
# Lines where the quoted original starts, in the common clients and languages. Only [ \t] around them:
# a \s could run across lines and make a page of blank lines quadratic.
_QUOTE_START = re.compile(
    r"^[ \t]*(?:>|_{10,}[ \t]*$|"
    r"-{2,}[ \t]*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|oorspronkelijk bericht|forwarded message)|"
    r"(?:on|am|le|el|il|op)\b.{0,200}\b(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef)\b"
    r".{0,100}:[ \t]*$|"
    r"(?:from|von|de|van|da|från|fra|od):[ \t].{0,200}$)",
    re.I | re.M,
)
_STOP = re.compile(
    r"unsubscribe|unsuscribe|remove me|remove my (?:e-?mail|address|name)|take me off|"
    r"(?:^|\W)stop(?:\W{0,3}$| (?:e-?mailing|sending|contacting|messaging|writing to|spamming))|"
    r"do not (?:e-?mail|contact|write to|message)|don'?t (?:e-?mail|contact|write to|message) me|"
    r"\bopt(?:\s|-)?(?:me )?out\b|no more e-?mails|not interested,? (?:please )?remove|"
    r"delete (?:me|my (?:e-?mail|address|data))|off (?:of )?your (?:mailing )?list|"
    r"abmelden|austragen|aus (?:ihrem|dem) verteiler|keine (?:weiteren )?e-?mails|"
    r"abbestellen|désabonner|desabonner|désinscri|desinscri|ne plus recevoir|"
    r"(?:dame|darme|dar|darse|denme|den) de baja|cancelar (?:la )?suscripci|descadastr|"
    r"cancella(?:re)? (?:la )?iscrizione|cancellatemi|rimuovetemi|afmelden|uitschrijven",
    re.I | re.M,
)


def new_text(text: str) -> str:
    """The reply's own text: everything above the first line where the quoted original starts."""
    match = _QUOTE_START.search(text[: mime.MAX_TEXT])
    return text[: match.start()] if match else text[:8000]


def asks_to_stop(text: str) -> bool:
    """Whether the reply's own words ask to be removed, unsubscribed or not contacted again."""
    return _STOP.search(new_text(text)[:8000]) is not None


def is_reply(msg: Message, subject: str) -> bool:
    """In a thread, or a reply subject on a message that is not a mailing ("Re: your order" promotions)."""
    if mime.header(msg, "In-Reply-To") or mime.header(msg, "References"):
        return True
    mailing = bool(mime.header(msg, "List-Unsubscribe") or mime.header(msg, "List-Id")) or mime.header(
        msg, "Precedence"
    ).lower() in ("bulk", "list", "junk")
    return not mailing and _RE_SUBJECT.search(subject) is not None


def classify_reply(msg: Message, subject: str, text: str, references: tuple[str, ...]) -> Verdict | None:
    """A reply Verdict, or None for a message that answers nothing (a newsletter, a new thread)."""
    recipient = mime.first_address(mime.header(msg, "From"))
    replying = is_reply(msg, subject)
    # An unsubscribe mail (a List-Unsubscribe mailto: link, or someone writing "unsubscribe" fresh) is
    # a request to stop even without a thread: its subject or first words say it.
    bare = re.match(r"\s*(?:unsubscribe|remove|stop|opt.?out)\b", subject, re.I) is not None
    if not replying and not bare:
        return None
    stop = bare or asks_to_stop(text) or (not text.strip() and _STOP.search(subject) is not None)
    reason = "unsubscribe-request" if stop else "human-reply"
    return Verdict("reply", None, False, reason, recipient, references, unsubscribe=stop)

"""SMTP for the email checker: the port test, one session to an MX host, and what an RCPT reply means.

Called by scheduler.py (sessions) and checker.py (the port test). A session connects to the host's
addresses in turn, says EHLO, takes STARTTLS when offered, sends MAIL FROM:<> and then one RCPT TO per
address it is given, and QUIT; never DATA, so nothing can be delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl

import aiosmtplib

from pot_deliverability import mx
from pot_deliverability.dns import Resolver
from pot_deliverability.emailcheck.model import CheckerSettings, Verdict

# Texts servers use for a full mailbox when their code says no more than "try later" or "rejected".
_FULL = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |its )?(?:storage|quota)"
    r"|mailbox size limit|insufficient (?:user )?storage|user is over|out of storage",
    re.IGNORECASE,
)


def enhanced_code(message: str) -> str:
    """The RFC 3463 enhanced status code a reply text starts with, or ""."""
    first = message.split(" ", 1)[0]
    return first if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", first) else ""


def mailbox_full(code: int, message: str) -> bool:
    """4.2.2/5.2.2, a bare 552, or a reply text that says so, whatever the code."""
    enhanced = enhanced_code(message)
    return enhanced in ("4.2.2", "5.2.2") or (code == 552 and not enhanced) or bool(_FULL.search(message))


def too_many_recipients(code: int, message: str) -> bool:
    """RFC 5321 §4.5.3.1.10: 452 (4.5.3) ends the transaction's recipients, not this address."""
    return code == 452 and (enhanced_code(message) == "4.5.3" or "too many" in message.lower())


def classify_rcpt(code: int, message: str) -> tuple[Verdict, str]:
    """What an RCPT reply says about the mailbox (a full mailbox first, then RFC 3463 enhanced codes,
    then the basic code)."""
    enhanced = enhanced_code(message)
    if code in (250, 251):
        return Verdict.VALID, "mailbox accepted the recipient"
    if 400 <= code < 600 and mailbox_full(code, message):
        return Verdict.RISKY, "mailbox full"
    if 400 <= code < 500:
        return Verdict.UNKNOWN, "temporary failure"
    if enhanced.startswith("5.1.") or (code in (550, 551, 553) and not enhanced):
        return Verdict.INVALID, "mailbox does not exist"
    if enhanced.startswith("5.7."):
        return Verdict.UNKNOWN, "the server refused the probe by policy"
    return Verdict.INVALID, "recipient rejected"


def reply_text(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


class NoConnection(Exception):
    """No address of the host could be talked to; the message says why for each."""


class Refused(Exception):
    """The server refused MAIL FROM:<>: its reply stands for every address of the session."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(reply_text(code, message))
        self.code = code
        self.message = message


async def connects(host: str, port: int, resolver: Resolver, wait_s: float, errors: list[str]) -> bool:
    """True when one of the host's addresses accepts a TCP connection; failures go to `errors`."""
    addresses = await mx.host_addresses(host, resolver)
    if not addresses:
        errors.append(f"{host}: no address")
    for ip in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), wait_s)
        except (OSError, TimeoutError) as exc:
            errors.append(f"{host} ({ip}): {exc.__class__.__name__}: {exc}".rstrip(": "))
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


def _opportunistic_tls() -> ssl.SSLContext:
    """STARTTLS as MTAs use it between themselves (RFC 7435): encrypt, accept any certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


SmtpErrors = (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError)


class Session:
    """One SMTP session with one MX host, opened by `open` and ended by `close`."""

    def __init__(self, settings: CheckerSettings) -> None:
        self.settings = settings
        self.smtp: aiosmtplib.SMTP | None = None
        self.tls = False
        self.tried_tls = False

    async def open(self, host: str, addresses: list[str], *, starttls: bool = True) -> None:
        """Connect to the first address that answers and start the mail transaction.

        Raises NoConnection when none answers or all refuse us in their greeting, Refused when the
        server refuses the null sender, and the SMTP errors (SmtpErrors) when the session breaks.
        """
        self.tls = self.tried_tls = False
        errors = [] if addresses else [f"{host}: no address"]
        for ip in addresses:
            smtp = aiosmtplib.SMTP(
                hostname=ip,
                port=self.settings.probe_port,
                timeout=self.settings.timeout_s,
                local_hostname=self.settings.helo_name,
                start_tls=False,
            )
            try:
                await smtp.connect()
            except SmtpErrors as exc:  # a 554 greeting too: it refuses us, and says nothing of the mailbox
                errors.append(f"{host} ({ip}): {exc}")
                continue
            self.smtp = smtp
            break
        if self.smtp is None:
            raise NoConnection("; ".join(errors))
        smtp = self.smtp
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()  # an old server: no extensions, so no STARTTLS either
        if starttls and self.settings.starttls and smtp.supports_extension("starttls"):
            self.tried_tls = True
            await smtp.starttls(tls_context=_opportunistic_tls())
            self.tls = True
        try:
            await smtp.mail(self.settings.mail_from)
        except aiosmtplib.SMTPSenderRefused as exc:
            raise Refused(exc.code, exc.message) from None

    async def rcpt(self, address: str) -> tuple[int, str]:
        assert self.smtp is not None
        response = await self.smtp.execute_command(b"RCPT", b"TO:<" + address.encode() + b">")
        return response.code, response.message

    async def close(self) -> None:
        if self.smtp is None:
            return
        with contextlib.suppress(*SmtpErrors):
            await self.smtp.quit()
        self.smtp.close()
        self.smtp = None

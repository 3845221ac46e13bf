"""SMTP probing for the email checker: the port test, one RCPT session per address, catch-all, replies.

Called by checker.py. A session sends EHLO, MAIL FROM, RCPT TO (and one random RCPT per domain for
catch-all) and QUIT; never DATA.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import aiosmtplib
from pot_common.addresses import Syntax

from pot_deliverability import mx
from pot_deliverability.dns import Resolver
from pot_deliverability.emailcheck.model import CheckerSettings, Verdict


def classify_rcpt(code: int, message: str) -> tuple[Verdict, str]:
    """What an RCPT reply says about the mailbox (RFC 3463 enhanced codes first, then the basic code)."""
    enhanced = message.split(" ", 1)[0] if message[:2] in ("4.", "5.") else ""
    if code in (250, 251):
        return Verdict.VALID, "mailbox accepted the recipient"
    if 400 <= code < 500:
        return Verdict.UNKNOWN, "temporary failure"
    if enhanced.startswith("5.1.") or (code in (550, 551, 553) and not enhanced):
        return Verdict.INVALID, "mailbox does not exist"
    if enhanced.startswith("5.2.2") or code == 552:
        return Verdict.RISKY, "mailbox full"
    if enhanced.startswith("5.7."):
        return Verdict.UNKNOWN, "the server refused the probe by policy"
    return Verdict.INVALID, "recipient rejected"


def reply_text(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


class NoConnection(Exception):
    """No MX of the domain could be talked to; the message lists each host's failure."""


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


class Prober:
    """RCPT probes for one checker run; caches MX host addresses and each domain's catch-all answer."""

    def __init__(self, resolver: Resolver, settings: CheckerSettings) -> None:
        self.resolver = resolver
        self.settings = settings
        self._catch_all: dict[str, asyncio.Future[bool]] = {}
        self._hosts: dict[str, asyncio.Future[list[str]]] = {}

    async def probe(self, syntax: Syntax, exchange: mx.MxResult) -> tuple[int, str, bool]:
        """One SMTP session at the first MX address that answers: (RCPT code, message, catch-all)."""
        errors = []
        for host in exchange.hosts:
            for ip in await self._addresses(host):
                smtp = aiosmtplib.SMTP(
                    hostname=ip,
                    port=self.settings.probe_port,
                    timeout=self.settings.timeout_s,
                    local_hostname=self.settings.helo_name,
                    start_tls=False,
                )
                try:
                    await smtp.connect()
                except (aiosmtplib.SMTPException, OSError) as exc:
                    errors.append(f"{host} ({ip}): {exc}")
                    continue
                try:
                    return await self._session(smtp, syntax)
                except (aiosmtplib.SMTPException, OSError) as exc:
                    errors.append(f"{host} ({ip}): {exc}")
                finally:
                    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                        await smtp.quit()
                    smtp.close()
        raise NoConnection(
            f"could not talk to any MX on port {self.settings.probe_port}: "
            + "; ".join(errors or ["no address"])
        )

    async def _addresses(self, host: str) -> list[str]:
        """MX host addresses, looked up once per run: keeps DNS out of the gap the pacer measures."""
        if host not in self._hosts:
            self._hosts[host] = asyncio.ensure_future(mx.host_addresses(host, self.resolver))
        return await asyncio.shield(self._hosts[host])

    async def _session(self, smtp: aiosmtplib.SMTP, syntax: Syntax) -> tuple[int, str, bool]:
        try:
            await smtp.mail(self.settings.mail_from)
        except aiosmtplib.SMTPSenderRefused as exc:
            return exc.code, exc.message, False
        response = await smtp.execute_command(b"RCPT", b"TO:<" + syntax.normalized.encode() + b">")
        if response.code not in (250, 251) or not self.settings.catch_all_check:
            return response.code, response.message, False
        return response.code, response.message, await self._is_catch_all(smtp, syntax.domain)

    async def _is_catch_all(self, smtp: aiosmtplib.SMTP, domain: str) -> bool:
        """Once per domain: does it accept a local part nobody has? Other probes wait for the answer."""
        if domain in self._catch_all:
            return await asyncio.shield(self._catch_all[domain])
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._catch_all[domain] = future
        try:
            probe = f"pot-nobody-{secrets.token_hex(6)}@{domain}"
            response = await smtp.execute_command(b"RCPT", b"TO:<" + probe.encode() + b">")
            future.set_result(response.code in (250, 251))
        except BaseException:
            del self._catch_all[domain]  # let the next probe of this domain try again
            future.cancel()
            raise
        return future.result()

"""The email address checker (syntax, MX, SMTP RCPT probe, catch-all); for potctl check-emails and lists.

Results are `valid`, `invalid`, `risky` (catch-all, role account, disposable domain, full mailbox) or
`unknown` (the honest answer when a server will not say), each with its reason and the SMTP reply.
Probes never send DATA (probe.py); politeness per recipient domain is pacing.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable

from pot_common.addresses import Syntax, check_syntax

from pot_deliverability import mx
from pot_deliverability.dns import DnsTemporaryError, Resolver
from pot_deliverability.emailcheck.model import CheckerSettings, EmailResult, Mode, Verdict
from pot_deliverability.emailcheck.pacing import Politeness, as_finished
from pot_deliverability.emailcheck.probe import NoConnection, Prober, classify_rcpt, connects, reply_text


class EmailChecker:
    """Checks addresses with the politeness limits; one instance per run (it caches MX and catch-all)."""

    def __init__(self, resolver: Resolver, settings: CheckerSettings | None = None) -> None:
        self.resolver = resolver
        self.settings = settings or CheckerSettings()
        self.mode = self.settings.mode
        self.notice = ""  # what `auto` decided and why, for the person running the check
        self.politeness = Politeness(
            self.settings.per_domain_concurrency, self.settings.per_domain_interval_s
        )
        self.prober = Prober(resolver, self.settings)
        self._mx: dict[str, asyncio.Task[mx.MxResult]] = {}
        self._mode_lock = asyncio.Lock()
        self._mode_decided = self.mode is not Mode.AUTO

    async def check(self, address: str, line: int = 0) -> EmailResult:
        try:
            return await self._check(address, line)
        except DnsTemporaryError as exc:
            return EmailResult(
                address, Verdict.UNKNOWN, f"DNS did not answer: {exc}", mode=self.mode, line=line
            )

    async def _check(self, address: str, line: int) -> EmailResult:
        syntax = check_syntax(address, allow_test_domains=self.settings.allow_test_domains)

        def result(verdict: Verdict, reason: str, reply: str = "") -> EmailResult:
            return EmailResult(address, verdict, reason, syntax.normalized, reply, self.mode.value, line)

        if not syntax.ok:
            return result(Verdict.INVALID, syntax.reason)
        risk = self._static_risk(syntax)
        if self.mode is Mode.SYNTAX:
            return result(Verdict.RISKY, risk) if risk else result(Verdict.VALID, "syntax ok (not probed)")
        exchange = await self._lookup_mx(syntax.domain)
        if exchange.status is mx.MxStatus.NXDOMAIN:
            return result(Verdict.INVALID, f"domain {syntax.domain} does not exist")
        if exchange.status is mx.MxStatus.NULL_MX:
            return result(Verdict.INVALID, f"domain {syntax.domain} accepts no mail (null MX, RFC 7505)")
        if exchange.status is mx.MxStatus.NONE:
            return result(Verdict.INVALID, f"domain {syntax.domain} has no MX or address records")
        await self._decide_mode(exchange)
        if self.mode is not Mode.SMTP:
            suffix = f"; {self.notice}" if self.notice else ""
            if risk:
                return result(Verdict.RISKY, f"{risk}; MX ok, mailbox not probed{suffix}")
            return result(Verdict.VALID, f"MX ok ({exchange.hosts[0]}), mailbox not probed{suffix}")
        return await self._probe_with_retries(syntax, exchange, risk, result)

    def _static_risk(self, syntax: Syntax) -> str:
        if syntax.domain in self.settings.disposable_domains:
            return "disposable domain"
        if syntax.local.lower() in self.settings.role_local_parts:
            return "role account"
        return ""

    async def _lookup_mx(self, domain: str) -> mx.MxResult:
        if domain not in self._mx:
            self._mx[domain] = asyncio.ensure_future(mx.lookup_mx(domain, self.resolver))
        return await asyncio.shield(self._mx[domain])

    async def _decide_mode(self, exchange: mx.MxResult) -> None:
        """`auto`: a connect test on the probe port, to each MX host of the first domain met (or to
        `connect_test_host`) in preference order until one answers; when none does, the whole run falls
        back to format+mx."""
        if self._mode_decided:
            return
        async with self._mode_lock:
            if self._mode_decided:
                return
            hosts = [self.settings.connect_test_host] if self.settings.connect_test_host else exchange.hosts
            port = self.settings.probe_port
            errors: list[str] = []
            self.mode = Mode.FORMAT_MX
            for host in hosts:
                if await connects(host, port, self.resolver, self.settings.connect_test_timeout_s, errors):
                    self.mode = Mode.SMTP
                    break
            self.notice = (
                ""
                if self.mode is Mode.SMTP
                else f"outbound port {port} looks blocked (no MX answered: {'; '.join(errors)}); "
                "fell back to format+mx"
            )
            self._mode_decided = True

    async def _probe_with_retries(
        self, syntax: Syntax, exchange: mx.MxResult, risk: str, result: Callable[..., EmailResult]
    ) -> EmailResult:
        attempts = 1 + self.settings.greylist_retries
        reply = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.settings.greylist_delay_s)  # greylisting wants a later retry
            try:
                async with self.politeness.turn(syntax.domain):
                    code, message, catch_all = await self.prober.probe(syntax, exchange)
            except NoConnection as exc:
                return result(Verdict.UNKNOWN, str(exc))
            reply = reply_text(code, message)
            verdict, why = classify_rcpt(code, message)
            if verdict is Verdict.VALID:
                if catch_all:
                    return result(Verdict.RISKY, "catch-all domain: it accepts any address", reply)
                if risk:
                    return result(Verdict.RISKY, f"{risk}; {why}", reply)
                return result(Verdict.VALID, why, reply)
            if not 400 <= code < 500:
                return result(verdict, why, reply)
        return result(Verdict.UNKNOWN, f"temporary failure after {attempts} attempts (greylisting?)", reply)

    def check_many(self, rows: Iterable[tuple[int, str]]) -> AsyncIterator[EmailResult]:
        """Results as they finish (not in input order), at most `global_concurrency` at once."""

        async def check_row(row: tuple[int, str]) -> EmailResult:
            return await self.check(row[1], row[0])

        return as_finished(rows, check_row, self.settings.global_concurrency)

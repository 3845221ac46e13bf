"""The email address checker (syntax, MX, SMTP RCPT probe, catch-all); for potctl check-emails and lists.

Results are `valid`, `invalid`, `risky` (catch-all, role account, disposable domain, full mailbox) or
`unknown` (the honest answer when a server will not say), each with its reason, the SMTP reply and the
address's flags (free provider, role, disposable, a typo suggestion). Addresses stream through: at
most `window` are held at once however long the input is. Probing is scheduler.py's, the SMTP itself
probe.py's, the port question in auto mode portcheck.py's.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

from pot_common.addresses import Syntax, check_syntax

from pot_deliverability import mx
from pot_deliverability.dns import DnsTemporaryError, Resolver
from pot_deliverability.emailcheck import flags
from pot_deliverability.emailcheck.model import CheckerSettings, EmailResult, Mode, Verdict
from pot_deliverability.emailcheck.portcheck import PortDecision
from pot_deliverability.emailcheck.scheduler import Scheduler

MX_CACHE = 100_000  # domains whose MX answer is kept for the run (the most recently used ones)

Row = tuple[int, str] | EmailResult  # (line, address) to check, or a result known already (a resume)


class EmailChecker:
    """Checks addresses with the politeness limits; one instance per run (it caches MX and catch-all)."""

    def __init__(self, resolver: Resolver, settings: CheckerSettings | None = None) -> None:
        self.resolver = resolver
        self.settings = settings or CheckerSettings()
        self.mode = self.settings.mode
        self.notice = ""  # what `auto` decided and why, for the person running the check
        self.scheduler = Scheduler(self.settings, resolver)
        self.port = PortDecision(self.settings, resolver)
        self.port.on_decided = self._port_decided
        self._mx: OrderedDict[str, asyncio.Future[mx.MxResult]] = OrderedDict()
        self._dns: asyncio.Semaphore | None = None

    async def check(self, address: str, line: int = 0) -> EmailResult:
        (result,) = [r async for r in self.check_many([(line, address)])]
        return result

    async def check_many(self, rows: Iterable[Row], *, ordered: bool = False) -> AsyncIterator[EmailResult]:
        """A result for every row: as they finish, or with `ordered` in the rows' order. The rows are
        read as the window allows, so an input of any length takes the same memory."""
        window = asyncio.Semaphore(max(1, self.settings.window))
        # Results by their row's index; then the number of rows, or what stopped the rows coming.
        finished: asyncio.Queue[tuple[int, EmailResult] | int | BaseException] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()
        before_mx: set[asyncio.Future[None]] = set()  # rows whose domain has not been looked up yet

        async def settle(
            index: int, line: int, address: str, syntax: Syntax, looked_up: asyncio.Future[None]
        ) -> None:
            try:
                result = await self._check(address, line, syntax, looked_up)
            except Exception as exc:  # a bug must cost one row its answer, not the run
                if not looked_up.done():
                    looked_up.set_result(None)
                reason = f"checker error: {exc.__class__.__name__}: {exc}"
                result = EmailResult(address, Verdict.UNKNOWN, reason, mode=self.mode.value, line=line)
            finished.put_nowait((index, result))

        async def pump() -> None:
            try:
                finished.put_nowait(await take_in())
            except BaseException as exc:  # the input failed (a read error): the run ends with it
                finished.put_nowait(exc)
                raise

        async def take_in() -> int:
            count = 0
            for row in rows:
                if window.locked():
                    self.port.no_more_domains()  # nothing more comes in until something goes out
                await window.acquire()
                if isinstance(row, EmailResult):
                    finished.put_nowait((count, row))
                else:
                    line, address = row
                    early = self._offline(address, line)
                    if isinstance(early, EmailResult):
                        finished.put_nowait((count, early))
                    else:
                        looked_up = asyncio.get_running_loop().create_future()
                        before_mx.add(looked_up)
                        looked_up.add_done_callback(before_mx.discard)
                        task = asyncio.create_task(settle(count, line, address, early, looked_up))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                count += 1
                if count % 512 == 0:
                    await asyncio.sleep(0)  # let results out while a long input comes in
            # Every domain of the input is known once every row is past its MX lookup.
            await asyncio.gather(*before_mx, return_exceptions=True)
            self.port.no_more_domains()
            return count

        feeder = asyncio.create_task(pump())
        held: dict[int, EmailResult] = {}
        given = 0
        total: int | None = None
        try:
            while total is None or given < total:
                item = await finished.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, int):
                    total = item
                    continue
                index, result = item
                if not ordered:
                    given += 1
                    window.release()
                    yield result
                    continue
                held[index] = result
                while given in held:
                    window.release()
                    yield held.pop(given)
                    given += 1
            await feeder
        finally:  # the caller stopped reading, or the input failed: stop the rest
            feeder.cancel()
            for task in list(tasks):
                task.cancel()

    def _offline(self, address: str, line: int) -> EmailResult | Syntax:
        """The result when syntax alone decides it, else the parsed address to go on with."""
        syntax = check_syntax(address, allow_test_domains=self.settings.allow_test_domains)
        if not syntax.ok:
            return EmailResult(address, Verdict.INVALID, syntax.reason, "", "", self.mode.value, line)
        if self.mode is Mode.SYNTAX:
            risk = self._static_risk(syntax)
            return self._result(
                address,
                syntax,
                line,
                *((Verdict.RISKY, risk) if risk else (Verdict.VALID, "syntax ok (not probed)")),
            )
        return syntax

    def _result(
        self, address: str, syntax: Syntax, line: int, verdict: Verdict, reason: str, reply: str = ""
    ) -> EmailResult:
        domain = syntax.domain
        suggestion = flags.suggest_domain(domain)
        return EmailResult(
            address,
            verdict,
            reason,
            syntax.normalized,
            reply,
            self.mode.value,
            line,
            free=flags.is_free(domain),
            role=flags.is_role(syntax.local, self.settings.role_local_parts),
            disposable=flags.is_disposable(domain, self.settings.disposable_domains),
            suggestion=f"{syntax.local}@{suggestion}" if suggestion else "",
        )

    async def _check(
        self, address: str, line: int, syntax: Syntax, looked_up: asyncio.Future[None]
    ) -> EmailResult:
        def result(verdict: Verdict, reason: str, reply: str = "") -> EmailResult:
            return self._result(address, syntax, line, verdict, reason, reply)

        risk = self._static_risk(syntax)
        try:
            exchange = await self._lookup_mx(syntax.domain)
        except DnsTemporaryError as exc:
            return result(Verdict.UNKNOWN, f"DNS did not answer: {exc}")
        except ValueError as exc:
            return result(Verdict.INVALID, f"domain {syntax.domain} cannot be looked up: {exc}")
        finally:
            if not looked_up.done():
                looked_up.set_result(None)
        if exchange.status is mx.MxStatus.NXDOMAIN:
            return result(Verdict.INVALID, f"domain {syntax.domain} does not exist")
        if exchange.status is mx.MxStatus.NULL_MX:
            return result(Verdict.INVALID, f"domain {syntax.domain} accepts no mail (null MX, RFC 7505)")
        if exchange.status is mx.MxStatus.NONE:
            return result(Verdict.INVALID, f"domain {syntax.domain} has no MX or address records")
        if self.mode is Mode.AUTO:
            await self.port.decided()
        if self.mode is not Mode.SMTP:
            suffix = f"; {self.notice}" if self.notice else ""
            if risk:
                return result(Verdict.RISKY, f"{risk}; MX ok, mailbox not probed{suffix}")
            return result(Verdict.VALID, f"MX ok ({exchange.hosts[0]}), mailbox not probed{suffix}")
        outcome = await self.scheduler.probe(syntax, exchange.hosts)
        if outcome.verdict is Verdict.VALID:
            if outcome.catch_all:
                return result(Verdict.RISKY, "catch-all domain: it accepts any address", outcome.reply)
            if risk:
                return result(Verdict.RISKY, f"{risk}; {outcome.why}", outcome.reply)
        return result(outcome.verdict, outcome.why, outcome.reply)

    def _static_risk(self, syntax: Syntax) -> str:
        if flags.is_disposable(syntax.domain, self.settings.disposable_domains):
            return "disposable domain"
        if flags.is_role(syntax.local, self.settings.role_local_parts):
            return "role account"
        return ""

    async def _lookup_mx(self, domain: str) -> mx.MxResult:
        """Each domain's MX once per run; a domain with mail hosts is offered to the port decision."""
        future = self._mx.get(domain)
        if future is None:
            future = self._mx[domain] = asyncio.ensure_future(self._resolve_mx(domain))
            while len(self._mx) > MX_CACHE:
                self._mx.popitem(last=False)
        else:
            self._mx.move_to_end(domain)
        return await asyncio.shield(future)

    async def _resolve_mx(self, domain: str) -> mx.MxResult:
        if self._dns is None:
            self._dns = asyncio.Semaphore(self.settings.dns_concurrency)
        async with self._dns:
            exchange = await mx.lookup_mx(domain, self.resolver)
        if self.mode is Mode.AUTO and exchange.hosts:
            self.port.offer(domain, exchange.hosts)
        return exchange

    def _port_decided(self, open_: bool) -> None:
        """`auto` becomes smtp, or format+mx for the whole run with a notice saying why."""
        if self.mode is not Mode.AUTO:
            return
        if open_:
            self.mode = Mode.SMTP
            return
        self.mode = Mode.FORMAT_MX
        port = self.settings.probe_port
        self.notice = (
            f"outbound port {port} looks blocked (no MX answered: {'; '.join(self.port.errors)}); "
            "fell back to format+mx"
        )

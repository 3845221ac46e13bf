"""The email address checker (syntax, MX, SMTP RCPT probe, catch-all); for potctl check-emails and lists.

Results are `valid`, `invalid`, `risky` (catch-all, role account, disposable domain, full mailbox) or
`unknown` (the honest answer when a server will not say), each with its reason and the SMTP reply.
Probes never send DATA. Politeness per recipient domain: at most `per_domain_concurrency` connections
at once and at least `per_domain_interval_s` between connection starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosmtplib
import email_validator

from pot_deliverability import mx
from pot_deliverability.dns import DnsTemporaryError, Resolver

MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3 path limit (256) minus the angle brackets

ROLE_LOCAL_PARTS = frozenset(
    [
        "abuse",
        "admin",
        "billing",
        "contact",
        "help",
        "hostmaster",
        "info",
        "jobs",
        "mail",
        "marketing",
        "noc",
        "no-reply",
        "noreply",
        "office",
        "postmaster",
        "privacy",
        "sales",
        "security",
        "support",
        "team",
        "webmaster",
    ]
)
DISPOSABLE_DOMAINS = frozenset(
    [
        "mailinator.com",
        "guerrillamail.com",
        "10minutemail.com",
        "tempmail.com",
        "yopmail.com",
        "trashmail.com",
        "sharklasers.com",
        "getnada.com",
        "dispostable.com",
        "throwawaymail.com",
        "disposable.test",
    ]
)


class Mode(StrEnum):
    AUTO = "auto"  # SMTP when outbound probe port connects, else format+mx (and say so)
    SYNTAX = "syntax"  # offline
    FORMAT_MX = "format+mx"
    SMTP = "smtp"


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    RISKY = "risky"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class EmailResult:
    """One address's verdict; `line` is its line in the input (0 when it came from code)."""

    address: str
    result: Verdict
    reason: str
    normalized: str = ""
    smtp_reply: str = ""
    mode: str = ""
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "result": self.result.value}


@dataclass
class CheckerSettings:
    """How the checker probes; defaults are polite enough for real providers."""

    mode: Mode = Mode.AUTO
    probe_port: int = field(default_factory=lambda: int(os.environ.get("POT_SMTP_PROBE_PORT", "25")))
    helo_name: str = "pot-checker.invalid"
    mail_from: str = ""  # the null reverse-path: a probe must never be able to bounce
    per_domain_concurrency: int = 2
    per_domain_interval_s: float = 1.0
    global_concurrency: int = 20
    timeout_s: float = 20.0
    connect_test_timeout_s: float = 5.0
    connect_test_host: str | None = None  # None: the MX hosts of the first domain met
    greylist_retries: int = 1
    greylist_delay_s: float = 60.0
    catch_all_check: bool = True
    allow_test_domains: bool = False  # accept special-use names like .test (the local stack)
    role_local_parts: frozenset[str] = ROLE_LOCAL_PARTS
    disposable_domains: frozenset[str] = DISPOSABLE_DOMAINS


class DomainPacer:
    """Start times per domain at least `interval` apart; pure, with an injected clock for tests."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._next: dict[str, float] = {}

    def reserve(self, domain: str) -> float:
        """Book the next start for `domain`; returns how long to wait before starting."""
        now = self.clock()
        start = max(now, self._next.get(domain, now))
        self._next[domain] = start + self.interval
        return start - now


@dataclass(frozen=True)
class Syntax:
    ok: bool
    normalized: str = ""
    local: str = ""
    domain: str = ""
    reason: str = ""


def check_syntax(address: str, *, allow_test_domains: bool = False) -> Syntax:
    """email-validator's RFC 5322/6531 syntax plus the RFC 5321 length limits, offline."""
    address = address.strip()
    try:
        valid = email_validator.validate_email(
            address, check_deliverability=False, test_environment=allow_test_domains
        )
    except email_validator.EmailNotValidError as exc:
        return Syntax(False, reason=f"bad syntax: {exc}")
    local, domain = valid.local_part, valid.ascii_domain
    if len(local.encode()) > MAX_LOCAL_PART:
        return Syntax(False, reason=f"local part longer than {MAX_LOCAL_PART} octets (RFC 5321)")
    if len(valid.normalized.encode()) > MAX_ADDRESS:
        return Syntax(False, reason=f"address longer than {MAX_ADDRESS} octets (RFC 5321)")
    return Syntax(True, valid.normalized, local, domain.lower())


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


class _NoConnection(Exception):
    pass


class EmailChecker:
    """Checks addresses with the politeness limits; one instance per run (it caches MX and catch-all)."""

    def __init__(self, resolver: Resolver, settings: CheckerSettings | None = None) -> None:
        self.resolver = resolver
        self.settings = settings or CheckerSettings()
        self.mode = self.settings.mode
        self.notice = ""  # what `auto` decided and why, for the person running the check
        self.pacer = DomainPacer(self.settings.per_domain_interval_s)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._mx: dict[str, asyncio.Task[mx.MxResult]] = {}
        self._catch_all: dict[str, asyncio.Future[bool]] = {}
        self._hosts: dict[str, asyncio.Future[list[str]]] = {}
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
                if await self._connects(host, port, errors):
                    self.mode = Mode.SMTP
                    break
            self.notice = (
                ""
                if self.mode is Mode.SMTP
                else f"outbound port {port} looks blocked (no MX answered: {'; '.join(errors)}); "
                "fell back to format+mx"
            )
            self._mode_decided = True

    async def _connects(self, host: str, port: int, errors: list[str]) -> bool:
        """True when one of the host's addresses accepts a TCP connection; failures go to `errors`."""
        addresses = await mx.host_addresses(host, self.resolver)
        if not addresses:
            errors.append(f"{host}: no address")
        for ip in addresses:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(ip, port), self.settings.connect_test_timeout_s
                )
            except (OSError, TimeoutError) as exc:
                errors.append(f"{host} ({ip}): {exc.__class__.__name__}: {exc}".rstrip(": "))
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False

    async def _addresses(self, host: str) -> list[str]:
        """MX host addresses, looked up once per run: keeps DNS out of the gap the pacer measures."""
        if host not in self._hosts:
            self._hosts[host] = asyncio.ensure_future(mx.host_addresses(host, self.resolver))
        return await asyncio.shield(self._hosts[host])

    def _slot(self, domain: str) -> asyncio.Semaphore:
        if domain not in self._slots:
            self._slots[domain] = asyncio.Semaphore(self.settings.per_domain_concurrency)
        return self._slots[domain]

    async def _probe_with_retries(
        self, syntax: Syntax, exchange: mx.MxResult, risk: str, result: Callable[..., EmailResult]
    ) -> EmailResult:
        attempts = 1 + self.settings.greylist_retries
        reply = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.settings.greylist_delay_s)  # greylisting wants a later retry
            try:
                async with self._slot(syntax.domain):
                    await asyncio.sleep(self.pacer.reserve(syntax.domain))
                    code, message, catch_all = await self._probe(syntax, exchange)
            except _NoConnection as exc:
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

    async def _probe(self, syntax: Syntax, exchange: mx.MxResult) -> tuple[int, str, bool]:
        """One SMTP session: EHLO, MAIL FROM, RCPT TO (and a random RCPT for catch-all), never DATA."""
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
        raise _NoConnection(
            f"could not talk to any MX on port {self.settings.probe_port}: "
            + "; ".join(errors or ["no address"])
        )

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

    async def check_many(self, rows: Iterable[tuple[int, str]]) -> AsyncIterator[EmailResult]:
        """Results as they finish (not in input order), at most `global_concurrency` at once."""
        queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        results: asyncio.Queue[EmailResult | None] = asyncio.Queue()
        workers = self.settings.global_concurrency
        for row in rows:
            queue.put_nowait(row)
        for _ in range(workers):
            queue.put_nowait(None)

        async def work() -> None:
            while (row := await queue.get()) is not None:
                await results.put(await self.check(row[1], row[0]))
            await results.put(None)

        tasks = [asyncio.create_task(work()) for _ in range(workers)]
        try:
            done = 0
            while done < workers:
                item = await results.get()
                if item is None:
                    done += 1
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()


@dataclass(frozen=True)
class BadRow:
    line: int
    why: str


ADDRESS_COLUMNS = ("email", "e-mail", "email_address", "emailaddress", "address", "mail")


def read_rows(data: bytes, *, csv_format: bool | None = None) -> Iterator[tuple[int, str] | BadRow]:
    """Addresses with line numbers from CSV (an email column by header, else the first) or text (one a line).

    A row that cannot be read comes out as a BadRow, and the rest go on.
    """
    lines = data.split(b"\n")
    texts: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        try:
            texts.append((number, raw.decode("utf-8").rstrip("\r")))
        except UnicodeDecodeError as exc:
            yield BadRow(number, f"not UTF-8 ({exc.reason} at byte {exc.start})")
    if csv_format is None:
        csv_format = any("," in text or ";" in text for _, text in texts[:20])
    if not csv_format:
        for number, text in texts:
            text = text.strip()
            if text and not text.startswith("#"):
                yield (number, text)
        return
    column: int | None = None
    width = 0
    for number, text in texts:
        if not text.strip():
            continue
        try:
            cells = next(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            yield BadRow(number, f"unreadable CSV row: {exc}")
            continue
        if column is None:
            header = [c.strip().lower() for c in cells]
            width = len(cells)
            found = next((header.index(n) for n in ADDRESS_COLUMNS if n in header), None)
            if found is not None:
                column = found
                continue
            column = 0
        if len(cells) != width:
            yield BadRow(number, f"{len(cells)} columns where the header has {width}")
            continue
        value = cells[column].strip()
        if not value:
            yield BadRow(number, "no address in the email column")
            continue
        yield (number, value)


class ResumeState:
    """A JSON-lines file of finished results, appended as they come, so a long run can stop and go on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[tuple[int, str], EmailResult] = {}
        if path.exists():
            for text in path.read_text().splitlines():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    item = json.loads(text)
                    item["result"] = Verdict(item["result"])
                    result = EmailResult(**item)
                    self.done[(result.line, result.address)] = result
        self._file = path.open("a")

    def record(self, result: EmailResult) -> None:
        self._file.write(json.dumps(result.as_dict()) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

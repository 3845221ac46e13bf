"""DNS preflight per sending domain, cached, for the Campaign gate and the pool's periodic domain recheck.

Called by the campaign controller (before a Campaign starts) and the pool controller (blocklist
rechecks). 12,000 mailboxes share a handful of domains: each (domain, SMTP host) is checked once
per cache period, concurrent askers share one lookup. The formatting functions here are pure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from pot_common.api.mailbox import MailboxSpec
from pot_common.cache import TtlCache

from pot_deliverability.dns import Resolver
from pot_deliverability.dnsbl import Blocklists
from pot_deliverability.preflight import Level, PreflightReport, preflight_domain

RESULT = {Level.PASS: "Pass", Level.WARN: "Warn", Level.FAIL: "Fail"}
MAX_CHECKS = 256  # CampaignStatus.preflight.checks maxItems
MAX_MESSAGE = 4096
MAX_CONDITION_MESSAGE = 1000


@dataclasses.dataclass(frozen=True, order=True)
class Target:
    """One sending domain and the SMTP host its mailboxes send through (SPF is about that host)."""

    domain: str
    smtp_host: str


def sending_targets(specs: Iterable[MailboxSpec]) -> list[Target]:
    """The distinct (domain of the address, SMTP host) pairs of some mailboxes, sorted."""
    return sorted({target_of(s) for s in specs})


Runner = Callable[[Target], Awaitable[PreflightReport]]


class DomainChecks:
    """Preflight reports per target, reused for `ttl` seconds; one per operator process."""

    def __init__(
        self,
        run: Runner,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        has_blocklists: bool = False,
    ) -> None:
        self._run = run
        self.has_blocklists = has_blocklists
        self._cache: TtlCache[Target, PreflightReport] = TtlCache(ttl, clock)
        self._inflight: dict[Target, asyncio.Future[PreflightReport]] = {}

    @classmethod
    def for_resolver(cls, resolver: Resolver, blocklists: Blocklists, *, ttl: float) -> DomainChecks:
        async def run(target: Target) -> PreflightReport:
            return await preflight_domain(target.domain, target.smtp_host, resolver, blocklists=blocklists)

        return cls(run, ttl=ttl, has_blocklists=bool(blocklists.zones))

    async def report(self, target: Target, *, max_age: float | None = None) -> PreflightReport:
        """The cached report if younger than `max_age` (default the TTL), else a fresh one."""
        cached = self._cache.get(target, max_age)
        if cached is not None:
            return cached
        pending = self._inflight.get(target)
        if pending is None:
            pending = asyncio.ensure_future(self._run(target))
            self._inflight[target] = pending
            try:
                report = await asyncio.shield(pending)
            finally:
                self._inflight.pop(target, None)
            self._cache.put(target, report)
            return report
        return await asyncio.shield(pending)

    async def reports(
        self, targets: Iterable[Target], *, max_age: float | None = None
    ) -> list[PreflightReport]:
        return list(await asyncio.gather(*(self.report(t, max_age=max_age) for t in targets)))


def _check_name(check: str, target: Target, hosts_per_domain: Mapping[str, int]) -> str:
    if hosts_per_domain.get(target.domain, 0) > 1:
        return f"{check}:{target.domain}@{target.smtp_host}"
    return f"{check}:{target.domain}"


@dataclasses.dataclass(frozen=True)
class Gate:
    """A campaign's preflight verdict: status.preflight's checks and the PreflightPassed condition."""

    passed: bool
    checks: list[dict[str, str]]
    reason: str
    message: str


def _reason(failing_checks: list[str]) -> str:
    kinds = sorted({name.split(":", 1)[0] for name in failing_checks})
    if len(kinds) != 1:
        return "ChecksFailed"
    return {"blocklist": "BlocklistListed", "mx": "MxFailed", "spf": "SpfFailed", "dkim": "DkimFailed"}.get(
        kinds[0], f"{kinds[0].capitalize()}Failed"
    )


def campaign_gate(reports: list[PreflightReport]) -> Gate:
    """Pure: the checks for status (failing first when over the API's 256) and the condition's words."""
    if not reports:
        return Gate(False, [], "NoSendingDomains", "The pool selects no valid Mailbox yet: nothing to check")
    targets = [Target(r.domain, r.smtp_host or "") for r in reports]
    hosts_per_domain: dict[str, int] = {}
    for t in targets:
        hosts_per_domain[t.domain] = hosts_per_domain.get(t.domain, 0) + 1
    checks: list[dict[str, str]] = []
    for target, report in sorted(zip(targets, reports, strict=True), key=lambda p: p[0]):
        for c in report.checks:
            checks.append(
                {
                    "name": _check_name(c.name, target, hosts_per_domain),
                    "result": RESULT[c.level],
                    "message": c.why[:MAX_MESSAGE],
                }
            )
    failing = [c for c in checks if c["result"] == "Fail"]
    if len(checks) > MAX_CHECKS:
        checks = (failing + [c for c in checks if c["result"] != "Fail"])[:MAX_CHECKS]
    if not failing:
        domains = sorted({t.domain for t in targets})
        return Gate(
            True, checks, "AllChecksPassed", f"No check failed for {', '.join(domains)}"[:MAX_MESSAGE]
        )
    message = "; ".join(f"{c['name']}: {c['message']}" for c in failing)
    if len(message) > MAX_CONDITION_MESSAGE:
        message = message[: MAX_CONDITION_MESSAGE - 1] + "…"
    return Gate(False, checks, _reason([c["name"] for c in failing]), message)


def preflight_status(gate: Gate, current: Mapping[str, Any] | None, checked_at: str) -> dict[str, Any]:
    """status.preflight; `checkedAt` stays as it was while the results are the same (no write per recheck)."""
    current = current or {}
    same = current.get("passed") == gate.passed and current.get("checks") == gate.checks
    return {
        "passed": gate.passed,
        "checkedAt": current.get("checkedAt") if same and current.get("checkedAt") else checked_at,
        "checks": gate.checks,
    }


def blocklisted(reports: Iterable[PreflightReport]) -> dict[Target, str]:
    """Targets whose domain or SMTP host is listed, with why (what the pool cools mailboxes down for)."""
    out: dict[Target, str] = {}
    for r in reports:
        check = next((c for c in r.checks if c.name == "blocklist"), None)
        if check is not None and check.level is Level.FAIL:
            out[Target(r.domain, r.smtp_host or "")] = check.why
    return out


def target_of(spec: MailboxSpec) -> Target:
    return Target(spec.address.rpartition("@")[2].lower().rstrip("."), spec.smtp.host.lower().rstrip("."))

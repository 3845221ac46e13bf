"""DNS preflight of a sending domain and SMTP host (MX, SPF, DKIM, DMARC, blocklists); operator, potctl.

Each check says pass, warn or fail and why. The operator calls `preflight_domain` for every sending
domain of a pool before a Campaign starts and again periodically; `potctl preflight` prints the report.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from pot_deliverability import dkim, dmarc, dnsbl, mx, spf
from pot_deliverability.dns import DnsTemporaryError, Resolver

DEFAULT_DKIM_SELECTORS = ("pot", "default", "mail", "s1", "selector1", "google")


class Level(StrEnum):
    PASS = "pass"  # noqa: S105 - a check result, not a password
    WARN = "warn"
    FAIL = "fail"


_ORDER = {Level.PASS: 0, Level.WARN: 1, Level.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One check's verdict: `name` is mx, spf, dkim, dmarc or blocklist; `why` is for people."""

    name: str
    level: Level
    why: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreflightReport:
    """All checks for one domain; `level` is the worst of them."""

    domain: str
    smtp_host: str | None
    checks: list[Check]

    @property
    def level(self) -> Level:
        return max((c.level for c in self.checks), key=_ORDER.__getitem__, default=Level.PASS)

    @property
    def passed(self) -> bool:
        """What gates a Campaign: no check failed (warnings are reported, not blocking)."""
        return self.level is not Level.FAIL

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "smtpHost": self.smtp_host,
            "level": self.level.value,
            "checks": [{**asdict(c), "level": c.level.value} for c in self.checks],
        }


async def check_mx(domain: str, resolver: Resolver) -> Check:
    result = await mx.lookup_mx(domain, resolver)
    details = {"hosts": list(result.hosts)}
    if result.status is mx.MxStatus.OK:
        return Check("mx", Level.PASS, f"MX: {', '.join(result.hosts)}", details)
    if result.status is mx.MxStatus.NULL_MX:
        return Check(
            "mx",
            Level.FAIL,
            f"{domain} publishes a null MX (RFC 7505): it accepts no mail, "
            "so bounces and replies cannot reach it",
            details,
        )
    if result.status is mx.MxStatus.IMPLICIT:
        return Check(
            "mx", Level.WARN, f"{domain} has no MX; mail goes to its address record (RFC 5321 §5.1)", details
        )
    if result.status is mx.MxStatus.NXDOMAIN:
        return Check("mx", Level.FAIL, f"{domain} does not exist", details)
    return Check(
        "mx", Level.FAIL, f"{domain} has neither MX nor address records: it cannot receive replies", details
    )


_SPF_LEVEL = {
    spf.SpfResult.PASS: Level.PASS,
    spf.SpfResult.SOFTFAIL: Level.WARN,
    spf.SpfResult.NEUTRAL: Level.WARN,
    spf.SpfResult.TEMPERROR: Level.WARN,
    spf.SpfResult.FAIL: Level.FAIL,
    spf.SpfResult.NONE: Level.FAIL,
    spf.SpfResult.PERMERROR: Level.FAIL,
}


async def check_spf(domain: str, smtp_host: str | None, resolver: Resolver) -> Check:
    """SPF for the SMTP host's addresses sending as postmaster@domain; the worst address decides."""
    if not smtp_host:
        outcome = await spf.check_host("192.0.2.0", domain, f"postmaster@{domain}", resolver)
        if outcome.result in (spf.SpfResult.NONE, spf.SpfResult.PERMERROR, spf.SpfResult.TEMPERROR):
            return Check("spf", _SPF_LEVEL[outcome.result], f"SPF {outcome.result}: {outcome.reason}")
        return Check("spf", Level.WARN, "SPF record present; not evaluated (no SMTP host given)")
    addresses = await mx.host_addresses(smtp_host, resolver)
    if not addresses:
        return Check("spf", Level.FAIL, f"SMTP host {smtp_host} has no address to evaluate SPF for")
    worst: tuple[Level, str, spf.SpfOutcome] | None = None
    results = {}
    for ip in addresses:
        outcome = await spf.check_host(ip, domain, f"postmaster@{domain}", resolver, helo=smtp_host)
        level = _SPF_LEVEL[outcome.result]
        results[ip] = outcome.result.value
        if worst is None or _ORDER[level] > _ORDER[worst[0]]:
            worst = (level, ip, outcome)
    assert worst is not None
    level, ip, outcome = worst
    why = f"SPF {outcome.result} for {smtp_host} ({ip}): {outcome.reason}"
    return Check("spf", level, why, {"results": results, "lookups": outcome.lookups})


async def check_dkim(domain: str, selectors: tuple[str, ...], resolver: Resolver) -> Check:
    try:
        key, where = await dkim.find_key(domain, selectors, resolver)
    except dkim.DkimParseError as exc:
        return Check("dkim", Level.FAIL, f"DKIM record does not parse: {exc}")
    if key is None:
        return Check("dkim", Level.FAIL, f"no DKIM key record at {where}")
    details = {"selector": key.selector, "keyType": key.key_type, "bits": key.bits}
    if key.revoked:
        return Check("dkim", Level.FAIL, f"DKIM key at {where} is revoked (empty p=)", details)
    if key.key_type == "rsa" and key.bits < dkim.FAIL_BELOW_BITS:
        return Check(
            "dkim",
            Level.FAIL,
            f"DKIM key at {where} is {key.bits} bits; receivers ignore keys "
            f"under {dkim.FAIL_BELOW_BITS} (RFC 8301)",
            details,
        )
    if not set(dkim.USABLE_HASHES) & set(key.hashes):
        return Check(
            "dkim",
            Level.FAIL,
            f"DKIM key at {where} allows only sha1, which receivers reject (RFC 8301)",
            details,
        )
    if key.key_type == "rsa" and key.bits < dkim.WARN_BELOW_BITS:
        return Check(
            "dkim", Level.WARN, f"DKIM key at {where} is {key.bits} bits; use {dkim.WARN_BELOW_BITS}", details
        )
    if key.testing:
        return Check(
            "dkim", Level.WARN, f"DKIM key at {where} is in test mode (t=y): receivers may ignore it", details
        )
    return Check("dkim", Level.PASS, f"DKIM {key.key_type} key, {key.bits} bits, at {where}", details)


async def check_dmarc(domain: str, from_domain: str, resolver: Resolver) -> Check:
    """The From domain's DMARC record; SPF (MAIL FROM) and DKIM (d=) identities are `domain`."""
    try:
        record = await dmarc.find_record(from_domain, resolver)
    except dmarc.DmarcParseError as exc:
        return Check("dmarc", Level.FAIL, f"DMARC record for {from_domain} does not parse: {exc}")
    if record is None:
        return Check("dmarc", Level.FAIL, f"no DMARC record at _dmarc.{from_domain}; bulk senders need one")
    details: dict[str, Any] = {
        "policy": record.policy,
        "foundAt": record.found_at,
        "adkim": record.adkim,
        "aspf": record.aspf,
    }
    spf_ok = dmarc.aligned(from_domain, domain, record.aspf)
    dkim_ok = dmarc.aligned(from_domain, domain, record.adkim)
    details.update({"spfAligned": spf_ok, "dkimAligned": dkim_ok})
    if not (spf_ok or dkim_ok):
        return Check(
            "dmarc",
            Level.FAIL,
            f"From domain {from_domain} does not align with the sending domain "
            f"{domain} (aspf={record.aspf}, adkim={record.adkim})",
            details,
        )
    ignored = f"; receivers set aside: {'; '.join(record.problems)}" if record.problems else ""
    if ignored:
        details["problems"] = list(record.problems)
    if record.policy == "none":
        return Check(
            "dmarc", Level.WARN, f"DMARC p=none at {record.found_at}: monitoring only{ignored}", details
        )
    level = Level.WARN if record.problems else Level.PASS
    return Check("dmarc", level, f"DMARC p={record.policy} at {record.found_at}, aligned{ignored}", details)


async def check_blocklists(
    domain: str, smtp_host: str | None, lists: dnsbl.Blocklists, resolver: Resolver
) -> Check:
    ips = await mx.host_addresses(smtp_host, resolver) if smtp_host else []
    listings, untrusted = await lists.check(ips, [domain])
    hits = [entry for entry in listings if entry.listed]
    details: dict[str, Any] = {
        "listings": [
            {
                "zone": str(h.zone),
                "item": h.item,
                "codes": list(h.codes),
                "meanings": list(h.meanings),
                "reason": h.reason,
            }
            for h in hits
        ],
        "untrustedZones": [{"zone": str(t.zone), "why": t.why} for t in untrusted],
    }
    if hits:
        text = "; ".join(
            f"{h.item} listed on {h.zone.zone} ({', '.join(h.meanings)}){': ' + h.reason if h.reason else ''}"
            for h in hits
        )
        return Check("blocklist", Level.FAIL, text, details)
    if untrusted:
        return Check(
            "blocklist",
            Level.WARN,
            "; ".join(t.why + "; its answers are ignored" for t in untrusted),
            details,
        )
    if not lists.zones:
        return Check("blocklist", Level.PASS, "no blocklists configured", details)
    return Check("blocklist", Level.PASS, f"not listed on {', '.join(z.zone for z in lists.zones)}", details)


async def _guard(name: str, coro: Any) -> Check:
    try:
        result: Check = await coro
    except DnsTemporaryError as exc:
        return Check(name, Level.WARN, f"DNS did not answer, try again: {exc}")
    except ValueError as exc:  # a name DNS cannot hold (a domain or host the caller did not check)
        return Check(name, Level.FAIL, f"cannot look it up: {exc}")
    return result


async def preflight_domain(
    domain: str,
    smtp_host: str | None,
    resolver: Resolver,
    *,
    from_domain: str | None = None,
    dkim_selectors: tuple[str, ...] = DEFAULT_DKIM_SELECTORS,
    blocklists: dnsbl.Blocklists | None = None,
) -> PreflightReport:
    """Every check for one sending domain; DNS trouble makes a check warn, never raise."""
    domain = domain.rstrip(".").lower()
    lists = blocklists or dnsbl.Blocklists([], resolver)
    checks = await asyncio.gather(
        _guard("mx", check_mx(domain, resolver)),
        _guard("spf", check_spf(domain, smtp_host, resolver)),
        _guard("dkim", check_dkim(domain, dkim_selectors, resolver)),
        _guard("dmarc", check_dmarc(domain, (from_domain or domain).lower(), resolver)),
        _guard("blocklist", check_blocklists(domain, smtp_host, lists, resolver)),
    )
    return PreflightReport(domain, smtp_host, list(checks))

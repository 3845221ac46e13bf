"""An RFC 7208 SPF evaluator (check_host, macros); used by preflight and `potctl spf-check`.

The record's syntax (finding and parsing it) lives in spf_record.py.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass, field

from pot_deliverability.dns import (
    MAX_LABEL,
    MAX_NAME,
    DnsTemporaryError,
    Resolver,
    Status,
    domain_name,
    reverse_name,
)
from pot_deliverability.spf_record import (
    PermError,
    SpfResult,
    Term,
    find_spf_record,
    parse_record,
    tokenize,
)

__all__ = [
    "MAX_DNS_TERMS",
    "MAX_NAMES_PER_TERM",
    "MAX_VOID_LOOKUPS",
    "SpfOutcome",
    "SpfResult",
    "check_host",
    "expand",
]

MAX_DNS_TERMS = 10  # RFC 7208 §4.6.4
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4
MAX_NAMES_PER_TERM = 10  # MX exchanges (§4.6.4) and PTR names (§5.5) looked at per term

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class SpfOutcome:
    """What check_host decided and why; `lookups`/`void_lookups` count the whole evaluation."""

    result: SpfResult
    reason: str
    mechanism: str | None = None
    domain: str = ""
    lookups: int = 0
    void_lookups: int = 0
    explanation: str | None = None
    trace: list[str] = field(default_factory=list)


class _TempError(Exception):
    pass


@dataclass
class _Context:
    ip: IPAddress
    sender: str
    helo: str
    resolver: Resolver
    lookups: int = 0
    void_lookups: int = 0
    trace: list[str] = field(default_factory=list)
    now: float = field(default_factory=time.time)


async def check_host(
    ip: str, domain: str, sender: str, resolver: Resolver, *, helo: str = "", explain: bool = True
) -> SpfOutcome:
    """RFC 7208 check_host(): the result for `ip` sending as `sender` (MAIL FROM, or HELO when empty).

    Raises ValueError only when `ip` is not an IP address; a malformed `domain` gives `none` (§4.3).
    """
    parsed = ipaddress.ip_address(ip)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if not sender:
        sender = f"postmaster@{helo}"
    elif "@" not in sender:
        sender = f"postmaster@{sender}"
    elif sender.startswith("@"):
        sender = "postmaster" + sender
    ctx = _Context(parsed, sender, helo, resolver)
    try:
        # §4.3: a malformed or single-label domain is "none"; an IDN is looked up as A-labels.
        name = domain_name(domain)
    except ValueError as exc:
        shown = domain if len(domain) <= 80 else domain[:77] + "..."
        reason = f"{shown!r} is not a valid domain: it {exc}" if domain else "no domain to check"
        return SpfOutcome(SpfResult.NONE, reason, None, domain[:253])
    try:
        result, reason, mechanism, exp = await _check(ctx, name, depth=0, explain=explain)
    except PermError as exc:
        result, reason, mechanism, exp = SpfResult.PERMERROR, str(exc), None, None
    except _TempError as exc:
        result, reason, mechanism, exp = SpfResult.TEMPERROR, str(exc), None, None
    return SpfOutcome(result, reason, mechanism, name, ctx.lookups, ctx.void_lookups, exp, ctx.trace)


async def _check(
    ctx: _Context, domain: str, depth: int, explain: bool
) -> tuple[SpfResult, str, str | None, str | None]:
    if depth > 20:
        raise PermError("include/redirect loop")
    answer = await _lookup(ctx, domain, "TXT", count_void=False)
    if answer is None:
        return SpfResult.NONE, f"{domain} does not exist", None, None
    record = find_spf_record(answer)
    if record is None:
        return SpfResult.NONE, f"{domain} publishes no SPF record", None, None
    ctx.trace.append(f"{domain}: {record}")
    terms = parse_record(record)
    for term in terms:
        if term.modifier:
            continue
        if await _matches(ctx, term, domain, depth):
            exp = None
            if term.qualifier is SpfResult.FAIL and explain:
                exp = await _explanation(ctx, terms, domain)
            return term.qualifier, f"matched {term.text} in {domain}", term.text, exp
    redirect = next((t for t in terms if t.modifier and t.name == "redirect"), None)
    if redirect is not None and redirect.argument is not None:
        target = await _expand_domain(ctx, redirect.argument, domain)
        _count(ctx, "redirect")
        result, reason, mech, exp = await _check(ctx, target, depth + 1, explain)
        if result is SpfResult.NONE:
            raise PermError(f"redirect={target}: {reason}")
        return result, reason, mech, exp
    return SpfResult.NEUTRAL, f"no mechanism matched in {domain} (default neutral)", None, None


def _count(ctx: _Context, what: str) -> None:
    ctx.lookups += 1
    if ctx.lookups > MAX_DNS_TERMS:
        raise PermError(f"more than {MAX_DNS_TERMS} DNS-querying terms (at {what})")


async def _lookup(
    ctx: _Context, name: str, rdtype: str, *, count_void: bool = True
) -> tuple[str, ...] | None:
    """Records, or None for NXDOMAIN; an empty tuple for no data. Void answers count towards the limit."""
    try:
        answer = await ctx.resolver.lookup(name, rdtype)
    except DnsTemporaryError as exc:
        raise _TempError(f"DNS error: {exc}") from None
    except ValueError as exc:
        raise PermError(str(exc)) from None
    if answer.void and count_void:
        ctx.void_lookups += 1
        if ctx.void_lookups > MAX_VOID_LOOKUPS:
            raise PermError(f"more than {MAX_VOID_LOOKUPS} void lookups (at {rdtype} {name})")
    if answer.status is Status.NXDOMAIN:
        return None
    return answer.records


async def _addresses(ctx: _Context, name: str) -> list[IPAddress]:
    rdtype = "A" if ctx.ip.version == 4 else "AAAA"
    records = await _lookup(ctx, name, rdtype) or ()
    out: list[IPAddress] = []
    for r in records:
        try:
            out.append(ipaddress.ip_address(r))
        except ValueError:
            continue
    return out


def _preference(record: str) -> int:
    preference = record.partition(" ")[0]
    return int(preference) if preference.isdigit() else 65536


def _in_network(ip: IPAddress, address: IPAddress, cidr4: int | None, cidr6: int | None) -> bool:
    if ip.version != address.version:
        return False
    default, given = (32, cidr4) if ip.version == 4 else (128, cidr6)
    prefix = default if given is None else given
    return ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False)


async def _matches(ctx: _Context, term: Term, domain: str, depth: int) -> bool:
    name = term.name
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        assert term.argument is not None
        return _in_network(ctx.ip, ipaddress.ip_address(term.argument), term.cidr4, term.cidr6)
    _count(ctx, term.text)
    target = await _expand_domain(ctx, term.argument, domain) if term.argument else domain
    if name == "include":
        result, reason, _, _ = await _check(ctx, target, depth + 1, explain=False)
        if result is SpfResult.PASS:
            return True
        if result is SpfResult.NONE:
            raise PermError(f"include:{target}: {reason}")
        if result is SpfResult.TEMPERROR:
            raise _TempError(reason)
        if result is SpfResult.PERMERROR:
            raise PermError(reason)
        return False
    if name == "a":
        return any(_in_network(ctx.ip, a, term.cidr4, term.cidr6) for a in await _addresses(ctx, target))
    if name == "mx":
        records = await _lookup(ctx, target, "MX") or ()
        exchanges = [
            e for e in (r.split()[-1] for r in sorted(records, key=_preference)) if e not in ("", ".")
        ]
        if len(exchanges) > MAX_NAMES_PER_TERM:  # §4.6.4: more than 10 address lookups for one mx
            raise PermError(f"mx:{target} has more than {MAX_NAMES_PER_TERM} exchanges (RFC 7208 §4.6.4)")
        for exchange in exchanges:
            if any(_in_network(ctx.ip, a, term.cidr4, term.cidr6) for a in await _addresses(ctx, exchange)):
                return True
        return False
    if name == "ptr":
        names = await _validated_names(ctx)
        return any(n == target or n.endswith("." + target) for n in names)
    if name == "exists":
        try:
            answer = await ctx.resolver.lookup(target, "A")
        except DnsTemporaryError as exc:
            raise _TempError(f"DNS error: {exc}") from None
        if answer.void:
            ctx.void_lookups += 1
            if ctx.void_lookups > MAX_VOID_LOOKUPS:
                raise PermError(f"more than {MAX_VOID_LOOKUPS} void lookups (at exists:{target})")
        return not answer.void
    raise PermError(f"unknown mechanism {term.text!r}")


async def _validated_names(ctx: _Context) -> list[str]:
    """§5.5: PTR names of the IP whose forward lookup gives the IP back; DNS errors just fail the match."""
    try:
        ptrs = await _lookup(ctx, reverse_name(str(ctx.ip)), "PTR") or ()
    except _TempError:
        return []
    valid: list[str] = []
    for ptr in ptrs[:MAX_NAMES_PER_TERM]:
        try:
            if ctx.ip in await _addresses(ctx, ptr):
                valid.append(ptr.lower())
        except _TempError:
            continue
    return valid


async def _explanation(ctx: _Context, terms: list[Term], domain: str) -> str | None:
    """§6.2: the exp= text, expanded; any trouble (DNS, no or several records, bad syntax) means none."""
    exp = next((t for t in terms if t.modifier and t.name == "exp"), None)
    if exp is None or exp.argument is None:
        return None
    try:
        target = await _expand_domain(ctx, exp.argument, domain)
        answer = await ctx.resolver.lookup(target, "TXT")
        if len(answer.records) != 1:
            return None
        return await expand(ctx, answer.records[0], domain, explanation=True)
    except (DnsTemporaryError, PermError, _TempError, ValueError):
        return None


async def _expand_domain(ctx: _Context, spec: str, domain: str) -> str:
    """A domain-spec expanded into the name to query (§7.3), or PermError when DNS cannot hold it."""
    expanded = await expand(ctx, spec, domain)
    if expanded.endswith("."):
        expanded = expanded[:-1]
    while len(expanded) > MAX_NAME:  # §7.3: drop labels from the left until it fits
        expanded = expanded.partition(".")[2]
    labels = expanded.split(".")
    if not expanded or any(not label or len(label) > MAX_LABEL for label in labels):
        shown = expanded if len(expanded) <= 80 else expanded[:77] + "..."
        raise PermError(f"{spec!r} expanded to {shown!r}, which is not a domain name")
    return expanded.lower()


async def expand(ctx: _Context, spec: str, domain: str, *, explanation: bool = False) -> str:
    """Expand RFC 7208 §7 macros in a domain-spec (or, with `explanation`, an explain-string)."""
    out: list[str] = []
    for token in tokenize(spec, spec, explanation=explanation):
        if isinstance(token, str):
            out.append(token)
            continue
        if token.letter in "%_-":
            out.append({"%": "%", "_": " ", "-": "%20"}[token.letter])
            continue
        value = await _macro_value(ctx, token.letter.lower(), domain)
        parts = re.split("[" + re.escape(token.delimiters or ".") + "]", value)
        if token.reverse:
            parts.reverse()
        if token.digits is not None:
            parts = parts[-token.digits :]
        value = ".".join(parts)
        if token.letter.isupper():  # §7.3: upper case means URL-escaped, RFC 3986 unreserved kept
            value = urllib.parse.quote(value, safe="")
        out.append(value)
    return "".join(out)


async def _macro_value(ctx: _Context, letter: str, domain: str) -> str:
    local, _, sender_domain = ctx.sender.rpartition("@")
    if letter == "s":
        return ctx.sender
    if letter == "l":
        return local or "postmaster"
    if letter == "o":
        return sender_domain
    if letter == "d":
        return domain
    if letter == "i":
        if ctx.ip.version == 4:
            return str(ctx.ip)
        return ".".join(ctx.ip.exploded.replace(":", ""))
    if letter == "v":
        return "in-addr" if ctx.ip.version == 4 else "ip6"
    if letter == "h":
        return ctx.helo or "unknown"
    if letter == "c":
        return str(ctx.ip)
    if letter == "r":
        return "unknown"
    if letter == "t":
        return str(int(ctx.now))
    if letter == "p":
        # §7.3 discourages %{p}; it still counts as a lookup-free best effort here.
        names = await _validated_names(ctx)
        if not names:
            return "unknown"
        exact = [n for n in names if n == domain or n.endswith("." + domain)]
        return (exact or names)[0]
    raise PermError(f"unknown macro %{{{letter}}}")

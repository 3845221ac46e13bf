"""DMARC record lookup, parsing and identifier alignment (RFC 7489); used by preflight."""

from __future__ import annotations

from dataclasses import dataclass, field

from pot_common.domains import registrable_domain

from pot_deliverability.dns import Resolver, Status

POLICIES = ("none", "quarantine", "reject")


class DmarcParseError(ValueError):
    """The record is not a valid DMARC record; the message says why."""


@dataclass(frozen=True)
class DmarcRecord:
    """The parts of a DMARC record preflight reports on; `found_at` is the name it came from."""

    policy: str
    subdomain_policy: str
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    rua: tuple[str, ...] = ()
    found_at: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the public suffix plus one label (example.co.uk for mail.example.co.uk)."""
    return registrable_domain(domain)


def aligned(from_domain: str, auth_domain: str, mode: str) -> bool:
    """RFC 7489 §3.1: strict needs the same name, relaxed the same organizational domain."""
    a, b = from_domain.rstrip(".").lower(), auth_domain.rstrip(".").lower()
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


def parse_record(record: str, found_at: str = "") -> DmarcRecord:
    parts = [p.strip() for p in record.split(";") if p.strip()]
    if not parts or parts[0].replace(" ", "") != "v=DMARC1":
        raise DmarcParseError("record does not start with v=DMARC1")
    tags: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if not sep:
            raise DmarcParseError(f"tag without '=': {part!r}")
        tags[name.strip().lower()] = value.strip()
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        raise DmarcParseError(
            f"p={tags.get('p', '')!r} is not one of none, quarantine, reject"
            if "p" in tags
            else "no p= (policy) tag"
        )
    subdomain_policy = tags.get("sp", policy).lower()
    if subdomain_policy not in POLICIES:
        raise DmarcParseError(f"sp={subdomain_policy!r} is not a policy")
    for mode_tag in ("adkim", "aspf"):
        if tags.get(mode_tag, "r").lower() not in ("r", "s"):
            raise DmarcParseError(f"{mode_tag}= must be r or s")
    try:
        pct = int(tags.get("pct", "100"))
    except ValueError:
        raise DmarcParseError("pct= is not a number") from None
    if not 0 <= pct <= 100:
        raise DmarcParseError("pct= is outside 0-100")
    rua = tuple(u.strip() for u in tags.get("rua", "").split(",") if u.strip())
    return DmarcRecord(
        policy,
        subdomain_policy,
        tags.get("adkim", "r").lower(),
        tags.get("aspf", "r").lower(),
        pct,
        rua,
        found_at,
        tags,
    )


async def find_record(domain: str, resolver: Resolver) -> DmarcRecord | None:
    """The record at _dmarc.DOMAIN, else at the organizational domain (§6.6.3). Parse errors propagate."""
    domain = domain.rstrip(".").lower()
    candidates = [domain]
    if organizational_domain(domain) != domain:
        candidates.append(organizational_domain(domain))
    for name in candidates:
        answer = await resolver.lookup(f"_dmarc.{name}", "TXT")
        if answer.status is Status.NXDOMAIN and name == domain and len(candidates) == 1:
            return None
        records = [r for r in answer.records if r.replace(" ", "").lower().startswith("v=dmarc1")]
        if len(records) > 1:
            raise DmarcParseError(f"_dmarc.{name} has {len(records)} DMARC records")
        if records:
            return parse_record(records[0], f"_dmarc.{name}")
    return None

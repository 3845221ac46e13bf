"""DMARC record discovery, parsing and identifier alignment exactly as RFC 7489 has them; for preflight.

`parse_record` reads a record as a Mail Receiver does (§6.3, §6.4, §6.6.3): `v=DMARC1` first, `p` and
`sp` valid or the record is unusable (unless `rua` names a reporting URI, when it counts as p=none),
and any other syntax error set aside for the tag's default. What was set aside is in `problems`, so
preflight can tell the domain's owner what receivers ignore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pot_common.domains import registrable_domain

from pot_deliverability.dns import Resolver, Status

POLICIES = ("none", "quarantine", "reject")
FAILURE_OPTIONS = ("0", "1", "d", "s")
DEFAULT_INTERVAL = 86400

# §6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]; an RFC 3986 URI starts with its scheme.
_URI = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*:[^\s!,;]+)(?:!([0-9]+)([kmgtKMGT]?))?")
_KEYWORD = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?")  # RFC 5321 Keyword, for rf=
_WSP = " \t"


class DmarcParseError(ValueError):
    """The record is not a DMARC record a receiver would apply; the message says why."""


@dataclass(frozen=True)
class DmarcRecord:
    """A record as a receiver applies it; `found_at` is the name it came from, `problems` what a receiver
    set aside (each with the default it used instead)."""

    policy: str
    subdomain_policy: str
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    rua: tuple[str, ...] = ()
    found_at: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    ruf: tuple[str, ...] = ()
    failure_options: tuple[str, ...] = ("0",)
    report_formats: tuple[str, ...] = ("afrf",)
    interval: int = DEFAULT_INTERVAL
    problems: tuple[str, ...] = ()


def organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2: the public suffix plus one label (example.co.uk for mail.example.co.uk)."""
    return registrable_domain(domain)


def aligned(from_domain: str, auth_domain: str, mode: str) -> bool:
    """RFC 7489 §3.1: strict needs the same name, relaxed the same organizational domain."""
    a, b = from_domain.rstrip(".").lower(), auth_domain.rstrip(".").lower()
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


def split_tags(record: str) -> list[tuple[str, str]]:
    """`tag *WSP "=" *WSP value` pairs between `*WSP ";" *WSP` separators, in order (§6.4).

    A part without "=" comes back with the name "" and the part as its value, for the caller to judge.
    """
    pairs = []
    for part in record.split(";"):
        part = part.strip(_WSP)
        if not part:
            continue
        name, sep, value = part.partition("=")
        pairs.append((name.strip(_WSP).lower(), value.strip(_WSP)) if sep else ("", part))
    return pairs


def is_dmarc_record(record: str) -> bool:
    """§6.6.3: the record starts with a v tag naming this version, `DMARC1` exactly (case matters)."""
    pairs = split_tags(record)
    return bool(pairs) and pairs[0] == ("v", "DMARC1")


def parse_uris(value: str, tag: str, problems: list[str]) -> tuple[str, ...]:
    """§6.4's comma-separated dmarc-uri list; URIs that do not parse are set aside (and named)."""
    uris = []
    for item in value.split(","):
        item = item.strip(_WSP)
        if _URI.fullmatch(item):
            uris.append(item)
        else:
            problems.append(f"{tag}= entry {item[:80]!r} is not a URI, ignored")
    return tuple(uris)


def parse_record(record: str, found_at: str = "") -> DmarcRecord:
    """One TXT record as a receiver reads it; DmarcParseError when no receiver would apply it."""
    pairs = split_tags(record)
    if not pairs or pairs[0] != ("v", "DMARC1"):
        raise DmarcParseError("record does not start with v=DMARC1")
    tags: dict[str, str] = {}
    problems: list[str] = []
    for name, value in pairs[1:]:
        if not name:
            problems.append(f"{value[:80]!r} is no tag=value, ignored")
        elif name in tags:
            problems.append(f"{name}= given twice, the first kept")
        else:
            tags[name] = value
    rua = parse_uris(tags["rua"], "rua", problems) if "rua" in tags else ()
    policy = tags.get("p", "").lower()
    subdomain_policy = tags.get("sp", policy).lower()
    if policy not in POLICIES or subdomain_policy not in POLICIES:
        # §6.6.3 step 6: with a reporting URI, act as if p=none; without one, apply no DMARC at all.
        why = (
            "no p= (policy) tag"
            if "p" not in tags
            else f"p={tags['p'][:40]!r} is not one of none, quarantine, reject"
            if policy not in POLICIES
            else f"sp={tags['sp'][:40]!r} is not one of none, quarantine, reject"
        )
        if not rua:
            raise DmarcParseError(why)
        problems.append(f"{why}: receivers act as if p=none because rua= is given")
        policy = subdomain_policy = "none"
    modes = {}
    for mode_tag in ("adkim", "aspf"):
        modes[mode_tag] = tags.get(mode_tag, "r").lower()
        if modes[mode_tag] not in ("r", "s"):
            problems.append(f"{mode_tag}={tags[mode_tag][:40]!r} is not r or s, r used")
            modes[mode_tag] = "r"
    pct = _number(tags, "pct", 100, problems, digits=3, most=100)
    interval = _number(tags, "ri", DEFAULT_INTERVAL, problems, digits=10, most=2**32 - 1)
    options = tuple(o.strip(_WSP) for o in tags.get("fo", "0").split(":"))
    if not all(o in FAILURE_OPTIONS for o in options):
        problems.append(f"fo={tags['fo'][:40]!r} is not a ':' list of 0, 1, d, s; 0 used")
        options = ("0",)
    formats = tuple(f.strip(_WSP) for f in tags.get("rf", "afrf").split(":"))
    if not all(_KEYWORD.fullmatch(f) for f in formats):
        problems.append(f"rf={tags['rf'][:40]!r} is not a ':' list of format names; afrf used")
        formats = ("afrf",)
    ruf = parse_uris(tags["ruf"], "ruf", problems) if "ruf" in tags else ()
    return DmarcRecord(
        policy,
        subdomain_policy,
        modes["adkim"],
        modes["aspf"],
        pct,
        rua,
        found_at,
        tags,
        ruf,
        options,
        formats,
        interval,
        tuple(problems),
    )


def _number(
    tags: dict[str, str], tag: str, default: int, problems: list[str], *, digits: int, most: int
) -> int:
    """pct = 1*3DIGIT (0-100), ri = 1*DIGIT; anything else is set aside for the default."""
    if tag not in tags:
        return default
    value = tags[tag]
    if value.isascii() and value.isdigit() and len(value) <= digits and int(value) <= most:
        return int(value)
    problems.append(f"{tag}={value[:40]!r} is not a number from 0 to {most}, {default} used")
    return default


async def find_record(domain: str, resolver: Resolver) -> DmarcRecord | None:
    """§6.6.3 policy discovery: _dmarc.DOMAIN, else the organizational domain's record when DOMAIN has no
    DMARC record at all. Several records, or one that does not parse, raise DmarcParseError (receivers
    then apply no DMARC); DNS trouble raises DnsTemporaryError."""
    domain = domain.rstrip(".").lower()
    candidates = [domain]
    if organizational_domain(domain) != domain:
        candidates.append(organizational_domain(domain))
    discarded = ""
    for name in candidates:
        answer = await resolver.lookup(f"_dmarc.{name}", "TXT")
        if answer.status is Status.NXDOMAIN and name == domain and len(candidates) == 1:
            return None
        records = [r for r in answer.records if is_dmarc_record(r)]
        if len(records) > 1:
            raise DmarcParseError(f"_dmarc.{name} has {len(records)} DMARC records")
        if records:
            return parse_record(records[0], f"_dmarc.{name}")
        # "v=dmarc1", say, is discarded like any other TXT record; say so if nothing else is found.
        near = next((r for r in answer.records if r[:8].replace(" ", "").lower().startswith("v=dmarc")), "")
        discarded = discarded or (
            f"_dmarc.{name}: {near[:60]!r} does not start with v=DMARC1" if near else ""
        )
    if discarded:
        raise DmarcParseError(discarded)
    return None

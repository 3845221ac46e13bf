"""Registrable domains from the Public Suffix List, shared by the operator (DMARC organizational
domains, RFC 7489 §3.2) and the worker (grouping recipients' MX hosts into providers).

The list is the one shipped in the pinned publicsuffixlist wheel (its version carries the list's date);
nothing is fetched at run time.
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # parsed once, on first use (about 30 ms)


def registrable_domain(name: str) -> str:
    """The public suffix plus one label: example.co.uk for mail.example.co.uk, team.github.io for
    a.team.github.io. A name under no listed suffix (the .test zones) takes its last label as the
    suffix, as the list's "*" rule says; a public suffix itself is returned as it is."""
    name = name.rstrip(".").lower()
    return _suffixes().privatesuffix(name) or name

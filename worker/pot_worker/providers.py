"""Groups recipient domains into providers by their MX hosts, for the circuit breakers.

`provider_for` is pure; `ProviderResolver` looks MX records up with dnspython (POT_DNS_RESOLVER in
tests) and caches them. Called by pot_worker.worker before each reservation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.resolver
from pot_common.domains import registrable_domain

# Providers whose MX hosts do not share the recipient's domain (deliverability notes, "Provider by MX").
_KNOWN_SUFFIXES = (
    ("google.com", "google"),
    ("googlemail.com", "google"),
    ("olc.protection.outlook.com", "outlook"),
    ("mail.protection.outlook.com", "microsoft365"),
    ("yahoodns.net", "yahoo"),
)


def provider_for(domain: str, mx_hosts: Sequence[tuple[int, str]]) -> str:
    """The provider key for `domain` given its MX records as (preference, host).

    The big providers are named by their MX suffixes; any other domain is grouped by the registrable
    domain of its preferred MX host (Public Suffix List): every `*.mail.example.net` MX of a hosting
    company is one group, while two companies under one public suffix (`mx.a.co.uk`, `mx.b.co.uk`)
    are not.
    """
    if not mx_hosts:
        return domain.lower()
    host = min(mx_hosts)[1].lower().rstrip(".")
    if not host:  # null MX (RFC 7505): the domain takes no mail; group it by itself
        return domain.lower()
    for suffix, name in _KNOWN_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            return name
    return registrable_domain(host)


class ProviderResolver:
    """MX lookups with a cache (an hour for answers, a minute for failures)."""

    def __init__(self, nameserver: str | None, timeout: float = 2.0) -> None:
        if nameserver:
            host, _, port = nameserver.rpartition(":")
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [host or nameserver]
            self._resolver.port = int(port) if host else 53
        else:
            self._resolver = dns.asyncresolver.Resolver()
        self._resolver.lifetime = timeout
        self._cache: dict[str, tuple[float, str]] = {}
        self._inflight: dict[str, asyncio.Future[str]] = {}

    async def provider(self, domain: str) -> str:
        domain = domain.lower()
        cached = self._cache.get(domain)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        pending = self._inflight.get(domain)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[domain] = future
        try:
            result, ttl = await self._lookup(domain)
            self._cache[domain] = (time.monotonic() + ttl, result)
            future.set_result(result)
            return result
        finally:
            del self._inflight[domain]
            if not future.done():
                future.set_result(domain)

    async def _lookup(self, domain: str) -> tuple[str, float]:
        try:
            answer = await self._resolver.resolve(domain, "MX")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return domain, 3600.0
        except dns.exception.DNSException:
            return domain, 60.0
        records = [(int(r.preference), str(r.exchange)) for r in answer]
        return provider_for(domain, records), 3600.0

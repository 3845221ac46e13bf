"""Groups recipient domains into providers by their MX hosts, for the circuit breakers.

`provider_for` is pure; `ProviderResolver` looks MX records up (POT_DNS_RESOLVER in tests) and caches
them. Called by pot_worker.planner before each batch's reservations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import dns.exception
from pot_common.cache import TtlCache
from pot_deliverability.dns import DnsResolver, DnsTemporaryError
from pot_deliverability.mx import provider_group


def provider_for(domain: str, mx_hosts: Sequence[tuple[int, str]]) -> str:
    """The provider key for `domain` given its MX records as (preference, host).

    The preferred MX host decides, grouped as the address checker groups hosts
    (pot_deliverability.mx.provider_group): big providers by their MX suffixes, any other host by
    its registrable domain.
    """
    if not mx_hosts:
        return domain.lower()
    host = min(mx_hosts)[1].lower().rstrip(".")
    if not host:  # null MX (RFC 7505): the domain takes no mail; group it by itself
        return domain.lower()
    return provider_group(host)


class ProviderResolver:
    """MX lookups through pot_deliverability's resolver, cached an hour for answers (NXDOMAIN and no MX
    included) and a minute for failures; concurrent lookups of one domain share one query."""

    def __init__(self, nameserver: str | None, timeout: float = 2.0) -> None:
        self._resolver = DnsResolver(nameserver, timeout=timeout)
        self._answers: TtlCache[str, str] = TtlCache(3600.0)
        self._failures: TtlCache[str, str] = TtlCache(60.0)
        self._inflight: dict[str, asyncio.Future[str]] = {}

    async def provider(self, domain: str) -> str:
        domain = domain.lower()
        cached = self._answers.get(domain)
        if cached is None:
            cached = self._failures.get(domain)
        if cached is not None:
            return cached
        pending = self._inflight.get(domain)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[domain] = future
        try:
            result = await self._lookup(domain)
            future.set_result(result)
            return result
        finally:
            del self._inflight[domain]
            if not future.done():
                future.set_result(domain)

    async def _lookup(self, domain: str) -> str:
        try:
            answer = await self._resolver.lookup(domain, "MX")
        except (DnsTemporaryError, dns.exception.DNSException, ValueError):
            self._failures.put(domain, domain)
            return domain
        records = []
        for record in answer.records:
            preference, _, host = record.partition(" ")
            records.append((int(preference), host))
        result = provider_for(domain, records)
        self._answers.put(domain, result)
        return result

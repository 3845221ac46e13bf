"""The Diagnostics page's checks: is each part POT depends on there, and is work flowing?

Each check answers within its timeout with up, down, warn or skipped (not configured) and one line
of detail that never holds a secret (URLs are shown without their credentials). Called by the
Diagnostics view, all checks at once; `summarise` is pure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pot_common.sql import load_sql
from pot_common.vault import VaultConfig
from pot_deliverability.dns import make_resolver

from pot_console.settings import ConsoleSettings

TIMEOUT = 4.0
UP, DOWN, WARN, SKIPPED = "up", "down", "warn", "skipped"


@dataclass(frozen=True)
class Probe:
    name: str
    state: str  # up, down, warn, skipped
    detail: str
    seconds: float = 0.0


def safe_url(url: str) -> str:
    """scheme://host:port/path of a URL, without its user, password or query (where secrets live)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _reason(error: BaseException) -> str:
    """An exception as `Kind: message`, with the message cut (a driver may quote its DSN)."""
    text = str(error).split("\n")[0][:160]
    for word in ("password", "token", "secret"):
        if word in text.lower():
            text = ""
    return f"{type(error).__name__}: {text}".rstrip(": ") if text else type(error).__name__


async def check_postgres(url: str) -> Probe:
    import asyncpg

    if not url:
        return Probe("Postgres", SKIPPED, "POT_DATABASE_URL is not set")
    conn = await asyncpg.connect(url, timeout=TIMEOUT)
    try:
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return Probe("Postgres", UP, f"{safe_url(url)} (PostgreSQL {version})")


async def check_redis(url: str) -> Probe:
    import redis.asyncio as redis

    if not url:
        return Probe("Redis", SKIPPED, "POT_REDIS_URL is not set")
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return Probe("Redis", UP, f"{safe_url(url)} answered PING")


async def check_vault(config: VaultConfig) -> Probe:
    if not config.addr:
        return Probe("Vault", SKIPPED, "POT_VAULT_ADDR is not set")
    # sys/health needs no token: it says initialised, sealed, standby without reading any secret.
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        response = await client.get(f"{config.addr.rstrip('/')}/v1/sys/health", params={"standbyok": "true"})
    body: dict[str, Any] = (
        response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    )
    if body.get("sealed"):
        return Probe("Vault", DOWN, f"{safe_url(config.addr)} is sealed")
    if not body.get("initialized", response.status_code == 200):
        return Probe("Vault", DOWN, f"{safe_url(config.addr)} is not initialised")
    if response.status_code >= 500:
        return Probe("Vault", DOWN, f"{safe_url(config.addr)} answered {response.status_code}")
    auth = "token" if config.token else f"kubernetes role {config.role}" if config.role else "no credentials"
    return Probe(
        "Vault", UP, f"{safe_url(config.addr)} unsealed, version {body.get('version', '?')} ({auth})"
    )


async def check_dns(resolver: str, name: str) -> Probe:
    import dns.exception
    import dns.resolver

    where = resolver or "the system resolver"
    try:
        answer = await make_resolver(resolver or None, timeout=TIMEOUT).resolve(
            name, "SOA", search=False, raise_on_no_answer=False
        )
    except dns.resolver.NXDOMAIN:
        return Probe("DNS", UP, f"{where} answered NXDOMAIN for {name}")
    except dns.resolver.NoNameservers as error:
        return Probe("DNS", WARN, f"{where} answered but refused {name} ({_reason(error)})")
    except dns.exception.Timeout:
        return Probe("DNS", DOWN, f"{where} did not answer within {TIMEOUT:g} s")
    return Probe("DNS", UP, f"{where} answered SOA {name} ({len(answer.rrset or [])} record(s))")


async def check_port25(target: str) -> Probe:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TIMEOUT)
    except (TimeoutError, OSError, ValueError) as error:
        return Probe(
            "Outbound SMTP port",
            DOWN,
            f"cannot connect to {target} ({_reason(error)}): email checks fall back to format+mx",
        )
    writer.close()
    del reader
    return Probe("Outbound SMTP port", UP, f"connected to {target}")


async def check_operator(url: str) -> Probe:
    if not url:
        return Probe("Operator", SKIPPED, "POT_OPERATOR_METRICS_URL is not set")
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        response = await client.get(url)
    if response.status_code != 200:
        return Probe("Operator", DOWN, f"{safe_url(url)} answered {response.status_code}")
    return Probe("Operator", UP, f"metrics served at {safe_url(url)}")


async def check_workers_and_queue(url: str, fresh_seconds: float, lag_warn: float) -> list[Probe]:
    import asyncpg

    if not url:
        skipped = "POT_DATABASE_URL is not set"
        return [Probe("Workers", SKIPPED, skipped), Probe("Queue lag", SKIPPED, skipped)]
    conn = await asyncpg.connect(url, timeout=TIMEOUT)
    try:
        workers = await conn.fetchrow(load_sql("pot_console", "workers"), float(fresh_seconds))
        queue = await conn.fetchrow(load_sql("pot_console", "queue_lag"))
    finally:
        await conn.close()
    live, known = int(workers["live"]), int(workers["known"])
    if live:
        worker = Probe(
            "Workers", UP, f"{live} alive ({workers['in_flight']} sending now), {known - live} gone quiet"
        )
    elif known:
        worker = Probe("Workers", DOWN, f"none of {known} known workers beat in the last {fresh_seconds:g} s")
    else:
        worker = Probe("Workers", WARN, "no worker has started yet (pools scale to zero when nothing is due)")
    due, lag = int(queue["due"]), float(queue["lag"] or 0.0)
    state = WARN if due and lag > lag_warn else UP
    detail = f"{due} send(s) due, the oldest waiting {lag:.0f} s" if due else "nothing due"
    return [worker, Probe("Queue lag", state, detail)]


async def _timed(names: tuple[str, ...], check: Callable[[], Awaitable[Probe | list[Probe]]]) -> list[Probe]:
    """Run one check with its timeout; a failure marks every part it covers down, with the reason."""
    began = time.monotonic()
    try:
        result = await asyncio.wait_for(check(), TIMEOUT + 2)
    except TimeoutError:
        return [
            Probe(n, DOWN, f"no answer within {TIMEOUT + 2:g} s", time.monotonic() - began) for n in names
        ]
    except Exception as error:
        return [Probe(n, DOWN, _reason(error), time.monotonic() - began) for n in names]
    elapsed = time.monotonic() - began
    probes = result if isinstance(result, list) else [result]
    return [Probe(p.name, p.state, p.detail, elapsed) for p in probes]


async def run_all(
    settings: ConsoleSettings, apiserver: Callable[[], Awaitable[tuple[bool, str]]]
) -> list[Probe]:
    """Every check at once; the page shows them in this order."""

    async def kube() -> Probe:
        ok, detail = await apiserver()
        return Probe("Kubernetes apiserver", UP if ok else DOWN, detail)

    checks: list[tuple[tuple[str, ...], Callable[[], Awaitable[Probe | list[Probe]]]]] = [
        (("Kubernetes apiserver",), kube),
        (("Postgres",), lambda: check_postgres(settings.database_url)),
        (("Redis",), lambda: check_redis(settings.redis_url)),
        (("Vault",), lambda: check_vault(settings.vault)),
        (("DNS",), lambda: check_dns(settings.dns_resolver, settings.dns_probe_name)),
        (("Outbound SMTP port",), lambda: check_port25(settings.smtp_probe_target)),
        (("Operator",), lambda: check_operator(settings.operator_metrics_url)),
        (
            ("Workers", "Queue lag"),
            lambda: check_workers_and_queue(
                settings.database_url, settings.worker_fresh_seconds, settings.lag_warn_seconds
            ),
        ),
    ]
    results = await asyncio.gather(*(_timed(names, check) for names, check in checks))
    return [probe for group in results for probe in group]


def summarise(probes: list[Probe]) -> str:
    """One word for the whole page: down if anything is down, else warn, else up."""
    states = {p.state for p in probes}
    return DOWN if DOWN in states else WARN if WARN in states else UP

"""`make bench-checker`: the email checker's throughput against a slow MX, and whether it stays polite.

A probe server answers every RCPT after 500 ms (a slow real MX) for 10 catch-all domains; the checker
probes 200 addresses with 2 connections per domain (20 at once overall). The ideal is concurrency ÷
latency; efficiency is the measured rate over that ideal (target ≥ 0.8). Politeness violations count
sessions the server saw beyond 2 per domain at once or closer than the configured interval (target 0).
Prints name=value lines.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from pot_deliverability.dns import DnsResolver
from pot_deliverability.emailcheck import CheckerSettings, EmailChecker, Mode
from pot_stack.dns_server import DnsServer
from pot_stack.probe_server import ProbeServer

DOMAINS = 10
PER_DOMAIN = 2
ADDRESSES = 200
RCPT_DELAY = 0.5
INTERVAL = 0.2  # < RCPT_DELAY / PER_DOMAIN, so the pacing itself is not what limits the rate


async def run(resolver: DnsResolver, port: int) -> tuple[float, int]:
    settings = CheckerSettings(
        mode=Mode.SMTP,
        probe_port=port,
        per_host_concurrency=PER_DOMAIN,
        per_host_interval_s=INTERVAL,
        global_concurrency=DOMAINS * PER_DOMAIN,
        allow_test_domains=True,
        timeout_s=10,
    )
    checker = EmailChecker(resolver, settings)
    rows = [(i, f"user{i}@d{i % DOMAINS}.probe.test") for i in range(ADDRESSES)]
    started = time.monotonic()
    count = 0
    async for _ in checker.check_many(rows):
        count += 1
    return time.monotonic() - started, count


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pot-bench-") as root:
        dns = DnsServer(Path(root))
        dns.start()
        server = ProbeServer(
            catch_all_domains={f"d{i}.probe.test" for i in range(DOMAINS)}, rcpt_delay=RCPT_DELAY
        )
        server.start()
        try:
            elapsed, count = asyncio.run(run(DnsResolver(dns.resolver), server.port))
            # 50 ms slack: the server timestamps connections in its own thread of this same process, on
            # 2 cores, so its clock sees the checker's evenly paced starts with some scheduling jitter.
            violations = server.politeness_violations(PER_DOMAIN, INTERVAL, slack=0.05)
        finally:
            server.stop()
            dns.stop()
    rate = count / elapsed
    ideal = DOMAINS * PER_DOMAIN / RCPT_DELAY
    print(f"checks={count}")
    print(f"elapsed_s={elapsed:.2f}")
    print(f"checks_per_s={rate:.2f}")
    print(f"ideal_checks_per_s={ideal:.2f}")
    print(f"checker_efficiency={rate / ideal:.3f}")
    print(f"politeness_violations={violations}")


if __name__ == "__main__":
    main()

"""`make bench-checker`: the email checker's throughput in a world of shared MX hosts, and its politeness.

Twelve recipient domains on six MX hosts (two domains per host, checks-bench.zone); one probe server
plays all six, each at its own loopback address, answering every RCPT after 200 ms (a slow real MX).
Of each domain's 55 addresses, 45 exist (5 of them greylisted: 450 4.7.1 once, then 250), 5 do not
(550 5.1.1) and 5 have a full mailbox (452 4.2.2, risky at once). The checker runs at its default
politeness (2 connections per MX host, 1 s between a host's connections, 10 per provider, 20 in all,
10 recipients per session); only the greylist delay is cut from 60 s to 3 s so a run takes seconds.

The ideal is what the politeness allows: every host busy on both its connections for all of its RCPTs
(the addresses, the greylist retries and one catch-all probe per domain), and no sooner than a
greylisted address can be asked again. Efficiency is the measured rate over that ideal (target ≥ 0.8).
The server counts politeness violations per MX host: a session opened while 2 others to the host were
open, or less than 1 s after the previous one (target 0). Prints name=value lines.
"""

from __future__ import annotations

import asyncio
import collections
import tempfile
import time
from pathlib import Path

from pot_deliverability.dns import DnsResolver
from pot_deliverability.emailcheck import CheckerSettings, EmailChecker, Mode, Verdict
from pot_stack.dns_server import DnsServer
from pot_stack.probe_server import ProbeServer

HOSTS = tuple(f"127.0.0.{11 + i}" for i in range(6))
DOMAINS = tuple(f"d{i}.bench.test" for i in range(12))  # d(2k) and d(2k+1) share host k
EXISTING, GREYLISTED, UNKNOWN, FULL = 45, 5, 5, 5
RCPT_DELAY = 0.2
GREYLIST_DELAY = 3.0
SLACK = 0.05  # the server timestamps sessions in its own thread, on 2 shared cores


def addresses(domain: str) -> list[tuple[str, Verdict]]:
    rows = [(f"u{i}@{domain}", Verdict.VALID) for i in range(EXISTING)]
    rows += [(f"nobody{i}@{domain}", Verdict.INVALID) for i in range(UNKNOWN)]
    rows += [(f"quota-{i}@{domain}", Verdict.RISKY) for i in range(FULL)]
    return rows


def ideal_seconds(settings: CheckerSettings) -> float:
    """The shortest run the politeness allows (see the module's docstring)."""
    per_domain = EXISTING + UNKNOWN + FULL + GREYLISTED + 1  # + retries + one catch-all probe
    per_host = per_domain * len(DOMAINS) // len(HOSTS)
    connections = min(settings.per_host_concurrency, settings.global_concurrency // len(HOSTS))
    busy = per_host * RCPT_DELAY / connections
    greylisted = RCPT_DELAY + settings.greylist_delay_s + RCPT_DELAY
    return max(busy, greylisted)


async def run(
    resolver: DnsResolver, settings: CheckerSettings
) -> tuple[float, list[tuple[Verdict, Verdict]]]:
    checker = EmailChecker(resolver, settings)
    expected = {a: v for d in DOMAINS for a, v in addresses(d)}
    rows = list(enumerate(expected, start=1))
    started = time.monotonic()
    results = [(r.result, expected[r.address]) async for r in checker.check_many(rows)]
    return time.monotonic() - started, results


def main() -> None:
    users = {d: {f"u{i}" for i in range(EXISTING)} for d in DOMAINS}
    greylist = {f"u{i}@{d}" for d in DOMAINS for i in range(GREYLISTED)}
    with tempfile.TemporaryDirectory(prefix="pot-bench-") as root:
        dns = DnsServer(Path(root))
        dns.start()
        server = ProbeServer(users=users, greylist=greylist, rcpt_delay=RCPT_DELAY, addresses=HOSTS)
        server.start()
        settings = CheckerSettings(
            mode=Mode.SMTP, probe_port=server.port, allow_test_domains=True, greylist_delay_s=GREYLIST_DELAY
        )
        try:
            elapsed, results = asyncio.run(run(DnsResolver(dns.resolver), settings))
            most = server.max_concurrent("host")
            violations = server.politeness_violations(
                settings.per_host_concurrency, settings.per_host_interval_s, slack=SLACK, per="host"
            )
            sessions = len([s for s in server.sessions if s.rcpts])
            rcpts = len(server.rcpt_log)
        finally:
            server.stop()
            dns.stop()
    count = len(results)
    rate = count / elapsed
    ideal = count / ideal_seconds(settings)
    verdicts = collections.Counter(got.value for got, _ in results)
    print(f"checks={count}")
    print(f"elapsed_s={elapsed:.2f}")
    print(f"checks_per_s={rate:.2f}")
    print(f"ideal_checks_per_s={ideal:.2f}")
    print(f"checker_efficiency={rate / ideal:.3f}")
    print(f"max_connections_per_host={most}")
    print(f"connection_limit_per_host={settings.per_host_concurrency}")
    print(f"politeness_violations={violations}")
    print(f"sessions={sessions}")
    print(f"rcpts={rcpts}")
    print(f"greylist_delay_s={settings.greylist_delay_s:g}")
    print("results=" + ",".join(f"{v}:{n}" for v, n in sorted(verdicts.items())))
    print(f"wrong_results={sum(got is not want for got, want in results)}")


if __name__ == "__main__":
    main()

"""An SMTP server answering RCPT probes like real MXes do; for the email-checker tests and make bench-checker.

The checker zones' MX hosts point at loopback addresses where this one server listens (127.0.0.1,
and with `addresses` several more, one per MX host of a world where hosts serve several domains), so it
plays all of them and answers by the recipient: a catch-all domain accepts anything; otherwise only
its configured users exist (others get 550 5.1.1); a greylisted address gets 450 4.7.1 once, then 250;
`full-*` gets 552 5.2.2, `quota-*` 452 4.2.2 and `blocked-*` 550 5.7.1 anywhere. RCPT can wait
`rcpt_delay` seconds (the benchmark's slow MX). With `tls` it offers STARTTLS (a self-signed
certificate made at start). It refuses DATA and counts attempts, and records each session's address
(the MX host), first domain, times and whether it used TLS, so a test can measure the checker's
politeness per host or per domain.

Command line: `python -m pot_stack.probe_server --port P [--catch-all DOMAIN] [--user ADDR]
[--greylist ADDR] [--rcpt-delay S] [--tls]`.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass
class SessionRecord:
    """One connection: when it opened and closed, and the recipient domain it probed."""

    opened: float
    closed: float | None = None
    domain: str | None = None
    rcpts: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"  # the address it connected to: which MX host it was
    tls: bool = False


class _Handler:
    def __init__(self, server: ProbeServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        probe = self.server
        if probe.rcpt_delay:
            await asyncio.sleep(probe.rcpt_delay)
        local, _, domain = address.lower().rpartition("@")
        with probe.lock:
            record = probe.sessions_by_id.get(id(smtp))
            if record is not None:
                record.domain = record.domain or domain
                record.rcpts.append(address)
                record.tls = record.tls or getattr(smtp, "_tls_protocol", None) is not None
            probe.rcpt_log.append(address)
        if local.startswith("full-"):
            return "552 5.2.2 Mailbox full"
        if local.startswith("quota-"):
            return "452 4.2.2 Mailbox full, over quota"
        if local.startswith("blocked-"):
            return "550 5.7.1 Probe refused by policy"
        if address.lower() in probe.greylist:
            with probe.lock:
                first = address.lower() not in probe.greylist_seen
                probe.greylist_seen.add(address.lower())
            if first:
                return "450 4.7.1 Greylisted, try again later"
        if domain in probe.catch_all_domains or local in probe.users.get(domain, set()):
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        return "550 5.1.1 No such user here"

    async def handle_DATA(self, smtp: SMTP, session: Any, envelope: Any) -> str:
        with self.server.lock:
            self.server.data_commands += 1
        return "554 5.7.0 This server only answers probes"


class _ProbeSMTP(SMTP):
    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.probe = handler.server

    def connection_made(self, transport: Any) -> None:
        if id(self) in self.probe.sessions_by_id:  # STARTTLS makes the connection again, over TLS
            super().connection_made(transport)
            return
        sockname = transport.get_extra_info("sockname")
        host = sockname[0] if sockname else "127.0.0.1"
        with self.probe.lock:
            self.probe.sessions_by_id[id(self)] = record = SessionRecord(time.monotonic(), host=host)
            self.probe.sessions.append(record)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        with self.probe.lock:
            record = self.probe.sessions_by_id.pop(id(self), None)
            if record is not None:
                record.closed = time.monotonic()
        super().connection_lost(exc)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _ProbeSMTP(self.handler, **self.SMTP_kwargs)


class ProbeServer:
    """Runs in a background thread on 127.0.0.1; `start()` returns once it accepts connections."""

    def __init__(
        self,
        *,
        users: dict[str, set[str]] | None = None,
        catch_all_domains: set[str] | None = None,
        greylist: set[str] | None = None,
        rcpt_delay: float = 0.0,
        port: int = 0,
        addresses: tuple[str, ...] = ("127.0.0.1",),
        tls: bool = False,
    ) -> None:
        from pot_stack.service import free_port

        self.users = {d.lower(): {u.lower() for u in us} for d, us in (users or {}).items()}
        self.catch_all_domains = {d.lower() for d in (catch_all_domains or set())}
        self.greylist = {a.lower() for a in (greylist or set())}
        self.greylist_seen: set[str] = set()
        self.rcpt_delay = rcpt_delay
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.sessions: list[SessionRecord] = []
        self.sessions_by_id: dict[int, SessionRecord] = {}
        self.rcpt_log: list[str] = []
        self.data_commands = 0
        self._certificates = tempfile.TemporaryDirectory(prefix="pot-probe-tls-") if tls else None
        extra: dict[str, Any] = {"tls_context": self._tls_context()} if tls else {}
        self._controllers = [
            _Controller(_Handler(self), hostname=address, port=self.port, **extra) for address in addresses
        ]

    def _tls_context(self) -> ssl.SSLContext:
        """A server context with a throwaway self-signed certificate, the SMTP sink's kind."""
        from pot_stack.smtp_sink import make_self_signed, server_tls_context

        assert self._certificates is not None
        return server_tls_context(*make_self_signed(Path(self._certificates.name)))

    def start(self) -> ProbeServer:
        for controller in self._controllers:
            controller.start()
        with self.lock:
            self.sessions.clear()  # aiosmtpd connects once to itself to see that it is up
        return self

    def stop(self) -> None:
        for controller in self._controllers:
            controller.stop()
        if self._certificates is not None:
            self._certificates.cleanup()

    def _grouped(self, per: str) -> dict[str, list[SessionRecord]]:
        groups: dict[str, list[SessionRecord]] = defaultdict(list)
        with self.lock:
            for record in self.sessions:
                key = record.host if per == "host" else record.domain
                if key and record.rcpts:
                    groups[key].append(record)
        return groups

    def max_concurrent(self, per: str = "host") -> int:
        """The most sessions that were open at once to one MX host (`per="host"`) or domain."""
        most = 0
        for records in self._grouped(per).values():
            events = sorted(
                [(r.opened, 1) for r in records] + [(r.closed or float("inf"), -1) for r in records],
                key=lambda e: (e[0], e[1]),
            )
            open_now = 0
            for _, change in events:
                open_now += change
                most = max(most, open_now)
        return most

    def politeness_violations(
        self, max_concurrent: int, min_interval: float, slack: float = 0.02, per: str = "domain"
    ) -> int:
        """Sessions that opened while `max_concurrent` others to the same domain (or MX host, with
        `per="host"`) were open, or sooner than `min_interval` after the previous one to it (minus
        `slack` for scheduling jitter)."""
        violations = 0
        for records in self._grouped(per).values():
            records.sort(key=lambda r: r.opened)
            for i, record in enumerate(records):
                open_before = [r for r in records[:i] if r.closed is None or r.closed > record.opened + slack]
                too_close = i > 0 and record.opened - records[i - 1].opened < min_interval - slack
                if len(open_before) >= max_concurrent or too_close:
                    violations += 1
        return violations


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--catch-all", action="append", default=[], metavar="DOMAIN")
    parser.add_argument("--user", action="append", default=[], metavar="ADDRESS")
    parser.add_argument("--greylist", action="append", default=[], metavar="ADDRESS")
    parser.add_argument("--rcpt-delay", type=float, default=0.0)
    parser.add_argument("--tls", action="store_true", help="Offer STARTTLS (a self-signed certificate).")
    args = parser.parse_args()
    users: dict[str, set[str]] = defaultdict(set)
    for address in args.user:
        local, _, domain = address.rpartition("@")
        users[domain].add(local)
    server = ProbeServer(
        users=dict(users),
        catch_all_domains=set(args.catch_all),
        greylist=set(args.greylist),
        rcpt_delay=args.rcpt_delay,
        port=args.port,
        tls=args.tls,
    ).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

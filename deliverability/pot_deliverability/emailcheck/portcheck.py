"""`--mode auto`'s question: does the probe port reach MX hosts from here at all? For checker.py.

A blocked outbound port 25 fails every MX; a dead MX fails only its own domain's. So the answer is
"open" as soon as any MX host of any domain accepts a connection, and "blocked" only when the MX
hosts of `connect_test_domains` different domains all refused (or of every domain there is, when
there are fewer), whichever domain the list starts with. With `connect_test_host` set, that host
alone decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pot_deliverability.dns import DnsTemporaryError, Resolver
from pot_deliverability.emailcheck.model import CheckerSettings
from pot_deliverability.emailcheck.probe import connects


class PortDecision:
    """One per checker run: `offer` each domain's MX hosts as they are known, `await decided()`."""

    def __init__(self, settings: CheckerSettings, resolver: Resolver) -> None:
        self.settings = settings
        self.resolver = resolver
        self.open: bool | None = None
        self.errors: list[str] = []
        self._event: asyncio.Event | None = None
        self._tests: dict[str, asyncio.Task[bool]] = {}
        self._failed = 0  # tests that found no host answering
        self._finished = 0
        self._no_more = False
        self.on_decided: Callable[[bool], None] | None = None

    def _ready(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def offer(self, domain: str, hosts: tuple[str, ...]) -> None:
        """A domain with MX hosts; tested while fewer than `connect_test_domains` tests were started."""
        if self.open is not None:
            return
        if self.settings.connect_test_host:
            domain, hosts = "", (self.settings.connect_test_host,)
            wanted = 1
        else:
            wanted = self.settings.connect_test_domains
        if domain in self._tests or len(self._tests) >= wanted:
            return
        self._tests[domain] = asyncio.create_task(self._test(hosts))

    def no_more_domains(self) -> None:
        """Every domain of the run was offered (or the run cannot take in more until this is decided)."""
        self._no_more = True
        self._settle()

    async def decided(self) -> bool:
        """True when probing can work, False when the port looks blocked."""
        if self.open is None:
            await self._ready().wait()
        assert self.open is not None
        return self.open

    async def _test(self, hosts: tuple[str, ...]) -> bool:
        port = self.settings.probe_port
        for host in hosts:
            try:
                if await connects(
                    host, port, self.resolver, self.settings.connect_test_timeout_s, self.errors
                ):
                    self._finished += 1
                    self._decide(True)
                    return True
            except DnsTemporaryError as exc:
                self.errors.append(f"{host}: DNS did not answer: {exc}")
            except ValueError as exc:  # a name DNS cannot hold
                self.errors.append(f"{host}: {exc}")
        self._failed += 1
        self._finished += 1
        self._settle()
        return False

    def _settle(self) -> None:
        if self.open is not None:
            return
        wanted = 1 if self.settings.connect_test_host else self.settings.connect_test_domains
        finished = self._finished == len(self._tests)
        if self._failed >= wanted or (self._no_more and finished and self._tests):
            self._decide(False)
        elif self._no_more and not self._tests:
            self._decide(True)  # nothing to probe at all: nothing waits on this answer either

    def _decide(self, open_: bool) -> None:
        if self.open is None:
            self.open = open_
            if self.on_decided is not None:
                self.on_decided(open_)
            self._ready().set()

"""Authoritative DNS for the `.test` zones on loopback, UDP and TCP; run by `make up`, the fixtures, tests.

Loads every `*.zone` file (BIND syntax: `$ORIGIN`, `$TTL`, one record per line) in the zone folder,
`pot_stack/zones/` by default. Each SOA record starts a zone; names under a zone that have no
records get NXDOMAIN, names that exist without the asked type get NODATA (NOERROR, no answer), both
with the zone's SOA in the authority section; names outside every zone get REFUSED. TXT strings
longer than 255 characters are split into several strings, as a DKIM key must be. SIGHUP reloads
the zone folder.

Command line: `python -m pot_stack.dns_server --port P [--zones DIR]`.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from dnslib import CNAME, QTYPE, RCODE, RR, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSLogger
from dnslib.server import DNSServer as DnslibServer

from pot_stack.service import Service, free_port, wait_until

ZONES_DIR = Path(__file__).parent / "zones"
MAX_TXT_STRING = 255

log = logging.getLogger("pot_stack.dns_server")

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE_UNIT = re.compile(r"\\[0-9]{3}|\\.|.", re.DOTALL)


def split_long_strings(zone_text: str) -> str:
    """Rewrite every quoted string over 255 characters as adjacent quoted strings of at most 255.

    The zone parser refuses long TXT strings; DNS carries a TXT record as a list of strings of at
    most 255 bytes each, which the reader concatenates (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
    Escape sequences stay whole and count as one character.
    """

    def split(match: re.Match[str]) -> str:
        units = _ESCAPE_UNIT.findall(match.group(1))
        if len(units) <= MAX_TXT_STRING:
            return match.group(0)
        chunks = ["".join(units[i : i + MAX_TXT_STRING]) for i in range(0, len(units), MAX_TXT_STRING)]
        return " ".join(f'"{chunk}"' for chunk in chunks)

    return _QUOTED.sub(split, zone_text)


def _key(name: DNSLabel | str) -> str:
    text = str(name).lower()
    return text if text.endswith(".") else text + "."


def load_records(zones_dir: Path) -> list[RR]:
    """Every record of every `*.zone` file in `zones_dir`, in file-name order."""
    records: list[RR] = []
    for path in sorted(zones_dir.glob("*.zone")):
        try:
            records.extend(RR.fromZone(split_long_strings(path.read_text())))
        except Exception as error:
            raise ValueError(f"cannot parse zone file {path}: {error}") from error
    return records


class ZoneData:
    """The records indexed by owner name, the zone apexes, and every name that exists."""

    def __init__(self, records: list[RR]) -> None:
        self.by_name: dict[str, list[RR]] = defaultdict(list)
        self.soa: dict[str, RR] = {}
        for rr in records:
            self.by_name[_key(rr.rname)].append(rr)
            if rr.rtype == QTYPE.SOA:
                self.soa[_key(rr.rname)] = rr
        # A name with no records but with descendants exists (an empty non-terminal): NODATA, not NXDOMAIN.
        self.existing: set[str] = set()
        for name in self.by_name:
            labels = name.rstrip(".").split(".")
            for i in range(len(labels)):
                self.existing.add(".".join(labels[i:]) + ".")

    def zone_of(self, name: str) -> RR | None:
        """The SOA of the closest enclosing zone, or None when we are not authoritative."""
        labels = name.rstrip(".").split(".")
        for i in range(len(labels)):
            soa = self.soa.get(".".join(labels[i:]) + ".")
            if soa is not None:
                return soa
        return None


def answer(zones: ZoneData, request: DNSRecord) -> DNSRecord:
    """The authoritative reply to one query (pure: no I/O)."""
    reply = request.reply()
    reply.header.aa = 1
    reply.header.ra = 0
    qname, qtype = _key(request.q.qname), request.q.qtype
    soa = zones.zone_of(qname)
    if soa is None:
        reply.header.aa = 0
        reply.header.rcode = RCODE.REFUSED
        return reply
    name = qname
    for _ in range(8):  # follow CNAMEs inside our zones, bounded against loops
        records = zones.by_name.get(name, [])
        matching = [rr for rr in records if qtype in (QTYPE.ANY, rr.rtype)]
        if matching:
            for rr in matching:
                reply.add_answer(rr)
            break
        alias = next((rr for rr in records if rr.rtype == QTYPE.CNAME), None)
        if alias is None or qtype == QTYPE.CNAME:
            break
        reply.add_answer(alias)
        assert isinstance(alias.rdata, CNAME)
        name = _key(alias.rdata.label)
    if reply.rr:
        _add_glue(zones, reply)
        return reply
    if name not in zones.existing:
        reply.header.rcode = RCODE.NXDOMAIN
    reply.add_auth(zones.zone_of(name) or soa)
    return reply


def _add_glue(zones: ZoneData, reply: DNSRecord) -> None:
    """Addresses of MX/NS/CNAME targets we know, as a real authoritative server adds them."""
    for rr in list(reply.rr):
        if rr.rtype in (QTYPE.MX, QTYPE.NS):
            target = _key(rr.rdata.label)
            for glue in zones.by_name.get(target, []):
                if glue.rtype in (QTYPE.A, QTYPE.AAAA):
                    reply.add_ar(glue)


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    """dnslib resolver over the zone folder; `reload()` re-reads it."""

    def __init__(self, zones_dir: Path) -> None:
        self.zones_dir = zones_dir
        self._lock = threading.Lock()
        self.zones = ZoneData(load_records(zones_dir))

    def reload(self) -> None:
        zones = ZoneData(load_records(self.zones_dir))
        with self._lock:
            self.zones = zones
        log.info("Reloaded zones count=%d", len(zones.soa))

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        return answer(self.zones, request)


class _QuietLogger(DNSLogger):  # type: ignore[misc]
    """dnslib prints every query by default; keep errors only."""

    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,+error", prefix=True)


def serve(zones_dir: Path, host: str, port: int) -> tuple[ZoneResolver, list[Any]]:
    """Start UDP and TCP servers on the same port in background threads."""
    resolver = ZoneResolver(zones_dir)
    servers = [
        DnslibServer(resolver, address=host, port=port, tcp=tcp, logger=_QuietLogger())
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    return resolver, servers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pot_stack.dns_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--zones", type=Path, default=ZONES_DIR, help="folder of *.zone files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    resolver, servers = serve(args.zones, args.host, args.port)
    log.info("Started DNS server port=%d zones=%s apexes=%d", args.port, args.zones, len(resolver.zones.soa))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: resolver.reload())
    stop.wait()
    for server in servers:
        server.stop()
    log.info("Stopped DNS server")
    sys.exit(0)


def _answers(port: int) -> bool:
    """True when the server on `port` answers a query over UDP (whatever the answer)."""
    DNSRecord.parse(DNSRecord.question("test.", "SOA").send("127.0.0.1", port, timeout=0.25))
    return True


class DnsServer(Service):
    """The DNS server as a detached process; `resolver` is what POT_DNS_RESOLVER carries."""

    name = "dns"
    host = "127.0.0.1"

    def __init__(self, root: Path, zones_dir: Path | None = None, port: int | None = None) -> None:
        super().__init__(root)
        self.zones_dir = zones_dir or ZONES_DIR
        self.port = port or 0

    @property
    def resolver(self) -> str:
        return f"{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        # The test zones' blocklists: bl.test lists IPs, dbl.test lists domains (RFC 5782).
        return {"POT_DNS_RESOLVER": self.resolver, "POT_DNSBL_ZONES": "bl.test,domain:dbl.test"}

    def start(self) -> None:
        load_records(self.zones_dir)  # a broken zone file fails here, with its name, not in a log
        self.port = self.port or free_port()
        proc = self.spawn(
            [
                sys.executable,
                "-m",
                "pot_stack.dns_server",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--zones",
                str(self.zones_dir),
            ]
        )
        wait_until(
            lambda: proc.poll() is None and _answers(self.port),
            timeout=30,
            what=f"dns server on port {self.port}",
            log=self.log_path,
        )

    def reload(self) -> None:
        """Re-read the zone folder (after a test added a zone file)."""
        for proc in self.procs:
            proc.send_signal(signal.SIGHUP)


if __name__ == "__main__":
    main()

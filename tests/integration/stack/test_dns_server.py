"""The DNS server answers the `.test` zones over UDP and TCP, and the base zones hold what they claim."""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key
from dnslib import DNSRecord
from pot_stack.dns_server import ZONES_DIR, DnsServer, ZoneData, answer, load_records, split_long_strings


def query(server: DnsServer, name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    request = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(request, server.host, port=server.port, timeout=3)


def resolver(server: DnsServer) -> dns.resolver.Resolver:
    """A dnspython resolver configured the way POT reads POT_DNS_RESOLVER."""
    host, port = server.env()["POT_DNS_RESOLVER"].split(":")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [host]
    res.port = int(port)
    return res


def txt(server: DnsServer, name: str) -> list[str]:
    return [b"".join(r.strings).decode() for r in resolver(server).resolve(name, "TXT")]


def test_mx_txt_and_a_answers(dns_server: DnsServer) -> None:
    res = resolver(dns_server)
    [mx] = res.resolve("good.test", "MX")
    assert (mx.preference, str(mx.exchange)) == (10, "mx.good.test.")
    assert [str(a) for a in res.resolve("mx.good.test", "A")] == ["127.0.0.1"]
    assert "v=spf1 ip4:127.0.0.1 mx -all" in txt(dns_server, "good.test")
    [dmarc] = txt(dns_server, "_dmarc.good.test")
    assert dmarc.startswith("v=DMARC1; p=quarantine")
    reply = query(dns_server, "good.test", "MX")
    assert reply.flags & dns.flags.AA
    assert any(rrset.name.to_text() == "mx.good.test." for rrset in reply.additional)  # glue


def test_unknown_name_is_nxdomain_and_missing_type_is_nodata(dns_server: DnsServer) -> None:
    unknown = query(dns_server, "no-such-host.good.test", "A")
    assert unknown.rcode() == dns.rcode.NXDOMAIN
    assert unknown.authority[0].rdtype == dns.rdatatype.SOA
    nodata = query(dns_server, "good.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    # An empty non-terminal exists (it has names below it): NODATA, not NXDOMAIN.
    assert query(dns_server, "_domainkey.good.test", "TXT").rcode() == dns.rcode.NOERROR
    assert query(dns_server, "unknown-domain.test", "MX").rcode() == dns.rcode.NXDOMAIN
    assert query(dns_server, "example.com", "A").rcode() == dns.rcode.REFUSED


def test_tcp_answers_like_udp(dns_server: DnsServer) -> None:
    udp = query(dns_server, "pot._domainkey.good.test", "TXT")
    tcp = query(dns_server, "pot._domainkey.good.test", "TXT", tcp=True)
    assert tcp.rcode() == dns.rcode.NOERROR
    assert tcp.answer == udp.answer


def test_long_txt_is_split_into_strings_of_at_most_255(dns_server: DnsServer) -> None:
    [record] = resolver(dns_server).resolve("pot._domainkey.good.test", "TXT")
    assert len(record.strings) > 1
    assert all(len(s) <= 255 for s in record.strings)
    assert b"".join(record.strings).startswith(b"v=DKIM1; k=rsa; p=")


def _dkim_bits(server: DnsServer, domain: str) -> int:
    [record] = txt(server, f"pot._domainkey.{domain}")
    tags = dict(part.strip().split("=", 1) for part in record.split(";") if part.strip())
    key = load_der_public_key(base64.b64decode(tags["p"]))
    assert isinstance(key, RSAPublicKey)
    return key.key_size


@pytest.mark.parametrize(
    ("domain", "bits"),
    [
        ("good.test", 2048),
        ("acme-mail.test", 2048),
        ("acme-outreach.test", 2048),
        ("weakdkim.test", 1024),
        ("dkim512.test", 512),
    ],
)
def test_dkim_keys_are_real_rsa_keys_of_the_stated_size(
    dns_server: DnsServer, domain: str, bits: int
) -> None:
    assert _dkim_bits(dns_server, domain) == bits


def _problems(server: DnsServer, domain: str) -> set[str]:
    """Which of MX, SPF, DKIM, DMARC is missing or malformed for `domain` (a rough check, enough here)."""
    res = resolver(server)
    problems = set()
    try:
        mx = [str(r.exchange) for r in res.resolve(domain, "MX")]
        if mx == ["."]:
            problems.add("nullmx")
    except dns.resolver.NoAnswer:
        problems.add("nomx")
    spf = [t for t in txt(server, domain) if t.lower().startswith("v=spf1")]
    if len(spf) != 1:
        problems.add("nospf" if not spf else "badspf")
    try:
        dkim = txt(server, f"pot._domainkey.{domain}")
        assert any(t.startswith("v=DKIM1") for t in dkim)
    except dns.resolver.NXDOMAIN:
        problems.add("nodkim")
    try:
        [dmarc] = txt(server, f"_dmarc.{domain}")
        policy = dict(part.strip().split("=", 1) for part in dmarc.split(";") if part.strip())
        if policy.get("p") not in ("none", "quarantine", "reject"):
            problems.add("baddmarc")
    except dns.resolver.NXDOMAIN:
        problems.add("nodmarc")
    return problems


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("good.test", set()),
        ("acme-mail.test", set()),
        ("acme-outreach.test", set()),
        ("listed.test", set()),
        ("weakdkim.test", set()),  # present, but weak: see the key-size test
        ("dkim512.test", set()),
        ("nomx.test", {"nomx"}),
        ("nullmx.test", {"nullmx"}),
        ("nospf.test", {"nospf"}),
        ("badspf.test", {"badspf"}),
        ("nodkim.test", {"nodkim"}),
        ("nodmarc.test", {"nodmarc"}),
        ("baddmarc.test", {"baddmarc"}),
    ],
)
def test_each_domain_is_broken_in_exactly_its_own_way(
    dns_server: DnsServer, domain: str, expected: set[str]
) -> None:
    assert _problems(dns_server, domain) == expected


def test_blocklists_follow_rfc_5782(dns_server: DnsServer) -> None:
    res = resolver(dns_server)
    assert [str(a) for a in res.resolve("2.0.0.127.bl.test", "A")] == ["127.0.0.2"]
    assert txt(dns_server, "2.0.0.127.bl.test")
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve("1.0.0.127.bl.test", "A")
    assert [str(a) for a in res.resolve("1.0.0.127.brokenbl.test", "A")] == ["127.0.0.2"]  # the broken list
    assert [str(a) for a in res.resolve("listed.test.dbl.test", "A")] == ["127.0.1.2"]
    assert [str(a) for a in res.resolve("test.dbl.test", "A")] == ["127.0.1.2"]
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve("invalid.dbl.test", "A")
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve("good.test.dbl.test", "A")


def test_reverse_dns_for_loopback_is_forward_confirmed(dns_server: DnsServer) -> None:
    res = resolver(dns_server)
    [ptr] = res.resolve("1.0.0.127.in-addr.arpa", "PTR")
    assert str(ptr.target) == "mx.good.test."
    assert [str(a) for a in res.resolve(str(ptr.target), "A")] == ["127.0.0.1"]


def test_every_zone_file_in_the_folder_is_served(tmp_path: Path) -> None:
    # Another part adds zone files with other prefixes; a new file must be picked up, and SIGHUP reloads.
    zones = tmp_path / "zones"
    shutil.copytree(ZONES_DIR, zones)
    (zones / "extra-late.zone").write_text(
        "$ORIGIN late.test.\n$TTL 60\n@ IN SOA ns.late.test. h.late.test. 1 60 60 60 60\n@ IN A 127.0.0.9\n"
    )
    server = DnsServer(tmp_path / "root", zones_dir=zones)
    server.start()
    try:
        assert [str(a) for a in resolver(server).resolve("late.test", "A")] == ["127.0.0.9"]
        (zones / "extra-later.zone").write_text(
            "$ORIGIN later.test.\n$TTL 60\n@ IN SOA ns.later.test. h.later.test. 1 60 60 60 60\n"
            "@ IN A 127.0.0.10\n"
        )
        server.reload()
        deadline = time.monotonic() + 5
        while query(server, "later.test", "A").rcode() != dns.rcode.NOERROR and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [str(a) for a in resolver(server).resolve("later.test", "A")] == ["127.0.0.10"]
    finally:
        server.stop()


def test_split_long_strings_keeps_escapes_whole() -> None:
    long = "a" * 254 + '\\"' + "b" * 10
    split = split_long_strings(f'x TXT "{long}" "short"')
    assert split == f'x TXT "{"a" * 254}\\"" "{"b" * 10}" "short"'


def test_answer_is_pure_over_loaded_records() -> None:
    zones = ZoneData(load_records(ZONES_DIR))
    reply = answer(zones, DNSRecord.question("nullmx.test", "MX"))
    assert reply.header.aa == 1 and str(reply.rr[0].rdata) == "0 ."

"""The campaign's preflight gate and its per-domain cache (pure or with fakes)."""

from __future__ import annotations

import asyncio

from pot_common.api.mailbox import MailboxSpec
from pot_deliverability.gate import (
    DomainChecks,
    Target,
    blocklisted,
    campaign_gate,
    preflight_status,
    sending_targets,
)
from pot_deliverability.preflight import Check, Level, PreflightReport


def report(domain: str, host: str, **levels: Level) -> PreflightReport:
    names = ("mx", "spf", "dkim", "dmarc", "blocklist")
    return PreflightReport(
        domain,
        host,
        [
            Check(n, levels.get(n, Level.PASS), f"{n} of {domain} is {levels.get(n, Level.PASS)}")
            for n in names
        ],
    )


def spec(address: str, host: str) -> MailboxSpec:
    return MailboxSpec.model_validate(
        {"address": address, "smtp": {"host": host}, "credentials": {"vaultPath": "pot/x"}}
    )


def test_sending_targets_are_distinct_domain_and_host_pairs() -> None:
    specs = [
        spec("a@Acme-Mail.test", "MX.acme-mail.test"),
        spec("b@acme-mail.test", "mx.acme-mail.test"),
        spec("c@nospf.test", "mx.nospf.test"),
    ]
    assert sending_targets(specs) == [
        Target("acme-mail.test", "mx.acme-mail.test"),
        Target("nospf.test", "mx.nospf.test"),
    ]


def test_gate_passes_with_warnings_and_names_each_check_by_domain() -> None:
    gate = campaign_gate([report("good.test", "mx.good.test", dmarc=Level.WARN)])
    assert gate.passed and gate.reason == "AllChecksPassed"
    assert {c["name"]: c["result"] for c in gate.checks}["dmarc:good.test"] == "Warn"
    assert len(gate.checks) == 5


def test_gate_fails_with_a_reason_and_every_failing_check_in_the_message() -> None:
    gate = campaign_gate(
        [report("good.test", "mx.good.test"), report("nospf.test", "mx.nospf.test", spf=Level.FAIL)]
    )
    assert not gate.passed and gate.reason == "SpfFailed"
    assert gate.message == "spf:nospf.test: spf of nospf.test is fail"
    both = campaign_gate(
        [report("nospf.test", "mx", spf=Level.FAIL), report("listed.test", "mx", blocklist=Level.FAIL)]
    )
    assert both.reason == "ChecksFailed"
    assert "blocklist:listed.test" in both.message and "spf:nospf.test" in both.message
    only_listed = campaign_gate([report("listed.test", "mx", blocklist=Level.FAIL)])
    assert only_listed.reason == "BlocklistListed"


def test_gate_without_mailboxes_blocks() -> None:
    gate = campaign_gate([])
    assert not gate.passed and gate.reason == "NoSendingDomains"


def test_one_domain_through_two_hosts_keeps_check_names_unique() -> None:
    gate = campaign_gate([report("d.test", "a.d.test"), report("d.test", "b.d.test")])
    names = [c["name"] for c in gate.checks]
    assert len(names) == len(set(names)) == 10
    assert "spf:d.test@a.d.test" in names


def test_too_many_checks_keep_the_failing_ones() -> None:
    reports = [report(f"d{i}.test", "mx") for i in range(60)] + [report("z.test", "mx", spf=Level.FAIL)]
    gate = campaign_gate(reports)
    assert len(gate.checks) == 256
    assert gate.checks[0]["name"] == "spf:z.test"


def test_checked_at_stays_while_results_are_unchanged() -> None:
    gate = campaign_gate([report("good.test", "mx")])
    first = preflight_status(gate, None, "2026-01-01T00:00:00Z")
    assert first["checkedAt"] == "2026-01-01T00:00:00Z"
    assert preflight_status(gate, first, "2026-01-02T00:00:00Z")["checkedAt"] == "2026-01-01T00:00:00Z"
    failing = campaign_gate([report("good.test", "mx", dkim=Level.FAIL)])
    assert preflight_status(failing, first, "2026-01-02T00:00:00Z")["checkedAt"] == "2026-01-02T00:00:00Z"


def test_blocklisted_targets() -> None:
    listed = blocklisted(
        [report("listed.test", "mx.listed.test", blocklist=Level.FAIL), report("ok.test", "mx")]
    )
    assert listed == {Target("listed.test", "mx.listed.test"): "blocklist of listed.test is fail"}


async def test_domain_checks_cache_per_target_and_share_one_lookup() -> None:
    calls: list[Target] = []
    now = [0.0]

    async def run(target: Target) -> PreflightReport:
        calls.append(target)
        await asyncio.sleep(0)
        return report(target.domain, target.smtp_host)

    checks = DomainChecks(run, ttl=3600, clock=lambda: now[0])
    t = Target("good.test", "mx.good.test")
    await asyncio.gather(*(checks.report(t) for _ in range(50)))
    assert calls == [t]  # concurrent askers shared one lookup
    now[0] = 3599
    await checks.report(t)
    assert len(calls) == 1
    await checks.report(t, max_age=60)  # the pool's recheck asks for fresher results
    assert len(calls) == 2
    now[0] = 3599 + 3600
    await checks.reports([t, Target("other.test", "mx")])
    assert len(calls) == 4

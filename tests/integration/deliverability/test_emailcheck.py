"""The email checker against the real DNS server and the RCPT probe server: every result, every mode."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pot_deliverability.emailcheck import CheckerSettings, EmailChecker, Mode, Verdict
from pot_stack.service import free_port


def settings(port: int, mode: Mode = Mode.SMTP, **overrides: Any) -> CheckerSettings:
    values: dict[str, Any] = {
        "per_host_interval_s": 0.0,
        "greylist_delay_s": 0.05,
        "allow_test_domains": True,
        "timeout_s": 5,
    }
    return CheckerSettings(mode=mode, probe_port=port, **{**values, **overrides})


@pytest.mark.parametrize(
    ("address", "verdict", "reason", "reply"),
    [
        ("alice@acme.probe.test", Verdict.VALID, "mailbox accepted", "250 2.1.5 OK"),
        ("nobody@acme.probe.test", Verdict.INVALID, "mailbox does not exist", "550 5.1.1 No such user here"),
        ("anyone@catchall.probe.test", Verdict.RISKY, "catch-all", "250 2.1.5 OK"),
        ("info@acme.probe.test", Verdict.RISKY, "role account", "250 2.1.5 OK"),
        ("full-x@acme.probe.test", Verdict.RISKY, "mailbox full", "552 5.2.2 Mailbox full"),
        (
            "blocked-x@acme.probe.test",
            Verdict.UNKNOWN,
            "refused the probe",
            "550 5.7.1 Probe refused by policy",
        ),
        ("someone@nullmx.probe.test", Verdict.INVALID, "null MX", ""),
        ("someone@nosuch.probe.test", Verdict.INVALID, "does not exist", ""),
        ("someone@deadmx.probe.test", Verdict.UNKNOWN, "could not talk to any MX", ""),
        ("not-an-address", Verdict.INVALID, "bad syntax", ""),
        ("x" * 65 + "@acme.probe.test", Verdict.INVALID, "longer than 64 octets (RFC 5321)", ""),
        (
            "x@" + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".probe.test",
            Verdict.INVALID,
            "",
            "",
        ),
    ],
)
async def test_smtp_mode_results(
    address: str, verdict: Verdict, reason: str, reply: str, probe_server: Any, resolver: Any
) -> None:
    result = await EmailChecker(resolver, settings(probe_server.port)).check(address)
    assert (result.result, result.smtp_reply) == (verdict, reply), result
    assert reason in result.reason
    assert probe_server.data_commands == 0


async def test_implicit_mx_is_probed_at_the_domain(probe_server: Any, resolver: Any) -> None:
    result = await EmailChecker(resolver, settings(probe_server.port)).check("x@implicit.probe.test")
    assert result.result is Verdict.INVALID and result.smtp_reply.startswith("550 5.1.1")


async def test_greylisting_is_retried(probe_server: Any, resolver: Any) -> None:
    result = await EmailChecker(resolver, settings(probe_server.port)).check("grey@acme.probe.test")
    assert result.result is Verdict.VALID
    assert probe_server.rcpt_log.count("grey@acme.probe.test") == 2


async def test_greylisting_without_retries_is_unknown(probe_server: Any, resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(probe_server.port, greylist_retries=0))
    result = await checker.check("grey@acme.probe.test")
    assert (result.result, result.smtp_reply) == (Verdict.UNKNOWN, "450 4.7.1 Greylisted, try again later")


async def test_catch_all_is_probed_once_per_domain(probe_server: Any, resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(probe_server.port))
    results = [
        r async for r in checker.check_many([(1, "a@catchall.probe.test"), (2, "b@catchall.probe.test")])
    ]
    assert {r.result for r in results} == {Verdict.RISKY}
    random_probes = [a for a in probe_server.rcpt_log if a.startswith("pot-nobody-")]
    assert len(random_probes) == 1


async def test_non_catch_all_domain_valid_after_random_probe(probe_server: Any, resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(probe_server.port))
    result = await checker.check("carol@globex.probe.test")
    assert result.result is Verdict.VALID
    assert any(
        a.startswith("pot-nobody-") and a.endswith("@globex.probe.test") for a in probe_server.rcpt_log
    )


async def test_syntax_mode_is_offline(resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(1, Mode.SYNTAX))
    assert (await checker.check("someone@nosuch.probe.test")).result is Verdict.VALID
    assert (await checker.check("bad@@x")).result is Verdict.INVALID
    assert (await checker.check("info@acme.probe.test")).result is Verdict.RISKY


async def test_format_mx_mode_looks_up_mx_but_does_not_connect(probe_server: Any, resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(probe_server.port, Mode.FORMAT_MX))
    assert (await checker.check("nobody@acme.probe.test")).result is Verdict.VALID
    assert (await checker.check("x@nullmx.probe.test")).result is Verdict.INVALID
    assert probe_server.sessions == []


async def test_auto_mode_probes_when_the_port_connects(probe_server: Any, resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(probe_server.port, Mode.AUTO))
    result = await checker.check("nobody@acme.probe.test")
    assert (result.result, result.mode, checker.notice) == (Verdict.INVALID, "smtp", "")


async def test_auto_mode_falls_back_to_format_mx_when_port_25_is_blocked(resolver: Any) -> None:
    closed = free_port()  # nothing listens: the connect test fails as a blocked port 25 would
    checker = EmailChecker(resolver, settings(closed, Mode.AUTO))
    result = await checker.check("nobody@acme.probe.test")
    assert (result.result, result.mode) == (Verdict.VALID, "format+mx")
    assert f"outbound port {closed} looks blocked" in checker.notice
    assert "fell back to format+mx" in result.reason


async def test_auto_mode_tries_every_mx_before_calling_the_port_blocked(
    probe_server: Any, resolver: Any
) -> None:
    checker = EmailChecker(resolver, settings(probe_server.port, Mode.AUTO))
    result = await checker.check("someone@deadfirst.probe.test")  # the first domain met; its MX 10 is down
    assert (result.mode, checker.notice) == ("smtp", "")
    assert "someone@deadfirst.probe.test" in probe_server.rcpt_log


async def test_per_host_concurrency_and_interval_are_respected(resolver: Any) -> None:
    from pot_stack.probe_server import ProbeServer

    server = ProbeServer(catch_all_domains={"d0.probe.test", "d1.probe.test"}, rcpt_delay=0.1).start()
    try:
        checker = EmailChecker(
            resolver,
            settings(
                server.port,
                per_host_concurrency=2,
                per_host_interval_s=0.05,
                global_concurrency=10,
                catch_all_check=False,
            ),
        )
        rows = [(i, f"u{i}@d{i % 2}.probe.test") for i in range(12)]
        results = [r async for r in checker.check_many(rows)]
        assert len(results) == 12 and {r.result for r in results} == {Verdict.VALID}
        assert server.politeness_violations(2, 0.05) == 0
        assert (
            server.politeness_violations(1, 0.0) > 0
        )  # the measure itself sees concurrency when there is some
    finally:
        server.stop()


async def test_one_host_serving_two_domains_gets_its_limit_not_twice_it(resolver: Any) -> None:
    from pot_stack.probe_server import ProbeServer

    # d0 and d1 have the same MX host: politeness per recipient domain allowed it 4 connections.
    server = ProbeServer(catch_all_domains={"d0.probe.test", "d1.probe.test"}, rcpt_delay=0.05).start()
    try:
        checker = EmailChecker(
            resolver,
            settings(server.port, per_host_concurrency=2, per_host_interval_s=0.0, rcpts_per_session=2),
        )
        rows = [(i, f"u{i}@d{i % 2}.probe.test") for i in range(16)]
        results = [r async for r in checker.check_many(rows)]
        assert {r.result for r in results} == {Verdict.RISKY}  # catch-all
        assert server.max_concurrent("host") == 2
        assert server.politeness_violations(2, 0.0, per="host") == 0
    finally:
        server.stop()


async def test_a_host_s_first_connection_is_not_paced(probe_server: Any, resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(probe_server.port, per_host_interval_s=30.0))
    started = asyncio.get_running_loop().time()
    assert (await checker.check("alice@acme.probe.test")).result is Verdict.VALID
    assert asyncio.get_running_loop().time() - started < 5


async def test_a_greylisted_address_holds_no_connection_while_it_waits(resolver: Any) -> None:
    from pot_stack.probe_server import ProbeServer

    users = {"acme.probe.test": {f"u{i}" for i in range(6)}}
    server = ProbeServer(users=users, greylist={"u0@acme.probe.test"}).start()
    try:
        checker = EmailChecker(
            resolver,
            settings(server.port, per_host_concurrency=1, greylist_delay_s=1.5, rcpts_per_session=1),
        )
        rows = [(i, f"u{i}@acme.probe.test") for i in range(6)]
        order = [r.address async for r in checker.check_many(rows)]
        # One connection in all, and the five others were all asked while u0 waited for its retry.
        assert order[-1] == "u0@acme.probe.test" and len(order) == 6
        assert server.rcpt_log.count("u0@acme.probe.test") == 2
    finally:
        server.stop()


async def test_full_mailbox_4_2_2_is_risky_at_once(probe_server: Any, resolver: Any) -> None:
    result = await EmailChecker(resolver, settings(probe_server.port)).check("quota-x@acme.probe.test")
    assert (result.result, result.reason) == (Verdict.RISKY, "mailbox full")
    assert result.smtp_reply == "452 4.2.2 Mailbox full, over quota"
    assert probe_server.rcpt_log.count("quota-x@acme.probe.test") == 1  # not retried as greylisting


async def test_starttls_is_used_when_offered(resolver: Any) -> None:
    from pot_stack.probe_server import ProbeServer

    server = ProbeServer(users={"acme.probe.test": {"alice"}}, tls=True).start()
    try:
        checker = EmailChecker(resolver, settings(server.port))
        result = await checker.check("alice@acme.probe.test")
        assert result.result is Verdict.VALID
        assert [s.tls for s in server.sessions if s.rcpts] == [True]
        assert checker.scheduler.stats["tls_sessions"] == 1
    finally:
        server.stop()


async def test_starttls_can_be_turned_off(resolver: Any) -> None:
    from pot_stack.probe_server import ProbeServer

    server = ProbeServer(users={"acme.probe.test": {"alice"}}, tls=True).start()
    try:
        checker = EmailChecker(resolver, settings(server.port, starttls=False))
        assert (await checker.check("alice@acme.probe.test")).result is Verdict.VALID
        assert [s.tls for s in server.sessions if s.rcpts] == [False]
    finally:
        server.stop()


async def test_auto_mode_does_not_decide_from_the_first_domain(probe_server: Any, resolver: Any) -> None:
    # The first domain's only MX refuses connections; the port itself is open, as the next domain shows.
    checker = EmailChecker(resolver, settings(probe_server.port, Mode.AUTO))
    rows = [(1, "someone@deadonly.probe.test"), (2, "alice@acme.probe.test"), (3, "nobody@acme.probe.test")]
    results = {r.address: r async for r in checker.check_many(rows, ordered=True)}
    assert checker.notice == "" and {r.mode for r in results.values()} == {"smtp"}
    assert results["alice@acme.probe.test"].result is Verdict.VALID
    assert results["nobody@acme.probe.test"].result is Verdict.INVALID
    assert results["someone@deadonly.probe.test"].result is Verdict.UNKNOWN


async def test_auto_mode_calls_the_port_blocked_only_when_every_domain_tried_fails(resolver: Any) -> None:
    closed = free_port()
    checker = EmailChecker(resolver, settings(closed, Mode.AUTO))
    rows = [(1, "a@acme.probe.test"), (2, "b@globex.probe.test"), (3, "c@deadonly.probe.test")]
    results = [r async for r in checker.check_many(rows)]
    assert {r.mode for r in results} == {"format+mx"} and "looks blocked" in checker.notice


async def test_json_flags_free_role_disposable_and_suggestion(resolver: Any) -> None:
    checker = EmailChecker(resolver, settings(1, Mode.SYNTAX))
    role = await checker.check("Info@acme.probe.test")
    typo = await checker.check("bob@gmial.com")
    assert (role.role, role.free, role.disposable) == (True, False, False)
    assert typo.disposable and typo.suggestion == "bob@gmail.com"
    assert set(role.as_dict()) >= {"free", "role", "disposable", "suggestion"}

"""The probe scheduler against scripted SMTP sessions (no network): limits per host, retries that hold
nothing, the next MX when a host is down, and a server's recipient limit."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest
from pot_common.addresses import check_syntax
from pot_deliverability.emailcheck import CheckerSettings, Verdict
from pot_deliverability.emailcheck import scheduler as scheduler_module
from pot_deliverability.emailcheck.probe import NoConnection
from pot_deliverability.emailcheck.scheduler import Scheduler


class Script:
    """What each scripted server answers, and what the scheduler did to it."""

    def __init__(self, replies: dict[str, list[tuple[int, str]]], down: frozenset[str] = frozenset()) -> None:
        self.replies = {a: list(r) for a, r in replies.items()}
        self.down = down
        self.open_now: collections.Counter[str] = collections.Counter()
        self.most: collections.Counter[str] = collections.Counter()
        self.asked: list[tuple[str, str]] = []


def scripted(script: Script) -> type:
    class FakeSession:
        def __init__(self, settings: CheckerSettings) -> None:
            self.tls = self.tried_tls = False
            self.host = ""

        async def open(self, host: str, addresses: list[str], *, starttls: bool = True) -> None:
            if host in script.down:
                raise NoConnection(f"{host} (192.0.2.1): refused")
            self.host = host
            script.open_now[host] += 1
            script.most[host] = max(script.most[host], script.open_now[host])

        async def rcpt(self, address: str) -> tuple[int, str]:
            await asyncio.sleep(0.01)
            script.asked.append((self.host, address))
            answers = script.replies.get(address) or [(250, "2.1.5 OK")]
            return answers.pop(0) if len(answers) > 1 else answers[0]

        async def close(self) -> None:
            if self.host:
                script.open_now[self.host] -= 1
                self.host = ""

    return FakeSession


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Any:
    async def go(script: Script, rows: list[tuple[str, tuple[str, ...]]], **settings: Any) -> list[Any]:
        monkeypatch.setattr(scheduler_module, "Session", scripted(script))
        values = {"catch_all_check": False, "per_host_interval_s": 0.0, "greylist_delay_s": 0.05, **settings}
        scheduler = Scheduler(CheckerSettings(**values), resolver=None)  # type: ignore[arg-type]

        async def addresses(host: str) -> list[str]:
            return ["192.0.2.1"]

        monkeypatch.setattr(scheduler, "_host_addresses", addresses)
        return list(
            await asyncio.gather(
                *(scheduler.probe(check_syntax(a, allow_test_domains=True), hosts) for a, hosts in rows)
            )
        )

    return go


async def test_one_host_of_many_domains_gets_its_limit(run: Any) -> None:
    script = Script({})
    rows = [(f"u{i}@d{i % 3}.test", ("mx.shared.test",)) for i in range(12)]
    outcomes = await run(script, rows, per_host_concurrency=2, rcpts_per_session=2)
    assert {o.verdict for o in outcomes} == {Verdict.VALID}
    assert script.most["mx.shared.test"] == 2


async def test_a_greylisted_address_is_retried_while_the_others_go_on(run: Any) -> None:
    script = Script({"grey@a.test": [(450, "4.7.1 Greylisted"), (250, "2.1.5 OK")]})
    rows = [("grey@a.test", ("mx.a.test",))] + [(f"u{i}@a.test", ("mx.a.test",)) for i in range(4)]
    outcomes = await run(script, rows, per_host_concurrency=1, rcpts_per_session=10)
    assert outcomes[0].verdict is Verdict.VALID
    asked = [address for _, address in script.asked]
    assert asked[0] == "grey@a.test" and asked[-1] == "grey@a.test"  # asked first, and again last
    assert asked[1:5] == [f"u{i}@a.test" for i in range(4)]


async def test_retries_end_in_unknown_with_the_last_reply(run: Any) -> None:
    script = Script({"grey@a.test": [(451, "4.3.0 Try later")]})
    (outcome,) = await run(script, [("grey@a.test", ("mx.a.test",))], greylist_retries=2)
    assert (outcome.verdict, outcome.reply) == (Verdict.UNKNOWN, "451 4.3.0 Try later")
    assert "after 3 attempts" in outcome.why


async def test_a_host_that_is_down_passes_its_addresses_to_the_next_mx(run: Any) -> None:
    script = Script({}, down=frozenset({"mx1.a.test"}))
    rows = [(f"u{i}@a.test", ("mx1.a.test", "mx2.a.test")) for i in range(3)]
    outcomes = await run(script, rows)
    assert {o.verdict for o in outcomes} == {Verdict.VALID}
    assert {host for host, _ in script.asked} == {"mx2.a.test"}


async def test_no_reachable_mx_is_unknown_naming_each_failure(run: Any) -> None:
    script = Script({}, down=frozenset({"mx1.a.test", "mx2.a.test"}))
    (outcome,) = await run(script, [("u@a.test", ("mx1.a.test", "mx2.a.test"))])
    assert outcome.verdict is Verdict.UNKNOWN
    assert (
        "could not talk to any MX" in outcome.why
        and "mx1.a.test" in outcome.why
        and "mx2.a.test" in outcome.why
    )


async def test_too_many_recipients_asks_again_in_a_new_session(run: Any) -> None:
    script = Script({"u1@a.test": [(452, "4.5.3 Too many recipients"), (250, "2.1.5 OK")]})
    rows = [(f"u{i}@a.test", ("mx.a.test",)) for i in range(3)]
    outcomes = await run(script, rows, per_host_concurrency=1)
    assert {o.verdict for o in outcomes} == {Verdict.VALID}
    assert [a for _, a in script.asked].count("u1@a.test") == 2


async def test_a_full_mailbox_is_risky_and_not_retried(run: Any) -> None:
    script = Script({"full@a.test": [(452, "4.2.2 Mailbox full")]})
    (outcome,) = await run(script, [("full@a.test", ("mx.a.test",))])
    assert (outcome.verdict, outcome.why) == (Verdict.RISKY, "mailbox full")
    assert len(script.asked) == 1

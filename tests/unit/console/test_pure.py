"""pot_console's small pure parts: charts, job events, campaign history, access wording, diagnostics."""

from __future__ import annotations

import asyncio

from pot_common.api.pool import MailboxPoolSpec
from pot_console import charts
from pot_console.auth import Access, User, cross_site
from pot_console.diagnostics import DOWN, UP, WARN, Probe, safe_url, summarise
from pot_console.history import History, bucket_seconds, cumulative
from pot_console.jobs import Event, Job, sse
from pot_console.pages import warmup_caps


def test_nice_ceiling() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 260, 9001)] == [1, 1, 5, 10, 20, 500, 10000]


def test_a_chart_escapes_and_summarises() -> None:
    svg = charts.line_chart(
        {"sent": [(0, 1), (60, 5)]}, title="<campaign> & co", x_format=lambda x: f"t{x:g}"
    )
    assert "<title>&lt;campaign&gt; &amp; co</title>" in svg
    assert "<desc>sent: 5 at t60</desc>" in svg and svg.count("<polyline") == 1
    assert "No data yet" in charts.line_chart({}, title="t")


def test_warmup_curve_and_today() -> None:
    spec = MailboxPoolSpec.model_validate(
        {"selector": {"matchLabels": {"a": "b"}}, "limits": {"perInboxPerDay": 25}}
    )
    caps = warmup_caps(spec)
    assert len(caps) == 21 and caps[0] == 5 and caps[-1] == 25  # max 30, held to the per-inbox limit
    svg = charts.warmup_chart(caps, day=4, cap_today=9)
    assert 'class="marker"' in svg and "day 4: 9/day" in svg


def test_threshold_bar_levels() -> None:
    assert 'class="bar ok"' in charts.threshold_bar("b", 100, 200, 500)
    assert 'class="bar warn"' in charts.threshold_bar("b", 300, 200, 500)
    assert 'class="bar pause"' in charts.threshold_bar("b", 600, 200, 500)


def test_sse_framing() -> None:
    assert sse(Event(3, "out", "a\nb")) == "id: 3\nevent: out\ndata: a\ndata: b\n\n"


def test_job_results_and_follow() -> None:
    async def run() -> list[str]:
        job = Job("id", "me", "check-emails", "Check", parse_results=True)
        await job.line("out", '{"line": 2, "address": "b@x.test", "result": "valid"}')
        await job.line("out", '{"line": 1, "address": "a@x.test", "result": "invalid", "free": true}')
        await job.line("err", "note: probing")
        await job.finish(0)
        assert job.results_csv().splitlines() == [
            "line,address,result,free",
            "1,a@x.test,invalid,True",
            "2,b@x.test,valid,",
        ]
        assert job.results_json().splitlines()[0].startswith('{"line": 1')
        return [e.kind async for e in job.follow(after=1)]

    assert asyncio.run(run()) == ["result", "err", "done"]


def test_campaign_history() -> None:
    clock = iter(range(100, 200))
    history = History(clock=lambda: next(clock))
    obj = {
        "metadata": {"namespace": "n", "name": "c"},
        "status": {"counts": {"total": 9, "sent": 1, "bounced": 0}},
    }
    history.seen(obj)
    history.seen(obj)  # unchanged: not a new sample
    obj["status"]["counts"]["sent"] = 4
    history.seen(obj)
    assert history.series(("n", "c")) == {
        "sent": [(100, 1.0), (101, 4.0)],
        "bounced": [(100, 0.0), (101, 0.0)],
    }
    assert cumulative([(60, "sent", 2), (60, "bounced", 1), (120, "sent", 3)]) == {
        "sent": [(60.0, 2.0), (120.0, 5.0)],
        "bounced": [(60.0, 1.0)],
    }
    assert bucket_seconds(0, 600) == 60 and bucket_seconds(0, 86400) == 300


def test_refusals_read_like_the_apiservers() -> None:
    access = Access("patch", "mailboxpools", namespace="acme", name="p")
    assert access.refused(User("system:serviceaccount:acme:viewer")) == (
        'mailboxpools "p" is forbidden: User "system:serviceaccount:acme:viewer" cannot patch resource '
        '"mailboxpools" in API group "pot.dev" in the namespace "acme"'
    )


def test_cross_site_requests_are_recognised() -> None:
    def scope(**headers: str) -> dict[str, object]:
        return {
            "type": "http",
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        }

    assert not cross_site(scope(host="127.0.0.1:8765", origin="http://127.0.0.1:8765"))
    assert cross_site(scope(host="127.0.0.1:8765", origin="http://evil.test"))
    assert cross_site(scope(host="127.0.0.1:8765", sec_fetch_site="cross-site"))
    assert cross_site(scope(host="127.0.0.1:8765", origin="null"))
    assert not cross_site(scope(host="127.0.0.1:8765"))  # curl, or an old browser: the cookie is SameSite


def test_diagnostics_never_show_credentials() -> None:
    assert (
        safe_url("postgresql://pot:s3cret@db.test:5432/pot?sslmode=require")
        == "postgresql://db.test:5432/pot"
    )
    assert safe_url("redis://:pw@127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert summarise([Probe("a", UP, ""), Probe("b", WARN, "")]) == WARN
    assert summarise([Probe("a", DOWN, ""), Probe("b", WARN, "")]) == DOWN

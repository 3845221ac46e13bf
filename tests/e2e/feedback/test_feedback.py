"""The feedback loop end to end (issue 13): the provider (the sink) accepts every message, and what
comes back arrives seconds later in the sending mailbox's IMAP inbox (Dovecot). Only the pool's
ingester, run by the local runner from the operator's Deployment, brings it into POT:

- 10 % `late-bounce-` recipients auto-pause the pool from ingested bounces alone (the submission
  server bounced nothing);
- `reply-` recipients are counted and never mailed again, by this campaign or a later one;
- an ingester killed (SIGKILL) while the answers come in loses and double-counts nothing;
- an XOAUTH2 mailbox sends and its inbox is read with XOAUTH2.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pot_stack.e2e import condition

from .conftest import Box, World, campaign, mailbox, pool

pytestmark = pytest.mark.timeout(420)


def counts(world: World, name: str) -> dict[str, int]:
    return dict((world.custom("campaigns", name).get("status") or {}).get("counts") or {})


def outcomes(world: World) -> dict[str, int]:
    return {
        r["outcome"]: r["n"]
        for r in world.sql("SELECT outcome, count(*) AS n FROM delivery_events GROUP BY 1")
    }


def test_late_bounces_alone_auto_pause_the_pool(start_world: Any) -> None:
    box = Box("bouncy-box", "bouncy-box@acme-mail.test", "bouncy-pass")
    world: World = start_world([box])
    recipients = [f"late-bounce-{i}@example.test" for i in range(4)] + [
        f"ok-{i}@example.test" for i in range(36)
    ]
    # A bounce rate of 5 % over at least 20 sends pauses a mailbox; one cooling mailbox of one is more
    # than maxCoolingPercent, and the pool's own rate is over the threshold too.
    world.apply(
        [
            pool("bouncy", minSample=20, bounceRatePauseBasisPoints=500, cooldownSeconds=3600),
            mailbox(world, "bouncy", box),
            *campaign("spring", "bouncy", recipients),
        ]
    )

    def paused() -> dict[str, Any] | None:
        obj = world.custom("mailboxpools", "bouncy")
        return obj if condition(obj, "AutoPaused").get("status") == "True" else None

    obj = world.wait(paused, 240, "the pool auto-paused")
    assert (obj["status"].get("paused"), "ounce" in (obj["status"].get("pauseReason") or "")) == (True, True)
    seen = outcomes(world)
    # The provider accepted everything: no bounce at submission; every bounce came from the inbox.
    assert seen.get("bounced", 0) == 0 and seen.get("policy", 0) == 0
    assert 2 <= seen.get("late_bounce", 0) <= 4
    late = world.sql("SELECT address FROM suppressions WHERE reason = 'hard_bounce' ORDER BY address")
    assert {r["address"] for r in late} <= {f"late-bounce-{i}@example.test" for i in range(4)}
    world.wait(lambda: counts(world, "spring").get("bouncedLater", 0) >= 2, 60, "bouncedLater counted")


def test_replies_are_counted_never_mailed_again_and_a_killed_ingester_loses_nothing(start_world: Any) -> None:
    box = Box("talk-box", "talk-box@acme-mail.test", "talk-pass")
    world: World = start_world([box])
    replies = [f"reply-{i}@example.test" for i in range(10)]
    ooo = [f"ooo-{i}@example.test" for i in range(5)]
    quiet = [f"ok-{i}@example.test" for i in range(15)]
    world.apply([pool("talk"), mailbox(world, "talk", box)])
    world.wait(lambda: world.processes("pot-ingester"), 120, "the pool's ingester running")
    world.apply(campaign("first", "talk", replies + ooo + quiet))

    # Kill the ingester as soon as it has recorded one answer, while the others are still arriving.
    world.wait(lambda: world.sql("SELECT 1 FROM inbox_messages LIMIT 1"), 180, "a first answer recorded")
    killed = world.kill_ingester()
    at_kill = world.sql("SELECT count(*) AS n FROM inbox_messages")[0]["n"]
    print(f"answers recorded when the ingester was killed: {at_kill} of 15")
    world.wait(
        lambda: [p for p in world.processes("pot-ingester") if p["pid"] != killed], 60, "a new ingester"
    )

    def settled() -> dict[str, int] | None:
        c = counts(world, "first")
        return c if (c.get("replied"), c.get("autoReplied"), c.get("sent")) == (10, 5, 30) else None

    world.wait(settled, 180, "10 replies and 5 auto-replies counted")
    # Exactly once each, whatever the kill interrupted.
    assert world.sql("SELECT count(*) AS n FROM inbox_messages")[0]["n"] == 15
    seen = outcomes(world)
    assert (seen.get("reply"), seen.get("auto_reply")) == (10, 5)
    rows = world.sql("SELECT address, reason FROM suppressions ORDER BY address")
    assert [(r["address"], r["reason"]) for r in rows] == [(a, "reply") for a in sorted(replies)]

    # A later campaign to the same people mails only those who did not reply.
    world.sink.clear()
    world.apply(campaign("second", "talk", replies + quiet[:5]))
    world.wait(lambda: counts(world, "second").get("sent") == 5, 180, "the second campaign sent")
    assert counts(world, "second").get("suppressed") == 10
    mailed = Counter(m.rcpt_to for m in world.sink.messages())
    assert not set(mailed) & set(replies)
    assert sorted(mailed) == sorted(quiet[:5])


def test_an_xoauth2_mailbox_sends_and_its_inbox_is_read(start_world: Any) -> None:
    box = Box("oauth-box", "oauth-box@acme-mail.test")  # no password: XOAUTH2 on SMTP and IMAP
    world: World = start_world([box])
    world.apply(
        [pool("oauth"), mailbox(world, "oauth", box), *campaign("hello", "oauth", ["reply-x@example.test"])]
    )
    world.wait(lambda: counts(world, "hello").get("replied") == 1, 240, "the reply read over XOAUTH2")
    (sent,) = world.sink.messages()
    assert sent.auth_mechanism == "XOAUTH2"
    row = world.sql("SELECT auth_mechanism FROM mailboxes WHERE name = 'oauth-box'")
    assert row[0]["auth_mechanism"] == "oauth2"
    text = world.all_logs()
    assert box.refresh_token not in text and "cs-CANARY-feedback" not in text

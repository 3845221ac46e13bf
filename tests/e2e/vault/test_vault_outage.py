"""A 30 s Vault outage in the middle of a campaign is temporary: OpenBao is stopped, kept down for 30 s
and started again with the same data (on disk; it comes back sealed for a moment, then unsealed).
No mailbox ends credentials_bad, sending resumes within 10 s of Vault's return, nothing goes twice."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from pot_stack.e2e import wait_for

from .conftest import Box, World, campaign, mailbox, new_namespace, pool, wait_completed

OUTAGE_SECONDS = 30.0
RESUME_BUDGET_SECONDS = 10.0


def test_a_vault_outage_mid_campaign_is_temporary(start_world: Any, kube: Any) -> None:
    namespace = new_namespace(kube, "outage")
    boxes = [Box("alice", "alice-o", "pw-alice-o"), Box("bob", "bob-o", "pw-bob-o")]
    # Credentials cached for one second only, so the workers need Vault all through the outage.
    world: World = start_world({namespace: boxes}, worker_env={"POT_CREDENTIALS_TTL_SECONDS": "1"})
    recipients = [f"r{i:02d}@example.test" for i in range(40)]
    world.apply(
        [
            pool(namespace, "outreach", spacing=1),
            *(mailbox(namespace, "outreach", box, world.sink) for box in boxes),
            *campaign(namespace, "outreach", "hello", recipients),
        ]
    )

    def stored() -> int:
        return len(world.sink.messages())

    wait_for(lambda: stored() >= 4, 120, "the campaign sending", world.logs)
    world.bao.stop()
    down_at = time.monotonic()
    at_stop = stored()
    time.sleep(5)
    settled = stored()  # what was in flight with cached credentials has gone by now
    time.sleep(OUTAGE_SECONDS - (time.monotonic() - down_at))
    at_return = stored()
    began = time.monotonic()
    world.bao.start()  # the same data; sealed until start() has unsealed it
    back_at = time.monotonic()
    wait_for(lambda: stored() > at_return, 60, "sending to resume", world.logs)
    resumed_after = time.monotonic() - back_at
    final = wait_completed(world, namespace, "hello")
    print(
        f"vault_outage_seconds={back_at - down_at:.1f} vault_restart_seconds={back_at - began:.1f} "
        f"resumed_after_seconds={resumed_after:.1f} sent_before={at_stop} sent_during={at_return - at_stop} "
        f"total_seconds={time.monotonic() - down_at:.1f}"
    )

    assert at_return == settled, "sending went on without Vault: the outage was not felt"
    assert at_return < len(recipients), "the campaign ended before Vault came back"
    assert resumed_after < RESUME_BUDGET_SECONDS
    # Nothing twice, nothing lost.
    assert Counter(m.rcpt_to for m in world.sink.messages()) == Counter(recipients)
    assert final["status"]["counts"]["sent"] == len(recipients)
    # No mailbox was judged by Vault's absence, in Postgres or on the Mailbox.
    states = dict(world.sql("SELECT name, state FROM mailboxes WHERE namespace = $1", namespace))
    assert states == {"alice": "active", "bob": "active"}
    for box in boxes:
        status = world.custom(namespace, "mailboxes", box.name).get("status") or {}
        assert status.get("state") != "Failed", status

"""Pure parts of the limits: key buckets, rotation, retry times for refusals (pot_worker.limits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from pot_worker.limits import (
    Keys,
    MailboxLimits,
    day_bucket,
    epoch_us,
    hour_bucket,
    refusal_retry_at,
    rotation,
)

T = datetime(2026, 3, 2, 10, 42, 7, tzinfo=UTC)


def test_buckets_are_utc_calendar_day_and_hour() -> None:
    local = T.astimezone(timezone(timedelta(hours=-11)))  # the previous day in that zone
    assert day_bucket(local) == "20260302"
    assert hour_bucket(local) == "2026030210"


def test_keys_of_a_pool_share_its_prefix_and_separate_levels_and_epochs() -> None:
    k = Keys(7)
    names = {
        k.campaign_day("e1", 1, T),
        k.campaign_hour("e1", 1, T),
        k.domain_hour("e1", "Gmail.com", T),
        k.mailbox_day("e1", 1, T),
        k.mailbox_hour("e1", 1, T),
        k.mailbox_last("e1", 1),
        k.epoch,
    }
    assert len(names) == 7
    assert all(n.startswith("pot:7:") for n in names)
    assert k.domain_hour("e1", "Gmail.com", T) == k.domain_hour("e1", "gmail.com", T)
    # A rebuilt epoch counts in a fresh set of keys: nothing the old set held is read again.
    assert k.campaign_day("e1", 1, T) != k.campaign_day("e2", 1, T)
    assert k.mailbox_last("e1", 1) != k.mailbox_last("e2", 1)


def test_epoch_microseconds_are_exact() -> None:
    when = datetime(2026, 3, 2, 10, 42, 7, 123456, tzinfo=UTC)
    assert epoch_us(when) % 1_000_000 == 123456
    assert float(epoch_us(when)) == epoch_us(when)  # survives Lua's doubles


def test_rotation_round_robins_and_wraps() -> None:
    boxes = [MailboxLimits(i, 10, 5, 0) for i in range(4)]
    assert [m.id for m in rotation(boxes, 0, 2)] == [0, 1]
    assert [m.id for m in rotation(boxes, 3, 3)] == [3, 0, 1]
    assert [m.id for m in rotation(boxes, 9, 10)] == [1, 2, 3, 0]
    assert rotation([], 5, 3) == []


def test_refusal_retry_times() -> None:
    assert refusal_retry_at("campaign", "day", T) == datetime(2026, 3, 3, tzinfo=UTC)
    assert refusal_retry_at("campaign", "hour", T) == datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert refusal_retry_at("domain", "hour", T) == datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert refusal_retry_at("inbox", "1500", T) == T + timedelta(microseconds=1500)
    # every candidate at its cap: look again soon (another mailbox may have room), at the latest next hour
    assert refusal_retry_at("inbox", "-1", T) == T + timedelta(minutes=5)


def test_the_claim_doubles_while_every_job_gets_its_limits_up_to_the_ceiling() -> None:
    from pot_worker.runner import next_batch_size

    sizes = [50]
    for _ in range(5):
        sizes.append(next_batch_size(sizes[-1], sizes[-1], sizes[-1], sizes[-1], 50, 400))
    assert sizes == [50, 100, 200, 400, 400, 400]


def test_the_claim_does_not_grow_on_a_short_queue_or_a_partial_grant() -> None:
    from pot_worker.runner import next_batch_size

    assert next_batch_size(100, 100, 30, 30, 50, 400) == 100  # fewer due jobs than asked
    assert next_batch_size(100, 100, 100, 60, 50, 400) == 100  # some refused, most granted


def test_the_claim_halves_when_limits_refuse_most_but_not_below_the_floor() -> None:
    from pot_worker.runner import next_batch_size

    assert next_batch_size(400, 400, 400, 10, 50, 400) == 200
    assert next_batch_size(80, 80, 80, 0, 50, 400) == 50
    # Two lanes: a lane that asked for 400 when another already halved to 200 does not grow it back.
    assert next_batch_size(200, 400, 400, 0, 50, 400) == 200


def test_a_ceiling_below_the_floor_fixes_the_claim_size() -> None:
    from pot_worker.runner import next_batch_size

    assert next_batch_size(20, 20, 20, 20, 20, 1) == 20

"""pot_unsubscribe.ratelimit: per-client and global token buckets, decided on a given clock."""

from __future__ import annotations

from pot_unsubscribe.ratelimit import RateLimiter, TokenBucket


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    for _ in range(3):
        assert bucket.wait(0.0) == 0
        bucket.take()
    assert bucket.wait(0.0) == 0.5
    assert bucket.wait(0.5) == 0
    bucket.take()
    assert bucket.wait(0.5) == 0.5


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.wait(1000.0) == 0 and bucket.tokens == 2


def test_one_client_over_its_limit_leaves_others_alone() -> None:
    limiter = RateLimiter(per_client_rate=1.0, per_client_burst=2, global_rate=100.0, global_burst=100)
    assert [limiter.check("a", 0.0) for _ in range(3)] == [0, 0, 1.0]
    assert limiter.check("b", 0.0) == 0
    assert limiter.check("a", 1.0) == 0


def test_the_global_bucket_limits_everyone_together() -> None:
    limiter = RateLimiter(per_client_rate=10.0, per_client_burst=10, global_rate=1.0, global_burst=3)
    results = [limiter.check(f"c{i}", 0.0) for i in range(4)]
    assert results[:3] == [0, 0, 0] and results[3] == 1.0


def test_a_refused_client_spends_no_global_tokens() -> None:
    limiter = RateLimiter(per_client_rate=0.001, per_client_burst=1, global_rate=0.001, global_burst=2)
    assert limiter.check("greedy", 0.0) == 0
    for _ in range(50):
        assert limiter.check("greedy", 0.0) > 0
    assert limiter.check("other", 0.0) == 0


def test_memory_is_bounded_and_the_newest_client_is_kept() -> None:
    limiter = RateLimiter(
        per_client_rate=1.0, per_client_burst=1, global_rate=1e9, global_burst=10**9, max_clients=100
    )
    for i in range(1000):
        assert limiter.check(f"10.0.{i // 256}.{i % 256}", float(i)) == 0
    assert len(limiter) <= 100
    assert limiter.check("10.0.3.231", 999.0) > 0  # the last one seen still has its spent bucket

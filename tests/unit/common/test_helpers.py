"""pot_common's shared helpers: backoff schedule, TTL cache, SQL loader, address validator."""

from __future__ import annotations

import pytest
from pot_common.addresses import MAX_ADDRESS, check_syntax, is_plain_address
from pot_common.backoff import Backoff
from pot_common.cache import TtlCache
from pot_common.sql import load_sql


def test_backoff_grows_by_its_factor_up_to_the_cap_with_full_jitter() -> None:
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high / 2

    backoff = Backoff(base=0.5, cap=3.0, uniform=uniform)
    assert [backoff.ceiling(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.delay(2) == 0.5
    assert draws == [(0.0, 1.0)]
    # A huge attempt count neither overflows nor passes the cap.
    assert Backoff(base=1, cap=60).ceiling(10_000) == 60


def test_ttl_cache_expires_by_its_clock_and_honours_a_shorter_max_age() -> None:
    now = [100.0]
    cache: TtlCache[str, int] = TtlCache(ttl=10, clock=lambda: now[0])
    cache.put("a", 1)
    now[0] += 5
    assert cache.get("a") == 1
    assert cache.age("a") == 5
    assert cache.get("a", max_age=4) is None
    now[0] += 5
    assert cache.get("a") is None
    assert len(cache) == 1
    cache.pop("a")
    assert cache.get("a") is None and cache.age("a") is None


def test_load_sql_reads_a_packaged_query_once() -> None:
    text = load_sql("pot_common.db", "worker_claim")
    assert "SKIP LOCKED" in text.upper()
    assert load_sql("pot_common.db", "worker_claim") is text


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("alice@example.com", True),
        ("Alice.O'Neil+tag@example.co.uk", True),
        ("no-at-sign.example.com", False),
        ("two@@example.com", False),
        ("a" * 65 + "@example.com", False),
        ("x@" + "a" * 300 + ".com", False),
        ("x" * 100_000, False),
    ],
)
def test_check_syntax(address: str, ok: bool) -> None:
    result = check_syntax(address)
    assert result.ok is ok, result.reason
    if ok:
        assert result.domain == result.domain.lower() and "@" not in result.domain
    else:
        assert result.reason
        assert len(result.reason) < 2 * MAX_ADDRESS  # a hostile input is not echoed back whole


def test_plain_address_fast_path() -> None:
    assert is_plain_address("bob.smith@mail.example.com")
    assert not is_plain_address('"quoted local"@example.com')
    assert not is_plain_address("bob@[127.0.0.1]")
    assert not is_plain_address("bob@example.com\r\nBcc: eve@example.com")


def test_tenant_paths_stay_inside_the_namespace_folder() -> None:
    from pot_common.vault import VaultPathOutsideTenant, tenant_path

    assert tenant_path("acme", "mailboxes/alice") == "pot/acme/mailboxes/alice"
    assert tenant_path("acme", "alerts/telegram.bot", prefix="tenants/") == "tenants/acme/alerts/telegram.bot"
    hostile_paths = ("", "/pot/evil/x", "../evil/x", "a/../../evil", "a//b", "./a", "a/.", "a/b\n", ".x/y")
    for hostile in hostile_paths:
        with pytest.raises(VaultPathOutsideTenant):
            tenant_path("acme", hostile)

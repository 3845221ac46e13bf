"""Unsubscribe tokens (pot_common.unsubscribe): made per recipient, verified with the same key only."""

from __future__ import annotations

import pytest
from pot_common.unsubscribe import (
    InvalidToken,
    Unsubscriber,
    WeakKey,
    key_bytes,
    link_with_token,
    make_token,
    verify_token,
)

KEY = b"k" * 32


def test_a_token_verifies_to_who_it_was_made_for() -> None:
    token = make_token(KEY, "acme", "welcome", "Bob@X.test")
    assert verify_token(KEY, token) == Unsubscriber("acme", "welcome", "bob@x.test")
    assert token == make_token(KEY, "acme", "welcome", "bob@x.test")


@pytest.mark.parametrize(
    "token",
    [
        make_token(b"o" * 32, "acme", "welcome", "bob@x.test"),  # another key
        make_token(KEY, "acme", "welcome", "bob@x.test")[:-2],  # truncated
        make_token(KEY, "acme", "welcome", "eve@x.test").split(".")[0]
        + "."
        + make_token(KEY, "acme", "welcome", "bob@x.test").split(".")[1],  # payload swapped
        "garbage",
        ".",
        "a.b!",
    ],
)
def test_anything_else_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(KEY, token)


def test_tokens_differ_per_tenant_campaign_and_address() -> None:
    tokens = {
        make_token(KEY, t, c, a)
        for t in ("acme", "globex")
        for c in ("w", "x")
        for a in ("a@x.test", "b@x.test")
    }
    assert len(tokens) == 8


def test_the_token_is_url_safe() -> None:
    token = make_token(KEY, "acme", "w", "ü+x@x.test")
    assert all(c.isalnum() or c in "-_." for c in token)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(WeakKey):
        key_bytes("short")
    assert key_bytes("x" * 32) == b"x" * 32


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u.test/u", "https://u.test/u?token=T"),
        ("https://u.test/u?a=1", "https://u.test/u?a=1&token=T"),
        ("https://u.test/u?", "https://u.test/u?token=T"),
        ("https://u.test/u#f", "https://u.test/u?token=T#f"),
        ("https://u.test/{token}/x", "https://u.test/T/x"),
    ],
)
def test_link_with_token(url: str, expected: str) -> None:
    assert link_with_token(url, "T") == expected

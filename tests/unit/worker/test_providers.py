"""Provider grouping by MX (pot_worker.providers.provider_for)."""

from __future__ import annotations

import pytest
from pot_worker.providers import provider_for


@pytest.mark.parametrize(
    ("domain", "mx", "provider"),
    [
        (
            "gmail.com",
            [(5, "gmail-smtp-in.l.google.com."), (10, "alt1.gmail-smtp-in.l.google.com.")],
            "google",
        ),
        ("acme.com", [(1, "aspmx.l.google.com.")], "google"),
        ("old.com", [(10, "aspmx2.googlemail.com.")], "google"),
        ("contoso.com", [(0, "contoso-com.mail.protection.outlook.com.")], "microsoft365"),
        ("outlook.com", [(5, "outlook-com.olc.protection.outlook.com.")], "outlook"),
        ("yahoo.com", [(1, "mta5.am0.yahoodns.net.")], "yahoo"),
        ("good.test", [(10, "mx.good.test.")], "good.test"),
        ("a.test", [(20, "mx2.hoster.net."), (10, "mx1.hoster.net.")], "hoster.net"),
        ("nomx.test", [], "nomx.test"),
        ("nullmx.test", [(0, ".")], "nullmx.test"),
        ("Upper.TEST", [], "upper.test"),
        ("a.co.uk", [(10, "mx1.mail.hostco.co.uk.")], "hostco.co.uk"),  # not all of "co.uk"
        ("b.co.uk", [(10, "mx.otherhost.co.uk.")], "otherhost.co.uk"),
        ("c.example", [(10, "localhost")], "localhost"),
    ],
)
def test_provider_for(domain: str, mx: list[tuple[int, str]], provider: str) -> None:
    assert provider_for(domain, mx) == provider


def test_lowest_preference_wins() -> None:
    assert (
        provider_for("x.test", [(30, "mx.third.net"), (5, "mx.first.net"), (10, "mx.second.net")])
        == "first.net"
    )

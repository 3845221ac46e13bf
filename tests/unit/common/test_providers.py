"""The provider table: inbox hosts by SMTP host and OAuth2 token endpoints."""

import pytest
from pot_common.providers import GOOGLE_TOKEN_URL, imap_endpoint, imap_host_for, token_url


def test_known_smtp_hosts_name_their_imap_host_and_unknown_ones_none() -> None:
    assert imap_host_for("SMTP.gmail.com.") == "imap.gmail.com"
    assert imap_host_for("smtp.office365.com") == "outlook.office365.com"
    assert imap_host_for("smtp.acme-mail.test") is None


def test_the_spec_host_wins_then_the_provider_then_nothing() -> None:
    assert imap_endpoint("imap.acme.test", 143, "starttls", "smtp.gmail.com").host == "imap.acme.test"
    target = imap_endpoint(None, 993, "implicit", "smtp.gmail.com")
    assert target is not None and (target.host, target.port, target.tls) == (
        "imap.gmail.com",
        993,
        "implicit",
    )
    assert imap_endpoint(None, 993, "implicit", "smtp.acme-mail.test") is None


def test_token_urls_by_provider_tenant_and_override() -> None:
    assert token_url("google", None) == GOOGLE_TOKEN_URL
    assert token_url("microsoft", None, "contoso.onmicrosoft.com") == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert "/organizations/" in token_url("microsoft", None)
    assert token_url("google", "http://127.0.0.1:9/token") == "http://127.0.0.1:9/token"
    with pytest.raises(ValueError, match="tokenUrl"):
        token_url("custom", None)

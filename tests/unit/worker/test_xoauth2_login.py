"""The worker's pure login decisions for OAuth2 mailboxes: which refusal earns one fresh token, and why a
refreshed token does not reopen a connection while a rotated secret does."""

from __future__ import annotations

from pot_common.mail_credentials import OAUTH2, AuthRef, Login
from pot_worker.catalog import mailbox_from_row
from pot_worker.classify import Phase
from pot_worker.dispatcher import login_is_stale, token_may_have_expired
from pot_worker.smtp import Attempt
from pydantic import SecretStr


def oauth(token: str, version: int = 1) -> Login:
    return Login("alice@acme.test", OAUTH2, access_token=SecretStr(token), version=version)


def test_a_refused_xoauth2_login_earns_one_fresh_token_and_nothing_else_does() -> None:
    refused = Attempt(Phase.AUTH, 535, "5.7.3 Authentication unsuccessful")
    assert token_may_have_expired(refused, oauth("a"))
    assert not token_may_have_expired(refused, Login.with_password("alice", SecretStr("pw")))
    assert not token_may_have_expired(refused, None)
    assert not token_may_have_expired(Attempt(Phase.AUTH, 454, "4.7.0 try later"), oauth("a"))
    assert not token_may_have_expired(Attempt(Phase.CONNECT, None, "refused"), oauth("a"))
    assert not token_may_have_expired(Attempt(Phase.RCPT, 550, "5.1.1 no such user"), oauth("a"))


def test_a_refreshed_token_keeps_the_session_and_a_new_secret_version_closes_it() -> None:
    assert not login_is_stale(oauth("a"), oauth("b"), connected=True)  # a refresh, same secret
    assert login_is_stale(oauth("a", 1), oauth("a", 2), connected=True)  # the secret rotated
    password = Login.with_password("alice@acme.test", SecretStr("pw"), 1)
    assert login_is_stale(password, oauth("a"), connected=True)  # the mailbox moved to OAuth2
    assert login_is_stale(None, oauth("a"), connected=True)
    assert not login_is_stale(None, None, connected=True)
    assert not login_is_stale(oauth("a", 1), oauth("a", 2), connected=False)


def test_the_catalog_carries_the_rows_sign_in() -> None:
    row = {
        "id": 7,
        "namespace": "acme",
        "name": "alice",
        "address": "alice@acme.test",
        "display_name": "Alice",
        "smtp_host": "smtp.office365.com",
        "smtp_port": 587,
        "smtp_tls": "starttls",
        "credentials_ref": "vault:pot/acme/mailboxes/alice",
        "daily_cap": 10,
        "hourly_cap": 5,
        "min_spacing_seconds": 0,
        "state": "active",
        "cooldown_until": None,
        "auth_mechanism": "oauth2",
        "oauth_provider": "microsoft",
        "oauth_token_url": None,
    }
    assert mailbox_from_row(row).login_ref == AuthRef("vault:pot/acme/mailboxes/alice", "oauth2", "microsoft")
    plain = {k: v for k, v in row.items() if not k.startswith(("auth_", "oauth_"))}
    assert mailbox_from_row(plain).login_ref == AuthRef("vault:pot/acme/mailboxes/alice")

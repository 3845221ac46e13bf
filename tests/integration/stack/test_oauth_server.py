"""The local OAuth2 token endpoint: refresh-token grants as Google and Microsoft answer them, RFC 7662
introspection, revocation, request counts; in-process and as the `make up` process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pot_stack.oauth_server import OAuthServer, OAuthService
from pot_stack.stack import group_members


def grant() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "username": f"box-{tag}@acme-mail.test",
        "client_id": f"client-{tag}.apps.test",
        "client_secret": f"secret-{tag}",
        "refresh_token": f"1//refresh-{tag}",
    }


def redeem(url: str, g: dict[str, str], **extra: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": g["refresh_token"],
        "client_id": g["client_id"],
        "client_secret": g["client_secret"],
        **extra,
    }
    return httpx.post(url, data=form, timeout=10)


def test_refresh_grant_issues_a_bearer_token_that_introspects_to_its_user(oauth_server: OAuthServer) -> None:
    g = grant()
    oauth_server.register(**g)
    answer = redeem(oauth_server.token_url, g, scope="https://mail.google.com/")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == oauth_server.expires_in
    assert body["scope"] == "https://mail.google.com/"
    assert oauth_server.user_for(body["access_token"]) == g["username"]
    info = httpx.post(oauth_server.introspect_url, data={"token": body["access_token"]}).json()
    assert info["active"] is True and info["username"] == g["username"] and info["exp"] > time.time()
    assert httpx.post(oauth_server.introspect_url, data={"token": "pot-at-forged"}).json() == {
        "active": False
    }
    assert oauth_server.user_for("pot-at-forged") is None
    assert oauth_server.token_requests(g["refresh_token"]) == 1


@pytest.mark.parametrize("wrong", ["refresh_token", "client_id", "client_secret"])
def test_wrong_refresh_token_or_client_is_invalid_grant(oauth_server: OAuthServer, wrong: str) -> None:
    g = grant()
    oauth_server.register(**g)
    answer = redeem(oauth_server.token_url, {**g, wrong: "nope"})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_other_grant_types_and_missing_fields_are_refused(oauth_server: OAuthServer) -> None:
    g = grant()
    oauth_server.register(**g)
    answer = redeem(oauth_server.token_url, g, grant_type="password")
    assert (answer.status_code, answer.json()["error"]) == (400, "unsupported_grant_type")
    answer = httpx.post(oauth_server.token_url, data={"grant_type": "refresh_token", "client_id": "x"})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_client_credentials_in_basic_auth_are_taken(oauth_server: OAuthServer) -> None:
    g = grant()
    oauth_server.register(**g)
    answer = httpx.post(
        oauth_server.token_url,
        data={"grant_type": "refresh_token", "refresh_token": g["refresh_token"]},
        auth=(g["client_id"], g["client_secret"]),
    )
    assert answer.status_code == 200, answer.text


def test_microsoft_tenant_path_checks_the_tenant(oauth_server: OAuthServer) -> None:
    g = grant()
    oauth_server.register(**g, tenant="tenant-a")
    assert redeem(oauth_server.tenant_token_url("tenant-a"), g).status_code == 200
    assert redeem(oauth_server.tenant_token_url("organizations"), g).status_code == 200
    answer = redeem(oauth_server.tenant_token_url("tenant-b"), g)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    assert oauth_server.token_requests(g["refresh_token"]) == 3


def test_access_tokens_expire_after_expires_in() -> None:
    server = OAuthServer(expires_in=1).start()
    try:
        g = grant()
        server.register(**g)
        token = redeem(server.token_url, g).json()["access_token"]
        assert server.user_for(token) == g["username"]
        time.sleep(1.2)
        assert server.user_for(token) is None
        assert httpx.post(server.introspect_url, data={"token": token}).json() == {"active": False}
    finally:
        server.stop()


def test_revoke_kills_the_grant_and_its_access_tokens(oauth_server: OAuthServer) -> None:
    g = grant()
    oauth_server.register(**g)
    token = redeem(oauth_server.token_url, g).json()["access_token"]
    assert oauth_server.revoke(g["refresh_token"]) is True
    assert oauth_server.user_for(token) is None
    assert redeem(oauth_server.token_url, g).json()["error"] == "invalid_grant"
    h = grant()
    oauth_server.register(**h)
    assert httpx.post(f"{oauth_server.url}/revoke", data={"token": h["refresh_token"]}).status_code == 200
    assert redeem(oauth_server.token_url, h).status_code == 400


@pytest.fixture
def service(tmp_path: Path) -> Iterator[OAuthService]:
    svc = OAuthService(tmp_path, expires_in=120)
    svc.start()
    yield svc
    svc.stop()


def test_process_keeps_the_same_api_and_logs_no_secret(service: OAuthService) -> None:
    g = grant()
    service.register(**g)
    body = redeem(service.token_url, g).json()
    assert body["expires_in"] == 120
    assert service.user_for(body["access_token"]) == g["username"]
    assert service.token_requests(g["refresh_token"]) == 1
    assert service.env()["POT_STACK_OAUTH_URL"] == service.url
    assert service.revoke(g["refresh_token"]) is True
    assert service.user_for(body["access_token"]) is None
    logged = service.log_path.read_text()
    assert g["username"] in logged
    assert g["refresh_token"] not in logged and body["access_token"] not in logged
    assert g["client_secret"] not in logged
    (pid,) = service.pids()
    service.stop()
    assert group_members(pid) == []

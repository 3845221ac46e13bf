"""pot_unsubscribe.app on stand-ins for Vault and Postgres (the integration tests use the real ones): the
token paths, what GET and POST do, hostile input, and that neither the token nor the address is logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pot_common.unsubscribe import make_token
from pot_common.vault import SecretNotFound, VaultConfig, VaultUnavailable
from pot_unsubscribe.app import create_app, masked
from pot_unsubscribe.config import UnsubscribeSettings
from pot_unsubscribe.keys import KeyStore
from pot_unsubscribe.store import DatabaseUnavailable
from starlette.testclient import TestClient

KEY = "an-unsubscribe-key-of-at-least-32-bytes"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


class FakeVault:
    """Answers KV reads from a dict; `down` makes every read a VaultUnavailable."""

    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.config = VaultConfig(addr="http://vault.test", token="t")
        self.secrets = secrets
        self.down = False

    async def read_async(self, path: str) -> dict[str, Any]:
        if self.down:
            raise VaultUnavailable("connection refused")
        if path not in self.secrets:
            raise SecretNotFound(path)
        return self.secrets[path]


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {}
        self.down = False

    async def suppress(self, tenant: str, address: str, campaign: str) -> bool:
        if self.down:
            raise DatabaseUnavailable("down")
        key = (tenant, address.lower())
        if key in self.rows:
            return False
        self.rows[key] = f"one-click:{campaign}"
        return True

    async def ping(self) -> bool:
        return not self.down

    async def close(self) -> None:
        pass


class World:
    def __init__(self, **settings: Any) -> None:
        self.vault = FakeVault(
            {"pot/acme/unsubscribe": {"key": KEY}, "pot/weak/unsubscribe": {"key": "short"}}
        )
        self.store = FakeStore()
        self.now = 0.0
        self.keys = KeyStore(self.vault, "pot", 300, 60, clock=lambda: self.now)  # type: ignore[arg-type]
        config = UnsubscribeSettings(database_url="postgresql://unused", **settings)
        app = create_app(config, self.keys, self.store, clock=lambda: self.now)  # type: ignore[arg-type]
        self.client = TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def world() -> World:
    return World()


def token(tenant: str = "acme", address: str = "Bob@Example.com", key: str = KEY) -> str:
    return make_token(key.encode(), tenant, "spring", address)


def test_a_one_click_post_suppresses_once(world: World) -> None:
    first = world.client.post(f"/u/{token()}", data=ONE_CLICK)
    assert first.status_code == 200 and "unsubscribed" in first.text
    assert world.store.rows == {("acme", "bob@example.com"): "one-click:spring"}
    again = world.client.post(f"/u/{token()}", data=ONE_CLICK)
    assert again.status_code == 200 and len(world.store.rows) == 1
    assert "set-cookie" not in first.headers and first.headers["cache-control"] == "no-store"


def test_the_query_form_and_multipart_work_too(world: World) -> None:
    done = world.client.post(f"/unsubscribe?token={token()}", files={"List-Unsubscribe": (None, "One-Click")})
    assert done.status_code == 200 and ("acme", "bob@example.com") in world.store.rows


def test_get_shows_a_page_that_posts_and_changes_nothing(world: World) -> None:
    page = world.client.get(f"/u/{token()}")
    assert page.status_code == 200
    assert '<form method="post">' in page.text and 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert masked("bob@example.com") in page.text and "bob@example.com" not in page.text.lower()
    assert world.store.rows == {}
    assert world.client.head(f"/u/{token()}").status_code == 200 and world.store.rows == {}


@pytest.mark.parametrize(
    "bad",
    [
        token(key="another-key-that-is-32-bytes-long!!"),  # forged
        token(tenant="nokey"),  # a tenant without a key
        token(tenant="weak"),  # a key too short to trust
        token()[:-2] + ("AA" if not token().endswith("AA") else "BB"),  # altered MAC
        "garbage",
        "",
    ],
)
def test_a_token_we_did_not_make_is_one_404_page(world: World, bad: str) -> None:
    for response in (world.client.get(f"/u/{bad}"), world.client.post(f"/u/{bad}", data=ONE_CLICK)):
        assert response.status_code == 404
        assert "not valid" in response.text
        for word in ("signature", "tenant", "key", "base64"):
            assert word not in response.text.lower()
    assert world.store.rows == {}


def test_a_post_without_one_click_changes_nothing(world: World) -> None:
    assert world.client.post(f"/u/{token()}").status_code == 400
    assert world.client.post(f"/u/{token()}", data={"List-Unsubscribe": "maybe"}).status_code == 400
    assert world.store.rows == {}


def test_vault_down_is_503_with_retry_after_and_then_works(world: World) -> None:
    world.vault.down = True
    down = world.client.post(f"/u/{token()}", data=ONE_CLICK)
    assert down.status_code == 503 and int(down.headers["retry-after"]) > 0 and world.store.rows == {}
    world.vault.down = False
    assert world.client.post(f"/u/{token()}", data=ONE_CLICK).status_code == 200
    assert ("acme", "bob@example.com") in world.store.rows


def test_a_cached_key_outlives_a_short_vault_outage(world: World) -> None:
    assert world.client.get(f"/u/{token()}").status_code == 200
    world.vault.down = True
    assert world.client.post(f"/u/{token()}", data=ONE_CLICK).status_code == 200
    world.now += 301
    assert world.client.post(f"/u/{token()}", data=ONE_CLICK).status_code == 503


def test_forged_tokens_for_made_up_tenants_cost_one_vault_read_each_per_minute(world: World) -> None:
    for _ in range(5):
        world.client.get(f"/u/{token(tenant='nokey')}")
    assert world.keys.reads == 1
    world.now += 61
    world.client.get(f"/u/{token(tenant='nokey')}")
    assert world.keys.reads == 2


def test_database_down_is_503_and_nothing_lost(world: World) -> None:
    world.store.down = True
    down = world.client.post(f"/u/{token()}", data=ONE_CLICK)
    assert down.status_code == 503 and down.headers["retry-after"]
    assert world.client.get("/readyz").status_code == 503
    world.store.down = False
    assert world.client.post(f"/u/{token()}", data=ONE_CLICK).status_code == 200
    assert world.client.get("/readyz").status_code == 200


def test_rate_limit_per_client_is_429_with_retry_after() -> None:
    world = World(ip_burst=3, ip_rate_per_minute=6)
    codes = [world.client.get(f"/u/{token()}").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = world.client.post(f"/u/{token()}", data=ONE_CLICK)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "10"
    assert world.store.rows == {}
    world.now += 10
    assert world.client.get(f"/u/{token()}").status_code == 200
    assert world.client.get("/healthz").status_code == 200  # probes are never limited


def test_forwarded_for_counts_only_behind_a_trusted_proxy() -> None:
    world = World(ip_burst=1, ip_rate_per_minute=1, trusted_proxies="10.0.0.0/8")
    # The test client's peer is no proxy of ours: its X-Forwarded-For is ignored, one bucket for both.
    assert world.client.get("/u/x", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 404
    assert world.client.get("/u/x", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 429
    # Through the ingress (10.0.0.5), each client has its own bucket.
    app = world.client.app
    ingress = TestClient(app, client=("10.0.0.5", 40000), raise_server_exceptions=False)
    assert ingress.get("/u/x", headers={"X-Forwarded-For": "198.51.100.3"}).status_code == 404
    assert ingress.get("/u/x", headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 404
    assert ingress.get("/u/x", headers={"X-Forwarded-For": "198.51.100.4"}).status_code == 429


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("PUT", "/u/x", {}, 405),
        ("DELETE", "/u/x", {}, 405),
        ("PATCH", "/healthz", {}, 405),
        ("POST", "/u/{t}", {"content": b"List-Unsubscribe=One-Click" + b"&x=" + b"a" * 20000}, 413),
        (
            "POST",
            "/u/{t}",
            {"content": b"\xff\xfe", "headers": {"content-type": "application/x-www-form-urlencoded"}},
            400,
        ),
        ("POST", "/u/{t}", {"content": b"{}", "headers": {"content-type": "application/json"}}, 400),
        (
            "POST",
            "/u/{t}",
            {"content": b"x", "headers": {"content-type": "multipart/form-data; boundary=\r\nX"}},
            400,
        ),
        ("GET", "/u/" + "A" * 5000 + "." + "B" * 43, {}, 404),
        ("GET", "/u/%ff%fe.%00", {}, 404),
        ("GET", "/?token=%ff%fe", {}, 404),
        ("GET", "/anything/else", {}, 404),
    ],
)
def test_hostile_input_gets_a_clear_4xx(
    world: World, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = world.client.request(method, path.replace("{t}", token()), **kwargs)
    assert response.status_code == status
    assert "Traceback" not in response.text
    assert world.store.rows == {}


def test_a_huge_chunked_body_is_refused(world: World) -> None:
    def chunks() -> Any:
        yield b"List-Unsubscribe=One-Click&"
        for _ in range(100):
            yield b"x" * 1000

    assert world.client.post(f"/u/{token()}", content=chunks()).status_code == 413
    assert world.store.rows == {}


def test_logs_never_hold_the_token_or_the_address(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    t = token()
    world.client.post(f"/u/{t}", data=ONE_CLICK)
    world.store.down = True  # the failure's log line too
    world.client.post(f"/u/{token(address='carol@example.org')}", data=ONE_CLICK)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("pot_unsubscribe")).lower()
    assert "unsubscribed tenant=acme campaign=spring domain=example.com" in text
    assert t.lower() not in text and t.split(".")[1].lower() not in text
    assert "bob@example.com" not in text and "carol" not in text

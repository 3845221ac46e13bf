"""`pot-unsubscribe` on the real Postgres and OpenBao: a one-click POST suppresses once, GET changes
nothing, a token is honoured only in the tenant whose key made it, Vault away is a 503 until it is
back, the rate limit answers 429, and the `pot_unsubscribe` role can add a suppression and nothing else."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from pot_stack.e2e import sql
from pot_stack.openbao import OpenBao

from .conftest import Endpoint, Tenant, prepare_database, put_key

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def suppressions(url: str) -> list[tuple[str, str, str, str]]:
    rows = sql(url, "SELECT tenant, address, reason, source FROM suppressions ORDER BY tenant, address")
    return [tuple(r) for r in rows]


def base_env(database: str, vault: OpenBao, **extra: str) -> dict[str, str]:
    return {"POT_DATABASE_URL": database, **vault.env(), **extra}


def test_a_one_click_post_suppresses_once_and_get_changes_nothing(
    fresh_database: str,
    vault: OpenBao,
    tenants: tuple[Tenant, Tenant],
    start_endpoint: Callable[..., Endpoint],
) -> None:
    acme, _ = tenants
    endpoint = start_endpoint(base_env(prepare_database(fresh_database), vault))
    link = f"{endpoint.url}/u/{acme.token('Bob@Example.com')}"

    page = httpx.get(link)
    assert page.status_code == 200 and 'value="One-Click"' in page.text
    assert suppressions(fresh_database) == []

    first = httpx.post(link, data=ONE_CLICK)
    assert first.status_code == 200 and "set-cookie" not in first.headers
    second = httpx.post(link, data=ONE_CLICK)
    assert second.status_code == 200 and second.text == first.text
    assert suppressions(fresh_database) == [(acme.name, "bob@example.com", "unsubscribe", "one-click:spring")]

    # The worker's link shape without a {token} placeholder: ?token= on the configured URL.
    query = httpx.post(f"{endpoint.url}/unsubscribe?token={acme.token('carol@example.com')}", data=ONE_CLICK)
    assert query.status_code == 200
    assert len(suppressions(fresh_database)) == 2
    assert endpoint.counter("unsubscribed") == 2 and endpoint.counter("already") == 1
    assert endpoint.counter("confirm") == 1
    assert httpx.get(f"{endpoint.url}/readyz").status_code == 200

    log = endpoint.log_text()
    assert f"Unsubscribed tenant={acme.name} campaign=spring domain=example.com" in log
    assert "bob@example.com" not in log.lower() and acme.token("bob@example.com") not in log


def test_a_token_suppresses_only_in_the_tenant_whose_key_made_it(
    fresh_database: str,
    vault: OpenBao,
    tenants: tuple[Tenant, Tenant],
    start_endpoint: Callable[..., Endpoint],
) -> None:
    acme, globex = tenants
    endpoint = start_endpoint(base_env(prepare_database(fresh_database), vault))
    canary = "canary@globex.example"

    # acme's key signing a token that claims globex; globex's name on a token signed by nobody's key.
    for token in (
        Tenant(globex.name, acme.key).token(canary),
        Tenant(globex.name, b"k" * 48).token(canary),
        acme.token(canary)[:-4] + "AAAA",
    ):
        for response in (
            httpx.get(f"{endpoint.url}/u/{token}"),
            httpx.post(f"{endpoint.url}/u/{token}", data=ONE_CLICK),
        ):
            assert response.status_code == 404 and "not valid" in response.text
    assert suppressions(fresh_database) == []

    # acme's own token for the same address suppresses it for acme alone: globex still mails it.
    assert httpx.post(f"{endpoint.url}/u/{acme.token(canary)}", data=ONE_CLICK).status_code == 200
    assert suppressions(fresh_database) == [(acme.name, canary, "unsubscribe", "one-click:spring")]
    assert endpoint.counter("invalid") == 6


def test_vault_away_is_a_503_until_it_is_back(
    fresh_database: str, tmp_path: Path, start_endpoint: Callable[..., Endpoint]
) -> None:
    bao = OpenBao(tmp_path / "bao")
    bao.start()
    try:
        acme = put_key(bao, "acme")
        endpoint = start_endpoint(base_env(prepare_database(fresh_database), bao))
        link = f"{endpoint.url}/u/{acme.token('dave@example.com')}"
        bao.stop()
        down = httpx.post(link, data=ONE_CLICK, timeout=30)
        assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
        assert "try again" in down.text and suppressions(fresh_database) == []
        assert httpx.get(f"{endpoint.url}/readyz").status_code == 200  # Postgres is fine: stay in service
        bao.start()  # dev mode, same port and root token, empty: the admin writes the key again
        vault_key = acme.key.decode()
        bao.put_secret("pot/acme/unsubscribe", {"key": vault_key})
        again = httpx.post(link, data=ONE_CLICK, timeout=30)
        assert again.status_code == 200
        assert suppressions(fresh_database) == [
            ("acme", "dave@example.com", "unsubscribe", "one-click:spring")
        ]
        assert endpoint.counter("vault_unavailable") == 1
        assert "Could not read the unsubscribe key tenant=acme" in endpoint.log_text()
    finally:
        bao.stop()


def test_postgres_away_is_a_503_and_not_ready(
    vault: OpenBao, tenants: tuple[Tenant, Tenant], start_endpoint: Callable[..., Endpoint]
) -> None:
    acme, _ = tenants
    from pot_stack.service import free_port

    endpoint = start_endpoint(base_env(f"postgresql://nobody@127.0.0.1:{free_port()}/none", vault))
    response = httpx.post(f"{endpoint.url}/u/{acme.token('erin@example.com')}", data=ONE_CLICK, timeout=30)
    assert response.status_code == 503 and response.headers["retry-after"]
    assert httpx.get(f"{endpoint.url}/readyz", timeout=30).status_code == 503
    assert endpoint.counter("db_unavailable") == 1
    assert "Could not write the suppression tenant=" in endpoint.log_text()
    assert "erin" not in endpoint.log_text()


def test_over_the_rate_limit_is_a_429_with_retry_after(
    fresh_database: str,
    vault: OpenBao,
    tenants: tuple[Tenant, Tenant],
    start_endpoint: Callable[..., Endpoint],
) -> None:
    acme, _ = tenants
    env = base_env(prepare_database(fresh_database), vault, POT_IP_BURST="5", POT_IP_RATE_PER_MINUTE="6")
    endpoint = start_endpoint(env)
    link = f"{endpoint.url}/u/{acme.token('frank@example.com')}"
    codes = [httpx.get(link).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    limited = httpx.post(link, data=ONE_CLICK)
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 10
    assert suppressions(fresh_database) == []
    time.sleep(int(limited.headers["retry-after"]))
    assert httpx.post(link, data=ONE_CLICK).status_code == 200
    assert endpoint.counter("rate_limited") == 3


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM suppressions",
        "DELETE FROM suppressions",
        "UPDATE suppressions SET reason = 'manual'",
        "SELECT * FROM recipients",
        "SELECT * FROM send_jobs",
        "INSERT INTO suppression_list_entries (tenant, list_name, address) VALUES ('a', 'b', 'c')",
        "CREATE TABLE mine (x int)",
    ],
)
def test_the_unsubscribe_role_can_do_nothing_else(fresh_database: str, statement: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        sql(prepare_database(fresh_database), statement)


def test_hostile_requests_get_a_clear_4xx_from_the_real_server(
    fresh_database: str,
    vault: OpenBao,
    tenants: tuple[Tenant, Tenant],
    start_endpoint: Callable[..., Endpoint],
) -> None:
    acme, _ = tenants
    endpoint = start_endpoint(base_env(prepare_database(fresh_database), vault, POT_IP_BURST="100"))
    token = acme.token("grace@example.com")
    link = f"{endpoint.url}/u/{token}"
    answers = {
        "put": httpx.put(link, data=ONE_CLICK).status_code,
        "huge": httpx.post(link, content=b"List-Unsubscribe=One-Click&" + b"x" * 1_000_000).status_code,
        "json": httpx.post(link, json={"List-Unsubscribe": "One-Click"}).status_code,
        "latin1": httpx.post(
            link,
            content=b"List-Unsubscribe=One-Click&n=\xe9",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).status_code,
        "long-token": httpx.get(f"{endpoint.url}/u/{'A' * 6000}.{'B' * 43}").status_code,
        "bytes-path": httpx.get(f"{endpoint.url}/u/%ff%fe%00").status_code,
        "no-token": httpx.post(f"{endpoint.url}/", data=ONE_CLICK).status_code,
    }
    assert answers == {
        "put": 405,
        "huge": 413,
        "json": 400,
        "latin1": 400,
        "long-token": 404,
        "bytes-path": 404,
        "no-token": 404,
    }
    assert suppressions(fresh_database) == []
    assert httpx.post(link, data=ONE_CLICK).status_code == 200  # and it still serves
    assert "Traceback" not in endpoint.log_text()

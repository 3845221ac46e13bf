"""Small helpers the e2e tests share: wait for a condition on live objects, read a condition, run SQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from kubernetes import client


def wait_for(
    check: Callable[[], Any], timeout: float = 60, what: str = "", show: Callable[[], Any] | None = None
) -> Any:
    """Poll `check` until it returns something truthy (an ApiException counts as not yet)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except client.ApiException as e:
            last = e
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: last={last!r} {show() if show else ''}")


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    """The status condition of that type, or {} when there is none yet."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """One query on a fresh connection, from synchronous test code."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())

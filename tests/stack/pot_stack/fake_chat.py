"""Local servers speaking the Telegram Bot API (sendMessage) and Slack incoming webhooks; for alert tests
and the local stack (`make up` runs it as the `chat` service, the operator's alerts land there).

Telegram: `POST /bot<token>/sendMessage` with JSON or form fields; unknown token → 401 Unauthorized,
no chat_id → 400 "chat not found", empty text → 400 "message text is empty", text over 4096 → 400
"message is too long", bad parse_mode → 400; otherwise `{"ok": true, "result": {message}}`.
`rate_limit_after=N` answers 429 with `retry_after` from the (N+1)th message on.
Slack: `POST <hook path>` with JSON `{"text": ...}`; unknown path → 404 `no_service`, bad JSON →
400 `invalid_payload`, no text → 400 `no_text`, else 200 `ok`.
Every accepted message is kept in `telegram_messages` / `slack_messages`.

`accept_any=True` takes any bot token and any hook path (the stack cannot know the tokens a demo
writes into Vault); `store=DIR` also appends each accepted message as one JSON line to
`DIR/telegram.jsonl` / `DIR/slack.jsonl`, without the token or the hook path (both are secrets).

Command line (accept-any, stored): `python -m pot_stack.fake_chat --port P --store DIR`.
In-process: `FakeChat(telegram_tokens={...}, slack_hooks={...}).start()`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from pot_stack.service import Service, free_port, wait_until

TELEGRAM_LOG = "telegram.jsonl"
SLACK_LOG = "slack.jsonl"


class FakeChat:
    """Both fakes on one loopback port, in a background thread; `url` is the base for both."""

    def __init__(
        self,
        *,
        telegram_tokens: set[str],
        slack_hooks: set[str],
        rate_limit_after: int | None = None,
        port: int = 0,
        accept_any: bool = False,
        store: Path | None = None,
    ) -> None:
        self.telegram_tokens = telegram_tokens
        self.slack_hooks = slack_hooks
        self.rate_limit_after = rate_limit_after
        self.accept_any = accept_any
        self.store = store
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.telegram_messages: list[dict[str, Any]] = []
        self.slack_messages: list[dict[str, Any]] = []
        self.requests: list[str] = []  # request paths, for tests that check what was called
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(r"/bot{token}/sendMessage", self._telegram)
        app.router.add_post(r"/{path:.*}", self._slack)
        return app

    async def _telegram(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if not self.accept_any and request.match_info["token"] not in self.telegram_tokens:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if request.content_type == "application/json":
            params: dict[str, Any] = await request.json()
        else:
            params = dict(await request.post())

        def bad(description: str) -> web.Response:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}, status=400
            )

        text = str(params.get("text") or "")
        if not params.get("chat_id"):
            return bad("chat not found")
        if not text.strip():
            return bad("message text is empty")
        if len(text) > 4096:
            return bad("message is too long")
        if params.get("parse_mode") not in (None, "", "MarkdownV2", "HTML", "Markdown"):
            return bad(f"unsupported parse_mode {params['parse_mode']}")
        with self._lock:
            if self.rate_limit_after is not None and len(self.telegram_messages) >= self.rate_limit_after:
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 7",
                        "parameters": {"retry_after": 7},
                    },
                    status=429,
                )
            message = {
                "message_id": len(self.telegram_messages) + 1,
                "date": int(time.time()),
                "chat": {"id": params["chat_id"], "type": "private"},
                "text": text,
                "parse_mode": params.get("parse_mode"),
            }
            self.telegram_messages.append(message)
            self._keep(TELEGRAM_LOG, message)
        return web.json_response({"ok": True, "result": message})

    async def _slack(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if not self.accept_any and request.path not in self.slack_hooks:
            return web.Response(status=404, text="no_service")
        try:
            payload = json.loads(await request.text())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(payload, dict) or not str(payload.get("text") or "").strip():
            return web.Response(status=400, text="no_text")
        with self._lock:
            self.slack_messages.append({"hook": request.path, **payload})
            self._keep(SLACK_LOG, {"date": int(time.time()), **payload})
        return web.Response(text="ok")

    def _keep(self, name: str, record: dict[str, Any]) -> None:
        """Append one JSON line (called under the lock, so lines never interleave)."""
        if self.store is not None:
            with (self.store / name).open("a") as out:
                out.write(json.dumps(record, sort_keys=True) + "\n")

    def start(self) -> FakeChat:
        self._thread.start()

        async def up() -> None:
            self._runner = web.AppRunner(self._app())
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(up(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def read_store(store: Path) -> dict[str, list[dict[str, Any]]]:
    """The messages a stored fake accepted, by channel (`telegram`, `slack`), oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for channel, name in (("telegram", TELEGRAM_LOG), ("slack", SLACK_LOG)):
        path = store / name
        lines = path.read_text().splitlines() if path.exists() else []
        found[channel] = [json.loads(line) for line in lines if line.strip()]
    return found


class FakeChatService(Service):
    """The fake as a detached, accept-any process (`make up`): both API bases point at it."""

    name = "chat"
    host = "127.0.0.1"

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(root)
        self.port = port or 0
        self.store = self.dir  # <root>/chat/

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        # The operator keeps a webhook's path from Vault and replaces only its scheme and host.
        return {"POT_TELEGRAM_API_URL": self.url, "POT_SLACK_WEBHOOK_URL": self.url}

    def start(self) -> None:
        self.port = self.port or free_port()
        proc = self.spawn(
            [
                sys.executable,
                "-m",
                "pot_stack.fake_chat",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--store",
                str(self.store),
            ]
        )
        wait_until(
            lambda: proc.poll() is None and _connects(self.host, self.port),
            timeout=30,
            what=f"fake chat on port {self.port}",
            log=self.log_path,
        )

    def messages(self) -> dict[str, list[dict[str, Any]]]:
        return read_store(self.store)


def _connects(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=2):
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pot_stack.fake_chat", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True, help="folder for telegram.jsonl and slack.jsonl")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiohttp's access log prints each request path, and a Bot API path holds the token.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    chat = FakeChat(telegram_tokens=set(), slack_hooks=set(), accept_any=True, store=args.store)
    logging.getLogger("pot_stack.fake_chat").info(
        "Serving fake Telegram and Slack: url=http://%s:%d store=%s", args.host, args.port, args.store
    )
    # run_app stops cleanly on SIGTERM (make down) and SIGINT.
    web.run_app(chat._app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()

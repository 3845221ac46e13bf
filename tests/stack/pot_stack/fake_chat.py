"""Local servers speaking the Telegram Bot API (sendMessage) and Slack incoming webhooks; for alert tests.

Telegram: `POST /bot<token>/sendMessage` with JSON or form fields; unknown token → 401 Unauthorized,
no chat_id → 400 "chat not found", empty text → 400 "message text is empty", text over 4096 → 400
"message is too long", bad parse_mode → 400; otherwise `{"ok": true, "result": {message}}`.
`rate_limit_after=N` answers 429 with `retry_after` from the (N+1)th message on.
Slack: `POST <hook path>` with JSON `{"text": ...}`; unknown path → 404 `no_service`, bad JSON →
400 `invalid_payload`, no text → 400 `no_text`, else 200 `ok`.
Every accepted message is kept in `telegram_messages` / `slack_messages`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

from pot_stack.service import free_port


class FakeChat:
    """Both fakes on one loopback port, in a background thread; `url` is the base for both."""

    def __init__(
        self,
        *,
        telegram_tokens: set[str],
        slack_hooks: set[str],
        rate_limit_after: int | None = None,
        port: int = 0,
    ) -> None:
        self.telegram_tokens = telegram_tokens
        self.slack_hooks = slack_hooks
        self.rate_limit_after = rate_limit_after
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
        if request.match_info["token"] not in self.telegram_tokens:
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
        return web.json_response({"ok": True, "result": message})

    async def _slack(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        if request.path not in self.slack_hooks:
            return web.Response(status=404, text="no_service")
        try:
            payload = json.loads(await request.text())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(payload, dict) or not str(payload.get("text") or "").strip():
            return web.Response(status=400, text="no_text")
        with self._lock:
            self.slack_messages.append({"hook": request.path, **payload})
        return web.Response(text="ok")

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

"""What every console handler shares: the Console state, who is asking, rendering, the access check.

Used by pot_console.pages and pot_console.actions; pot_console.app builds the Console and the routes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pot_common.cache import TtlCache
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from pot_console.auth import Access, Auth, User
from pot_console.history import History
from pot_console.jobs import Jobs
from pot_console.kube import ClusterView
from pot_console.settings import ConsoleSettings

PACKAGE = Path(str(resources.files("pot_console")))
FLASH_SECONDS = 120.0


@dataclass
class Console:
    """Everything a handler needs: settings, who may do what, the cluster's objects, the running tools."""

    settings: ConsoleSettings
    auth: Auth
    view: ClusterView
    templates: Jinja2Templates
    jobs: Jobs = field(default_factory=Jobs)
    history: History = field(default_factory=History)
    flashes: TtlCache[str, tuple[str, str]] = field(default_factory=lambda: TtlCache(FLASH_SECONDS))

    def flash(self, level: str, message: str) -> str:
        """Keep a message for the next page (by id, so no text ever travels in a URL); its id."""
        key = secrets.token_urlsafe(9)
        self.flashes.put(key, (level, message))
        return key


def console(request: Request) -> Console:
    value: Console = request.app.state.console
    return value


def user_of(request: Request) -> User:
    user: User = request.state.user
    return user


async def require(request: Request, access: Access) -> None:
    """Refuse with 403 and the apiserver's wording unless the user may do `access`."""
    allowed, why = await console(request).auth.allowed(user_of(request), access)
    if not allowed:
        raise HTTPException(403, why)


def back(path: str, flash: str = "", **params: str) -> str:
    """A local path (never another site) with the flash id and parameters to land on after an action."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        path = "/"
    query = {k: v for k, v in {**params, "flash": flash}.items() if v}
    joiner = "&" if "?" in path else "?"
    return path + (joiner + urlencode(query) if query else "")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    c = console(request)
    flash = c.flashes.get(request.query_params.get("flash", ""))
    base = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "auth_mode": c.auth.mode,
        "namespace_scope": c.settings.namespace,
        "flash": flash,
        "nav": request.url.path.split("/")[1] if request.url.path != "/" else "fleet",
    }
    return c.templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "the console failed; see its log"
    if "state" not in request.scope or not hasattr(request.state, "user"):
        return HTMLResponse(f"<!doctype html><title>{status}</title><p>{status}</p>", status)
    return render(request, "error.html", status_code=status, status=status, detail=detail)


def here(request: Request) -> str:
    """This page's path and query without its flash id: where an action on it lands again."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "flash"]
    return request.url.path + ("?" + urlencode(query) if query else "")


def templates() -> Jinja2Templates:
    engine = Jinja2Templates(directory=str(PACKAGE / "templates"))
    engine.env.globals["urlencode"] = urlencode
    engine.env.globals["here"] = here
    engine.env.trim_blocks = True
    engine.env.lstrip_blocks = True
    return engine

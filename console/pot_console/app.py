"""The console's ASGI application: its routes, middleware and lifespan (informers started and stopped).

`create_app` is called by `potctl console` (pot_console.serve) and by the tests and bench/console.py
with a ready cluster connection. Handlers live in pot_console.pages (what is shown) and
pot_console.actions (what is done); both reach the shared state (pot_console.web) per request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from potctl.kube_commands import Cluster
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pot_console import actions, pages
from pot_console.auth import Auth, AuthMiddleware, LocalAuth, SecurityHeaders
from pot_console.fleet import mailbox_entry
from pot_console.history import History
from pot_console.kube import ClusterView
from pot_console.settings import ConsoleSettings
from pot_console.web import PACKAGE, Console, http_error, templates


def create_app(
    settings: ConsoleSettings,
    cluster: Cluster,
    auth: Auth | None = None,
    *,
    start_informers: bool = True,
    view: ClusterView | None = None,
) -> Starlette:
    """The console for one cluster connection; `auth` defaults to a fresh local token."""
    auth = auth or LocalAuth()
    history = History()
    view = view or ClusterView.create(cluster, settings.namespace, mailbox_entry, history.seen)
    state = Console(settings, auth, view, templates(), history=history)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.console = state
        if start_informers:
            view.start()
        try:
            yield
        finally:
            view.stop()
            await state.jobs.close()

    routes = [
        Route("/", pages.home),
        Route("/healthz", pages.healthz),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", actions.login, methods=["POST"]),
        Route("/logout", actions.logout, methods=["POST"]),
        Route("/fleet", pages.fleet),
        Route("/mailboxes/{namespace}/{name}", pages.mailbox),
        Route("/campaigns", pages.campaigns),
        Route("/campaigns/live", pages.campaigns_live),
        Route("/campaigns/{namespace}/{name}", pages.campaign),
        Route("/campaigns/{namespace}/{name}/chart", pages.campaign_chart),
        Route("/actions/pause", actions.pause, methods=["POST"]),
        Route("/actions/cancel", actions.cancel, methods=["POST"]),
        Route("/tools", pages.tools),
        Route("/tools/{tool}", pages.tool),
        Route("/tools/{tool}/run", actions.run_tool, methods=["POST"]),
        Route("/tools/send-telegram/preview", actions.telegram_preview, methods=["POST"]),
        Route("/jobs/{job}", pages.job),
        Route("/jobs/{job}/events", actions.job_events),
        Route("/jobs/{job}/download.{fmt}", actions.job_download),
        Route("/diagnostics", pages.diagnostics),
        Mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(AuthMiddleware, auth=auth, secure_cookies=settings.secure_cookies),
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
        lifespan=lifespan,
    )
    app.state.console = state
    return app

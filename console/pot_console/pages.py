"""The console's pages (what is shown): Fleet, Mailbox, Campaigns, Campaign, Tools, Diagnostics, a job.

Each handler checks the user may read what it shows, reads the informers' current objects (never
waiting on the apiserver once they are synced) and renders a template; routes in pot_console.app.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pydantic
from pot_common.api.campaign import CampaignStatus
from pot_common.api.mailbox import MailboxHealth, MailboxStatus
from pot_common.api.pool import MailboxPoolSpec
from pot_common.warmup import CurveShape, WarmupCurve, warmup_cap
from potctl.kube_views import VIEWS, Target, campaign_row, name_of, parse_status, pool_row
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from pot_console import charts, history
from pot_console import diagnostics as checks
from pot_console.auth import DIAGNOSTICS, Access, tool_access
from pot_console.blocklists import FIELDS as BLOCKLIST_FIELDS
from pot_console.fleet import SORT_KEYS, STATES, FleetQuery, MailboxRow, select
from pot_console.kube import Informer
from pot_console.telegram import PARSE_MODES
from pot_console.tools import BY_ID, TOOLS, Field, form_fields, potctl_command
from pot_console.web import console, render, require, user_of

LIVE_SECONDS = 2.0
FINISHED = ("sent", "bounced", "failed", "suppressed", "unsubscribed")


async def home(request: Request) -> Response:
    return RedirectResponse("/fleet", 303)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def login_form(request: Request) -> Response:
    c = console(request)
    if c.auth.mode != "kubernetes":
        return RedirectResponse("/", 303)
    return c.templates.TemplateResponse(request, "login.html", {"request": request, "error": ""})


async def synced(informer: Informer) -> str:
    """Wait (off the event loop) for the informer's first listing; the listing's error sentence, if any."""
    await run_in_threadpool(informer.synced.wait, 20.0)
    return informer.error


def _namespaced(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    return [o for o in objects if not namespace or name_of(o)[0] == namespace]


async def fleet(request: Request) -> Response:
    c = console(request)
    query = FleetQuery.from_params(request.query_params)
    await require(request, Access("list", "mailboxpools", namespace=query.namespace))
    await require(request, Access("list", "mailboxes", namespace=query.namespace))
    errors = [e for e in [await synced(c.view.pools), await synced(c.view.mailboxes)] if e]
    pools = sorted(_namespaced(c.view.pools.items(), query.namespace), key=name_of)
    rows: list[MailboxRow] = c.view.mailboxes.values()
    page = select(rows, query)
    return render(
        request,
        "fleet.html",
        errors=errors,
        pools=[(name_of(p), pool_row(p), bool((p.get("spec") or {}).get("paused"))) for p in pools],
        pool_columns=VIEWS[Target.POOL].columns,
        page=page,
        query=query,
        states=STATES,
        sort_keys=SORT_KEYS,
    )


def _pool_spec(obj: dict[str, Any] | None) -> MailboxPoolSpec | None:
    if obj is None:
        return None
    try:
        return MailboxPoolSpec.model_validate(obj.get("spec") or {})
    except pydantic.ValidationError:
        return None


def warmup_caps(spec: MailboxPoolSpec) -> list[int]:
    """The pool's cap for each warmup day, day 1 first, never above its per-inbox daily limit."""
    curve = WarmupCurve(
        spec.warmup.days, spec.warmup.start_volume, spec.warmup.max_volume, CurveShape(spec.warmup.curve)
    )
    return [min(warmup_cap(curve, day), spec.limits.per_inbox_per_day) for day in range(1, curve.days + 1)]


async def one_object(request: Request, informer: Informer) -> tuple[str, str, dict[str, Any]]:
    """The object the path names, once the user may get it and the informer has listed; else 403 or 404."""
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    await require(request, Access("get", informer.kind.plural, namespace=namespace, name=name))
    await synced(informer)
    obj = informer.get((namespace, name))
    if obj is None:
        raise HTTPException(404, f"{informer.kind.kind} {namespace}/{name} not found")
    return namespace, name, obj


async def mailbox(request: Request) -> Response:
    c = console(request)
    namespace, name, obj = await one_object(request, c.view.mailboxes)
    status = parse_status(MailboxStatus, obj) or MailboxStatus()
    row = c.view.mailboxes.derived.get((namespace, name))
    pool_obj = c.view.pools.get((namespace, status.pool)) if status.pool else None
    spec = _pool_spec(pool_obj)
    curve = charts.warmup_chart(warmup_caps(spec), status.warmup_day, status.cap_today) if spec else ""
    bars = []
    if spec is not None:
        h, inputs = spec.health, status.health
        measured = inputs or MailboxHealth()
        # (label, measured, warn, pause): a deferral rate has one threshold, where a cooldown starts.
        values = (
            ("Bounce rate", measured.bounce_rate_basis_points, h.bounce_rate_warn_basis_points,
             h.bounce_rate_pause_basis_points),
            ("Complaint rate", measured.complaint_rate_basis_points, h.complaint_rate_warn_basis_points,
             h.complaint_rate_pause_basis_points),
            ("Deferral rate", measured.deferral_rate_basis_points, h.deferral_rate_pause_basis_points,
             h.deferral_rate_pause_basis_points),
        )  # fmt: skip
        bars = [(label, v, w, p, charts.threshold_bar(label, v, w, p)) for label, v, w, p in values]
    events, events_error = await run_in_threadpool(c.view.events, "Mailbox", namespace, name)
    deliveries: list[dict[str, Any]] = []
    deliveries_error = ""
    if c.settings.database_url:
        try:
            deliveries = await history.recent_deliveries(c.settings.database_url, (namespace, name))
        except Exception as error:
            deliveries_error = f"cannot read delivery events: {type(error).__name__}"
    return render(
        request,
        "mailbox.html",
        obj=obj,
        spec=obj.get("spec") or {},
        status=status,
        row=row,
        pool_spec=spec,
        curve=curve,
        bars=bars,
        events=events,
        events_error=events_error,
        deliveries=deliveries,
        deliveries_error=deliveries_error,
    )


def campaign_view(obj: dict[str, Any]) -> dict[str, Any]:
    """One campaign for the table and the live feed: potctl's row, its counts and how far it is."""
    status = parse_status(CampaignStatus, obj)
    counts = status.counts.model_dump() if status and status.counts else {}
    total = int(counts.get("total") or 0)
    done = sum(int(counts.get(k) or 0) for k in FINISHED)
    namespace, name = name_of(obj)
    return {
        "namespace": namespace,
        "name": name,
        "cells": campaign_row(obj),
        "phase": (status.phase if status else None) or "",
        "paused": bool((obj.get("spec") or {}).get("paused")),
        "counts": counts,
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else 0,
    }


async def campaigns(request: Request) -> Response:
    c = console(request)
    namespace = request.query_params.get("namespace", "").strip()
    await require(request, Access("list", "campaigns", namespace=namespace))
    error = await synced(c.view.campaigns)
    items = sorted(_namespaced(c.view.campaigns.items(), namespace), key=name_of)
    return render(
        request,
        "campaigns.html",
        error=error,
        campaigns=[campaign_view(o) for o in items],
        columns=VIEWS[Target.CAMPAIGN].columns,
        namespace=namespace,
    )


async def campaigns_live(request: Request) -> Response:
    """Server-sent events: every campaign's counts, each time they changed (checked every 2 s)."""
    c = console(request)
    namespace = request.query_params.get("namespace", "").strip()
    await require(request, Access("list", "campaigns", namespace=namespace))

    async def stream() -> AsyncIterator[str]:
        last = ""
        while True:
            views = [campaign_view(o) for o in _namespaced(c.view.campaigns.items(), namespace)]
            payload = json.dumps(
                [
                    {k: v[k] for k in ("namespace", "name", "cells", "phase", "percent", "done", "total")}
                    for v in views
                ]
            )
            if payload != last:
                last = payload
                yield f"event: campaigns\ndata: {payload}\n\n"
            else:
                yield ": still here\n\n"
            await asyncio.sleep(LIVE_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def _chart(request: Request, namespace: str, name: str) -> str:
    c = console(request)
    series = None
    if c.settings.database_url:
        try:
            series = await history.from_database(c.settings.database_url, (namespace, name))
        except Exception:
            series = None  # the console's own samples still tell the story
    if not series:
        series = c.history.series((namespace, name))
    return charts.line_chart(
        series,
        title=f"Campaign {name}: recipients by outcome over time",
        x_format=lambda t: dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M"),
    )


async def campaign(request: Request) -> Response:
    c = console(request)
    namespace, name, obj = await one_object(request, c.view.campaigns)
    status = parse_status(CampaignStatus, obj) or CampaignStatus()
    return render(
        request,
        "campaign.html",
        c=campaign_view(obj),
        spec=obj.get("spec") or {},
        status=status,
        chart=await _chart(request, namespace, name),
        columns=VIEWS[Target.CAMPAIGN].columns,
    )


async def campaign_chart(request: Request) -> Response:
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    await require(request, Access("get", "campaigns", namespace=namespace, name=name))
    return Response(await _chart(request, namespace, name), media_type="image/svg+xml")


def tool_fields(tool_id: str) -> list[Field]:
    spec = BY_ID[tool_id]
    if not spec.command:
        return list(BLOCKLIST_FIELDS)
    return form_fields(spec, potctl_command(spec.command))


async def tools(request: Request) -> Response:
    return render(request, "tools.html", tools=TOOLS)


async def tool(request: Request) -> Response:
    tool_id = request.path_params["tool"]
    if tool_id not in BY_ID:
        raise HTTPException(404, f"no tool {tool_id}")
    await require(request, tool_access(tool_id))
    return render(
        request,
        "tool.html",
        tool=BY_ID[tool_id],
        fields=tool_fields(tool_id),
        tools=TOOLS,
        parse_modes=PARSE_MODES,
    )


async def job(request: Request) -> Response:
    c = console(request)
    found = c.jobs.get(request.path_params["job"], user_of(request).name)
    if found is None:
        raise HTTPException(404, "no such job (jobs are kept for their owner, the newest 50)")
    return render(request, "job.html", job=found)


async def diagnostics(request: Request) -> Response:
    c = console(request)
    await require(request, DIAGNOSTICS)
    probes = None
    if request.query_params.get("run"):
        probes = await checks.run_all(c.settings, lambda: run_in_threadpool(c.view.ready))
    return render(
        request,
        "diagnostics.html",
        probes=probes,
        overall=checks.summarise(probes) if probes else "",
    )

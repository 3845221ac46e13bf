"""The console's actions (what is done): sign in, pause/resume/cancel, run a tool, follow or download a job.

Each action checks the user may do it (pot_console.auth), does it the way potctl does (potctl's patch,
or potctl itself as a job), and answers with a redirect and a flash message, or with JSON for the
page's script; routes in pot_console.app.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from potctl.kube_views import KINDS, Target
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from pot_console import blocklists
from pot_console.auth import COOKIE, Access, set_cookie, tool_access
from pot_console.jobs import Job, run_potctl, sse
from pot_console.kube import ActionError
from pot_console.pages import tool_fields
from pot_console.telegram import preview
from pot_console.tools import BY_ID, FormError, build_argv
from pot_console.web import back, console, require, user_of

MAX_UPLOAD = 50 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".txt")


async def login(request: Request) -> Response:
    c = console(request)
    if c.auth.mode != "kubernetes":
        return RedirectResponse("/", 303)
    form = await request.form()
    token = str(form.get("token") or "").strip()
    user = await c.auth.authenticate(token) if token else None
    if user is None:
        return c.templates.TemplateResponse(
            request,
            "login.html",
            {"request": request, "error": "The apiserver did not accept that token."},
            status_code=401,
        )
    response = RedirectResponse("/", 303)
    set_cookie(response, token, c.settings.secure_cookies)
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login" if console(request).auth.mode == "kubernetes" else "/", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def pause(request: Request) -> Response:
    """pause or resume a pool, mailbox or campaign: potctl's merge patch, refused as the apiserver refuses."""
    c = console(request)
    form = await request.form()
    try:
        target = Target(str(form.get("kind", "")))
    except ValueError:
        raise HTTPException(400, "kind must be pool, mailbox or campaign") from None
    namespace, name = str(form.get("namespace", "")), str(form.get("name", ""))
    paused = form.get("paused") == "true"
    reason = str(form.get("reason") or "").strip() or None
    landing = str(form.get("next") or "/fleet")
    await require(request, Access("patch", KINDS[target].plural, namespace=namespace, name=name))
    try:
        message = await run_in_threadpool(c.view.set_paused, target, namespace, name, paused, reason)
        flash = c.flash("ok", message)
    except ActionError as error:
        flash = c.flash("error", str(error))
    return RedirectResponse(back(landing, flash), 303)


async def cancel(request: Request) -> Response:
    c = console(request)
    form = await request.form()
    namespace, name = str(form.get("namespace", "")), str(form.get("name", ""))
    await require(request, Access("delete", "campaigns", namespace=namespace, name=name))
    try:
        message = await run_in_threadpool(c.view.cancel_campaign, namespace, name)
        return RedirectResponse(back("/campaigns", c.flash("ok", message)), 303)
    except ActionError as error:
        return RedirectResponse(back(f"/campaigns/{namespace}/{name}", c.flash("error", str(error))), 303)


async def _save_upload(upload: UploadFile) -> Path:
    """The uploaded list in a private temporary file, keeping .csv (potctl reads CSV by the suffix)."""
    suffix = Path(upload.filename or "").suffix.lower()
    fd, name = tempfile.mkstemp(prefix="pot-console-", suffix=suffix if suffix in UPLOAD_SUFFIXES else ".txt")
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := await upload.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD:
                out.close()
                os.unlink(name)
                raise FormError(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
            out.write(chunk)
    return Path(name)


async def run_tool(request: Request) -> Response:
    """Start a tool from its form: JSON {job, events} for the page's script, else the job's page."""
    c = console(request)
    tool_id = request.path_params["tool"]
    spec = BY_ID.get(tool_id)
    if spec is None:
        raise HTTPException(404, f"no tool {tool_id}")
    await require(request, tool_access(tool_id))
    wants_json = "application/json" in request.headers.get("accept", "")
    form = await request.form(max_part_size=MAX_UPLOAD)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    upload_path: Path | None = None
    try:
        if spec.command:
            fields = tool_fields(tool_id)
            file = form.get(spec.upload) if spec.upload else None
            if isinstance(file, UploadFile) and file.filename:
                upload_path = await _save_upload(file)
            argv = build_argv(spec, fields, values, upload_path)
            stdin = values.get(spec.stdin) if spec.stdin else None
            if spec.stdin and not (stdin or "").strip():
                raise FormError("the message is empty")

            async def work(job: Job) -> int:
                await job.line("err", "$ potctl " + " ".join(_shown(argv, upload_path)))
                return await run_potctl(job, argv, stdin)
        else:
            ips, domains, zones, resolver = blocklists.parse_request(values)

            async def work(job: Job) -> int:
                return await blocklists.run(job, ips, domains, zones, resolver)
    except FormError as error:
        if upload_path is not None:
            upload_path.unlink(missing_ok=True)
        if wants_json:
            return JSONResponse({"error": str(error)}, 400)
        raise HTTPException(400, str(error)) from None

    def cleanup() -> None:
        if upload_path is not None:
            with contextlib.suppress(OSError):
                upload_path.unlink()

    started = c.jobs.start(
        owner=user_of(request).name,
        tool=tool_id,
        title=spec.title,
        work=work,
        parse_results=spec.results,
        cleanup=cleanup,
    )
    if wants_json:
        return JSONResponse(
            {"job": started.id, "events": f"/jobs/{started.id}/events", "page": f"/jobs/{started.id}"}
        )
    return RedirectResponse(f"/jobs/{started.id}", 303)


def _shown(argv: list[str], upload: Path | None) -> list[str]:
    """The command line as the output shows it: the upload's temporary path as `<uploaded file>`."""
    return ["<uploaded file>" if upload is not None and a == str(upload) else a for a in argv]


async def telegram_preview(request: Request) -> Response:
    await require(request, tool_access("send-telegram"))
    form = await request.form()
    shown = preview(str(form.get("text") or ""), str(form.get("parse_mode") or ""))
    c = console(request)
    return c.templates.TemplateResponse(request, "telegram_preview.html", {"request": request, "p": shown})


def _job(request: Request) -> Job:
    found = console(request).jobs.get(request.path_params["job"], user_of(request).name)
    if found is None:
        raise HTTPException(404, "no such job")
    return found


async def job_events(request: Request) -> Response:
    """The job's output as server-sent events, from after Last-Event-ID (a reconnect misses nothing)."""
    job = _job(request)
    try:
        after = int(request.headers.get("last-event-id", "0"))
    except ValueError:
        after = 0

    async def stream() -> Any:
        async for event in job.follow(after):
            yield sse(event)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def job_download(request: Request) -> Response:
    job = _job(request)
    fmt = request.path_params["fmt"]
    name = f"{job.tool}-{job.id[:8]}"
    if fmt == "csv":
        body, media = job.results_csv() if job.results else job.output_text(), "text/csv"
    elif fmt == "json":
        body, media = job.results_json(), "application/x-ndjson"
    elif fmt == "txt":
        body, media = job.output_text(), "text/plain"
    else:
        return HTMLResponse("csv, json or txt", 404)
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    )

"""Tool runs: potctl (or a console-side tool) as a job whose output lines stream to the page as SSE.

The Tools view starts a job and the browser follows `/jobs/<id>/events`; each line is kept, so a
reconnecting browser (Last-Event-ID) or a late one sees everything, and the results of a
check-emails run can be downloaded as CSV or JSON. Jobs belong to the user who started them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import secrets
import sys
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

MAX_JOBS = 50  # the newest kept; older ones (and their output) are forgotten
MAX_LINE = 64 * 1024
MAX_EVENTS = 200_000
# The environment potctl runs with: the console's own (the POT_* addresses and secrets it was
# started with, never shown), with a terminal width for its tables.
POTCTL_ENV = {"COLUMNS": "160", "TERM": "dumb", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}

LineSink = Callable[[str, str], None]  # (stream, text)


@dataclass
class Event:
    id: int
    kind: str  # out, err, result, done
    data: str


@dataclass
class Job:
    """One run: its title, the events so far, and (once finished) its exit status."""

    id: str
    owner: str
    tool: str
    title: str
    started: float = field(default_factory=time.time)
    events: list[Event] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    parse_results: bool = False
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    async def add(self, kind: str, data: str) -> None:
        async with self._changed:
            if len(self.events) < MAX_EVENTS or kind == "done":
                self.events.append(Event(len(self.events) + 1, kind, data))
            self._changed.notify_all()

    async def line(self, stream: str, text: str) -> None:
        text = text[:MAX_LINE]
        if stream == "out" and self.parse_results:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                self.results.append(parsed)
                await self.add("result", json.dumps(parsed))
                return
        await self.add(stream, text)

    async def finish(self, code: int) -> None:
        self.exit_code = code
        await self.add("done", json.dumps({"exit_code": code, "results": len(self.results)}))

    async def follow(self, after: int = 0) -> AsyncIterator[Event]:
        """Every event after id `after`, waiting for new ones until the job is done."""
        sent = after
        while True:
            async with self._changed:
                while len(self.events) <= sent and not self.done:
                    await self._changed.wait()
                fresh = self.events[sent:]
            for event in fresh:
                yield event
            sent += len(fresh)
            if self.done and sent >= len(self.events):
                return

    def output_text(self) -> str:
        return "".join(e.data + "\n" for e in self.events if e.kind == "out")

    def results_csv(self) -> str:
        """The results as CSV: one column per field, in the order the first result has them."""
        buffer = io.StringIO()
        columns: list[str] = []
        for result in self.results:
            columns += [k for k in result if k not in columns]
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for result in sorted(self.results, key=lambda r: int(r.get("line") or 0)):
            writer.writerow(result)
        return buffer.getvalue()

    def results_json(self) -> str:
        return "".join(
            json.dumps(r) + "\n" for r in sorted(self.results, key=lambda r: int(r.get("line") or 0))
        )


def sse(event: Event) -> str:
    """One event in text/event-stream framing; a line break in the data becomes another data line."""
    data = "\n".join(f"data: {line}" for line in event.data.split("\n"))
    return f"id: {event.id}\nevent: {event.kind}\n{data}\n\n"


class Jobs:
    """The console's jobs, newest last; owned by one event loop."""

    def __init__(self, limit: int = MAX_JOBS) -> None:
        self.limit = limit
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def get(self, job_id: str, owner: str) -> Job | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def start(
        self,
        *,
        owner: str,
        tool: str,
        title: str,
        work: Callable[[Job], Awaitable[int]],
        parse_results: bool = False,
        cleanup: Callable[[], None] | None = None,
    ) -> Job:
        job = Job(secrets.token_urlsafe(12), owner, tool, title, parse_results=parse_results)
        self._jobs[job.id] = job
        while len(self._jobs) > self.limit:
            _, old = self._jobs.popitem(last=False)
            if old._task is not None and not old._task.done():
                old._task.cancel()

        async def run() -> None:
            code = 1
            try:
                code = await work(job)
            except asyncio.CancelledError:
                code = 130
                raise
            except Exception as error:  # a console-side tool's bug: shown as its output, not a 500
                await job.add("err", f"error: {type(error).__name__}: {error}")
            finally:
                if cleanup is not None:
                    cleanup()
                if not job.done:
                    await asyncio.shield(job.finish(code))

        job._task = asyncio.create_task(run())
        return job

    async def close(self) -> None:
        tasks = [j._task for j in self._jobs.values() if j._task is not None and not j._task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def potctl_argv(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "potctl.main", *argv]


async def run_potctl(job: Job, argv: list[str], stdin: str | None = None, limit_s: float = 3600) -> int:
    """Run potctl with `argv`, stream its stdout and stderr lines into the job; its exit status."""
    process = await asyncio.create_subprocess_exec(
        *potctl_argv(argv),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **POTCTL_ENV},
        limit=MAX_LINE * 2,
    )

    async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
        assert stream is not None
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line over the limit: take what is there
                raw = await stream.read(MAX_LINE)
            if not raw:
                return
            await job.line(name, raw.decode("utf-8", "replace").rstrip("\r\n"))

    async def feed() -> None:
        if stdin is not None and process.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                process.stdin.write(stdin.encode("utf-8"))
                await process.stdin.drain()
            process.stdin.close()

    try:
        await asyncio.wait_for(
            asyncio.gather(feed(), pump(process.stdout, "out"), pump(process.stderr, "err")), limit_s
        )
        return await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

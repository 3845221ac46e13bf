"""potctl check-emails: address lists through pot_deliverability's checker; registered by potctl.main.

It streams: rows are read, checked and written a few thousand at a time, whatever the input's size;
JSON lines come out as results finish, CSV and tables in the input's order.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from pot_deliverability import emailcheck
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from potctl import email_cluster, email_job, inputs
from potctl.check_commands import ResolverOpt, dns_resolver
from potctl.console import checked, err, fail, out, printable
from potctl.database import DatabaseOpt
from potctl.kube_commands import ContextOpt, KubeconfigOpt

FLUSH_EVERY = 64  # JSON lines written between flushes (and every half second)
TABLE_ROWS = 1000  # a table is printed every this many results, so a long run never holds them all


def check_emails_cmd(
    source: Annotated[str, typer.Argument(help="CSV or TXT file of addresses, or - for stdin.")] = "-",
    mode: Annotated[
        emailcheck.Mode,
        typer.Option(
            "--mode",
            help=(
                "auto: SMTP probe if the probe port reaches MX hosts, else format+mx (it says so). "
                "syntax: offline. format+mx: syntax and MX. smtp: always probe."
            ),
        ),
    ] = emailcheck.Mode.AUTO,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="table, csv or json (one JSON object per line, as results finish, flags included).",
        ),
    ] = "table",
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="Resume file: results are appended here; run again with it to continue where it stopped.",
        ),
    ] = None,
    per_host: Annotated[
        int,
        typer.Option(
            "--per-host",
            "--per-domain",
            help="Simultaneous connections per MX host (however many recipient domains it serves).",
        ),
    ] = 2,
    per_provider: Annotated[
        int,
        typer.Option(
            "--per-provider",
            help="Simultaneous connections per mailbox provider (all its MX hosts together).",
        ),
    ] = 10,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", help="Seconds between connections to one MX host (its first one: at once)."
        ),
    ] = 1.0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Connections at once overall.")] = 20,
    probe_port: Annotated[
        int | None,
        typer.Option("--probe-port", help="SMTP port to probe. Default: POT_SMTP_PROBE_PORT, else 25."),
    ] = None,
    greylist_delay: Annotated[
        float,
        typer.Option(
            "--greylist-delay",
            help="Seconds before asking again after a 4xx (greylisting); nothing waits idle.",
        ),
    ] = 60.0,
    test_domains: Annotated[
        bool | None,
        typer.Option(
            "--test-domains/--no-test-domains",
            help="Accept special-use domains such as .test. Default: on when POT_DNS_RESOLVER is set.",
        ),
    ] = None,
    resolver: ResolverOpt = None,
    in_cluster: Annotated[
        bool,
        typer.Option(
            "--in-cluster",
            help=(
                "Run the check as a Job in the cluster (whose network may reach port 25 when this one "
                "cannot): the list goes to Postgres (POT_DATABASE_URL), results come back here."
            ),
        ),
    ] = False,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", help="--in-cluster: the tenant's namespace. Default: the context's."
        ),
    ] = None,
    max_age: Annotated[
        str,
        typer.Option(
            "--max-age",
            help="--in-cluster: reuse the namespace's results younger than this (720h, 90m); 0s checks all.",
        ),
    ] = "0s",
    image: Annotated[
        str | None,
        typer.Option("--image", help="--in-cluster: the Job's image. Default: the namespace's workers'."),
    ] = None,
    database_secret: Annotated[
        str | None,
        typer.Option(
            "--database-secret",
            help="--in-cluster: Secret whose POT_DATABASE_URL key the Job uses. Default: the workers'.",
        ),
    ] = None,
    node_selector: Annotated[
        list[str] | None,
        typer.Option(
            "--node-selector", help="--in-cluster: KEY=VALUE a node must carry (an egress pool); repeatable."
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help=(
                "--in-cluster: seconds to wait for the Job; then potctl stops it (results written so far "
                "are kept)."
            ),
        ),
    ] = 3600.0,
    database_url: DatabaseOpt = None,
    kubeconfig: KubeconfigOpt = None,
    context: ContextOpt = None,
    job: Annotated[
        int | None,
        typer.Option(
            "--job", help="Run verification run N from Postgres (what the checker Job runs).", hidden=True
        ),
    ] = None,
) -> None:
    """Check email addresses: syntax, MX, an SMTP RCPT probe (never DATA) and catch-all detection.

    Input: a CSV (the `email` column by header, else the first column), a text file with one
    address per line, or stdin. A row that cannot be read (not UTF-8, over 64 KiB, the wrong number of
    CSV columns) is reported on stderr with its line number and the others go on. Results: **valid**,
    **invalid**, **risky** (catch-all, role account, disposable domain, full mailbox) or **unknown**,
    each with a reason and the SMTP reply; JSON adds the flags `free`, `role`, `disposable` and a
    `suggestion` for a likely typo (gmial.com). Probing is polite per MX host and per provider, uses
    STARTTLS when offered, and retries a 4xx later without holding a connection. A progress bar goes to
    stderr. Exit status 0 unless the input could not be read at all (2).

    With `--in-cluster` the same check runs as a Kubernetes Job in the namespace (the workers' image
    and database Secret), for a machine whose port 25 is blocked: the list is uploaded to Postgres,
    progress shows while the Job runs, and the results come back in the same formats.

    Example: `potctl check-emails leads.csv --output json --state leads.state`
    """
    checked(lambda: inputs.choice(output, ("table", "csv", "json"), "--output"))
    settings = emailcheck.CheckerSettings(
        mode=mode,
        per_host_concurrency=checked(lambda: inputs.at_least(per_host, 1, "--per-host")),
        per_provider_concurrency=checked(lambda: inputs.at_least(per_provider, 1, "--per-provider")),
        per_host_interval_s=checked(lambda: inputs.seconds(interval, "--interval")),
        global_concurrency=checked(lambda: inputs.at_least(concurrency, 1, "--concurrency")),
        greylist_delay_s=checked(lambda: inputs.seconds(greylist_delay, "--greylist-delay")),
        allow_test_domains=test_domains
        if test_domains is not None
        else bool(os.environ.get("POT_DNS_RESOLVER")),
    )
    if probe_port is not None:
        settings.probe_port = checked(lambda: inputs.port(probe_port))
    else:
        env_port = os.environ.get("POT_SMTP_PROBE_PORT", "25")
        if not (env_port.isascii() and env_port.isdigit() and 0 < int(env_port) < 65536):
            fail(f"POT_SMTP_PROBE_PORT {inputs.shown(env_port)}: must be a port from 1 to 65535", 2)
    if job is not None:
        raise typer.Exit(email_job.main(job, settings, dns_resolver(resolver)))
    if in_cluster:
        ask = email_cluster.ClusterRun(
            database_url=checked(lambda: email_cluster.database_url(database_url)),
            namespace=namespace,
            kubeconfig=kubeconfig,
            context=context,
            mode=mode.value,
            max_age=checked(lambda: email_cluster.duration(max_age, "--max-age")),
            image=image,
            secret=database_secret,
            node_selector=checked(lambda: email_cluster.key_values(node_selector or [], "--node-selector")),
            timeout=checked(lambda: inputs.seconds(timeout, "--timeout")),
        )
        _check_in_cluster(ask, source, output)
        return
    checker = emailcheck.EmailChecker(dns_resolver(resolver), settings)
    with ExitStack() as stack:
        stream = _open_source(source, stack)
        total = _count_lines(source)
        resume = _resume(state)
        if resume is not None:
            stack.callback(resume.close)
        csv_format = None if source == "-" else Path(source).suffix.lower() == ".csv" or None
        counts = {"bad": 0, "resumed": 0, "rows": 0}
        rows = _rows(emailcheck.read_rows(stream, csv_format=csv_format), resume, counts)
        writer = _Writer(output)
        try:
            asyncio.run(_run_checks(checker, rows, writer, resume, total, ordered=output != "json"))
        except OSError as exc:
            fail(f"cannot read {inputs.shown(source)}: {exc.strerror or exc}", 2)
        writer.finish()
    if counts["resumed"]:
        err.print(f"resuming: {counts['resumed']} of {counts['rows']} already checked", highlight=False)
    if checker.notice:
        err.print(f"note: {checker.notice}", highlight=False)
    if counts["bad"]:
        err.print(f"{counts['bad']} row(s) skipped; see the line numbers above", highlight=False)


def _check_in_cluster(ask: email_cluster.ClusterRun, source: str, output: str) -> None:
    with ExitStack() as stack:
        stream = _open_source(source, stack)
        csv_format = None if source == "-" else Path(source).suffix.lower() == ".csv" or None
        counts = {"bad": 0, "resumed": 0, "rows": 0}
        rows = _rows(emailcheck.read_rows(stream, csv_format=csv_format), None, counts)
        addresses = (r for r in rows if not isinstance(r, emailcheck.EmailResult))
        writer = _Writer(output)
        with _progress("checking in the cluster") as progress:
            task = progress.add_task("check", total=None)
            notice = email_cluster.run_in_cluster(
                ask,
                addresses,
                writer.write,
                lambda total, done: progress.update(task, total=total, completed=done),
            )
        writer.finish()
    if notice:
        err.print(f"note (in the cluster): {notice}", highlight=False)
    if counts["bad"]:
        err.print(f"{counts['bad']} row(s) skipped; see the line numbers above", highlight=False)


def _progress(label: str) -> Progress:
    """The progress bar on stderr, gone when the run ends."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=err, transient=True)


def _open_source(source: str, stack: ExitStack) -> BinaryIO:
    if source == "-":
        return sys.stdin.buffer
    try:
        return stack.enter_context(Path(source).open("rb"))
    except OSError as exc:
        fail(f"cannot read {inputs.shown(source)}: {exc.strerror or exc}", 2)


def _count_lines(source: str) -> int | None:
    """Lines in a regular file (for the progress bar's total), counted in chunks; None for stdin."""
    if source == "-":
        return None
    lines = 0
    last = b"\n"
    try:
        with Path(source).open("rb") as data:
            while chunk := data.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return None
    return lines + (last != b"\n")


def _resume(state: Path | None) -> emailcheck.ResumeState | None:
    if state is None:
        return None
    try:
        return emailcheck.ResumeState(state)
    except OSError as exc:
        fail(f"--state {inputs.shown(str(state))}: cannot use it ({exc.strerror or exc})", 2)


def _rows(
    rows: Iterator[tuple[int, str] | emailcheck.BadRow],
    resume: emailcheck.ResumeState | None,
    counts: dict[str, int],
) -> Iterator[tuple[int, str] | emailcheck.EmailResult]:
    """The rows to check, bad ones reported on stderr, finished ones (from --state) as their results."""
    done = resume.done if resume is not None else {}
    for row in rows:
        if isinstance(row, emailcheck.BadRow):
            counts["bad"] += 1
            err.print(f"line {row.line}: {row.why}", highlight=False)
            continue
        counts["rows"] += 1
        if row in done:
            counts["resumed"] += 1
            yield done[row]
        else:
            yield row


async def _run_checks(
    checker: emailcheck.EmailChecker,
    rows: Iterator[tuple[int, str] | emailcheck.EmailResult],
    writer: _Writer,
    resume: emailcheck.ResumeState | None,
    total: int | None,
    *,
    ordered: bool,
) -> None:
    done = resume.done if resume is not None else {}
    with _progress("checking") as progress:
        task = progress.add_task("check", total=total)
        flusher = asyncio.create_task(writer.flush_now_and_then())
        try:
            async for result in checker.check_many(rows, ordered=ordered):
                if resume is not None and (result.line, result.address) not in done:
                    resume.record(result)
                writer.write(result)
                progress.advance(task)
        finally:
            flusher.cancel()


class _Writer:
    """json and csv write each result as it comes; a table is printed every TABLE_ROWS results."""

    COLUMNS = ("line", "address", "result", "reason", "smtp_reply", "mode")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.rows: list[emailcheck.EmailResult] = []
        self.unflushed = 0
        self.csv = csv.writer(sys.stdout) if kind == "csv" else None
        if self.csv is not None:
            self.csv.writerow(self.COLUMNS)

    def write(self, result: emailcheck.EmailResult) -> None:
        if self.kind == "json":
            sys.stdout.write(json.dumps(result.as_dict()) + "\n")
            self.unflushed += 1
            if self.unflushed >= FLUSH_EVERY:  # a killed run keeps all but the last few lines
                sys.stdout.flush()
                self.unflushed = 0
        elif self.csv is not None:
            r = result
            self.csv.writerow([r.line, r.address, r.result.value, r.reason, r.smtp_reply, r.mode])
        else:
            self.rows.append(result)
            if len(self.rows) >= TABLE_ROWS:
                self.finish()

    async def flush_now_and_then(self) -> None:
        """Lines written between batches do not wait for the next batch to be seen."""
        while True:
            await asyncio.sleep(0.5)
            if self.unflushed:
                sys.stdout.flush()
                self.unflushed = 0

    def finish(self) -> None:
        sys.stdout.flush()
        if self.kind != "table" or not self.rows:
            return
        table = Table()
        for column in ("line", "address", "result", "reason", "smtp reply"):
            table.add_column(column, overflow="fold")
        style = {"valid": "green", "invalid": "red", "risky": "yellow", "unknown": "magenta"}
        for r in self.rows:
            s = style[r.result.value]
            cells = (escape(printable(c)) for c in (r.address, r.reason, r.smtp_reply))
            address, reason, reply = cells
            table.add_row(str(r.line), address, f"[{s}]{r.result.value}[/{s}]", reason, reply)
        out.print(table)
        self.rows.clear()


def register(app: typer.Typer) -> None:
    app.command("check-emails")(check_emails_cmd)

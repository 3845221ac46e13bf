"""potctl's DNS and address checks (preflight, spf-check, check-emails); registered by potctl.main.

The checks themselves live in pot_deliverability; this module reads the input, runs them and prints
tables, CSV or JSON with the exit statuses the command help promises.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pot_deliverability import dnsbl, emailcheck, preflight, spf
from pot_deliverability.dns import resolver_from_env
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from potctl.console import err, fail, out

ResolverOpt = Annotated[
    str | None,
    typer.Option("--resolver", help="DNS server as host:port. Default: POT_DNS_RESOLVER, else the system's."),
]

_LEVEL_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}


def preflight_cmd(
    domain: Annotated[str, typer.Argument(help="The sending domain, e.g. acme-mail.test.")],
    smtp_host: Annotated[
        str | None,
        typer.Option(
            "--smtp-host", help="Host (or IP) the mailboxes send through; SPF is evaluated for its addresses."
        ),
    ] = None,
    from_domain: Annotated[
        str | None,
        typer.Option("--from-domain", help="Domain of the From header, if not DOMAIN (DMARC alignment)."),
    ] = None,
    selector: Annotated[
        list[str] | None,
        typer.Option(
            "--dkim-selector",
            help="DKIM selector to look for; repeatable. Default: pot, default, mail, s1, selector1, google.",
        ),
    ] = None,
    blocklist: Annotated[
        str,
        typer.Option(
            "--blocklists",
            envvar="POT_DNSBL_ZONES",
            help="Comma-separated DNSBL zones, `domain:ZONE` for domain lists; each self-tested (RFC 5782).",
        ),
    ] = "",
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
    resolver: ResolverOpt = None,
) -> None:
    """Check a sending domain's DNS before a campaign: MX, SPF, DKIM, DMARC and blocklists.

    Each check prints **pass**, **warn** or **fail** and why. Exit status: 0 when nothing failed,
    1 when a check failed (warnings do not fail).

    Example:
    `potctl preflight acme-mail.test --smtp-host mx.acme-mail.test --blocklists bl.test,domain:dbl.test`
    """
    dns = resolver_from_env(resolver)
    zones = dnsbl.parse_zones(blocklist)
    report = asyncio.run(
        preflight.preflight_domain(
            domain,
            smtp_host,
            dns,
            from_domain=from_domain,
            dkim_selectors=tuple(selector) if selector else preflight.DEFAULT_DKIM_SELECTORS,
            blocklists=dnsbl.Blocklists(zones, dns),
        )
    )
    if output == "json":
        print(json.dumps(report.as_dict()))
    else:
        table = Table(title=f"Preflight of {report.domain}" + (f" via {smtp_host}" if smtp_host else ""))
        table.add_column("check")
        table.add_column("result")
        table.add_column("why", overflow="fold")
        for check in report.checks:
            style = _LEVEL_STYLE[check.level.value]
            table.add_row(check.name, f"[{style}]{check.level.value}[/{style}]", check.why)
        out.print(table)
        out.print(f"overall: {report.level.value}")
    raise typer.Exit(0 if report.passed else 1)


def spf_check_cmd(
    ip: Annotated[str, typer.Option("--ip", help="The connecting client's IP address (IPv4 or IPv6).")],
    sender: Annotated[
        str, typer.Option("--sender", help='MAIL FROM address; empty ("") to check the HELO identity.')
    ],
    helo: Annotated[str, typer.Option("--helo", help="The HELO/EHLO name the client gave.")] = "",
    resolver: ResolverOpt = None,
) -> None:
    """Evaluate SPF (RFC 7208 check_host) for one connection.

    Prints the record trail and the reason, and on its **last line** the result word: pass, fail,
    softfail, neutral, none, permerror or temperror. Exit status 0 for pass, 1 otherwise.

    Example: `potctl spf-check --ip 127.0.0.1 --sender alice@good.test`
    """
    if not sender and not helo:
        fail("give --sender, or --helo with an empty --sender", 2)
    domain = sender.rpartition("@")[2] if sender else helo
    outcome = asyncio.run(spf.check_host(ip, domain, sender, resolver_from_env(resolver), helo=helo))
    for step in outcome.trace:
        print(f"  {step}")
    print(f"reason: {outcome.reason}")
    print(f"dns lookups: {outcome.lookups}, void lookups: {outcome.void_lookups}")
    if outcome.explanation:
        print(f"explanation: {outcome.explanation}")
    print(outcome.result.value)
    raise typer.Exit(0 if outcome.result is spf.SpfResult.PASS else 1)


def check_emails_cmd(
    source: Annotated[str, typer.Argument(help="CSV or TXT file of addresses, or - for stdin.")] = "-",
    mode: Annotated[
        emailcheck.Mode,
        typer.Option(
            "--mode",
            help=(
                "auto: SMTP probe if the probe port connects, else format+mx (it says so). "
                "syntax: offline. format+mx: syntax and MX. smtp: always probe."
            ),
        ),
    ] = emailcheck.Mode.AUTO,
    output: Annotated[
        str, typer.Option("--output", "-o", help="table, csv or json (one JSON object per line).")
    ] = "table",
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="Resume file: results are appended here; run again with it to continue where it stopped.",
        ),
    ] = None,
    per_domain: Annotated[
        int, typer.Option("--per-domain", help="Simultaneous connections per recipient domain.")
    ] = 2,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between connections to one recipient domain.")
    ] = 1.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Addresses checked at once overall.")
    ] = 20,
    probe_port: Annotated[
        int | None,
        typer.Option("--probe-port", help="SMTP port to probe. Default: POT_SMTP_PROBE_PORT, else 25."),
    ] = None,
    greylist_delay: Annotated[
        float, typer.Option("--greylist-delay", help="Seconds before retrying a 4xx (greylisting).")
    ] = 60.0,
    test_domains: Annotated[
        bool | None,
        typer.Option(
            "--test-domains/--no-test-domains",
            help="Accept special-use domains such as .test. Default: on when POT_DNS_RESOLVER is set.",
        ),
    ] = None,
    resolver: ResolverOpt = None,
) -> None:
    """Check email addresses: syntax, MX, an SMTP RCPT probe (never DATA) and catch-all detection.

    Input: a CSV (the `email` column by header, else the first column), a text file with one
    address per line, or stdin. A row that cannot be read is reported on stderr with its line number
    and the others go on. Results: **valid**, **invalid**, **risky** (catch-all, role account,
    disposable domain, full mailbox) or **unknown**, each with a reason and the SMTP reply. A progress
    bar goes to stderr. Exit status 0 unless the input could not be read at all.

    Example: `potctl check-emails leads.csv --output json --state leads.state`
    """
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror}", 2)
    rows: list[tuple[int, str]] = []
    bad = 0
    csv_format = None if source == "-" else Path(source).suffix.lower() == ".csv" or None
    for row in emailcheck.read_rows(data, csv_format=csv_format):
        if isinstance(row, emailcheck.BadRow):
            bad += 1
            err.print(f"line {row.line}: {row.why}", highlight=False)
        else:
            rows.append(row)
    allow_test = test_domains if test_domains is not None else bool(os.environ.get("POT_DNS_RESOLVER"))
    settings = emailcheck.CheckerSettings(
        mode=mode,
        per_domain_concurrency=per_domain,
        per_domain_interval_s=interval,
        global_concurrency=concurrency,
        greylist_delay_s=greylist_delay,
        allow_test_domains=allow_test,
    )
    if probe_port is not None:
        settings.probe_port = probe_port
    resume = emailcheck.ResumeState(state) if state else None
    done = dict(resume.done) if resume else {}
    todo = [r for r in rows if r not in done]
    results = [done[r] for r in rows if r in done]
    if done:
        err.print(f"resuming: {len(results)} of {len(rows)} already checked", highlight=False)
    checker = emailcheck.EmailChecker(resolver_from_env(resolver), settings)
    writer = _Writer(output)

    async def run() -> None:
        with Progress(
            TextColumn("checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("check", total=len(rows), completed=len(results))
            async for result in checker.check_many(todo):
                if resume:
                    resume.record(result)
                results.append(result)
                writer.stream(result)
                progress.advance(task)

    for result in results:
        writer.stream(result)
    try:
        asyncio.run(run())
    finally:
        if resume:
            resume.close()
    if checker.notice:
        err.print(f"note: {checker.notice}", highlight=False)
    writer.finish(sorted(results, key=lambda r: r.line))
    if bad:
        err.print(f"{bad} row(s) skipped; see the line numbers above", highlight=False)


class _Writer:
    """json streams as results finish (so a killed run keeps its output); csv and table print at the end."""

    def __init__(self, kind: str) -> None:
        if kind not in ("table", "csv", "json"):
            fail("--output must be table, csv or json", 2)
        self.kind = kind

    def stream(self, result: emailcheck.EmailResult) -> None:
        if self.kind == "json":
            print(json.dumps(result.as_dict()), flush=True)

    def finish(self, results: list[emailcheck.EmailResult]) -> None:
        if self.kind == "csv":
            writer = csv.writer(sys.stdout)
            writer.writerow(["line", "address", "result", "reason", "smtp_reply", "mode"])
            for r in results:
                writer.writerow([r.line, r.address, r.result.value, r.reason, r.smtp_reply, r.mode])
        elif self.kind == "table":
            table = Table()
            for column in ("line", "address", "result", "reason", "smtp reply"):
                table.add_column(column, overflow="fold")
            style = {"valid": "green", "invalid": "red", "risky": "yellow", "unknown": "magenta"}
            for r in results:
                s = style[r.result.value]
                table.add_row(str(r.line), r.address, f"[{s}]{r.result.value}[/{s}]", r.reason, r.smtp_reply)
            out.print(table)


def register(app: typer.Typer) -> None:
    app.command("preflight")(preflight_cmd)
    app.command("spf-check")(spf_check_cmd)
    app.command("check-emails")(check_emails_cmd)

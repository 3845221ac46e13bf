"""potctl's DNS checks (preflight, spf-check) and the resolver option; registered by potctl.main.

The checks themselves live in pot_deliverability; this module checks the input (potctl.inputs), runs
them and prints tables or JSON with the exit statuses the command help promises.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

import typer
from pot_deliverability import dnsbl, preflight, spf
from pot_deliverability.dns import DnsResolver, resolver_from_env
from rich.markup import escape
from rich.table import Table

from potctl import inputs
from potctl.console import checked, fail, out, printable

ResolverOpt = Annotated[
    str | None,
    typer.Option("--resolver", help="DNS server as host:port. Default: POT_DNS_RESOLVER, else the system's."),
]

_LEVEL_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}


def dns_resolver(value: str | None) -> DnsResolver:
    """The resolver --resolver (else POT_DNS_RESOLVER, else the system's) names; exit 2 if it cannot be."""
    address = checked(lambda: inputs.resolver(value))
    if address is None and os.environ.get("POT_DNS_RESOLVER"):
        address = checked(lambda: inputs.resolver(os.environ["POT_DNS_RESOLVER"]))
    try:
        return resolver_from_env(address)
    except ValueError as exc:  # a resolver host name that does not resolve
        fail(f"--resolver {inputs.shown(address or '')}: {exc}", 2)


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
    checked(lambda: inputs.choice(output, ("table", "json"), "--output"))
    name = checked(lambda: inputs.domain(domain))
    host = checked(lambda: inputs.host(smtp_host, "--smtp-host")) if smtp_host is not None else None
    from_name = (
        checked(lambda: inputs.domain(from_domain, "--from-domain")) if from_domain is not None else None
    )
    selectors = checked(lambda: inputs.selectors(selector)) if selector else preflight.DEFAULT_DKIM_SELECTORS
    zones = checked(lambda: inputs.blocklists(blocklist))
    dns = dns_resolver(resolver)
    report = asyncio.run(
        preflight.preflight_domain(
            name,
            host,
            dns,
            from_domain=from_name,
            dkim_selectors=selectors,
            blocklists=dnsbl.Blocklists(zones, dns),
        )
    )
    if output == "json":
        print(json.dumps(report.as_dict()))
    else:
        table = Table(title=f"Preflight of {report.domain}" + (f" via {host}" if host else ""))
        table.add_column("check")
        table.add_column("result")
        table.add_column("why", overflow="fold")
        for check in report.checks:
            style = _LEVEL_STYLE[check.level.value]
            table.add_row(check.name, f"[{style}]{check.level.value}[/{style}]", escape(printable(check.why)))
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
    address = checked(lambda: inputs.ip(ip))
    checked(lambda: inputs.text(sender, "--sender", most=inputs.MAX_TEXT, empty=True))
    checked(lambda: inputs.text(helo, "--helo", most=inputs.MAX_TEXT, empty=True))
    domain = sender.rpartition("@")[2] if sender else helo
    outcome = asyncio.run(spf.check_host(address, domain, sender, dns_resolver(resolver), helo=helo))
    for step in outcome.trace:
        print(f"  {printable(step)}")
    print(f"reason: {printable(outcome.reason)}")
    print(f"dns lookups: {outcome.lookups}, void lookups: {outcome.void_lookups}")
    if outcome.explanation:
        print(f"explanation: {printable(outcome.explanation)}")
    print(outcome.result.value)
    raise typer.Exit(0 if outcome.result is spf.SpfResult.PASS else 1)


def register(app: typer.Typer) -> None:
    app.command("preflight")(preflight_cmd)
    app.command("spf-check")(spf_check_cmd)

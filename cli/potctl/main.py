"""potctl, POT's operator tooling CLI (typer/rich); the `potctl` console script.

Every command reads its addresses from flags or `POT_*` environment variables (the local stack's
`.pot/env` exports them all), so `source .pot/env && potctl …` works against `make up`. The commands
live by group: check_commands (DNS), email_commands (addresses), chat_commands (Telegram, Slack),
db_commands (Postgres: suppression, feedback), import_commands (recipients) and kube_commands (status,
pause, resume); every input is checked by potctl.inputs first.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from typing import Annotated, Any

import typer
from pot_console.serve import console_cmd
from rich.markup import escape

from potctl import (
    chat_commands,
    check_commands,
    classify_commands,
    db_commands,
    email_commands,
    import_commands,
    kube_commands,
    mailbox_commands,
    preview_commands,
    transcript_commands,
)
from potctl.console import err, fail

app = typer.Typer(
    name="potctl",
    help=(
        "Operator tooling for POT, the Kubernetes operator that runs fleets of outreach mailboxes.\n\n"
        "Checks DNS and addresses before you send (preflight, spf-check, check-emails), sends alerts "
        "(send-telegram, send-slack), manages the data the senders obey (suppression, feedback, "
        "import-recipients) and shows or steers the live objects (status, pause, resume).\n\n"
        "Configuration comes from flags or the environment: POT_DNS_RESOLVER (host:port), "
        "POT_SMTP_PROBE_PORT, POT_DATABASE_URL, POT_TELEGRAM_TOKEN, POT_TELEGRAM_API_URL (the Bot API "
        "base), POT_SLACK_WEBHOOK (the webhook), POT_SLACK_WEBHOOK_URL (the webhook's base), "
        "POT_VAULT_ADDR/POT_VAULT_TOKEN and KUBECONFIG. With the local stack: `source .pot/env` first."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# httpx logs every request URL at INFO (httpcore its connection steps at DEBUG), and a Telegram Bot
# API URL carries the bot token: these stay at WARNING whatever --log-level says (as in pot-operator).
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging(level: str) -> None:
    """Log to stderr at `level`, except the HTTP client loggers that would print a token."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@app.callback()
def _global_options(
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            help="Library log lines on stderr from this level: DEBUG, INFO, WARNING or ERROR. "
            "HTTP client request lines never show (a Bot API URL holds the token).",
        ),
    ] = "WARNING",
) -> None:
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail("--log-level must be DEBUG, INFO, WARNING or ERROR", 2)
    configure_logging(log_level)


# The order here is the order of `potctl --help`.
for group in (check_commands, email_commands, chat_commands, db_commands, import_commands, kube_commands):
    group.register(app)
mailbox_commands.register(app)  # `potctl mailboxes import|rotate|retire`
preview_commands.register(app)  # `potctl preview`: one message as the worker renders it
transcript_commands.register(app)  # `potctl transcript JOB`, `potctl transcripts retention`
classify_commands.register(app)  # `potctl classify-message FILE...`: the ingester's classifier on .eml files
# The operator console (a web page over these same commands) lives in pot_console.
app.command("console")(console_cmd)


@functools.cache
def _command() -> Any:
    return typer.main.get_command(app)


def run(argv: list[str] | None = None) -> int:
    """Run one potctl command; its exit status. Every way it can end is one line on stderr at most.

    Usage errors (an unknown option, a value of the wrong type) are click's, made one line here
    instead of a boxed panel; anything no command caught is a bug, and says so in one line too.
    """
    command = _command()
    try:
        status = command.main(args=argv, prog_name="potctl", standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors: the message names the input
        message = " ".join(exc.format_message().split()) if hasattr(exc, "format_message") else str(exc)
        if message:  # an empty one: `potctl` alone, whose help has just been shown
            err.print(f"error: {escape(message)} (see potctl --help)", highlight=False, soft_wrap=True)
        return int(getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        err.print("error: interrupted", highlight=False)
        return 130
    except BrokenPipeError:  # the reader went away (potctl … | head): nothing more to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:300]
        what = f"unexpected {exc.__class__.__name__}: {escape(first)}"
        err.print(f"error: {what} (a bug in potctl; please report it)", highlight=False, soft_wrap=True)
        return 1
    return status if isinstance(status, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()

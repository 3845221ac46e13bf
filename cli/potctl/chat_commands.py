"""potctl's chat commands (send-telegram, send-slack) over pot_alerts' senders; registered by potctl.main.

Secrets come from the environment or from Vault (pot_common.vault, configured by POT_VAULT_*), never
from a flag, so they do not show in `ps` or a shell history; they are never printed.
The API bases work as in the operator: POT_TELEGRAM_API_URL replaces the Bot API base and
POT_SLACK_WEBHOOK_URL the scheme and host of the webhook (a proxy, or the local stack's fake chat).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pot_alerts.senders import AlertError, SlackSender, TelegramSender
from pot_common.vault import VaultConfig, VaultError, VaultKV

from potctl.console import err, fail
from potctl.inputs import shown

T = TypeVar("T")

TextArg = Annotated[str | None, typer.Argument(help="The message. Omit it to use --file or stdin.")]
FileOpt = Annotated[Path | None, typer.Option("--file", help="Read the message from this file.")]


MAX_TEXT = 40_000  # characters: Slack's limit for one message; Telegram's 4096 make 10 messages of it
PARSE_MODES = ("MarkdownV2", "HTML", "Markdown")


def _read_text(text: str | None, file: Path | None) -> str:
    """The message from the argument, --file or stdin: UTF-8, at most MAX_TEXT characters."""
    if text is not None and file is not None:
        fail("give the text or --file, not both", 2)
    where = "the text"
    try:
        if file is not None:
            where = f"--file {shown(str(file))}"
            with file.open(encoding="utf-8") as source:
                body = source.read(MAX_TEXT + 1)
        elif text is not None:
            body = text
        elif sys.stdin.isatty():
            fail("no text: give it as an argument, with --file, or on stdin", 2)
        else:
            where = "stdin"
            body = sys.stdin.read(MAX_TEXT + 1)
    except OSError as exc:
        fail(f"cannot read {where}: {exc.strerror or exc}", 2)
    except UnicodeDecodeError as exc:
        fail(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})", 2)
    if len(body) > MAX_TEXT:
        fail(f"{where} is longer than {MAX_TEXT} characters; send less, or a link to it", 2)
    if not body.strip():
        fail(f"{where} is empty: nothing to send", 2)
    return body


def _vault_field(path: str, field: str) -> str:
    """A field of a KV v2 secret (POT_VAULT_ADDR, POT_VAULT_TOKEN or POT_VAULT_ROLE, POT_VAULT_MOUNT)."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*", path) or len(path) > 512:
        fail(f"Vault path {shown(path)}: letters, digits, '_', '.', '-' between '/'", 2)
    try:
        data = VaultKV(VaultConfig.from_env()).read(path)
    except VaultError as exc:  # its messages name the path and the kind of failure, never a value
        fail(f"cannot read {path} from Vault: {exc}")
    value = data.get(field)
    if not value:
        fail(f"Vault secret {path} has no '{field}' field")
    return str(value)


def _secret(vault_path: str | None, field: str, env: str, what: str, flag: str) -> str:
    """The secret from Vault when a path is given, else from the environment variable `env`."""
    value = _vault_field(vault_path, field) if vault_path else os.environ.get(env, "")
    if not value:
        fail(f"no {what}: set {env} or give {flag}", 2)
    return value


def _deliver(send: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(send)
    except AlertError as exc:  # its messages hold neither the token nor the webhook
        fail(str(exc))


def send_telegram_cmd(
    text: TextArg = None,
    chat_id: Annotated[
        str,
        typer.Option(
            "--chat-id", envvar="POT_TELEGRAM_CHAT_ID", help="Chat, group or channel id (or @channelname)."
        ),
    ] = "",
    file: FileOpt = None,
    parse_mode: Annotated[
        str | None, typer.Option("--parse-mode", help="MarkdownV2, HTML or Markdown. Default: plain text.")
    ] = None,
    token_vault_path: Annotated[
        str | None,
        typer.Option(
            "--token-vault-path",
            help="Vault KV v2 path of the bot token (field `token`), instead of POT_TELEGRAM_TOKEN.",
        ),
    ] = None,
    silent: Annotated[bool, typer.Option("--silent", help="Deliver without a notification sound.")] = False,
) -> None:
    """Send a Telegram message through the Bot API (sendMessage).

    The bot token comes from POT_TELEGRAM_TOKEN or, with --token-vault-path, from Vault; it is never
    printed. Texts over 4096 characters go out as several messages. The API base is
    POT_TELEGRAM_API_URL (default https://api.telegram.org).

    Example: `echo "pool acme paused" | potctl send-telegram --chat-id -1001234`
    """
    if not chat_id:
        fail("--chat-id is required (or POT_TELEGRAM_CHAT_ID)", 2)
    if not (
        chat_id.lstrip("-").isdigit() or (chat_id.startswith("@") and chat_id[1:].replace("_", "").isalnum())
    ):
        fail(f"--chat-id {shown(chat_id)}: a chat id is a number or @channelname", 2)
    if parse_mode is not None and parse_mode not in PARSE_MODES:
        fail(f"--parse-mode {shown(parse_mode)}: must be MarkdownV2, HTML or Markdown", 2)
    body = _read_text(text, file)
    token = _secret(token_vault_path, "token", "POT_TELEGRAM_TOKEN", "bot token", "--token-vault-path")
    sent = _deliver(TelegramSender(token).send(chat_id, body, parse_mode=parse_mode, silent=silent))
    err.print(f"sent {len(sent)} message(s) to {chat_id}", highlight=False)


def send_slack_cmd(
    text: TextArg = None,
    file: FileOpt = None,
    webhook_vault_path: Annotated[
        str | None,
        typer.Option(
            "--webhook-vault-path",
            help="Vault KV v2 path of the webhook URL (field `url`), instead of POT_SLACK_WEBHOOK.",
        ),
    ] = None,
) -> None:
    """Post a message to a Slack incoming webhook.

    The webhook URL is a secret: it comes from POT_SLACK_WEBHOOK (the whole URL) or, with
    --webhook-vault-path, from Vault (field `url`, as in a pool's alert route), and is never printed.
    POT_SLACK_WEBHOOK_URL is not the webhook but an optional base, as for the operator: when set, it
    replaces the webhook's scheme and host (a proxy, or the local stack's fake chat).

    Example: `potctl send-slack "campaign spring-launch completed"`
    """
    body = _read_text(text, file)
    url = _secret(webhook_vault_path, "url", "POT_SLACK_WEBHOOK", "webhook", "--webhook-vault-path")
    _deliver(SlackSender(url).send(body))
    err.print("sent", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("send-telegram")(send_telegram_cmd)
    app.command("send-slack")(send_slack_cmd)

"""An SMTP session recorded line by line, AUTH redacted; pot_worker.smtp records, the dispatcher reads.

`RecordingSMTP` is aiosmtplib's client with a `tape`: while one is attached, every command the worker
sends and every reply it reads go onto it with a timestamp, as (epoch seconds, direction, text) with
direction ">" (sent), "<" (received) or "*" (what happened to the connection: connect, errors). The
message itself is not kept, only its size: a transcript answers "what did we say, what did the
server answer", and the bytes are rebuilt from the job if ever needed.

Credentials never reach a tape: inside an AUTH mechanism (auth_plain, auth_login, ...) a command
keeps only its verb and mechanism (`AUTH PLAIN [redacted]`), a continuation line is `[redacted]`, and
a 334 challenge keeps only its code. Without a tape the class behaves exactly as aiosmtplib.SMTP;
the worker uses plain aiosmtplib.SMTP when transcripts are off, so they cost nothing then.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiosmtplib
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import Default

REDACTED = "[redacted]"
REPLY_LIMIT = 2000  # characters of one reply kept (an EHLO list is a few hundred)

Line = tuple[float, str, str]
Timeout = float | Literal[Default.token] | None


class Tape:
    """One job attempt's lines, in the order they happened; `stamp` gives the epoch seconds."""

    __slots__ = ("lines", "stamp")

    def __init__(self, stamp: Callable[[], float] = time.time) -> None:
        self.lines: list[Line] = []
        self.stamp = stamp

    def sent(self, text: str) -> None:
        self.lines.append((self.stamp(), ">", text))

    def received(self, text: str) -> None:
        self.lines.append((self.stamp(), "<", text))

    def note(self, text: str) -> None:
        self.lines.append((self.stamp(), "*", text))


def command_text(args: tuple[bytes, ...], in_auth: bool) -> str:
    """What a tape shows for a command (pure): as sent, but nothing past the mechanism during AUTH."""
    if in_auth:
        if args and args[0].upper() == b"AUTH":
            shown = b" ".join(args[:2]).decode("ascii", "replace")
            return f"{shown} {REDACTED}" if len(args) > 2 else shown
        return REDACTED  # a continuation line: an encoded username, password or digest
    return b" ".join(args).decode("utf-8", "replace")


def reply_text(code: int, message: str, in_auth: bool) -> str:
    """What a tape shows for a reply (pure), a multi-line one as it came (`250-...` lines, then `250 ...`).
    A 334 challenge during AUTH keeps only its code."""
    if in_auth and code == 334:
        return f"334 {REDACTED}"
    if "\n" not in message:
        return f"{code} {message}"[:REPLY_LIMIT]
    *first, last = message.split("\n")
    return ("".join(f"{code}-{line}\n" for line in first) + f"{code} {last}")[:REPLY_LIMIT]


def error_text(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or ""
    return f"{type(exc).__name__}: {text}"[:REPLY_LIMIT]


class RecordingSMTP(aiosmtplib.SMTP):
    """aiosmtplib.SMTP that writes the session onto `tape` while one is attached (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tape: Tape | None = None
        self._in_auth = False

    async def _replied(
        self, tape: Tape, call: Awaitable[SMTPResponse], in_auth: bool = False
    ) -> SMTPResponse:
        """Await one exchange and put its reply, or what went wrong, on the tape."""
        try:
            response = await call
        except aiosmtplib.SMTPResponseException as exc:  # a refusal aiosmtplib raised: still a reply
            tape.received(reply_text(exc.code, exc.message, in_auth))
            raise
        except BaseException as exc:
            tape.note(error_text(exc))
            raise
        tape.received(reply_text(response.code, response.message, in_auth))
        return response

    async def _create_connection(self, timeout: float | None) -> SMTPResponse:  # noqa: ASYNC109 (aiosmtplib's)
        # aiosmtplib reads the greeting here, before connect() goes on to STARTTLS; the version is
        # pinned and a test checks the greeting is on the tape.
        tape = self.tape
        if tape is None:
            return await super()._create_connection(timeout)
        tls = "implicit TLS" if self.use_tls else "STARTTLS" if self._start_tls_on_connect else "no TLS"
        tape.note(f"connect {self.hostname}:{self.port} ({tls})")
        return await self._replied(tape, super()._create_connection(timeout))

    async def execute_command(
        self,
        *args: bytes,
        timeout: Timeout = Default.token,  # noqa: ASYNC109 (aiosmtplib's signature)
    ) -> SMTPResponse:
        tape = self.tape
        if tape is None:
            return await super().execute_command(*args, timeout=timeout)
        in_auth = self._in_auth
        tape.sent(command_text(args, in_auth))
        return await self._replied(tape, super().execute_command(*args, timeout=timeout), in_auth)

    async def starttls(self, *args: Any, **kwargs: Any) -> SMTPResponse:
        tape = self.tape
        if tape is None:
            return await super().starttls(*args, **kwargs)
        # aiosmtplib says EHLO first if it has not yet; said here, it comes before STARTTLS on the tape too
        # (then its own call does nothing).
        await self._ehlo_or_helo_if_needed()
        tape.sent("STARTTLS")
        response = await self._replied(tape, super().starttls(*args, **kwargs))
        tape.note("TLS established")
        return response

    # Each AUTH mechanism login() may try, redacted while it runs (login's own EHLO is not).
    async def _redacted(
        self, method: Callable[..., Awaitable[SMTPResponse]], *args: Any, **kwargs: Any
    ) -> SMTPResponse:
        self._in_auth = True
        try:
            return await method(*args, **kwargs)
        finally:
            self._in_auth = False

    async def auth_plain(self, *args: Any, **kwargs: Any) -> SMTPResponse:
        return await self._redacted(super().auth_plain, *args, **kwargs)

    async def auth_login(self, *args: Any, **kwargs: Any) -> SMTPResponse:
        return await self._redacted(super().auth_login, *args, **kwargs)

    async def auth_crammd5(self, *args: Any, **kwargs: Any) -> SMTPResponse:
        return await self._redacted(super().auth_crammd5, *args, **kwargs)

    async def auth_xoauth2(self, *args: Any, **kwargs: Any) -> SMTPResponse:
        return await self._redacted(super().auth_xoauth2, *args, **kwargs)

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: Timeout = Default.token,  # noqa: ASYNC109 (aiosmtplib's)
    ) -> SMTPResponse:
        tape = self.tape
        if tape is None:
            return await super().data(message, timeout=timeout)
        await self._ehlo_or_helo_if_needed()  # as in starttls()
        tape.sent(f"DATA ({len(message)} bytes of message)")
        return await self._replied(tape, super().data(message, timeout=timeout))

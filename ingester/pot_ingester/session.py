"""One IMAP connection to one inbox (aioimaplib): connect with TLS as the row says, log in with a
password or XOAUTH2, select INBOX, fetch by UID, IDLE; used by pot_ingester.inbox.

aioimaplib has no STARTTLS and waits forever on an XOAUTH2 error challenge; the protocol subclass here
adds both (STARTTLS upgrades the transport in place; the challenge is answered with an empty line, as
RFC 7628 says, so the server sends its NO). Secrets are passed to aioimaplib's scrubbing and never logged.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import functools
import ssl
from typing import Any

import aioimaplib
from pot_common.mail_credentials import Login

from pot_ingester import imapparse
from pot_ingester.imapparse import Fetched

CRLF = b"\r\n"


class ImapError(Exception):
    """A command failed or the connection broke (temporary: the inbox is read again after a wait)."""


class LoginFailed(Exception):
    """The server refused the login (the message holds the server's words, never the secret)."""


class PlaintextRefused(Exception):
    """The inbox has no TLS and this ingester may not send a login in clear."""


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # aioimaplib is untyped
    def _continuation(self, line: bytes) -> None:
        pending = self.pending_sync_command
        if pending is not None and pending.name == "AUTHENTICATE":
            # The XOAUTH2 error challenge (base64 JSON): an empty response makes the server answer NO.
            assert self.transport is not None
            self.transport.write(CRLF)
            return
        super()._continuation(line)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]
    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Any = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _Protocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


# asyncio preallocates a 256 KiB read buffer for every TLS connection (SSLProtocol.max_size); held by
# thousands of idle inboxes that is most of the process's memory. A TLS record carries at most 16 KiB,
# so 32 KiB reads whole records all the same.
TLS_READ_BUFFER = 32 * 1024


def limit_tls_buffers(size: int = TLS_READ_BUFFER) -> None:
    """Make asyncio's per-connection TLS read buffer `size` bytes (process-wide; pot_ingester.cli)."""
    asyncio.sslproto.SSLProtocol.max_size = size


@functools.cache
def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """One context per CA file for the whole process: each holds the parsed CA store (about 1 MiB with
    the system's), so one per connection would cost a gigabyte at a thousand inboxes."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


def _ok(response: Any, what: str) -> Any:
    if response.result != "OK":
        text = b" ".join(bytes(line) for line in response.lines[-1:]).decode("utf-8", "replace")[:200]
        raise ImapError(f"{what} answered {response.result}: {text}")
    return response


class Session:
    """A logged-in connection with INBOX selected. `uidvalidity` and `idle` are known after open()."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: str,
        *,
        timeout: float,
        ca_file: str | None = None,
        allow_plaintext: bool = False,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.timeout = timeout
        self.ca_file = ca_file
        self.allow_plaintext = allow_plaintext
        self.uidvalidity = 0
        self.client: _Client | None = None
        # Set when the server or the network drops the connection: an IDLE would otherwise wait for a
        # push that never comes (aioimaplib tells only this callback).
        self.lost = asyncio.Event()

    @property
    def idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    async def open(self, login: Login | None) -> None:
        """Connect, secure, authenticate, select INBOX; raises ImapError, LoginFailed or PlaintextRefused."""
        if self.tls == "none" and login is not None and not self.allow_plaintext:
            raise PlaintextRefused(
                "imap tlsMode none: the login would travel in clear (POT_ALLOW_PLAINTEXT_AUTH)"
            )
        context = tls_context(self.ca_file) if self.tls != "none" else None
        self.lost.clear()
        client = _Client(
            self.host,
            self.port,
            timeout=self.timeout,
            conn_lost_cb=lambda _exc: self.lost.set(),
            ssl_context=context if self.tls == "implicit" else None,
        )
        self.client = client
        try:
            await client.wait_hello_from_server()
            if self.tls == "starttls":
                await self._starttls(client, context)
            if login is not None:
                await self._authenticate(client, login)
            selected = _ok(await client.select("INBOX"), "SELECT")
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            await self.close()
            raise ImapError(f"{type(exc).__name__}: {exc}"[:300]) from None
        except (ImapError, LoginFailed):
            await self.close()
            raise
        value = imapparse.uidvalidity(selected.lines)
        if value is None:
            await self.close()
            raise ImapError("SELECT gave no UIDVALIDITY")
        self.uidvalidity = value

    async def _starttls(self, client: _Client, context: ssl.SSLContext | None) -> None:
        assert context is not None
        protocol = client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("the server offers no STARTTLS")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _ok(await asyncio.wait_for(protocol.execute(command), self.timeout), "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(protocol.transport, protocol, context, server_hostname=self.host)
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self.timeout)  # capabilities change after TLS

    async def _authenticate(self, client: _Client, login: Login) -> None:
        secret = login.secret()
        if login.is_oauth2:
            response = await client.xoauth2(login.username, secret)
        else:
            response = await client.login(login.username, secret)
        if response.result != "OK":
            text = b" ".join(bytes(line) for line in response.lines[-1:]).decode("utf-8", "replace")
            if secret:
                text = text.replace(secret, "***")  # a server that echoes it must not put it in a status
            raise LoginFailed(f"{'XOAUTH2' if login.is_oauth2 else 'LOGIN'} refused: {text[:200]}")

    async def new_uids(self, after: int) -> list[int]:
        """UIDs above `after` (UID SEARCH UID n:* always names the last message: filtered out)."""
        client = self._client()
        response = _ok(await client.uid_search(f"UID {after + 1}:*", charset=None), "UID SEARCH")
        return [uid for uid in imapparse.search_uids(response.lines) if uid > after]

    async def fetch(self, uids: list[int], max_bytes: int) -> list[Fetched]:
        """The messages' first `max_bytes` bytes, without setting \\Seen (a person may read the inbox too)."""
        if not uids:
            return []
        client = self._client()
        response = _ok(
            await client.uid(
                "fetch", ",".join(map(str, uids)), f"(UID INTERNALDATE BODY.PEEK[]<0.{max_bytes}>)"
            ),
            "UID FETCH",
        )
        return [m for m in imapparse.fetched(response.lines) if m.uid in set(uids)]

    async def wait_idle(self, renew_seconds: float) -> bool:
        """IDLE until the server pushes a change or `renew_seconds` pass; True when something arrived.
        Raises ImapError as soon as the connection drops."""
        client = self._client()
        idle = await client.idle_start(timeout=renew_seconds)
        changed = False
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            while client.has_pending_idle():
                push = asyncio.ensure_future(client.wait_server_push(timeout=renew_seconds + 30))
                await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
                if not push.done():
                    push.cancel()
                    raise ImapError("the server closed the connection during IDLE")
                pushed = push.result()
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if imapparse.exists_pushed(pushed):
                    changed = True
                    break
        except BaseException:
            idle.cancel()  # cancelled (shutting down) or dropped: close() ends the connection
            raise
        finally:
            lost.cancel()
        if client.has_pending_idle():
            client.idle_done()
        await asyncio.wait_for(idle, self.timeout)
        return changed

    async def noop(self) -> None:
        _ok(await self._client().noop(), "NOOP")

    def _client(self) -> _Client:
        if self.client is None:
            raise ImapError("not connected")
        return self.client

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if not self.lost.is_set() and client.get_state() in ("AUTH", "SELECTED", "NONAUTH"):
                await asyncio.wait_for(client.logout(), 2)
        except (OSError, TimeoutError, aioimaplib.AioImapException):
            pass  # closing a broken connection: nothing to tell
        finally:
            transport = client.protocol.transport if client.protocol is not None else None
            if transport is not None:
                transport.close()

"""One reused SMTP connection per mailbox (aiosmtplib), reporting each attempt as (phase, code, text).

The worker sends a mailbox's messages through its MailboxConnection one at a time; the connection is
opened lazily (STARTTLS or implicit TLS, AUTH) and kept for the next message. Exceptions become
results here so the pure classifier sees every case, including "connection lost after DATA".
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass

import aiosmtplib
from pot_common.addresses import is_plain_address
from pot_common.mail_credentials import Login

from pot_worker.classify import Phase, enhanced_code
from pot_worker.transcript import RecordingSMTP, Tape


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: str  # starttls | implicit | none


@dataclass(frozen=True)
class Attempt:
    phase: Phase
    code: int | None
    reply: str

    @property
    def enhanced(self) -> str | None:
        return enhanced_code(self.reply)


def _reply(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text)[:500]


# smtp.mail and smtp.rcpt re-parse each address with email.utils.parseaddr: a quarter of the worker's
# SMTP CPU per message (bench/pipeline.py profile). A dot-atom address (is_plain_address) needs
# no quoting and carries nothing a command line cannot take, so it goes out as written; these raise
# exactly what smtp.mail/rcpt raise. The other thing those do, EHLO when none was sent yet (aiosmtplib
# sends it lazily), is left to them: the fast path is taken only once a greeting is on record.
async def _plain_mail(smtp: aiosmtplib.SMTP, sender: str) -> None:
    response = await smtp.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">")
    if response.code != 250:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)


async def _plain_rcpt(smtp: aiosmtplib.SMTP, recipient: str) -> None:
    response = await smtp.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)


class MailboxConnection:
    """A mailbox's connection. Not re-entrant: the caller serialises sends (the worker holds a lock).

    With `record`, the session goes onto the tape given to each `send` (pot_worker.transcript);
    without, the client is plain aiosmtplib and recording costs nothing.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        helo_name: str,
        timeout: float,
        tls_context: ssl.SSLContext,
        record: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self._helo = helo_name
        self._timeout = timeout
        self._tls_context = tls_context
        self._client = RecordingSMTP if record else aiosmtplib.SMTP
        self._smtp: aiosmtplib.SMTP | None = None
        self._tape: Tape | None = None

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def _connect(self, creds: Login | None) -> Attempt | None:
        """Open and authenticate; an Attempt when that failed."""
        ep = self.endpoint
        smtp = self._client(
            hostname=ep.host,
            port=ep.port,
            local_hostname=self._helo,
            timeout=self._timeout,
            use_tls=ep.tls == "implicit",
            start_tls=ep.tls == "starttls",
            tls_context=self._tls_context if ep.tls != "none" else None,
        )
        if isinstance(smtp, RecordingSMTP):
            smtp.tape = self._tape
        try:
            await smtp.connect()
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            return Attempt(Phase.CONNECT, None, f"{exc.code} {_reply(exc)}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            smtp.close()
            return Attempt(Phase.CONNECT, None, _reply(exc))
        if creds is not None:
            try:
                if creds.is_oauth2:
                    # AUTH XOAUTH2 <initial response>; aiosmtplib answers a 334 error challenge with an
                    # empty line, then raises the server's final 535. EHLO first, outside the mechanism,
                    # so a transcript shows it (login() does the same for PLAIN and LOGIN).
                    if smtp.is_ehlo_or_helo_needed:
                        await smtp.ehlo()
                    await smtp.auth_xoauth2(creds.username, creds.secret())
                else:
                    await smtp.login(creds.username, creds.secret())
            except aiosmtplib.SMTPResponseException as exc:
                smtp.close()
                return Attempt(Phase.AUTH, exc.code, _reply(exc))
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                smtp.close()
                return Attempt(Phase.CONNECT, None, _reply(exc))
        self._smtp = smtp
        return None

    async def send(
        self, sender: str, recipient: str, message: bytes, creds: Login | None, tape: Tape | None = None
    ) -> Attempt:
        """One message to one recipient, recorded on `tape` if given. Never raises for SMTP or network
        trouble."""
        if tape is None:
            return await self._send(sender, recipient, message, creds)
        self._tape = tape
        if isinstance(self._smtp, RecordingSMTP):
            self._smtp.tape = tape
            if self.connected:
                tape.note("connection reused")
        try:
            return await self._send(sender, recipient, message, creds)
        finally:
            self._tape = None
            if isinstance(self._smtp, RecordingSMTP):
                self._smtp.tape = None

    async def _send(self, sender: str, recipient: str, message: bytes, creds: Login | None) -> Attempt:
        reused = self.connected
        if not reused:
            failed = await self._connect(creds)
            if failed is not None:
                return failed
        attempt = await self._envelope(sender, recipient)
        if attempt is not None and attempt.phase is Phase.CONNECT and reused:
            # The server closed an idle connection before MAIL: nothing was sent, so reconnecting is safe.
            failed = await self._connect(creds)
            if failed is not None:
                return failed
            attempt = await self._envelope(sender, recipient)
        if attempt is not None:
            return attempt
        assert self._smtp is not None
        try:
            response = await self._smtp.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            return Attempt(Phase.DATA, exc.code, _reply(exc))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self.close()
            return Attempt(Phase.DATA_LOST, None, _reply(exc))
        return Attempt(Phase.DATA, response.code, response.message[:500])

    async def _envelope(self, sender: str, recipient: str) -> Attempt | None:
        assert self._smtp is not None
        phase = Phase.MAIL
        try:
            smtp = self._smtp
            if not smtp.is_ehlo_or_helo_needed and is_plain_address(sender) and is_plain_address(recipient):
                await _plain_mail(self._smtp, sender)
                phase = Phase.RCPT
                await _plain_rcpt(self._smtp, recipient)
            else:
                await self._smtp.mail(sender)
                phase = Phase.RCPT
                await self._smtp.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:
                self.close()  # 421 means the server is closing the channel
            else:
                await self._reset()
            return Attempt(phase, exc.code, _reply(exc))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self.close()
            return Attempt(Phase.CONNECT, None, _reply(exc))
        return None

    async def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def quit(self) -> None:
        if self._smtp is not None and self._smtp.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await self._smtp.quit()
        self.close()

"""The SMTP sink: stores what it accepts and answers by recipient; run by `make up`, the fixtures and tests.

Every message it accepts is stored under the maildir (`.pot/mail/` for `make up`) as one file per
message per recipient, written atomically by `mailbox.Maildir` (tmp/ then renamed into new/). Each
stored file starts with the envelope: `Return-Path: <sender>`, `Delivered-To: <recipient>`,
`X-Pot-Sink-Auth: <user>` and `X-Pot-Sink-Auth-Key: <key>` (only when the client authenticated; the
key is `auth_key(password)`, the first 12 hex digits of the password's SHA-256, so a test can tell
which password a message went out under without the password being stored) and
`X-Pot-Sink-TLS: yes|no`, followed by the message as received (with LF line endings, as an MDA
writes a maildir).

Replies depend on the recipient's local part (case-insensitive prefix), so any campaign can
exercise every delivery path:

| local part   | when       | reply                                                              |
|--------------|------------|--------------------------------------------------------------------|
| `bounce-*`   | RCPT       | 550 5.1.1 user unknown                                             |
| `full-*`     | RCPT       | 552 5.2.2 mailbox full                                             |
| `defer-*`    | RCPT       | 451 4.7.1 try again later                                          |
| `throttle-*` | RCPT       | 421 4.7.0, then the server closes the connection                   |
| `spam-*`     | RCPT       | 550 5.7.1 rejected as spam                                         |
| `drop-*`     | after DATA | none: the message is stored, then the connection is closed, so     |
|              |            | the client cannot know whether it was accepted                     |
| `slow-*`     | after DATA | 250 after a delay (`--slow-delay`, default 2 s)                    |
| `late-bounce-*`, `complain-*`, `ooo-*`, `reply-*` | RCPT, DATA | 250, and later (`--late-delay`,  |
|              |            | default 3 s) an RFC 3464 bounce, an ARF complaint, an RFC 3834     |
|              |            | out-of-office or a human reply lands in the SENDER's INBOX on the  |
|              |            | IMAP server (pot_stack.late_mail has the formats)                  |
| anything     | RCPT, DATA | 250                                                                |

A message with several recipients is stored for each accepted one; a `drop-*` or `slow-*`
recipient applies its behaviour to the whole transaction.

Late messages go over LMTP (`--late-lmtp HOST:PORT`, the IMAP server's LMTP port) to the sender's
inbox, as a provider's MDA delivers them: the inbox user is the submission's AUTH user (the envelope
sender when it did not authenticate). An inbox the IMAP server does not know, or no `--late-lmtp`,
is logged ("Dropped late message") and the message is dropped; the sink goes on.

AUTH PLAIN and LOGIN are offered (also without TLS unless `--require-tls-for-auth`): any
credentials are accepted, unless `--auth-file` names a file of `user:password` lines, in which case
a mismatch gets 535 5.7.8. A user may have several lines: each of those passwords is accepted, as a
provider accepts the old and the new password during a changeover.
AUTH XOAUTH2 (as Gmail and Office 365 take it: base64 of `user=U\x01auth=Bearer T\x01\x01`) is
offered when an OAuth2 check is configured: `--oauth-introspect URL` (RFC 7662, the stack's token
endpoint, pot_stack.oauth_server) or, in-process, `SinkConfig.oauth_check`. The token must be active
and belong to U; otherwise, as Google does, a 334 with a base64 JSON error, then 535 5.7.8.
Authenticated messages carry `X-Pot-Sink-Auth-Mechanism: PLAIN|LOGIN|XOAUTH2`. STARTTLS is offered with the
certificate given, or a self-signed one generated at start; `--tls-port` adds a second port speaking
implicit TLS (SMTPS).

Command line: `python -m pot_stack.smtp_sink --port P --maildir D [--tls-port P2] [--tls-cert C
--tls-key K] [--auth-file F] [--slow-delay S] [--oauth-introspect URL] [--late-lmtp HOST:PORT]
[--late-delay S]`. In-process: `build_controller(SinkConfig(...))`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import datetime
import email.message
import email.parser
import email.policy
import hashlib
import hmac
import ipaddress
import json
import logging
import mailbox
import signal
import socket
import ssl
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from pot_stack.late_mail import DEFAULT_DELAY, LateMail
from pot_stack.service import Service, free_port, wait_until
from pot_stack.xoauth2 import XOAUTH2_ERROR, OAuthCheck, introspection_check, parse_xoauth2

log = logging.getLogger("pot_stack.smtp_sink")

# A reply the handler returns to make the server hang up without answering (drop-*).
HANG_UP = "__pot_sink_hang_up__"

RCPT_RULES: dict[str, str] = {
    "bounce-": "550 5.1.1 Recipient address rejected: user unknown",
    "full-": "552 5.2.2 Mailbox full",
    "defer-": "451 4.7.1 Try again later",
    "throttle-": "421 4.7.0 Too many messages, try again later",
    "spam-": "550 5.7.1 Message rejected as spam",
}


def local_part(address: str) -> str:
    return address.rsplit("@", 1)[0].strip("<>").lower()


def rcpt_reply(address: str) -> str | None:
    """The rejection for a recipient at RCPT time, or None when it is accepted."""
    local = local_part(address)
    for prefix, reply in RCPT_RULES.items():
        if local.startswith(prefix):
            return reply
    return None


@dataclass(frozen=True)
class SinkConfig:
    """How a sink behaves; `auth_users` (each user's accepted passwords) None means any credentials are
    accepted; `oauth_check` None means XOAUTH2 is not offered; `late_lmtp` is where late messages go."""

    maildir: Path
    slow_delay: float = 2.0
    auth_users: dict[str, frozenset[str]] | None = None
    require_tls_for_auth: bool = False
    hostname: str = "sink.pot.test"
    extra_smtp_kwargs: dict[str, Any] = field(default_factory=dict)
    oauth_check: OAuthCheck | None = None
    late_lmtp: tuple[str, int] | None = None
    late_delay: float = DEFAULT_DELAY


def read_auth_file(path: Path) -> dict[str, frozenset[str]]:
    """`user:password` lines (blank lines and `#` comments ignored); a user's lines add up."""
    users: dict[str, frozenset[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            user, _, password = line.partition(":")
            users[user] = users.get(user, frozenset()) | {password}
    return users


def auth_key(password: str) -> str:
    """What `X-Pot-Sink-Auth-Key` shows for a password: enough to tell two apart, not to recover one."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class SinkLogin:
    """Who logged in on a session: the user, the key of the password used (never the password; empty
    for XOAUTH2) and the mechanism."""

    user: str
    key: str
    mechanism: str = "PLAIN"


class Authenticator:
    """aiosmtpd authenticator for PLAIN and LOGIN; the result is a SinkLogin."""

    def __init__(self, users: dict[str, frozenset[str]] | None) -> None:
        self.users = users

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        given = auth_data.password.decode("utf-8", "replace")
        if self.users is not None:
            accepted = self.users.get(user, frozenset())
            # Every candidate compared (any() would stop early and time which one matched).
            matches = [hmac.compare_digest(p.encode(), given.encode()) for p in accepted]
            if not any(matches):
                log.info("Refused authentication user=%s mechanism=%s", user, mechanism)
                return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=SinkLogin(user, auth_key(given), mechanism))


class SinkHandler:
    """aiosmtpd handler: the reply rules and the storage."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        # Maildir(create=True) makes tmp/new/cur only when the folder itself is new.
        for sub in ("tmp", "new", "cur"):
            (config.maildir / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(config.maildir, create=True)
        self.late = LateMail(config.late_lmtp, delay=config.late_delay, hostname=config.hostname)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """AUTH XOAUTH2 [initial-response], the token checked with `config.oauth_check`."""
        if len(args) > 1:
            try:
                blob: Any = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        else:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)  # aborted: challenge_auth answered
        parsed = parse_xoauth2(blob)
        check = self.config.oauth_check
        owner = await check(parsed[1]) if parsed is not None and check is not None else None
        if parsed is None or owner is None or owner.lower() != parsed[0].lower():
            log.info("Refused authentication user=%s mechanism=XOAUTH2", parsed[0] if parsed else "?")
            answer = await server.challenge_auth(json.dumps(XOAUTH2_ERROR))
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            return AuthResult(
                success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
            )
        return AuthResult(success=True, auth_data=SinkLogin(parsed[0], "", "XOAUTH2"))

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = rcpt_reply(address)
        if reply is not None:
            log.info("Refused recipient rcpt=%s reply=%r", address, reply[:9])
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        kinds = {local_part(rcpt).split("-", 1)[0] for rcpt in envelope.rcpt_tos}
        if "slow" in kinds:
            await asyncio.sleep(self.config.slow_delay)
        queue_id = uuid.uuid4().hex[:16]
        self.store(server, session, envelope)
        self.schedule_late(session, envelope)
        if "drop" in kinds:
            log.info("Dropped connection after DATA id=%s", queue_id)
            return HANG_UP
        return f"250 2.0.0 Ok: queued as {queue_id}"

    def schedule_late(self, session: Session, envelope: Envelope) -> None:
        """Late effects go to the sender's inbox: the AUTH user, else the envelope sender."""
        login = session.auth_data if isinstance(session.auth_data, SinkLogin) else None
        sender = envelope.mail_from or ""
        inbox = login.user if login is not None and session.authenticated else sender
        content = envelope.original_content or envelope.content or b""
        original = content.encode("utf-8") if isinstance(content, str) else content
        for rcpt in envelope.rcpt_tos:
            self.late.schedule(inbox=inbox, sender=sender, rcpt=rcpt, original=original)

    def store(self, server: SMTP, session: Session, envelope: Envelope) -> None:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        # Maildir files use the local line ending, as any MDA writes them; CRLF is SMTP's wire form only.
        content = content.replace(b"\r\n", b"\n")
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        authenticated = session.authenticated and isinstance(session.auth_data, SinkLogin)
        login = session.auth_data if authenticated else None
        for rcpt in envelope.rcpt_tos:
            head = f"Return-Path: <{envelope.mail_from or ''}>\nDelivered-To: {rcpt}\n"
            if login is not None:
                head += f"X-Pot-Sink-Auth: {login.user}\n"
                head += f"X-Pot-Sink-Auth-Key: {login.key}\n" if login.key else ""
                head += f"X-Pot-Sink-Auth-Mechanism: {login.mechanism}\n"
            head += f"X-Pot-Sink-TLS: {'yes' if tls else 'no'}\n"
            self.maildir.add(head.encode("utf-8") + content)
            log.info("Stored message from=%s rcpt=%s bytes=%d", envelope.mail_from, rcpt, len(content))


class SinkSMTP(SMTP):
    """aiosmtpd's SMTP, able to hang up: after a 421, or silently when the handler says HANG_UP."""

    async def push(self, status: Any) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        if self.transport is None:
            return
        if text == HANG_UP:
            self.transport.close()
            return
        await super().push(status)
        if text.startswith("421") and self.transport is not None:
            self.transport.close()


def smtp_kwargs(config: SinkConfig, tls_context: ssl.SSLContext | None) -> dict[str, Any]:
    return {
        "hostname": config.hostname,
        "authenticator": Authenticator(config.auth_users),
        "auth_require_tls": config.require_tls_for_auth,
        "auth_exclude_mechanism": [] if config.oauth_check is not None else ["XOAUTH2"],
        "tls_context": tls_context,
        **config.extra_smtp_kwargs,
    }


def make_self_signed(directory: Path, stem: str = "sink") -> tuple[Path, Path]:
    """A throwaway certificate for localhost/127.0.0.1 (EC P-256: quick to make) in `directory`, as
    `<stem>-cert.pem` and `<stem>-key.pem`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class SinkController(Controller):
    """aiosmtpd's threaded Controller serving the sink (for tests that want it in-process)."""

    def __init__(
        self,
        config: SinkConfig,
        *,
        host: str,
        port: int,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
    ) -> None:
        self.config = config
        self._tls_context = tls_context
        super().__init__(
            SinkHandler(config),
            hostname=host,
            port=port,
            ssl_context=tls_context if implicit_tls else None,
            server_hostname=config.hostname,
            **{
                k: v
                for k, v in smtp_kwargs(config, None if implicit_tls else tls_context).items()
                if k != "hostname"
            },
        )

    def factory(self) -> SMTP:
        return SinkSMTP(self.handler, **self.SMTP_kwargs)


def build_controller(
    config: SinkConfig,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
) -> SinkController:
    """An unstarted in-process sink; call `.start()` / `.stop()`. `port` defaults to a free one."""
    return SinkController(
        config, host=host, port=port or free_port(), tls_context=tls_context, implicit_tls=implicit_tls
    )


async def serve(
    config: SinkConfig, *, host: str, port: int, tls_port: int | None, tls_context: ssl.SSLContext
) -> None:
    """Serve the plain (STARTTLS) port and the optional implicit-TLS port until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    handler = SinkHandler(config)
    servers = [
        await loop.create_server(
            lambda: SinkSMTP(handler, **smtp_kwargs(config, tls_context)), host, port, backlog=512
        )
    ]
    if tls_port:
        servers.append(
            await loop.create_server(
                lambda: SinkSMTP(handler, **smtp_kwargs(config, None)),
                host,
                tls_port,
                ssl=tls_context,
                backlog=512,
            )
        )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("Started SMTP sink port=%d tls_port=%s maildir=%s", port, tls_port, config.maildir)
    await stop.wait()
    for server in servers:
        server.close()
    log.info("Stopped SMTP sink")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pot_stack.smtp_sink", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int, default=0, help="also serve implicit TLS on this port")
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate (default: self-signed, made at start)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    parser.add_argument("--auth-file", type=Path, help="user:password lines; without it any credentials pass")
    parser.add_argument("--require-tls-for-auth", action="store_true")
    parser.add_argument("--slow-delay", type=float, default=2.0, help="seconds slow-* waits before answering")
    parser.add_argument("--oauth-introspect", help="RFC 7662 URL that checks XOAUTH2 tokens (offers XOAUTH2)")
    parser.add_argument("--late-lmtp", help="HOST:PORT of the IMAP server's LMTP, for late messages")
    parser.add_argument(
        "--late-delay", type=float, default=DEFAULT_DELAY, help="seconds before late messages"
    )
    args = parser.parse_args(argv)
    late_host, _, late_port = (args.late_lmtp or "").rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiosmtpd's own INFO lines (one per connection) would drown ours under load.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # aiosmtpd 1.4 warns about its own legacy attribute on every successful AUTH.
    logging.getLogger("mail.log").addFilter(
        lambda record: "login_data is deprecated" not in record.getMessage()
    )

    config = SinkConfig(
        maildir=args.maildir,
        slow_delay=args.slow_delay,
        auth_users=read_auth_file(args.auth_file) if args.auth_file else None,
        require_tls_for_auth=args.require_tls_for_auth,
        oauth_check=introspection_check(args.oauth_introspect) if args.oauth_introspect else None,
        late_lmtp=(late_host, int(late_port)) if args.late_lmtp else None,
        late_delay=args.late_delay,
    )
    with contextlib.ExitStack() as stack:
        if args.tls_cert:
            cert, key = args.tls_cert, args.tls_key or args.tls_cert
        else:
            cert, key = make_self_signed(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        asyncio.run(
            serve(
                config,
                host=args.host,
                port=args.port,
                tls_port=args.tls_port or None,
                tls_context=server_tls_context(cert, key),
            )
        )


@dataclass(frozen=True)
class StoredMail:
    """One stored file: the envelope the sink recorded and the parsed message."""

    path: Path
    mail_from: str
    rcpt_to: str
    auth_user: str | None
    tls: bool
    message: email.message.EmailMessage
    auth_key: str | None = None  # auth_key(password) of the login the message went out under
    auth_mechanism: str | None = None  # PLAIN, LOGIN or XOAUTH2


def read_maildir(maildir: Path) -> list[StoredMail]:
    """Every stored message, oldest first."""
    files = [p for p in (maildir / "new").glob("*") if p.is_file()] if (maildir / "new").is_dir() else []
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    parser = email.parser.BytesParser(policy=email.policy.default)
    mails = []
    for path in files:
        message = parser.parsebytes(path.read_bytes())
        assert isinstance(message, email.message.EmailMessage)
        mails.append(
            StoredMail(
                path=path,
                mail_from=str(message["Return-Path"] or "").strip("<>"),
                rcpt_to=str(message["Delivered-To"] or ""),
                auth_user=message["X-Pot-Sink-Auth"],
                tls=message["X-Pot-Sink-TLS"] == "yes",
                message=message,
                auth_key=message["X-Pot-Sink-Auth-Key"],
                auth_mechanism=message["X-Pot-Sink-Auth-Mechanism"],
            )
        )
    return mails


class SmtpSink(Service):
    """The sink as a detached process (`make up`, fixtures): plain/STARTTLS port and implicit-TLS port."""

    name = "smtp-sink"
    host = "127.0.0.1"

    def __init__(
        self,
        root: Path,
        maildir: Path | None = None,
        *,
        port: int | None = None,
        tls_port: int | None = None,
        slow_delay: float = 2.0,
        auth_file: Path | None = None,
        oauth_introspect_url: str | None = None,
        late_lmtp: tuple[str, int] | None = None,
        late_delay: float = DEFAULT_DELAY,
    ) -> None:
        super().__init__(root)
        self.oauth_introspect_url = oauth_introspect_url
        self.late_lmtp = late_lmtp
        self.late_delay = late_delay
        self.maildir = maildir or root / "mail"
        self.port = port or 0
        self.tls_port = tls_port or 0
        self.slow_delay = slow_delay
        self.auth_file = auth_file
        self.cert_path = self.dir / "sink-cert.pem"
        self.key_path = self.dir / "sink-key.pem"

    def env(self) -> dict[str, str]:
        return {
            "POT_SMTP_HOST": self.host,
            "POT_SMTP_PORT": str(self.port),
            "POT_SMTP_TLS_PORT": str(self.tls_port),
            "POT_SMTP_CA_FILE": str(self.cert_path),
        }

    def start(self) -> None:
        self.port = self.port or free_port()
        self.tls_port = self.tls_port or free_port()
        if not self.cert_path.exists():
            make_self_signed(self.dir)
        argv = [
            sys.executable,
            "-m",
            "pot_stack.smtp_sink",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--tls-port",
            str(self.tls_port),
            "--maildir",
            str(self.maildir),
            "--tls-cert",
            str(self.cert_path),
            "--tls-key",
            str(self.key_path),
            "--slow-delay",
            str(self.slow_delay),
        ]
        if self.auth_file is not None:
            argv += ["--auth-file", str(self.auth_file)]
        if self.oauth_introspect_url:
            argv += ["--oauth-introspect", self.oauth_introspect_url]
        if self.late_lmtp is not None:
            argv += ["--late-lmtp", f"{self.late_lmtp[0]}:{self.late_lmtp[1]}"]
        argv += ["--late-delay", str(self.late_delay)]
        proc = self.spawn(argv)
        wait_until(
            lambda: proc.poll() is None and _greets(self.host, self.port),
            timeout=30,
            what=f"smtp sink on port {self.port}",
            log=self.log_path,
        )

    def messages(self) -> list[StoredMail]:
        return read_maildir(self.maildir)

    def clear(self) -> None:
        """Forget every stored message (between tests)."""
        for sub in ("new", "cur", "tmp"):
            for path in (self.maildir / sub).glob("*"):
                path.unlink(missing_ok=True)


def _greets(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=2) as conn:
        return conn.recv(64).startswith(b"220")


if __name__ == "__main__":
    main()

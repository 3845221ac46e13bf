"""pytest fixtures for every server of the local stack; a plugin of tests/conftest.py.

Each server starts once per session, only when a test asks for it, and stops at the end of the
session. The fixtures yield the service objects themselves, so a test can `restart()` Postgres or
Redis. When any test failed, the servers' logs stay on disk and their folder is printed.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pot_stack.dns_server import DnsServer
from pot_stack.imap_server import ImapServer
from pot_stack.oauth_server import OAuthServer
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres
from pot_stack.redis_server import RedisServer
from pot_stack.s3_server import S3Server
from pot_stack.service import Service
from pot_stack.smtp_sink import SmtpSink

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync fixture code, in its own thread and loop.

    A fixture may run while pytest-asyncio's loop is set for the thread; asyncio.run() there
    would unset that loop when it finishes.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _tell(request: pytest.FixtureRequest, line: str) -> None:
    # Session teardown output is captured and dropped for passing tests; the terminal reporter is not.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line, yellow=True)
    else:
        print(line)


@pytest.fixture(scope="session")
def stack_root(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The session's folder for the services' data and logs (outside pytest's 0700 tmp folder,
    which Postgres, running as another user when we are root, could not enter)."""
    root = Path(tempfile.mkdtemp(prefix="pot-stack-"))
    root.chmod(0o755)
    yield root
    if request.session.testsfailed:
        for child in root.iterdir():
            if child.name != "logs":
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        _tell(request, f"local stack logs kept in {root / 'logs'}")
    else:
        shutil.rmtree(root, ignore_errors=True)


S = TypeVar("S", bound=Service)


def _running(server: S) -> Iterator[S]:
    """Start a stack service for a session fixture and stop it when the session ends."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres(stack_root: Path) -> Iterator[Postgres]:
    """PostgreSQL: `.url` (superuser, database `postgres`), `.url_for(db)`, `.restart()`."""
    yield from _running(Postgres(stack_root))


@pytest.fixture
def fresh_database(postgres: Postgres) -> Iterator[str]:
    """The URL of a new, empty database for this test; dropped afterwards."""
    import asyncpg

    name = f"test_{uuid.uuid4().hex[:16]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(postgres.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_sync(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres.url_for(name)
    finally:
        run_sync(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_server(stack_root: Path) -> Iterator[RedisServer]:
    """Redis (Valkey): `.url`, `.restart()` (same port, data gone)."""
    yield from _running(RedisServer(stack_root))


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> str:
    """The Redis URL, after FLUSHALL."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def vault(stack_root: Path) -> Iterator[OpenBao]:
    """OpenBao in dev mode: `.addr`, `.token`, `.mount` (KV v2), `.client()` -> hvac.Client."""
    yield from _running(OpenBao(stack_root))


@pytest.fixture(scope="session")
def smtp_sink(stack_root: Path, oauth_server: OAuthServer, imap_server: ImapServer) -> Iterator[SmtpSink]:
    """The SMTP sink: `.host`, `.port` (STARTTLS), `.tls_port` (implicit TLS), `.cert_path`,
    `.maildir`, `.messages()`, `.clear()`; any password accepted, XOAUTH2 checked against
    `oauth_server`; slow-* waits `.slow_delay`; late-bounce-*, complain-*, ooo-* and reply-* land in
    the sender's INBOX on `imap_server` after `.late_delay` seconds (see pot_stack.late_mail)."""
    yield from _running(
        SmtpSink(
            stack_root,
            oauth_introspect_url=oauth_server.introspect_url,
            late_lmtp=(imap_server.host, imap_server.lmtp_port),
        )
    )


@pytest.fixture(scope="session")
def dns_server(stack_root: Path) -> Iterator[DnsServer]:
    """The authoritative DNS server for the zones folder: `.host`, `.port`, `.resolver` ("host:port")."""
    yield from _running(DnsServer(stack_root))


@pytest.fixture(scope="session")
def s3(stack_root: Path) -> Iterator[S3Server]:
    """SeaweedFS's S3 gateway with its lifecycle worker (a lifecycle day lasts 10 s): `.endpoint`,
    `.access_key`, `.secret_key`, `.bucket`, `.env()`, `.client()`, `.objects(prefix)`, `.clear()`."""
    yield from _running(S3Server(stack_root))


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    """The local OAuth2 token endpoint (Google's /token and Microsoft's /{tenant}/oauth2/v2.0/token, RFC
    7662 /introspect), in-process: `.token_url`, `.tenant_token_url(t)`, `.introspect_url`,
    `.register(username, client_id, client_secret, refresh_token, tenant=None)`, `.token_requests(rt)`,
    `.revoke(rt)`, `.user_for(access_token)`, `.expires_in` (settable; 3600 by default)."""
    server = OAuthServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def imap_server(stack_root: Path, oauth_server: OAuthServer) -> Iterator[ImapServer]:
    """Dovecot (unpacked by tests/stack/build-imap.sh on first use): `.host`, `.port` (plain/STARTTLS),
    `.tls_port`, `.cert_path`, `.add_user(username, password=None)`, `.deliver(username, raw)` into
    INBOX over LMTP, `.client(username, password)`; XOAUTH2 checked against `oauth_server`."""
    yield from _running(ImapServer(stack_root, oauth_introspect_url=oauth_server.introspect_url))

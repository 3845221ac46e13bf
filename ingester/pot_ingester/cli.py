"""`pot-ingester`: the process entry point; reads POT_* settings, serves metrics, reads the pool's
inboxes until SIGTERM. Run by the pool's ingester Deployment (the operator's) or the local runner."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from pot_common.backoff import Backoff
from pot_common.logs import configure_logging
from pot_common.mail_credentials import CredentialStore
from pot_common.vault import VaultKV
from prometheus_client import start_http_server
from pydantic import ValidationError

from pot_ingester.config import IngesterSettings, settings_from_env
from pot_ingester.session import limit_tls_buffers
from pot_ingester.store import PG_ERRORS, PoolNotFound, Store
from pot_ingester.supervisor import Supervisor

# Waits between attempts to start (0.5 s growing to 10 s): the pool may not be projected yet.
START_BACKOFF = Backoff(0.5, 10.0)

log = logging.getLogger("pot_ingester")


def credential_store(settings: IngesterSettings) -> CredentialStore:
    """Token auth when POT_VAULT_TOKEN is set, else kubernetes auth as the pod's ServiceAccount."""
    return CredentialStore(VaultKV(settings.vault_config()), settings.credentials_ttl_seconds)


async def serve(settings: IngesterSettings, stop: asyncio.Event) -> int:
    """Open Postgres, find the pool, read its inboxes until `stop`."""
    failures = 0
    credentials = credential_store(settings)
    try:
        while not stop.is_set():
            store = Store(settings.database_url, settings.pool)
            supervisor = Supervisor(settings, store, credentials)
            try:
                await store.open()
                await supervisor.start()
            except (PoolNotFound, *PG_ERRORS) as exc:
                await store.close()
                failures += 1
                log.warning("Could not start, retrying error=%s detail=%s", type(exc).__name__, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), START_BACKOFF.delay(failures))
                continue
            log.info("Started ingester pool=%s", settings.pool)
            try:
                await supervisor.run(stop)
            finally:
                await store.close()
            log.info("Stopped ingester pool=%s", settings.pool)
    finally:
        await credentials.aclose()
    return 0


async def _main(settings: IngesterSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return await serve(settings, stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="pot-ingester",
        description="Read a pool's inboxes: bounces, complaints and replies become events and suppressions.",
    )
    parser.add_argument("--pool", help="namespace/name (default: POT_POOL)")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_env() if args.pool is None else settings_from_env(pool=args.pool)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "POT_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        print(f"pot-ingester: {field}: {first['msg']}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_json, quiet=("aioimaplib.aioimaplib",))
    limit_tls_buffers()
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    sys.exit(asyncio.run(_main(settings)))


if __name__ == "__main__":
    main()

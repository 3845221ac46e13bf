"""`pot-worker`: the process entry point; reads POT_* settings, serves metrics, runs Worker until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from pot_common.backoff import Backoff
from pot_common.logs import configure_logging
from prometheus_client import start_http_server

from pot_worker.catalog import PoolNotFound
from pot_worker.clock import Clock, ScaledClock, SystemClock
from pot_worker.config import WorkerSettings, settings_from_env
from pot_worker.runner import Worker
from pot_worker.services import PG_ERRORS, REDIS_ERRORS

# Waits between attempts to start (0.5 s growing to 10 s, full jitter): the pool may not be projected
# yet, or Postgres or Redis not up.
START_BACKOFF = Backoff(0.5, 10.0)

log = logging.getLogger("pot_worker")


def _clock(settings: WorkerSettings) -> Clock:
    if settings.clock_speed != 1.0 or settings.clock_origin is not None:
        import time

        return ScaledClock(settings.clock_speed, settings.clock_origin or time.time(), settings.clock_start)
    return SystemClock()


async def _stop_on(stop: asyncio.Event, worker: Worker) -> None:
    await stop.wait()
    worker.stop()


async def _serve(settings: WorkerSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    failures = 0
    while not stop.is_set():
        worker = Worker(settings, clock=_clock(settings))
        try:
            await worker.start()
        except (PoolNotFound, *PG_ERRORS, *REDIS_ERRORS) as exc:
            await worker.close()
            log.warning("Could not start, retrying error=%s detail=%s", type(exc).__name__, exc)
            failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), START_BACKOFF.delay(failures))
            continue
        stopper = asyncio.create_task(_stop_on(stop, worker))
        try:
            await worker.run()
        finally:
            stopper.cancel()
            await worker.close()
        log.info("Stopped worker worker=%s", settings.worker_id)
        return 0
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="pot-worker", description="Send one pool's due mail within its limits."
    )
    parser.add_argument("--pool", help="namespace/name (default: POT_POOL)")
    args = parser.parse_args(argv)
    settings = settings_from_env() if args.pool is None else settings_from_env(pool=args.pool)
    configure_logging(settings.log_json)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    sys.exit(asyncio.run(_serve(settings)))


if __name__ == "__main__":
    main()

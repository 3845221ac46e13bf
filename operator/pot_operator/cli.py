"""`pot-operator`: runs the kopf operator with POT's handlers; the console script's entry point."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys

import kopf

from pot_operator.config import Settings, SettingsError, split_namespaces

log = logging.getLogger("pot_operator")
# "plain" still carries the time: a log line without one cannot be matched with an Event or a send.
LOG_FORMATS: dict[str, kopf.LogFormat | str] = {
    "plain": "%(asctime)s %(message)s",
    "full": kopf.LogFormat.FULL,
    "json": kopf.LogFormat.JSON,
}
# kopf pauses every peer that shares the highest priority, so replicas must differ; 0 is kopf's default.
PRIORITY_RANGE = (1, 32767)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pot-operator", description="Run the POT Kubernetes operator.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--standalone", action="store_true", help="No peering: the only replica (local stack, tests)."
    )
    mode.add_argument(
        "--peering",
        default=os.environ.get("POT_PEERING", ""),
        help="kopf peering object name: one active replica, others stand by (in a cluster).",
    )
    p.add_argument(
        "--priority",
        type=int,
        default=int(os.environ["POT_PRIORITY"]) if os.environ.get("POT_PRIORITY") else None,
        help="Peering priority (env POT_PRIORITY); with --peering and none given, a random one in 1-32767.",
    )
    p.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=None,
        help="Watch only these namespaces (repeatable; default: POT_NAMESPACE, comma-separated, else all).",
    )
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus port (env POT_METRICS_PORT).")
    p.add_argument("--verbose", action="store_true", help="Debug logging.")
    p.add_argument(
        "--log-format", choices=["plain", "full", "json"], default=os.environ.get("POT_LOG_FORMAT", "plain")
    )
    return p.parse_args(argv)


def served_namespaces(flags: list[str] | None, env_value: str) -> list[str]:
    """Flags win (each may itself be comma-separated); else POT_NAMESPACE; empty means cluster-wide."""
    if flags:
        return list(split_namespaces(",".join(flags)))
    return list(split_namespaces(env_value))


def peering_priority(given: int | None, peering: bool, rng: random.Random | None = None) -> int:
    """The priority to run with: the given one, else random for peers (so two replicas never tie)."""
    if given is not None:
        return given
    if not peering:
        return 0
    return (rng or random.SystemRandom()).randint(*PRIORITY_RANGE)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.metrics_port is not None:
        os.environ["POT_METRICS_PORT"] = str(args.metrics_port)
    namespaces = served_namespaces(args.namespace, os.environ.get("POT_NAMESPACE", ""))
    # The handlers read Settings.from_env(): they must serve (and pre-list) the same namespaces.
    os.environ["POT_NAMESPACE"] = ",".join(namespaces)
    try:
        Settings.from_env()  # a mistyped variable stops here, named, instead of in a retried handler
    except SettingsError as e:
        sys.exit(f"pot-operator: {e}")
    kopf.configure(
        verbose=args.verbose,
        log_format=LOG_FORMATS[args.log_format],  # type: ignore[arg-type]  # kopf formats a str too
    )
    # httpx logs every request URL at INFO (httpcore at DEBUG), and a Telegram Bot API URL carries
    # the bot token: keep both quiet even with --verbose, so no log line ever holds a token.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not args.verbose:
        # kopf logs "Handler ... succeeded" at INFO per event: 12,000 lines per listing. Its
        # warnings and errors still show; our own loggers (pot_operator.*) are not affected.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    import pot_operator.main  # noqa: F401 - registers the handlers

    standalone = args.standalone or not args.peering
    priority = peering_priority(args.priority, not standalone)
    if not standalone:
        log.info(
            "Joined peering: peering=%s priority=%d%s",
            args.peering,
            priority,
            "" if args.priority is not None else " (random; set POT_PRIORITY to choose)",
        )
    try:
        asyncio.run(
            kopf.operator(
                standalone=standalone,
                peering_name=None if standalone else args.peering,
                priority=priority,
                namespaces=namespaces,
                clusterwide=not namespaces,
            )
        )
    except KeyboardInterrupt:
        logging.getLogger("pot_operator").info("Stopped pot-operator")
        sys.exit(0)


if __name__ == "__main__":
    main()

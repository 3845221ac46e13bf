"""`pot-operator`: runs the kopf operator with POT's handlers; the console script's entry point."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

import kopf


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
        "--priority", type=int, default=int(os.environ.get("POT_PRIORITY", "0")), help="Peering priority."
    )
    p.add_argument(
        "--namespace", "-n", action="append", default=None, help="Watch only these namespaces (default: all)."
    )
    p.add_argument("--metrics-port", type=int, default=None, help="Prometheus port (env POT_METRICS_PORT).")
    p.add_argument("--verbose", action="store_true", help="Debug logging.")
    p.add_argument(
        "--log-format", choices=["plain", "full", "json"], default=os.environ.get("POT_LOG_FORMAT", "plain")
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.metrics_port is not None:
        os.environ["POT_METRICS_PORT"] = str(args.metrics_port)
    namespaces = args.namespace or ([os.environ["POT_NAMESPACE"]] if os.environ.get("POT_NAMESPACE") else [])
    kopf.configure(
        verbose=args.verbose,
        log_format={"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}[
            args.log_format
        ],
    )
    import pot_operator.main  # noqa: F401 - registers the handlers

    standalone = args.standalone or not args.peering
    try:
        asyncio.run(
            kopf.operator(
                standalone=standalone,
                peering_name=None if standalone else args.peering,
                priority=args.priority,
                namespaces=namespaces,
                clusterwide=not namespaces,
            )
        )
    except KeyboardInterrupt:
        logging.getLogger("pot_operator").info("Stopped pot-operator")
        sys.exit(0)


if __name__ == "__main__":
    main()

"""`make bench-console`: the console's Fleet page with 12,000 mailboxes; prints name=value lines.

The page is served by the console's own app and code path (create_app, the informers' store, the
Fleet handler and template), with the informers filled from an in-memory list of Mailbox objects
shaped as the operator writes them, so the figure is the server's time, not the apiserver's:
  mailboxes              how many
  rows_build_seconds     turning every object into its Fleet row (the informer's one-time cost)
  fleet_page_ms_<query>  median server time of one Fleet page (target <= 1000 ms), for:
                         default (first 50 by name), state (Cooling only), health (sorted, worst
                         first), deep (page 100 of 100 rows), search (a name fragment)
  fleet_page_ms_max      the slowest single request of all
  fleet_mib              memory the objects and rows take (RSS growth while loading them)
  rss_mib                the process's resident memory at the end
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx
from pot_console.app import create_app
from pot_console.auth import COOKIE, LocalAuth
from pot_console.fleet import mailbox_entry
from pot_console.kube import ClusterView
from pot_console.settings import ConsoleSettings
from potctl.kube_commands import Cluster

STATES = ("Warming", "Active", "Active", "Active", "Cooling", "Paused")
QUERIES = {
    "default": "",
    "state": "state=Cooling",
    "health": "sort=health&order=desc",
    "deep": "page=100&per_page=100",
    "search": "q=box-0042",
}
AT = "2026-11-27T10:00:00Z"


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def mailbox(i: int, pools: int) -> dict[str, Any]:
    state = STATES[i % len(STATES)]
    conditions = [
        {"type": "Ready", "status": "True", "reason": "Sending", "message": "", "lastTransitionTime": AT}
    ]
    if state == "Cooling":
        conditions.append(
            {
                "type": "Healthy",
                "status": "False",
                "reason": "DeferralRate",
                "message": "",
                "lastTransitionTime": AT,
            }
        )
    return {
        "apiVersion": "pot.dev/v1alpha1",
        "kind": "Mailbox",
        "metadata": {
            "name": f"box-{i:05d}",
            "namespace": "bench",
            "labels": {"pot.dev/pool": f"pool-{i % pools}"},
            "resourceVersion": str(1000 + i),
            "uid": f"00000000-0000-0000-0000-{i:012d}",
        },
        "spec": {
            "address": f"box-{i:05d}@bench-{i % pools}.test",
            "smtp": {"host": "smtp.bench.test", "port": 587},
            "credentials": {"vaultPath": f"mailboxes/box-{i:05d}"},
        },
        "status": {
            "state": state,
            "pool": f"pool-{i % pools}",
            "warmupDay": 1 + i % 40,
            "capToday": 5 + i % 26,
            "sentToday": i % 7,
            "healthScore": 40 + i % 61,
            "health": {"windowSeconds": 604800, "sent": 100 + i % 50, "bounced": i % 3},
            "conditions": conditions,
        },
    }


async def measure(app: Any, rounds: int) -> dict[str, list[float]]:
    transport = httpx.ASGITransport(app=app)
    timings: dict[str, list[float]] = {name: [] for name in QUERIES}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://console", cookies={COOKIE: "bench"}
    ) as web:
        for _ in range(rounds):
            for name, query in QUERIES.items():
                began = time.perf_counter()
                response = await web.get(f"/fleet?{query}")
                timings[name].append(time.perf_counter() - began)
                assert response.status_code == 200, response.text[:500]
                assert "box-" in response.text
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mailboxes", type=int, default=12_000)
    parser.add_argument("--pools", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    before = rss_mib()
    objects = [mailbox(i, args.pools) for i in range(args.mailboxes)]
    cluster = Cluster(api=None, namespace="bench")  # never called: the informers are not started
    view = ClusterView.create(cluster, None, mailbox_entry)
    began = time.perf_counter()
    view.mailboxes.replace(objects)
    build = time.perf_counter() - began
    view.pools.replace([])
    view.campaigns.replace([])
    for informer in view.informers:
        informer.synced.set()
    loaded = rss_mib()
    app = create_app(ConsoleSettings(), cluster, LocalAuth("bench"), start_informers=False, view=view)
    timings = asyncio.run(measure(app, args.rounds))

    print(f"mailboxes={args.mailboxes}")
    print(f"rows_build_seconds={build:.2f}")
    for name, values in timings.items():
        print(f"fleet_page_ms_{name}={statistics.median(values) * 1000:.1f}")
    print(f"fleet_page_ms_max={max(max(v) for v in timings.values()) * 1000:.1f}")
    print(f"fleet_mib={loaded - before:.1f}")
    print(f"rss_mib={rss_mib():.1f}")


if __name__ == "__main__":
    main()

"""`make bench-operator`: the operator at scale on the local stack; prints name=value lines.

Starts a control plane, Postgres and OpenBao in a temporary folder, creates --mailboxes Mailboxes
in --pools pools, runs `pot-operator --standalone` and measures:
  mailboxes                  how many were created
  converge_seconds           operator start until every Mailbox and pool status is current
  rss_mib                    the operator's resident memory once converged
  restart_writes_per_object  objects written after a restart with nothing changed, per object (target 0)
  idle_cpu_percent           the operator's CPU use over --idle-seconds once converged
  idle_writes_per_object     objects written during that idle period, per object (target 0)

--profile FILE writes a cProfile of the operator's event-loop thread during the idle period only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config
from pot_stack.controlplane import ControlPlane
from pot_stack.openbao import OpenBao
from pot_stack.postgres import Postgres

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "pot.dev", "v1alpha1"
NS = "bench"
# Runs the operator with a profiler that SIGUSR1 starts and SIGUSR2 stops and dumps (idle period only).
PROFILED = """
import cProfile, signal, sys
from pot_operator.cli import main
profile, path = cProfile.Profile(), sys.argv[1]
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
signal.signal(signal.SIGUSR2, lambda *_: (profile.disable(), profile.dump_stats(path)))
sys.argv = ["pot-operator", *sys.argv[2:]]
main()
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def create_objects(custom: client.CustomObjectsApi, mailboxes: int, pools: int) -> None:
    for p in range(pools):
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            "mailboxpools",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "MailboxPool",
                "metadata": {"name": f"pool-{p}"},
                "spec": {"selector": {"matchLabels": {"pot.dev/pool": f"pool-{p}"}}},
            },
        )

    def one(i: int) -> None:
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            "mailboxes",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Mailbox",
                "metadata": {"name": f"mbx-{i:05d}", "labels": {"pot.dev/pool": f"pool-{i % pools}"}},
                "spec": {
                    "address": f"mbx-{i:05d}@acme-mail.test",
                    "smtp": {"host": "smtp.acme-mail.test"},
                    "credentials": {"vaultPath": "mailboxes/bench"},
                },
            },
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(mailboxes)))


def list_all(custom: client.CustomObjectsApi, plural: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = custom.list_namespaced_custom_object(GROUP, VERSION, NS, plural, limit=2000, _continue=token)
        items += page["items"]
        token = page["metadata"].get("continue")
        if not token:
            return items


def current(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj["metadata"].get("generation") and any(
        c.get("type") == "Ready" for c in status.get("conditions") or []
    )


def wait_converged(custom: client.CustomObjectsApi, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        boxes = list_all(custom, "mailboxes")
        pools = list_all(custom, "mailboxpools")
        if len(boxes) == expected and all(map(current, boxes)) and all(map(current, pools)):
            total = sum((p.get("status") or {}).get("mailboxes", {}).get("total", 0) for p in pools)
            if total == expected:
                return
        time.sleep(2)
    raise TimeoutError("the operator did not converge")


def versions(custom: client.CustomObjectsApi) -> dict[str, str]:
    return {
        f"{plural}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for plural in ("mailboxes", "mailboxpools")
        for o in list_all(custom, plural)
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mailboxes", type=int, default=12000)
    ap.add_argument("--pools", type=int, default=10)
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument(
        "--settle-seconds", type=float, default=20, help="Wait after a restart before counting writes."
    )
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--profile", default="", help="Write a cProfile of the idle period to this file.")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pot-bench-operator-"))
    root.chmod(0o755)
    plane, pg, bao = ControlPlane(root), Postgres(root), OpenBao(root)
    operator: subprocess.Popen[bytes] | None = None
    try:
        for service in (plane, pg, bao):
            service.start()
        plane.apply_crds(REPO / "crds")
        bao.client().secrets.kv.v2.create_or_update_secret(
            path=f"pot/{NS}/mailboxes/bench", secret={"username": "u", "password": "p"}, mount_point="secret"
        )
        api = config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
        api.configuration.connection_pool_maxsize = 16
        custom = client.CustomObjectsApi(api)
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        create_objects(custom, args.mailboxes, args.pools)
        env = {**os.environ, **plane.env(), **bao.env(), "POT_DATABASE_URL": pg.url}
        log = (root / "operator.log").open("ab")

        def start(profile: str = "") -> subprocess.Popen[bytes]:
            program = ["-c", PROFILED, profile] if profile else ["-m", "pot_operator.cli"]
            return subprocess.Popen(
                [sys.executable, *program, "--standalone"], env=env, stdout=log, stderr=log
            )

        began = time.monotonic()
        operator = start(args.profile)
        wait_converged(custom, args.mailboxes, args.timeout)
        converge = time.monotonic() - began
        time.sleep(5)
        rss = rss_mib(operator.pid)
        idle_before = versions(custom)
        if args.profile:
            operator.send_signal(signal.SIGUSR1)
        cpu0, t0 = cpu_seconds(operator.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = (cpu_seconds(operator.pid) - cpu0) / (time.monotonic() - t0) * 100
        if args.profile:
            operator.send_signal(signal.SIGUSR2)
            time.sleep(2)
        idle_after = versions(custom)
        idle_writes = sum(1 for k, v in idle_before.items() if idle_after.get(k) != v)

        operator.terminate()
        operator.wait(timeout=60)
        before = versions(custom)
        operator = start()
        time.sleep(args.settle_seconds)
        after = versions(custom)
        changed = sum(1 for k, v in before.items() if after.get(k) != v)

        print(f"mailboxes={args.mailboxes}")
        print(f"converge_seconds={converge:.1f}")
        print(f"rss_mib={rss:.1f}")
        print(f"restart_writes_per_object={changed / max(1, len(before)):.4f}")
        print(f"idle_cpu_percent={idle_cpu:.1f}")
        print(f"idle_writes_per_object={idle_writes / max(1, len(idle_before)):.4f}")
    finally:
        if operator is not None and operator.poll() is None:
            operator.terminate()
            operator.wait(timeout=60)
        for service in (bao, pg, plane):
            service.stop()
        print(f"# logs in {root / 'logs'} and {root / 'operator.log'}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()

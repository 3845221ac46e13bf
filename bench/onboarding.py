"""`make bench-onboarding`: `potctl mailboxes import` of a 1,200-row CSV, as a person runs it.

Starts a control plane (with POT's CRDs) and OpenBao in a temporary folder, writes a fleet CSV, and
runs two real potctl processes: the first import (1,200 secrets written, 1,200 Mailboxes created)
and the second (nothing to change, every row compared). Measured by the kernel: wall time and the
child's peak resident set size (wait4). Readiness under the operator is the e2e test's part
(tests/e2e/onboarding). Prints name=value lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NS = "bench-onboarding"


def write_csv(path: Path, count: int) -> None:
    with path.open("w") as f:
        f.write("address,display_name,smtp_host,smtp_port,smtp_tls,password,pool\n")
        for i in range(count):
            f.write(
                f"m{i:05d}@fleet{i % 6}.test,Sender {i},smtp.fleet{i % 6}.test,587,starttls,pw-{i},fleet\n"
            )


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(seconds, peak RSS in MiB, exit status, last stdout line) of one potctl process."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "potctl.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    last = (output.strip().splitlines() or [""])[-1]
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), last


def main() -> None:
    from kubernetes import client, config
    from pot_stack.controlplane import ControlPlane
    from pot_stack.openbao import OpenBao

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mailboxes", type=int, default=1200)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pot-bench-onboarding-"))
    root.chmod(0o755)
    plane, bao = ControlPlane(root), OpenBao(root)
    try:
        plane.start()
        bao.start()
        plane.apply_crds(REPO / "crds")
        api = config.new_client_from_config(config_file=str(plane.admin_kubeconfig))  # type: ignore[no-untyped-call]
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        source = root / "fleet.csv"
        write_csv(source, args.mailboxes)
        env = {**os.environ, **plane.env(), **bao.env(), "POT_DNS_RESOLVER": "127.0.0.1:53"}
        command = ["mailboxes", "import", str(source), "-n", NS, "--apply"]
        first = measure(command, env)
        second = measure(command, env)
        listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
            "pot.dev", "v1alpha1", NS, "mailboxes"
        )
        print(f"mailboxes={len(listed['items'])}")
        print(f"import_seconds={first[0]:.1f}")
        print(f"rss_mib={first[1]:.0f}")
        print(f"reimport_seconds={second[0]:.1f}")
        print(f"reimport_rss_mib={second[1]:.0f}")
        print(f"first_summary={first[3]!r}")
        print(f"second_summary={second[3]!r}")
        if (
            first[2]
            or second[2]
            or len(listed["items"]) != args.mailboxes
            or " 0 created, 0 updated" not in second[3]
        ):
            sys.exit(1)
    finally:
        bao.stop()
        plane.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Runs POT's Jobs (the address checker) as local processes and reports their status like a kubelet and
the job controller would; the local stack has no nodes. Started by `make up` and the e2e fixtures.

`python -m pot_stack.job_runner --root .pot` watches Jobs labelled app.kubernetes.io/name=pot-checker.
Each Job that has not finished gets one process at a time with its container's environment (resolved as
pot_stack.local_runner resolves a Deployment's: Secret references from this process's POT_*; the
database as the `pot_worker` role when the stack made one) and its args, the program named first mapped
to a local command (`potctl` is `python -m potctl.main`). The environment of this runner stands for the
cluster's network: a POT_SMTP_PROBE_PORT here is the port the Job's probes reach, whatever the person
running potctl can reach. Status goes through the apiserver as the job controller writes it: startTime
and active while it runs, then SuccessCriteriaMet and Complete with completionTime, or after
backoffLimit retries FailureTarget and Failed. Logs go to <root>/logs/jobs/<namespace>-<job>-<try>.log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pot_stack.local_runner import container_env, process_env
from pot_stack.service import Service, kill_group

log = logging.getLogger("pot_stack.job_runner")
SELECTOR = "app.kubernetes.io/name=pot-checker"
PROGRAMS = {"potctl": [sys.executable, "-m", "potctl.main"]}

# (namespace, name, status patch) -> None: the apiserver's status subresource in `run`.
StatusWriter = Callable[[str, str, dict[str, Any]], None]


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def finished(job: Mapping[str, Any]) -> bool:
    """A Job with a true Complete or Failed condition is done for good (pure)."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def command_of(job: Mapping[str, Any], programs: Mapping[str, list[str]]) -> list[str]:
    """The first container's command and args, its program mapped to a local command (pure)."""
    spec = job.get("spec", {}).get("template", {}).get("spec", {})
    container = (spec.get("containers") or [{}])[0]
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if not argv:
        raise ValueError("the Job's container has neither command nor args")
    return [*programs.get(argv[0], [argv[0]]), *argv[1:]]


def condition(type_: str, reason: str, message: str = "") -> dict[str, Any]:
    stamp = now()
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
    }


def success_status(started: str) -> dict[str, Any]:
    """What the job controller writes for a Job whose one pod succeeded (pure)."""
    why = "Reached expected number of succeeded pods"
    return {
        "startTime": started,
        "completionTime": now(),
        "active": 0,
        "ready": 0,
        "succeeded": 1,
        "conditions": [
            condition("SuccessCriteriaMet", "CompletionsReached", why),
            condition("Complete", "CompletionsReached", why),
        ],
    }


def failure_status(started: str, failures: int, last_exit: int) -> dict[str, Any]:
    """After backoffLimit retries: FailureTarget, then Failed (pure)."""
    message = f"Job has reached the specified backoff limit (last exit status {last_exit})"
    return {
        "startTime": started,
        "active": 0,
        "ready": 0,
        "failed": failures,
        "conditions": [
            condition("FailureTarget", "BackoffLimitExceeded", message),
            condition("Failed", "BackoffLimitExceeded", message),
        ],
    }


@dataclass
class Attempt:
    """One Job's current process and what its earlier ones did."""

    uid: str
    started: str
    proc: subprocess.Popen[bytes] | None = None
    failures: int = 0
    done: bool = False


class JobRunner:
    def __init__(
        self, root: Path, write_status: StatusWriter, programs: Mapping[str, list[str]] | None = None
    ) -> None:
        self.write_status = write_status
        self.programs = {**PROGRAMS, **(programs or {})}
        self.logs = root / "logs" / "jobs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.attempts: dict[tuple[str, str], Attempt] = {}

    def reconcile(self, jobs: list[dict[str, Any]]) -> None:
        """Start, watch and report every listed Job's process (level-based; called on every poll)."""
        seen = set()
        for job in jobs:
            meta = job.get("metadata", {})
            key = (meta.get("namespace", ""), meta.get("name", ""))
            seen.add(key)
            attempt = self.attempts.get(key)
            if attempt is not None and attempt.uid != meta.get("uid"):  # deleted and made again
                self._stop(self.attempts.pop(key))
                attempt = None
            if finished(job) or (attempt is not None and attempt.done):
                continue
            if attempt is None:
                started = (job.get("status") or {}).get("startTime") or now()
                attempt = self.attempts[key] = Attempt(str(meta.get("uid")), started)
                self.write_status(*key, {"startTime": started, "active": 1, "ready": 0})
            self._step(key, job, attempt)
        for key in [k for k in self.attempts if k not in seen]:  # deleted: its pod goes too
            self._stop(self.attempts.pop(key))

    def _step(self, key: tuple[str, str], job: dict[str, Any], attempt: Attempt) -> None:
        if attempt.proc is None:
            attempt.proc = self._start(key, job, attempt.failures + 1)
            return
        code = attempt.proc.poll()
        if code is None:
            return
        attempt.proc = None
        if code == 0:
            attempt.done = True
            self.write_status(*key, success_status(attempt.started))
            log.info("Completed job: job=%s/%s", *key)
            return
        attempt.failures += 1
        limit = int(job.get("spec", {}).get("backoffLimit", 6))
        if attempt.failures > limit:
            attempt.done = True
            self.write_status(*key, failure_status(attempt.started, attempt.failures, code))
            log.info("Failed job: job=%s/%s failures=%d exit=%d", *key, attempt.failures, code)
        else:
            self.write_status(*key, {"failed": attempt.failures, "active": 1})
            log.info("Retrying job: job=%s/%s failures=%d exit=%d", *key, attempt.failures, code)

    def _start(self, key: tuple[str, str], job: dict[str, Any], number: int) -> subprocess.Popen[bytes]:
        env = process_env(os.environ, container_env(job, os.environ))
        out = (self.logs / f"{key[0]}-{key[1]}-{number}.log").open("ab")
        proc = subprocess.Popen(
            command_of(job, self.programs),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        log.info("Started job: job=%s/%s try=%d pid=%d", *key, number, proc.pid)
        return proc

    def _stop(self, attempt: Attempt) -> None:
        if attempt.proc is not None and attempt.proc.poll() is None:
            kill_group(attempt.proc.pid, timeout=10)
            attempt.proc.wait(timeout=5)
        attempt.proc = None

    def shutdown(self) -> None:
        for attempt in self.attempts.values():
            self._stop(attempt)


def run(root: Path, interval: float) -> None:
    from kubernetes import client, config

    config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or str(root / "kubeconfig"))
    batch = client.BatchV1Api()

    def write_status(namespace: str, name: str, status: dict[str, Any]) -> None:
        try:
            batch.patch_namespaced_job_status(name, namespace, {"status": status})
        except client.ApiException as error:
            if error.status != 404:  # deleted meanwhile
                raise

    runner = JobRunner(root, write_status)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            try:
                listed = batch.list_job_for_all_namespaces(label_selector=SELECTOR)
                items = batch.api_client.sanitize_for_serialization(listed).get("items") or []
                runner.reconcile(items)
            except Exception:  # the API server may restart under `make up`; try again next poll
                log.exception("Listed checker Jobs failed")
            time.sleep(interval)
    finally:
        runner.shutdown()


class JobRunnerService(Service):
    """The runner as a stack app (for pot_stack.stack.APPS, after the local runner)."""

    name = "job-runner"

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        super().__init__(root)
        self.app_env = dict(env)

    def start(self) -> None:
        self.spawn([sys.executable, "-m", "pot_stack.job_runner", "--root", str(self.root)], env=self.app_env)

    def env(self) -> dict[str, str]:
        return {}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="pot_stack.job_runner", description=__doc__)
    p.add_argument("--root", type=Path, default=Path(".pot"), help="The local stack's folder.")
    p.add_argument("--interval", type=float, default=0.5, help="Seconds between polls of the Jobs.")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run(args.root, args.interval)


if __name__ == "__main__":
    main()

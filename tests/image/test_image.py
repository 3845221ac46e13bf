"""Smoke tests of POT's OCI image (made by `make image`), run with a real OCI runtime: every entry
point starts, the user is the chart's, the root filesystem can be read-only, there is no shell, no
test server and no private key inside, the venv holds exactly the locked dependencies, and the
worker sends one mail through the local stack's Postgres, Redis and SMTP sink."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import tomllib
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from pot_common.db import apply_schema

if TYPE_CHECKING:
    from conftest import Built, ImageRunner
    from pot_stack.smtp_sink import SmtpSink

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# The first test may build the image (image/build.sh --if-stale): a few minutes on a cold cache.
pytestmark = pytest.mark.timeout(900)

# Every program the wheel installs: pot-operator, pot-worker, potctl, pot-ingester, pot-unsubscribe,
# and any added later; the console is a potctl command.
SCRIPTS = sorted(PYPROJECT["project"]["scripts"])
PROGRAMS = [(script,) for script in SCRIPTS] + [("potctl", "console")]
# The user the chart and the worker Deployments run as (runAsUser/runAsGroup).
UID = GID = 65532
# Issue 17's target for the unpacked image.
MAX_SIZE_MB = 200


def test_the_programs_the_chart_runs_are_all_installed() -> None:
    """The parametrized test below covers whatever pyproject.toml declares: this one fails when one
    of the programs the chart runs stops being declared (and so would drop out of that test)."""
    assert {"pot-operator", "pot-worker", "potctl", "pot-ingester", "pot-unsubscribe"} <= set(SCRIPTS)


@pytest.mark.parametrize("program", PROGRAMS, ids=" ".join)
def test_every_entry_point_starts(image: ImageRunner, program: tuple[str, ...]) -> None:
    done = image.run(*program, "--help")
    assert done.returncode == 0, done.stdout
    # argparse's "usage: pot-worker ...", typer's "Usage: potctl console ...": the program's own help.
    assert f"usage: {' '.join(program)} " in done.stdout.lower(), done.stdout


def test_the_image_is_within_its_size_target(built: Built) -> None:
    assert 0 < built.size_mb <= MAX_SIZE_MB


def test_time_zones_come_from_the_locked_tzdata(image: ImageRunner) -> None:
    """Schedules use zoneinfo; with no Debian tzdata in the image it reads the locked tzdata wheel."""
    probe = (
        "import datetime, json, os, zoneinfo\n"
        "berlin = zoneinfo.ZoneInfo('Europe/Berlin')\n"
        "summer = datetime.datetime(2026, 7, 1, 12, tzinfo=berlin).utcoffset()\n"
        "winter = datetime.datetime(2026, 1, 1, 12, tzinfo=berlin).utcoffset()\n"
        "print(json.dumps([summer.seconds, winter.seconds, any(os.path.isdir(p) for p in zoneinfo.TZPATH),\n"
        "  'Europe/Berlin' in zoneinfo.available_timezones()]))"
    )
    done = image.run("/opt/pot/bin/python", "-c", probe)
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout) == [7200, 3600, False, True]


def test_libraries_shipped_as_bytecode_only_still_work(image: ImageRunner) -> None:
    """kubernetes and pygments carry .pyc without sources in the image: the client builds its models
    and serialises them, and rich highlights with pygments' lexers and styles."""
    probe = (
        "import kubernetes.client as k, rich.console, rich.syntax\n"
        "pod = k.V1Pod(metadata=k.V1ObjectMeta(name='p', namespace='acme'))\n"
        "print(k.ApiClient().sanitize_for_serialization(pod))\n"
        "console = rich.console.Console(force_terminal=True, color_system='truecolor')\n"
        "with console.capture() as captured:\n"
        "    console.print(rich.syntax.Syntax('def f():\\n    return 1', 'python', theme='monokai'))\n"
        "print(repr(captured.get()))\n"
        "import json, kubernetes, pygments, pathlib\n"
        "print(json.dumps(sorted({p.suffix for m in (kubernetes, pygments)\n"
        "  for p in pathlib.Path(m.__file__).parent.rglob('*') if p.is_file()})))"
    )
    done = image.run("/opt/pot/bin/python", "-c", probe)
    assert done.returncode == 0, done.stdout
    pod, highlighted, suffixes = done.stdout.splitlines()
    assert pod == "{'metadata': {'name': 'p', 'namespace': 'acme'}}"
    assert "\\x1b[38;2;" in highlighted and "return" in highlighted  # colours: a lexer and a style ran
    assert ".py" not in json.loads(suffixes) and ".pyc" in json.loads(suffixes), suffixes


def test_every_licence_file_the_wheels_ship_is_in_the_image(image: ImageRunner) -> None:
    """The size cuts leave the licences alone: every third-party distribution lists licence files in
    its RECORD, and each of them is inside."""
    probe = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.metadata['Name']: [[str(f), f.locate().is_file()] for f in d.files or []\n"
        "  if 'licen' in str(f).lower() or 'copying' in str(f).lower()] for d in m.distributions()}))"
    )
    done = image.run("/opt/pot/bin/python", "-c", probe)
    assert done.returncode == 0, done.stdout
    licences = json.loads(done.stdout)
    missing = {name: [f for f, found in files if not found] for name, files in licences.items()}
    assert {name: files for name, files in missing.items() if files} == {}
    assert sorted(name for name, files in licences.items() if not files and name != "pot") == []


def test_runs_as_the_numeric_non_root_user_the_chart_expects(image: ImageRunner, built: Built) -> None:
    assert built.config["config"]["User"] == f"{UID}:{GID}"
    done = image.run("python3", "-c", "import os; print(os.getuid(), os.getgid(), os.getgroups())")
    assert done.returncode == 0, done.stdout
    assert done.stdout.split(maxsplit=2)[:2] == [str(UID), str(GID)]


def test_one_image_runs_either_program(built: Built) -> None:
    # Worker Deployments pass args: [pot-worker]; an Entrypoint would turn that into an argument.
    assert "Entrypoint" not in built.config["config"]
    assert built.config["config"]["Cmd"] == ["pot-operator"]


def test_skopeo_reads_the_archive_and_agrees_on_its_digest(built: Built) -> None:
    """The digest build.sh prints is the one a registry will serve (`repository@digest`)."""
    import subprocess

    shown = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{built.archive}"], capture_output=True, text=True, check=True
    )
    assert json.loads(shown.stdout)["Digest"] == built.digest


def test_read_only_root_and_no_shell(image: ImageRunner) -> None:
    probe = "try:\n open('/opt/pot/probe', 'w')\nexcept OSError as e:\n print(e.errno)"
    done = image.run("python3", "-c", probe)
    assert done.stdout.strip() == "30", done.stdout  # EROFS: the root is mounted read-only
    for shell in ("/bin/sh", "/bin/bash", "/usr/bin/dash"):
        done = image.run(shell, "-c", "true")
        assert done.returncode != 0
        assert "no such file or directory" in done.stdout, done.stdout


def test_no_test_server_and_no_private_key_inside(image: ImageRunner) -> None:
    probe = (
        "import importlib.util, json\n"
        "print(json.dumps({m: importlib.util.find_spec(m) is not None\n"
        "  for m in ('pot_stack', 'aiosmtpd', 'dnslib', 'pytest', 'pip', 'setuptools')}))"
    )
    done = image.run("python3", "-c", probe)
    assert json.loads(done.stdout) == dict.fromkeys(
        ("pot_stack", "aiosmtpd", "dnslib", "pytest", "pip", "setuptools"), False
    ), done.stdout
    # A PEM private key: the marker followed by key material (cryptography's parsers hold the bare marker).
    key = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{40}")
    leaks = [
        path.relative_to(image.rootfs)
        for path in image.rootfs.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and (path.name in {".env", "kubeconfig", "id_rsa"} or key.search(path.read_bytes()))
    ]
    assert leaks == []


def test_the_venv_holds_exactly_the_locked_dependencies(image: ImageRunner) -> None:
    probe = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    done = image.run("/opt/pot/bin/python", "-c", probe)
    installed = {name.lower().replace("_", "-"): version for name, version in json.loads(done.stdout).items()}
    locked = dict(
        re.findall(r"^([a-z0-9._-]+)==(\S+)", (REPO / "requirements" / "pot.lock").read_text(), re.MULTILINE)
    )
    locked = {name.replace("_", "-"): version for name, version in locked.items()}
    assert installed == {**locked, "pot": PYPROJECT["project"]["version"]}


# --- The worker, for one real send through the local stack. ---


async def _seed(database_url: str, sink: SmtpSink) -> int:
    """One pool, one mailbox on the sink (STARTTLS), one running campaign, one job due now."""
    conn = await asyncpg.connect(database_url)
    try:
        await apply_schema(conn)
        pool = await conn.fetchval(
            "INSERT INTO pools (namespace, name, time_zone) VALUES ('acme', 'outreach', 'UTC') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO mailboxes (pool_id, namespace, name, address, display_name, smtp_host, smtp_port,"
            " smtp_tls, daily_cap, hourly_cap, min_spacing_seconds, state)"
            " VALUES ($1, 'acme', 'mb-1', 'mb-1@acme-outreach.test', 'Acme', $2, $3, 'starttls',"
            " 1000, 1000, 0, 'active')",
            pool,
            sink.host,
            sink.port,
        )
        campaign = await conn.fetchval(
            "INSERT INTO campaigns (pool_id, namespace, name, tenant, subject_template, text_template,"
            " html_template, unsubscribe_url, unsubscribe_mailto, state)"
            " VALUES ($1, 'acme', 'spring', 'acme', 'Hello {{ first_name }}', 'Hi {{ first_name }}',"
            " '<p>Hi {{ first_name }}</p>', 'https://unsub.acme.test/u?e={{ email }}', 'unsub@acme.test',"
            " 'running') RETURNING id",
            pool,
        )
        return int(
            await conn.fetchval(
                "INSERT INTO send_jobs (campaign_id, recipient, variables) VALUES ($1, $2, $3) RETURNING id",
                campaign,
                "ada@image-smoke.test",
                json.dumps({"first_name": "Ada"}),
            )
        )
    finally:
        await conn.close()


async def _job_state(database_url: str, job: int) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval("SELECT state FROM send_jobs WHERE id = $1", job))
    finally:
        await conn.close()


def _wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def _readable_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """Files the image's user can read, to bind into the container as a Secret volume would be (runc
    mounts them as root, so only the folder and the files need to be readable, not their parents)."""
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    for name, content in files.items():
        (folder / name).write_bytes(content)
        (folder / name).chmod(0o644)
    return folder


KUBECONFIG = b"""\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: acme}}]
current-context: none
"""


def test_the_console_serves_from_the_image(image: ImageRunner, tmp_path: Path) -> None:
    """`potctl console`, as the chart's console Deployment runs it: the web stack starts and answers."""
    config = _readable_folder(tmp_path / "kube", {"kubeconfig": KUBECONFIG})
    port = _free_port()
    console = image.start(
        "potctl",
        "console",
        "--host=127.0.0.1",
        f"--port={port}",
        "--kubeconfig=/run/pot/kubeconfig",
        binds={"/run/pot": config},
    )
    try:
        _wait_for(
            lambda: console.process.poll() is not None or _get(port, "/healthz"), 60, "the console's /healthz"
        )
        if console.process.poll() is not None:
            pytest.fail(f"the console exited:\n{console.stop()[1]}")
        assert _get(port, "/healthz") == "ok"
    finally:
        code, output = console.stop()
    assert code == 0 and "POT console on http://127.0.0.1" in output, output


def test_worker_sends_one_mail_through_the_local_stack(
    image: ImageRunner,
    fresh_database: str,
    fresh_redis: str,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    job = asyncio.run(_seed(fresh_database, smtp_sink))
    ca = _readable_folder(tmp_path / "ca", {"smtp-ca.pem": Path(smtp_sink.cert_path).read_bytes()})
    smtp_sink.clear()
    metrics_port = _free_port()
    worker = image.start(
        "pot-worker",
        env={
            "POT_POOL": "acme/outreach",
            "POT_DATABASE_URL": fresh_database,
            "POT_REDIS_URL": fresh_redis,
            "POT_METRICS_PORT": str(metrics_port),
            "POT_SMTP_CA_FILE": "/run/pot/smtp-ca.pem",
            "POT_SMTP_TIMEOUT_SECONDS": "10",
        },
        binds={"/run/pot": ca},
    )
    try:
        mails = _wait_for(
            lambda: worker.process.poll() is not None or smtp_sink.messages(), 90, "the worker's mail"
        )
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited:\n{worker.stop()[1]}")
        assert [mail.rcpt_to for mail in mails] == ["ada@image-smoke.test"]
        assert mails[0].tls and mails[0].message["Subject"] == "Hello Ada"
        _wait_for(lambda: asyncio.run(_job_state(fresh_database, job)) == "sent", 30, "the job marked sent")
        assert "pot_" in _wait_for(lambda: _get(metrics_port, "/metrics"), 10, "the worker's metrics")
    finally:
        code, output = worker.stop()
    # SIGTERM drains and exits cleanly, as a pod's termination would.
    assert code == 0, output

"""Every docs/howto guide's ```sh blocks, run in order by bash against the local stack, so a guide
cannot rot: a real apiserver with POT's CRDs, OpenBao with kubernetes auth, Postgres and the operator.

Each guide runs in a fresh folder and namespace: its `NS=acme` line names the test's namespace
instead. One operator serves every guide (a module fixture), which keeps the set fast.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
GUIDES = sorted(p for p in (REPO / "docs" / "howto").glob("*.md") if p.name != "README.md")
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)


def script(guide: Path, namespace: str) -> str:
    blocks = SH_BLOCK.findall(guide.read_text(encoding="utf-8"))
    assert blocks, f"{guide.name} has no ```sh block"
    body = "\n".join(blocks)
    assert re.search(r"^NS=acme$", body, re.M), f"{guide.name} must set NS=acme in its first block"
    return "set -euo pipefail\n" + re.sub(r"^NS=acme$", f"NS={namespace}", body, count=1, flags=re.M)


def _operator_module() -> Any:
    path = REPO / "tests" / "e2e" / "operator" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pot_e2e_operator_conftest_howto", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stack_env(
    kube: Any, vault_kube: Any, postgres: Any, dns_server: Any, tmp_path_factory: Any
) -> Iterator[dict[str, str]]:
    """The environment `source .pot/env` gives a person, with the operator running behind it."""
    from pot_stack.e2e import sql
    from pot_stack.openbao import bao_binary

    kube.apply_crds(REPO / "crds")
    database = f"howto_{uuid.uuid4().hex[:12]}"
    sql(postgres.url, f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            [
                str(Path(sys.executable).parent),
                str(kube.bin_dir),
                str(bao_binary().parent),
                os.environ["PATH"],
            ]
        ),
        "KUBECONFIG": str(kube.admin_kubeconfig),
        **vault_kube.env(),
        "POT_DATABASE_URL": postgres.url_for(database),
        "POT_DNS_RESOLVER": dns_server.resolver,
        "POT_DNSBL_ZONES": "",
        "POT_RECONCILE_INTERVAL": "1",
        "POT_CAMPAIGN_INTERVAL": "1",
        "POT_ALLOW_PLAINTEXT_AUTH": "true",
    }
    operator = _operator_module().OperatorProcess(env, tmp_path_factory.mktemp("howto") / "operator.log")
    operator.start()
    try:
        yield env
    finally:
        operator.stop()
        sql(postgres.url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_the_guide_runs(guide: Path, stack_env: dict[str, str], tmp_path: Path) -> None:
    namespace = f"howto-{guide.stem}-{uuid.uuid4().hex[:5]}"[:63]
    try:
        done = subprocess.run(
            ["bash", "-c", script(guide, namespace)],
            cwd=tmp_path,
            env=stack_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{guide.name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    finally:
        subprocess.run(
            ["kubectl", "delete", "namespace", namespace, "--wait=false", "--ignore-not-found"],
            env=stack_env,
            capture_output=True,
        )


def test_every_guide_is_listed_in_the_index() -> None:
    index = (REPO / "docs" / "howto" / "README.md").read_text(encoding="utf-8")
    for guide in GUIDES:
        assert f"({guide.name})" in index, f"{guide.name} is not in docs/howto/README.md"

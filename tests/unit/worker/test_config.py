"""Worker settings from POT_* variables (pot_worker.config, pot_common.config)."""

from __future__ import annotations

import pytest
from pot_common.config import load_settings
from pot_worker.config import WorkerSettings
from pydantic import ValidationError

BASE = {"POT_POOL": "acme/outreach", "POT_DATABASE_URL": "postgresql://x/y", "POT_REDIS_URL": "redis://r/0"}


def test_reads_prefixed_variables_and_parses_types() -> None:
    s = load_settings(
        WorkerSettings, {**BASE, "POT_BATCH_SIZE": "25", "POT_VAULT_TOKEN": "s3cret", "POT_LANES": ""}
    )
    assert (s.pool_namespace, s.pool_name, s.batch_size, s.lanes) == ("acme", "outreach", 25, 2)
    assert s.vault_token is not None and s.vault_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize("pool", ["outreach", "/outreach", "acme/"])
def test_pool_must_be_namespaced(pool: str) -> None:
    with pytest.raises(ValidationError):
        load_settings(WorkerSettings, {**BASE, "POT_POOL": pool})

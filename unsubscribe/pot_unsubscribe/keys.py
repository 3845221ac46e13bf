"""Each tenant's unsubscribe key, read from Vault and kept a few minutes; the app asks before it verifies.

The tenant comes from a token nobody has verified yet, so a tenant with no usable key is remembered
too (for a shorter while, and only so many): forged tokens naming made-up tenants cost one Vault read
each per `missing_ttl`, not one per request. Vault not answering is never remembered: KeysUnavailable,
and the next request asks again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pot_common.cache import TtlCache
from pot_common.unsubscribe import read_key
from pot_common.vault import VaultKV

from pot_unsubscribe.metrics import KEY_READS

log = logging.getLogger("pot_unsubscribe.keys")
MAX_MISSING = 10_000  # tenants without a key remembered at most; past it the list starts again


class KeysUnavailable(Exception):
    """Vault did not answer: try again later (the message names no secret)."""


class KeyStore:
    def __init__(
        self,
        vault: VaultKV,
        prefix: str,
        ttl: float,
        missing_ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._vault = vault
        self._prefix = prefix
        self._keys: TtlCache[str, bytes] = TtlCache(ttl, clock)
        self._missing: TtlCache[str, str] = TtlCache(missing_ttl, clock)
        self.reads = 0  # Vault reads made, for the tests and the metrics

    async def key(self, tenant: str) -> bytes | None:
        """The tenant's key, or None when it has none that can verify a token; KeysUnavailable when
        Vault did not answer."""
        found = self._keys.get(tenant)
        if found is not None:
            return found
        if self._missing.get(tenant) is not None:
            return None
        self.reads += 1
        KEY_READS.inc()
        answer = await read_key(self._vault, tenant, self._prefix)
        if answer.key is not None:
            self._keys.put(tenant, answer.key)
            self._missing.pop(tenant)
            return answer.key
        if answer.temporary:
            log.warning("Could not read the unsubscribe key tenant=%s problem=%s", tenant, answer.problem)
            raise KeysUnavailable("Vault did not answer")
        if len(self._missing) >= MAX_MISSING:
            self._missing.clear()
        if self._missing.get(tenant) is None:
            log.info("Found no unsubscribe key tenant=%s problem=%s", tenant, answer.problem)
        self._missing.put(tenant, answer.problem)
        return None

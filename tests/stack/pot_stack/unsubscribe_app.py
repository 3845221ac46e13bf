"""`pot-unsubscribe` as a stack app (registered in pot_stack.stack.APPS): the one-click unsubscribe
endpoint on loopback, as the chart deploys it: Postgres as the `pot_unsubscribe` role
(common/pot_common/db/unsubscribe_role.sql) and Vault with a token holding only the endpoint's policy
(every tenant's `unsubscribe` key). Links: `$POT_UNSUBSCRIBE_URL/u/{token}` (plain HTTP on loopback;
a Campaign's spec.unsubscribe.url must be https://, which an Ingress with TLS provides in a cluster)."""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pot_stack.service import Service, free_port, wait_until

POLICY = "pot-unsubscribe"


def endpoint_policy(mount: str = "secret", prefix: str = "pot") -> str:
    return f'path "{mount}/data/{prefix}/+/unsubscribe" {{\n  capabilities = ["read"]\n}}\n'


class UnsubscribeService(Service):
    name = "unsubscribe"

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        super().__init__(root)
        self.port, self.metrics_port = free_port(), free_port()
        self.stack_env = env
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = self.url  # what pot_stack.stack.address_of shows in `make status`

    def _role_url(self) -> str:
        """Apply the schema and the role as the stack's superuser; the URL as `pot_unsubscribe`."""
        import asyncpg
        from pot_common.db import apply_schema
        from pot_common.sql import load_sql

        admin = self.stack_env["POT_DATABASE_URL"]

        async def run() -> None:
            conn = await asyncpg.connect(admin)
            try:
                await apply_schema(conn)
                await conn.execute(load_sql("pot_common.db", "unsubscribe_role", folder=""))
            finally:
                await conn.close()

        asyncio.run(run())
        parts = urlsplit(admin)
        return urlunsplit(parts._replace(netloc=f"pot_unsubscribe@{parts.hostname}:{parts.port}"))

    def _vault_token(self) -> str:
        """A token with only the endpoint's policy, made with the stack's root token."""
        import hvac

        e = self.stack_env
        client = hvac.Client(url=e["POT_VAULT_ADDR"], token=e["POT_VAULT_TOKEN"])
        mount = e.get("POT_VAULT_MOUNT", "secret")
        client.sys.create_or_update_policy(POLICY, endpoint_policy(mount))
        answer = client.auth.token.create_orphan(policies=[POLICY], no_default_policy=True, ttl="720h")
        return str(answer["auth"]["client_token"])

    def start(self) -> None:
        e = self.stack_env
        env = {
            "POT_DATABASE_URL": self._role_url(),
            "POT_VAULT_ADDR": e["POT_VAULT_ADDR"],
            "POT_VAULT_TOKEN": self._vault_token(),
            "POT_VAULT_MOUNT": e.get("POT_VAULT_MOUNT", "secret"),
            "POT_LISTEN_PORT": str(self.port),
            "POT_METRICS_PORT": str(self.metrics_port),
        }
        self.spawn([sys.executable, "-m", "pot_unsubscribe.cli"], env=env)
        wait_until(
            lambda: urllib.request.urlopen(f"{self.url}/readyz", timeout=1).status == 200,  # noqa: S310
            timeout=30,
            what="pot-unsubscribe",
            log=self.log_path,
        )

    def env(self) -> dict[str, str]:
        return {
            "POT_UNSUBSCRIBE_URL": self.url,
            "POT_UNSUBSCRIBE_METRICS_URL": f"http://127.0.0.1:{self.metrics_port}/metrics",
        }

"""`pot-unsubscribe`: the entry point; reads POT_* settings, serves metrics, runs the app in uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

from pot_common.logs import configure_logging
from pot_common.vault import VaultConfig, VaultKV
from pydantic import ValidationError
from starlette.applications import Starlette

from pot_unsubscribe.config import UnsubscribeSettings, settings_from_env

log = logging.getLogger("pot_unsubscribe")

EPILOG = """\
Settings come from the environment (flags win):
  POT_DATABASE_URL              Postgres DSN (required); the pot_unsubscribe role is enough
  POT_VAULT_ADDR, POT_VAULT_TOKEN or POT_VAULT_ROLE (+ POT_VAULT_K8S_AUTH_PATH), POT_VAULT_MOUNT
                                where each tenant's key is: <mount>/<prefix>/<namespace>/unsubscribe
  POT_VAULT_TENANT_PREFIX       the tenants' folder in the mount (default pot)
  POT_LISTEN_HOST, POT_LISTEN_PORT   where the pages are served (default 127.0.0.1:8080)
  POT_METRICS_PORT              Prometheus metrics on their own port (default 9102, 0: off)
  POT_IP_RATE_PER_MINUTE, POT_IP_BURST             per client address, per replica (30/min, 20)
  POT_GLOBAL_RATE_PER_SECOND, POT_GLOBAL_BURST     all clients, per replica (50/s, 200)
  POT_TRUSTED_PROXIES           CIDRs whose X-Forwarded-For is believed (default: none)
  POT_MAX_BODY_BYTES, POT_KEY_CACHE_SECONDS, POT_MISSING_KEY_CACHE_SECONDS,
  POT_DATABASE_POOL_SIZE, POT_LOG_JSON
Routes: GET/POST /u/<token> (or any path with ?token=<token>), GET /healthz, GET /readyz.
docs/unsubscribe.md says more.
"""


def build(settings: UnsubscribeSettings, vault: VaultKV) -> Starlette:
    """The app for these settings (the tests build it the same way)."""
    from pot_unsubscribe.app import create_app
    from pot_unsubscribe.keys import KeyStore
    from pot_unsubscribe.store import Store

    keys = KeyStore(
        vault, settings.vault_tenant_prefix, settings.key_cache_seconds, settings.missing_key_cache_seconds
    )
    return create_app(settings, keys, Store(settings.database_url, settings.database_pool_size))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="pot-unsubscribe",
        description="Serve the one-click unsubscribe endpoint (RFC 8058): a POST with "
        "List-Unsubscribe=One-Click suppresses the token's address for its tenant; a GET shows a "
        "confirmation page.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="Address to listen on (default: POT_LISTEN_HOST, else 127.0.0.1).")
    parser.add_argument("--port", help="Port to listen on (default: POT_LISTEN_PORT, else 8080).")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("listen_host", args.host), ("listen_port", args.port)) if v is not None}
    try:
        settings = settings_from_env(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        print(f"pot-unsubscribe: POT_{field.upper()}: {first['msg']}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_json)
    vault = VaultKV(VaultConfig.from_env())
    if not vault.config.configured:
        log.warning("Vault is not configured: every link will be refused as invalid")
    import uvicorn
    from prometheus_client import start_http_server

    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    log.info("Serving unsubscribe pages host=%s port=%s", settings.listen_host, settings.listen_port)
    # No access log (the URL carries the token) and no proxy headers: the app decides whom to believe.
    uvicorn.run(
        build(settings, vault),
        host=settings.listen_host,
        port=settings.listen_port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()

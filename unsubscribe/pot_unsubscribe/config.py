"""The endpoint's settings, one typed place; read by pot_unsubscribe.cli from POT_* variables.

Vault is configured by the shared POT_VAULT_* variables (pot_common.vault.VaultConfig.from_env).
"""

from __future__ import annotations

import ipaddress
import os

from pot_common.config import load_settings
from pydantic import BaseModel, Field, field_validator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """`10.0.0.0/8,192.168.1.7` as networks (a bare address: /32 or /128); ValueError names the bad one."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


class UnsubscribeSettings(BaseModel):
    """Every knob of `pot-unsubscribe`; the env variable is POT_ + the field name in upper case."""

    database_url: str = Field(
        description="asyncpg DSN (POT_DATABASE_URL); the least-privileged `pot_unsubscribe` role is enough."
    )
    vault_tenant_prefix: str = Field(
        "pot", description="The folder holding each namespace's secrets: `<prefix>/<namespace>/unsubscribe`."
    )
    listen_host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    listen_port: int = Field(8080, ge=1, le=65535, description="Port of the unsubscribe pages.")
    metrics_port: int = Field(
        9102, ge=0, le=65535, description="Prometheus port, apart from the public one; 0 disables it."
    )
    ip_rate_per_minute: float = Field(
        30.0, gt=0, description="Requests per minute one client address may make (per replica)."
    )
    ip_burst: int = Field(20, ge=1, description="Requests one client address may make at once.")
    global_rate_per_second: float = Field(
        50.0, gt=0, description="Requests per second all clients together may make (per replica)."
    )
    global_burst: int = Field(200, ge=1, description="Requests all clients together may make at once.")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDRs of the proxies in front (an Ingress controller): "
        "only a request from one of them has its X-Forwarded-For believed. Empty: never.",
    )
    max_body_bytes: int = Field(16384, ge=256, description="Largest request body accepted.")
    key_cache_seconds: float = Field(
        300.0, gt=0, description="How long a tenant's unsubscribe key read from Vault is reused."
    )
    missing_key_cache_seconds: float = Field(
        60.0, gt=0, description="How long a tenant without a usable key is not asked about again."
    )
    database_pool_size: int = Field(4, ge=1, le=100, description="Postgres connections at most.")
    log_json: bool = Field(False, description="JSON log lines.")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def proxies(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)


def settings_from_env(**overrides: str) -> UnsubscribeSettings:
    """Settings from the process environment; command-line flags come in as `overrides`."""
    env = {**os.environ, **{"POT_" + key.upper(): value for key, value in overrides.items()}}
    return load_settings(UnsubscribeSettings, env)

"""The console's settings: where it listens, how it authenticates, what the Diagnostics page checks.

Read from `potctl console`'s flags and the same POT_* variables potctl and the operator read (the
local stack's `.pot/env` sets them all); the chart sets them in the console's Deployment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pot_common.vault import VaultConfig


class AuthMode(StrEnum):
    """local: `potctl console` on a workstation; one random token in the URL it prints, and every
    action runs with the caller's kubeconfig. kubernetes: in the cluster; a person's bearer token is
    checked with a TokenReview and each action with a SubjectAccessReview."""

    LOCAL = "local"
    KUBERNETES = "kubernetes"


@dataclass(frozen=True)
class ConsoleSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    auth: AuthMode = AuthMode.LOCAL
    namespace: str | None = None  # only this namespace's objects (None: every namespace)
    kubeconfig: str | None = None
    context: str | None = None
    database_url: str = ""
    redis_url: str = ""
    vault: VaultConfig = field(default_factory=VaultConfig)
    dns_resolver: str = ""
    dns_probe_name: str = "."
    smtp_probe_target: str = "gmail-smtp-in.l.google.com:25"
    operator_metrics_url: str = ""
    worker_fresh_seconds: float = 60.0
    lag_warn_seconds: float = 300.0
    secure_cookies: bool = False  # behind TLS (the chart's Ingress): cookies only over HTTPS
    audiences: tuple[str, ...] = ()  # TokenReview audiences; empty: the apiserver's own

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ConsoleSettings:
        e = os.environ if env is None else env
        values: dict[str, object] = {
            "database_url": e.get("POT_DATABASE_URL", ""),
            "redis_url": e.get("POT_REDIS_URL", ""),
            "vault": VaultConfig.from_env(e),
            "dns_resolver": e.get("POT_DNS_RESOLVER", ""),
            "dns_probe_name": e.get("POT_CONSOLE_DNS_NAME", "."),
            "smtp_probe_target": e.get("POT_CONSOLE_SMTP_TARGET")
            or f"gmail-smtp-in.l.google.com:{e.get('POT_SMTP_PROBE_PORT', '25')}",
            "operator_metrics_url": e.get("POT_OPERATOR_METRICS_URL", ""),
            "auth": AuthMode(e.get("POT_CONSOLE_AUTH", AuthMode.LOCAL.value)),
            "secure_cookies": e.get("POT_CONSOLE_SECURE_COOKIES", "") in ("1", "true", "yes"),
            "audiences": tuple(a for a in e.get("POT_CONSOLE_AUDIENCES", "").split(",") if a.strip()),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

"""The email checker's vocabulary: modes, verdicts, a result, the settings; for the checker and potctl."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

ROLE_LOCAL_PARTS = frozenset(
    [
        "abuse",
        "admin",
        "billing",
        "contact",
        "help",
        "hostmaster",
        "info",
        "jobs",
        "mail",
        "marketing",
        "noc",
        "no-reply",
        "noreply",
        "office",
        "postmaster",
        "privacy",
        "sales",
        "security",
        "support",
        "team",
        "webmaster",
    ]
)
DISPOSABLE_DOMAINS = frozenset(
    [
        "mailinator.com",
        "guerrillamail.com",
        "10minutemail.com",
        "tempmail.com",
        "yopmail.com",
        "trashmail.com",
        "sharklasers.com",
        "getnada.com",
        "dispostable.com",
        "throwawaymail.com",
        "disposable.test",
    ]
)


class Mode(StrEnum):
    AUTO = "auto"  # SMTP when outbound probe port connects, else format+mx (and say so)
    SYNTAX = "syntax"  # offline
    FORMAT_MX = "format+mx"
    SMTP = "smtp"


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    RISKY = "risky"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class EmailResult:
    """One address's verdict; `line` is its line in the input (0 when it came from code)."""

    address: str
    result: Verdict
    reason: str
    normalized: str = ""
    smtp_reply: str = ""
    mode: str = ""
    line: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "result": self.result.value}


@dataclass
class CheckerSettings:
    """How the checker probes; defaults are polite enough for real providers."""

    mode: Mode = Mode.AUTO
    probe_port: int = field(default_factory=lambda: int(os.environ.get("POT_SMTP_PROBE_PORT", "25")))
    helo_name: str = "pot-checker.invalid"
    mail_from: str = ""  # the null reverse-path: a probe must never be able to bounce
    per_domain_concurrency: int = 2
    per_domain_interval_s: float = 1.0
    global_concurrency: int = 20
    timeout_s: float = 20.0
    connect_test_timeout_s: float = 5.0
    connect_test_host: str | None = None  # None: the MX hosts of the first domain met
    greylist_retries: int = 1
    greylist_delay_s: float = 60.0
    catch_all_check: bool = True
    allow_test_domains: bool = False  # accept special-use names like .test (the local stack)
    role_local_parts: frozenset[str] = ROLE_LOCAL_PARTS
    disposable_domains: frozenset[str] = DISPOSABLE_DOMAINS

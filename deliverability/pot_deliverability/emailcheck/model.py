"""The email checker's vocabulary: modes, verdicts, a result, the settings; for the checker and potctl."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from pot_deliverability.emailcheck.flags import DISPOSABLE_DOMAINS, ROLE_LOCAL_PARTS


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
    """One address's verdict; `line` is its line in the input (0 when it came from code).

    The flags say what the address is whatever the verdict: a free mailbox provider's, a role account
    (info@, sales@), a disposable domain's; `suggestion` is the likely meant address when the domain
    looks like a typo of a well-known one (gmial.com).
    """

    address: str
    result: Verdict
    reason: str
    normalized: str = ""
    smtp_reply: str = ""
    mode: str = ""
    line: int = 0
    free: bool = False
    role: bool = False
    disposable: bool = False
    suggestion: str = ""

    def as_dict(self) -> dict[str, Any]:
        # By hand rather than dataclasses.asdict, which deep-copies: this runs once per address.
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"result": self.result.value}


@dataclass
class CheckerSettings:
    """How the checker probes; defaults are polite enough for real providers.

    Politeness is per MX host (the server that takes the connections, whichever recipient domains it
    serves) and per provider (every MX host of one mailbox provider, see mx.provider_group): at most
    `per_host_concurrency` sessions to a host and `per_provider_concurrency` to a provider at once, a
    host's sessions started at least `per_host_interval_s` apart (its first one at once), and at most
    `rcpts_per_session` recipients asked in one session (ended early after `errors_per_session`
    rejections, below the usual MTA error limits). A 4xx answer is asked again `greylist_delay_s` later,
    up to `greylist_retries` times, without holding a connection meanwhile.
    """

    mode: Mode = Mode.AUTO
    probe_port: int = field(default_factory=lambda: int(os.environ.get("POT_SMTP_PROBE_PORT", "25")))
    helo_name: str = "pot-checker.invalid"
    mail_from: str = ""  # the null reverse-path: a probe must never be able to bounce
    per_host_concurrency: int = 2
    per_host_interval_s: float = 1.0
    per_provider_concurrency: int = 10
    global_concurrency: int = 20
    rcpts_per_session: int = 10
    errors_per_session: int = 5
    timeout_s: float = 20.0
    starttls: bool = True  # when the server offers it (certificates are not checked: opportunistic TLS)
    connect_test_timeout_s: float = 5.0
    connect_test_host: str | None = None  # None: the MX hosts of the recipient domains themselves
    connect_test_domains: int = 3  # auto: port blocked only when this many domains' MX hosts all fail
    greylist_retries: int = 1
    greylist_delay_s: float = 60.0
    catch_all_check: bool = True
    allow_test_domains: bool = False  # accept special-use names like .test (the local stack)
    role_local_parts: frozenset[str] = ROLE_LOCAL_PARTS
    disposable_domains: frozenset[str] = DISPOSABLE_DOMAINS
    dns_concurrency: int = 50  # MX lookups at once
    window: int = 10_000  # addresses taken in but not yet given out: what bounds the checker's memory

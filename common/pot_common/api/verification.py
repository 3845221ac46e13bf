"""Recipient verification before a Campaign sends (spec.verification, status.verification): the checker
runs as a Kubernetes Job; types for the operator and the CRD generator, part of the Campaign kind."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from pot_common.api.base import ApiModel, Count, cel, validations

VerificationMode = Literal["off", "auto", "format+mx", "smtp"]

# Go-style durations as Kubernetes writes them (`720h`, `90m`, `1h30m`), at least one part.
DURATION_PATTERN = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"


class Toleration(ApiModel):
    """A pod toleration, as core/v1 Toleration (the egress node pool's taints)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerations: tolerationSeconds needs effect NoExecute",
                ".tolerationSeconds",
            ),
            cel(
                "self.operator != 'Exists' || !has(self.value) || self.value == ''",
                "tolerations: operator Exists takes no value",
                ".value",
            ),
        )
    )

    key: str | None = Field(default=None, max_length=316, description="The taint key; absent: every key.")
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Exists or Equal.")
    value: str | None = Field(default=None, max_length=63, description="The taint value (with Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="NoSchedule, PreferNoSchedule or NoExecute; absent: every effect."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="With NoExecute: how long the pod stays after the taint appears."
    )


class VerificationJob(ApiModel):
    """Where the checker Job runs: a node pool whose network lets port 25 out."""

    node_selector: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict,
        max_length=32,
        description="Node labels the checker's pod must match (e.g. an egress pool with port 25 open).",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=32,
        description="Taints of that node pool the checker's pod tolerates.",
    )


class Verification(ApiModel):
    """Check the recipients' addresses in the cluster before any send job is made.

    The operator runs the address checker as a Kubernetes Job in the Campaign's namespace (the
    workers' image); results are kept per namespace in Postgres and reused by later campaigns while
    younger than `maxAge`. Invalid addresses get no send job (counted in `status.counts.invalid`);
    risky and unknown ones as `risky` says.
    """

    mode: VerificationMode = Field(
        default="off",
        description=(
            "off: no check (the default). auto: SMTP probe when the Job's network reaches MX hosts on "
            "port 25, else format+mx (status says so). format+mx: syntax and MX records. smtp: always "
            "probe (RCPT, never DATA)."
        ),
    )
    max_age: str = Field(
        default="720h",
        max_length=32,
        pattern=DURATION_PATTERN,
        description=(
            "How old a previous result of the namespace may be to be reused instead of checking again "
            "(`720h`, `90m`, `0s` checks every address); unknown results are never reused, format+mx "
            "results not for mode smtp."
        ),
    )
    risky: Literal["send", "skip"] = Field(
        default="send",
        description=(
            "What happens to risky (catch-all, role account, disposable, full mailbox) and unknown "
            "addresses: send (the default) or skip (counted in `status.counts.riskySkipped`)."
        ),
    )
    job: VerificationJob = Field(
        default_factory=VerificationJob, description="Scheduling of the checker Job's pod."
    )


class VerificationStatus(ApiModel):
    """How the check of the recipients went (spec.verification)."""

    job: str | None = Field(default=None, description="The checker Job's name.")
    mode: str | None = Field(
        default=None, description="The mode the checker used (auto becomes smtp or format+mx)."
    )
    total: Count = Field(default=0, description="Distinct addresses to check.")
    checked: Count = Field(default=0, description="Addresses checked so far by the Job.")
    reused: Count = Field(default=0, description="Addresses whose earlier result (within maxAge) was reused.")
    valid: Count = Field(default=0, description="Addresses found valid.")
    invalid: Count = Field(default=0, description="Addresses found invalid.")
    risky: Count = Field(default=0, description="Addresses found risky.")
    unknown: Count = Field(default=0, description="Addresses the servers would not answer for.")
    notice: str | None = Field(
        default=None, max_length=4096, description="What the checker decided and why (e.g. port 25 blocked)."
    )
    finished_at: datetime | None = Field(default=None, description="When the check finished.")


__all__ = ["Toleration", "Verification", "VerificationJob", "VerificationMode", "VerificationStatus"]

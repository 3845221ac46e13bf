"""The MailboxPool kind (mailboxes selected by label, with their limits): types for operator and generator.

Defaults follow public deliverability guidance (docs/api.md): 30 a day per inbox with 10 minutes
between sends, warmup 5 -> 30 over 21 days, bounce warn 2 % / pause 5 %, complaint warn 0.1 % /
pause 0.3 %. Rates are integer basis points because CRD schemas handle floats badly.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from pot_common.api.base import (
    BASIS_POINTS_DOC,
    ApiModel,
    BasisPoints,
    Condition,
    Count,
    VaultPath,
    cel,
    conditions_field,
    observed_generation_field,
    validations,
)

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WORKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri")
_LABEL_PREFIX = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
LABEL_KEY_PATTERN = "^" + _LABEL_PREFIX + r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]
HH_MM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# The worker Deployment is `pot-worker-<pool>` and carries the pool name as a label value (63 chars).
MAX_POOL_NAME = 63 - len("pot-worker-")


class LabelSelectorRequirement(ApiModel):
    """One set-based requirement on Mailbox labels, as in a Kubernetes label selector."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                "matchExpressions: values must be non-empty for In and NotIn and absent for Exists "
                "and DoesNotExist",
                ".values",
            )
        )
    )

    key: str = Field(
        min_length=1, max_length=316, pattern=LABEL_KEY_PATTERN, description="The label key it applies to."
    )
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the label's value relates to `values`."
    )
    values: list[LabelValue] | None = Field(
        default=None,
        max_length=64,
        description="Label values for In and NotIn; must be absent for Exists and DoesNotExist.",
    )


class LabelSelector(ApiModel):
    """Which Mailboxes (in the pool's namespace) belong to the pool, by their labels."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(has(self.matchLabels) && size(self.matchLabels) > 0) || "
                "(has(self.matchExpressions) && size(self.matchExpressions) > 0)",
                "selector: set matchLabels or matchExpressions; an empty selector would take every "
                "Mailbox in the namespace",
            )
        )
    )

    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=32,
        description="Labels a Mailbox must carry, all of them, with these values.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=16, description="Set-based requirements, all of which must hold."
    )


class PoolLimits(ApiModel):
    """Sending limits each mailbox and each recipient domain must stay within."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.perInboxPerHour <= self.perInboxPerDay",
                "limits.perInboxPerHour must not exceed limits.perInboxPerDay",
                ".perInboxPerHour",
            )
        )
    )

    per_inbox_per_day: int = Field(
        default=30, ge=1, le=10000, description="Most messages one mailbox sends per day once warm."
    )
    per_inbox_per_hour: int = Field(
        default=6, ge=1, le=10000, description="Most messages one mailbox sends per hour."
    )
    min_spacing_seconds: int = Field(
        default=600, ge=0, le=86400, description="Least time between two sends from the same mailbox."
    )
    per_recipient_domain_per_hour: int = Field(
        default=50,
        ge=1,
        le=1000000,
        description="Most messages the whole pool sends to one recipient domain (e.g. gmail.com) per hour.",
    )


class WarmupCurve(ApiModel):
    """How a new mailbox's daily cap grows from its warmup start to the full limit."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.startVolume <= self.maxVolume",
                "warmup.startVolume must not exceed warmup.maxVolume",
                ".startVolume",
            )
        )
    )

    days: int = Field(default=21, ge=14, le=28, description="Length of warmup in days (14 to 28).")
    start_volume: int = Field(default=5, ge=1, le=10000, description="Daily cap on the first day of warmup.")
    max_volume: int = Field(
        default=30, ge=1, le=10000, description="Daily cap on the last day of warmup; at most perInboxPerDay."
    )
    curve: Literal["linear", "gentle"] = Field(
        default="linear",
        description="`linear` adds the same amount each day; `gentle` grows slowly first and faster later.",
    )


class HealthPolicy(ApiModel):
    """When mailboxes are warned about, cooled down or paused, from their delivery outcomes."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.bounceRateWarnBasisPoints <= self.bounceRatePauseBasisPoints",
                "health.bounceRateWarnBasisPoints must not exceed health.bounceRatePauseBasisPoints",
                ".bounceRateWarnBasisPoints",
            ),
            cel(
                "self.complaintRateWarnBasisPoints <= self.complaintRatePauseBasisPoints",
                "health.complaintRateWarnBasisPoints must not exceed health.complaintRatePauseBasisPoints",
                ".complaintRateWarnBasisPoints",
            ),
        )
    )

    window_seconds: int = Field(
        default=604800,
        ge=3600,
        le=2592000,
        description="Length of the sliding window the rates are computed over (1 hour to 30 days).",
    )
    min_sample: int = Field(
        default=20,
        ge=1,
        le=100000,
        description="Messages a mailbox must have sent in the window before rates count.",
    )
    bounce_rate_warn_basis_points: BasisPoints = Field(
        default=200, description=f"Bounce rate that raises a warning, {BASIS_POINTS_DOC}; 200 = 2 %."
    )
    bounce_rate_pause_basis_points: BasisPoints = Field(
        default=500, description=f"Bounce rate that pauses the mailbox, {BASIS_POINTS_DOC}; 500 = 5 %."
    )
    complaint_rate_warn_basis_points: BasisPoints = Field(
        default=10, description=f"Complaint rate that raises a warning, {BASIS_POINTS_DOC}; 10 = 0.1 %."
    )
    complaint_rate_pause_basis_points: BasisPoints = Field(
        default=30, description=f"Complaint rate that pauses the mailbox, {BASIS_POINTS_DOC}; 30 = 0.3 %."
    )
    deferral_rate_pause_basis_points: BasisPoints = Field(
        default=3000,
        description=f"Deferral rate that starts a cooldown, {BASIS_POINTS_DOC}; 3000 = 30 %.",
    )
    cooldown_seconds: int = Field(
        default=86400, ge=0, le=2592000, description="How long a cooldown lasts (0 disables cooldowns)."
    )
    cooldown_cap_percent: int = Field(
        default=50,
        ge=0,
        le=100,
        description="A cooling mailbox's daily cap as a percentage of its normal cap.",
    )
    max_cooling_percent: int = Field(
        default=30,
        ge=0,
        le=100,
        description=(
            "When more than this percentage of the pool's mailboxes are cooling or paused at once, the "
            "pool itself pauses: the cause is likely the list or the content, not single mailboxes."
        ),
    )


class AutoPausePolicy(ApiModel):
    """Whether the operator pauses unhealthy mailboxes by itself, and how they come back."""

    enabled: bool = Field(default=True, description="Pause a mailbox whose rates cross a pause threshold.")
    resume: Literal["manual", "afterCooldown"] = Field(
        default="manual",
        description=(
            "`manual`: a person resumes it; `afterCooldown`: it resumes at reduced cap after cooldownSeconds."
        ),
    )


class WorkerSettings(ApiModel):
    """The pool's sender Deployment (pot-worker-<pool>), scaled by the operator to what is due."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.maxReplicas >= self.minReplicas",
                "workers.maxReplicas must be at least workers.minReplicas",
                ".maxReplicas",
            )
        )
    )

    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description=(
            "Worker container image; defaults to the image the operator was configured with. Any other "
            "image must be on the cluster admin's allowlist (POT_WORKER_IMAGE_ALLOWLIST), else the pool "
            "says WorkerImageNotAllowed and its workers run the default image."
        ),
    )
    min_replicas: int = Field(
        default=0, ge=0, le=100, description="Fewest workers, 0 to scale to zero when nothing is due."
    )
    max_replicas: int = Field(default=4, ge=1, le=100, description="Most workers.")
    sends_per_worker_per_hour: int = Field(
        default=600,
        ge=1,
        le=100000,
        description="Messages one worker is expected to send per hour; sizes the scale.",
    )


class SendingWindow(ApiModel):
    """The hours and days in which the pool sends, in its time zone; outside it nothing is sent."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.end > self.start",
                "sendingWindow.end must be after sendingWindow.start",
                ".end",
            )
        )
    )

    start: str = Field(
        default="09:00", pattern=HH_MM_PATTERN, description="Start of the window, HH:MM (24 h)."
    )
    end: str = Field(
        default="17:00", pattern=HH_MM_PATTERN, description="End of the window, HH:MM, after start."
    )
    time_zone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
        description="IANA time zone of start and end, e.g. `Europe/Berlin`.",
    )
    days: list[Weekday] = Field(
        default_factory=lambda: list(WORKDAYS),
        min_length=1,
        max_length=7,
        description="Days of the week on which the window opens.",
        json_schema_extra={"x-kubernetes-list-type": "set", "default": list(WORKDAYS)},
    )


class TelegramRoute(ApiModel):
    """A Telegram chat that receives the pool's alerts."""

    chat_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^(-?[0-9]+|@[A-Za-z][A-Za-z0-9_]{4,31})$",
        description="Numeric chat id (negative for groups) or `@channelname`.",
    )
    token_vault_path: VaultPath = Field(
        description=(
            "Vault KV v2 path of the bot token (key `token`), relative to this namespace's folder: "
            "`alerts/telegram` is read at `<prefix>/<namespace>/alerts/telegram` (POT_VAULT_TENANT_PREFIX)."
        )
    )


class SlackRoute(ApiModel):
    """A Slack incoming webhook that receives the pool's alerts."""

    webhook_vault_path: VaultPath = Field(
        description=(
            "Vault KV v2 path of the webhook URL (key `url`), relative to this namespace's folder: "
            "`alerts/slack` is read at `<prefix>/<namespace>/alerts/slack` (POT_VAULT_TENANT_PREFIX)."
        )
    )


class AlertRoutes(ApiModel):
    """Where warnings, auto-pauses and resumptions of the pool are announced."""

    telegram: TelegramRoute | None = Field(default=None, description="Send alerts to a Telegram chat.")
    slack: SlackRoute | None = Field(default=None, description="Send alerts to a Slack channel.")


class MailboxPoolSpec(ApiModel):
    """Desired state of a MailboxPool: which mailboxes, and how fast and safely they may send."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.warmup.maxVolume <= self.limits.perInboxPerDay",
                "warmup.maxVolume must not exceed limits.perInboxPerDay",
                ".warmup.maxVolume",
            ),
            cel(
                "!has(self.pauseReason) || self.paused",
                "pauseReason may only be set while paused is true",
                ".pauseReason",
            ),
        )
    )

    selector: LabelSelector = Field(
        description="Label selector choosing the pool's Mailboxes in its namespace."
    )
    limits: PoolLimits = Field(
        default_factory=PoolLimits, description="Per-mailbox and per-domain send limits."
    )
    warmup: WarmupCurve = Field(default_factory=WarmupCurve, description="Warmup curve of new mailboxes.")
    health: HealthPolicy = Field(default_factory=HealthPolicy, description="Health thresholds and cooldown.")
    auto_pause: AutoPausePolicy = Field(
        default_factory=AutoPausePolicy, description="Automatic pausing of unhealthy mailboxes."
    )
    workers: WorkerSettings = Field(default_factory=WorkerSettings, description="The pool's sender workers.")
    sending_window: SendingWindow | None = Field(
        default=None, description="When the pool may send; absent means at any time."
    )
    alerts: AlertRoutes | None = Field(default=None, description="Where the pool's alerts go.")
    paused: bool = Field(default=False, description="Stop all sending of the pool until set back to false.")
    pause_reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Why a person paused the pool (shown in status); only with paused: true.",
    )


class MailboxCounts(ApiModel):
    """How many of the pool's mailboxes are in each state."""

    total: Count = Field(default=0, description="Mailboxes the selector matches.")
    warming: Count = Field(default=0, description="Mailboxes still in warmup.")
    active: Count = Field(default=0, description="Warm mailboxes sending at their full cap.")
    cooling: Count = Field(default=0, description="Mailboxes cooling down at a reduced cap.")
    paused: Count = Field(default=0, description="Mailboxes paused by a person or by auto-pause.")
    failed: Count = Field(default=0, description="Mailboxes that cannot send (e.g. credentials rejected).")


class PoolHealth(ApiModel):
    """Delivery outcomes of the whole pool over its health window."""

    window_seconds: Count | None = Field(default=None, description="Length of the window the figures cover.")
    sent: Count = Field(default=0, description="Messages accepted in the window.")
    bounce_rate_basis_points: BasisPoints = Field(default=0, description="Bounce rate, in basis points.")
    complaint_rate_basis_points: BasisPoints = Field(
        default=0, description="Complaint rate, in basis points."
    )
    deferral_rate_basis_points: BasisPoints = Field(default=0, description="Deferral rate, in basis points.")
    score: int | None = Field(
        default=None, ge=0, le=100, description="Mean health score of the pool's mailboxes."
    )


class MailboxPoolStatus(ApiModel):
    """Observed state of a MailboxPool, written by the operator."""

    observed_generation: int | None = observed_generation_field()
    mailboxes: MailboxCounts | None = Field(default=None, description="Mailbox counts by state.")
    capacity_today: Count | None = Field(
        default=None, description="Messages the pool may still send today, summed over its mailboxes' caps."
    )
    sent_today: Count | None = Field(default=None, description="Messages the pool sent today.")
    worker_replicas: Count | None = Field(default=None, description="Replicas of the worker Deployment now.")
    health: PoolHealth | None = Field(default=None, description="Aggregate delivery health.")
    paused: bool | None = Field(
        default=None, description="Whether the pool is paused, manually or automatically."
    )
    pause_reason: str | None = Field(default=None, max_length=1024, description="Why the pool is paused.")
    conditions: list[Condition] = conditions_field()


__all__ = [
    "MAX_POOL_NAME",
    "AlertRoutes",
    "AutoPausePolicy",
    "HealthPolicy",
    "LabelSelector",
    "LabelSelectorRequirement",
    "MailboxCounts",
    "MailboxPoolSpec",
    "MailboxPoolStatus",
    "PoolHealth",
    "PoolLimits",
    "SendingWindow",
    "SlackRoute",
    "TelegramRoute",
    "WarmupCurve",
    "Weekday",
    "WorkerSettings",
]

"""The Campaign kind (one send to a recipient list through one pool): types for operator and generator."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from pot_common.api.base import (
    NAME_PATTERN,
    ApiModel,
    Condition,
    Count,
    EmailAddress,
    ResourceName,
    cel,
    conditions_field,
    immutable,
    observed_generation_field,
    validations,
)
from pot_common.api.pool import HH_MM_PATTERN, Weekday
from pot_common.api.verification import (
    Toleration,
    Verification,
    VerificationJob,
    VerificationMode,
    VerificationStatus,
)

TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"  # as the pool's sendingWindow
ALL_DAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

CampaignPhase = Literal["Pending", "Preflight", "Scheduled", "Running", "Paused", "Completed", "Failed"]
ConfigKey = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]
TemplateVariable = Annotated[str, Field(max_length=4096)]


class PoolRef(ApiModel):
    """A MailboxPool in the Campaign's namespace."""

    name: ResourceName = Field(description="Name of the MailboxPool.")


class KeyRef(ApiModel):
    """One key of a ConfigMap or Secret in the Campaign's namespace."""

    name: ResourceName = Field(description="Name of the ConfigMap or Secret.")
    key: ConfigKey = Field(default="recipients.csv", description="Key holding the recipient CSV.")


class RecipientSource(ApiModel):
    """Where the recipient list comes from: exactly one of configMapRef, secretRef or importName.

    A CSV has a header row with an `email` column; every other column becomes a per-recipient
    template variable. The operator imports the list into Postgres; it never lives in the spec.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "[has(self.configMapRef), has(self.secretRef), has(self.importName)]"
                ".filter(x, x).size() == 1",
                "recipients: set exactly one of configMapRef, secretRef or importName",
            )
        )
    )

    config_map_ref: KeyRef | None = Field(
        default=None, description="A ConfigMap key holding a recipient CSV."
    )
    secret_ref: KeyRef | None = Field(
        default=None, description="A Secret key holding a recipient CSV (when the list itself is sensitive)."
    )
    import_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=NAME_PATTERN,
        description=(
            "Name of a list already imported into Postgres for this namespace with "
            "`potctl import-recipients`; lists of other namespaces are out of reach."
        ),
    )


class MessageTemplate(ApiModel):
    """The message: subject and bodies in Jinja2 (sandboxed, strict) with spintax.

    `{{ first_name }}` is a CSV column, a `variables` entry or a sender variable (`sender_name`,
    `sender_email`, `sender_signature`, from the sending Mailbox); `{{ first_name | default("there") }}`
    falls back when the value is missing or empty; `{Hi|Hello}` picks one option per recipient, the
    same for that recipient every time. A placeholder nothing defines holds the campaign with
    `TemplateValid=False` before any job exists.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.text) || has(self.html)", "template: set text, html or both", ".text")
        )
    )

    subject: str = Field(min_length=1, max_length=998, description="Subject line (a template).")
    text: str | None = Field(default=None, min_length=1, max_length=262144, description="Plain-text body.")
    html: str | None = Field(default=None, min_length=1, max_length=262144, description="HTML body.")
    variables: dict[str, TemplateVariable] = Field(
        default_factory=dict,
        max_length=64,
        description=(
            "Values for placeholders shared by all recipients; a non-empty CSV column of the same name "
            "overrides them, and they override the sender variables."
        ),
    )


class Schedule(ApiModel):
    """When the campaign may send: between start and end, on some days and hours in a time zone (each
    recipient's own, from an optional CSV column `timezone`). Within it the pool's sending window still
    applies. Until start the campaign's phase is Scheduled: its jobs exist, none is due."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.start) || !has(self.end) || timestamp(self.end) > timestamp(self.start)",
                "schedule.end must be after schedule.start",
                ".end",
            ),
            cel(
                "has(self.sendFrom) == has(self.sendUntil)",
                "schedule: set both sendFrom and sendUntil, or neither",
                ".sendUntil",
            ),
            cel(
                "!has(self.sendFrom) || !has(self.sendUntil) || self.sendUntil > self.sendFrom",
                "schedule.sendUntil must be after schedule.sendFrom",
                ".sendUntil",
            ),
        )
    )

    start: datetime | None = Field(default=None, description="Earliest send time (RFC 3339); absent: now.")
    end: datetime | None = Field(
        default=None, description="Latest send time (RFC 3339); what is not sent by then is left unsent."
    )
    time_zone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=TIME_ZONE_PATTERN,
        description=(
            "IANA time zone of days, sendFrom and sendUntil, e.g. `Europe/Berlin`; a recipient whose CSV "
            "row has a known zone in a `timezone` column is mailed in that zone's hours instead."
        ),
    )
    days: list[Weekday] = Field(
        default_factory=lambda: list(ALL_DAYS),
        min_length=1,
        max_length=7,
        description="Days of the week (local to each recipient's zone) on which the campaign sends.",
        json_schema_extra={"x-kubernetes-list-type": "set", "default": list(ALL_DAYS)},
    )
    send_from: str | None = Field(
        default=None,
        pattern=HH_MM_PATTERN,
        description="Local time the daily sending hours start, HH:MM (24 h); absent: the whole day.",
    )
    send_until: str | None = Field(
        default=None,
        pattern=HH_MM_PATTERN,
        description="Local time the daily sending hours end, HH:MM, after sendFrom.",
    )


class CampaignLimits(ApiModel):
    """Caps of this campaign on top of the pool's limits."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.perHour) || !has(self.perDay) || self.perHour <= self.perDay",
                "limits.perHour must not exceed limits.perDay",
                ".perHour",
            )
        )
    )

    per_day: int | None = Field(
        default=None, ge=1, le=10000000, description="Most messages per day; absent: no cap."
    )
    per_hour: int | None = Field(
        default=None, ge=1, le=10000000, description="Most messages per hour; absent: no cap."
    )


class Unsubscribe(ApiModel):
    """How recipients unsubscribe: the List-Unsubscribe headers (RFC 2369, RFC 8058)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.url) || has(self.mailto)", "unsubscribe: set url, mailto or both", ".url"),
            cel(
                "!self.oneClick || has(self.url)",
                "unsubscribe.oneClick requires unsubscribe.url",
                ".oneClick",
            ),
        )
    )

    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https://[^\s]+$",
        description=(
            "HTTPS unsubscribe URL, sent in List-Unsubscribe; `{{ email }}` and the recipient's columns are "
            "filled URL-quoted. When the namespace's key is in Vault (`<prefix>/<namespace>/unsubscribe`, "
            "field `key`, at least 32 bytes) each recipient's token (HMAC over namespace, campaign and "
            "address) replaces `{token}`, or is added as the `token` query parameter. Without the key the "
            "link goes out without a token, except that a link containing `{token}` waits for the key; the "
            "UnsubscribeTokens condition says which."
        ),
        json_schema_extra={"format": "uri"},
    )
    mailto: EmailAddress | None = Field(default=None, description="Address that receives unsubscribe mails.")
    one_click: bool = Field(
        default=True,
        description=(
            "Add `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), as Gmail and Yahoo require; "
            "false leaves that header out."
        ),
    )


class CampaignSpec(ApiModel):
    """Desired state of a Campaign; its namespace is its tenant (imported lists, suppressions, statistics)."""

    pool_ref: PoolRef = Field(
        description="The MailboxPool that sends the campaign. Immutable.",
        json_schema_extra=immutable("poolRef"),
    )
    recipients: RecipientSource = Field(description="Where the recipient list comes from.")
    template: MessageTemplate = Field(description="The message sent to each recipient.")
    schedule: Schedule = Field(default_factory=Schedule, description="When the campaign may send.")
    limits: CampaignLimits = Field(default_factory=CampaignLimits, description="Campaign-level caps.")
    suppression_lists: list[ResourceName] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Names of the namespace's suppression lists (`potctl suppression add --list NAME`) whose "
            "addresses are never sent to, checked when the jobs are made and again at each send."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    unsubscribe: Unsubscribe | None = Field(default=None, description="Unsubscribe headers and endpoint.")
    paused: bool = Field(
        default=False, description="Stop sending until set back to false; queued mail waits."
    )
    suspend: bool = Field(
        default=False,
        description=(
            "As a Kubernetes Job's: true stops sending (queued mail waits, phase Paused), false resumes. "
            "The same effect as `paused`, which `potctl pause` sets."
        ),
    )
    preflight_override: bool = Field(
        default=False,
        description="Send even though DNS preflight (SPF, DKIM, DMARC, blocklists) failed. Use with care.",
    )
    verification: Verification = Field(
        default_factory=Verification,
        description="Check the recipients' addresses in the cluster before any send job is made.",
    )


class PreflightCheck(ApiModel):
    """The result of one preflight check."""

    name: str = Field(
        min_length=1, max_length=128, description="What was checked, e.g. `spf:acme-mail.test`."
    )
    result: Literal["Pass", "Warn", "Fail"] = Field(description="Pass, Warn or Fail.")
    message: str = Field(default="", max_length=4096, description="Details for a person.")


class PreflightResult(ApiModel):
    """DNS and reputation checks of the pool's sending domains before the campaign starts."""

    passed: bool | None = Field(default=None, description="True when no check failed.")
    checked_at: datetime | None = Field(default=None, description="When the checks ran (RFC 3339).")
    checks: list[PreflightCheck] = Field(
        default_factory=list,
        max_length=256,
        description="Each check and its result.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class CampaignCounts(ApiModel):
    """Recipients by outcome."""

    total: Count = Field(default=0, description="Recipients in the list.")
    queued: Count = Field(default=0, description="Waiting to be sent.")
    sent: Count = Field(default=0, description="Accepted by the recipient's server.")
    deferred: Count = Field(default=0, description="Temporarily refused, to be retried.")
    bounced: Count = Field(default=0, description="Permanently refused (hard bounce).")
    failed: Count = Field(default=0, description="Given up on after retries or a permanent failure.")
    unknown: Count = Field(
        default=0,
        description=(
            "Never known: the connection was lost while the message was sent (e.g. a worker crash); "
            "never resent, as the server may have accepted it."
        ),
    )
    suppressed: Count = Field(
        default=0, description="Skipped because suppressed in the Campaign's namespace."
    )
    unsubscribed: Count = Field(default=0, description="Unsubscribed after receiving the campaign.")
    replied: Count = Field(
        default=0,
        description="Answered by a person (read in the sending mailbox's inbox); never mailed again.",
    )
    bounced_later: Count = Field(
        default=0,
        description="Accepted at submission, then bounced permanently (a bounce read in the inbox).",
    )
    complained: Count = Field(default=0, description="Reported as spam (a feedback-loop report).")
    auto_replied: Count = Field(default=0, description="Answered automatically (out of office and the like).")
    invalid: Count = Field(
        default=0, description="Skipped before any send: spec.verification found the address invalid."
    )
    risky_skipped: Count = Field(
        default=0,
        description="Skipped before any send: risky or unknown by spec.verification, with `risky: skip`.",
    )


class CampaignStatus(ApiModel):
    """Observed state of a Campaign, written by the operator."""

    observed_generation: int | None = observed_generation_field()
    phase: CampaignPhase | None = Field(
        default=None,
        description="Pending, Preflight, Scheduled, Running, Paused, Completed or Failed.",
    )
    preflight: PreflightResult | None = Field(default=None, description="Results of the DNS preflight.")
    counts: CampaignCounts | None = Field(default=None, description="Recipients by outcome.")
    verification: VerificationStatus | None = Field(
        default=None, description="The check of the recipients' addresses (spec.verification)."
    )
    started_at: datetime | None = Field(default=None, description="When the first message was sent.")
    completed_at: datetime | None = Field(default=None, description="When the last recipient was settled.")
    conditions: list[Condition] = conditions_field()


__all__ = [
    "CampaignCounts",
    "CampaignLimits",
    "CampaignPhase",
    "CampaignSpec",
    "CampaignStatus",
    "KeyRef",
    "MessageTemplate",
    "PoolRef",
    "PreflightCheck",
    "PreflightResult",
    "RecipientSource",
    "Schedule",
    "Toleration",
    "Unsubscribe",
    "Verification",
    "VerificationJob",
    "VerificationMode",
    "VerificationStatus",
]

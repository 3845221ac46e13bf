"""The registry of POT's custom resource kinds (names, printer columns, types); read by the CRD generator."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from pot_common.api.base import GROUP, cel
from pot_common.api.campaign import CampaignSpec, CampaignStatus
from pot_common.api.mailbox import MailboxSpec, MailboxStatus
from pot_common.api.pool import MAX_POOL_NAME, MailboxPoolSpec, MailboxPoolStatus

READY_PATH = '.status.conditions[?(@.type=="Ready")].status'
CATEGORY = "pot"


@dataclass(frozen=True)
class PrinterColumn:
    """One `kubectl get` column."""

    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0


@dataclass(frozen=True)
class Kind:
    """One custom resource kind and everything its CRD is generated from."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[PrinterColumn, ...]
    rules: tuple[dict[str, str], ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _ready(description: str) -> PrinterColumn:
    return PrinterColumn("Ready", "string", READY_PATH, description)


def _age() -> PrinterColumn:
    return PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since creation.")


MAILBOX = Kind(
    kind="Mailbox",
    plural="mailboxes",
    short_names=("mbx",),
    description=(
        "A Mailbox is one sending address: its SMTP endpoint, where its credentials live, and when its "
        "warmup started. Its labels select it into a MailboxPool, which sets its limits."
    ),
    spec=MailboxSpec,
    status=MailboxStatus,
    columns=(
        PrinterColumn("Address", "string", ".spec.address", "The sending address."),
        PrinterColumn("Warmup Day", "integer", ".status.warmupDay", "Day of warmup."),
        PrinterColumn("Cap", "integer", ".status.capToday", "Effective send cap today."),
        PrinterColumn("Sent", "integer", ".status.sentToday", "Messages sent today."),
        PrinterColumn("Health", "integer", ".status.healthScore", "Health score 0-100."),
        _ready("Whether the mailbox can send."),
        PrinterColumn("State", "string", ".status.state", "Lifecycle state.", priority=1),
        _age(),
    ),
)

MAILBOX_POOL = Kind(
    kind="MailboxPool",
    plural="mailboxpools",
    short_names=("mbxpool",),
    description=(
        "A MailboxPool is a group of Mailboxes for one client or direction, selected by label, with the "
        "limits, warmup curve, health policy, sending window and workers they share."
    ),
    spec=MailboxPoolSpec,
    status=MailboxPoolStatus,
    columns=(
        PrinterColumn("Mailboxes", "integer", ".status.mailboxes.total", "Mailboxes selected."),
        _ready("Whether the pool can send."),
        PrinterColumn(
            "Capacity", "integer", ".status.capacityToday", "Messages the pool may still send today."
        ),
        PrinterColumn("Workers", "integer", ".status.workerReplicas", "Worker replicas now."),
        PrinterColumn("Paused", "boolean", ".status.paused", "Paused manually or automatically."),
        PrinterColumn(
            "Reason", "string", ".status.pauseReason", "Why the pool is paused, and how to resume."
        ),
        _age(),
    ),
    rules=(
        cel(
            f"size(self.metadata.name) <= {MAX_POOL_NAME}",
            f"metadata.name must be at most {MAX_POOL_NAME} characters: the worker Deployment "
            "pot-worker-<name> and its pot.dev/pool label must fit in 63",
        ),
    ),
)

CAMPAIGN = Kind(
    kind="Campaign",
    plural="campaigns",
    short_names=("camp",),
    description=(
        "A Campaign is one send of a template to a recipient list through one MailboxPool, within its "
        "schedule and limits, after a DNS preflight."
    ),
    spec=CampaignSpec,
    status=CampaignStatus,
    columns=(
        PrinterColumn("Pool", "string", ".spec.poolRef.name", "The sending MailboxPool."),
        PrinterColumn("Phase", "string", ".status.phase", "Lifecycle phase."),
        PrinterColumn("Queued", "integer", ".status.counts.queued", "Recipients waiting."),
        PrinterColumn("Sent", "integer", ".status.counts.sent", "Messages accepted."),
        PrinterColumn("Bounced", "integer", ".status.counts.bounced", "Hard bounces."),
        PrinterColumn("Ready", "string", READY_PATH, "Whether the campaign is healthy.", priority=1),
        _age(),
    ),
)

KINDS: tuple[Kind, ...] = (MAILBOX, MAILBOX_POOL, CAMPAIGN)

"""POT's custom resource types (pot.dev/v1alpha1): the one typed source of the CRDs, used by the operator."""

from pot_common.api.base import API_VERSION, GROUP, VERSION, Condition
from pot_common.api.campaign import CampaignSpec, CampaignStatus
from pot_common.api.kinds import CAMPAIGN, KINDS, MAILBOX, MAILBOX_POOL, Kind
from pot_common.api.mailbox import MailboxSpec, MailboxStatus
from pot_common.api.pool import MailboxPoolSpec, MailboxPoolStatus

__all__ = [
    "API_VERSION",
    "CAMPAIGN",
    "GROUP",
    "KINDS",
    "MAILBOX",
    "MAILBOX_POOL",
    "VERSION",
    "CampaignSpec",
    "CampaignStatus",
    "Condition",
    "Kind",
    "MailboxPoolSpec",
    "MailboxPoolStatus",
    "MailboxSpec",
    "MailboxStatus",
]

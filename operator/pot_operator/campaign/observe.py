"""The Campaign controller's observe step: what one campaign scan reads before it writes.

Called by pot_operator.campaign.reconcile. Reads the index (its pool), Postgres (the pool's id),
DNS (the preflight gate's reports, cached per domain, until the campaign started), the
ConfigMap or Secret holding the recipients (only when they must be loaded), the verification run and
its Job (spec.verification, until the recipients are loaded) and, for a campaign with an
unsubscribe URL, whether its namespace's unsubscribe key is in Vault (`unsubscribe_tokens`).
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any

import pydantic
from pot_common.api.campaign import CampaignSpec
from pot_common.api.pool import MailboxPoolSpec
from pot_common.unsubscribe import PLACEHOLDER, TenantKey, read_key
from pot_deliverability.gate import sending_targets
from pot_deliverability.preflight import PreflightReport

from pot_operator import db
from pot_operator.campaign.plan import CampaignMemory, CampaignObserved, has_started, needs_load
from pot_operator.campaign.recipients import RecipientsError, read_recipients
from pot_operator.index import Body, Key
from pot_operator.verification.observe import observe_verification

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime


async def observe_campaign(rt: Runtime, key: Key, body: Body) -> CampaignObserved:
    namespace = key[0]
    try:
        spec = CampaignSpec.model_validate(body.get("spec") or {})
    except pydantic.ValidationError as e:
        return CampaignObserved(key, body, spec_error=str(e))
    pool_key = (namespace, spec.pool_ref.name)
    if pool_key not in rt.index.pools:
        return CampaignObserved(key, body, spec)
    database = await rt.database()
    if database is None:
        return CampaignObserved(key, body, spec, pool_found=True, db_error=rt.db_error or "")
    pool_id = await db.pool_id(database, *pool_key)
    if pool_id is None:
        return CampaignObserved(key, body, spec, pool_found=True)
    pool_spec = _pool_spec(rt, pool_key)
    reports = None
    if not has_started(body.get("status") or {}):
        reports = await _preflight_reports(rt, pool_key, pool_spec)
    recipients, problem = None, None
    if needs_load(body):
        try:
            recipients = await read_recipients(
                rt.kube, namespace, spec, allow_secrets=rt.settings.allow_secret_refs
            )
            import_name = spec.recipients.import_name
            if import_name is not None and not await db.imported_list_exists(
                database, namespace, import_name
            ):
                raise RecipientsError(
                    f"No list {import_name!r} was imported for namespace {namespace}: a Campaign reads only "
                    f"its own namespace's lists (potctl import-recipients --tenant {namespace})",
                    "ImportNotFound",
                )
        except RecipientsError as e:
            problem = e
        except (OSError, ValueError, csv.Error) as e:
            # Anything else a source can make the reader raise (an unreadable CSV, an undecodable
            # byte) is the source's problem too: RecipientsReady=False says so, never a stale status.
            problem = RecipientsError(f"the recipient list cannot be read: {type(e).__name__}: {e}"[:1000])
    verification = None
    if verification_wanted(spec, needs_load(body)) and problem is None:
        verification = await observe_verification(rt, database, key, body)
    return CampaignObserved(
        key,
        body,
        spec,
        pool_found=True,
        pool_id=pool_id,
        routes=pool_spec.alerts if pool_spec is not None else None,
        preflight=reports,
        recipients=recipients,
        recipients_error=str(problem) if problem is not None else None,
        recipients_error_reason=problem.reason if problem is not None else "RecipientSourceInvalid",
        memory=rt.campaign_memory.get(key, CampaignMemory()),
        unsubscribe=await unsubscribe_tokens(rt, namespace, spec),
        verification=verification,
    )


def verification_wanted(spec: CampaignSpec, load: bool) -> bool:
    """Whether this scan must look at the recipients' verification: on, and the list still to load."""
    return load and spec.verification.mode != "off"


async def observe_counts(rt: Runtime, campaign_id: int) -> dict[str, Any]:
    """The campaign's jobs by state, after this scan's writes; once it ended, what its row froze
    (pot_operator.db.merged_counts): its jobs may be gone then."""
    database = await rt.database()
    assert database is not None  # observed connected: the pool stays connected
    return await db.campaign_counts(database, campaign_id)


UNSUBSCRIBE_TOKENS = "UnsubscribeTokens"


def tokens_condition(spec: CampaignSpec, key: TenantKey | None) -> tuple[bool, str, str] | None:
    """UnsubscribeTokens (status, reason, message) for a campaign with an unsubscribe URL (pure); None
    without one. It says what the worker does with the link (pot_worker.planner.token_use)."""
    url = spec.unsubscribe.url if spec.unsubscribe is not None else None
    if url is None or key is None:
        return None
    if key.key is not None:
        return True, "KeyFound", "Each recipient's unsubscribe link carries its token"
    if key.temporary:
        return False, "VaultUnavailable", f"Sends wait until the unsubscribe key can be read: {key.problem}"
    fix = "write a `key` field of at least 32 random bytes there"
    if PLACEHOLDER in url:
        return False, "KeyMissing", f"Sends wait: the link needs a token and {key.problem}; {fix}"
    return False, "KeyMissing", f"Links go out without a token: {key.problem}; {fix}"


async def unsubscribe_tokens(rt: Runtime, namespace: str, spec: CampaignSpec) -> tuple[bool, str, str] | None:
    """The UnsubscribeTokens condition, reading the key only for a campaign with an unsubscribe URL."""
    if spec.unsubscribe is None or spec.unsubscribe.url is None:
        return None
    key = await read_key(rt.vault, namespace, rt.settings.vault_tenant_prefix)
    return tokens_condition(spec, key)


def _pool_spec(rt: Runtime, pool_key: Key) -> MailboxPoolSpec | None:
    body = rt.index.pools.get(pool_key) or {}
    try:
        return MailboxPoolSpec.model_validate(body.get("spec") or {})
    except pydantic.ValidationError:
        return None


async def _preflight_reports(
    rt: Runtime, pool_key: Key, pool_spec: MailboxPoolSpec | None
) -> list[PreflightReport]:
    """Preflight of every sending domain of the pool's mailboxes (cached per domain); none for an
    invalid pool spec."""
    if pool_spec is None:
        return []
    selection = rt.index.select_mailboxes(pool_key, pool_spec.selector)
    targets = sending_targets(parsed.spec for _, parsed in selection.mailboxes)
    return await rt.checks.reports(targets)

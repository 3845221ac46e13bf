"""The MailboxPool controller's observe step: reads what one pool scan needs into a PoolObserved.

Called by pot_operator.pool.reconcile. Reads the index, Postgres (ids, window counts, backlog),
Vault or Secrets (credential verdicts, cached), DNS (blocklists, cached) and the worker Deployment;
writes nothing but those caches, and forgets remembered state that an earlier object of the same name
left (pot_operator.lifecycle.StateOwners).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

import pydantic
from pot_common.api.mailbox import MailboxSpec
from pot_common.api.pool import MailboxPoolSpec
from pot_deliverability.gate import Target, blocklisted

from pot_operator import db
from pot_operator.credentials import CachedCheck, CredentialCheck, VaultOutage, check_credentials, refusal
from pot_operator.health import window_start
from pot_operator.index import Key, ParsedMailbox
from pot_operator.lifecycle import OWNERS
from pot_operator.manifests import worker_deployment_name
from pot_operator.pool.mailboxes import EMPTY_MEMORY, InvalidMailbox, MailboxesSeen
from pot_operator.pool.plan import PoolObserved
from pot_operator.pool.policy import PauseState, thresholds_from_spec

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)
CHECK_CONCURRENCY = 8


async def observe_pool(rt: Runtime, key: Key, now: dt.datetime) -> PoolObserved | None:
    """The pool as it is; None when the index no longer has it (deleted)."""
    body = rt.index.pools.get(key)
    if body is None:
        return None
    try:
        spec = MailboxPoolSpec.model_validate(body.get("spec") or {})
    except pydantic.ValidationError as e:
        return PoolObserved(key, body, rt.settings, spec_error=str(e))
    database = await rt.database()
    if database is None:
        return PoolObserved(key, body, rt.settings, spec=spec, db_error=rt.db_error or "")
    selection = rt.index.select_mailboxes(key, spec.selector)
    mailboxes = rt.index.mailboxes
    selected = [(m, mailboxes[m], parsed) for m, parsed in selection.mailboxes if m in mailboxes]
    # Remembered state (an auto-pause, warmup holds, cooldowns) is the object's whose uid it carries.
    await OWNERS.check(database, "MailboxPool", [(key, _uid(body))], rt.pool_memory)
    await OWNERS.check(database, "Mailbox", [(m, _uid(b)) for m, b, _ in selected], rt.mailbox_memory)
    pool_id = await db.pool_id(database, *key)
    ids = await db.mailbox_ids(database, pool_id) if pool_id is not None else {}
    thresholds = thresholds_from_spec(spec)
    since = {
        ids[m[1]].id: window_start(now, thresholds, rt.mailbox_memory.get(m, EMPTY_MEMORY).resumed_at)
        for m, _, _ in selected
        if m[1] in ids
    }
    counts = await db.window_counts(database, since)
    # A mailbox the workers marked credentials_bad is checked on every scan: a new secret version
    # in Vault brings it back (pool/mailboxes.py).
    rejected = {m for m, _, _ in selected if m[1] in ids and ids[m[1]].state == "credentials_bad"}
    credentials = await refresh_credentials(rt, [(m, parsed) for m, _, parsed in selected], rejected)
    listed = await blocklisted_targets(rt, [parsed for _, _, parsed in selected])
    backlog = await db.due_backlog(database, pool_id) if pool_id is not None else 0
    deployment = await rt.kube.read_deployment(key[0], worker_deployment_name(key[1]))
    return PoolObserved(
        key,
        body,
        rt.settings,
        spec=spec,
        pool_id=pool_id,
        pause=rt.pool_memory.get(key, PauseState()),
        mailboxes=MailboxesSeen(
            selected=selected,
            ids=ids,
            counts=counts,
            credentials=credentials,
            memories=rt.mailbox_memory,
            listed=listed,
            memos=rt.plan_memo,
            upserted=rt.upserted,
            vault_prefix=rt.settings.vault_tenant_prefix,
        ),
        invalid=selection.invalid,
        invalid_mailboxes=invalid_mailboxes(rt, key[0], selection.invalid),
        backlog=backlog,
        recommendations=rt.recommendations.get(key, ()),
        deployment=deployment,
        vault_outage=rt.vault_outage.message or None,
    )


def _uid(body: Mapping[str, Any]) -> str | None:
    uid = (body.get("metadata") or {}).get("uid")
    return str(uid) if uid else None


def invalid_mailboxes(rt: Runtime, namespace: str, names: list[str]) -> list[InvalidMailbox]:
    """The selected mailboxes whose spec does not parse, with the validation error (few; parsed anew)."""
    out = []
    for name in names:
        key = (namespace, name)
        body = rt.index.mailboxes.get(key)
        if body is None:
            continue
        try:
            rt.index.parsed_mailbox(key, body)
        except pydantic.ValidationError as e:
            errors = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            out.append(InvalidMailbox(key, body, errors))
    return out


async def refresh_credentials(
    rt: Runtime, items: list[tuple[Key, ParsedMailbox]], rejected: AbstractSet[Key] = frozenset()
) -> dict[Key, CredentialCheck]:
    """Each mailbox's credential verdict, re-checked when new, changed, failing or rejected by the SMTP
    server (on every scan) or older than POT_CREDENTIALS_RECHECK.

    Vault answering "not now" is temporary: the previous verdict stands, and while Vault stays away
    its reads wait out a growing delay (VaultOutage) instead of one timeout per mailbox and scan.
    """
    verdicts: dict[Key, CredentialCheck] = {}
    due: list[tuple[Key, MailboxSpec, str]] = []
    for key, parsed in items:
        spec, fp = parsed.spec, parsed.credentials_fingerprint
        recent = rt.credentials.get(key)
        # A missing secret is written by a person at any moment: look again on every scan.
        if recent is not None and recent.fingerprint == fp and recent.check.ok and key not in rejected:
            verdicts[key] = recent.check
            continue
        known = rt.credentials.get(key, max_age=math.inf)
        if known is not None:
            verdicts[key] = known.check
        due.append((key, spec, fp))
    semaphore = asyncio.Semaphore(CHECK_CONCURRENCY)
    policy = rt.credential_policy
    outage = rt.vault_outage

    async def one(key: Key, spec: MailboxSpec, fp: str) -> None:
        result = refusal(spec, key[0], policy)
        if result is None:
            async with semaphore:
                if spec.credentials.vault_path and outage.waiting(time.monotonic()):
                    result = CredentialCheck(False, "VaultUnavailable", outage.message, temporary=True)
                else:
                    result = await check_credentials(spec, key[0], rt.vault, rt.kube, policy)
                    if spec.credentials.vault_path:
                        _note_vault(outage, result)
        previous = rt.credentials.get(key, max_age=math.inf)
        if result.temporary and previous is not None and previous.fingerprint == fp:
            # Vault down does not make good credentials bad; keep the verdict, report on the pool.
            return
        rt.credentials.put(key, CachedCheck(fp, result))
        verdicts[key] = result

    await asyncio.gather(*(one(k, s, fp) for k, s, fp in due))
    return verdicts


def _note_vault(outage: VaultOutage, result: CredentialCheck) -> None:
    if result.reason == "VaultUnavailable":
        if outage.waiting(time.monotonic()):
            return  # another read of this scan already counted this outage
        outage.failed(time.monotonic(), result.message)
        log.warning(
            "Read Vault failed, retrying later: failures=%d retry_in=%.0fs error=%s",
            outage.failures,
            max(0.0, outage.retry_at - time.monotonic()),
            result.message,
        )
    elif outage.failures:
        log.info("Read Vault again: failures=%d", outage.failures)
        outage.answered()


async def blocklisted_targets(rt: Runtime, mailboxes: list[ParsedMailbox]) -> dict[Target, str]:
    """The pool's sending targets that are listed, rechecked per domain every POT_DOMAIN_RECHECK.

    Without configured blocklists there is nothing to recheck. DNS trouble makes a check warn, so
    it never cools a mailbox down.
    """
    if not rt.checks.has_blocklists or not mailboxes:
        return {}
    targets = sorted({m.target for m in mailboxes})
    return blocklisted(await rt.checks.reports(targets, max_age=rt.settings.domain_recheck))

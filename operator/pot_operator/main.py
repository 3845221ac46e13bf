"""kopf registration for pot-operator: every handler lives here and delegates to a controller (STYLE.md 1).

Loaded by `pot-operator` (pot_operator.cli) and by tests through kopf.testing.KopfRunner.

Write discipline at scale: only event handlers and pool/campaign daemons are registered. Event
handlers keep no progress or diff-base annotations, and each controller compares the status it
wants with the status it sees, so a restart over unchanged objects writes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from pot_operator import metrics
from pot_operator.campaign import reconcile_campaign
from pot_operator.config import Settings
from pot_operator.credentials import VaultClient
from pot_operator.kube import GROUP, VERSION, KubeApi
from pot_operator.mailbox import plan_unselected
from pot_operator.pool import forget_mailbox, pools_selecting, reconcile_pool
from pot_operator.runtime import Runtime
from pot_operator.statusdiff import status_patch

log = logging.getLogger("pot_operator")
FINALIZER = "pot.dev/operator"
# Many mailbox events arrive together (start-up listing, bulk apply): let them settle, scan once.
SETTLE_SECONDS = 1.0

_runtime: Runtime | None = None


def runtime() -> Runtime:
    if _runtime is None:
        raise kopf.TemporaryError("The operator is still starting", delay=1)
    return _runtime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _snapshot(body: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of what the controllers read; kopf's body view changes under our feet."""
    meta = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "generation": meta.get("generation"),
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    global _runtime
    config = Settings.from_env()
    settings.persistence.finalizer = FINALIZER
    # Our event handlers keep no state in annotations; these only matter if a changing handler is added.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="pot.dev", key="last-handled"
    )
    # kopf's own log lines would become one Event per object per handler at 12,000 objects.
    settings.posting.level = logging.WARNING
    settings.queueing.worker_limit = config.worker_limit
    # A per-object worker keeps its slot for idle_timeout after its last event (kopf default 5 s):
    # with 200 slots that is 40 objects/s, so the echo of 12,000 status writes took minutes, scans
    # saw stale statuses meanwhile and rewrote them. Our event handlers are cheap: free slots fast.
    settings.queueing.idle_timeout = 0.3
    settings.watching.server_timeout = 600
    settings.watching.client_timeout = 660
    settings.networking.request_timeout = 60
    rt = Runtime(settings=config, kube=KubeApi(), vault=VaultClient(config))
    # Know every pool and mailbox before the first event or scan: otherwise a restart would briefly
    # judge selected mailboxes "unselected", or count a pool's mailboxes short, and write that.
    for plural, registry in (("mailboxpools", rt.pools), ("mailboxes", rt.mailboxes)):
        for served in config.namespaces or (None,):
            for item in await rt.kube.list_objects(plural, served):
                meta = item.get("metadata", {})
                registry[(meta.get("namespace", ""), meta.get("name", ""))] = _snapshot(item)
    _runtime = rt
    if config.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(config.metrics_port)
    log.info(
        "Started pot-operator: metrics_port=%s namespaces=%s",
        config.metrics_port,
        ",".join(config.namespaces) or "*",
    )


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if _runtime is not None:
        await _runtime.close()


@kopf.on.event(GROUP, VERSION, "mailboxes")
async def mailbox_event(event: kopf.RawEvent, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    rt = runtime()
    key = (body.metadata.namespace or "", body.metadata.name or "")
    if event.get("type") == "DELETED":
        rt.mailboxes.pop(key, None)
        rt.credentials.pop(key, None)
        rt.mailbox_version += 1
        forget_mailbox(rt, key)
        for pool in pools_selecting(rt, key[0], body.metadata.labels):
            rt.mark_dirty((key[0], pool))
        return
    snapshot = _snapshot(body)
    previous = rt.mailboxes.get(key)
    rt.mailboxes[key] = snapshot
    owners = pools_selecting(rt, key[0], snapshot["metadata"]["labels"])
    if previous is not None and previous["metadata"]["labels"] != snapshot["metadata"]["labels"]:
        owners += pools_selecting(rt, key[0], previous["metadata"]["labels"])
    changed = previous is None or {k: previous[k] for k in ("spec", "metadata")} != {
        k: snapshot[k] for k in ("spec", "metadata")
    }
    if changed:
        rt.mailbox_version += 1
    if owners:
        if changed:
            for pool in set(owners):
                rt.mark_dirty((key[0], pool))
        return
    desired = plan_unselected(snapshot["metadata"]["generation"], snapshot["status"], _now())
    diff = status_patch(snapshot["status"], desired)
    if diff is not None:
        patch.status.update(diff)


@kopf.on.event(GROUP, VERSION, "mailboxpools")
async def pool_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    rt = runtime()
    key = (body.metadata.namespace or "", body.metadata.name or "")
    if event.get("type") == "DELETED":
        rt.pools.pop(key, None)
        rt.pool_version += 1
        metrics.forget_pool(*key)
        # Its mailboxes may now belong to another pool, or to none and must say so.
        for mkey, mbody in list(rt.mailboxes.items()):
            if mkey[0] != key[0]:
                continue
            owners = pools_selecting(rt, key[0], mbody["metadata"]["labels"])
            for pool in owners:
                rt.mark_dirty((key[0], pool))
            if not owners and mbody["status"].get("pool") == key[1]:
                desired = plan_unselected(mbody["metadata"]["generation"], mbody["status"], _now())
                diff = status_patch(mbody["status"], desired)
                if diff is not None:
                    await rt.kube.patch_status("mailboxes", mkey[0], mkey[1], diff)
        return
    snapshot = _snapshot(body)
    previous = rt.pools.get(key)
    rt.pools[key] = snapshot
    if (
        previous is None
        or previous["spec"] != snapshot["spec"]
        or previous["metadata"] != snapshot["metadata"]
    ):
        rt.pool_version += 1
        rt.mark_dirty(key)


@kopf.daemon(GROUP, VERSION, "mailboxpools", cancellation_timeout=10)
async def pool_daemon(stopped: kopf.DaemonStopped, name: str, namespace: str | None, **_: Any) -> None:
    """One loop per pool: scan after a change (settled) or every POT_RECONCILE_INTERVAL seconds."""
    rt = runtime()
    key = (namespace or "", name)
    dirty = rt.dirty.setdefault(key, asyncio.Event())
    dirty.set()
    while not stopped:
        try:
            await asyncio.wait_for(dirty.wait(), timeout=rt.settings.reconcile_interval)
            await asyncio.sleep(SETTLE_SECONDS)
        except TimeoutError:
            pass
        if stopped:
            break
        dirty.clear()
        try:
            await reconcile_pool(rt, key, _now())
        except asyncio.CancelledError:
            raise
        except Exception:
            # Unexpected: count it, log it, try again on the next tick instead of dying.
            metrics.reconcile_errors.labels("MailboxPool").inc()
            log.exception("Reconciled pool failed: pool=%s/%s", namespace, name)
    rt.dirty.pop(key, None)


@kopf.daemon(GROUP, VERSION, "campaigns", cancellation_timeout=10)
async def campaign_daemon(
    stopped: kopf.DaemonStopped, body: kopf.Body, name: str, namespace: str | None, **_: Any
) -> None:
    """One loop per campaign: load recipients once, then refresh counts and phase on a timer."""
    rt = runtime()
    while not stopped:
        try:
            await reconcile_campaign(rt, (namespace or "", name), _snapshot(body), _now())
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.reconcile_errors.labels("Campaign").inc()
            log.exception("Reconciled campaign failed: campaign=%s/%s", namespace, name)
        await stopped.wait(rt.settings.campaign_interval)

"""kopf registration for pot-operator: every handler lives here and delegates to a controller.

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

from pot_operator import lifecycle, metrics, retention, watch
from pot_operator.campaign.reconcile import reconcile_campaign
from pot_operator.config import Settings
from pot_operator.index import Body
from pot_operator.kube import GROUP, VERSION, KubeApi
from pot_operator.pool.reconcile import reconcile_pool
from pot_operator.runtime import Runtime

log = logging.getLogger("pot_operator")
FINALIZER = "pot.dev/operator"
# Many mailbox events arrive together (start-up listing, bulk apply): let them settle, scan once.
SETTLE_SECONDS = 1.0

_runtime: Runtime | None = None
# The retention sweeper (pot_operator.retention), started with the runtime and cancelled at cleanup.
_sweeper: asyncio.Task[None] | None = None


def runtime() -> Runtime:
    if _runtime is None:
        raise kopf.TemporaryError("The operator is still starting", delay=1)
    return _runtime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _snapshot(body: Mapping[str, Any]) -> Body:
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
    global _runtime, _sweeper
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
    rt = Runtime.create(config, KubeApi())
    # Know every pool and mailbox before the first event or scan: otherwise a restart would briefly
    # judge selected mailboxes "unselected", or count a pool's mailboxes short, and write that.
    for plural, registry in (("mailboxpools", rt.index.pools), ("mailboxes", rt.index.mailboxes)):
        for served in config.namespaces or (None,):
            for item in await rt.kube.list_objects(plural, served):
                meta = item.get("metadata", {})
                registry[(meta.get("namespace", ""), meta.get("name", ""))] = _snapshot(item)
    _runtime = rt
    _sweeper = asyncio.create_task(retention.run_sweeper(rt), name="retention-sweeper")
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
    if _sweeper is not None:
        _sweeper.cancel()
    if _runtime is not None:
        await _runtime.close()


@kopf.on.event(GROUP, VERSION, "mailboxes")
async def mailbox_event(event: kopf.RawEvent, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    rt = runtime()
    key = (body.metadata.namespace or "", body.metadata.name or "")
    if event.get("type") == "DELETED":
        watch.mailbox_deleted(rt, key, body.metadata.labels)
        await lifecycle.mailbox_deleted(rt, key)
        return
    diff = watch.mailbox_seen(rt, key, _snapshot(body), _now())
    if diff is not None:
        patch.status.update(diff)


@kopf.on.event(GROUP, VERSION, "mailboxpools")
async def pool_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    rt = runtime()
    key = (body.metadata.namespace or "", body.metadata.name or "")
    if event.get("type") == "DELETED":
        await watch.pool_deleted(rt, key, _now())
        return
    if body.metadata.deletion_timestamp:
        return  # being deleted: pool_delete took it out of the index, no scan may bring it back
    watch.pool_seen(rt, key, _snapshot(body))


@kopf.on.delete(GROUP, VERSION, "mailboxpools")
async def pool_delete(name: str, namespace: str | None, **_: Any) -> None:
    """Before the finalizer goes: workers to zero, pool and mailboxes paused, remembered state forgotten."""
    await lifecycle.pool_deleted(runtime(), (namespace or "", name))


@kopf.on.delete(GROUP, VERSION, "campaigns")
async def campaign_delete(name: str, namespace: str | None, uid: str | None, **_: Any) -> None:
    """Before the finalizer goes: the campaign and its open jobs 'cancelled', so nothing more is sent."""
    await lifecycle.campaign_deleted(runtime(), (namespace or "", name), uid or "")


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

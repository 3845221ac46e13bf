"""One Campaign scan: observe → plan the projection → apply it → read the counts → plan the lifecycle →
apply it. Called by the campaign daemon in pot_operator.main.

A scan that raises says so on the Campaign (Ready=False, reason ReconcileError, the error in one line)
and in a Warning Event, instead of leaving the last good status standing; the next scans back off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pot_common.backoff import Backoff

from pot_operator.campaign.apply import apply_lifecycle, apply_projection
from pot_operator.campaign.observe import observe_campaign, observe_counts
from pot_operator.campaign.plan import CampaignObserved, Loaded, plan_lifecycle, plan_projection
from pot_operator.campaign.recipients import rejected_summary
from pot_operator.campaign.waits import pool_pause
from pot_operator.conditions import set_condition
from pot_operator.index import Body, Key
from pot_operator.pool.apply import post_event

if TYPE_CHECKING:
    from pot_operator.runtime import Runtime

log = logging.getLogger(__name__)

RECONCILE_ERROR = "ReconcileError"
# Failed scans are retried after 5 s, 10 s, 20 s ... at most 5 minutes (no jitter: one daemon per
# campaign, they do not fail in lockstep the way many clients of one server do).
SCAN_BACKOFF = Backoff(base=5.0, cap=300.0, uniform=lambda _low, high: high)
MESSAGE_LIMIT = 300
# Credentials that an error text may carry: a URL's user:password@, and key=value pairs named like secrets.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_SECRET_PAIR = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|api[_-]?key)\b(\s*[=:]\s*)\S+")


def error_summary(error: BaseException) -> str:
    """One line naming the error for a condition or Event (pure): its type and first line, with any
    credentials a URL or a `password=` pair carries masked."""
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_PAIR.sub(r"\1\2***", text)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def failure_status(
    status: dict[str, Any], message: str, retry_in: float, generation: int | None, now: dt.datetime
) -> dict[str, Any]:
    """The status patch for a failed scan (pure): Ready=False ReconcileError with the error and when the
    operator tries again; the phase and counts stay as the last good scan left them."""
    text = f"Reconcile failed: {message}; retrying in {retry_in:.0f}s"
    conditions = set_condition(
        list(status.get("conditions") or []),
        "Ready",
        False,
        RECONCILE_ERROR,
        text,
        generation=generation,
        now=now,
    )
    return {"conditions": conditions}


def rejected_rows_event(o: CampaignObserved, loaded: Loaded) -> tuple[str, str, str] | None:
    """The Warning Event naming each CSV row left out by record number and line, once: on the scan
    that loaded the list (pure). The rows around them were loaded and go on."""
    if loaded.inserted is None or o.recipients is None or not o.recipients.rejected:
        return None
    rejected = o.recipients.rejected
    return (
        "Warning",
        "RecipientsRejected",
        f"{len(rejected)} recipient rows left out, {loaded.inserted} send jobs created: "
        f"{rejected_summary(rejected, most=10)}",
    )


@dataclasses.dataclass
class Failing:
    """A campaign whose scans fail: how many in a row, when to try again, the last error told."""

    failures: int
    retry_at: float  # time.monotonic()
    message: str


@dataclasses.dataclass
class ScanFailures:
    """Campaigns whose last scan failed, per key; a scan that succeeds forgets its campaign."""

    backoff: Backoff = SCAN_BACKOFF
    clock: Callable[[], float] = time.monotonic
    failing: dict[Key, Failing] = dataclasses.field(default_factory=dict)

    def waiting(self, key: Key, clock: float) -> bool:
        f = self.failing.get(key)
        return f is not None and clock < f.retry_at

    def failed(self, key: Key, message: str, clock: float) -> tuple[Failing, bool]:
        """Count a failure; (the record, whether its message is new and worth an Event)."""
        previous = self.failing.get(key)
        failures = (previous.failures if previous else 0) + 1
        record = Failing(failures, clock + self.backoff.delay(failures), message)
        self.failing[key] = record
        return record, previous is None or previous.message != message

    def succeeded(self, key: Key) -> bool:
        """Forget the key; True when it had been failing."""
        return self.failing.pop(key, None) is not None


# One per operator process, as the daemons that call reconcile_campaign are.
FAILURES = ScanFailures()


async def reconcile_campaign(
    rt: Runtime, key: Key, body: Body, now: dt.datetime, failures: ScanFailures = FAILURES
) -> None:
    """Validate pool and recipients, materialise send jobs once, then track phase and counts.

    A failing scan raises after writing why on the Campaign (the daemon logs and counts it); until its
    backoff has passed, the next calls return at once.
    """
    clock = failures.clock()
    if failures.waiting(key, clock):
        return
    try:
        await _scan(rt, key, body, now)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        message = error_summary(error)
        record, new = failures.failed(key, message, clock)
        await _report(rt, key, body, record, new, now, max(0.0, record.retry_at - clock))
        raise
    if failures.succeeded(key):
        log.info("Reconciled campaign again: campaign=%s/%s", *key)


async def _scan(rt: Runtime, key: Key, body: Body, now: dt.datetime) -> None:
    observed = await observe_campaign(rt, key, body)
    if observed.spec is not None:  # a paused pool holds the campaign: its status says so
        pool = observed.spec.pool_ref.name
        paused = pool_pause(key[0], pool, rt.index.pools.get((key[0], pool)))
        observed = dataclasses.replace(observed, pool_pause=paused)
    projection = plan_projection(observed, now)
    loaded = await apply_projection(rt, observed, projection, now)
    if loaded is None:
        return
    if (event := rejected_rows_event(observed, loaded)) is not None:
        post_event(body, *event)
    counts = await observe_counts(rt, loaded.campaign_id)
    lifecycle = plan_lifecycle(observed, projection, loaded, counts, now)
    await apply_lifecycle(rt, observed, loaded, counts, lifecycle)


async def _report(
    rt: Runtime, key: Key, body: Body, record: Failing, new: bool, now: dt.datetime, retry_in: float
) -> None:
    """Ready=False with the error on the Campaign, and a Warning Event when the error is new; neither
    may hide the error itself, so their own failures are only logged."""
    status = dict(body.get("status") or {})
    generation = (body.get("metadata") or {}).get("generation")
    patch = failure_status(status, record.message, retry_in, generation, now)
    try:
        await rt.kube.patch_status("campaigns", key[0], key[1], patch)
    except Exception as error:  # the apiserver may be what fails
        log.warning("Writing campaign status failed: campaign=%s/%s error=%s", *key, error_summary(error))
    if new:
        post_event(
            body, "Warning", RECONCILE_ERROR, f"Reconcile failed: {record.message}; retrying with backoff"
        )
    log.warning(
        "Backed off campaign scans: campaign=%s/%s failures=%d retry_in=%.0fs error=%s",
        key[0],
        key[1],
        record.failures,
        retry_in,
        record.message,
    )

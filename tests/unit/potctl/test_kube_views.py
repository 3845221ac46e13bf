"""potctl's pure Kubernetes parts: status cells, pause patches and API error sentences."""

from __future__ import annotations

import datetime as dt
import json

from pot_common.annotations import RESUME_ANNOTATION
from pot_common.api.pool import MailboxCounts
from potctl.kube_views import (
    Target,
    api_error_message,
    mailboxes_cell,
    name_of,
    pause_patch,
    paused_cell,
    pool_row,
)

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


def test_mailboxes_cell_names_the_non_zero_states() -> None:
    assert mailboxes_cell(None) == "-"
    assert mailboxes_cell(MailboxCounts(total=3, active=2, warming=1)) == "3 (2 active, 1 warming)"
    assert mailboxes_cell(MailboxCounts(total=0)) == "0"


def test_paused_cell_prefers_the_operators_reason() -> None:
    assert paused_cell(False, None, None, None) == "no"
    assert paused_cell(True, "DNS move", None, None) == "yes: DNS move"
    assert paused_cell(True, "DNS move", True, "BounceRate") == "yes: BounceRate"
    assert paused_cell(False, None, True, None) == "yes"


def test_pause_patches() -> None:
    assert pause_patch(Target.POOL, True, "why", NOW) == {"spec": {"paused": True, "pauseReason": "why"}}
    assert pause_patch(Target.CAMPAIGN, True, None, NOW) == {"spec": {"paused": True}}
    resume = pause_patch(Target.POOL, False, None, NOW)
    assert resume["spec"] == {"paused": False, "pauseReason": None}
    assert resume["metadata"]["annotations"][RESUME_ANNOTATION] == "2026-11-27T10:00:00Z"
    assert "metadata" not in pause_patch(Target.MAILBOX, False, None, NOW)


def test_api_error_sentences() -> None:
    assert api_error_message(404, json.dumps({"details": {"name": "p"}}), "MailboxPool a/p") == (
        "MailboxPool a/p not found"
    )
    assert "CRDs are not installed" in api_error_message(404, "{}", "listing mailboxpools.pot.dev")
    forbidden = 'mailboxpools.pot.dev "p" is forbidden: User "bob" cannot patch'
    assert api_error_message(403, json.dumps({"message": forbidden}), "x") == forbidden
    assert api_error_message(401, None, "x").startswith("x: unauthorized")
    assert api_error_message(500, "not json", "x") == "x: the apiserver answered 500"


def test_an_unreadable_status_is_a_row_not_a_crash() -> None:
    pool = {"metadata": {"namespace": "n", "name": "p"}, "spec": {}, "status": {"capacityToday": "lots"}}
    assert name_of(pool) == ("n", "p")
    assert pool_row(pool)[:2] == ("p", "status unreadable")

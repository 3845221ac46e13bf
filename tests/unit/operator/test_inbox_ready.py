"""InboxReady from the ingester's word on the inbox (pure): each state it records, the mailbox states
it skips, the pool scan planning a memoised mailbox again when only that word changed, and the
ingester's own decision of what a failure records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pot_common.api.pool import MailboxPoolSpec
from pot_operator.conditions import get_condition
from pot_operator.credentials import CredentialCheck
from pot_operator.db import MailboxId
from pot_operator.index import parse_mailbox
from pot_operator.mailbox.inbox import InboxVerdict, inbox_verdict
from pot_operator.mailbox.plan import Observed, plan_mailbox
from pot_operator.pool.mailboxes import MailboxesSeen, plan_mailboxes
from pot_operator.pool.policy import policy_from_spec

from .test_controllers_pure import observed as mailbox_observed

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
SINCE = dt.datetime(2026, 3, 10, 11, 58, 7, tzinfo=dt.UTC)
ENDPOINT = "imap.acme-mail.test:993 (implicit)"
OK = CredentialCheck(True, "Verified", "ok")
POOL = policy_from_spec(
    "p",
    MailboxPoolSpec.model_validate(
        {"selector": {"matchLabels": {"p": "1"}}, "warmup": {"days": 14, "startVolume": 5, "maxVolume": 30}}
    ),
    paused=False,
)
SPEC: dict[str, Any] = {
    "address": "a@acme-mail.test",
    "smtp": {"host": "smtp.acme-mail.test"},
    "imap": {"host": "imap.acme-mail.test"},
    "credentials": {"vaultPath": "mailboxes/a"},
    "warmupStart": "2026-03-05",
}
REFUSED = "LOGIN refused: [AUTHENTICATIONFAILED] Authentication failed."


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (None, ("Unknown", "NotReadYet", f"The ingester has not read {ENDPOINT} yet")),
        (
            InboxVerdict("reading", None, SINCE),
            (True, "Reading", f"The ingester reads {ENDPOINT} since 2026-03-10T11:58:07Z"),
        ),
        (
            InboxVerdict("login_refused", REFUSED, SINCE),
            (
                False,
                "LoginRefused",
                f"The IMAP server {ENDPOINT} refused the login ({REFUSED}) since 2026-03-10T11:58:07Z",
            ),
        ),
        (
            InboxVerdict("plaintext_refused", "imap tlsMode none", SINCE),
            (
                False,
                "PlaintextRefused",
                f"The ingester may not log in to {ENDPOINT} without TLS (imap tlsMode none)"
                " since 2026-03-10T11:58:07Z",
            ),
        ),
        (
            InboxVerdict("failing", "ConnectionRefusedError: [Errno 111]", SINCE),
            (
                False,
                "InboxFailing",
                f"Reading {ENDPOINT} keeps failing (ConnectionRefusedError: [Errno 111])"
                " since 2026-03-10T11:58:07Z",
            ),
        ),
    ],
    ids=["not-read-yet", "reading", "login-refused", "plaintext-refused", "failing"],
)
def test_each_inbox_state_says_itself(read: InboxVerdict | None, expected: tuple[Any, str, str]) -> None:
    assert inbox_verdict(ENDPOINT, "smtp.acme-mail.test", "active", read) == expected


def test_an_unknown_host_and_a_skipped_mailbox_say_why_whatever_the_ingester_said_before() -> None:
    refused = InboxVerdict("login_refused", REFUSED, SINCE)
    status, reason, message = inbox_verdict(None, "smtp.nowhere.test", "active", refused)
    assert (status, reason) == (False, "ImapHostUnknown") and "smtp.nowhere.test" in message
    # The ingester does not read paused or SMTP-refused mailboxes: its old word is not news.
    assert inbox_verdict(ENDPOINT, "x", "paused", InboxVerdict("reading"))[:2] == (False, "NotRead")
    assert inbox_verdict(ENDPOINT, "x", "credentials_bad", refused)[:2] == (False, "NotRead")
    assert inbox_verdict(ENDPOINT, "x", "cooling", refused)[1] == "LoginRefused"  # cooling: still read


def observed(**kw: Any) -> Observed:
    """test_controllers_pure's mailbox, with spec.imap."""
    return mailbox_observed(**{"spec": parse_mailbox(SPEC).spec, **kw})


def inbox_ready(status: dict[str, Any]) -> tuple[str, str]:
    found = get_condition(status["conditions"], "InboxReady")
    assert found is not None
    return found["status"], found["reason"]


def test_a_refused_inbox_login_leaves_the_smtp_side_sending() -> None:
    plan = plan_mailbox(observed(inbox=InboxVerdict("login_refused", REFUSED, SINCE)), POOL, NOW)
    assert inbox_ready(plan.status) == ("False", "LoginRefused")
    assert plan.row.state == "active" and plan.row.daily_cap > 0
    ready = get_condition(plan.status["conditions"], "Ready")
    assert ready is not None and ready["status"] == "True"
    back = plan_mailbox(observed(inbox=InboxVerdict("reading", None, NOW), status=plan.status), POOL, NOW)
    assert inbox_ready(back.status) == ("True", "Reading")


def test_a_paused_mailbox_is_said_not_read() -> None:
    paused = parse_mailbox({**SPEC, "paused": True}).spec
    plan = plan_mailbox(observed(spec=paused, inbox=InboxVerdict("reading", None, SINCE)), POOL, NOW)
    assert inbox_ready(plan.status) == ("False", "NotRead")


KEY = ("ns", "a")
BODY = {"metadata": {"name": "a", "namespace": "ns", "generation": 1}, "spec": SPEC, "status": {}}


def seen(row: MailboxId, previous: Any = None) -> MailboxesSeen:
    """The scan's view of mailbox `a` with `row`, after the `previous` scan's writes were applied."""
    memos = {KEY: previous.memo} if previous else {}
    memories = {KEY: previous.plan.memory} if previous else {}
    selected = [(KEY, BODY, parse_mailbox(SPEC))]
    return MailboxesSeen(selected, {"a": row}, {}, {KEY: OK}, memories, {}, memos, {})


def test_the_scan_plans_a_memoised_mailbox_again_when_only_the_ingesters_word_changed() -> None:
    (first,) = plan_mailboxes(seen(MailboxId(1, "active")), POOL, NOW)
    assert inbox_ready(first.plan.status) == ("Unknown", "NotReadYet")
    (same,) = plan_mailboxes(seen(MailboxId(1, "active"), first), POOL, NOW)
    assert not same.fresh  # nothing changed: the memo's plan stands
    refused = MailboxId(1, "active", None, "login_refused", REFUSED, SINCE)
    (again,) = plan_mailboxes(seen(refused, first), POOL, NOW)
    assert again.fresh and inbox_ready(again.plan.status) == ("False", "LoginRefused")
    assert REFUSED in str(get_condition(again.plan.status["conditions"], "InboxReady"))


def test_the_ingester_records_a_refusal_at_once_and_other_failures_once_they_repeat() -> None:
    from pot_ingester.decide import FAILING_AFTER, inbox_state, one_line

    assert inbox_state("login", 1) == "login_refused"
    assert inbox_state("plaintext_refused", 1) == "plaintext_refused"
    assert inbox_state("imap", 1) is None  # one dropped connection is reconnected, nobody's news
    assert inbox_state("imap", FAILING_AFTER) == inbox_state("credentials", FAILING_AFTER) == "failing"
    assert inbox_state("postgres", 10) is None  # not the inbox's fault
    assert one_line("NO\r\n[AUTHENTICATIONFAILED]\tno") == "NO [AUTHENTICATIONFAILED] no"
    assert len(one_line("x" * 1000)) == 300

"""Unit tests for the pure parts of the controllers: selectors, recipient CSVs, phases, mailbox plans."""

import datetime as dt

import pytest
from pot_common.api.mailbox import MailboxSpec
from pot_common.api.pool import LabelSelector, MailboxPoolSpec
from pot_operator.campaign.plan import decide_phase
from pot_operator.campaign.recipients import RecipientsError, parse_recipient_csv
from pot_operator.credentials import CredentialCheck
from pot_operator.health import WindowCounts
from pot_operator.index import selector_matches
from pot_operator.mailbox.plan import MailboxMemory, Observed, plan_mailbox, plan_unselected
from pot_operator.pool.policy import policy_from_spec

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


def sel(**kw: object) -> LabelSelector:
    return LabelSelector.model_validate(kw)


def test_selector_match_labels_and_expressions() -> None:
    s = sel(
        matchLabels={"pool": "a"}, matchExpressions=[{"key": "tier", "operator": "In", "values": ["x", "y"]}]
    )
    assert selector_matches(s, {"pool": "a", "tier": "x"})
    assert not selector_matches(s, {"pool": "a", "tier": "z"})
    assert not selector_matches(s, {"pool": "b", "tier": "x"})
    assert selector_matches(sel(matchExpressions=[{"key": "t", "operator": "DoesNotExist"}]), {})
    assert not selector_matches(sel(matchExpressions=[{"key": "t", "operator": "Exists"}]), {})
    assert selector_matches(sel(matchExpressions=[{"key": "t", "operator": "NotIn", "values": ["a"]}]), {})


def test_empty_selector_selects_nothing() -> None:
    assert not selector_matches(LabelSelector(), {"anything": "x"})


def test_recipient_csv_keeps_variables_and_reports_bad_lines() -> None:
    parsed = parse_recipient_csv("email,first\na@x.test,A\nnot-an-address,B\n b@y.test , B \n")
    assert parsed.rows == [("a@x.test", {"first": "A"}), ("b@y.test", {"first": "B"})]
    assert parsed.rejected_lines == [3]


def test_recipient_csv_needs_an_email_column() -> None:
    with pytest.raises(RecipientsError):
        parse_recipient_csv("address\na@x.test\n")


def test_phase_follows_counts_and_completed_is_final() -> None:
    assert decide_phase(paused=False, total=0, open_jobs=0, previous=None) == "Pending"
    assert decide_phase(paused=False, total=5, open_jobs=5, previous="Pending") == "Running"
    assert decide_phase(paused=True, total=5, open_jobs=5, previous="Running") == "Paused"
    assert decide_phase(paused=False, total=5, open_jobs=0, previous="Running") == "Completed"
    assert decide_phase(paused=False, total=9, open_jobs=4, previous="Completed") == "Completed"


POOL_SPEC = MailboxPoolSpec.model_validate(
    {
        "selector": {"matchLabels": {"p": "1"}},
        "warmup": {"days": 14, "startVolume": 5, "maxVolume": 30},
        "health": {"minSample": 10, "cooldownSeconds": 3600},
        "autoPause": {"resume": "afterCooldown"},
    }
)
MAILBOX_SPEC = MailboxSpec.model_validate(
    {
        "address": "a@acme-mail.test",
        "smtp": {"host": "smtp.acme-mail.test"},
        "credentials": {"vaultPath": "mailboxes/a"},
        "warmupStart": "2026-03-05",
    }
)
OK = CredentialCheck(True, "Verified", "ok")


def observed(**kw: object) -> Observed:
    args: dict[str, object] = {
        "namespace": "ns",
        "name": "a",
        "generation": 1,
        "spec": MAILBOX_SPEC,
        "created": dt.date(2026, 3, 1),
        "status": {},
        "counts": WindowCounts(),
        "sent_today": 0,
        "credentials": OK,
        "worker_rejected_credentials": False,
        "memory": MailboxMemory(),
    }
    args.update(kw)
    return Observed(**args)  # type: ignore[arg-type]


def test_healthy_mailbox_is_ready_on_its_warmup_day() -> None:
    pool = policy_from_spec("p", POOL_SPEC, paused=False)
    plan = plan_mailbox(observed(), pool, NOW)
    assert plan.status["warmupDay"] == 6 and plan.state == "Warming"
    assert plan.row.daily_cap == plan.status["capToday"] > 5
    ready = next(c for c in plan.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert plan.row.credentials_ref == "vault:pot/ns/mailboxes/a"  # inside the namespace folder


def test_missing_secret_fails_the_mailbox_and_stops_its_sending() -> None:
    pool = policy_from_spec("p", POOL_SPEC, paused=False)
    plan = plan_mailbox(observed(credentials=CredentialCheck(False, "SecretMissing", "write it")), pool, NOW)
    assert plan.state == "Failed" and plan.row.daily_cap == 0 and plan.row.state == "paused"
    creds = next(c for c in plan.status["conditions"] if c["type"] == "CredentialsReady")
    assert (creds["status"], creds["reason"]) == ("False", "SecretMissing")


def test_bounces_cool_down_then_resume_at_reduced_cap() -> None:
    pool = policy_from_spec("p", POOL_SPEC, paused=False)
    plan = plan_mailbox(observed(counts=WindowCounts(attempted=20, bounced=5)), pool, NOW)
    assert plan.state == "Cooling" and plan.row.daily_cap == 0 and plan.row.state == "cooling"
    assert plan.events[0][1] == "CooldownStarted"
    assert plan.status["cooldownUntil"] == "2026-03-10T13:00:00Z"
    later = NOW + dt.timedelta(hours=1)
    resumed = plan_mailbox(observed(memory=plan.memory), pool, later)
    assert resumed.state == "Warming" and resumed.events[0][1] == "CooldownEnded"
    full = plan_mailbox(observed(), pool, later)
    assert resumed.row.daily_cap == full.row.daily_cap // 2
    assert resumed.memory.held_days == 0


def test_pool_pause_holds_the_mailbox_and_its_warmup_day() -> None:
    pool = policy_from_spec("p", POOL_SPEC, paused=True)
    first = plan_mailbox(observed(), pool, NOW)
    assert first.state == "Paused" and first.row.daily_cap == 0
    two_days_later = plan_mailbox(observed(memory=first.memory), pool, NOW + dt.timedelta(days=2))
    assert two_days_later.status["warmupDay"] == first.status["warmupDay"]


def test_unchanged_inputs_give_an_identical_status() -> None:
    pool = policy_from_spec("p", POOL_SPEC, paused=False)
    first = plan_mailbox(observed(), pool, NOW)
    again = plan_mailbox(
        observed(status=first.status, memory=first.memory), pool, NOW + dt.timedelta(minutes=5)
    )
    assert again.status == first.status


def test_unselected_mailbox_says_why() -> None:
    status = plan_unselected(3, {}, NOW)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "NoPoolSelects" and status["capToday"] == 0


def test_a_listed_domain_cools_the_mailbox_down_whatever_its_rates() -> None:
    pool = policy_from_spec("p", POOL_SPEC, paused=False)
    plan = plan_mailbox(observed(blocklisted="acme-mail.test listed on dbl.test"), pool, NOW)
    assert plan.state == "Cooling" and plan.row.daily_cap == 0 and plan.row.state == "cooling"
    healthy = next(c for c in plan.status["conditions"] if c["type"] == "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "BlocklistListed")
    assert plan.events == [
        ("Warning", "CooldownStarted", plan.events[0][2]),
    ] and plan.events[0][2].startswith("BlocklistListed: acme-mail.test listed on dbl.test")
    # Still listed when the cooldown ends: it cools down again, without a CooldownEnded in between.
    later = NOW + dt.timedelta(hours=1)
    again = plan_mailbox(observed(memory=plan.memory, blocklisted="still listed"), pool, later)
    assert again.state == "Cooling" and [e[1] for e in again.events] == ["CooldownStarted"]
    # Delisted: the cooldown ends as any other.
    delisted = plan_mailbox(observed(memory=plan.memory), pool, later)
    assert delisted.state == "Warming" and [e[1] for e in delisted.events] == ["CooldownEnded"]


def test_a_failed_preflight_holds_a_campaign_that_has_not_started() -> None:
    assert (
        decide_phase(paused=False, total=5, open_jobs=5, previous=None, preflight_blocks=True) == "Preflight"
    )
    assert decide_phase(paused=True, total=5, open_jobs=5, previous=None, preflight_blocks=True) == "Paused"
    assert (
        decide_phase(paused=False, total=5, open_jobs=5, previous="Preflight", preflight_blocks=False)
        == "Running"
    )

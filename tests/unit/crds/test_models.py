"""The CRD types as the operator uses them: examples parse, camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pot_common.api import (
    CampaignSpec,
    CampaignStatus,
    Condition,
    MailboxPoolSpec,
    MailboxSpec,
    MailboxStatus,
)
from pydantic import BaseModel, ValidationError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SPEC_MODELS: dict[str, type[BaseModel]] = {
    "Mailbox": MailboxSpec,
    "MailboxPool": MailboxPoolSpec,
    "Campaign": CampaignSpec,
}


def _example_docs() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] in SPEC_MODELS
    ]


@pytest.mark.parametrize("doc", _example_docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_example_specs_parse_and_round_trip(doc: dict[str, Any]) -> None:
    model = SPEC_MODELS[doc["kind"]].model_validate(doc["spec"])
    assert model.model_dump(mode="json", exclude_unset=True) == doc["spec"]


def test_examples_cover_three_mailboxes_over_two_domains_in_one_pool() -> None:
    docs = _example_docs()
    mailboxes = [d for d in docs if d["kind"] == "Mailbox"]
    pools = [d for d in docs if d["kind"] == "MailboxPool"]
    assert len(mailboxes) == 3 and len(pools) == 1
    assert {m["spec"]["address"].split("@")[1] for m in mailboxes} == {"acme-mail.test", "acme-outreach.test"}
    selector = pools[0]["spec"]["selector"]["matchLabels"]
    for mailbox in mailboxes:
        assert selector.items() <= mailbox["metadata"]["labels"].items()
        assert mailbox["spec"]["credentials"]["vaultPath"].startswith(
            "mailboxes/"
        )  # relative to the namespace


def test_example_recipients_exercise_the_sink_rules() -> None:
    configmap = next(
        d
        for p in EXAMPLES.glob("*.yaml")
        for d in yaml.safe_load_all(p.read_text())
        if d["kind"] == "ConfigMap"
    )
    rows = configmap["data"]["recipients.csv"].splitlines()
    assert rows[0].split(",")[0] == "email"
    local_parts = {row.split("@")[0].split("-")[0] for row in rows[1:]}
    assert {"bounce", "defer", "throttle", "full", "spam"} <= local_parts


def test_snake_case_in_python_camel_case_on_the_wire() -> None:
    spec = MailboxSpec(
        address="alice@acme-mail.test",
        display_name="Alice",
        smtp={"host": "mx.acme-mail.test", "tlsMode": "implicit", "port": 465},  # type: ignore[arg-type]
        credentials={"vault_path": "pot/mailboxes/demo/alice"},  # type: ignore[arg-type]
        warmup_start=date(2026, 11, 2),
    )
    assert spec.smtp.tls_mode == "implicit"
    assert spec.credentials.vault_path == "pot/mailboxes/demo/alice"
    wire = spec.model_dump(mode="json", exclude_none=True)
    assert wire["displayName"] == "Alice"
    assert wire["smtp"] == {"host": "mx.acme-mail.test", "port": 465, "tlsMode": "implicit"}
    assert wire["warmupStart"] == "2026-11-02"


def test_pool_defaults_apply_in_python_too() -> None:
    pool = MailboxPoolSpec.model_validate({"selector": {"matchLabels": {"pot.dev/pool": "p"}}})
    assert pool.limits.per_inbox_per_day == 30
    assert pool.limits.min_spacing_seconds == 600
    assert (pool.warmup.start_volume, pool.warmup.max_volume, pool.warmup.days) == (5, 30, 21)
    assert pool.health.bounce_rate_warn_basis_points == 200
    assert pool.health.complaint_rate_warn_basis_points == 10
    assert pool.auto_pause.resume == "manual"
    assert pool.sending_window is None


@pytest.mark.parametrize("address", ["alice@acme-mail.test", "x.y+tag@sub.acme-outreach.test"])
def test_email_addresses_at_test_domains_are_accepted(address: str) -> None:
    assert MailboxSpec.model_validate(_mailbox(address)).address == address


@pytest.mark.parametrize("address", ["alice", "alice@", "@acme-mail.test", "alice at acme-mail.test"])
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="address"):
        MailboxSpec.model_validate(_mailbox(address))


def _mailbox(address: str) -> dict[str, Any]:
    return {
        "address": address,
        "smtp": {"host": "mx.acme-mail.test"},
        "credentials": {"vaultPath": "mailboxes/x"},
    }


def test_status_builds_and_serialises_for_a_status_patch() -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    status = MailboxStatus(
        observed_generation=3,
        state="Warming",
        warmup_day=4,
        cap_today=9,
        sent_today=2,
        health_score=98,
        conditions=[
            Condition(
                type="Ready", status="True", reason="Sending", last_transition_time=now, observed_generation=3
            )
        ],
    )
    patch = status.model_dump(mode="json", exclude_none=True)
    assert patch["warmupDay"] == 4 and patch["capToday"] == 9 and patch["observedGeneration"] == 3
    assert patch["conditions"][0]["lastTransitionTime"].startswith("2026-11-27T10:00:00")
    assert patch["conditions"][0]["observedGeneration"] == 3
    campaign = CampaignStatus.model_validate({"phase": "Running", "counts": {"queued": 5, "sent": 2}})
    assert campaign.counts is not None and campaign.counts.bounced == 0


@pytest.mark.parametrize(
    "path",
    ["../acme/mailboxes/a", "mailboxes/../../acme/a", "/pot/acme/a", "mailboxes/./a", ".x", "a//b", "a/"],
)
def test_vault_paths_cannot_climb_out_of_the_namespace_folder(path: str) -> None:
    # The same rule as pot_common.vault.tenant_path, so the apiserver refuses what the operator would.
    with pytest.raises(ValidationError, match=r"vaultPath|vault_path"):
        MailboxSpec.model_validate({**_mailbox("a@acme-mail.test"), "credentials": {"vaultPath": path}})
    from pot_common.vault import VaultPathOutsideTenant, tenant_path

    with pytest.raises(VaultPathOutsideTenant):
        tenant_path("evil", path)


def test_a_campaign_names_no_tenant_its_namespace_is_one() -> None:
    assert "tenant" not in CampaignSpec.model_fields
    spec = CampaignSpec.model_validate(
        {
            "poolRef": {"name": "p"},
            "recipients": {"importName": "acme-list"},
            "template": {"subject": "s", "text": "t"},
            "tenant": "acme",  # a stale or hostile field is dropped, as the apiserver prunes it
        }
    )
    assert "tenant" not in spec.model_dump(by_alias=True)


@pytest.mark.parametrize(
    "host", ["a..b.test", ".acme.test", "acme.test.", "-x.test", "x-.test", "a" * 64 + ".test"]
)
def test_smtp_hosts_with_an_empty_or_malformed_label_are_refused(host: str) -> None:
    """One such Mailbox used to make every scan of its pool raise (DNS refuses the name)."""
    with pytest.raises(ValidationError, match="host"):
        MailboxSpec.model_validate({**_mailbox("a@acme-mail.test"), "smtp": {"host": host}})


@pytest.mark.parametrize(
    "host", ["smtp.acme-mail.test", "127.0.0.1", "localhost", "a-b.x1.test", "a" * 63 + ".test"]
)
def test_smtp_host_names_and_ipv4_addresses_are_accepted(host: str) -> None:
    assert (
        MailboxSpec.model_validate({**_mailbox("a@acme-mail.test"), "smtp": {"host": host}}).smtp.host == host
    )

"""The UnsubscribeTokens condition (pot_operator.campaign.observe.tokens_condition) says what the worker
does with a campaign's unsubscribe link: tokens, no tokens, or sends waiting for the key."""

from __future__ import annotations

from typing import Any

from pot_common.api.campaign import CampaignSpec
from pot_common.unsubscribe import TenantKey
from pot_operator.campaign.observe import tokens_condition


def spec(**unsubscribe: Any) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "poolRef": {"name": "outreach"},
            "recipients": {"importName": "leads"},
            "template": {"subject": "Hi", "text": "Hello"},
            **({"unsubscribe": unsubscribe} if unsubscribe else {}),
        }
    )


MISSING = TenantKey(None, "no secret at secret/pot/acme/unsubscribe")


def test_only_a_campaign_with_an_unsubscribe_url_has_the_condition() -> None:
    assert tokens_condition(spec(), MISSING) is None
    assert tokens_condition(spec(mailto="unsub@acme.test", oneClick=False), MISSING) is None


def test_the_condition_says_what_happens_to_the_link() -> None:
    ok, reason, _ = tokens_condition(spec(url="https://u.test/u"), TenantKey(b"k" * 32))  # type: ignore[misc]
    assert (ok, reason) == (True, "KeyFound")
    ok, reason, message = tokens_condition(spec(url="https://u.test/u"), MISSING)  # type: ignore[misc]
    assert (ok, reason) == (False, "KeyMissing")
    assert message.startswith("Links go out without a token") and "secret/pot/acme/unsubscribe" in message
    _, _, message = tokens_condition(spec(url="https://u.test/u/{token}"), MISSING)  # type: ignore[misc]
    assert message.startswith("Sends wait")
    away = TenantKey(None, "Vault unavailable", temporary=True)
    assert tokens_condition(spec(url="https://u.test/u"), away)[:2] == (False, "VaultUnavailable")  # type: ignore[index]


def test_the_projection_carries_the_condition_the_observe_step_made() -> None:
    from pot_operator.campaign.plan import plan_projection
    from pot_operator.conditions import get_condition

    from .test_campaign_plan import NOW, observed

    missing = tokens_condition(spec(url="https://u.test/u"), MISSING)
    conditions = plan_projection(observed(unsubscribe=missing), NOW).conditions
    assert (get_condition(conditions, "UnsubscribeTokens") or {}).get("reason") == "KeyMissing"
    assert get_condition(plan_projection(observed(), NOW).conditions, "UnsubscribeTokens") is None

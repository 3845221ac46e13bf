"""TemplateValid (pot_operator.campaign.template) and the CSV's record numbers and short rows."""

from __future__ import annotations

from typing import Any

import pytest
from pot_common.api.campaign import CampaignSpec
from pot_operator.campaign.recipients import RecipientsError, Rejected, parse_recipient_csv, rejected_summary
from pot_operator.campaign.template import check_template


def spec(**template: Any) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "poolRef": {"name": "p"},
            "recipients": {"configMapRef": {"name": "r"}},
            "template": {"subject": "Hi {{ first_name }}", "text": "t", **template},
        }
    )


def test_placeholders_known_as_columns_variables_or_sender_pass() -> None:
    s = spec(
        text="{{ company }} {{ sender_name }} {{ email }} {{ x | default('y') }}", variables={"company": "A"}
    )
    assert check_template(s, ["first_name"]).ok


def test_unknown_placeholders_are_named() -> None:
    check = check_template(spec(html="<p>{{ sender_nam }}</p>"), ["company"])
    assert not check.ok and check.reason == "UnknownPlaceholders"
    assert "first_name, sender_nam" in check.message


def test_a_syntax_error_holds_the_campaign_even_for_an_imported_list() -> None:
    check = check_template(spec(text="{% if %}"), None)
    assert not check.ok and check.reason == "TemplateSyntaxError"


def test_an_imported_list_with_unknown_columns_is_checked_for_syntax_only() -> None:
    assert check_template(spec(), None).ok


def test_rejected_rows_carry_record_and_line_when_quoted_newlines_shift_them() -> None:
    text = 'email,first\n"a@x.test","two\nlines"\nnot-an-address,B\nshort@x.test\nc@x.test,C\n'
    parsed = parse_recipient_csv(text)
    assert [a for a, _ in parsed.rows] == ["a@x.test", "c@x.test"]
    assert parsed.rejected == [Rejected(2, 4, "no valid address"), Rejected(3, 5, "1 of 2 fields")]
    assert parsed.columns == ("first",)
    assert rejected_summary(parsed.rejected, most=1) == "record 2 (line 4): no valid address; and 1 more"


def test_rows_keep_the_file_order_and_duplicates_for_the_database_to_pick_the_first() -> None:
    parsed = parse_recipient_csv("email,n\nz@x.test,1\na@x.test,2\nZ@x.test,3\n")
    assert parsed.rows == [("z@x.test", {"n": "1"}), ("a@x.test", {"n": "2"}), ("Z@x.test", {"n": "3"})]


def test_a_nul_is_a_rejected_row_and_an_oversized_field_a_clear_error() -> None:
    parsed = parse_recipient_csv("email,n\na@x.test,a\x00b\nb@x.test,ok\n")
    assert parsed.rejected == [Rejected(1, 2, "a NUL character")]
    with pytest.raises(RecipientsError, match="record 1 \\(line 2\\)"):
        parse_recipient_csv("email,n\na@x.test," + "x" * 140_000 + "\n")

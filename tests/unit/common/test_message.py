"""Message rendering and header-injection safety (pot_common.message, used by the worker for every job)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest
from pot_common.message import (
    WIRE_POLICY,
    InvalidRecipient,
    Sender,
    Template,
    build_message,
    header_safe,
    message_bytes,
    message_id,
    parse_recipient,
    render,
    text_part,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# A name no recipient has needs a fallback: without one, rendering refuses (test_a_missing_value_...).
TEMPLATE = Template(
    subject="Hello {{ first_name | default('there') }}",
    text="Hi {{first_name|d('there')}}, about {{ company|d('you') }}.\nUnsubscribe: {{ missing|d('') }}",
    html="<p>Hi {{ first_name | default('there') }}</p>",
    unsubscribe_url="https://unsub.example/u?e={{ email }}",
    unsubscribe_mailto="unsub@example.com?subject={{ email }}",
)
SENDER = Sender("alice@acme-outreach.test", "Alice from Acme")


def parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def build(recipient: str = "bob@good.test", **variables: object) -> email.message.EmailMessage:
    msg = build_message(TEMPLATE, SENDER, recipient, variables, "<pot.1.2.1@acme-outreach.test>", NOW)
    return parse(message_bytes(msg))


def test_render_fills_placeholders_and_blanks_unknown_ones() -> None:
    assert render("a {{ x }} b {{y}} c {{ z }}", {"x": 1, "y": "two"}) == "a 1 b two c "


def test_render_has_no_expressions_or_attribute_access() -> None:
    assert render("{{ x.__class__ }} {x} {{ x }}", {"x": "v"}) == "{{ x.__class__ }} {x} v"


def test_html_values_are_escaped() -> None:
    assert render("<p>{{ n }}</p>", {"n": "<script>"}, escape=True) == "<p>&lt;script&gt;</p>"


def test_message_has_the_required_headers() -> None:
    msg = build(first_name="Bob", company="Globex")
    assert msg["Subject"] == "Hello Bob"
    assert msg["To"] == "bob@good.test"
    assert msg["From"] == "Alice from Acme <alice@acme-outreach.test>"
    assert msg["Message-ID"] == "<pot.1.2.1@acme-outreach.test>"
    assert msg["List-Unsubscribe"] == (
        "<https://unsub.example/u?e=bob%40good.test>, <mailto:unsub@example.com?subject=bob%40good.test>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(("plain",))
    assert text is not None and "Hi Bob, about Globex." in text.get_content()


def test_one_click_header_only_with_an_https_link() -> None:
    template = Template("s", "t", None, None, "unsub@example.com")
    msg = build_message(template, SENDER, "bob@good.test", {}, "<id@x>", NOW)
    assert msg["List-Unsubscribe"] == "<mailto:unsub@example.com>"
    assert msg["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    "evil",
    [
        "Bob\r\nBcc: victim@evil.test",
        "Bob\nBcc: victim@evil.test",
        "Bob\rBcc: victim@evil.test",
        "Bob\r\n\r\nInjected body",
        "Bob\x00\x0bBcc: victim@evil.test",
    ],
)
def test_recipient_variables_cannot_add_headers(evil: str) -> None:
    msg = build(first_name=evil, company=evil)
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Subject"].startswith("Hello Bob")
    assert sorted(set(msg.keys())) == sorted(
        {
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "Content-Type",
            "MIME-Version",
        }
    )


def test_unsubscribe_link_values_are_url_quoted() -> None:
    template = Template("s", "t", None, "https://u.example/?n={{ first_name }}", None)
    msg = build_message(template, SENDER, "bob@good.test", {"first_name": "a>\r\nBcc: x"}, "<id@x>", NOW)
    parsed = parse(message_bytes(msg))
    assert parsed["Bcc"] is None
    assert parsed["List-Unsubscribe"] == "<https://u.example/?n=a%3E%0D%0ABcc%3A%20x>"


@pytest.mark.parametrize(
    "address",
    [
        "bob@good.test\r\nBcc: victim@evil.test",
        "bob@good.test, eve@evil.test",
        "Bob <bob@good.test>",
        "bob@good.test>",
        "no-at-sign",
        "bob @good.test",
        "bøb@good.test",
        "@good.test",
    ],
)
def test_unusable_recipient_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidRecipient):
        parse_recipient(address)


def test_plain_address_is_accepted() -> None:
    assert parse_recipient("first.last+tag@sub.good.test") == "first.last+tag@sub.good.test"


def test_header_safe_removes_every_control_character() -> None:
    assert header_safe(" a\r\nb\tc\x7f ") == "a b c"


def test_message_id_is_deterministic_per_attempt() -> None:
    assert message_id(3, 17, 2, "a@acme.test") == "<pot.3.17.2@acme.test>"
    assert message_id(3, 17, 2, "a@acme.test") != message_id(3, 17, 3, "a@acme.test")


def test_the_generator_refuses_an_embedded_header_as_a_second_guard() -> None:
    from email.errors import HeaderParseError

    msg = build_message(TEMPLATE, SENDER, "bob@good.test", {}, "<id@x>", NOW)
    msg["X-Raw"] = "value\r\nBcc: victim@evil.test"  # bypassing header_safe on purpose
    with pytest.raises(HeaderParseError):
        message_bytes(msg)


def test_non_ascii_values_are_encoded_not_mangled() -> None:
    msg = build(first_name="Jürgen", company="Größe")
    assert msg["Subject"] == "Hello Jürgen"
    text = msg.get_body(("plain",))
    assert text is not None and "Jürgen, about Größe." in text.get_content()
    assert all(
        b < 128
        for b in message_bytes(
            build_message(TEMPLATE, SENDER, "b@good.test", {"first_name": "Jö"}, "<id@x>", NOW)
        )
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Subject", "Hello  there  "),
        ("Subject", "=?utf-8?q?x?="),
        ("To", "a@b.test"),
        ("Subject", "a\tb"),
        ("X-Empty", ""),
        ("Subject", "word " * 30),  # too long: compat32 folds it
        ("Subject", "Grüße"),  # not ASCII: compat32 encodes it
    ],
)
def test_wire_policy_writes_headers_exactly_as_compat32(name: str, value: str) -> None:
    from email.policy import compat32

    assert WIRE_POLICY.fold_binary(name, value) == compat32.clone(linesep="\r\n").fold_binary(name, value)


def test_wire_policy_still_refuses_an_embedded_header() -> None:
    from email.errors import HeaderParseError

    with pytest.raises(HeaderParseError):
        WIRE_POLICY.fold_binary("Subject", "one\r\nBcc: evil@x.test")


@pytest.mark.parametrize(
    "address",
    [
        "a@b.test",
        "first.last+tag@sub.good.test",
        "o'neil@x.test",
        "x!#$%&*/=?^_`{|}~-@y.test",
        "a@[127.0.0.1]",
    ],
)
def test_the_fast_address_check_agrees_with_the_full_parser(address: str) -> None:
    from email.headerregistry import Address

    assert parse_recipient(address) == Address(addr_spec=address).addr_spec


@pytest.mark.parametrize("address", ["a..b@x.test", ".a@x.test", "a@x..test", "a@", "@x.test", "a@b@c.test"])
def test_malformed_dot_atoms_are_still_refused(address: str) -> None:
    with pytest.raises(InvalidRecipient):
        parse_recipient(address)


@pytest.mark.parametrize(
    "body",
    ["Hi there", "Grüße, Jürgen", "x" * 300, "a = b\nline with trailing space \nend", "tab\there\r\nnext"],
)
@pytest.mark.parametrize("subtype", ["plain", "html"])
def test_text_part_is_byte_for_byte_mimetext(body: str, subtype: str) -> None:
    from email.charset import QP, Charset
    from email.mime.text import MIMEText

    utf8_qp = Charset("utf-8")
    utf8_qp.body_encoding = QP
    expected = MIMEText(body, subtype, utf8_qp)  # type: ignore[arg-type]
    assert text_part(body, subtype).as_bytes(policy=WIRE_POLICY) == expected.as_bytes(policy=WIRE_POLICY)


# render_message writes the bytes itself when every header is one short ASCII line; it must be
# indistinguishable from the email package's message, on and off that path.
PLAIN = Template(
    "Hello {{ first_name }}", "Hi {{ first_name }},\nabout {{ company | default('it') }}.", None, None, None
)
WITH_LINKS = Template(
    "Hello {{ first_name }}",
    "Hi {{ first_name }}, " + "x" * 300,
    None,
    "https://u.example/?e={{ email }}",
    "unsub@example.com?subject={{ email }}",
)
RENDER_CASES = [
    (TEMPLATE, SENDER, {"first_name": "Bob", "company": "Globex"}),
    (PLAIN, SENDER, {"first_name": "Bob", "company": "Globex"}),
    (WITH_LINKS, Sender("a@acme-outreach.test", ""), {"first_name": "Bob"}),
    (PLAIN, Sender("a@acme-outreach.test", 'Quote "Me", Inc.'), {"first_name": "Bob"}),
    (TEMPLATE, Sender("a@acme-outreach.test", "Jörg"), {"first_name": "Jürgen", "company": "Größe"}),
    (TEMPLATE, SENDER, {"first_name": "word " * 20}),  # a Subject compat32 must fold
    (TEMPLATE, SENDER, {"first_name": "Bob\r\nBcc: victim@evil.test", "company": "a\rb\nc"}),
    (PLAIN, SENDER, {"first_name": "From the start", "company": "end with a newline\n"}),
    (Template("", "", "", None, None), SENDER, {}),
    (PLAIN, SENDER, {"first_name": "x" * 5000}),  # a Subject too long for one line: encoded words
    (
        Template(
            "{Hi|Hello} {{ sender_name }}", "{{ sender_signature }}", None, "https://u.test/{token}", None
        ),
        Sender("a@acme-outreach.test", "Ann", "--\nAnn"),
        {},
    ),
    (
        Template("s", "From x\r\n.\r\nline\rline\n", "<b>{{ a }}</b>\n", None, "m@x.test"),
        SENDER,
        {"a": "<&>"},
    ),
]


@pytest.mark.parametrize(("template", "sender", "variables"), RENDER_CASES)
def test_render_message_is_byte_for_byte_the_email_package(
    template: Template, sender: Sender, variables: dict[str, object]
) -> None:
    from pot_common.message import render_message

    args = (template, sender, "bob@good.test", variables, "<pot.1.2.1@acme-outreach.test>", NOW)
    boundary = "=_pot_0123456789abcdef"
    expected = message_bytes(build_message(*args, boundary=boundary))
    assert render_message(*args, boundary=boundary) == expected


def test_render_message_refuses_an_embedded_header_like_the_generator() -> None:
    from email.errors import HeaderParseError

    from pot_common.message import render_message

    # Message ids are built by message_id(), never from recipient data; a caller passing a raw one
    # still meets the policy's fold, which refuses it.
    with pytest.raises(HeaderParseError):
        render_message(
            PLAIN, SENDER, "bob@good.test", {"first_name": "Bob"}, "<id@x.test>\r\nBcc: v@evil.test", NOW
        )


def test_multipart_boundaries_differ_and_never_occur_in_a_part() -> None:
    from pot_common.message import new_boundary, render_message

    assert new_boundary() != new_boundary()
    boundary = "=_pot_0123456789abcdef"
    evil = f"--{boundary}\n--{boundary}--\n"
    template = Template("s", "{{ a }}", "{{ a }}", None, None)
    raw = render_message(template, SENDER, "bob@good.test", {"a": evil}, "<id@x.test>", NOW, boundary)
    parts = list(parse(raw).iter_parts())
    assert [p.get_content().replace("\r\n", "\n") for p in parts] == [evil, evil]


def test_campaign_variables_fill_what_the_recipient_lacks_and_the_recipient_wins() -> None:
    template = Template(
        "s", "{{ a }} {{ b }} {{ sender_name }}", None, None, None, variables={"a": "A", "b": "B"}
    )
    raw = build_message(template, SENDER, "bob@good.test", {"b": "mine", "a": ""}, "<id@x>", NOW)
    text = parse(message_bytes(raw)).get_body(("plain",))
    assert text is not None and text.get_content() == "A mine Alice from Acme"


def test_sender_variables_come_from_the_mailbox() -> None:
    template = Template(
        "s", "{{ sender_name }} <{{ sender_email }}>\n{{ sender_signature }}", None, None, None
    )
    sender = Sender("ann@acme-outreach.test", "Ann", "Ann, Acme")
    raw = build_message(template, sender, "bob@good.test", {}, "<id@x>", NOW)
    text = parse(message_bytes(raw)).get_body(("plain",))
    assert (
        text is not None
        and text.get_content().replace("\r\n", "\n") == "Ann <ann@acme-outreach.test>\nAnn, Acme"
    )


def test_a_missing_value_is_refused_not_sent_as_a_hole() -> None:
    from pot_common.templates import TemplateError

    with pytest.raises(TemplateError, match="sender_nam"):
        build_message(
            Template("s", "I am {{ sender_nam }}", None, None, None), SENDER, "b@x.test", {}, "<i@x>", NOW
        )


def test_one_click_false_leaves_the_post_header_out() -> None:
    template = Template("s", "t", None, "https://u.test/u", None, one_click=False)
    msg = build_message(template, SENDER, "bob@good.test", {}, "<id@x>", NOW)
    assert msg["List-Unsubscribe"] == "<https://u.test/u>"
    assert msg["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u.test/u", "<https://u.test/u?token=T.K>"),
        ("https://u.test/u?c=1", "<https://u.test/u?c=1&token=T.K>"),
        ("https://u.test/u/{token}", "<https://u.test/u/T.K>"),
    ],
)
def test_the_token_goes_in_place_of_its_placeholder_or_the_query(url: str, expected: str) -> None:
    template = Template("s", "t", None, url, None)
    msg = build_message(template, SENDER, "bob@good.test", {}, "<id@x>", NOW, token="T.K")
    assert msg["List-Unsubscribe"] == expected


def test_a_5000_character_subject_is_folded_under_998_octets() -> None:
    from pot_common.message import render_message

    raw = render_message(PLAIN, SENDER, "bob@good.test", {"first_name": "x" * 5000}, "<id@x.test>", NOW)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert parse(raw)["Subject"] == "Hello " + "x" * 5000


def test_spintax_is_stable_per_recipient_and_varies_across_them() -> None:
    template = Template("{A|B|C|D}", "t", None, None, None, campaign="ns/c")
    subjects = {
        a: {build_message(template, SENDER, a, {}, "<i@x>", NOW)["Subject"] for _ in range(3)}
        for a in (f"r{n}@x.test" for n in range(40))
    }
    assert all(len(s) == 1 for s in subjects.values())
    assert {s.pop() for s in subjects.values()} == {"A", "B", "C", "D"}

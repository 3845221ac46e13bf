"""The campaign template language (pot_common.templates): sandbox, strictness, fallbacks, spintax."""

from __future__ import annotations

import pytest
from pot_common.templates import (
    TemplateError,
    compile_template,
    context,
    expand_spintax,
    spin_seed,
    unknown_names,
)


def render(source: str, address: str = "bob@x.test", html: bool = False, **values: object) -> str:
    return compile_template(source, html).render(context(address, values, seed=spin_seed("ns/c", address)))


def test_placeholders_and_fallbacks() -> None:
    assert render("Hi {{ first_name }}", first_name="Bob") == "Hi Bob"
    assert render('Hi {{ first_name | default("there") }}') == "Hi there"
    assert render('Hi {{ first_name | default("there") }}', first_name="") == "Hi there"
    assert render('Hi {{ first_name | d("there") }}', first_name="Ann") == "Hi Ann"


def test_an_unknown_name_is_an_error_not_a_hole() -> None:
    with pytest.raises(TemplateError, match="'first_name' is undefined"):
        render("Hi {{ first_name }}")


def test_the_sandbox_refuses_attribute_escapes() -> None:
    with pytest.raises(TemplateError):
        render("{{ x.__class__.__mro__[1].__subclasses__() }}", x="v")


def test_a_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match="line 2"):
        compile_template("ok\n{{ broken ")


def test_html_values_are_escaped_and_text_values_are_not() -> None:
    assert render("<p>{{ n }}</p>", html=True, n="<script>") == "<p>&lt;script&gt;</p>"
    assert render("{{ n }}", n="<b>") == "<b>"


def test_the_body_keeps_its_last_line_end() -> None:
    assert render("a\n") == "a\n"


def test_spintax_expands_to_a_choice_and_leaves_other_braces() -> None:
    assert expand_spintax("{x} {{ a }} {%raw%}{a|b}{%endraw%}") == "{x} {{ a }} {%raw%}{a|b}{%endraw%}"
    assert "__pot_spin(0, 2)" in expand_spintax("{Hi|Hello}")
    assert expand_spintax("{{ a | default('b') }}") == "{{ a | default('b') }}"


def test_spintax_options_may_hold_placeholders_and_nested_spintax() -> None:
    seen = {render("{Hi {{ n }}|{Hey|Yo} {{ n }}}", address=f"r{i}@x.test", n="Bo") for i in range(60)}
    assert seen == {"Hi Bo", "Hey Bo", "Yo Bo"}


def test_spintax_is_stable_for_a_recipient_whatever_the_case_of_the_address() -> None:
    a = [render("{a|b|c|d|e|f}", address="Bob@X.test") for _ in range(5)]
    assert len(set(a)) == 1 and a[0] == render("{a|b|c|d|e|f}", address="bob@x.test")


def test_compiled_once_per_source() -> None:
    assert compile_template("Hello {{ n }}") is compile_template("Hello {{ n }}")


def test_unknown_names_ignores_defaults_loops_and_always_defined_names() -> None:
    sources = [
        ("{{ a }} {{ b|d('x') }} {{ email }} {{ sender_name }}", False),
        ("{% for i in xs %}{{ i }}{% endfor %}{% if c is defined %}{{ c }}{% endif %} {{ zz }}", True),
    ]
    assert unknown_names(sources, ["xs"]) == ["a", "zz"]


def test_a_name_used_once_without_its_fallback_is_still_required() -> None:
    assert unknown_names([("{{ a|d('x') }} {{ a }}", False)], []) == ["a"]


def test_context_precedence() -> None:
    values = context(
        "b@x.test", {"a": "", "c": "row"}, {"a": "campaign", "c": "campaign"}, {"sender_name": "S"}
    )
    assert (values["a"], values["c"], values["sender_name"], values["email"]) == (
        "campaign",
        "row",
        "S",
        "b@x.test",
    )

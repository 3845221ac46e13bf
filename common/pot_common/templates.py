"""The campaign template language: the worker (every message), potctl preview and the operator's check.

Jinja2's sandboxed environment with strict undefined: `{{ name }}`, fallbacks
(`{{ first_name | default("there") }}`, which also replaces an empty value), filters and conditions.
On top of it, spintax: `{Hi|Hello}` picks one option per recipient, the same one every time for the
same campaign and address (the seed), so a retry or a preview never changes the words. Options may
hold placeholders and further spintax; a brace group without `|` is left as written.

A template is compiled once (`compile_template`, cached by its source) and rendered per recipient.
Values come from three places, later ones winning: the sender (`sender_name`, `sender_email`,
`sender_signature`), the campaign's `template.variables`, the recipient's own columns (an empty
cell does not blank a campaign value). `email` is always the recipient.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

SENDER_VARIABLES = ("sender_name", "sender_email", "sender_signature")
ALWAYS_DEFINED = ("email", *SENDER_VARIABLES)
_SPIN = "__pot_spin"  # the context name of the option picker; not a name a CSV column can have
_JINJA_OPEN = ("{{", "{%", "{#")
_JINJA_CLOSE = {"{{": "}}", "{%": "%}", "{#": "#}"}


class TemplateError(ValueError):
    """A template that does not compile, or a value it needs that the recipient does not have."""


def _default(value: Any, fallback: Any = "", boolean: bool = True) -> Any:
    """Jinja's `default`, but an empty value (an empty CSV cell) also takes the fallback."""
    if isinstance(value, jinja2.Undefined) or (boolean and not value):
        return fallback
    return value


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,  # the body is written as given, to its last line end
        auto_reload=False,
        cache_size=0,  # compile_template caches; Jinja's own cache would hold a second copy
    )
    env.filters["default"] = env.filters["d"] = _default
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


_RAW = re.compile(r"\{%-?\s*raw\s*-?%\}")
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")


def _skip_tag(source: str, i: int) -> int:
    """The index after the Jinja tag opening at `i` (after its endraw for a raw block; the end of the
    source for an unclosed one)."""
    if (raw := _RAW.match(source, i)) is not None:
        endraw = _ENDRAW.search(source, raw.end())
        return len(source) if endraw is None else endraw.end()
    end = source.find(_JINJA_CLOSE[source[i : i + 2]], i + 2)
    return len(source) if end < 0 else end + 2


def _spin_group(source: str, i: int) -> tuple[list[str], int] | None:
    """The options of the spintax group opening at `i` and the index after it; None if it is none."""
    options, start, depth, j = [], i + 1, 0, i + 1
    while j < len(source):
        if source[j : j + 2] in _JINJA_OPEN:
            j = _skip_tag(source, j)
            continue
        c = source[j]
        if c == "{":
            depth += 1
        elif c == "}" and depth:
            depth -= 1
        elif c == "}":
            options.append(source[start:j])
            return (options, j + 1) if len(options) > 1 else None
        elif c == "|" and not depth:
            options.append(source[start:j])
            start = j + 1
        j += 1
    return None


def expand_spintax(source: str, counter: list[int] | None = None) -> str:
    """The source with every spintax group turned into a Jinja choice (pure; Jinja tags untouched)."""
    counter = counter if counter is not None else [0]
    out, i, literal = [], 0, 0
    while i < len(source):
        if source[i : i + 2] in _JINJA_OPEN:
            i = _skip_tag(source, i)
            continue
        if source[i] == "{" and (group := _spin_group(source, i)) is not None:
            options, after = group
            out.append(source[literal:i])
            n = counter[0]
            counter[0] += 1
            branches = [
                f"{{% {'if' if k == 0 else 'elif'} {_SPIN}({n}, {len(options)}) == {k} %}}"
                + expand_spintax(option, counter)
                for k, option in enumerate(options)
            ]
            out.append("".join(branches) + "{% endif %}")
            i = literal = after
            continue
        i += 1
    out.append(source[literal:])
    return "".join(out)


@dataclass(frozen=True)
class Compiled:
    """One compiled template and the names it reads."""

    source: str
    template: jinja2.Template
    names: frozenset[str]

    def render(self, context: Mapping[str, Any]) -> str:
        try:
            return self.template.render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(_describe(exc)) from exc


def _describe(exc: jinja2.TemplateError) -> str:
    message = str(exc.message or exc)
    if isinstance(exc, jinja2.UndefinedError):
        return f"template: {message} (not a column, a template variable or a sender variable)"
    return f"template: {message}"


@functools.lru_cache(maxsize=512)
def compile_template(source: str, html: bool = False) -> Compiled:
    """The compiled template for a source (cached: a campaign's templates compile once per process)."""
    env = _HTML if html else _TEXT
    expanded = expand_spintax(source)
    try:
        ast = env.parse(expanded)
        template = env.from_string(ast)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template: {exc.message} (line {exc.lineno})") from exc
    return Compiled(source, template, _required(ast))


def _required(ast: nodes.Template) -> frozenset[str]:
    """Names the template reads from outside without a fallback: a use under `default` is optional, and
    a name the template tests with `is defined` is optional everywhere (its author handled it)."""
    undeclared = jinja2.meta.find_undeclared_variables(ast) - {_SPIN}
    defaulted: Counter[str] = Counter()
    tested: set[str] = set()
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        if not isinstance(node.node, nodes.Name):
            continue
        if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
            defaulted[node.node.name] += 1
        elif isinstance(node, nodes.Test) and node.name in ("defined", "undefined"):
            tested.add(node.node.name)
    used = Counter(n.name for n in ast.find_all(nodes.Name) if n.ctx == "load")
    return frozenset(n for n in undeclared if n not in tested and used[n] > defaulted[n])


def spinner(seed: str) -> Any:
    """The option picker for one recipient: stable for a seed, independent between groups."""
    base = hashlib.blake2b(seed.encode("utf-8"), digest_size=16).digest()

    @functools.cache
    def pick(group: int, options: int) -> int:
        digest = hashlib.blake2b(group.to_bytes(4, "big"), digest_size=8, key=base).digest()
        return int.from_bytes(digest, "big") % options

    return pick


def spin_seed(campaign: str, address: str) -> str:
    """The seed of a recipient's spintax choices: the campaign and the address (case-insensitive)."""
    return f"{campaign}\x00{address.lower()}"


def context(
    recipient: str,
    variables: Mapping[str, object],
    campaign_variables: Mapping[str, object] = {},
    sender: Mapping[str, object] = {},
    seed: str | None = None,
) -> dict[str, object]:
    """The values one message is rendered with: sender < campaign < recipient; `email` is the recipient."""
    values: dict[str, object] = {**sender, **campaign_variables}
    for key, value in variables.items():
        if value is not None and value != "":
            values[key] = value
        else:
            values.setdefault(key, "" if value is None else value)
    values["email"] = recipient
    values[_SPIN] = spinner(seed if seed is not None else recipient.lower())
    return values


def unknown_names(sources: Iterable[tuple[str, bool]], known: Iterable[str]) -> list[str]:
    """Placeholders of the templates that nothing defines (sorted); TemplateError if one does not compile.

    `sources` are (source, html) pairs; `known` are the CSV columns and the campaign's variables.
    """
    defined = set(known) | set(ALWAYS_DEFINED)
    missing: set[str] = set()
    for source, html in sources:
        missing |= compile_template(source, html).names - defined
    return sorted(missing)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def usable_name(name: str) -> bool:
    """Whether a column or variable name can be used as a placeholder."""
    return bool(_NAME.match(name))


__all__ = [
    "ALWAYS_DEFINED",
    "SENDER_VARIABLES",
    "Compiled",
    "TemplateError",
    "compile_template",
    "context",
    "expand_spintax",
    "spin_seed",
    "spinner",
    "unknown_names",
    "usable_name",
]

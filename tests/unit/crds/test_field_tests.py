"""Every spec field of the three kinds names a test that proves it (pot_common.api.field_tests), and
every named test exists; docs/api.md shows them."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest
from pot_common.api import KINDS
from pot_common.api.field_tests import FIELD_TESTS
from pot_common.api.generate import kind_reference, spec_fields

REPO = Path(__file__).resolve().parents[3]

# Fields without a proving test yet, each with a comment saying why; the lead decides whether to write
# one or remove the field. A field leaves this set when FIELD_TESTS names its test.
KNOWN_UNTESTED: set[tuple[str, str]] = set()  # (kind, field path)


@cache
def _test_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


@pytest.mark.parametrize("kind", KINDS, ids=[k.kind for k in KINDS])
def test_every_spec_field_names_a_test(kind) -> None:  # type: ignore[no-untyped-def]
    fields = spec_fields(kind)
    named = FIELD_TESTS.get(kind.kind, {})
    missing = [f for f in fields if not named.get(f) and (kind.kind, f) not in KNOWN_UNTESTED]
    assert not missing, f"{kind.kind} fields with no test in pot_common/api/field_tests.py: {missing}"
    stale = sorted(set(named) - set(fields))
    assert not stale, f"{kind.kind} has no such fields (renamed or removed?): {stale}"
    both = [f for f in fields if named.get(f) and (kind.kind, f) in KNOWN_UNTESTED]
    assert not both, f"tested now, take them out of KNOWN_UNTESTED: {both}"


def test_every_named_test_exists() -> None:
    gone = []
    for kind, fields in FIELD_TESTS.items():
        for field, tests in fields.items():
            for test in tests:
                file, _, function = test.partition("::")
                path = REPO / file
                if not file.startswith("tests/") or not path.is_file() or function not in _test_names(path):
                    gone.append(f"{kind} {field}: {test}")
    assert not gone, "named tests that do not exist:\n" + "\n".join(gone)


def test_the_reference_shows_each_fields_test() -> None:
    mailbox = next(k for k in KINDS if k.kind == "Mailbox")
    text = kind_reference(mailbox)
    assert "| Tested by |" in text
    row = next(line for line in text.splitlines() if line.startswith("| `spec.warmupStart`"))
    assert row.endswith("`tests/unit/operator/test_warmup.py::test_day_counts_from_the_start_date` |")
    assert next(line for line in text.splitlines() if line.startswith("| `spec.smtp` ")).endswith("|  |")

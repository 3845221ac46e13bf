"""The classifier on the labelled corpus (tests/unit/feedback/corpus/<source>/*.eml, labels.json): every
message gets its label, and the score per source is printed for the closing note (pytest -s)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from pot_feedback.classify import classify

CORPUS = Path(__file__).parent / "corpus"
LABELS: dict[str, dict[str, object]] = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))


def test_every_message_has_a_label_and_every_label_a_message() -> None:
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*.eml")}
    assert files == set(LABELS)
    assert len(files) >= 40


@pytest.mark.parametrize("name", sorted(LABELS))
def test_message_gets_its_label(name: str) -> None:
    label = LABELS[name]
    verdict = classify((CORPUS / name).read_bytes())
    got = {
        "kind": verdict.kind,
        "status": verdict.status,
        "hard": verdict.hard,
        "reason": verdict.reason,
        "recipient": verdict.recipient,
        "unsubscribe": verdict.unsubscribe,
        "references": list(verdict.references),
    }
    assert got == label


def test_score_per_source() -> None:
    """Kind, status and recipient accuracy per source, printed as a table (the lead quotes it)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name, label in LABELS.items():
        verdict = classify((CORPUS / name).read_bytes())
        row = totals[name.split("/", 1)[0]]
        row[0] += 1
        row[1] += verdict.kind == label["kind"]
        row[2] += verdict.status == label["status"]
        row[3] += verdict.recipient == label["recipient"]
    lines = [f"{'source':<10} {'messages':>8} {'kind':>6} {'status':>7} {'recipient':>9}"]
    overall = [0, 0, 0, 0]
    for source in sorted(totals):
        row = totals[source]
        overall = [a + b for a, b in zip(overall, row, strict=True)]
        lines.append(_line(source, row))
    lines.append(_line("all", overall))
    print("\n" + "\n".join(lines))
    assert overall[0] == len(LABELS)


def _line(source: str, row: list[int]) -> str:
    n = row[0]
    return f"{source:<10} {n:>8} {row[1] / n:>6.0%} {row[2] / n:>7.0%} {row[3] / n:>9.0%}"

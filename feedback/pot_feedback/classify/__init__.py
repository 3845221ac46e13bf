"""The inbox-message classifier, `classify(raw) -> Verdict`; called by the ingester and potctl."""

from __future__ import annotations

from pot_feedback.classify.core import classify
from pot_feedback.classify.mime import MAX_BYTES
from pot_feedback.classify.verdict import Kind, Verdict

__all__ = ["MAX_BYTES", "Kind", "Verdict", "classify"]

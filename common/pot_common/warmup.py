"""A pool's warmup curve and the daily cap on each warmup day: pure, for the operator and the console.

The operator's Mailbox controller caps each mailbox by it (pot_operator.warmup adds the held days and
today's effective cap); the console draws it on a mailbox's page. One definition, so the picture and
the cap the operator enforces cannot drift.
"""

from __future__ import annotations

import dataclasses
import enum
import math


class CurveShape(enum.StrEnum):
    """How the daily volume grows from the start volume to the maximum."""

    LINEAR = "linear"
    # Quadratic ease-in: the first week grows slowly, where new mailboxes are most fragile.
    GENTLE = "gentle"


@dataclasses.dataclass(frozen=True)
class WarmupCurve:
    """A pool's warmup: `days` days from `start` messages a day to `maximum`."""

    days: int
    start: int
    maximum: int
    shape: CurveShape = CurveShape.LINEAR

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"warmup days must be at least 1, got {self.days}")
        if not 0 <= self.start <= self.maximum:
            raise ValueError(f"warmup needs 0 <= start <= maximum, got start={self.start} max={self.maximum}")


def warmup_cap(curve: WarmupCurve, day: int) -> int:
    """The daily volume on warmup `day`: 1 is the start date (start volume), `days` and later the maximum.

    Day 0 means warmup has not started: nothing may be sent yet.
    """
    if day <= 0:
        return 0
    if day == 1 or curve.days == 1:
        return curve.start if day == 1 else curve.maximum
    if day >= curve.days:
        return curve.maximum
    fraction = (day - 1) / (curve.days - 1)
    if curve.shape is CurveShape.GENTLE:
        fraction = fraction * fraction
    # Floor keeps every day at or under the line; the curve is monotone because fraction is.
    return curve.start + math.floor((curve.maximum - curve.start) * fraction)

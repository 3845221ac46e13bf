"""Server-rendered SVG charts for the console: counts over time, a warmup curve, a rate against thresholds.

Pure functions returning SVG markup (every label escaped), called by the Campaign and Mailbox views.
No chart library and no script: a chart is a picture of numbers the page already has, so it works
without JavaScript, prints, and carries a text summary (<title>, <desc>) for screen readers.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# The outcome colours the stylesheet's legend and badges use too.
COLORS = {
    "sent": "#2e7d32",
    "bounced": "#c62828",
    "deferred": "#ef6c00",
    "replied": "#1565c0",
    "failed": "#6a1b9a",
    "queued": "#757575",
    "cap": "#1565c0",
}
FALLBACK_COLORS = ("#00838f", "#ad1457", "#558b2f", "#4e342e")

Point = tuple[float, float]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (at least 1): the y axis top."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


@dataclass(frozen=True)
class Frame:
    """The plotting area inside the picture, and the data ranges it maps."""

    width: int
    height: int
    left: int = 48
    right: int = 12
    top: int = 28
    bottom: int = 30
    x_min: float = 0.0
    x_max: float = 1.0
    y_max: float = 1.0

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return self.left + (value - self.x_min) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        return self.height - self.bottom - value / self.y_max * (self.height - self.top - self.bottom)


def _axes(frame: Frame, x_labels: Sequence[tuple[float, str]]) -> list[str]:
    parts = []
    for i in range(5):
        value = frame.y_max * i / 4
        y = frame.y(value)
        right = frame.width - frame.right
        parts.append(
            f'<line class="grid" x1="{frame.left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_number(value)}</text>"
        )
    base = frame.height - frame.bottom
    for i, (value, label) in enumerate(x_labels):
        # The first label starts at its point and the last ends at it, so neither is cut at an edge.
        anchor = "start" if i == 0 and len(x_labels) > 1 else "end" if i == len(x_labels) - 1 else "middle"
        parts.append(
            f'<text class="tick" x="{frame.x(value):.1f}" y="{base + 18}" text-anchor="{anchor}">'
            f"{html.escape(label)}</text>"
        )
    return parts


def _legend(names: Sequence[str], colors: Mapping[str, str], frame: Frame) -> str:
    x = frame.left
    parts = []
    for name in names:
        parts.append(
            f'<rect x="{x}" y="8" width="10" height="10" fill="{colors[name]}"/>'
            f'<text class="legend" x="{x + 14}" y="17">{html.escape(name)}</text>'
        )
        x += 24 + 8 * len(name)
    return "".join(parts)


def _open(width: int, height: int, title: str, summary: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img"><title>{html.escape(title)}</title>'
        f"<desc>{html.escape(summary)}</desc>"
    )


def line_chart(
    series: Mapping[str, Sequence[Point]],
    *,
    title: str,
    x_format: Callable[[float], str] = _number,
    width: int = 640,
    height: int = 220,
    marker: Point | None = None,
    marker_label: str = "",
) -> str:
    """One polyline per named series over a shared x axis; `marker` rings one point (e.g. today)."""
    points = [p for values in series.values() for p in values]
    names = list(series)
    colors = {
        name: COLORS.get(name, FALLBACK_COLORS[i % len(FALLBACK_COLORS)]) for i, name in enumerate(names)
    }
    if not points:
        return (
            _open(width, 60, title, "No data yet.")
            + f'<text class="empty" x="{width / 2}" y="34" text-anchor="middle">No data yet</text></svg>'
        )
    x_min = min(p[0] for p in points)
    x_max = max(p[0] for p in points)
    frame = Frame(width, height, x_min=x_min, x_max=x_max, y_max=nice_ceiling(max(p[1] for p in points)))
    x_labels = [(x_min, x_format(x_min))] + ([(x_max, x_format(x_max))] if x_max != x_min else [])
    summary = "; ".join(
        f"{name}: {values[-1][1]:g} at {x_format(values[-1][0])}" for name, values in series.items() if values
    )
    parts = [_open(width, height, title, summary or "No data yet."), *_axes(frame, x_labels)]
    for name, values in series.items():
        if not values:
            continue
        path = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in values)
        parts.append(
            f'<polyline fill="none" stroke="{colors[name]}" stroke-width="2" points="{path}">'
            f"<title>{html.escape(name)}</title></polyline>"
        )
        if len(values) == 1:
            x, y = values[0]
            parts.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" fill="{colors[name]}"/>')
    if marker is not None:
        mx, my = frame.x(marker[0]), frame.y(marker[1])
        parts.append(
            f'<circle class="marker" cx="{mx:.1f}" cy="{my:.1f}" r="5"/>'
            f'<text class="marker-label" x="{mx:.1f}" y="{my - 9:.1f}" text-anchor="middle">'
            f"{html.escape(marker_label)}</text>"
        )
    parts.append(_legend(names, colors, frame))
    parts.append("</svg>")
    return "".join(parts)


def warmup_chart(caps: Sequence[int], day: int | None, cap_today: int | None, *, width: int = 640) -> str:
    """The pool's warmup curve (cap per warmup day, day 1 first) with today's day and cap ringed."""
    series = {"cap": [(float(i + 1), float(c)) for i, c in enumerate(caps)]}
    marker = None
    label = ""
    if day is not None and day >= 1 and caps:
        shown_day = min(day, len(caps))
        value = cap_today if cap_today is not None else caps[shown_day - 1]
        marker = (float(shown_day), float(value))
        label = f"day {day}: {value}/day"
    return line_chart(
        series,
        title="Warmup curve: daily cap by warmup day",
        x_format=lambda d: f"day {d:g}",
        width=width,
        height=200,
        marker=marker,
        marker_label=label,
    )


def threshold_bar(label: str, value: int, warn: int, pause: int, *, width: int = 320) -> str:
    """A rate in basis points against its warn and pause thresholds (the scale ends past the pause line)."""
    top = max(pause * 1.5, value * 1.1, 1)
    height = 34
    left, right = 4, 4

    def x(v: float) -> float:
        return left + v / top * (width - left - right)

    level = "pause" if value >= pause else "warn" if value >= warn else "ok"
    filled = max(0.0, x(value) - left)
    summary = f"{label}: {value / 100:g} % (warn at {warn / 100:g} %, pause at {pause / 100:g} %)"
    return (
        _open(width, height, label, summary)
        + f'<rect class="track" x="{left}" y="10" width="{width - left - right}" height="12" rx="3"/>'
        + f'<rect class="bar {level}" x="{left}" y="10" width="{filled:.1f}" height="12" rx="3"/>'
        + f'<line class="threshold warn" x1="{x(warn):.1f}" x2="{x(warn):.1f}" y1="4" y2="28"/>'
        + f'<line class="threshold pause" x1="{x(pause):.1f}" x2="{x(pause):.1f}" y1="4" y2="28"/>'
        + "</svg>"
    )

"""Server-rendered SVG charts: pure functions from numbers to escaped markup.

Every chart is an ``<svg role="img">`` with a ``<title>`` and an ``aria-label`` that say its
numbers in words, so a screen reader gets what the picture shows. No ``style`` attribute and
no ``<style>`` element (the Content-Security-Policy forbids inline styles): shapes carry
presentation attributes (``x``, ``y``, ``fill``...) and CSS classes that ``static/app.css``
colours. Labels are escaped (:func:`markupsafe.escape`), so a prompt or metric name never
becomes markup. Coordinates are always finite and inside the ``viewBox``, whatever finite
(or missing) values come in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["bars", "interval_chart", "number", "series_chart"]


def number(value: float | None, digits: int = 4) -> str:
    """A number as people read it (``0.0123``, ``1.23e+06``), or ``no data``."""
    if value is None or not math.isfinite(value):
        return "no data"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


class _Scale:
    """Maps ``[lo, hi]`` onto ``[start, end]``; anything outside is clamped to the ends.

    Values are halved before subtracting, so ``hi - lo`` cannot overflow for any finite pair.
    """

    def __init__(self, values: Sequence[float], start: float, end: float, pad: float) -> None:
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        half = (hi / 2 - lo / 2) * pad
        lo_h, hi_h = lo / 2 - half, hi / 2 + half
        if not hi_h > lo_h:  # one value only (or a span too small to draw): centre it
            lo_h, hi_h = lo_h - 0.5, hi_h + 0.5
            if not hi_h > lo_h:  # huge magnitudes where +-0.5 is lost in rounding
                lo_h, hi_h = lo_h - abs(lo_h) or -1.0, hi_h + abs(hi_h) or 1.0
        self.lo, self.span = lo_h, hi_h - lo_h
        self.start, self.end = start, end

    def __call__(self, value: float | None) -> float:
        low, high = min(self.start, self.end), max(self.start, self.end)
        if value is None or math.isnan(value):
            return round((low + high) / 2, 2)
        if math.isinf(value):
            return round(high if (value > 0) == (self.end > self.start) else low, 2)
        fraction = (value / 2 - self.lo) / self.span
        if not math.isfinite(fraction):
            fraction = 1.0 if fraction > 0 else 0.0
        at = self.start + (self.end - self.start) * min(1.0, max(0.0, fraction))
        return round(min(high, max(low, at)), 2)


def _svg(width: int, height: int, label: str, body: Sequence[str], css: str) -> Markup:
    text = escape(label)
    head = (
        f'<svg class="chart {css}" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="{text}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{text}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def interval_chart(
    *,
    metric: str,
    estimate: float | None,
    lower: float | None,
    upper: float | None,
    tolerance: float,
    harmful: str,
    width: int = 360,
    height: int = 56,
) -> Markup:
    """A guardrail's interval of Δ = candidate - baseline against its tolerance.

    An open end (``None`` or infinite) runs to the edge of the chart. The tolerance line sits
    at ``+tolerance`` for a metric harmful when it increases, at ``-tolerance`` otherwise; the
    harmful side is shaded.
    """
    threshold = tolerance if harmful == "increase" else -tolerance
    values = _finite([estimate, lower, upper, threshold, 0.0])
    x = _Scale(values, 8.0, width - 8.0, 0.15)
    mid = height / 2
    left = x(lower if lower is not None else -math.inf)
    right = x(upper if upper is not None else math.inf)
    tol = x(threshold)
    zero = x(0.0)
    bad_from, bad_to = (tol, width - 8.0) if harmful == "increase" else (8.0, tol)
    body = [
        f'<rect class="harm" x="{bad_from:.2f}" y="4" width="{max(0.0, bad_to - bad_from):.2f}" '
        f'height="{height - 8}" fill="#fce8e6"></rect>',
        f'<line class="axis" x1="8" y1="{mid}" x2="{width - 8}" y2="{mid}" stroke="#8a94a3" '
        'stroke-width="1"></line>',
        f'<line class="zero" x1="{zero:.2f}" y1="6" x2="{zero:.2f}" y2="{height - 6}" '
        'stroke="#4d5561" stroke-width="1" stroke-dasharray="2 2"></line>',
        f'<line class="tolerance" x1="{tol:.2f}" y1="4" x2="{tol:.2f}" y2="{height - 4}" '
        'stroke="#b3261e" stroke-width="2"></line>',
        f'<line class="interval" x1="{left:.2f}" y1="{mid}" x2="{right:.2f}" y2="{mid}" '
        'stroke="#0b57d0" stroke-width="6" stroke-linecap="round"></line>',
    ]
    if estimate is not None and math.isfinite(estimate):
        body.append(
            f'<circle class="estimate" cx="{x(estimate):.2f}" cy="{mid}" r="5" fill="#16213a">'
            "</circle>"
        )
    direction = "increase" if harmful == "increase" else "decrease"
    label = (
        f"{metric}: estimated difference {number(estimate)}, interval from {number(lower)} "
        f"to {number(upper)} (no data means open-ended); harmful on {direction}, tolerance "
        f"{number(threshold)}"
    )
    return _svg(width, height, label, body, "interval-chart")


def series_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    metric: str,
    width: int = 240,
    height: int = 64,
) -> Markup:
    """A daily series as a line with dots (a sparkline); days without data leave a gap."""
    count = len(points)
    values = _finite([v for _, v in points])
    y = _Scale(values or [0.0], height - 6.0, 6.0, 0.1)
    step = (width - 16.0) / max(1, count - 1)
    body: list[str] = []
    segment: list[str] = []
    dots: list[str] = []
    for i, (_, value) in enumerate(points):
        px = round(8.0 + step * i if count > 1 else width / 2, 2)
        if value is None or not math.isfinite(value):
            if len(segment) > 1:
                body.append(_polyline(segment))
            segment = []
            continue
        py = y(value)
        segment.append(f"{px:.2f},{py:.2f}")
        dots.append(
            f'<circle class="dot" cx="{px:.2f}" cy="{py:.2f}" r="2" fill="#0b57d0"></circle>'
        )
    if len(segment) > 1:
        body.append(_polyline(segment))
    body.extend(dots)
    said = ", ".join(f"{day} {number(value)}" for day, value in points) or "no days"
    return _svg(width, height, f"{metric} per day: {said}", body, "series-chart")


def _polyline(points: Sequence[str]) -> str:
    return (
        f'<polyline class="line" points="{" ".join(points)}" fill="none" stroke="#0b57d0" '
        'stroke-width="1.5"></polyline>'
    )


def bars(
    items: Sequence[tuple[str, float | None]],
    *,
    metric: str,
    width: int = 240,
    bar_height: int = 16,
) -> Markup:
    """Horizontal bars, one per item (e.g. one per version), labelled with their values."""
    height = max(1, len(items)) * (bar_height + 6) + 4
    values = _finite([v for _, v in items])
    x = _Scale([*values, 0.0], 90.0, width - 50.0, 0.0)
    zero = x(0.0)
    body: list[str] = []
    for i, (name, value) in enumerate(items):
        top = 4 + i * (bar_height + 6)
        body.append(
            f'<text x="4" y="{top + bar_height - 4}" class="label">{escape(name[:14])}</text>'
        )
        if value is None or not math.isfinite(value):
            body.append(f'<text x="94" y="{top + bar_height - 4}" class="value">no data</text>')
            continue
        end = x(value)
        start, stop = min(zero, end), max(zero, end)
        body.append(
            f'<rect class="bar" x="{start:.2f}" y="{top}" width="{stop - start:.2f}" '
            f'height="{bar_height}" fill="#0b57d0"></rect>'
        )
        body.append(
            f'<text x="{width - 46}" y="{top + bar_height - 4}" class="value">'
            f"{escape(number(value, 3))}</text>"
        )
    said = ", ".join(f"{name} {number(value)}" for name, value in items) or "no data"
    return _svg(width, height, f"{metric}: {said}", body, "bars-chart")

"""The SVG charts: finite coordinates inside the viewBox, escaped labels, no inline style."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from promptstage.ui import charts

finite = st.floats(allow_nan=False, allow_infinity=False)
maybe = st.none() | finite | st.sampled_from([math.inf, -math.inf, math.nan])
NUMBER_ATTRS = re.compile(r'\b(x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"')
POINTS = re.compile(r'points="([^"]*)"')


def _view_box(svg: str) -> tuple[float, float]:
    found = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert found
    return float(found.group(1)), float(found.group(2))


def assert_inside(svg: str) -> None:
    width, height = _view_box(svg)
    for name, raw in NUMBER_ATTRS.findall(svg.split("<title>", 1)[1]):
        value = float(raw)
        assert math.isfinite(value), (name, raw)
        if name == "width":
            assert 0 <= value <= width, (name, raw)
        elif name.startswith("y") or name in ("cy", "height"):
            assert 0 <= value <= height, (name, raw)
        else:
            assert 0 <= value <= width, (name, raw)
    for group in POINTS.findall(svg):
        for pair in group.split():
            px, py = (float(v) for v in pair.split(","))
            assert 0 <= px <= width and 0 <= py <= height


def assert_no_style(svg: str) -> None:
    assert "style=" not in svg and "<style" not in svg and "<script" not in svg


@given(
    estimate=maybe,
    lower=maybe,
    upper=maybe,
    tolerance=finite,
    harmful=st.sampled_from(["increase", "decrease"]),
)
def test_interval_chart_stays_inside_its_view_box(
    estimate: float | None, lower: float | None, upper: float | None, tolerance: float, harmful: str
) -> None:
    svg = str(
        charts.interval_chart(
            metric="thumbs_down",
            estimate=estimate,
            lower=lower,
            upper=upper,
            tolerance=tolerance,
            harmful=harmful,
        )
    )
    assert_inside(svg)
    assert_no_style(svg)
    assert 'role="img"' in svg


@given(st.lists(st.tuples(st.text(max_size=12), maybe), max_size=40))
def test_series_chart_stays_inside_its_view_box(points: list[tuple[str, float | None]]) -> None:
    svg = str(charts.series_chart(points, metric="latency p95"))
    assert_inside(svg)
    assert_no_style(svg)


@given(st.lists(st.tuples(st.text(max_size=20), maybe), max_size=12))
def test_bars_stay_inside_their_view_box(items: list[tuple[str, float | None]]) -> None:
    svg = str(charts.bars(items, metric="calls"))
    assert_inside(svg)
    assert_no_style(svg)


@given(st.text(max_size=40))
def test_labels_are_escaped(name: str) -> None:
    for svg in (
        str(charts.bars([(name, 1.0)], metric=name)),
        str(charts.series_chart([(name, 1.0)], metric=name)),
        str(
            charts.interval_chart(
                metric=name, estimate=0.1, lower=0.0, upper=None, tolerance=0.0, harmful="increase"
            )
        ),
    ):
        # the name appears only escaped: it can neither open a tag nor end an attribute
        title = svg.split("<title>", 1)[1].split("</title>", 1)[0]
        assert str(escape(name)) in title
        assert "<" not in title and '"' not in title and ">" not in title
        label = re.search(r'aria-label="([^"]*)"', svg)
        assert label and str(escape(name)) in label.group(1)


def test_hostile_label_is_escaped() -> None:
    svg = str(
        charts.bars([("<img src=x onerror=alert(1)>", 2.0)], metric='"><script>alert(1)</script>')
    )
    assert "<script>" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg and "&lt;img src=x" in svg
    assert 'aria-label="&#34;&gt;&lt;script&gt;' in svg


def test_interval_chart_says_its_numbers_in_words() -> None:
    svg = str(
        charts.interval_chart(
            metric="error_rate",
            estimate=0.02,
            lower=0.005,
            upper=None,
            tolerance=0.01,
            harmful="increase",
        )
    )
    assert "estimated difference 0.02, interval from 0.005 to no data" in svg
    assert "harmful on increase, tolerance 0.01" in svg
    # the interval starts right of zero, the tolerance line is right of zero
    x1 = float(re.search(r'class="interval" x1="([^"]+)"', svg).group(1))  # type: ignore[union-attr]
    zero = float(re.search(r'class="zero" x1="([^"]+)"', svg).group(1))  # type: ignore[union-attr]
    assert x1 > zero
    x2 = float(re.search(r'class="interval" x1="[^"]+" y1="[^"]+" x2="([^"]+)"', svg).group(1))  # type: ignore[union-attr]
    assert x2 == 352.0  # an open upper end runs to the edge


def test_series_leaves_gaps_for_days_without_data() -> None:
    svg = str(
        charts.series_chart(
            [("d1", 1.0), ("d2", 2.0), ("d3", None), ("d4", 3.0), ("d5", 1.0)], metric="calls"
        )
    )
    assert svg.count("<polyline") == 2
    assert svg.count('class="dot"') == 4
    assert "d3 no data" in svg


def test_number_formats() -> None:
    assert charts.number(None) == "no data"
    assert charts.number(math.inf) == "no data"
    assert charts.number(0.0) == "0"
    assert charts.number(1234567.0) == "1.235e+06"

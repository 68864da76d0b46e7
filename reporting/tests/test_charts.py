"""The SVG charts: well-formed, accessible, escaped, and sensible at the edges (no data, one
day, all zeros, huge or odd values)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from reporting.charts import (
    Bar,
    Series,
    bar_chart,
    format_compact,
    format_count,
    format_percent,
    time_series_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 12, 28) + timedelta(days=n) for n in range(10)]  # crosses a year


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def test_a_time_series_is_an_accessible_image_with_legend_axes_and_tooltips():
    markup = time_series_chart(
        chart_id="chart-test",
        title="Delivery per day",
        days=DAYS,
        series=[Series("Sent", list(range(10))), Series("Bounced", [0, 1] * 5)],
        area=True,
    )
    root = parse(markup)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-test-title chart-test-desc"
    assert root.find(f"{SVG}title").text == "Delivery per day"
    desc = root.find(f"{SVG}desc").text
    assert "28 Dec 2026 to 6 Jan 2027" in desc and "Sent: total 45, peak 9 on 6 Jan 2027" in desc
    labels = texts(root)
    assert "Sent" in labels and "Bounced" in labels  # the legend
    assert "28 Dec 2026" in labels and any(label.endswith("2027") for label in labels)  # the year where it changes
    assert len(list(root.iter(f"{SVG}polyline"))) == 2 and len(list(root.iter(f"{SVG}polygon"))) == 2
    tips = [el.find(f"{SVG}title").text for el in root.iter(f"{SVG}circle")]
    assert "Sent, 6 Jan 2027: 9" in tips and len(tips) == 20
    # Presentation attributes only: the CSP forbids inline styles.
    assert "style=" not in markup and "<script" not in markup


def test_every_text_is_escaped():
    evil = '<script>alert("x")</script> & "quotes"'
    root = parse(time_series_chart(chart_id="chart-evil", title=evil, days=DAYS[:2], series=[Series(evil, [1, 2])]))
    assert root.find(f"{SVG}title").text == evil  # parsed back: it was escaped, not markup
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    bars = bar_chart(chart_id="chart-evil-bars", title=evil, bars=[Bar(evil, 3, note=evil)])
    root = parse(bars)
    assert "<script>" not in str(bars) and not list(root.iter(f"{SVG}script"))
    with pytest.raises(ValueError):
        time_series_chart(chart_id='x" onload="alert(1)', title="t", days=DAYS, series=[])


@pytest.mark.parametrize(
    ("days", "series"),
    [([], [Series("Sent", [])]), (DAYS, []), (DAYS, [Series("Sent", [0] * 10)])],
)
def test_no_data_gives_a_short_chart_that_says_so(days, series):
    root = parse(time_series_chart(chart_id="chart-empty", title="Delivery", days=days, series=series))
    assert texts(root) == ["No activity in this period yet."]
    assert root.get("height") == "120"


def test_one_day_is_drawn_as_dots():
    root = parse(time_series_chart(chart_id="chart-one", title="One", days=DAYS[:1], series=[Series("Sent", [5])]))
    assert not list(root.iter(f"{SVG}polyline"))
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 1 and float(circles[0].get("cx")) > 400  # centred


def test_huge_values_get_compact_labels_and_stay_inside_the_chart():
    values = [0, 2.5e9, 1e12, 7.3e11]
    root = parse(
        time_series_chart(chart_id="chart-huge", title="Huge", days=DAYS[:4], series=[Series("Opens", values)])
    )
    labels = texts(root)
    assert "1T" in labels or "1.2T" in labels
    height = float(root.get("height"))
    for circle in root.iter(f"{SVG}circle"):
        assert 0 <= float(circle.get("cy")) <= height
    assert "Opens, 29 Dec 2026: 2,500,000,000" in [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]


def test_odd_values_do_not_break_the_chart():
    root = parse(
        time_series_chart(
            chart_id="chart-odd",
            title="Odd",
            days=DAYS[:4],
            series=[Series("A", [float("nan"), float("inf"), -3, 2]), Series("B", [1])],  # short series padded
        )
    )
    assert len(list(root.iter(f"{SVG}polyline"))) == 2


def test_many_days_draw_lines_without_dots_and_at_most_eight_date_labels():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(200)]
    root = parse(time_series_chart(chart_id="chart-long", title="Long", days=days, series=[Series("S", [1] * 200)]))
    assert not list(root.iter(f"{SVG}circle"))
    dated = [t for t in texts(root) if any(month in t for month in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul"))]
    assert 2 <= len(dated) <= 8


def test_percent_series_use_percent_labels():
    root = parse(
        time_series_chart(
            chart_id="chart-pct",
            title="Rates",
            days=DAYS[:3],
            series=[Series("Bounce", [0.01, 0.02, 0.015])],
            percent=True,
        )
    )
    assert any(label.endswith("%") for label in texts(root))
    assert "Bounce, 29 Dec 2026: 2.00%" in [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]


def test_a_bar_chart_scales_bars_to_the_largest_and_shortens_long_labels():
    long_url = "https://clinic.example/" + "a" * 80
    root = parse(
        bar_chart(
            chart_id="chart-bars",
            title="Clicks per link",
            bars=[Bar(long_url, 200, note="300 clicks in all"), Bar("short", 50), Bar("none", 0)],
        )
    )
    assert root.get("role") == "img" and "3 rows" in root.find(f"{SVG}desc").text
    groups = root.findall(f"{SVG}g")
    assert groups[0].find(f"{SVG}title").text == f"{long_url}: 200 (300 clicks in all)"
    shown = texts(root)
    assert long_url not in shown and any(text.endswith("…") for text in shown)
    fills = [float(r.get("width")) for r in root.iter(f"{SVG}rect") if r.get("fill") != "#f0f4f3"]
    assert fills[0] == pytest.approx(4 * fills[1], rel=0.01) and len(fills) == 2  # the zero bar has no fill
    assert int(root.get("height")) == 3 * 30 + 16


def test_an_empty_bar_chart_says_so():
    root = parse(bar_chart(chart_id="chart-nobars", title="Links", bars=[], empty_message="No clicks yet."))
    assert texts(root) == ["No clicks yet."]


def test_number_formats():
    assert format_count(1234567.4) == "1,234,567"
    assert [format_compact(v) for v in (0, 950, 1200, 15_000, 3.4e6, 2e9, 1.5e12, 5e15)] == [
        "0",
        "950",
        "1.2k",
        "15k",
        "3.4M",
        "2B",
        "1.5T",
        "5e+15",
    ]
    assert format_percent(0.01234) == "1.2%" and format_percent(float("nan")) == "0.0%"

"""Server-side SVG charts: a daily time series (lines, optionally filled) and a horizontal bar
chart. No JavaScript and no third-party asset: the markup is inline in the page, styled only
with SVG presentation attributes (the CSP forbids inline ``style``), and scales with its card.

Every piece of text is escaped here (labels may come from user data: link URLs, domain names,
campaign names). Each chart is an ``img`` for assistive technology, labelled by its ``<title>``
and described by a ``<desc>`` that states what the chart shows (range, total and peak of each
series); pages put the same figures in a table next to it. Points and bars carry their own
``<title>`` (the browser's tooltip).

Sizes: a 960-unit wide view box, about the width of a card on the page, so 12-13 unit text lands
at 12-14 px on screen. Empty data gives a short chart saying so; one day gives dots; huge values
get compact axis labels (1.2M, 3B).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

__all__ = [
    "Bar",
    "Series",
    "bar_chart",
    "format_compact",
    "format_count",
    "format_percent",
    "time_series_chart",
]

WIDTH = 960
LINE_HEIGHT = 300
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"
INK, MUTED, GRID, AXIS = "#12201f", "#5b6d6b", "#e3ebe9", "#9fb1ae"
# Colours with at least 4.5:1 contrast on white, each with its own dash pattern so series stay
# distinguishable without colour.
PALETTE: tuple[tuple[str, str], ...] = (
    ("#0f5c55", ""),
    ("#b45309", "8 4"),
    ("#1d4ed8", "2 3"),
    ("#7e22ce", "10 3 2 3"),
    ("#be123c", "4 4"),
    ("#3f5452", "1 3"),
)
MAX_X_LABELS = 8
MAX_POINT_MARKERS = 62  # beyond two months of days the dots would merge into the line
BAR_ROW, BAR_THICKNESS, BAR_LABEL_CHARS = 30, 18, 34
_ID = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]  # one per day of the chart, in order


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str = ""  # added to the bar's tooltip


# --- Number and date formatting -----------------------------------------------------------------


def _finite(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def format_count(value: float) -> str:
    """1234567 → "1,234,567" (rounded to a whole number)."""
    return f"{round(_finite(value)):,}"


def format_compact(value: float) -> str:
    """An axis label: 950, 1.2k, 3.4M, 2B, 1.5T; beyond that scientific."""
    number = _finite(value)
    magnitude = abs(number)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            if magnitude >= limit * 1000 and suffix == "T":
                return f"{number:.2g}"
            scaled = number / limit
            text = f"{scaled:.1f}".rstrip("0").rstrip(".") if abs(scaled) < 10 else f"{scaled:.0f}"
            return f"{text}{suffix}"
    if magnitude and magnitude < 1:
        return f"{number:.2f}".rstrip("0").rstrip(".")
    return f"{number:.0f}"


def format_percent(value: float, digits: int = 1) -> str:
    """0.01234 → "1.2%"."""
    return f"{_finite(value) * 100:.{digits}f}%"


def _day(value: date, *, year: bool = False) -> str:
    text = f"{value.day} {MONTHS[value.month - 1]}"
    return f"{text} {value.year}" if year else text


# --- Shared pieces ------------------------------------------------------------------------------


def _check_id(chart_id: str) -> str:
    if not _ID.match(chart_id):
        raise ValueError("A chart id is lowercase letters, digits and hyphens, starting with a letter.")
    return chart_id


def _text_width(text: str, size: float) -> float:
    return len(text) * size * 0.6


def _open(chart_id: str, title: str, description: str, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" preserveAspectRatio="xMinYMin meet" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false" font-family="{FONT}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]


def _empty(chart_id: str, title: str, message: str) -> SafeString:
    height = 120
    parts = _open(chart_id, title, message, height)
    parts.append(
        f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{height - 1}" rx="8" fill="#fafcfb" stroke="{GRID}"/>'
    )
    parts.append(
        f'<text x="{WIDTH / 2}" y="{height / 2 + 5}" text-anchor="middle" font-size="15" fill="{MUTED}">'
        f"{escape(message)}</text>"
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def _nice_step(raw: float, *, whole: bool) -> float:
    if raw <= 0:
        return 1.0
    exponent = math.floor(math.log10(raw))
    fraction = raw / 10**exponent
    nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    step = nice * 10.0**exponent
    return max(step, 1.0) if whole else step


def _y_ticks(low: float, high: float, *, whole: bool, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (low ≤ 0 ≤ high)."""
    span = high - low
    if span <= 0:
        span = 1.0
    step = _nice_step(span / count, whole=whole)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while True:
        ticks.append(value)
        if (value >= high and len(ticks) > 1) or len(ticks) > 12:
            break
        value += step
    return ticks


# --- Time series --------------------------------------------------------------------------------


def time_series_chart(
    *,
    chart_id: str,
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    percent: bool = False,
    area: bool = False,
    description: str = "",
    empty_message: str = "No activity in this period yet.",
) -> SafeString:
    """Lines over days, one per series (at most six), with a legend, a y axis from zero and up
    to eight date labels. ``percent``: values are fractions shown as percentages. ``area``: the
    space under each line is lightly filled."""
    _check_id(chart_id)
    series = list(series)[: len(PALETTE)]
    values = [[_finite(v) for v in s.values][: len(days)] for s in series]
    if not days or not series or not any(any(row) for row in values):
        return _empty(chart_id, title, empty_message)
    values = [row + [0.0] * (len(days) - len(row)) for row in values]
    axis = format_percent if percent else format_compact
    exact: Callable[[float], str] = (lambda v: format_percent(v, 2)) if percent else format_count

    low = min(0.0, *(min(row) for row in values))
    high = max(0.0, *(max(row) for row in values))
    ticks = _y_ticks(low, high, whole=not percent)
    y_min, y_max = ticks[0], ticks[-1]
    labels = [axis(tick) for tick in ticks]

    height = LINE_HEIGHT
    left = max(40.0, max(_text_width(label, 12) for label in labels) + 16)
    top, right, bottom = 44.0, 20.0, 34.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def x_at(index: int) -> float:
        return left + plot_w / 2 if len(days) == 1 else left + index * plot_w / (len(days) - 1)

    def y_at(value: float) -> float:
        return top + plot_h - (value - y_min) / (y_max - y_min) * plot_h

    summary = [f"Daily values from {_day(days[0], year=True)} to {_day(days[-1], year=True)}."]
    for item, row in zip(series, values, strict=True):
        peak = max(range(len(row)), key=lambda i: row[i])
        if percent:
            summary.append(f"{item.label}: peak {exact(row[peak])} on {_day(days[peak], year=True)}.")
        else:
            summary.append(
                f"{item.label}: total {exact(sum(row))}, peak {exact(row[peak])} on {_day(days[peak], year=True)}."
            )
    if description:
        summary.insert(0, description)
    parts = _open(chart_id, title, " ".join(summary), height)

    # Grid and y axis labels.
    for tick, label in zip(ticks, labels, strict=True):
        y = y_at(tick)
        colour = AXIS if tick == 0 else GRID
        parts.append(f'<line x1="{left:.1f}" x2="{WIDTH - right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}"/>')
        parts.append(
            f'<text x="{left - 8:.1f}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="{MUTED}">'
            f"{escape(label)}</text>"
        )

    # X axis labels: evenly spaced, the year on the first one and where it changes.
    step = max(1, math.ceil(len(days) / MAX_X_LABELS))
    shown = list(range(0, len(days), step))
    previous_year = None
    for index in shown:
        day = days[index]
        text = _day(day, year=day.year != previous_year)
        previous_year = day.year
        anchor = "middle"
        if len(days) > 1 and index == 0:
            anchor = "start"
        elif len(days) > 1 and x_at(index) + _text_width(text, 12) / 2 > WIDTH - 4:
            anchor = "end"  # the last label would run off the right edge
        parts.append(
            f'<text x="{x_at(index):.1f}" y="{height - 10:.1f}" text-anchor="{anchor}" font-size="12" '
            f'fill="{MUTED}">{escape(text)}</text>'
        )

    # Legend.
    legend_x = left
    for number, item in enumerate(series):
        colour, dash = PALETTE[number]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{legend_x:.1f}" x2="{legend_x + 22:.1f}" y1="16" y2="16" stroke="{colour}" '
            f'stroke-width="3"{dash_attr}/>'
        )
        label = item.label[:40]
        parts.append(f'<text x="{legend_x + 28:.1f}" y="20" font-size="13" fill="{INK}">{escape(label)}</text>')
        legend_x += 28 + _text_width(label, 13) + 24

    # Series: an optional filled area, the line, and a dot with a tooltip per day.
    base = y_at(max(y_min, 0.0))
    markers = len(days) <= MAX_POINT_MARKERS
    for number, (item, row) in enumerate(zip(series, values, strict=True)):
        colour, dash = PALETTE[number]
        points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(row))
        parts.append('<g class="chart-series">')
        if area and len(row) > 1:
            parts.append(
                f'<polygon points="{x_at(0):.1f},{base:.1f} {points} {x_at(len(row) - 1):.1f},{base:.1f}" '
                f'fill="{colour}" fill-opacity="0.10" stroke="none"/>'
            )
        if len(row) > 1:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" '
                f'stroke-linejoin="round" stroke-linecap="round"{dash_attr}/>'
            )
        if markers or len(row) == 1:
            radius = 4.5 if len(row) == 1 else 3
            for i, v in enumerate(row):
                tip = f"{item.label}, {_day(days[i], year=True)}: {exact(v)}"
                parts.append(
                    f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="{radius}" fill="{colour}" stroke="#fff" '
                    f'stroke-width="1"><title>{escape(tip)}</title></circle>'
                )
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


# --- Horizontal bars ----------------------------------------------------------------------------


def bar_chart(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    percent: bool = False,
    description: str = "",
    empty_message: str = "Nothing to show yet.",
    colour: str = PALETTE[0][0],
) -> SafeString:
    """One horizontal bar per row, longest first as given, label on the left (shortened, the
    full text in the tooltip), value at the bar's end."""
    _check_id(chart_id)
    bars = list(bars)
    if not bars:
        return _empty(chart_id, title, empty_message)
    exact: Callable[[float], str] = (lambda v: format_percent(v, 2)) if percent else format_count
    values = [max(0.0, _finite(bar.value)) for bar in bars]
    peak = max(values) or 1.0
    labels = [
        bar.label if len(bar.label) <= BAR_LABEL_CHARS else bar.label[: BAR_LABEL_CHARS - 1] + "…" for bar in bars
    ]
    label_w = min(300.0, max(80.0, max(_text_width(label, 13) for label in labels) + 16))
    value_texts = [exact(v) for v in values]
    value_w = max(_text_width(text, 13) for text in value_texts) + 16
    bar_left, bar_max = label_w, WIDTH - label_w - value_w - 8
    height = int(len(bars) * BAR_ROW + 16)

    lines = [f"{bar.label}: {text}" for bar, text in zip(bars, value_texts, strict=True)]
    summary = " ".join(filter(None, [description, f"{len(bars)} rows.", "; ".join(lines) + "."]))
    parts = _open(chart_id, title, summary, height)
    for index, (bar, label, value, text) in enumerate(zip(bars, labels, values, value_texts, strict=True)):
        y = 8 + index * BAR_ROW
        width = max(2.0 if value > 0 else 0.0, value / peak * bar_max)
        tip = f"{bar.label}: {text}" + (f" ({bar.note})" if bar.note else "")
        parts.append(f"<g><title>{escape(tip)}</title>")
        parts.append(
            f'<text x="{bar_left - 10:.1f}" y="{y + BAR_THICKNESS / 2 + 5:.1f}" text-anchor="end" font-size="13" '
            f'fill="{INK}">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{bar_left:.1f}" y="{y:.1f}" width="{bar_max:.1f}" height="{BAR_THICKNESS}" rx="3" '
            'fill="#f0f4f3"/>'
        )
        if width:
            parts.append(
                f'<rect x="{bar_left:.1f}" y="{y:.1f}" width="{width:.1f}" height="{BAR_THICKNESS}" rx="3" '
                f'fill="{escape(colour)}"/>'
            )
        parts.append(
            f'<text x="{bar_left + bar_max + 8:.1f}" y="{y + BAR_THICKNESS / 2 + 5:.1f}" font-size="13" '
            f'fill="{INK}">{escape(text)}</text>'
        )
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped

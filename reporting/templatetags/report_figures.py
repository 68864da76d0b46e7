"""Filters for the dashboards' figures: counts with thousands separators, rates as percentages
(an em dash when there is nothing to divide by), changes against the previous period, delivery
times."""

from __future__ import annotations

from typing import Any

from django import template

from reporting.charts import format_count
from tenants.permissions import role_has_permission

register = template.Library()
NONE = "—"


@register.filter
def count(value: Any) -> str:
    """1234567 → "1,234,567"."""
    return NONE if value is None else format_count(value)


@register.filter
def rate(value: Any, digits: Any = 1) -> str:
    """0.01234 → "1.2%"; "rate:2" → "1.23%"; None → "—"."""
    if value is None:
        return NONE
    try:
        places = int(digits)
    except (TypeError, ValueError):
        places = 1
    return f"{float(value) * 100:.{places}f}%"


@register.filter
def change(value: Any) -> str:
    """A relative change: +12%, −5%, 0%; "new" when the previous period had none."""
    if value is None:
        return "new"
    percent = round(float(value) * 100)
    if percent > 0:
        return f"+{percent:,}%"
    if percent < 0:
        return f"−{-percent:,}%"
    return "0%"


@register.filter
def direction(value: Any) -> str:
    """``up``, ``down`` or ``flat`` (for a CSS class)."""
    if value is None:
        return "flat"
    if float(value) > 0.005:
        return "up"
    if float(value) < -0.005:
        return "down"
    return "flat"


@register.filter
def duration_ms(value: Any) -> str:
    """Milliseconds for a person: 850 ms, 2.4 s, 3.5 min, 2.1 h."""
    if value is None:
        return NONE
    ms = float(value)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


@register.filter
def role_can(role: Any, code: str) -> bool:
    """``{% if current_membership.role|role_can:"reports.view" %}``: whether the role holds the
    permission (links to pages of another app)."""
    return role_has_permission(str(role) if role else None, code)

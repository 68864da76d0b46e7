"""Template filters of the consent pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def lookup(mapping: Mapping[str, Any], key: str) -> Any:
    """``{{ labels|lookup:key }}``: the label of a stored code ("" when there is none)."""
    return mapping.get(key, "") if mapping else ""

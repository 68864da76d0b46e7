"""Report exports generated in the background."""

from __future__ import annotations

__all__: list[str] = []

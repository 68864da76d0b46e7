"""What one scan knows about its text, shared by the rule modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from encryption.dlp.keywords import Hit, scan_keywords
from encryption.dlp.lexicon import lower_same_length, normalise


@dataclass(slots=True)
class ScanContext:
    text: str
    lower: str  # same length as text
    hits: dict[str, list[Hit]]
    cache: dict[str, Any] = field(default_factory=dict)  # per-scan values computed once by the rules

    @classmethod
    def of(cls, text: str) -> ScanContext:
        lower = lower_same_length(text)
        return cls(text=text, lower=lower, hits=scan_keywords(normalise(lower)))

    def before(self, start: int, width: int = 40) -> str:
        """The lowercase text just before ``start`` (a window for context words)."""
        return self.lower[max(0, start - width) : start]

    def after(self, end: int, width: int = 40) -> str:
        return self.lower[end : end + width]

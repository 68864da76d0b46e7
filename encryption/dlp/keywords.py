"""One Aho–Corasick automaton for every keyword the classifier looks for, scanned once per text.

Keys are normalised (lowercase, punctuation turned into spaces, see ``lexicon.normalise``) and
padded with a space either side; the text is normalised the same way and padded too, so a key
only ever matches whole words. Each key maps to the tuple of *hits* it stands for:
``(kind, argument)``. The modules that own a kind of keyword (health terms, identifier labels,
name cues, month names) contribute their tables; ``scan_keywords`` groups the hits by kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

import ahocorasick

from encryption.dlp.lexicon import normalise

# Kinds of hit.
HEALTH = "health"  # argument: the finding type (CONDITION, MEDICATION, PROCEDURE)
LAB = "lab"  # a laboratory test or measurement: a result when a value follows
ID_LABEL = "id"  # argument: (finding type, confidence, label name)
NAME_CUE = "name"  # argument: the cue's role (greeting, title, label, closing, relation)
MONTH = "month"  # argument: the month number
HEALTH_CUE = "hcue"  # argument: a family name ("posneg", "context")
PHRASE = "phrase"  # argument: what the phrase introduces (PO box, biometric, photo)
VENDOR_CUE = "vendor"  # a supplier's wording (health.py): the organisation is the customer

Hit = tuple[int, int, Any]  # start, end (character offsets into the text), argument


class KeywordTable:
    """Keywords → hits, filled by the modules at import time, compiled once on first use."""

    def __init__(self) -> None:
        self._entries: dict[str, list[tuple[str, Any]]] = defaultdict(list)

    def add(self, kind: str, words: Iterable[str], argument: Any = None) -> None:
        """Whole words or phrases."""
        for word in words:
            key = normalise(word.lower()).strip()
            if key:
                self._put(f" {key} ", kind, argument)

    def add_endings(self, kind: str, endings: Iterable[str], argument: Any = None) -> None:
        """Word endings ("itis", "ectomy"): a hit spans the ending only; the word starts earlier."""
        for ending in endings:
            key = normalise(ending.lower()).strip()
            if key:
                self._put(f"{key} ", kind, argument)

    def _put(self, padded: str, kind: str, argument: Any) -> None:
        if (kind, argument) not in self._entries[padded]:
            self._entries[padded].append((kind, argument))

    def entries(self) -> dict[str, list[tuple[str, Any]]]:
        return self._entries


TABLE = KeywordTable()


@cache
def automaton() -> Any:
    machine = ahocorasick.Automaton()
    for padded, hits in TABLE.entries().items():
        # The offset from the key's first character to the hit's first character in the text:
        # the text is padded with one space in front, a whole-word key with one space too.
        lead = 1 if padded.startswith(" ") else 0
        # Most keys stand for one hit: (length, kind, argument); others (length, None, hits).
        if len(hits) == 1:
            machine.add_word(padded, (len(padded) - lead, hits[0][0], hits[0][1]))
        else:
            machine.add_word(padded, (len(padded) - lead, None, tuple(hits)))
    machine.make_automaton()
    return machine


def scan_keywords(normalised: str) -> dict[str, list[Hit]]:
    """All keyword hits in a normalised text, grouped by kind, each list in text order."""
    found: dict[str, list[Hit]] = defaultdict(list)
    for end, (length, kind, argument) in automaton().iter(f" {normalised} "):
        if kind is not None:
            found[kind].append((end - length, end - 1, argument))
        else:
            for kind_, argument_ in argument:
                found[kind_].append((end - length, end - 1, argument_))
    return found

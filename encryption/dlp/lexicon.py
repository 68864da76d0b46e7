"""The word lists the classifier ships (``encryption/dlp/lexicon/*.txt``), read once per process.

Files are plain text, one entry a line (``icd10_categories.txt``: whitespace-separated),
``#`` starts a comment. Sources and licences are in each file's header and in ``docs/dlp.md``.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path

from encryption.dlp.findings import CONDITION, MEDICATION, PROCEDURE

LEXICON_DIR = Path(__file__).with_name("lexicon")

# ASCII punctuation and common typographic marks become spaces, so that dictionary matching sees
# "x-ray", "x ray" and "X-Ray" alike and a key padded with spaces matches whole words only.
_PUNCTUATION = "".join(chr(c) for c in range(128) if not chr(c).isalnum()) + "’‘“”–—•·…\u00a0"


# Accented Latin letters lose their accent (one character for one), so "José" finds "jose",
# "Nguyễn" finds "nguyen" and "Wójcik" finds "wojcik": every lower-case letter of Latin-1,
# Latin Extended-A/B and Latin Extended Additional whose decomposition starts with an ASCII letter,
# and a few letters with a stroke that have no decomposition.
def _accent_table() -> dict[str, str]:
    table = {"ł": "l", "đ": "d", "ø": "o", "ı": "i", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i"}
    for code in (*range(0xE0, 0x250), *range(0x1E00, 0x1F00)):
        char = chr(code)
        if not char.islower():
            continue
        base = unicodedata.normalize("NFD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            table[char] = base.lower()
    return table


_ACCENTS = _accent_table()
NORMALISE = str.maketrans({**dict.fromkeys(_PUNCTUATION, " "), **_ACCENTS})
FOLD = str.maketrans(_ACCENTS)


def read_entries(name: str) -> list[str]:
    """The entries of one list file, comments and blank lines left out."""
    entries = []
    for line in (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            entries.append(line)
    return entries


def lower_same_length(text: str) -> str:
    """``text.lower()`` with one character per character, so offsets carry over (a few
    characters, such as 'İ', lower to two)."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


# The same mapping for ASCII text as a byte table: bytes.translate is many times faster than
# str.translate with a dictionary, and most messages are ASCII.
_ASCII_TABLE = bytes(ord(" ") if chr(c) in _PUNCTUATION else c for c in range(128)) + bytes(range(128, 256))


def normalise(text_lower: str) -> str:
    if text_lower.isascii():
        return text_lower.encode("ascii").translate(_ASCII_TABLE).decode("ascii")
    return text_lower.translate(NORMALISE)


@cache
def first_names() -> frozenset[str]:
    return frozenset(read_entries("first_names.txt"))


@cache
def surnames() -> frozenset[str]:
    return frozenset(read_entries("surnames.txt"))


@cache
def name_words() -> frozenset[str]:
    """Names that are also everyday words, months, places or eponyms: weak evidence alone."""
    return frozenset(read_entries("name_words.txt"))


@cache
def icd10_categories() -> frozenset[str]:
    return frozenset(code for line in read_entries("icd10_categories.txt") for code in line.split())


def _plural(term: str) -> str:
    if term[-1].isdigit() or term.endswith("s"):
        return ""
    if term.endswith("y") and len(term) > 2 and term[-2] not in "aeiou":
        return term[:-1] + "ies"
    if term.endswith(("x", "ch", "sh")):
        return term + "es"
    return term + "s"


def _variants(term: str, *, plural: bool) -> set[str]:
    forms = {term}
    if "'s" in term:
        forms.add(term.replace("'s", "s"))
        forms.add(term.replace("'s", ""))
    if "-" in term:
        forms.add(term.replace("-", ""))
    if plural:
        forms |= {p for form in list(forms) if (p := _plural(form))}
    return forms


@cache
def health_terms() -> dict[str, str]:
    """Every dictionary form (normalised) of a condition, medication or procedure → its type."""
    terms: dict[str, str] = {}
    for name, kind, plural in (
        ("medications.txt", MEDICATION, False),
        ("procedures.txt", PROCEDURE, True),
        ("conditions.txt", CONDITION, True),
    ):
        for entry in read_entries(name):
            for form in _variants(entry.lower(), plural=plural):
                terms[normalise(form)] = kind
    return terms


@cache
def lab_tests() -> frozenset[str]:
    """Normalised names of laboratory tests and measurements."""
    return frozenset(normalise(entry.lower()) for entry in read_entries("lab_tests.txt"))


def words(text: str) -> list[str]:
    """The whitespace-separated words of ``text`` (keeps long word lists in code readable)."""
    return text.split()

"""The hand-written dev set (``encryption/dlp/corpus/handwritten.jsonl``): well-formed spans. No database.

The set was written by hand in styles unlike the generated corpus (SMS reminders, formal letters,
forwarded threads, line-item tables, shop receipts, newsletters, HR notices) to find rule classes
the generated corpus does not exercise; ``manage.py dlp_evaluate --corpus`` scores it.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from encryption.dlp.evaluate import load_records
from encryption.dlp.findings import FINDING_TYPES, HEALTH_TYPES, LEVEL_NONE, LEVEL_PHI, LEVEL_PII

PATH = Path(__file__).resolve().parents[1] / "dlp" / "corpus" / "handwritten.jsonl"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [json.loads(line) for line in PATH.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_evaluator_reads_it(records):
    assert len(load_records(PATH)) == len(records) >= 100


def test_records_have_the_corpus_shape_and_unique_ids(records):
    assert len({r["id"] for r in records}) == len(records)
    for record in records:
        assert {"id", "kind", "text", "level", "health_context", "findings"} <= record.keys()
        assert record["level"] in (LEVEL_PHI, LEVEL_PII, LEVEL_NONE)
        assert isinstance(record["health_context"], bool)
        for finding in record["findings"]:
            assert finding.keys() <= {"type", "start", "end", "org"}
            assert finding["type"] in FINDING_TYPES, (record["id"], finding)


def test_spans_are_inside_the_text_non_empty_unpadded_and_whole_words(records):
    for record in records:
        text = record["text"]
        for finding in record["findings"]:
            start, end = finding["start"], finding["end"]
            value = text[start:end]
            assert 0 <= start < end <= len(text), record["id"]
            assert value == value.strip() and "\n" not in value, (record["id"], value)
            assert not (start > 0 and text[start - 1].isalnum()), (record["id"], value)
            assert not (end < len(text) and text[end].isalnum()), (record["id"], value)


def test_spans_do_not_overlap(records):
    for record in records:
        ordered = sorted(record["findings"], key=lambda f: f["start"])
        for a, b in itertools.pairwise(ordered):
            assert a["end"] <= b["start"], (record["id"], a, b)


def test_levels_follow_the_level_rule(records):
    for record in records:
        identifying = [f for f in record["findings"] if f["type"] not in HEALTH_TYPES and not f.get("org")]
        health = record["health_context"] or any(f["type"] in HEALTH_TYPES for f in record["findings"])
        expected = (LEVEL_PHI if health else LEVEL_PII) if identifying else LEVEL_NONE
        assert record["level"] == expected, record["id"]


def test_it_is_varied(records):
    levels = Counter(r["level"] for r in records)
    assert min(levels.values()) >= 20
    assert len({r["kind"] for r in records}) >= 15
    types = Counter(f["type"] for r in records for f in r["findings"])
    assert len(types) >= 20

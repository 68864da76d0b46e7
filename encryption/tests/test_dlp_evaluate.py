"""The DLP evaluator's arithmetic, on hand-made records and a fake classifier. No database."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from encryption.dlp.evaluate import evaluate, format_report, overlaps, spread
from encryption.dlp.findings import Classification, Finding

TEXT_A = "Dear Ann Lee, your MRI on 3/3/27 showed a torn meniscus. Call 555-201-3344."
TEXT_B = "Flu shots are available. Order #48213 ships today."
TEXT_C = "Hi Bo, your password was reset from 192.0.2.4."


def at(text: str, value: str) -> tuple[int, int]:
    start = text.index(value)
    return start, start + len(value)


def gold(text: str, *labels: tuple[str, str]) -> list[dict]:
    return [{"type": t, "start": at(text, v)[0], "end": at(text, v)[1]} for t, v in labels]


RECORDS = [
    {
        "id": "a",
        "kind": "result",
        "text": TEXT_A,
        "level": "phi",
        "findings": gold(
            TEXT_A,
            ("NAME", "Ann Lee"),
            ("PROCEDURE", "MRI"),
            ("DATE", "3/3/27"),
            ("CONDITION", "torn meniscus"),
            ("PHONE", "555-201-3344"),
        ),
    },
    {"id": "b", "kind": "newsletter", "text": TEXT_B, "level": "none", "findings": []},
    {
        "id": "c",
        "kind": "security",
        "text": TEXT_C,
        "level": "pii",
        "findings": gold(TEXT_C, ("NAME", "Bo"), ("IP_ADDRESS", "192.0.2.4")),
    },
]


def finding(text: str, type_: str, value: str, trim: int = 0) -> Finding:
    start, end = at(text, value)
    return Finding(type_, start + trim, end, 0.9, "test")


PREDICTIONS = {
    # Name found with the wrong type and a shorter span (still found: overlap, type-agnostic); date found;
    # phone missed; "Dear" flagged as a NAME (false positive). Health: condition found, MRI missed,
    # "Call" flagged as a PROCEDURE (false positive). Level right.
    TEXT_A: Classification(
        "phi",
        (
            finding(TEXT_A, "OTHER_ID", "Ann Lee", trim=4),
            finding(TEXT_A, "DATE", "3/3/27"),
            finding(TEXT_A, "NAME", "Dear"),
            finding(TEXT_A, "CONDITION", "torn meniscus"),
            finding(TEXT_A, "PROCEDURE", "Call"),
        ),
    ),
    # The order number taken for a ZIP: a false positive, and a wrong level.
    TEXT_B: Classification("pii", (finding(TEXT_B, "ZIP", "48213"),)),
    # Both found, but called phi.
    TEXT_C: Classification("phi", (finding(TEXT_C, "NAME", "Bo"), finding(TEXT_C, "IP_ADDRESS", "192.0.2.4"))),
}


def fake_classify(text: str) -> Classification:
    return PREDICTIONS[text]


def perfect_classify_for(records):
    by_text = {
        r["text"]: Classification(
            r["level"], tuple(Finding(f["type"], f["start"], f["end"], 1.0, "gold") for f in r["findings"])
        )
        for r in records
    }
    return by_text.__getitem__


def test_overlap_is_strict_about_touching_ends():
    assert overlaps((0, 5), (4, 9))
    assert not overlaps((0, 5), (5, 9))
    assert overlaps((2, 3), (0, 10))


def test_identifier_recall_and_precision_by_overlap_ignoring_type():
    report = evaluate(fake_classify, RECORDS)
    # Gold identifiers: Ann Lee, 3/3/27, phone, Bo, IP = 5; found all but the phone.
    assert (report.identifiers.gold, report.identifiers.found) == (5, 4)
    assert report.identifiers.recall == pytest.approx(0.8)
    # Predicted identifiers: Ann Lee (OTHER_ID), date, "Dear", 48213, Bo, IP = 6; correct 4.
    assert (report.identifiers.predicted, report.identifiers.correct) == (6, 4)
    assert report.identifiers.precision == pytest.approx(4 / 6)


def test_health_is_scored_apart_from_identifiers():
    report = evaluate(fake_classify, RECORDS)
    assert (report.health.gold, report.health.found) == (2, 1)
    assert (report.health.predicted, report.health.correct) == (2, 1)
    assert [e.text for e in report.health_misses] == ["MRI"]
    assert [e.text for e in report.health_false_positives] == ["Call"]


def test_per_type_recall_uses_the_gold_type_and_precision_the_predicted_type():
    report = evaluate(fake_classify, RECORDS)
    assert (report.by_gold_type["NAME"].gold, report.by_gold_type["NAME"].found) == (2, 2)
    assert (report.by_gold_type["PHONE"].gold, report.by_gold_type["PHONE"].found) == (1, 0)
    assert (report.by_predicted_type["OTHER_ID"].predicted, report.by_predicted_type["OTHER_ID"].correct) == (1, 1)
    assert (report.by_predicted_type["NAME"].predicted, report.by_predicted_type["NAME"].correct) == (2, 1)
    assert report.by_predicted_type["ZIP"].precision == 0.0


def test_levels_accuracy_phi_recall_and_confusion():
    report = evaluate(fake_classify, RECORDS)
    assert report.messages == 3
    assert report.level_correct == 1
    assert report.accuracy == pytest.approx(1 / 3)
    assert report.phi_recall == 1.0
    assert report.confusion["none"]["pii"] == 1
    assert report.confusion["pii"]["phi"] == 1
    assert report.confusion["phi"]["phi"] == 1
    assert [(e.record_id, e.gold, e.predicted) for e in report.level_errors] == [
        ("b", "none", "pii"),
        ("c", "pii", "phi"),
    ]
    assert report.by_kind == {"result": [1, 1], "newsletter": [1, 0], "security": [1, 0]}


def test_errors_name_the_message_and_quote_the_span():
    report = evaluate(fake_classify, RECORDS)
    (miss,) = report.identifier_misses
    assert (miss.record_id, miss.type, miss.text) == ("a", "PHONE", "555-201-3344")
    assert "[555-201-3344]" in miss.context
    assert {(e.record_id, e.text) for e in report.identifier_false_positives} == {("a", "Dear"), ("b", "48213")}
    # Message a: phone missed, "Dear" and "Call" false, MRI missed = 4 errors.
    assert report.worst_messages(1) == [("a", 4)]


def test_goals_compare_against_the_issue_targets():
    goals = evaluate(fake_classify, RECORDS).goals()
    assert goals["identifier_recall"] == (pytest.approx(0.8), 0.97, False)
    assert goals["phi_recall"][2] is True


def test_a_perfect_classifier_scores_one_everywhere():
    report = evaluate(perfect_classify_for(RECORDS), RECORDS)
    assert report.identifiers.recall == report.identifiers.precision == 1.0
    assert report.health.recall == report.health.precision == 1.0
    assert report.accuracy == 1.0
    assert all(met for _, _, met in report.goals().values())
    assert not report.errors_per_message


def test_a_silent_classifier_has_no_recall_and_vacuous_precision():
    report = evaluate(lambda text: Classification("none", ()), RECORDS)
    assert report.identifiers.recall == 0.0
    assert report.identifiers.precision == 1.0
    assert report.accuracy == pytest.approx(1 / 3)
    assert report.phi_recall == 0.0


def test_spread_takes_errors_from_every_type_in_turn():
    report = evaluate(lambda text: Classification("none", ()), RECORDS)
    chosen = spread(report.identifier_misses, 4)
    assert len(chosen) == 4
    assert len({e.type for e in chosen}) == 4


def test_text_report_lists_figures_goals_and_errors():
    text = format_report(evaluate(fake_classify, RECORDS), show_errors=5, source="hand-made")
    assert "3 messages from hand-made" in text
    assert "recall 0.800 (4/5)" in text
    assert "NOT MET" in text
    assert "[555-201-3344]" in text


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return path


def test_command_prints_json(monkeypatch, corpus_file):
    monkeypatch.setattr("encryption.dlp.classify", fake_classify, raising=False)
    out = StringIO()
    call_command("dlp_evaluate", corpus=corpus_file, json=True, show_errors=2, stdout=out)
    data = json.loads(out.getvalue())
    assert data["messages"] == 3
    assert data["identifiers"]["recall"] == 0.8
    assert data["confusion"]["none"]["pii"] == 1
    assert len(data["identifier_false_positives"]) == 2
    assert data["goals"]["accuracy"]["met"] is False


def test_command_prints_a_summary(monkeypatch, corpus_file):
    monkeypatch.setattr("encryption.dlp.classify", fake_classify, raising=False)
    out = StringIO()
    call_command("dlp_evaluate", corpus=str(corpus_file), show_errors=0, stdout=out)
    assert "Identifiers  recall 0.800" in out.getvalue()
    assert "Identifier misses" not in out.getvalue()

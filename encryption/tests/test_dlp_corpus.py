"""The labelled DLP corpus: up to date, well-formed, varied, and labelled by its own rules. No database."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from encryption.dlp import corpus, corpus_base, corpus_pools
from encryption.dlp.findings import FINDING_TYPES, HEALTH_TYPES, IDENTIFIER_TYPES, LEVEL_NONE, LEVEL_PHI, LEVEL_PII

REQUIRED_KINDS = {
    "appointment_reminder", "appointment_confirmation", "appointment_cancellation", "bill_statement", "payment_receipt",
    "lab_results_ready", "lab_result_detail", "prescription_ready", "prescription_refill", "plan_renewal", "referral",
    "post_visit_summary", "care_gap_outreach", "device_shipment", "pharmacy_notice", "telehealth_link",
    "portal_invitation", "newsletter", "wellness_marketing", "survey", "office_closure", "health_education",
    "shop_order", "password_reset", "event_invite",
}  # fmt: skip


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return corpus.load()


def spans(record: dict, types=FINDING_TYPES) -> list[tuple[str, int, int]]:
    return [(f["type"], f["start"], f["end"]) for f in record["findings"] if f["type"] in types]


def overlaps_any(start: int, end: int, record: dict) -> bool:
    return any(f["start"] < end and start < f["end"] for f in record["findings"])


def test_corpus_file_is_what_the_generator_writes(records):
    assert corpus.CORPUS_PATH.read_text(encoding="utf-8") == corpus.dumps(corpus.generate()), (
        "run python -m encryption.dlp.corpus"
    )


def test_check_flag_reports_a_stale_file(tmp_path, capsys):
    path = tmp_path / "corpus.jsonl"
    path.write_text("{}\n", encoding="utf-8")
    assert corpus.main(["--check", "--path", str(path)]) == 1
    assert corpus.main(["--path", str(path)]) == 0
    assert corpus.main(["--check", "--path", str(path)]) == 0


def test_corpus_is_large_but_under_two_megabytes(records):
    assert len(records) >= 800
    assert corpus.CORPUS_PATH.stat().st_size < 2_000_000


def test_records_have_the_documented_shape_and_unique_ids(records):
    assert len({r["id"] for r in records}) == len(records)
    for record in records:
        assert {"id", "kind", "text", "level", "health_context", "findings"} <= record.keys()
        assert record["level"] in (LEVEL_PHI, LEVEL_PII, LEVEL_NONE)
        for finding in record["findings"]:
            assert finding.keys() <= {"type", "start", "end", "org"}


def test_spans_are_inside_the_text_non_empty_unpadded_and_whole_words(records):
    for record in records:
        text = record["text"]
        for _, start, end in spans(record):
            value = text[start:end]
            assert 0 <= start < end <= len(text), record["id"]
            assert value == value.strip() and "\n" not in value, (record["id"], value)
            assert not (start > 0 and text[start - 1].isalnum()), (record["id"], value)
            assert not (end < len(text) and text[end].isalnum()), (record["id"], value)


def test_spans_do_not_overlap_within_a_message(records):
    for record in records:
        ordered = sorted(spans(record), key=lambda s: s[1])
        for (_, _, end), (_, start, _) in itertools.pairwise(ordered):
            assert end <= start, record["id"]


def test_every_finding_type_is_labelled_often(records):
    counts = Counter(f["type"] for r in records for f in r["findings"])
    assert set(counts) == FINDING_TYPES
    assert min(counts.values()) >= 20, counts


def test_every_kind_is_present_several_times(records):
    counts = Counter(r["kind"] for r in records)
    assert set(counts) >= REQUIRED_KINDS
    assert min(counts.values()) >= 20, counts


def test_levels_are_balanced_enough_to_measure(records):
    counts = Counter(r["level"] for r in records)
    assert counts[LEVEL_PHI] >= 400 and counts[LEVEL_PII] >= 100 and counts[LEVEL_NONE] >= 100, counts


def test_level_follows_from_the_labels(records):
    """phi: someone identified plus health; pii: identified only; none: no one identified."""
    for record in records:
        person = any(f["type"] in IDENTIFIER_TYPES and not f.get("org") for f in record["findings"])
        health = record["health_context"] or any(f["type"] in HEALTH_TYPES for f in record["findings"])
        expected = (LEVEL_PHI if health else LEVEL_PII) if person else LEVEL_NONE
        assert record["level"] == expected, record["id"]


def test_health_education_and_general_notices_carry_no_health_labels(records):
    for record in records:
        if record["kind"] in {"health_education", "newsletter", "wellness_marketing", "shop_order"}:
            assert not spans(record, HEALTH_TYPES), record["id"]
        if record["kind"] == "health_education":
            assert record["level"] == LEVEL_NONE


def test_none_messages_still_mention_diseases_and_contact_details(records):
    none = [r for r in records if r["level"] == LEVEL_NONE]
    assert sum("diabetes" in r["text"].lower() or "flu" in r["text"].lower() for r in none) >= 30
    assert sum(bool(spans(r, IDENTIFIER_TYPES)) for r in none) >= 50  # the sender's phone, address, website


HARD_NEGATIVES = {
    "price": r"\$\d[\d,]*(?:\.\d\d)?",
    "order number": r"Order #\S+",
    "coupon code": "|".join(corpus_pools.COUPON_CODES),
    "office hours": r"Mon[–-]Fri 8:00 AM[–-]5:00 PM|Mon-Fri 9am-5pm",
    "time": r"\b\d{1,2}:\d\d ?(?:AM|PM|am|pm)\b",
    "percentage": r"\b\d+(?:\.\d+)?%",
    "version": r"version \d+\.\d+\.\d+",
    "year alone": r"© \d{4}",
    "visit billing code": r"\(9921\d\)",
    "photo ID instruction": r"photo ID",
}


@pytest.mark.parametrize("name", sorted(HARD_NEGATIVES))
def test_hard_negatives_are_present_and_never_labelled(records, name):
    pattern = re.compile(HARD_NEGATIVES[name])
    seen = 0
    for record in records:
        for match in pattern.finditer(record["text"]):
            seen += 1
            start, end = match.span()
            if name == "percentage" and any(f["type"] == "LAB_RESULT" for f in record["findings"]):
                continue  # "HbA1c 7.2%" is a result; the hard negatives are discounts and statistics
            assert not overlaps_any(start, end, record), (record["id"], match.group())
    assert seen >= 10, name


def test_names_leave_honorifics_and_credentials_outside(records):
    for record in records:
        for _, start, end in spans(record, {"NAME"}):
            value = record["text"][start:end]
            assert not re.match(r"(Dr|Ms|Mr|Mrs|Mx)\.? ", value), (record["id"], value)
            assert not re.search(r", ?(MD|DO|NP|RN)$", value), (record["id"], value)


def test_dates_are_more_specific_than_a_year(records):
    for record in records:
        for _, start, end in spans(record, {"DATE"}):
            assert not re.fullmatch(r"\d{4}", record["text"][start:end]), record["id"]


def test_check_digits_are_valid():
    rng = corpus_base.random.Random(1)
    for _ in range(200):
        npi = corpus_base.npi(rng)
        assert corpus_base.luhn_check_digit("80840" + npi[:9]) == npi[9]
        dea = corpus_base.dea(rng, "Okafor")
        d = [int(c) for c in dea[2:]]
        assert (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]
        assert dea[1] == "O"
        ssn = re.sub(r"\D", "", corpus_base.ssn(rng))
        assert ssn[:3] not in {"000", "666"} and int(ssn[:3]) < 900 and ssn[3:5] != "00" and ssn[5:] != "0000"


def test_known_npi_check_digit():
    # CMS's published example: 123456789 has check digit 3.
    assert corpus_base.luhn_check_digit("80840123456789") == "3"

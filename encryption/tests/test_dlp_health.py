"""Health information: dictionary terms, word forms, results, ICD-10 codes, health context, and
general education told from facts about the reader (issue 9)."""

from __future__ import annotations

import pytest

from encryption.dlp import classify, has_health_context, scan
from encryption.dlp.findings import CONDITION, HEALTH_TYPES, LAB_RESULT, MEDICATION, PROCEDURE
from encryption.dlp.health import GENERAL


def health(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in scan(text) if f.type in HEALTH_TYPES]


def personal(text: str) -> list[tuple[str, str]]:
    return [
        (f.type, text[f.start : f.end]) for f in scan(text) if f.type in HEALTH_TYPES and not f.rule.endswith(GENERAL)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You were diagnosed with type 2 diabetes.", (CONDITION, "type 2 diabetes")),
        ("Your COPD follow-up is Tuesday.", (CONDITION, "COPD")),
        ("Treatment for your UTIs continues.", (CONDITION, "UTIs")),
        ("Your Alzheimers care plan is attached.", (CONDITION, "Alzheimers")),
        ("Continue metformin 500 mg twice daily.", (MEDICATION, "metformin 500 mg")),
        ("Your Eliquis refill is ready.", (MEDICATION, "Eliquis")),
        ("Take Lisinopril-HCTZ 20/12.5 mg each morning.", (MEDICATION, "Lisinopril-HCTZ 20/12.5 mg")),
        ("Your colonoscopy is scheduled for March 3.", (PROCEDURE, "colonoscopy")),
        ("Your x-rays came back.", (PROCEDURE, "x-rays")),
        ("Your MRI is booked.", (PROCEDURE, "MRI")),
    ],
)
def test_dictionary_terms(text, expected):
    assert expected in health(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your spirometry is on Friday.", (PROCEDURE, "spirometry")),
        ("Findings are consistent with Gaucher disease.", (CONDITION, "Gaucher disease")),
        ("You have hereditary angioedema.", (CONDITION, "angioedema")),
        ("Today's diagnosis: torn meniscus.", (CONDITION, "torn meniscus")),
        ("Injuries reported: lumbar strain", (CONDITION, "lumbar strain")),
        ("Please evaluate for hearing evaluation.", (PROCEDURE, "hearing evaluation")),
        ("Your Zorbatinib 40 mg is ready.", (MEDICATION, "Zorbatinib 40 mg")),
        ("Diagnosis: Kessler-Voight anomaly", (CONDITION, "Kessler-Voight anomaly")),
    ],
)
def test_terms_no_list_holds_are_found_by_their_form(text, expected):
    assert expected in health(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your HbA1c was 7.2% last week.", "HbA1c was 7.2%"),
        ("LDL 162 mg/dL, HDL 41 mg/dL.", "LDL 162 mg/dL"),
        ("Your A1C of 6.8 is better.", "A1C of 6.8"),
        ("Blood pressure: 142/91 mmHg", "Blood pressure: 142/91 mmHg"),
        ("You tested negative for strep.", "tested negative for strep"),
        ("Your Lyme antibody positive on Western blot.", "Lyme antibody positive"),
    ],
)
def test_laboratory_results(text, expected):
    assert (LAB_RESULT, expected) in health(text)


def test_a_dose_is_not_a_lab_value():
    assert (LAB_RESULT, "calcium 500") not in health("Take calcium 500 mg daily.")


@pytest.mark.parametrize(
    ("text", "code", "found"),
    [
        ("Dx: E11.9", "E11.9", True),
        ("Diagnosis code E119 on the claim.", "E119", True),
        ("Prostate cancer (C61).", "C61", True),
        ("Room E11 is on the left.", "E11", False),  # a room, no dot and no cue
        ("Code Q99.9 is not a real category? It is.", "Q99.9", True),
        ("U07.1 style codes outside A–T, V–Z are skipped.", "U07.1", False),
    ],
)
def test_icd10_codes(text, code, found):
    assert ((CONDITION, code) in health(text)) is found


@pytest.mark.parametrize(
    "text",
    [
        "This is a reminder of your appointment on Tuesday.",
        "Your statement for your recent visit is ready.",
        "Your prescription is ready for pickup.",
        "Your test results are now available in the portal.",
        "You're booked for 10:30 on Friday.",
        "Our records show you are overdue for a check-up.",
        "How was your visit with our team yesterday?",
        "Reason for referral: chest pain",
    ],
)
def test_health_context(text):
    assert has_health_context(text)


@pytest.mark.parametrize(
    "text",
    [
        "Flu shots are available at all of our locations this month.",
        "We now open on Saturdays.",
        "Your password was changed.",
        "Your order has shipped.",
        "Talk with your doctor about cancer screening.",
        "",
    ],
)
def test_no_health_context(text):
    assert not has_health_context(text)


def test_general_education_is_no_information_about_the_reader():
    text = "Hi Maria,\n\nFlu shots are available for everyone 6 months and older. Walking lowers the risk of stroke."
    assert health(text) == []
    assert classify(text).level == "pii"


def test_a_term_in_an_event_title_is_general():
    text = "Dear Dr. Lee,\n\nYou are invited to Grand Rounds: Advances in Stroke Care on May 4."
    assert personal(text) == []


def test_facts_about_the_reader_are_personal():
    text = "Hi Maria,\n\nYour mammogram is due. Your sertraline 50 mg refill is ready."
    assert {kind for kind, _ in personal(text)} == {PROCEDURE, MEDICATION}
    assert classify(text).level == "phi"


# --------------------------------------------------------------------------------------------
# Rule classes found with the hand-written dev set (encryption/dlp/corpus/handwritten.jsonl).


def test_a_reading_spans_a_test_the_dictionary_knows():
    assert (LAB_RESULT, "biopsy was benign") in personal("Fatou, good news - your biopsy was benign.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your physio is moved to Tuesday.", (PROCEDURE, "physio")),
        ("confirming your IUD insertion on Wed", (PROCEDURE, "IUD insertion")),
        ("They show mild mitral regurgitation.", (CONDITION, "mitral regurgitation")),
        ("Please start vitamin D3 2000 IU daily.", (MEDICATION, "vitamin D3 2000 IU")),
    ],
)
def test_vocabulary_added_for_common_care(text, expected):
    assert expected in health(text)


@pytest.mark.parametrize(
    "text",
    [
        "Hi Ana, statins like atorvastatin lower LDL.",
        "Dear Omar, save up to 80% on generics like metformin and lisinopril with the RxSaver card.",
        "Hi Ana, travelling this summer? Ask about travel vaccines such as hepatitis A and typhoid.",
        "Dear Omar, melanoma is the deadliest form of skin cancer.",
        "Hi Ana, osteoporosis weakens bones; adults over 65 should have a bone density scan.",
    ],
)
def test_education_and_marketing_wording_is_general(text):
    assert personal(text) == []
    assert classify(text).level == "pii"


@pytest.mark.parametrize(
    "text",
    [
        "Ahmed, cleaning booked the 3rd of March @ 10. Reply Y/N",
        "Your physio session is scheduled for Friday.",
        "Our records show you are overdue for a mammogram.",
    ],
)
def test_care_booked_or_due_is_health_context(text):
    assert has_health_context(text)


@pytest.mark.parametrize(
    "text",
    [
        "Your credentialing file is due for recredentialing by June 30.",
        "Your subscription is due for renewal on May 1.",
    ],
)
def test_paperwork_due_is_no_health_context(text):
    assert not has_health_context(text)

"""Rule classes added when blind set B became a development set (issue 9): each case is written
here, in other words than any corpus message, to check the class of text rather than one string."""

from __future__ import annotations

import pytest

from encryption.dlp import classify, scan
from encryption.dlp.findings import (
    CONDITION,
    DATE,
    HEALTH_PLAN_ID,
    HEALTH_TYPES,
    LAB_RESULT,
    LEVEL_NONE,
    LEVEL_PHI,
    LEVEL_PII,
    MEDICATION,
    NAME,
    OTHER_ID,
    PHONE,
    PROCEDURE,
    ZIP,
)
from encryption.dlp.health import GENERAL


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in scan(text)]


def personal_health(text: str) -> list[tuple[str, str]]:
    return [
        (f.type, text[f.start : f.end]) for f in scan(text) if f.type in HEALTH_TYPES and not f.rule.endswith(GENERAL)
    ]


# --------------------------------------------------------------------------------------------
# Laboratory results and readings worded in other ways.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi Dana, your potassium was high at 5.9 today.", "potassium was high at 5.9"),
        ("Your creatinine came back 1.4 (ref 0.6-1.2).", "creatinine came back 1.4 (ref 0.6-1.2)"),
        ("Visit vitals: temp 101.2 F, pulse 90.", "temp 101.2 F"),
        ("Growth check: weight 9.1 kg (40th percentile).", "weight 9.1 kg (40th percentile)"),
        ("Ana, your strep test from Monday came back positive.", "came back positive"),
        (
            "Patient: Jon Berg\nChest x-ray, 2 views\nImpression: small left pleural effusion.",
            "small left pleural effusion",
        ),
        ("CT abdomen. Findings: no acute abnormality.", "no acute abnormality"),
    ],
)
def test_results_worded_differently(text, expected):
    assert (LAB_RESULT, expected) in found(text)


def test_findings_of_an_audit_are_no_reading():
    text = "Safety walk-round, Dana Reyes\nFindings: two fire doors propped open."
    assert all(kind != LAB_RESULT for kind, _ in found(text))
    assert classify(text).level == LEVEL_PII


def test_a_test_with_its_date_keeps_its_own_finding():
    assert (PROCEDURE, "strep test") in found("Ana, your strep test from Monday came back positive.")


@pytest.mark.parametrize(
    "text",
    [
        "Limit sodium to 2,300 mg a day.",  # a thousands separator, not a reading
        "Your LDL 160 in March was the last one on file, so call us.",  # no unit of the body here
        "Your weight matters to us.",
    ],
)
def test_counts_limits_and_everyday_weights_are_no_results(text):
    assert all(kind != LAB_RESULT for kind, _ in found(text))


# --------------------------------------------------------------------------------------------
# Procedures, drugs and conditions named by their form.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("After your spinal fusion, Dr. Ito ordered rest.", (PROCEDURE, "spinal fusion")),
        ("Your rotator cuff repair went well.", (PROCEDURE, "rotator cuff repair")),
        ("Dr. Singh ordered vestibular therapy on Mondays.", (PROCEDURE, "vestibular therapy")),
        ("Your MRI cervical spine with contrast is booked.", (PROCEDURE, "MRI cervical spine with contrast")),
        ("Su colonoscopia del 3 de mayo está pagada.", (PROCEDURE, "colonoscopia")),
        ("Mi hijo tiene otitis desde ayer.", (CONDITION, "otitis")),
        ("Mi hija toma ibuprofeno 100 mg y paracetamolina 80 mg.", (MEDICATION, "paracetamolina 80 mg")),
        ("Referral: pt reports a darkening freckle on the shin.", (CONDITION, "darkening freckle on the shin")),
        ("Home visit: pain assessment and wound check.", (PROCEDURE, "pain assessment")),
        ("The plan reviewed your PET scan request.", (PROCEDURE, "PET scan")),
    ],
)
def test_terms_found_by_their_form(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "StrideWell Therapy opens a new gym.",  # a capitalised therapy ends an organisation's name
        "Biomed: infusion pumps in rooms 3-9 need a patch.",  # equipment
        "A wheelchair van picks you up at the door.",
    ],
)
def test_equipment_and_organisations_are_no_care(text):
    assert all(kind not in (PROCEDURE, CONDITION) for kind, _ in personal_health(text))


def test_marketing_of_a_therapy_is_general():
    text = "Treat yourself to massage therapy: 20% off your first visit with code SPRING."
    assert personal_health(text) == []


# --------------------------------------------------------------------------------------------
# Identifiers.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Confirm your date of birth (3/9/1981) to continue.", (DATE, "3/9/1981")),
        ("Your nurse is Kim Lee (303.555.0144).", (PHONE, "303.555.0144")),
        ("Enter your ZIP code (97301) to continue.", (ZIP, "97301")),
        ("Login problems? Username: bkoh1977", (OTHER_ID, "bkoh1977")),
        ("Your new badge 77120 works from Monday.", (OTHER_ID, "77120")),
        ("Plan member ID 88120044, group 41177.", (HEALTH_PLAN_ID, "41177")),
        ("Please call nurse Okafor tomorrow.", (NAME, "Okafor")),
        ("Re: Tanaka, Hiroshi\nPlease find the notes attached.", (NAME, "Tanaka, Hiroshi")),
        ("Hi - this is Omar (Haddad) asking about the forms.", (NAME, "Haddad")),
        ("Good morning Ms. Varga - Harbor Dental reminding you of Friday.", (NAME, "Varga")),
        ("We sent it to K. Mensah, MBBS, this morning.", (NAME, "K. Mensah")),
        ("TOMÁS - Your refill is ready at the counter.", (NAME, "TOMÁS")),
    ],
)
def test_identifiers_in_other_places(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Staff webinar Friday. Webinar ID 845 1123 9981, passcode 4411.",
        "Door code for the staff lounge app: LNG-4471.",
        "Re: Your appointment on Monday",
        "Farmacia Buena Vida: horario 9-9.",
        "Springfield - Your clinic is open on Saturday.",
        "Austin - Your order shipped.",
    ],
)
def test_call_numbers_app_codes_and_subjects_identify_no_one(text):
    assert all(kind not in (NAME, OTHER_ID) for kind, _ in found(text))


def test_a_group_before_a_street_name_is_an_address():
    text = "Aetna plan members: Mercy Medical Group 6454 Oak Avenue, Salem."
    assert (HEALTH_PLAN_ID, "6454") not in found(text)


# --------------------------------------------------------------------------------------------
# Levels.


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Keisha, your lens fitting at BrightSight Optical is on June 3 at 4pm.", LEVEL_PHI),
        ("Dear Ms. Obi, the plan has approved the request for your PET scan.", LEVEL_PHI),
        ("RE: our client Tom Hale. Send all records and bills for treatment of a fractured ankle.", LEVEL_PHI),
        ("Estimado Sr. Ramírez: su cita con la Dra. Vega es el lunes.", LEVEL_PHI),
        (
            "Your quarterly invoice from PureWater Coolers is ready. Customer number 8812. Amount due: $310.00. "
            "Delivery window Tue 6-8 AM. Service period 1/1/2027 - 3/31/2027.",
            LEVEL_NONE,
        ),
        (
            "Clinical engineering: ventilators need maintenance.\n  Ventilator  SN 4QX88123  10.0.4.12  Room 221\n"
            "  Ventilator  7781-2231-Q19  2001:db8::19  Room 305",
            LEVEL_NONE,
        ),
        ("Rafael, your iris scan is now linked to your record, so check-in is faster.", LEVEL_PII),
    ],
)
def test_levels_of_the_new_classes(text, level):
    assert classify(text).level == level

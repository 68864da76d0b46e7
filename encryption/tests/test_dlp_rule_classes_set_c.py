"""Rule classes added when blind set C became a development set (issue 9): each case is written
here, in other words than any corpus message, to check the class of text rather than one string."""

from __future__ import annotations

import pytest

from encryption.dlp import classify, scan
from encryption.dlp.findings import (
    ACCOUNT_NUMBER,
    ADDRESS,
    CONDITION,
    HEALTH_TYPES,
    IP_ADDRESS,
    LAB_RESULT,
    LEVEL_NONE,
    LEVEL_PHI,
    LEVEL_PII,
    MEDICATION,
    NAME,
    PROCEDURE,
)
from encryption.dlp.health import GENERAL


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in scan(text)]


def personal_health(text: str) -> list[tuple[str, str]]:
    return [
        (f.type, text[f.start : f.end]) for f in scan(text) if f.type in HEALTH_TYPES and not f.rule.endswith(GENERAL)
    ]


# --------------------------------------------------------------------------------------------
# Phrases of care: an appointment told by its parts, a clinician's next step with the reader, a
# product the reader was given, results of a named test, Spanish consultations and appointments.


@pytest.mark.parametrize(
    "text",
    [
        "Hi Priya! See you Tuesday with Dr. Halvorsen at 3:10pm. Reply Y to confirm.",
        "Elm Street Family Practice: Tobias, quick hello w/ Dr. Okafor on 7/9. Text STOP to opt out.",
        "Hi Greta, thanks for the pictures. Dr. Nowak will review them tomorrow and text you.",
        "Petra Lind: Dr. Vega will call you on Friday to go over the next steps.",
        "Dear Ivan Marsh, our records show you picked up a product on 2/14/2027 that is part of a recall.",
        "Dear Ivan Marsh, the medication you received in March has been recalled by its maker.",
        "Hello Petra Lind, the results of your sinus CT from 4/2/2027 are now available in the portal.",
        "Estimada Marisol Vega, su saldo por la consulta del 12 de marzo es de $40. Llame al 555-0134.",
        "Hola, soy el papá de Tobías Ruiz. ¿Nos pueden dar cita para mañana? Mi número es 555-0188.",
    ],
)
def test_phrases_of_care_make_the_message_phi(text):
    assert classify(text).level == LEVEL_PHI


def test_a_request_received_is_paperwork_not_care():
    text = "Hello Karl Berg, we received your request to update your mailing address on 2/2/2027."
    assert classify(text).level == LEVEL_PII


def test_a_clinician_at_an_event_is_not_an_appointment():
    text = "Join us at the spring gala: Dr. Halvorsen will discuss new trails in the county park."
    assert classify(text).level != LEVEL_PHI


# --------------------------------------------------------------------------------------------
# The recent past of the reader counts for them ("last month"), though "month" alone is the word
# of awareness campaigns.


def test_recent_past_counts_for_the_person():
    assert (CONDITION, "shingles") in personal_health("Ivan says the shingles came back last month, so he is resting.")


def test_awareness_month_stays_general():
    assert personal_health("November is Diabetes Awareness Month: learn the signs of diabetes.") == []


# --------------------------------------------------------------------------------------------
# Supplier invoices and security notices: the organisation's numbers, no one's identifiers.


def test_a_suppliers_invoice_number_is_no_identifier():
    text = (
        "Invoice INV-88-2210 from Northwind Gloves\nBill to: Cedar Clinic, Accounts Payable\n"
        "Terms: Net 30\nNitrile gloves (case) x4 .... $296.00\nRemit to ap@northwind.example.com"
    )
    result = classify(text)
    assert ACCOUNT_NUMBER not in {f.type for f in result.findings}
    assert result.level == LEVEL_NONE


def test_a_patients_invoice_number_still_is():
    text = "Dear Ana Ruiz, invoice INV-88-2210 for your visit on 3/3/2027 is attached."
    assert any(f.type == ACCOUNT_NUMBER for f in scan(text))


@pytest.mark.parametrize(
    "text",
    [
        "Staff alert: emails from a phishing sender at 198.51.100.23 asked for passwords. Delete them.",
        "Staff alert: block the malicious sender IP: 198.51.100.23 in your mail client.",
    ],
)
def test_a_phishing_source_address_is_no_ones(text):
    result = classify(text)
    assert [f.rule[-4:] for f in result.findings if f.type == IP_ADDRESS] == ["/org"]
    assert result.level == LEVEL_NONE


def test_a_sign_in_address_is_still_personal():
    for text in (
        "Hi Ana Ruiz, a new sign-in came from 198.51.100.23 today. Was it you?",
        "Hi Ana Ruiz, a new sign-in came from IP 198.51.100.23 today. Was it you?",
    ):
        rules = [f.rule for f in scan(text) if f.type == IP_ADDRESS]
        assert len(rules) == 1
        assert not rules[0].endswith("/org")


# --------------------------------------------------------------------------------------------
# Health terms by form: a lay description of a lesion by where it is, imaging with its region
# before it, spine injuries, a release form before a strength.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi Jonas, thanks for the photo of the rash on your forearm.", "rash on your forearm"),
        ("She found a lump in her breast and wants a visit.", "lump in her breast"),
        ("The swelling around the incision is normal for now.", "swelling around the incision"),
    ],
)
def test_a_lesion_by_its_site(text, expected):
    assert (CONDITION, expected) in found(text)


def test_a_growth_of_something_else_is_no_lesion():
    assert found("We saw growth in our clinic visits this year.") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your head CT is booked for Monday at 8.", "head CT"),
        ("Jonas, the shoulder MRI is on 5/5.", "shoulder MRI"),
        ("Her wrist ultrasound showed a small cyst.", "wrist ultrasound"),
    ],
)
def test_imaging_with_its_region_first(text, expected):
    assert (PROCEDURE, expected) in found(text)


def test_spine_injuries():
    assert (CONDITION, "lumbar disc protrusion") in found("Records for treatment of lumbar disc protrusion since May.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Continue nifedipine XL 30 mg daily.", "nifedipine XL 30 mg"),
        ("Start metformin ER 750 mg with supper.", "metformin ER 750 mg"),
    ],
)
def test_release_form_before_the_strength(text, expected):
    assert (MEDICATION, expected) in found(text)


@pytest.mark.parametrize(
    ("text", "kind", "term"),
    [
        ("Kai grinds his teeth: Dr. Lind thinks it is bruxism.", CONDITION, "bruxism"),
        ("Mara had a nosebleed at recess today.", CONDITION, "nosebleed"),
        ("Admitted with DKA overnight, now on the floor.", CONDITION, "DKA"),
        ("Started on cefazolin 2 g IV this morning.", MEDICATION, "cefazolin 2 g"),
        ("Your throat culture is pending.", PROCEDURE, "throat culture"),
        ("Your crown prep is booked for 6/2.", PROCEDURE, "crown prep"),
        ("He starts transcranial magnetic stimulation next week.", PROCEDURE, "transcranial magnetic stimulation"),
        ("La niña tiene fiebre desde ayer.", CONDITION, "fiebre"),
        ("Le di ibuprofeno a las 8.", MEDICATION, "ibuprofeno"),
    ],
)
def test_dictionary_terms(text, kind, term):
    assert (kind, term) in found(text)


def test_echo_measures_take_a_value():
    assert (LAB_RESULT, "LVEF of 35%") in found("Your echo today shows an LVEF of 35%.")


# --------------------------------------------------------------------------------------------
# Names: lower-case titles and self-introductions, credentials in a row, languages, and a few
# street types more.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello dr okafor, my knee still hurts after the shot", "okafor"),
        ("thx mrs. nowak for the call back", "nowak"),
        ("hi dr zembrowski, quick question about my refill", "zembrowski"),
        ("hey its daniel again, can i come in early", "daniel"),
        ("morning, this is priya vega from room 4", "priya vega"),
    ],
)
def test_lower_case_names_after_a_title_or_an_introduction(text, expected):
    assert (NAME, expected) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "pls ask dr about my appointment, thanks",
        "its time for your annual check, book online",
        "this is important: bring your card",
    ],
)
def test_lower_case_words_that_are_no_names(text):
    assert NAME not in {kind for kind, _ in found(text)}


def test_name_before_several_credentials():
    assert (NAME, "Ilsabet Qorvanu") in found("Questions go to Ilsabet Qorvanu, MA, LPC at 555-0100.")


def test_a_language_is_no_name():
    assert NAME not in {kind for kind, _ in found("Interpreter Tagalog and Vietnamese available: call 555-0100.")}


@pytest.mark.parametrize("street", ["41 Juniper Row", "7 Heron Walk", "1200 Mill Landing"])
def test_more_street_types(street):
    addresses = [
        span for kind, span in found(f"Please send the forms to {street}, Apt 2 before Friday.") if kind == ADDRESS
    ]
    assert addresses == [f"{street}, Apt 2"]

"""The message level — phi, pii, none — on crafted messages, and the merge-value fast path (issue 9)."""

from __future__ import annotations

import pytest

from encryption.dlp import classify, level_of, scan_value
from encryption.dlp.findings import (
    CONDITION,
    DATE,
    EMAIL,
    LEVEL_NONE,
    LEVEL_PHI,
    LEVEL_PII,
    MEDICATION,
    NAME,
    OTHER_ID,
    PHONE,
    Finding,
)

PHI = [
    "Dear Maria Garcia,\n\nThis is a reminder of your appointment with Dr. Alan Chen on March 3, 2027 at 10:30 AM.",
    "Hi John, your HbA1c was 7.2% and your LDL 162 mg/dL. Please continue metformin 500 mg.",
    "Hello Priya Patel,\n\nYour statement for your visit on 2/14/2027 is ready. Amount due: $42.50.",
    "Avery, your prescription is ready for pickup at our Main Street pharmacy.",
    "Patient: RIVERA, TOMÁS  DOB: 01/02/1950  Diagnosis: major depressive disorder",
    "Your colonoscopy is scheduled for 3/4/2027. Please start the bowel prep the day before.",  # no name: the date of care
    "Member ID W123456789: your claim for the MRI of your left knee was approved.",
    "Dear Mr. Okafor, our records show you are overdue for your mammogram.",
]
PII = [
    "Hi Avery, we now open on Saturdays. See you soon!",
    "Hello Bill Raman,\n\nWe received a request to reset your password. If it was not you, call 555-123-4567.",
    "Dear Dr. Kuznetsova, you are invited to Grand Rounds: Advances in Stroke Care on Tue, Aug 31.",
    "Hi Maria,\n\nFlu shots are available at all of our locations for everyone 6 months and older.",
    "Dear Ms. Tran, your plan renews on January 1, 2028. Your member ID stays W123456789.",
    "Hi Noor, your express check-in is set up: your palm-vein scan is now linked to your record.",
]
NONE = [
    "Flu shots are available at all of our locations this month. Call 555-0100 or visit www.sunrise.example.org.",
    "Holiday hours: all locations will be closed on Tuesday, July 20. For urgent needs call (919) 555-0186.",
    "Walking 30 minutes a day lowers the risk of heart disease and type 2 diabetes.",
    "Your order #12345678 has shipped! Use coupon SAVE20 for $20 off your next purchase.",
    "Oakridge Medical Group | 6454 Oak Avenue, Madison, WI 53703 | info@oakridge.example.org",
    "",
]


@pytest.mark.parametrize("text", PHI)
def test_identified_person_with_health_information_is_phi(text):
    assert classify(text).level == LEVEL_PHI


@pytest.mark.parametrize("text", PII)
def test_identified_person_without_health_information_is_pii(text):
    assert classify(text).level == LEVEL_PII


@pytest.mark.parametrize("text", NONE)
def test_no_one_identified_is_none(text):
    assert classify(text).level == LEVEL_NONE


def test_health_context_is_reported():
    result = classify("Dear Maria, this is a reminder of your appointment on Friday.")
    assert result.health_context is True
    assert result.level == LEVEL_PHI
    assert classify("Dear Maria, we now open on Fridays.").health_context is False


def f(kind: str, rule: str = "test") -> Finding:
    return Finding(kind, 0, 4, 0.9, rule)


def test_level_of_on_its_own():
    assert level_of([], False) == LEVEL_NONE
    assert level_of([f(NAME)], False) == LEVEL_PII
    assert level_of([f(NAME)], True) == LEVEL_PHI
    assert level_of([f(NAME), f(CONDITION)], False) == LEVEL_PHI
    assert level_of([f(CONDITION)], True) == LEVEL_NONE  # health information about no one
    # A clinic's phone, an event's date: no one identified.
    assert level_of([f(PHONE, "phone.nanp"), f(DATE, "date.text")], True) == LEVEL_NONE
    # The reader's own contact details and a date of their care do identify them.
    assert level_of([f(EMAIL, "email/personal")], False) == LEVEL_PII
    assert level_of([f(DATE, "date.text/personal")], True) == LEVEL_PHI
    assert level_of([f(DATE, "date.text/personal")], False) == LEVEL_NONE
    # General education beside a name does not make the message PHI.
    assert level_of([f(NAME), f(CONDITION, "dict.condition/general")], False) == LEVEL_PII
    # Merge values are about the recipient by construction.
    assert level_of([f(PHONE, "merge:attr.mobile"), f(MEDICATION, "merge:attr.note")], False) == LEVEL_PHI


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("Maria Garcia", NAME),
        ("2027-01-12 09:30", DATE),
        ("March 3, 2027", DATE),
        ("Tue, Mar 3", DATE),
        ("Metformin 500 mg", MEDICATION),
        ("Synthetamol 10 mg", MEDICATION),
        ("hypertension", CONDITION),
        ("E11.9", CONDITION),
        ("DEMO-00042", OTHER_ID),
        ("avery.sampleton@example.com", EMAIL),
        ("(555) 123-4567", PHONE),
    ],
)
def test_scan_value_judges_a_whole_value_by_its_shape(value, kind):
    findings = scan_value(value)
    assert [(x.type, x.start, x.end) for x in findings] == [(kind, 0, len(value))]


@pytest.mark.parametrize("value", ["", "   ", "$42.50", "42", "2027", "plain words", "Sunrise Clinic, Suite 4", "Gold"])
def test_scan_value_finds_nothing_in_harmless_values(value):
    assert scan_value(value) == ()


def test_scan_value_keeps_offsets_of_padded_values_and_scans_long_ones_as_text():
    assert [(x.type, x.start, x.end) for x in scan_value("  E11.9 ")] == [(CONDITION, 2, 7)]
    long_value = "Patient note: seen on 3/4/2027 by Dr. Alan Chen for asthma, refill albuterol inhaler."
    kinds = {x.type for x in scan_value(long_value)}
    assert {DATE, NAME, CONDITION} <= kinds


# Messages in the styles of the hand-written dev set (encryption/dlp/corpus/handwritten.jsonl).
HANDWRITTEN_STYLE = [
    (
        "Spring wellness tips: drink water, sleep 7-9 hours, and get your annual flu vaccine. Our pharmacy is open "
        "Mon-Sat 9am-7pm. Use code SPRING25 for 25% off vitamins. Order #A-55231 ships free over $35.",
        LEVEL_NONE,
    ),
    ("Package update: shipment 92748963438592543 from Medline Supply is delayed due to weather.", LEVEL_NONE),
    ("Gift card balance: $25.00. Card ending 8841. Questions? Call 1-800-555-0123.", LEVEL_NONE),
    (
        "Asthma action plans help. Keep your rescue inhaler with you.\n\nQuestions? Ask our therapists at "
        "breathe@valleylung.example.org.",
        LEVEL_NONE,
    ),
    # A healthcare organisation's order for a named person may be a prescription or supplies:
    # with nothing to say it is a shop's, the sixth pass's default makes it phi (docs/dlp.md).
    ("Hi Samira, your order WM-77120934 is out for delivery.", LEVEL_PHI),
    ("We have your SSN on file ending 6789. Please bring your driver's license on your first day.", LEVEL_NONE),
    (
        "Dear Dr. Babajide Ogunleye,\n\nYour credentialing file is due for recredentialing by June 30, 2027. "
        "Your NPI on file is 1245319599.",
        LEVEL_PII,
    ),
    ("Sunrise Dental: Ahmed, cleaning booked the 3rd of March @ 10. Reply Y/N", LEVEL_PHI),
    ("hey ana - your strep test was negative so no antibiotics needed. rest up!", LEVEL_PHI),
    ("Fatou, good news - your biopsy was benign. No further treatment needed.", LEVEL_PHI),
    ("juan carlos, tu receta de losartán 50 mg está lista para recoger.", LEVEL_PHI),
]


@pytest.mark.parametrize(("text", "level"), HANDWRITTEN_STYLE)
def test_levels_of_messages_in_other_styles(text, level):
    assert classify(text).level == level


# --- Issue 9, blind-set work -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # A behavioural-health session is care even with no term named.
        "Jordan - Northside Counseling confirming your session with Dana Reyes, LPC on June 2 at 9:00.",
        "Hi Avery, your therapy appointment with Sam Ode is moved to Friday.",
        # A debt for care is a bill for care.
        "Dear Chris Moreno,\nYour balance with Lakeview Medical Clinic is past due. This is an attempt to "
        "collect a debt. Account 55120931.",
    ],
)
def test_sessions_and_medical_debts_are_phi(text):
    assert classify(text).level == LEVEL_PHI


@pytest.mark.parametrize(
    "text",
    [
        "Facilities: courier van #2, VIN 1HGCM82633A004352, goes in for service on 5/2/2027.",
        "Network notice: server 198.51.100.20 will be offline Sunday; call the help desk at 555-0100.",
        "Clinic news: flu shots are here.\nRiver Clinic | 10 Main St, Salem, OR 97301 | 5035550134",
        "Weekly specials: ibuprofen 200 mg $4.99. Coupon ID 77120-KT.",
    ],
)
def test_the_organisation_s_equipment_numbers_and_codes_identify_no_one(text):
    assert classify(text).level == LEVEL_NONE


def test_due_for_its_service_is_no_care():
    assert classify("Dear Sam Ode, your car is due for its 10,000-mile service.").level == LEVEL_PII

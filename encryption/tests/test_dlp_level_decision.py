"""The message-level decision (``encryption/dlp/decision.py``): a healthcare organisation's
message that identifies someone is phi unless it is recognisably not about their care.

Every text here is invented for these tests (555 numbers, example domains)."""

from __future__ import annotations

import pytest

from encryption.dlp import classify
from encryption.dlp.context import ScanContext
from encryption.dlp.decision import (
    ACCOUNT_SECURITY,
    CARE_CONTEXT,
    CARE_FINDING,
    CARE_NONE,
    FACILITIES,
    IDENTITY_ADMIN,
    INSURANCE_ADMIN,
    OUTREACH,
    PET,
    PORTAL_ACCESS,
    WORKFORCE,
    decide_level,
    non_care_signals,
)
from encryption.dlp.findings import LEVEL_NONE, LEVEL_PHI, LEVEL_PII


def signals(text: str) -> frozenset[str]:
    return non_care_signals(ScanContext.of(text))


# --------------------------------------------------------------------------------------------
# The decision function alone.


def test_nobody_identified_is_none_whatever_else_holds():
    for care in (CARE_NONE, CARE_CONTEXT, CARE_FINDING):
        assert decide_level(identifies=False, care=care, signals=frozenset()) == LEVEL_NONE
        assert decide_level(identifies=False, care=care, signals=frozenset({OUTREACH})) == LEVEL_NONE


def test_a_person_with_no_evidence_either_way_is_phi():
    assert decide_level(identifies=True, care=CARE_NONE, signals=frozenset()) == LEVEL_PHI


def test_a_recognised_non_care_class_makes_pii():
    for signal in (ACCOUNT_SECURITY, PORTAL_ACCESS, OUTREACH, INSURANCE_ADMIN, WORKFORCE, FACILITIES, IDENTITY_ADMIN):
        assert decide_level(identifies=True, care=CARE_NONE, signals=frozenset({signal})) == LEVEL_PII


def test_a_health_finding_about_the_person_beats_every_class_but_a_pet():
    for signal in (ACCOUNT_SECURITY, PORTAL_ACCESS, OUTREACH, INSURANCE_ADMIN, WORKFORCE, FACILITIES, IDENTITY_ADMIN):
        assert decide_level(identifies=True, care=CARE_FINDING, signals=frozenset({signal})) == LEVEL_PHI
    assert decide_level(identifies=True, care=CARE_FINDING, signals=frozenset({PET})) == LEVEL_PII


def test_a_phrase_of_care_alone_gives_way_only_to_staff_and_plan_paperwork():
    for signal in (WORKFORCE, INSURANCE_ADMIN):
        assert decide_level(identifies=True, care=CARE_CONTEXT, signals=frozenset({signal})) == LEVEL_PII
    for signal in (ACCOUNT_SECURITY, PORTAL_ACCESS, OUTREACH, FACILITIES, IDENTITY_ADMIN):
        assert decide_level(identifies=True, care=CARE_CONTEXT, signals=frozenset({signal})) == LEVEL_PHI


# --------------------------------------------------------------------------------------------
# Each non-care class recognised in whole messages, and their level.


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        (
            "Hi Quentin Ashdown, we received a request to reset your password. The reset link expires in 30 "
            "minutes. If this was not you, call 555-0142.",
            ACCOUNT_SECURITY,
        ),
        (
            "Dear Orla Penhaligon, a new sign-in to your account from a new device was detected on 4/9. "
            "Was this you? If not, change your password now.",
            ACCOUNT_SECURITY,
        ),
        ("Quentin, your verification code is 482913. It expires in 10 minutes. Never share it.", ACCOUNT_SECURITY),
        (
            "Hi Orla Penhaligon, the email address on your profile was changed on 6/2. Not you? Call 555-0171.",
            ACCOUNT_SECURITY,
        ),
        (
            "Dear Quentin Ashdown, Fernhill Family Practice invites you to our patient app. Use activation code "
            "77120 to create your account.",
            PORTAL_ACCESS,
        ),
        (
            "Hi Orla Penhaligon, you asked for proxy access to a family member's account. Finish setting up "
            "your access at portal.fernhill.example.org.",
            PORTAL_ACCESS,
        ),
        (
            "Dear Quentin, welcome to the spring edition of our newsletter: new parking, a cooking workshop "
            "and our community 5K. Join us!",
            OUTREACH,
        ),
        (
            "Hi Orla, how did we do? Please take our survey about our new website. It takes two minutes.",
            OUTREACH,
        ),
        (
            "Dear Quentin Ashdown, thank you for your gift to the Fernhill Foundation. Your donation of $50 is "
            "tax-deductible.",
            OUTREACH,
        ),
        (
            "Hi Orla, our clinic will be closed on Monday, May 26 for Memorial Day. Holiday hours are on our website.",
            OUTREACH,
        ),
        (
            "Dear Quentin Ashdown, open enrollment runs through 12/7. Your premium for next plan year is $212.40 "
            "a month. Member ID: FHP448120.",
            INSURANCE_ADMIN,
        ),
        (
            "Hi Orla Penhaligon, your new member ID card is in the mail. Your coverage and plan stay the same.",
            INSURANCE_ADMIN,
        ),
        (
            "Dear Dr. Ashdown, your reappointment to the medical staff is due: complete your credentialing "
            "application and attest to your clinical privileges by 9/30.",
            WORKFORCE,
        ),
        (
            "Hi Orla, thanks for signing up as a volunteer! Your first shift at the information desk is "
            "Saturday 3/8. Volunteer Services, 555-0188.",
            WORKFORCE,
        ),
        (
            "Quentin Ashdown: the IT service desk will run scheduled maintenance on the VPN tonight. Expect "
            "downtime from 11 PM.",
            WORKFORCE,
        ),
        (
            "Hi Orla Penhaligon, your gift shop order of balloons and flowers is ready at the lobby store.",
            FACILITIES,
        ),
        (
            "Dear Quentin Ashdown, your parking permit for Garage B is ready. Bring your vehicle plate number "
            "to the security office.",
            FACILITIES,
        ),
        (
            "Hi Orla, please verify your identity before we link your palm scan. Bring a photo ID to the desk.",
            IDENTITY_ADMIN,
        ),
    ],
)
def test_each_non_care_class_is_recognised_and_the_message_is_pii(text, signal):
    assert signal in signals(text)
    assert classify(text).level == LEVEL_PII


def test_a_pet_reminder_is_pii():
    text = "Hi Orla, Biscuit is due for his rabies vaccine at Fernhill Animal Hospital. Your pet's visit is 3/4."
    assert PET in signals(text)
    assert classify(text).level == LEVEL_PII


# --------------------------------------------------------------------------------------------
# Implicit care: no health term, no phrase of care, nothing recognisably else — phi.


@pytest.mark.parametrize(
    "text",
    [
        "Fernhill Walk-In: Quentin, you're #3 in line. Please come back within 15 minutes.",
        "Payment received - thank you, Orla! Amount: $40.00. Paid to: Fernhill Counseling. Date: 5/2/2027.",
        "Your order from Fernhill Home Medical has shipped, Quentin! Arriving Tue 6/3.",
        "Dear Ms. Penhaligon, we have you down at Fernhill Orthopaedics on June 3, 2027 with Dr. Ashdown.",
        "Hi Quentin, we've transferred 2 prescriptions to our Elm Street store.",
    ],
)
def test_implicit_care_for_a_named_person_is_phi(text):
    assert classify(text).level == LEVEL_PHI


# --------------------------------------------------------------------------------------------
# Guards: the default needs a person, and one stray cue never decides.


def test_no_person_identified_stays_none():
    assert classify("Our clinic will be closed on Monday. Call 555-0100 with questions.").level == LEVEL_NONE
    assert classify("Flu shots are available for everyone 6 months and older.").level == LEVEL_NONE


def test_one_footer_word_does_not_make_a_care_message_pii():
    # "unsubscribe", "app", "parking" alone are no class: the upload for a skin check is care.
    text = (
        "Dear Mr. Ashdown, before your review please upload 3 photos of the affected area using the link below.\n"
        "Parking is free in Garage C. To stop these emails, click Unsubscribe. Get our app."
    )
    assert signals(text) == frozenset()
    assert classify(text).level == LEVEL_PHI


def test_a_survey_about_a_visit_is_phi():
    text = (
        "Dear Orla Penhaligon, you recently had a visit with Dr. Quentin Ashdown on May 2, 2027. "
        "Please take our short survey about your experience."
    )
    assert OUTREACH in signals(text)
    assert classify(text).level == LEVEL_PHI


def test_staff_mail_about_an_employees_own_condition_is_phi():
    text = (
        "Orla, HR received the certification from your provider: your leave for knee surgery is approved. "
        "Employee ID E55120."
    )
    assert WORKFORCE in signals(text)
    assert classify(text).level == LEVEL_PHI


def test_a_repeated_cue_counts_once():
    # "app" three times is still one supporting cue, below the bar.
    assert PORTAL_ACCESS not in signals("Quentin, app app app. See you Tuesday.")

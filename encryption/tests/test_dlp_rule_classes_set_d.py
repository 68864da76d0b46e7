"""Rule classes added when blind set D became a development set (issue 9): the message-level
decision. Each case is written here, in other words than any corpus message, to check the class of
text rather than one string; every class has guard cases that must stay ``pii`` or ``none``."""

from __future__ import annotations

import pytest

from encryption.dlp import classify, has_health_context
from encryption.dlp.findings import CONDITION, HEALTH_TYPES, LEVEL_NONE, LEVEL_PHI, LEVEL_PII
from encryption.dlp.health import GENERAL


def personal_health(text: str) -> list[tuple[str, str]]:
    found = classify(text).findings
    return [(f.type, text[f.start : f.end]) for f in found if f.type in HEALTH_TYPES and not f.rule.endswith(GENERAL)]


# --------------------------------------------------------------------------------------------
# A care provider writing to a named person about a service it gives: a bill or balance, a booked
# slot, a session. No phrase of care is needed; the sender's kind and the service are.


@pytest.mark.parametrize(
    "text",
    [
        # a bill or balance from a practice, a clinic, a hospital (English and Spanish)
        "Hello Priya Natarajan, a new statement is ready from Cedar Hollow Pediatrics. Amount owed: $84.10.",
        "Dear Mr. Olafsen,\nYour balance with Northgate Urgent Care is $150.00. Please pay by June 3.",
        "Dear Ms. Abernathy, your account with St. Jude Hospital has a past-due amount of $310.00.",
        "Estimado Sr. Quispe: su factura de Clínica San Rafael por $95.00 está disponible. Gracias.",
        "Hi Jonas, estimated patient portion for the bridge: $620.00. Call Brightside Dental to book. Acct 5512903",
        # a booked slot, text-message style
        "Birchwood Family Practice: Reminder for Tomasz K. on 6/14 at 10:40 AM. Reply Y to confirm, N to cancel.",
        "Hi Leilani, this is Harbor Eye Care. See you Thursday 3/9 at 8:15 am. Call 555-0142 to reschedule.",
        "Ridgeview Counseling: Hi Sam, reminder for Thu 4/8 at 5 PM with Jordan Lee. Reply Y to confirm.",
        # a session with a behavioural health service
        "Northside BH: Jonah, your group session moves to Room 2 this week, same time (6 p.m.).",
        "Northside Behavioral Health: Jonah, your session with Alma Ruiz, LCSW moves to 4:30 pm Tuesday.",
    ],
)
def test_a_care_provider_and_a_service_make_the_message_phi(text):
    assert has_health_context(text)
    assert classify(text).level == LEVEL_PHI


@pytest.mark.parametrize(
    "text",
    [
        # a hospital's shop, fund and car park bill for no care
        "Hi Dana Whitlock, thanks for your order from the Riverside Hospital Gift Shop! Order total: $23.50.",
        "Dear Dana Whitlock, thank you for your donation of $100 to the Riverside Hospital Foundation.",
        "Hi Dana Whitlock, your Lakeview Hospital parking permit renewal is due. Balance: $45.00 for the permit.",
        "Hi Maya Brandt, your Sunrise Dental gift card balance is $25.00. Use it at checkout.",
        # a plan's premium is no bill for care
        "Dear Dana Whitlock, your Keel Health Plan premium statement is ready. Premium due: $412.00 by March 1.",
        # a slot on a rota, at an event, at a gym; a clinician's paperwork
        "Hi Leilani, Riverside Hospital volunteer services: shift reminder for Sat 3/9 at 8:15 am. Reply Y to confirm.",
        "Hi Leilani, reminder for the Diabetes Prevention workshop at Riverside Hospital, 3/9 at 6 pm. Reply Y.",
        "Hi Leilani, Peak Fitness here: reminder for your spin class Sat 3/9 at 8:15 am. Reply Y to confirm.",
        "Hi Jonah, Riverside Hospital HR: the new-hire training session moves to Room 12 on Tuesday at 4:30 pm.",
        "Dear Dr. Kwame Mensah, your credentialing packet for Riverside Hospital is due 6/30 at 5 PM. Reply Y.",
        "Hi Maya Brandt, Lakeshore Medical Group is hiring! See you at our career fair on 11/02 at 9:00 AM.",
        "Hi Dana Whitlock, see you at the Riverside Hospital 5K on Saturday at 8 AM!",
        "Dear Dana Whitlock, Maple Grove Family Medicine now offers evening hours until 8 PM. See you soon!",
        # an account's security notice from a provider books no one
        "Riverside Hospital portal: Hi Dana Whitlock, new sign-in on 5/8 at 9:12 PM. Reply Y if this was you.",
        "Lakeshore Medical Group: Dana Whitlock, your verification code expires at 9:12 PM. Reply YES for a new one.",
        # a provider word opening a sentence is no organisation's name
        "Hi Dana Whitlock. Imaging and lab hours change on 5/8: open 7 AM to 7 PM. Reply Y to get text updates.",
        # a name in the signature is no bill: "Bill Dubois, Health Information Management"
        "Dear Mr. Bell, your records request is received. A $6.50 fee applies to third parties.\n"
        "Bill Dubois, Health Information Management, Riverbend Family Medicine",
    ],
)
def test_a_care_provider_without_a_service_of_care_stays_pii(text):
    assert classify(text).level == LEVEL_PII


def test_a_provider_notice_naming_no_one_stays_none():
    text = "Sunrise Dental will be closed on 11/02. See you after the holiday! Call 555-0190 for emergencies."
    assert classify(text).level == LEVEL_NONE


def test_a_provider_word_in_lower_case_or_as_a_name_is_no_sender():
    # "dental" as an everyday word, no organisation named: a gym's reminder stays pii.
    text = "Hi Ola, reminder for your dental-floss giveaway pickup at Peak Fitness, 5/2 at 3 PM. Reply Y to confirm."
    assert classify(text).level == LEVEL_PII


# --------------------------------------------------------------------------------------------
# Phrases of care found in new shapes: a visit by its date, a field-labelled appointment, Spanish
# bookings and collections, a clinical field label with a qualifier.


@pytest.mark.parametrize(
    "text",
    [
        "Payment received. Account holder: Ian McBride. Amount: $40.00. Applied to your visit of March 2, 2027.",
        "Receipt for Ian McBride: $40.00 applied to date of service 03/02/2027. Thank you.",
        "Patient: OKAFOR, CHIDI\nAppointment: 07/19/2027 9:30 AM\nProvider: Hana Sato\nLocation: Building B",
        "Name: Chidi Okafor\nVisit type: New patient\nDepartment: Family Medicine",
        "Hola Marisol: su control prenatal fue reprogramado para el 4 de junio a las 9:00 a.m.",
        "Aviso: Rosa Medina, su cuenta con el Hospital Altamira será enviada a cobranza si no paga antes del 2 de abril.",
    ],
)
def test_new_phrases_of_care_make_the_message_phi(text):
    assert classify(text).level == LEVEL_PHI


@pytest.mark.parametrize(
    "text",
    [
        "Hola Marisol: su contraseña fue cambiada el 12 de mayo. Si no fue usted, llame al 555-0133.",
        "Hi Omar Haddad, our mayor's visit of the new wing is on 5/4. Everyone is welcome.",
        "Name: Chidi Okafor\nAppointment: not needed, walk in any time\nEvent: open house",
    ],
)
def test_look_alikes_of_the_new_phrases_stay_pii(text):
    assert classify(text).level == LEVEL_PII


def test_a_clinical_field_label_with_a_qualifier_reads_its_value():
    text = (
        "Leave request LR-40021 for Greta Lindqvist\n"
        "Condition (as certified by the physician): tension headaches, about 3 days/month\nHR contact: Paulo Mendes"
    )
    health = personal_health(text)
    assert health and health[0][0] == CONDITION and health[0][1].startswith("tension headaches")
    assert classify(text).level == LEVEL_PHI


# --------------------------------------------------------------------------------------------
# Phrases of care that are not about care here: a portal's feature list, a claim or visit for
# something else, a place on a volunteer's or an employee's rota.


@pytest.mark.parametrize(
    "text",
    [
        "Welcome, Farah Haddad! With MyClinic you can book appointments, view test results, message your care "
        "team and pay bills online. Activation code: QW12-RT98.",
        "Farah, your homeowners claim 8812-22 was updated: the adjuster visit is booked. Keel Mutual.",
        "Tariq, your car claim was updated: a rental is authorised through May 8. Harbor Mutual.",
        "Hi Farah, thank you for volunteering with Riverside Community Hospital! You're confirmed for:\n"
        "  Saturday, May 8 — Main Lobby\nVolunteer Services",
    ],
)
def test_phrases_of_care_that_are_not_about_care_stay_pii(text):
    assert classify(text).level == LEVEL_PII


@pytest.mark.parametrize(
    "text",
    [
        # the same shapes, about care: an event in the feature sentence, a care noun after the qualifier,
        # an appointment on the rota's day, the reader's own visit at home
        "Dear Minh Marsh, your scan is linked to your record, so you can use it at your next appointment on June 2.",
        "Hi Omar Haddad, your travel vaccine appointment is on 5/4 at 2 PM.",
        "Hi Omar, your home visit with the wound care nurse is on 5/4 between 1 and 3 PM.",
        "Hi Farah, as a volunteer you also get a flu shot: you're scheduled for your flu shot on May 8 at 9 AM.",
    ],
)
def test_the_guards_do_not_hide_care(text):
    assert classify(text).level == LEVEL_PHI

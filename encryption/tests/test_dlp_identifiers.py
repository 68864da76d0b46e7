"""The Safe Harbor identifiers: every type, exact offsets, and the hard negatives (issue 9)."""

from __future__ import annotations

import itertools

import pytest

from encryption.dlp import scan
from encryption.dlp.findings import (
    ACCOUNT_NUMBER,
    ADDRESS,
    BIOMETRIC,
    DATE,
    DEVICE_ID,
    EMAIL,
    FAX,
    HEALTH_PLAN_ID,
    IDENTIFIER_TYPES,
    IP_ADDRESS,
    LICENSE_NUMBER,
    MRN,
    NAME,
    OTHER_ID,
    PHONE,
    PHOTO,
    SSN,
    URL,
    VEHICLE_ID,
    ZIP,
)


def found(text: str) -> list[tuple[str, str]]:
    """(type, exact text) of every identifier finding: the offsets are checked through the slice."""
    return [(f.type, text[f.start : f.end]) for f in scan(text) if f.type in IDENTIFIER_TYPES]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dear Odalys Quintanilla,\nThank you.", (NAME, "Odalys Quintanilla")),
        ("Hi Priya, your visit is confirmed.", (NAME, "Priya")),
        ("Dear Ms. Okafor, we have news.", (NAME, "Okafor")),
        ("You will see Dr. Rowan Demoway on the 2nd floor.", (NAME, "Rowan Demoway")),
        ("Patient: RIVERA, TOMÁS\nDOB: 01/02/1950", (NAME, "RIVERA, TOMÁS")),
        ("Provider: Samuel Okoye", (NAME, "Samuel Okoye")),
        ("Your visit with Lars B. Ngata, DNP went well.", (NAME, "Lars B. Ngata")),
        ("Sincerely,\nJane Whitaker\nBilling Office", (NAME, "Jane Whitaker")),
        ("Estimado/a Sra. von Hagen:\nLe recordamos su cita.", (NAME, "von Hagen")),
        ("Maria Gonzalez called about the form.", (NAME, "Maria Gonzalez")),
        ("Chloé, your forms are ready.", (NAME, "Chloé")),
    ],
)
def test_names_after_greetings_titles_labels_credentials_closings_and_dictionaries(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Thank you for choosing Sunrise Family Clinic.",
        "Dear Valued Patient, our hours are changing.",
        "Visit Lincoln Medical Center in Madison, WI 53703.",
        "Hello neighbors! Flu season is here.",
        "Crohn's disease and Parkinson's disease are conditions, not people.",
        "Sincerely,\nThe Care Team",
    ],
)
def test_organisations_places_conditions_and_generic_salutations_are_not_names(text):
    assert NAME not in {kind for kind, _ in found(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your appointment is on March 3, 2027 at 10:30 AM.", (DATE, "March 3, 2027")),
        ("Seen on 3/4/27 for a follow-up.", (DATE, "3/4/27")),
        ("Collected 2027-03-04T09:15 at the lab.", (DATE, "2027-03-04T09:15")),
        ("We will see you on the 3rd of March.", (DATE, "3rd of March")),
        ("DOB: 04/12/1961", (DATE, "04/12/1961")),
        ("Your next appointment is 7/2 at 10 am.", (DATE, "7/2")),
        ("Closed Monday, Dec 25th.", (DATE, "Dec 25th")),
        ("La cita es el 9 de marzo de 2027.", (DATE, "9 de marzo de 2027")),
        ("Coverage starts January 2028.", (DATE, "January 2028")),
    ],
)
def test_dates_more_specific_than_a_year(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Our hours are 8:00 AM to 5:30 PM, open 24/7 online.",
        "In 2026 we opened two clinics.",
        "Take 1/2 tablet at bedtime.",
        "App version 4.12.3 is out; 97% of patients rated us 4.9/5.",
        "Prices start at $1,234.50 and 10.5% off.",
    ],
)
def test_times_years_fractions_versions_prices_are_not_dates(text):
    assert DATE not in {kind for kind, _ in found(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call (555) 123-4567 to reschedule.", (PHONE, "(555) 123-4567")),
        ("Call +1-555-123-4567x204.", (PHONE, "+1-555-123-4567")),
        ("Phone: 555.123.4567", (PHONE, "555.123.4567")),
        ("Call 555-0100 for the nurse line.", (PHONE, "555-0100")),
        ("Our London office: +44 20 7946 0958.", (PHONE, "+44 20 7946 0958")),
        ("Fax: 555-123-4568", (FAX, "555-123-4568")),
        ("Phone 555-123-4567, fax 555-123-4568.", (FAX, "555-123-4568")),
        ("Write to maria.garcia@example.com today.", (EMAIL, "maria.garcia@example.com")),
        ("Sign in at https://portal.example.org/login?next=1.", (URL, "https://portal.example.org/login?next=1")),
        ("Visit www.sunriseclinic.example.org.", (URL, "www.sunriseclinic.example.org")),
        ("Read more at sunriseclinic.org/flu now.", (URL, "sunriseclinic.org/flu")),
        ("The sign-in came from 192.0.2.144.", (IP_ADDRESS, "192.0.2.144")),
        ("IP address: 2001:db8:b8cc::f57", (IP_ADDRESS, "2001:db8:b8cc::f57")),
        ("Mail it to 1600 N. Maple Street, Apt 4B, Springfield, IL 62704.", (ADDRESS, "1600 N. Maple Street, Apt 4B")),
        ("Mail it to 1600 N. Maple Street, Apt 4B, Springfield, IL 62704.", (ZIP, "62704")),
        ("Visit us at 4487 Avenida del Sol, Suite 204.", (ADDRESS, "4487 Avenida del Sol, Suite 204")),
        ("Send forms to PO Box 4410, Austin, TX 78701-1234.", (ADDRESS, "PO Box 4410")),
        ("Send forms to PO Box 4410, Austin, TX 78701-1234.", (ZIP, "78701-1234")),
    ],
)
def test_contact_identifiers(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SSN: 123-45-6789", (SSN, "123-45-6789")),
        ("Your social security number 078 05 1120 is on file.", (SSN, "078 05 1120")),
        ("MRN: 00482913", (MRN, "00482913")),
        ("Medical record #: MY1966862", (MRN, "MY1966862")),
        ("Chart #: FRU-327936", (MRN, "FRU-327936")),
        ("Member ID: W123456789", (HEALTH_PLAN_ID, "W123456789")),
        ("Please have your member ID (ZWD389279762) ready.", (HEALTH_PLAN_ID, "ZWD389279762")),
        ("Medicare number 1EG4-TE5-MK73", (HEALTH_PLAN_ID, "1EG4-TE5-MK73")),
        ("Group # 087395", (HEALTH_PLAN_ID, "087395")),
        ("Account #: 123-456-7890", (ACCOUNT_NUMBER, "123-456-7890")),
        ("Card 4111 1111 1111 1111 was declined.", (ACCOUNT_NUMBER, "4111 1111 1111 1111")),
        ("NPI 1234567893", (LICENSE_NUMBER, "1234567893")),
        ("DEA number AB1234563", (LICENSE_NUMBER, "AB1234563")),
        ("Driver's license: S154-8710-7063", (LICENSE_NUMBER, "S154-8710-7063")),
        ("VIN 1HGCM82633A004352", (VEHICLE_ID, "1HGCM82633A004352")),
        ("Vehicle: white Toyota, plate MVN 7235", (VEHICLE_ID, "MVN 7235")),
        ("Pump serial number: PX-4471-2209", (DEVICE_ID, "PX-4471-2209")),
        ("Rx #7734129 is ready.", (OTHER_ID, "7734129")),
        ("Your claim CASE 417629 is open.", (OTHER_ID, "CASE 417629")),
        ("Request for records, reference INC5171839", (OTHER_ID, "INC5171839")),
        ("We will match your thumbprint at pickup.", (BIOMETRIC, "thumbprint")),
        ("Your palm-vein scan is now linked to your record.", (BIOMETRIC, "palm-vein scan")),
        ("We received the selfie you uploaded.", (PHOTO, "selfie")),
        ("Thanks for sending 2 photos of your ankle.", (PHOTO, "photos")),
        ("See the attached photo.", (PHOTO, "attached photo")),
    ],
)
def test_numbers_that_are_identifiers_by_shape_check_digit_or_label(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Your order #12345678 has shipped. Track it with tracking number 1Z999AA10123456784.",
        "Use coupon SAVE20 for $20 off; promo code SPRING2027 ends soon.",
        "Bring a photo ID and your insurance card.",
        "Oakridge Medical Group, 6454 Oak Avenue: we are open 8 AM to 6 PM.",
        "Room 12, Suite 300, item 4412, version 2.1.10.",
        "Your score was 3/5 and you walked 10,000 steps.",
    ],
)
def test_retail_codes_prices_photo_ids_and_counts_identify_no_one(text):
    kinds = {kind for kind, _ in found(text)} - {ADDRESS}
    assert kinds == set()


def test_offsets_are_character_offsets_and_findings_are_sorted_without_overlaps():
    text = "😀 Dear Zoë Müller, call (555) 123-4567 — MRN: 00482913."
    findings = scan(text)
    assert [(f.type, text[f.start : f.end]) for f in findings] == [
        (NAME, "Zoë Müller"),
        (PHONE, "(555) 123-4567"),
        (MRN, "00482913"),
    ]
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))


def test_a_labelled_number_is_its_label_s_type_not_its_shape():
    text = "Account #: 555-123-4567"
    assert found(text) == [(ACCOUNT_NUMBER, "555-123-4567")]


def test_every_finding_carries_a_confidence_and_a_rule():
    for finding in scan("Dear Maria Garcia, MRN 00482913, call 555-123-4567 on 3/4/2027."):
        assert 0 < finding.confidence <= 1
        assert finding.rule


# --------------------------------------------------------------------------------------------
# Rule classes found with the hand-written dev set (encryption/dlp/corpus/handwritten.jsonl).


@pytest.mark.parametrize(
    "text",
    [
        "Use code SPRING25 for 25% off vitamins. Order #A-55231 ships free over $35.",
        "Hi Sam, your order WM-77120934 is out for delivery.",
        "Thanks for your order! Order number 100-4471982-2209 will ship in 2 days.",
        "Your order #A-55231 has shipped! Track it: UPS 1Z999AA10123456784.",
        "Return authorized. RMA number RA-2027-10443. Drop the package at any UPS Store.",
        "Package update: shipment 92748963438592543 from Medline Supply is delayed.",
        "Invoice #88217 for your Vitality Box subscription ($29.99/mo) has been paid.",
        "Gift card balance: $25.00. Card ending 8841. Redeem online or in store.",
    ],
)
def test_shop_order_tracking_return_and_invoice_numbers_identify_no_one(text):
    kinds = {kind for kind, _ in found(text)} - {NAME, DATE}
    assert kinds == set()


def test_the_last_four_digits_of_an_ssn_or_card_are_not_the_number():
    assert found("We have your SSN on file ending 6789.") == []
    assert found("Paid with the card ending in 4417.") == []
    assert (SSN, "219-09-9999") in found("SSN: 219-09-9999")
    assert (SSN, "***-**-6789") in found("SSN: ***-**-6789")


def test_a_lab_order_number_is_still_an_identifier():
    assert (OTHER_ID, "LB-220931") in found("Lab order # LB-220931 for your blood draw.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("send the form to P.O. Box 7731, Accra Road Station", (ADDRESS, "P.O. Box 7731")),
        ("a copy of your licence (no. MD.0471123) and", (LICENSE_NUMBER, "MD.0471123")),
    ],
)
def test_dotted_po_boxes_and_numbers_in_parentheses(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("From: Łukasz Zieliński\nSent: Monday", "Łukasz Zieliński"),
        ("Reminder: Nguyễn Văn Minh has a cleaning on Monday.", "Nguyễn Văn Minh"),
        ("SZYMAŃSKA, EWA - your statement is ready.", "SZYMAŃSKA, EWA"),
        ("Referral received - BELLO, IBRAHIM\n\nWe received it.", "BELLO, IBRAHIM"),
        ("Patient: O'SULLIVAN, CIARAN   MRN 00471129", "O'SULLIVAN, CIARAN"),
        ("Transfer complete. Przemysław Wójcik's sertraline is ready.", "Przemysław Wójcik"),
        ("and Hye-jin Park, NP.", "Hye-jin Park"),
    ],
)
def test_names_beyond_latin_1_in_capitals_and_possessives(text, name):
    assert (NAME, name) in found(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Fatou, good news - your biopsy was benign.", "Fatou"),
        ("Aleksander, you're on Ozempic 0.5 mg weekly now.", "Aleksander"),
        ("Your lab results are ready, Oyinkansola. Log in to view them.", "Oyinkansola"),
        ("Thanks Sunita, we got the photos.", "Sunita"),
        ("hi maria! ur colonoscopy is Thu 3/18.", "maria"),
        ("juan carlos, tu receta está lista.", "juan carlos"),
        ("Hi, I moved. Thanks, Łukasz", "Łukasz"),
        ("Lars - colonoscopy prep: start at 6 pm the night before.", "Lars"),
    ],
)
def test_a_name_no_list_knows_in_address_position_and_lower_case_given_names(text, name):
    assert (NAME, name) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Your code expires in 10 minutes. Don't share it.",
        "Because you are living with asthma, a flu shot matters.",
        "Understanding your cholesterol numbers",
        "Medication: hydrocodone 5 mg",
        "Sorry, your order is late.",
        "Unfortunately, we have to reschedule.",
        "Bill to: Accounts Payable, Lakeside Orthopedics",
        "We are open in Reno, Nevada.",
        "Mail-order refills ship in 3 days.",
        "Parents, please send the forms by Friday.",
        "Veterans - join us for a free screening.",
    ],
)
def test_words_that_open_sentences_are_not_vocative_names(text):
    assert [n for kind, n in found(text) if kind == NAME] == []


@pytest.mark.parametrize(
    ("mailbox", "personal"),
    [
        ("dana.whitfield@example.com", True),
        ("kwhit88@example.net", True),
        ("jyoung@example.org", True),
        ("facilities@mercyvalley.example.org", False),
        ("breathe@valleylung.example.org", False),
        ("front.desk@clinic.example.org", False),
    ],
)
def test_a_person_s_mailbox_and_a_service_s(mailbox, personal):
    (email,) = [f for f in scan(f"Questions: {mailbox}") if f.type == EMAIL]
    assert email.rule.endswith("/personal") is personal


# --- Issue 9, blind-set work -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "PO number: 4700123456   Terms: Net 30",
        "Conference hotel: $139/night, group code ABC24.",
        "Promo ID 55210-XY applies at checkout.",
        "Remit to: Lakeside Surgical Associates, Accounts Payable",
    ],
)
def test_order_booking_and_promo_codes_and_organisations_are_not_identifiers(text):
    assert found(text) == []


def test_a_group_code_next_to_a_plan_is_still_an_identifier():
    assert ("HEALTH_PLAN_ID", "G55120") in found("Insurance plan member ID 88120044, group code G55120.")


def test_a_bare_number_in_a_contact_line_is_a_phone():
    assert ("PHONE", "5035550134") in found("Valley Clinic | 10 Main St | 5035550134 | www.valley.example.org")

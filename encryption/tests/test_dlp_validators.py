"""Check digits and number ranges behind the DLP classifier's identifiers (issue 9)."""

from __future__ import annotations

import pytest

from encryption.dlp import validators


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("123-45-6789", True),
        ("078 05 1120", True),
        ("000-12-3456", False),  # area 000 is never issued
        ("666-12-3456", False),  # nor 666
        ("912-34-5678", False),  # 900–999 are ITINs and test numbers
        ("123-00-4567", False),  # group 00
        ("123-45-0000", False),  # serial 0000
        ("12-345-678", False),  # eight digits
    ],
)
def test_ssn_area_group_and_serial_rules(value, valid):
    assert validators.ssn_valid(value) is valid


def test_luhn_and_payment_cards():
    assert validators.luhn_valid("79927398713")
    assert not validators.luhn_valid("79927398710")
    assert validators.payment_card_valid("4111 1111 1111 1111")
    assert validators.payment_card_valid("5500-0000-0000-0004")
    assert not validators.payment_card_valid("4111 1111 1111 1112")  # fails Luhn
    assert not validators.payment_card_valid("1111 1111 1111 1117")  # no issuer starts with 1
    assert not validators.payment_card_valid("4111 1111")  # too short


def test_npi_uses_luhn_with_the_80840_prefix():
    assert validators.npi_valid("1234567893")  # CMS's published example
    assert not validators.npi_valid("1234567890")
    assert not validators.npi_valid("3234567893")  # NPIs start with 1 or 2
    assert not validators.npi_valid("123456789")


def test_dea_check_digit():
    # (1 + 3 + 5) + 2 × (2 + 4 + 6) = 33 → check digit 3
    assert validators.dea_valid("AB1234563")
    assert validators.dea_valid("ab1234563")
    assert not validators.dea_valid("AB1234564")
    assert not validators.dea_valid("ZZ1234563")  # no registrant type Z
    assert not validators.dea_valid("A1234563")


def test_aba_routing_number():
    assert validators.aba_routing_valid("011000015")
    assert not validators.aba_routing_valid("011000016")
    assert not validators.aba_routing_valid("991000015")  # no Federal Reserve prefix 99


def test_vin_check_digit():
    assert validators.vin_valid("1M8GDM9AXKP042788")  # check digit X
    assert validators.vin_valid("1HGCM82633A004352")
    assert not validators.vin_valid("1HGCM82634A004352")
    assert not validators.vin_valid("1HGCM82633A00435")  # 16 characters
    assert not validators.vin_valid("1HGCM82633A00435O")  # O is never used
    assert validators.vin_shape("2E5PYV3G02US9CS5F")


def test_medicare_beneficiary_identifier_format():
    assert validators.mbi_valid("1EG4-TE5-MK73")  # CMS's published example
    assert validators.mbi_valid("1EG4TE5MK73")
    assert not validators.mbi_valid("1SG4-TE5-MK73")  # S is excluded
    assert not validators.mbi_valid("0EG4-TE5-MK73")  # first character 1–9


def test_ip_addresses():
    assert validators.ipv4_valid("192.0.2.144")
    assert not validators.ipv4_valid("256.1.1.1")
    assert not validators.ipv4_valid("1.2.3")
    assert not validators.ipv4_valid("01.2.3.4")
    assert validators.ipv6_valid("2001:db8:b8cc::f57")
    assert not validators.ipv6_valid("10:30:00")


def test_imei():
    assert validators.imei_valid("490154203237518")
    assert not validators.imei_valid("490154203237519")


@pytest.mark.parametrize(
    ("month", "day", "valid"),
    [(2, 29, True), (2, 30, False), (4, 31, False), (12, 31, True), (13, 1, False), (0, 5, False)],
)
def test_calendar_dates(month, day, valid):
    assert validators.date_valid(month, day) is valid


def test_years():
    assert validators.year_valid("27")
    assert validators.year_valid("1961")
    assert not validators.year_valid("1850")
    assert not validators.year_valid("207")

"""Check digits and number-range rules that tell a real identifier from a number of the same shape.

Each function takes the identifier as written (separators allowed) and answers True or False;
none raises on bad input.
"""

from __future__ import annotations

import ipaddress
import re

_NON_DIGIT = re.compile(r"\D")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def digits_of(value: str) -> str:
    return _NON_DIGIT.sub("", value)


def ssn_valid(value: str) -> bool:
    """A US Social Security number as the SSA issues them: nine digits, area not 000, 666 or
    900–999, group not 00, serial not 0000 (since 2011 areas are random, so no more than that)."""
    digits = digits_of(value)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"


def luhn_valid(value: str) -> bool:
    """The Luhn (mod 10) check used by payment cards, NPIs and IMEIs."""
    digits = digits_of(value)
    if len(digits) < 2:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def payment_card_valid(value: str) -> bool:
    """13 to 19 digits passing Luhn, with a known leading digit (3 Amex/Diners, 4 Visa,
    5 Mastercard, 6 Discover, 2 Mastercard's 2-series)."""
    digits = digits_of(value)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def npi_valid(value: str) -> bool:
    """A National Provider Identifier: ten digits starting 1 or 2 whose Luhn check, computed with
    the card-issuer prefix 80840 in front, holds (CMS's NPI check-digit rule)."""
    digits = digits_of(value)
    return len(digits) == 10 and digits[0] in "12" and luhn_valid("80840" + digits)


_DEA = re.compile(r"[A-Za-z]{2}\d{7}")


def dea_valid(value: str) -> bool:
    """A DEA registration number: two letters and seven digits; the check digit is the last digit
    of (d1 + d3 + d5) + 2 × (d2 + d4 + d6). The first letter is the registrant type."""
    compact = _NON_ALNUM.sub("", value)
    if not _DEA.fullmatch(compact) or compact[0].upper() not in "ABCDEFGHJKLMPRSTUX":
        return False
    d = [ord(char) - 48 for char in compact[2:]]
    check = (d[0] + d[2] + d[4]) + 2 * (d[1] + d[3] + d[5])
    return check % 10 == d[6]


def aba_routing_valid(value: str) -> bool:
    """A US bank routing (ABA) number: nine digits, 3-7-1 weighted sum divisible by ten, and a
    Federal Reserve prefix (00–12, 21–32, 61–72, 80)."""
    digits = digits_of(value)
    if len(digits) != 9:
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(w * (ord(c) - 48) for w, c in zip(weights, digits, strict=True)) % 10 == 0


_VIN_VALUES = {
    **{str(n): n for n in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_valid(value: str) -> bool:
    """A 17-character vehicle identification number (no I, O or Q) whose ninth character is the
    North American check digit (weighted sum mod 11, 10 written X)."""
    vin = value.upper()
    if len(vin) != 17 or any(char not in _VIN_VALUES for char in vin):
        return False
    total = sum(_VIN_VALUES[char] * weight for char, weight in zip(vin, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return vin[8] == ("X" if remainder == 10 else str(remainder))


def vin_shape(value: str) -> bool:
    """17 VIN characters with letters and digits both present (used when a label says VIN)."""
    vin = value.upper()
    return (
        len(vin) == 17
        and all(char in _VIN_VALUES for char in vin)
        and any(c.isdigit() for c in vin)
        and any(c.isalpha() for c in vin)
    )


# Medicare Beneficiary Identifier (CMS): 11 characters, C A AN N A AN N A A N N, where C is 1-9,
# A a letter other than S L O I B Z, N a digit, AN either.
_MBI_LETTER = "ACDEFGHJKMNPQRTUVWXY"
_MBI = re.compile(
    rf"[1-9][{_MBI_LETTER}][{_MBI_LETTER}0-9]\d[{_MBI_LETTER}][{_MBI_LETTER}0-9]\d[{_MBI_LETTER}]{{2}}\d{{2}}"
)


def mbi_valid(value: str) -> bool:
    return bool(_MBI.fullmatch(_NON_ALNUM.sub("", value).upper()))


def ipv4_valid(value: str) -> bool:
    parts = value.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or len(part) > 3 or int(part) > 255 or (len(part) > 1 and part[0] == "0"):
            return False
    return True


def ipv6_valid(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def imei_valid(value: str) -> bool:
    digits = digits_of(value)
    return len(digits) == 15 and luhn_valid(digits)


_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def date_valid(month: int, day: int) -> bool:
    """A month and day that can occur (29 February allowed: the year is often absent)."""
    return 1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month]


def year_valid(year: str) -> bool:
    """A year as written in a date: two digits, or four digits from 1900 to 2099."""
    if len(year) == 2:
        return True
    return len(year) == 4 and 1900 <= int(year) <= 2099

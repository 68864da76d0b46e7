"""Structured identifiers: numbers and codes found by their shape, their check digits and the
words around them.

* One compiled pass over the text finds every number-shaped token (SSN, payment card, phone,
  numeric date, IPv4, street address, plain digit runs); each token is then judged by its
  validators and the few words before it (``fax``, ``DOB``, a state before a ZIP...).
* Labelled identifiers ("MRN: 00123456", "Member ID W123456789", "Account # 55-1234") come from
  the keyword automaton: the label is found there and the value read right after it.
* Textual dates ("March 3, 2027", "3rd of March") start from a month name found by the automaton.
* E-mail addresses and URLs start from an ``@``, a scheme, ``www.`` or a known top-level domain.

A finding's rule ends in ``/personal`` when the words around it tie it to the person the
message is about ("your mobile", "DOB", "home address"): the message level counts such phone
numbers, addresses and dates as identifying a person, and others (a clinic's phone number,
its address, an event's date) not.
"""

from __future__ import annotations

import operator
import re

from encryption.dlp import validators
from encryption.dlp.context import ScanContext
from encryption.dlp.findings import (
    ACCOUNT_NUMBER,
    ADDRESS,
    BIOMETRIC,
    DATE,
    DEVICE_ID,
    EMAIL,
    FAX,
    HEALTH_PLAN_ID,
    IP_ADDRESS,
    LICENSE_NUMBER,
    MRN,
    OTHER_ID,
    PHONE,
    PHOTO,
    SSN,
    URL,
    VEHICLE_ID,
    ZIP,
    Finding,
)
from encryption.dlp.keywords import ID_LABEL, MONTH, PHRASE, TABLE, VENDOR_CUE
from encryption.dlp.lexicon import first_names, normalise, surnames, words

PERSONAL = "/personal"

# --------------------------------------------------------------------------------------------
# Identifier labels → the type of the value that follows them.

_LABELS: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "mrn": (
        MRN,
        0.95,
        (
            "mrn",
            "mrn#",
            "medical record number",
            "medical record no",
            "medical record",
            "medical records number",
            "med rec",
            "med rec no",
            "record number",
            "record no",
            "chart number",
            "chart no",
            "chart id",
            "chart",
            "patient id",
            "patient identifier",
            "patient number",
            "patient no",
            "patient #",
            "ehr id",
            "emr id",
            "emr number",
            "hospital number",
            "hospital id",
            "health record number",
        ),
    ),
    "plan": (
        HEALTH_PLAN_ID,
        0.9,
        (
            "member id",
            "member number",
            "member no",
            "member #",
            "membership number",
            "membership id",
            "subscriber id",
            "subscriber number",
            "subscriber no",
            "policy number",
            "policy no",
            "policy id",
            "policy",
            "insurance id",
            "insurance number",
            "insurance member id",
            "insurance policy",
            "plan id",
            "health plan id",
            "health plan number",
            "group number",
            "group no",
            "group id",
            "group #",
            "medicare number",
            "medicare id",
            "medicare beneficiary identifier",
            "mbi",
            "medicaid id",
            "medicaid number",
            "medicaid no",
            "beneficiary id",
            "id card number",
            "insured id",
            "hicn",
            "coverage id",
        ),
    ),
    "account": (
        ACCOUNT_NUMBER,
        0.9,
        (
            "account number",
            "account no",
            "account id",
            "account",
            "acct",
            "acct no",
            "billing account",
            "patient account",
            "guarantor number",
            "guarantor id",
            "invoice number",
            "invoice no",
            "invoice",
            "statement number",
            "statement id",
            "bank account",
            "routing number",
            "card number",
            "credit card",
            "debit card",
            "card",
            "iban",
        ),
    ),
    "license": (
        LICENSE_NUMBER,
        0.9,
        (
            "license number",
            "license no",
            "licence number",
            "licence no",
            "license",
            "licence",
            "driver's license",
            "drivers license",
            "driver license",
            "driver's licence",
            "dl",
            "dl no",
            "npi",
            "npi number",
            "dea",
            "dea number",
            "dea no",
            "dea registration",
            "state license",
            "medical license",
            "certificate number",
            "certificate no",
            "certification number",
            "cert no",
            "board certification",
        ),
    ),
    "vehicle": (
        VEHICLE_ID,
        0.9,
        (
            "vin",
            "vehicle identification number",
            "license plate",
            "licence plate",
            "plate number",
            "plate",
            "tag number",
            "vehicle id",
            "vehicle number",
            "vehicle",
            "tag",
        ),
    ),
    "device": (
        DEVICE_ID,
        0.9,
        (
            "serial number",
            "serial no",
            "serial",
            "s/n",
            "sn",
            "device id",
            "device serial",
            "device number",
            "device identifier",
            "udi",
            "imei",
            "meid",
            "implant id",
            "pump serial",
            "mac address",
        ),
    ),
    "ip": (IP_ADDRESS, 0.9, ("ip", "ip address", "ipv4", "ipv6")),
    "ssn": (
        SSN,
        0.95,
        (
            "ssn",
            "ss#",
            "ss no",
            "social security number",
            "social security no",
            "social security",
            "soc sec",
            "tin",
            "itin",
        ),
    ),
    "biometric": (BIOMETRIC, 0.85, ("biometric id", "biometric identifier", "fingerprint id", "voiceprint id")),
    "other": (
        OTHER_ID,
        0.8,
        (
            "rx",
            "rx number",
            "rx no",
            "prescription number",
            "prescription no",
            "prescription id",
            "case number",
            "case",
            "case no",
            "case id",
            "claim number",
            "claim no",
            "claim id",
            "claim",
            "reference number",
            "reference no",
            "reference",
            "ref",
            "ref no",
            "visit id",
            "visit number",
            "encounter number",
            "encounter id",
            "encounter",
            "accession number",
            "accession no",
            "specimen id",
            "specimen number",
            "lab id",
            "requisition number",
            "order number",
            "order no",
            "order id",
            "order",
            "employee id",
            "employee number",
            "student id",
            "passport number",
            "passport no",
            "passport",
            "authorization number",
            "authorization no",
            "auth number",
            "prior authorization number",
            "referral number",
            "referral id",
            "id number",
            "id no",
            "id",
            "identification number",
            "identifier",
            "ticket number",
            "username",
            "user name",
            "user id",
            "userid",
            "login id",
            "badge",
            "badge number",
            "employee badge",
            "request number",
            "request id",
            "permit number",
            "permit",
            "tracking id",
        ),
    ),
}
# Everyday words that are labels only with "number", "#", "ID" or a colon after them.
_NEEDS_MARKER = frozenset(
    {
        "group",
        "policy",
        "account",
        "plan id",
        "claim",
        "card",
        "chart",
        "order",
        "reference",
        "ref",
        "case",
        "license",
        "licence",
        "plate",
        "serial",
        "encounter",
        "invoice",
        "passport",
        "record",
        "member",
        "insurance policy",
        "patient",
        "mrn",
        "ss",
        "dl",
        "rx",
        "sn",
        "tin",
        "permit",
        "vehicle",
        "tag",
    }
)
_RETAIL_LABELS = frozenset(
    {"order number", "order no", "order id", "order", "reference", "ref", "invoice", "invoice number", "invoice no"}
)
# An order number is a shop's ("Order #A-55231 ships free"), never a person's identifier, unless a
# laboratory or imaging order is meant.
_ORDER_LABELS = frozenset({"order number", "order no", "order id", "order"})
_CLINICAL_ORDER = re.compile(r"\b(?:lab|laboratory|test|imaging|radiology|requisition|specimen)[ \t]+$")
for _family, (_type, _confidence, _words) in _LABELS.items():
    for _word in _words:
        # The label as the automaton sees it: "Member #" and "member" are one key, so the value
        # reader checks for the "#" (see _NEEDS_MARKER).
        _key = " ".join(normalise(_word).split())
        TABLE.add(ID_LABEL, [_word], (_type, _confidence, _key))

# Words that make a following value a retail or marketing code, never an identifier.
_RETAIL = re.compile(
    r"\b(?:coupon|promo|discount|voucher|gift card|shopping|cart|checkout|ships?|shipped|shipping|shipment|tracking|"
    r"track it|out for delivery|delivery|delivered|package|parcel|courier|purchase|purchased|store|shop|sku|sale|"
    r"subscription|rewards?|loyalty|refund|rma|warranty|subtotal|qty|free shipping|promo code|order summary|"
    r"your order|% off|bogo)\b"
)

# The value after a label: optional "number/no./#/ID", "is", punctuation, then a token that
# contains a digit (several groups of digits allowed), or a masked value such as ***-**-1234.
_VALUE = re.compile(
    r"""
    (?:\s*\((?:[a-z]{1,12})\))?
    (?P<word>[ \t]*\(?(?:number|numbers|no|num|nbr|id|code|identifier|on\ file)\b\.?)?
    (?P<last>[ \t]*(?:ending|ends|last\ (?:4|four)(?:\ digits)?)(?:\ (?:in|with))?\b)?
    [ \t]*(?P<mark>[.:=\#\-–]*)
    (?:[ \t]*(?:is|was|of|for)\b)?
    [ \t]*[:=\#\-–]?[ \t]*\#?[ \t]*(?:\n[ \t]*)?[ \t]*\(?[ \t]*
    (?P<v>
        (?:[*xX•]{2,}[-\s]?)+\d{2,6}
      | [A-Za-z0-9](?:[A-Za-z0-9]|[-./](?=[A-Za-z0-9])){1,29}(?:[ ](?=\d)\d{3,6}(?![\w-]))*
    )
    (?![\w@])
    """,
    re.X | re.I,
)
_HAS_DIGIT = re.compile(r"\d")
# A licence plate: "7ABC123", "MVN 7235", "125 MZR", "ABC-1234".
_PLATE = re.compile(r"(?:[A-Z0-9]{2,4}[ -][A-Z0-9]{2,5}|[A-Z0-9]{5,8})(?![\w-])")


# "Coupon ID 88421-RX", "Meeting ID 912 4410 0071": a marketing code, a video call's number.
_PROMO_BEFORE = re.compile(
    r"\b(?:coupon|promo|promotion|discount|voucher|offer|campaign|deal|rebate|meeting|webinar|conference|zoom|"
    r"teams|webex|dial-in|room|job|requisition|posting)[ \t]*$"
)
_NAME_AFTER = re.compile(r"[ \t]+[A-Z]")
_PLAN_NEAR = re.compile(r"\b(?:plan|insurance|insurer|member|coverage|policy|benefits)\b")
# Words before a number that make it the organisation's equipment, not a person's: a server's IP
# address, a fleet vehicle's VIN.
_EQUIPMENT_BEFORE = re.compile(
    r"\b(?:server|servers|host|hostname|gateway|router|firewall|proxy|dns|printer|subnet|switch|access point|"
    r"fleet|shuttle|van|vans|truck|bus|ambulance|courier|company car|pool car|inventory|asset|assets|biomed|"
    r"biomedical|equipment)\b[^\n]{0,40}$"
)
ORG = "/org"
# Words before an IP address that make it a threat's, named in a security notice to staff.
_THREAT_BEFORE = re.compile(
    r"\b(?:sender|sending|source|attacker|attacking|malicious|phishing|spammer|spam|botnet|scanning)\b[^\n]{0,30}$"
)
# Words that make a whole message about the organisation's equipment (a biomedical engineering
# notice, an asset inventory): every serial number and device code in it after them is the
# organisation's.
# (Keywords of the shared automaton: the text is not searched again.)
EQUIPMENT_CUE = "equipment"
TABLE.add(EQUIPMENT_CUE, ["biomed", "biomedical", "clinical engineering", "asset inventory", "asset tag", "inventory"])


def _equipment_message(ctx: ScanContext, start: int) -> bool:
    hits = ctx.hits.get(EQUIPMENT_CUE)
    return hits is not None and hits[0][0] < start


def _plan_group(ctx: ScanContext, label: str, value: str, end: int, vend: int) -> bool:
    """ "Member ID XQ187721299, group 63006": a bare "group" with digits after a plan's words."""
    return (
        label == "group"
        and len(value) >= 4
        and value.isdigit()
        and _PLAN_NEAR.search(ctx.lower, max(0, end - 80), end - len(label)) is not None
        and _NAME_AFTER.match(ctx.text, vend) is None
    )


def _strong(value: str) -> bool:
    """A value that reads as an identifier without a "#" or "number" before it: six digits or
    more, or letters and four digits or more mixed."""
    digits = sum(c.isdigit() for c in value)
    return digits >= 6 or (digits >= 3 and any(c.isalpha() for c in value) and len(value) >= 6)


_ZIP_SHAPE = re.compile(r"\d{5}(?:-\d{4})?")
_CITY_BEFORE = re.compile(r"[A-Za-z.]+,[ \t]*$")
_DATE_SHAPE = re.compile(r"\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{1,4})?")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
# An address without "::" has eight non-empty groups, so three of them in a row must be there:
# messages with many colons but no such run (times, field labels) skip the full pattern.
_IPV6_GROUPS = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")


def _labelled(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    retail: bool | None = None
    for _, end, (kind, confidence, label) in ctx.hits.get(ID_LABEL, ()):
        match = _VALUE.match(text, end)
        if match is None:
            continue
        value = match.group("v")
        if not _HAS_DIGIT.search(value) or len(value) < 3:
            continue
        if match.group("last") and len(validators.digits_of(value)) <= 4:
            continue  # "SSN on file ending 6789", "card ending 8841": the last digits name no one
        vstart, vend = match.span("v")
        if kind == VEHICLE_ID and label not in ("vin", "vehicle identification number"):
            plate = _PLATE.match(text, vstart)
            if plate is not None:
                value, vend = plate.group(), plate.end()
        if (
            label in _NEEDS_MARKER
            and not match.group("word")
            and not match.group("mark").strip(".")
            and not _strong(value)
            and not _plan_group(ctx, label, value, end, vend)
        ):
            continue  # "Medical Group 6454 Oak Avenue": a bare word, not a label
        if label in _ORDER_LABELS and not _CLINICAL_ORDER.search(
            ctx.lower, max(0, end - len(label) - 16), end - len(label)
        ):
            continue  # a shop's order number
        if label in _RETAIL_LABELS:
            if retail is None:
                # A shop's order or a supplier's invoice to the organisation ("Remit to", "Net 30").
                retail = VENDOR_CUE in ctx.hits or bool(_RETAIL.search(ctx.lower))
            if retail:
                continue
            confidence = 0.6
        if kind == IP_ADDRESS and not (validators.ipv4_valid(value) or ":" in value):
            continue
        if (
            kind == SSN
            and not value.startswith(("*", "x", "X", "•"))
            and len(validators.digits_of(value)) != 9
            and (label in ("tin", "itin") or len(validators.digits_of(value)) != 4)
        ):
            continue  # an SSN label takes nine digits, or the last four
        if label == "id" and _ZIP_SHAPE.fullmatch(value) and _CITY_BEFORE.search(text, max(0, end - 40), end - 2):
            continue  # "Boise, ID 83702": the state of Idaho and a ZIP code
        if kind != SSN and _DATE_SHAPE.fullmatch(value) and kind not in (LICENSE_NUMBER, DEVICE_ID):
            continue  # "Policy effective 01/02/2027": a date, found as one elsewhere
        if label in ("id", "identifier", "id number") and _PROMO_BEFORE.search(
            ctx.lower, max(0, end - len(label) - 16), end - len(label)
        ):
            continue  # "Coupon ID 88421-RX", "promo ID", "Meeting ID": no one's identifier
        if (
            label.startswith("group")
            and (match.group("word") or "").strip().lower() == "code"
            and not _PLAN_NEAR.search(ctx.lower, max(0, end - 80), end)
        ):
            continue  # "group code MPCS27": a booking code, unless a plan or insurance is named
        if label in ("id", "identifier", "order", "claim", "reference", "ref", "card", "chart", "account") and (
            len(value) < 4 or sum(c.isdigit() for c in value) < 3
        ):
            continue  # generic labels need an unmistakable value: 4+ characters, 3+ digits
        if value.isdigit() and len(value) == 4 and kind not in (SSN, ACCOUNT_NUMBER) and 1900 <= int(value) <= 2099:
            continue  # a year ("policy 2027")
        rule = f"label:{label}"
        if label in ("npi", "npi number") and validators.npi_valid(value):
            confidence, rule = 0.98, "npi.check_digit"
        elif label.startswith("dea") and validators.dea_valid(value):
            confidence, rule = 0.98, "dea.check_digit"
        elif label == "vin" and validators.vin_valid(value):
            confidence, rule = 0.98, "vin.check_digit"
        elif label in ("mbi", "medicare number", "medicare id") and validators.mbi_valid(value):
            confidence, rule = 0.98, "mbi.format"
        if kind in (VEHICLE_ID, IP_ADDRESS, DEVICE_ID) and (
            _EQUIPMENT_BEFORE.search(ctx.lower, max(0, end - len(label) - 50), end) or _equipment_message(ctx, end)
        ):
            rule += ORG
        elif kind == IP_ADDRESS and _THREAT_BEFORE.search(ctx.lower, max(0, end - len(label) - 40), end - len(label)):
            rule += ORG  # "phishing sender IP: ...": a threat's address
        out.append(Finding(kind, vstart, vend, confidence, rule))


# --------------------------------------------------------------------------------------------
# Number-shaped tokens.

_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Parkway|Pkwy|"
    r"Highway|Hwy|Circle|Cir|Terrace|Ter|Trail|Trl|Square|Sq|Loop|Route|Rte|Pike|Turnpike|Tpke|Alley|Aly|"
    r"Crescent|Cres|Plaza|Plz|Crossing|Xing|Heights|Hts|Expressway|Expy|Freeway|Fwy|Broadway|Grove|Park|Ridge|"
    r"Cove|Hollow|Manor|Mews|Row|Walk|Path|Commons|Bend|Glen|Knoll|Landing)"
)
# Street types written before the name ("Avenida del Sol", "Rue Royale", "Route 9").
_STREET_PREFIX = (
    r"(?:Rue|Avenida|Avda\.?|Calle|Camino|Via|Paseo|Carretera|Rua|Chemin|Route|State\ Route|County\ Road|"
    r"Highway|Hwy|Interstate|Avenue\ of\ the|Boulevard)"
)
_STATE_CODES = words(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP"
)
_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
    "Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
    "Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|"
    "North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|"
    "Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico"
)
_STATE = rf"(?:{'|'.join(_STATE_CODES)}|{_STATE_NAMES})"

# The leading lookahead lets the regex engine skip to the next digit, "(" or "+" in C instead of
# trying every alternative at every position (a 30x difference on running text).
_NUMERIC = re.compile(
    rf"""
    (?=[\d(+])(?<![\w@/.$€£-])(?:
      (?P<addr>\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?[ ]+
         (?:(?:[NSEW]|North|South|East|West|NE|NW|SE|SW|N\.E|N\.W|S\.E|S\.W)\.?[ ]+)?
         (?:(?:\d{{1,3}}(?:st|nd|rd|th)|[A-Z][\w'.-]*|(?:de|del|la|van|von|der|du|da|di|le)(?=[ ]+[A-Z]))[ ]+){{1,5}}?
         {_STREET_SUFFIX}\b\.?
         (?:[ ]+(?:[NSEW]|NE|NW|SE|SW)\b\.?)?
       | \d{{1,6}}[A-Za-z]?[ ]+{_STREET_PREFIX}[ ]+(?:(?:de|del|de\ la|la|las|los|el|du|des|of\ the|da|do|dos)[ ]+)?
         (?:\d{{1,4}}\b|[A-Z][\w'.-]*(?:[ ]+[A-Z][\w'.-]*){{0,3}}))
    | (?P<dose>\d+(?:\.\d+)?[ \t]?(?:mg|mcg|µg|mL|ml|units|IU|iu)\b)(?!/)
    | (?P<ssn>\d{{3}}-\d{{2}}-\d{{4}}|\d{{3}}[ ]\d{{2}}[ ]\d{{4}})(?![\w-])
    | (?P<card>\d{{4}}(?:[ -]\d{{4}}){{2}}[ -]\d{{1,7}})(?![\w-])
    | (?P<phone>(?:\+?1[ .-]?|001[ .-])?(?:\(\d{{3}}\)[ .-]?|\d{{3}}[ .-])\d{{3}}[ .-]\d{{4}})
         (?:(?![\w-])|(?=[ ]?(?:x|ext\.?|extension)[ ]?\d))
    | (?P<intl>\+\d{{1,3}}(?:[ .-]?\(?\d{{1,5}}\)?){{2,6}})(?![\w-])
    | (?P<date>\d{{4}}-\d{{1,2}}-\d{{1,2}}(?:T\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?
         | \d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}
         | \d{{4}}/\d{{1,2}}/\d{{1,2}}
         | \d{{1,2}}/\d{{1,2}})(?![\w/-]|\.\d)
    | (?P<ip>\d{{1,3}}(?:\.\d{{1,3}}){{3}})(?!\w|\.\d)
    | (?P<num>\d(?:\d|-(?=\d)){{3,}})(?![\w-])
    | (?P<code>(?:[A-Z0-9]|-(?=[A-Z0-9])){{7,24}})(?![\w-])
    )
    """,
    re.X,
)
# Tokens that open with a capital letter: ICD-10 codes ("E11.9") and codes such as "INC9292106".
_CAPITAL_TOKEN = re.compile(
    r"""
    (?=[A-Z])(?<![\w@/.$€£#-])(?=[A-Z]{1,5}-?\d)(?:
      (?P<icd>[A-TV-Z]\d[0-9AB](?:\.[0-9A-Z]{1,4}|[0-9A-Z]{0,4}))(?![\w-]|\.\d)
    | (?P<code>(?:[A-Z0-9]|-(?=[A-Z0-9])){7,24})(?![\w-])
    )
    """,
    re.X,
)


# The text's shape, one byte per character: capitals "A", small letters "a", digits "0", "(" and
# "+" kept, anything else a space. Searching it with str.find for " 0" (a number starts) or "A0"
# (a capital touches a digit) finds every place a token can start far faster than running the
# token patterns over every character; the patterns are then tried at those places only.
_SHAPE = bytes(
    ord("A")
    if chr(c).isupper() and chr(c).isascii() and chr(c).isalpha()
    else ord("a")
    if chr(c).islower() and chr(c).isascii() and chr(c).isalpha()
    else ord("0")
    if chr(c).isdigit() and chr(c).isascii()
    else c
    if chr(c) in "(+"
    else ord(" ")
    for c in range(256)
)
_NOT_BEFORE_TOKEN = frozenset("@/.$€£-_#")
_first = operator.itemgetter(0)


def shape(text: str) -> str:
    return text.encode("ascii", "replace").translate(_SHAPE).decode("ascii")


def _starts(shape_text: str, needle: str, offset: int) -> list[int]:
    found = []
    position = shape_text.find(needle)
    while position != -1:
        found.append(position + offset)
        position = shape_text.find(needle, position + 1)
    return found


def tokens(ctx: ScanContext) -> list[tuple[str, re.Match[str]]]:
    """Every number- or code-shaped token of the text, shared by the rules (street addresses,
    SSNs, cards, phones, dates, IPs, doses, ICD-10 codes, plain codes), in text order."""
    found = ctx.cache.get("tokens")
    if found is not None:
        return found
    text = ctx.text
    form = " " + shape(text)  # a leading space: a token at the very start is found like any other
    # Numbers: a digit, "(" or "+" after a space; codes: capitals touching a digit ("E11.9",
    # "INC9292106", "WC-2027"). form[i] describes text[i - 1]. (str.find is several times faster
    # here than a regular expression over the shape: a pattern with no literal prefix is tried at
    # every position.)
    candidates = [(p, _NUMERIC) for p in _starts(form, " 0", 0)]
    if "(0" in form or "+0" in form:
        # A number in parentheses: tried at the "(" ("(415) 555-0134") and at its first digit
        # ("(1/24/1994)", "(720.555.0149)").
        opened = _starts(form, " (0", 0)
        candidates += [(p, _NUMERIC) for p in opened + [p + 1 for p in opened] + _starts(form, " +0", 0)]
        candidates.sort(key=_first)
    touches = _starts(form, "A0", -1) + _starts(form, "A 0", -1)
    if touches:
        for touch in touches:
            start = touch
            while start > 0 and form[start] == "A":
                start -= 1
            if touch - start <= 5:
                candidates.append((start, _CAPITAL_TOKEN))
        candidates.sort(key=_first)
    found = []
    last_end = -1
    for start, pattern in candidates:
        if start < last_end or (start and text[start - 1] in _NOT_BEFORE_TOKEN):
            continue  # inside the last token, or after a price sign, a decimal point, a joiner
        match = pattern.match(text, start)
        if match is not None:
            found.append((match.lastgroup or "", match))
            last_end = match.end()
    ctx.cache["tokens"] = found
    return found


# After the street: a unit stays in the address; city and state do not (a city identifies no one),
# but a ZIP code after them is a finding of its own.
_ADDRESS_UNIT = re.compile(
    r",?[ ]+(?:(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Floor|Fl|Room|Rm)\.?[ ]*\#?[ ]*[\w-]+|\#[ ]?[\w-]+)"
)
_STATE_BEFORE_ZIP = re.compile(rf"(?:^|[\s,]){_STATE}\.?,?[ ]*$")
_ZIP_LABEL = re.compile(r"\b(?:zip|zip code|zipcode|postal code|postcode)\b[\s:#(]*$")

_FAX_CUE = re.compile(r"\b(?:fax|facsimile|fx|f)\b[^\n\d]{0,12}$")
_PHONE_CUE = re.compile(
    r"\b(?:phone|tel|telephone|call|calling|text|txt|sms|mobile|cell|cellphone|contact|reach|dial|number|switchboard|"
    r"ph|p|m|c|h|w|home|work|voicemail|hotline|line)\b[^\n\d]{0,20}$"
)
_PERSONAL_CONTACT = re.compile(
    r"(?:\byour\s+(?:[\w-]+\s+){0,2}(?:phone|number|mobile|cell|telephone|email|e-mail|address|contact|home)\b"
    r"[^\n.]{0,20}|\b(?:call|text|reach|contact|email|e-mail|mail|write|send)\w*\s+you\b[^\n.]{0,12}|"
    r"\b(?:home|mobile|cell|cellphone|personal|mailing|residential|residence|emergency contact|guardian|parent|"
    r"spouse)\b[^\n.]{0,15})$"
)
_PERSONAL_DATE = re.compile(
    r"\b(?:your|you|you're|dob|d\.o\.b|birth|born|birthday|appointment|appt|visit|seen|admitted|admission|"
    r"discharged|discharge|scheduled|surgery|procedure|service|exam|test|collected|drawn|deceased|died|death|"
    r"expired|check-?in|arrive|arrival|follow-up|due)\b"
)
_DOB = re.compile(r"\b(?:dob|d\.o\.b|birth|born|birthday|birthdate|date of birth)\b[^\n]{0,12}$")
_SSN_CUE = re.compile(r"\b(?:ssn|ss#|social security|soc sec|ssa)\b[^\n]{0,20}$")
_NEGATIVE_ID = re.compile(
    r"\b(?:order|tracking|coupon|promo|code|sku|item|product|model|catalog|catalogue|gift card|voucher|reward|"
    r"points|lot|batch|isbn|upc|part|ticket|invoice|ref|reference|confirmation|extension|ext|room|suite|"
    r"box|pin|otp|passcode|verification|track|shipment|package|parcel|rma|return|warranty|serial key|product key|"
    r"store|register|trans|transaction|auth code|ups|usps|fedex|dhl)\b[^\n]{0,12}$"
)
# The later items of a list of lot or batch numbers ("lot numbers 2K1123A, 2K1124A and 2K1187B").
_LOT_LIST = re.compile(
    r"\b(?:lots?|batch(?:es)?)\b(?:[ \t]+(?:numbers?|nos?\.?)|[ \t]*#)?[ \t:]*"
    r"(?:[\w-]+(?:,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+(?:and|or)[ \t]+)){1,8}$"
)
_VERSION = re.compile(r"\b(?:version|ver|v|release|build)\.?\s*$")
_SHORT_DATE_CUE = re.compile(
    r"\b(?:date|appointment|appt|visit|due|deadline|scheduled|surgery|procedure|follow-up|delivery|refill)\b"
    r"[^.\n\d]{0,16}$|"
    r"\b(?:on|by|due|until|till|through|thru|from|before|after|since|dated|date|dob|of|starting|effective|"
    r"expires|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|"
    r"sun)\b[\s,:]*$"
)


def _phone_kind(ctx: ScanContext, start: int) -> tuple[str, str]:
    window = ctx.before(start, 36)
    # "Phone: 555-0100 Fax: 555-0101": the nearest cue word decides.
    fax = _FAX_CUE.search(window)
    if fax is not None:
        phone = _PHONE_CUE.search(window[fax.end() :])
        if phone is None:
            return FAX, "fax"
    return PHONE, "phone"


def _personal(ctx: ScanContext, start: int, pattern: re.Pattern[str] = _PERSONAL_CONTACT) -> str:
    return PERSONAL if pattern.search(ctx.before(start, 40)) else ""


def _numeric(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    for kind, match in tokens(ctx):
        if kind in ("dose", "icd"):
            continue  # health information: see health.py
        start, end = match.span()
        token = match.group()
        if kind == "code":
            _code(ctx, out, token, start, end)
        elif kind == "addr":
            unit = _ADDRESS_UNIT.match(text, end)
            if unit is not None:
                end = unit.end()
            personal = _personal(ctx, start, _PERSONAL_CONTACT)
            out.append(Finding(ADDRESS, start, end, 0.85, "address.street" + personal))
        elif kind == "ssn":
            cue = _SSN_CUE.search(ctx.before(start, 30))
            if validators.ssn_valid(token):
                out.append(Finding(SSN, start, end, 0.97 if cue else 0.85, "ssn.format"))
            elif cue:
                out.append(Finding(SSN, start, end, 0.7, "ssn.context"))
        elif kind == "card":
            if validators.payment_card_valid(token):
                out.append(Finding(ACCOUNT_NUMBER, start, end, 0.9, "card.luhn"))
        elif kind == "phone":
            ftype, rule = _phone_kind(ctx, start)
            out.append(Finding(ftype, start, end, 0.9, rule + ".nanp" + _personal(ctx, start)))
        elif kind == "intl":
            digits = len(validators.digits_of(token))
            if 8 <= digits <= 15:
                ftype, rule = _phone_kind(ctx, start)
                out.append(Finding(ftype, start, end, 0.85, rule + ".intl" + _personal(ctx, start)))
        elif kind == "date":
            _numeric_date(ctx, out, token, start, end)
        elif kind == "ip":
            if validators.ipv4_valid(token) and not _VERSION.search(ctx.before(start, 12)):
                before = ctx.before(start, 50)
                org = ORG if _EQUIPMENT_BEFORE.search(before) or _equipment_message(ctx, start) else ""
                if not org and _THREAT_BEFORE.search(before):
                    org = ORG  # a phishing sender's or an attacker's address: no patient's
                out.append(Finding(IP_ADDRESS, start, end, 0.9, "ip.v4" + org))
        else:
            _digit_run(ctx, out, token, start, end)


def _same_sentence(window: str) -> str:
    """The part of a window before a date that is in the date's sentence: the words of the
    sentence before ("...lowers your risk.  Closed March 23") say nothing about the date."""
    cut = max(window.rfind(". "), window.rfind(".\n"), window.rfind("\n\n"), window.rfind("! "), window.rfind("? "))
    return window[cut + 1 :] if cut != -1 else window


def _numeric_date(ctx: ScanContext, out: list[Finding], token: str, start: int, end: int) -> None:
    parts = re.split(r"[/.T:-]", token)
    if len(parts[0]) == 4:  # year first
        year, month, day = parts[0], int(parts[1]), int(parts[2])
        ok = validators.year_valid(year) and validators.date_valid(month, day)
    elif len(parts) == 2:  # "3/14": a date only where the words say so
        month, day = int(parts[0]), int(parts[1])
        ok = validators.date_valid(month, day) and bool(_SHORT_DATE_CUE.search(ctx.before(start, 24)))
        ok = ok and not re.match(r"\s*(?:%|mg|mcg|ml|tab|cap|pill|dose|of\b|mmhg|bpm)", ctx.after(end, 8))
    else:
        first, second, year = int(parts[0]), int(parts[1]), parts[2]
        ok = validators.year_valid(year) and (
            validators.date_valid(first, second) or validators.date_valid(second, first)
        )
        if "." in token and len(year) != 4:
            ok = False  # "1.2.30" is a version, not a date
    if not ok:
        return
    dob = _DOB.search(ctx.before(start, 30))
    personal = PERSONAL if (dob or _PERSONAL_DATE.search(_same_sentence(ctx.before(start, 60)))) else ""
    out.append(
        Finding(DATE, start, end, 0.95 if len(parts) > 2 else 0.75, ("date.dob" if dob else "date.numeric") + personal)
    )


_PO_BEFORE = re.compile(r"\b(?:po|p\.o\.?|purchase order|purchase order number)[ \t]*(?:number|no\.?|#)?[ \t:#]*$")
# A number between the separators of a contact line ("Clinic | 12 Main St | 4155550134 | www...").
_CONTACT_BLOCK = re.compile(r"(?:.*[|•·][ \t]*|.*\n[ \t]*|[ \t]*)\0[ \t]*(?:[|•·\n]|$)", re.S)


# "12 Main St, Apt 4B, Hartford 21761" or "12 Main St\nHartford 21761": a street line, a city, no state.
_SUFFIX_AFTER_STREET = (
    r"(?:[ \t]+(?:Rd|Road|St|Street|Ave|Avenue|Dr|Drive|Ln|Lane|Blvd|Way|Ct|Court|Pl|Place|Pkwy|Loop|Ter|"
    r"Terrace|Cir|Circle)\.?)?"
)
_CITY_WORD = r"[A-Z][\w'’.-]*"
_CITY_BEFORE_ZIP = re.compile(
    rf"{_SUFFIX_AFTER_STREET}[ \t]*,?[ \t]*\n?[ \t]*"
    rf"(?:(?:{_CITY_WORD}[ \t]+){{1,3}}|(?:{_CITY_WORD}[ \t]+){{0,2}}{_CITY_WORD},[ \t]*)"
)


def _after_street_and_city(ctx: ScanContext, out: list[Finding], start: int) -> bool:
    """A five-digit number right after a street address and a city name (no state between)."""
    for finding in reversed(out):
        if finding.type != ADDRESS:
            continue
        if finding.end > start or start - finding.end > 40:
            return False
        return _CITY_BEFORE_ZIP.fullmatch(ctx.text, finding.end, start) is not None
    return False


def _digit_run(ctx: ScanContext, out: list[Finding], token: str, start: int, end: int) -> None:
    digits = validators.digits_of(token)
    count = len(digits)
    window = ctx.before(start, 30)
    zip_shape = (count == 5 or (count == 9 and len(token) == 10 and token[5] == "-")) and len(token) in (5, 10)
    if zip_shape and (_STATE_BEFORE_ZIP.search(ctx.text[max(0, start - 20) : start]) or _ZIP_LABEL.search(window)):
        out.append(Finding(ZIP, start, end, 0.85, "zip.state"))
        return
    if zip_shape and _after_street_and_city(ctx, out, start):
        out.append(Finding(ZIP, start, end, 0.8, "zip.city"))
        return
    if len(token) == 8 and token[3] == "-" and count == 7:
        # "555-0100": a local number, with or without a word before it.
        ftype, rule = _phone_kind(ctx, start)
        out.append(
            Finding(
                ftype, start, end, 0.8 if _PHONE_CUE.search(window) else 0.6, rule + ".local" + _personal(ctx, start)
            )
        )
        return
    if count == 8 and _DOB.search(window):
        year, month, day = digits[:4], int(digits[4:6]), int(digits[6:])
        if validators.year_valid(year) and validators.date_valid(month, day):
            out.append(Finding(DATE, start, end, 0.8, "date.dob" + PERSONAL))
            return
    if count in (10, 11) and "-" not in token and _PO_BEFORE.search(window):
        return  # a purchase-order number
    if (
        count == 10
        and token.isdigit()
        and token[0] in "23456789"
        and token[3] in "23456789"
        and _CONTACT_BLOCK.match(ctx.text[max(0, start - 3) : start] + "\0" + ctx.text[end : end + 3])
    ):
        out.append(Finding(PHONE, start, end, 0.6, "phone.block"))  # "... | 4155550134 | www..."
        return
    if count in (10, 11) and _PHONE_CUE.search(window) and "-" not in token:
        ftype, rule = _phone_kind(ctx, start)
        out.append(Finding(ftype, start, end, 0.75, rule + ".digits" + _personal(ctx, start)))
        return
    if count == 9 and _SSN_CUE.search(window):
        out.append(Finding(SSN, start, end, 0.9 if validators.ssn_valid(digits) else 0.7, "ssn.context"))
        return
    if count == 10 and validators.npi_valid(digits) and "npi" in window:
        out.append(Finding(LICENSE_NUMBER, start, end, 0.95, "npi.check_digit"))
        return
    if 13 <= count <= 19 and validators.payment_card_valid(digits):
        out.append(Finding(ACCOUNT_NUMBER, start, end, 0.85, "card.luhn"))
        return
    if count >= 7 and not _NEGATIVE_ID.search(window) and not _LOT_LIST.search(ctx.before(start, 80)):
        # A long number with no label: in a message about a person it is nearly always a record,
        # account or reference number of some kind.
        out.append(Finding(OTHER_ID, start, end, 0.5, "id.digits" + (ORG if _equipment_message(ctx, start) else "")))


# --------------------------------------------------------------------------------------------
# Textual dates.

_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
_MONTHS.update(
    {
        # Spanish and French, for messages in those languages ("9 de marzo de 2027", "3 mars 2027").
        "enero": 1,
        "febrero": 2,
        "marzo": 3,
        "abril": 4,
        "mayo": 5,
        "junio": 6,
        "julio": 7,
        "agosto": 8,
        "septiembre": 9,
        "setiembre": 9,
        "octubre": 10,
        "noviembre": 11,
        "diciembre": 12,
        "janvier": 1,
        "février": 2,
        "fevrier": 2,
        "mars": 3,
        "avril": 4,
        "mai": 5,
        "juin": 6,
        "juillet": 7,
        "août": 8,
        "aout": 8,
        "septembre": 9,
        "octobre": 10,
        "novembre": 11,
        "décembre": 12,
        "decembre": 12,
    }
)
for _name, _number in _MONTHS.items():
    TABLE.add(MONTH, [_name], _number)
_NEEDS_CAPITAL = frozenset({"may", "march", "mar"})

_ORD = r"(?:st|nd|rd|th)?"
_AFTER_MONTH = re.compile(
    rf"""\.?(?:
        [ \t]*(?P<day>\d{{1,2}}){_ORD}\b(?![:.]\d)
            (?:[ \t]*(?:-|–|to|through|thru|and|&)[ \t]*(?:\d{{1,2}}){_ORD}\b(?![:.]\d))?
            (?:,?[ \t]*(?P<year>(?:19|20)\d\d)\b)?
      | ,?[ \t]+(?P<only_year>(?:19|20)\d\d)\b
      | -(?P<dday>\d{{1,2}})-(?P<dyear>\d{{2,4}})\b
    )""",
    re.X | re.I,
)
_DAY_BEFORE_MONTH = re.compile(rf"\b(?P<day>\d{{1,2}}){_ORD}(?:[ \t]+(?:of|de))?[ \t]*-?[ \t]*$", re.I)
_YEAR_AFTER = re.compile(r"\.?,?(?:[ \t]+de)?[ \t-]*(?P<year>(?:19|20)\d\d|\d\d(?!\d))\b")


def _textual_dates(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    for start, end, month in ctx.hits.get(MONTH, ()):
        word = ctx.lower[start:end]
        if word in _NEEDS_CAPITAL and not text[start].isupper():
            continue
        match = _AFTER_MONTH.match(text, end)
        found_start, found_end = start, -1
        if match is not None:
            day = match.group("day") or match.group("dday")
            if day is not None and not validators.date_valid(month, int(day)):
                match = None
            else:
                found_end = match.end()
        if match is None:
            before = _DAY_BEFORE_MONTH.search(text[max(0, start - 14) : start])
            if before is None or not validators.date_valid(month, int(before.group("day"))):
                continue
            found_start = start - (min(start, 14) - before.start())
            year = _YEAR_AFTER.match(text, end)
            found_end = year.end() if year is not None else end
        dob = _DOB.search(ctx.before(found_start, 30))
        personal = PERSONAL if (dob or _PERSONAL_DATE.search(_same_sentence(ctx.before(found_start, 60)))) else ""
        rule = ("date.dob" if dob else "date.text") + personal
        out.append(Finding(DATE, found_start, found_end, 0.9, rule))


# --------------------------------------------------------------------------------------------
# E-mail addresses and URLs.

_EMAIL_LOCAL = re.compile(r"[\w.+%'-]*[\w+%-]$")
_EMAIL_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
)
_ROLE_MAILBOXES = frozenset(
    words(
        "info contact contactus billing noreply no-reply donotreply do-not-reply support help helpdesk "
        "appointments appointment scheduling schedule admin office frontdesk front.desk reception "
        "pharmacy records medicalrecords privacy hello team care customerservice service services clinic "
        "nurse nurses hr careers jobs news newsletter marketing press media feedback questions inquiries "
        "enquiries portal mail webmaster postmaster security compliance claims member members "
        "memberservices patients patientservices referrals lab labs results rx refills events event rsvp "
        "welcome outreach community wellness education volunteer volunteers donate giving foundation "
        "benefits enrollment eligibility provider providers credentialing pr communications newsroom "
        "survey surveys notifications notification alerts updates reminders payments accounts finance it "
        "techsupport registration intake triage imaging radiology insurance no_reply noreplies bounce "
        "unsubscribe optout"
    )
)
_MAILBOX_PARTS = re.compile(r"[a-z]+")


def _personal_mailbox(mailbox: str) -> bool:
    """A person's mailbox ("dana.whitfield", "kwhit88", "jyoung"), not a role's or a service's
    ("info", "frontdesk", "facilities", "breathe"): a digit, several parts that are not all role
    words, or a part that is a listed name (after an initial, too)."""
    if mailbox in _ROLE_MAILBOXES:
        return False
    parts = _MAILBOX_PARTS.findall(mailbox)
    if any(char.isdigit() for char in mailbox):
        return True
    if not parts or all(part in _ROLE_MAILBOXES for part in parts):
        return False
    if len(parts) > 1:
        return True
    first, last = first_names(), surnames()
    word = parts[0]
    return word in first or word in last or (len(word) > 3 and (word[1:] in last or word[2:] in last))


_URL = re.compile(r"(?=[HhWw])(?:[Hh][Tt][Tt][Pp][Ss]?://|[Ww][Ww][Ww]\.)[^\s<>\"'()\[\]{}|\\^`]+")
_TLDS = (
    "com|org|net|gov|edu|us|io|health|care|info|biz|co|me|app|clinic|hospital|healthcare|doctor|dental|"
    "medical|pharmacy|example|test|ly|ai|uk|ca"
)
# A bare domain is found from its top-level domain ("sunriseclinic.org/portal"), then read back.
_TLD = re.compile(rf"\.(?i:{_TLDS})\b(?:/[^\s<>\"'()\[\]{{}}|\\^`]*)?")
_FULL_DOMAIN = re.compile(
    rf"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.(?i:{_TLDS})\b"
    r"(?:/[^\s<>\"'()\[\]{}|\\^`]*)?"
)
_DOMAIN_LABELS = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_TRAILING = ".,;:!?)]}'\"’”"
_URL_PERSONAL = re.compile(r"\d{6,}|[?&](?:id|patient|pid|mrn|member|account|user|uid|email)=", re.I)


def _emails_and_urls(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    taken: list[tuple[int, int]] = []
    at = text.find("@")
    while at != -1:
        local = _EMAIL_LOCAL.search(text, max(0, at - 64), at)
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        if local is not None and domain is not None:
            start, end = local.start(), domain.end()
            mailbox = text[start:at].lower()
            personal = PERSONAL if _personal_mailbox(mailbox) or _PERSONAL_CONTACT.search(ctx.before(start, 40)) else ""
            out.append(Finding(EMAIL, start, end, 0.97, "email" + personal))
            taken.append((start, end))
            at = text.find("@", end)
        else:
            at = text.find("@", at + 1)
    if "http" in ctx.lower or "www." in ctx.lower:
        for match in _URL.finditer(text):
            _url(text, match.start(), match.end(), 0.95, taken, out)
    for match in _TLD.finditer(text):
        labels = _DOMAIN_LABELS.search(text, max(0, match.start() - 64), match.start())
        if labels is None:
            continue
        start = labels.start()
        if start and text[start - 1] in "@.-_/":
            continue
        full = _FULL_DOMAIN.match(text, start)
        _url(text, start, full.end() if full is not None else match.end(), 0.8, taken, out)


def _url(text: str, start: int, end: int, confidence: float, taken: list[tuple[int, int]], out: list[Finding]) -> None:
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    if any(s <= start < e or s < end <= e for s, e in taken):
        return
    personal = PERSONAL if _URL_PERSONAL.search(text, start, end) else ""
    out.append(Finding(URL, start, end, confidence, "url" + personal))
    taken.append((start, end))


def _ipv6(ctx: ScanContext, out: list[Finding]) -> None:
    if "::" not in ctx.text and (ctx.text.count(":") < 7 or _IPV6_GROUPS.search(ctx.text) is None):
        return
    for match in _IPV6.finditer(ctx.text):
        token = match.group()
        if ("::" in token or token.count(":") == 7) and validators.ipv6_valid(token):
            start = match.start()
            org = ORG if _EQUIPMENT_BEFORE.search(ctx.before(start, 50)) or _equipment_message(ctx, start) else ""
            out.append(Finding(IP_ADDRESS, start, match.end(), 0.9, "ip.v6" + org))


# --------------------------------------------------------------------------------------------
# PO boxes, biometric identifiers and photographs: rare, found from a keyword.

TABLE.add(PHRASE, ["po box", "p o box", "p.o. box", "p. o. box", "p.o.box", "post office box"], "pobox")
# Biometric identifiers: a body part used to recognise someone and the kind of record made of it
# ("thumbprint", "palm-vein scan", "voiceprint", "facial geometry").
_BODY = (
    "finger",
    "thumb",
    "palm",
    "palm vein",
    "hand",
    "vein",
    "voice",
    "face",
    "facial",
    "iris",
    "retina",
    "retinal",
    "ear",
)
_RECORD = ("print", "prints", "scan", "scans", "pattern", "geometry", "template", "recognition data", "id", "signature")
TABLE.add(PHRASE, [f"{body} {record}" for body in _BODY for record in _RECORD], "bio")
TABLE.add(
    PHRASE,
    [f"{body}{record}" for body in ("finger", "thumb", "palm", "voice") for record in ("print", "prints")],
    "bio",
)
TABLE.add(
    PHRASE,
    ["biometric data", "biometric template", "biometric scan", "biometric record", "biometric records", "biometrics"],
    "bio",
)
TABLE.add(
    PHRASE,
    [
        "full face photo",
        "full face photograph",
        "full face photographs",
        "full face image",
        "full face picture",
        "attached photo",
        "attached photograph",
        "attached picture",
        "attached image",
        "enclosed photo",
        "enclosed photograph",
        "photo attached",
        "photograph attached",
        "picture attached",
        "image attached",
        "photos attached",
        "photo of you",
        "photo of your face",
        "photograph of you",
    ],
    "photo",
)
TABLE.add(PHRASE, ["jpg", "jpeg", "png", "heic", "gif", "bmp", "tif", "tiff"], "file")
# "the photos of your ankle", "the selfie you uploaded", "your photo", "The images are stored in your
# chart": a photograph of a person held or exchanged. "Bring a photo ID" is not one.
TABLE.add(
    PHRASE,
    [
        "photo",
        "photos",
        "photograph",
        "photographs",
        "picture",
        "pictures",
        "image",
        "images",
        "selfie",
        "selfies",
        "headshot",
        "headshots",
        "snapshot",
        "snapshots",
    ],
    "photo_noun",
)
_PHOTO_BEFORE = re.compile(
    r"(?:\b(?:your|the|these|those|this|that|sending|sent|send|upload|uploaded|uploading|attach|attached|submit|"
    r"submitted|receive|received|share|shared|took|take|taking|registration|wound|clinical|new)[ \t]+"
    r"(?:[\w-]+[ \t]+){0,2})$",
    re.I,
)
_PHOTO_AFTER = re.compile(
    r"[ \t]+(?:of[ \t]+(?:your|you|the|his|her|their)\b|(?:that[ \t]+)?you[ \t]+(?:uploaded|sent|submitted|shared|took|"
    r"attached|provided|emailed|texted)\b|(?:we[ \t]+took|taken|on[ \t]+file)\b|(?:is|are|was|were|has[ \t]+been|"
    r"have[ \t]+been)"
    r"[ \t]+(?:stored|saved|uploaded|received|attached|added|linked|kept|on[ \t]+file)\b|will[ \t]+appear\b)",
    re.I,
)
_NOT_A_PHOTO = re.compile(r"[ \t]*(?:id|i\.d\.|identification|card)\b", re.I)
_PO_BOX = re.compile(r"[ \t.]*#?[ \t]*\d{1,6}\b")
_FILE_NAME = re.compile(r"[\w-]+\.$")


def _phrases(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    for start, end, kind in ctx.hits.get(PHRASE, ()):
        if kind == "pobox":
            number = _PO_BOX.match(text, end)
            if number is not None:
                out.append(Finding(ADDRESS, start, number.end(), 0.85, "address.po_box" + _personal(ctx, start)))
        elif kind == "bio":
            out.append(Finding(BIOMETRIC, start, end, 0.7, "biometric.phrase"))
        elif kind == "photo":
            out.append(Finding(PHOTO, start, end, 0.7, "photo.phrase"))
        elif kind == "photo_noun":
            if _NOT_A_PHOTO.match(text, end):
                continue
            if _PHOTO_AFTER.match(text, end) or _PHOTO_BEFORE.search(text, max(0, start - 40), start):
                if not _PHOTO_AFTER.match(text, end) and not re.search(
                    r"\byour[ \t]+(?:[\w-]+[ \t]+){0,2}$", text[max(0, start - 30) : start], re.I
                ):
                    # Only "your photo" counts without words after it saying whose or what.
                    continue
                out.append(Finding(PHOTO, start, end, 0.7, "photo.noun"))
        else:
            name = _FILE_NAME.search(text, max(0, start - 64), start)
            if name is not None:
                out.append(Finding(PHOTO, name.start(), end, 0.7, "photo.file"))


# An unlabelled code of capitals and digits ("INC9292106", "WC-2027-95998", "27-67074-GG"): with 4+
# digits and a letter it names a case, claim or record; codes in a shop's context do not count.
_CODE_NEGATIVE = re.compile(
    r"\b(?:order|tracking|coupon|promo|code|sku|item|product|model|catalog|catalogue|gift|voucher|reward|lot|batch|"
    r"isbn|upc|part|ticket|version|ver|v|release|build|flight|room|spf|gate|seat|confirmation|track|tracking|"
    r"shipment|package|parcel|rma|return|warranty|key|invoice|ups|usps|fedex|dhl|app|activation|password|passcode|"
    r"wi-?fi|network|login)\b[^\n]{0,14}$"
)


def _code(ctx: ScanContext, out: list[Finding], token: str, start: int, end: int) -> None:
    if start and ctx.text[start - 1] == "#":
        return
    digits = sum(c.isdigit() for c in token)
    if digits < 4 or digits == len(token.replace("-", "")) or not any(c.isalpha() for c in token):
        return
    if len(token) == 17 and validators.vin_valid(token):
        org = ORG if _EQUIPMENT_BEFORE.search(ctx.lower, max(0, start - 60), start) else ""
        out.append(Finding(VEHICLE_ID, start, end, 0.9, "vin.check_digit" + org))
        return
    if _NEGATIVE_ID.search(ctx.before(start, 30)) or _CODE_NEGATIVE.search(ctx.before(start, 30)):
        return
    if _LOT_LIST.search(ctx.before(start, 80)):
        return
    out.append(Finding(OTHER_ID, start, end, 0.5, "id.code" + (ORG if _equipment_message(ctx, start) else "")))


def structured_findings(ctx: ScanContext) -> list[Finding]:
    out: list[Finding] = []
    _labelled(ctx, out)
    _numeric(ctx, out)
    _textual_dates(ctx, out)
    if "@" in ctx.text or "." in ctx.text:
        _emails_and_urls(ctx, out)
    _ipv6(ctx, out)
    _phrases(ctx, out)
    return out

"""The builder and value generators behind the synthetic DLP corpus (rules: ``encryption.dlp.corpus``).

A message is written piece by piece: ``b.t("Dear ")`` appends plain text, ``b.s("NAME", "Okafor")``
appends a labelled span, so every offset is exact by construction.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field

from encryption.dlp import corpus_pools as pools
from encryption.dlp.findings import FINDING_TYPES, HEALTH_TYPES, IDENTIFIER_TYPES, LEVEL_NONE, LEVEL_PHI, LEVEL_PII

YEAR = 2027  # the corpus's "now"; appointment and service dates fall in it
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass
class Span:
    type: str
    start: int
    end: int
    org: bool  # contact details of an organisation, or a date about no one (closures, events)


@dataclass
class Person:
    given: str
    family: str
    gender: str
    middle: str = ""

    @property
    def full(self) -> str:
        return f"{self.given} {self.middle} {self.family}" if self.middle else f"{self.given} {self.family}"


@dataclass
class Org:
    name: str
    domain: str
    kind: str
    phone: tuple[str, str, str]
    fax: tuple[str, str, str]
    street: str
    unit: str
    city: str
    state: str
    zip: str
    zip4: str


@dataclass
class Clinician:
    person: Person
    suffix: str

    @property
    def doctor(self) -> bool:
        return self.suffix in {"MD", "DO", "DDS", "PhD", "DNP", "PharmD"}


def ascii_fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if ch.isascii() and (ch.isalnum() or ch in ".-")).lower()


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def letters(rng: random.Random, n: int, alphabet: str = "ABCDEFGHJKLMNPRSTUVWXYZ") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def format_date(rng: random.Random, d: dt.date, style: int | None = None) -> str:
    """A calendar date written one of many ways (the whole string is the DATE span)."""
    m, mon, day = MONTHS[d.month - 1], MONTHS[d.month - 1][:3], d.day
    styles = [
        f"{m} {day}, {d.year}",
        f"{d.month:02d}/{day:02d}/{d.year}",
        f"{d.month}/{day}/{d.year % 100:02d}",
        d.isoformat(),
        f"{mon} {ordinal(day)}",
        f"{DAYS[d.weekday()]}, {m} {day}",
        f"{day} {m} {d.year}",
        f"{mon}. {day}, {d.year}" if d.month != 5 else f"May {day}, {d.year}",
        f"{DAYS[d.weekday()][:3]}, {mon} {day}",
        f"{m} {ordinal(day)}",
        f"{DAYS[d.weekday()]}, {m} {day}, {d.year}",
        f"{d.month:02d}-{day:02d}-{d.year}",
        f"{mon} {day}",
        f"{d.month}/{day}",
    ]
    return styles[rng.randrange(len(styles)) if style is None else style]


def format_phone(rng: random.Random, parts: tuple[str, str, str], style: int | None = None) -> str:
    a, e, n = parts
    styles = [f"({a}) {e}-{n}", f"{a}.{e}.{n}", f"+1 {a} {e} {n}", f"{a}-{e}-{n}", f"1-{a}-{e}-{n}",
              f"+1 ({a}) {e}-{n}", f"{a} {e} {n}", f"+1-{a}-{e}-{n}"]  # fmt: skip
    return styles[rng.randrange(len(styles)) if style is None else style]


def phone_parts(rng: random.Random) -> tuple[str, str, str]:
    area = rng.choice(["555", "217", "312", "503", "512", "614", "802", "919", "559", "402", "808", "973"])
    exchange = "555" if area != "555" else rng.choice(["201", "318", "472", "690", "734", "845"])
    line = "01" + digits(rng, 2) if area != "555" and rng.random() < 0.6 else digits(rng, 4)
    return area, exchange, line


def make_org(index: int) -> Org:
    name, domain, kind = pools.ORGS[index]
    rng = random.Random(f"org:{name}")  # noqa: S311 - synthetic test data, not security
    city, state, zip5 = rng.choice(pools.CITIES)
    return Org(
        name=name, domain=domain, kind=kind, phone=phone_parts(rng), fax=phone_parts(rng),
        street=f"{rng.randrange(10, 9900)} {rng.choice(pools.STREETS)}",
        unit=rng.choice(["", "", "Suite 100", "Suite 204", "Floor 2", "Building B"]),
        city=city, state=state, zip=zip5, zip4=digits(rng, 4),
    )  # fmt: skip


ORGS = [make_org(i) for i in range(len(pools.ORGS))]


# Senders whose name reveals a kind of care (being their patient says something about your health):
# kinds that can be ``pii`` or ``none`` use general senders only.
SPECIALTY_WORDS = ("Cardiology", "Women's", "Behavioral", "Dermatology", "Oncology", "Orthopedics", "Pediatrics",
                   "Imaging", "Sleep", "Labs")  # fmt: skip


def pick_org(rng: random.Random, *kinds: str, general: bool = False) -> Org:
    return rng.choice([
        org for org in ORGS
        if (not kinds or org.kind in kinds) and not (general and any(w in org.name for w in SPECIALTY_WORDS))
    ])  # fmt: skip


def make_person(rng: random.Random) -> Person:
    given, gender = rng.choice(pools.GIVEN_NAMES)
    family = rng.choice(pools.FAMILY_NAMES)
    middle = rng.choice("ABCDEJKLMRST") + "." if rng.random() < 0.15 else ""
    return Person(given=given, family=family, gender=gender, middle=middle)


def make_clinician(rng: random.Random) -> Clinician:
    suffix = rng.choice(["MD", "MD", "MD", "DO", "NP", "PA-C", "DNP", "PharmD", "LCSW", "RN"])
    return Clinician(person=make_person(rng), suffix=suffix)


def honorific(rng: random.Random, person: Person) -> str:
    return {"F": rng.choice(["Ms.", "Ms.", "Mrs."]), "M": "Mr.", "X": "Mx."}[person.gender]


def future_date(rng: random.Random) -> dt.date:
    return dt.date(YEAR, 1, 1) + dt.timedelta(days=rng.randrange(0, 365))


def birth_date(rng: random.Random) -> dt.date:
    return dt.date(rng.randrange(1932, 2022), rng.randrange(1, 13), rng.randrange(1, 29))


# ---- identifiers with realistic shapes (and valid check digits where they have one) ----


def ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    group, serial = rng.randrange(1, 100), rng.randrange(1, 10000)
    sep = rng.choice(["-", "-", "-", " ", ""])
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def luhn_check_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def npi(rng: random.Random) -> str:
    base = rng.choice("12") + digits(rng, 8)
    return base + luhn_check_digit("80840" + base)


def dea(rng: random.Random, family: str) -> str:
    first = rng.choice("ABFGM")
    initial = ascii_fold(family)[:1].upper() or "X"
    body = [int(c) for c in digits(rng, 6)]
    check = (body[0] + body[2] + body[4] + 2 * (body[1] + body[3] + body[5])) % 10
    return f"{first}{initial}{''.join(map(str, body))}{check}"


def drivers_license(rng: random.Random) -> str:
    return rng.choice([
        f"{letters(rng, 1)}{digits(rng, 3)}-{digits(rng, 4)}-{digits(rng, 4)}",
        f"{letters(rng, 1)}{digits(rng, 7)}",
        f"{digits(rng, 3)} {digits(rng, 3)} {digits(rng, 3)}",
        digits(rng, 8),
        f"{letters(rng, 1)}{digits(rng, 3)}-{digits(rng, 3)}-{digits(rng, 2)}-{digits(rng, 3)}-{digits(rng, 1)}",
        f"WDL{letters(rng, 3)}{digits(rng, 3)}{letters(rng, 1)}",
    ])  # fmt: skip


VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VIN_VALUES = dict(
    zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9], strict=True)
)
VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def vin(rng: random.Random) -> str:
    chars = [rng.choice(VIN_CHARS) for _ in range(17)]
    chars[9] = rng.choice("PRSTV123456")  # a model-year code
    total = sum((int(c) if c.isdigit() else VIN_VALUES[c]) * w for c, w in zip(chars, VIN_WEIGHTS, strict=True))
    chars[8] = "X" if total % 11 == 10 else str(total % 11)
    return "".join(chars)


def plate(rng: random.Random) -> str:
    return rng.choice([f"{digits(rng, 1)}{letters(rng, 3)}{digits(rng, 3)}", f"{letters(rng, 3)}-{digits(rng, 4)}",
                       f"{letters(rng, 3)} {digits(rng, 4)}", f"{digits(rng, 3)} {letters(rng, 3)}"])  # fmt: skip


def gtin_check(payload: str) -> str:
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(payload)))
    return str((10 - total % 10) % 10)


def device_id(rng: random.Random) -> str:
    gtin = "0" + digits(rng, 12)
    gtin += gtin_check(gtin)
    expiry = f"{YEAR % 100 + rng.randrange(1, 4)}{rng.randrange(1, 13):02d}28"  # YYMMDD, part of the UDI
    return rng.choice([
        f"(01){gtin}(17){expiry}(10){letters(rng, 2)}{digits(rng, 4)}",
        f"(01){gtin}(21){digits(rng, 8)}",
        f"{letters(rng, 2)}{digits(rng, 4)}-{digits(rng, 4)}",
        digits(rng, 11),
        f"{digits(rng, 1)}{letters(rng, 1)}{digits(rng, 1)}{letters(rng, 3)}",
        f"SN{digits(rng, 9)}",
        f"{letters(rng, 3)}-{digits(rng, 2)}-{digits(rng, 6)}",
    ])  # fmt: skip


def ip_address(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2001:db8:{rng.randrange(1, 0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
    return f"{net}.{rng.randrange(1, 255)}"


def mrn(rng: random.Random) -> str:
    return rng.choice([digits(rng, 8), f"{digits(rng, 3)}-{digits(rng, 4)}", f"{letters(rng, 2)}{digits(rng, 7)}",
                       f"{digits(rng, 2)}-{digits(rng, 5)}-{digits(rng, 1)}", f"E{digits(rng, 9)}",
                       f"{letters(rng, 3)}-{digits(rng, 6)}", digits(rng, 6)])  # fmt: skip


def mbi(rng: random.Random) -> str:
    alpha = "ACDEFGHJKMNPQRTUVWXY"
    alnum = alpha + "0123456789"
    c = [rng.choice("123456789"), rng.choice(alpha), rng.choice(alnum), rng.choice("0123456789"), rng.choice(alpha),
         rng.choice(alnum), rng.choice("0123456789"), rng.choice(alpha), rng.choice(alpha), rng.choice("0123456789"),
         rng.choice("0123456789")]  # fmt: skip
    s = "".join(c)
    return f"{s[:4]}-{s[4:7]}-{s[7:]}" if rng.random() < 0.6 else s


def member_id(rng: random.Random) -> str:
    return rng.choice([f"{letters(rng, 3)}{digits(rng, 9)}", f"W{digits(rng, 10)}",
                       f"{letters(rng, 2)}{digits(rng, 8)}", f"HBP-{digits(rng, 4)}-{digits(rng, 5)}",
                       f"{digits(rng, 9)}-{digits(rng, 2)}", mbi(rng)])  # fmt: skip


def group_number(rng: random.Random) -> str:
    return rng.choice([digits(rng, 6), f"GRP-{digits(rng, 5)}", f"{digits(rng, 3)}{letters(rng, 2)}{digits(rng, 3)}"])


def account_number(rng: random.Random) -> str:
    return rng.choice([digits(rng, 9), f"{digits(rng, 4)}-{digits(rng, 4)}-{digits(rng, 2)}", f"ACCT-{digits(rng, 8)}",
                       f"{digits(rng, 2)}{letters(rng, 1)}{digits(rng, 7)}", f"G{digits(rng, 8)}"])  # fmt: skip


def claim_number(rng: random.Random) -> str:
    return rng.choice([f"CLM{digits(rng, 10)}", f"{YEAR % 100}-{digits(rng, 7)}", f"C{digits(rng, 3)}-{digits(rng, 6)}",
                       f"{letters(rng, 2)}{digits(rng, 11)}"])  # fmt: skip


def rx_number(rng: random.Random) -> str:
    return rng.choice([digits(rng, 7), f"{digits(rng, 4)}-{digits(rng, 5)}", f"{digits(rng, 7)}-{digits(rng, 2)}",
                       f"RX{digits(rng, 8)}"])  # fmt: skip


def case_number(rng: random.Random) -> str:
    return rng.choice([f"WC-{YEAR}-{digits(rng, 5)}", f"CASE {digits(rng, 6)}", f"REF-{digits(rng, 6)}",
                       f"PA{digits(rng, 8)}", f"{YEAR % 100}-{digits(rng, 5)}-{letters(rng, 2)}",
                       f"INC{digits(rng, 7)}"])  # fmt: skip


def token(rng: random.Random, n: int = 10) -> str:
    return "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(n))


def street_line(rng: random.Random) -> str:
    line = f"{rng.randrange(1, 19999)} {rng.choice(pools.STREETS)}"
    if rng.random() < 0.5:
        line += rng.choice([", ", " "]) + rng.choice(pools.UNITS)
    return line if rng.random() < 0.9 else f"PO Box {rng.randrange(100, 99999)}"


def person_email(rng: random.Random, person: Person) -> str:
    g, f = ascii_fold(person.given), ascii_fold(person.family).replace(".", "")
    user = rng.choice([f"{g}.{f}", f"{g[0]}{f}", f"{g}{rng.randrange(1, 99)}", f"{f}.{g}", f"{g}_{f[:4]}"])
    return f"{user}@{rng.choice(['example.com', 'example.org', 'mail.example.com', 'example.test'])}"


@dataclass
class Builder:
    """Appends text and labelled spans; ``level`` follows from what was labelled."""

    rng: random.Random
    parts: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    length: int = 0
    health_context: bool = False  # an appointment, a bill for care, a supply order... about the person

    def t(self, text: str) -> Builder:
        self.parts.append(text)
        self.length += len(text)
        return self

    def s(self, type_: str, value: str, *, org: bool = False) -> Builder:
        if type_ not in FINDING_TYPES:
            raise ValueError(f"unknown finding type {type_}")
        if not value or value != value.strip():
            raise ValueError(f"span {value!r} is empty or padded")
        self.spans.append(Span(type_, self.length, self.length + len(value), org))
        return self.t(value)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def level(self) -> str:
        person = any(s.type in IDENTIFIER_TYPES and not s.org for s in self.spans)
        health = self.health_context or any(s.type in HEALTH_TYPES for s in self.spans)
        if person:
            return LEVEL_PHI if health else LEVEL_PII
        return LEVEL_NONE

    # ---- common pieces ----

    def choice(self, options: list) -> object:
        return self.rng.choice(options)

    def greet(self, p: Person) -> Builder:
        """A salutation naming the person (honorific outside the span), ending with a blank line."""
        r, style = self.rng, self.rng.randrange(8)
        if style <= 1:
            return self.t(f"Dear {honorific(r, p)} ").s("NAME", p.family).t(",\n\n")
        if style == 2:
            return self.t("Dear ").s("NAME", p.full).t(",\n\n")
        if style == 3:
            return self.t(r.choice(["Hi ", "Hello ", "Hey "])).s("NAME", p.given).t(r.choice([",\n\n", "!\n\n"]))
        if style == 4:
            return self.s("NAME", p.given).t(",\n\n")
        if style == 5:
            return (
                self.t(f"Good {r.choice(['morning', 'afternoon'])}, {honorific(r, p)} ").s("NAME", p.family).t(".\n\n")
            )
        if style == 6:
            return self.t("Dear ").s("NAME", p.given).t(",\n\n")
        return self.t("Hello ").s("NAME", f"{p.given} {p.family}").t(",\n\n")

    def clinician(self, c: Clinician, style: int | None = None) -> Builder:
        style = self.rng.randrange(4) if style is None else style
        if c.doctor and style == 0:
            return self.t("Dr. ").s("NAME", c.person.full)
        if c.doctor and style == 1:
            return self.t("Dr. ").s("NAME", c.person.family)
        if style == 2:
            return self.s("NAME", c.person.full).t(f", {c.suffix}")
        return self.s("NAME", f"{c.person.given} {c.person.family}")

    def date(self, d: dt.date, style: int | None = None, *, org: bool = False) -> Builder:
        return self.s("DATE", format_date(self.rng, d, style), org=org)

    def phone(self, parts: tuple[str, str, str], *, org: bool = False, fax: bool = False) -> Builder:
        return self.s("FAX" if fax else "PHONE", format_phone(self.rng, parts), org=org)

    def address(self, street: str, city: str, state: str, zip5: str, *, org: bool = False, zip4: str = "") -> Builder:
        """Street line as ADDRESS, city and state unlabelled, ZIP (or ZIP+4) as ZIP."""
        multiline = self.rng.random() < 0.6
        self.s("ADDRESS", street, org=org).t("\n" if multiline else ", ")
        zip_text = f"{zip5}-{zip4}" if zip4 and self.rng.random() < 0.5 else zip5
        return self.t(f"{city}, {state} ").s("ZIP", zip_text, org=org)

    def org_address(self, org: Org) -> Builder:
        street = f"{org.street}, {org.unit}" if org.unit else org.street
        return self.address(street, org.city, org.state, org.zip, org=True, zip4=org.zip4)

    def org_url(self, org: Org, path: str = "") -> Builder:
        prefix = self.rng.choice(["https://www.", "https://", "www."])
        return self.s("URL", f"{prefix}{org.domain}{path}", org=True)

    def hours(self) -> Builder:
        return self.t(self.rng.choice([
            "Mon–Fri 8:00 AM–5:00 PM", "Monday through Friday, 7:30 am to 6 pm", "Mon-Fri 9am-5pm, Sat 9am-1pm",
            "weekdays 8:30–4:30", "Monday–Thursday 8–6 and Friday 8–noon", "24 hours a day, 7 days a week",
        ]))  # fmt: skip

    def extras(self, org: Org, count: int | None = None) -> Builder:
        """Padding paragraphs real emails carry: parking, apps, prices, language help. Nothing is personal."""
        r = self.rng
        count = r.choice([1, 2, 2, 3, 3, 4, 4]) if count is None else count
        for paragraph in r.sample([*pools.BOILERPLATE, "LANGUAGE", "EDUCATION", "EDUCATION"], count):
            self.t("\n\n")
            if paragraph == "LANGUAGE":
                self.t(r.choice([
                    "ATENCIÓN: si habla español, tiene a su disposición servicios gratuitos de asistencia lingüística."
                    " Llame al ",
                    "Language assistance services are available to you free of charge. Call ",
                ])).phone(org.phone, org=True).t(".")  # fmt: skip
            elif paragraph == "EDUCATION":
                self.t(r.choice(["Health tip: ", "Did you know? ", "From our clinicians: ", ""]))
                self.t(r.choice(pools.EDUCATION))
            else:
                code, version = r.choice(pools.COUPON_CODES), r.choice(pools.APP_VERSIONS)
                self.t(paragraph.format(org=org.name, code=code, version=version))
        return self

    def footer(self, org: Org, *, full: bool | None = None, extras: int | None = None) -> Builder:
        r = self.rng
        full = r.random() < 0.6 if full is None else full
        self.extras(org, extras)
        self.t("\n\n")
        if full:
            self.t(f"{org.name}\n").org_address(org).t("\n")
            self.t(r.choice(["Phone: ", "Tel ", "P: "])).phone(org.phone, org=True)
            if r.random() < 0.6:
                self.t(r.choice([" | Fax: ", "  ·  Fax ", "\nF: "])).phone(org.fax, org=True, fax=True)
            self.t("\n").org_url(org).t("\n")
        else:
            self.t(f"Questions? Call {org.name} at ").phone(org.phone, org=True).t(", ").hours().t(".\n")
        if r.random() < 0.5:
            self.t(r.choice([
                "\nCONFIDENTIALITY NOTICE: This message may contain information protected by federal and state privacy"
                " laws. If you received it in error, please delete it and notify the sender.",
                "\nThis email was sent to you because you are a patient of ours. Please do not reply; this mailbox is"
                " not monitored.",
                f"\n© {YEAR} {org.name}. All rights reserved.",
                "\nPlease do not reply to this automated message.",
            ]))  # fmt: skip
        return self

    def sign(self, org: Org, clinician: Clinician | None = None) -> Builder:
        if clinician is not None and self.rng.random() < 0.7:
            self.t(self.rng.choice(["\n\nSincerely,\n", "\n\nBest regards,\n", "\n\nWarmly,\n", "\n\n— "]))
            return self.clinician(clinician).t(f"\n{org.name}")
        return self.t(self.rng.choice(["\n\nThank you,\n", "\n\nSincerely,\n", "\n\n"])).t(
            self.rng.choice([f"{org.name}", f"The care team at {org.name}", f"{org.name} Patient Services"])
        )

    # ---- health spans (only ever about the person the message concerns) ----

    def condition(self, *, code: bool | None = None) -> Builder:
        term, icd = self.rng.choice(pools.CONDITIONS)
        self.s("CONDITION", term)
        if code or (code is None and self.rng.random() < 0.3):
            self.t(" (").s("CONDITION", icd).t(")")
        return self

    def medication(self, *, strength: bool | None = None) -> Builder:
        drug, strengths = self.rng.choice(pools.MEDICATIONS)
        dose = self.rng.choice(strengths)
        with_dose = dose and (strength or (strength is None and self.rng.random() < 0.7))
        return self.s("MEDICATION", f"{drug} {dose}" if with_dose else drug)

    def procedure(self, name: str | None = None) -> Builder:
        return self.s("PROCEDURE", name or self.rng.choice(pools.PROCEDURES))

    def lab(self) -> Builder:
        r = self.rng
        if r.random() < 0.25:
            return self.s("LAB_RESULT", r.choice(pools.LAB_QUALITATIVE))
        analyte, unit, low, high, decimals = r.choice(pools.LAB_ANALYTES)
        value = f"{r.uniform(low, high):,.{decimals}f}"
        joiner = r.choice([" ", ": ", " was ", " of ", " = "])
        unit_text = "" if not unit else (unit if unit == "%" else f" {unit}")
        return self.s("LAB_RESULT", f"{analyte}{joiner}{value}{unit_text}")


def time_of_day(rng: random.Random) -> str:
    hour, minute = rng.randrange(7, 18), rng.choice([0, 15, 20, 30, 40, 45])
    h12, ampm = (hour - 1) % 12 + 1, "AM" if hour < 12 else "PM"
    return rng.choice([f"{h12}:{minute:02d} {ampm}", f"{h12}:{minute:02d} {ampm.lower()}", f"{hour:02d}:{minute:02d}",
                       f"{h12}:{minute:02d}{ampm.lower()}"])  # fmt: skip


SPANISH_MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
                  "noviembre", "diciembre"]  # fmt: skip


def spanish_date(d: dt.date) -> str:
    return f"{d.day} de {SPANISH_MONTHS[d.month - 1]} de {d.year}"

"""Corpus message kinds from pharmacies and device suppliers (rules: ``encryption.dlp.corpus``)."""

from __future__ import annotations

from encryption.dlp import corpus_base as cb
from encryption.dlp import corpus_pools as pools
from encryption.dlp.corpus_base import Builder

CONTROLLED = ["Adderall XR 20 mg", "hydrocodone-acetaminophen 5-325 mg", "buprenorphine-naloxone 8 mg/2 mg",
              "Vyvanse 30 mg", "oxycodone 5 mg", "lorazepam 0.5 mg", "methylphenidate ER 36 mg"]  # fmt: skip
VACCINES = ["flu vaccination", "COVID-19 booster", "Tdap vaccine", "Shingrix vaccination", "HPV vaccination",
            "MMR vaccine", "hepatitis B vaccine", "pneumococcal vaccine (PCV20)", "RSV vaccine"]  # fmt: skip
# (model, the therapy device it is — labelled PROCEDURE, supplies, condition it is for)
DEVICES = [
    ("ResMed AirSense 11", "CPAP", "full-face mask cushion, 6 filters and heated tubing", "obstructive sleep apnea"),
    ("Dexcom G7", "continuous glucose monitor", "a 30-day supply of sensors", "type 1 diabetes"),
    ("Omnipod 5", "insulin pump", "10 pods", "type 1 diabetes"),
    ("Inogen One G5", "portable oxygen concentrator", "2 replacement batteries and a cannula kit", "COPD"),
    ("Phonak Audéo", "hearing aids", "a charger and 4 domes", "bilateral sensorineural hearing loss"),
    ("Philips InnoSpire", "nebulizer", "tubing and 2 mouthpieces", "asthma"),
    ("Medtronic CareLink", "pacemaker remote monitor", "a replacement cable", "complete heart block"),
    ("Zewa", "TENS unit", "8 electrode pads", "chronic low back pain"),
]  # fmt: skip


def store(b: Builder) -> cb.Org:
    return cb.pick_org(b.rng, "pharmacy")


def prescription_ready(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), store(b), cb.make_clinician(r)
    b.health_context = True
    style = r.randrange(3)
    if style == 0:
        b.t(f"{org.name}: ").s("NAME", p.given).t(", 1 prescription is ready for pickup (Rx ")
        b.s("OTHER_ID", cb.rx_number(r)).t(f"). Copay ${r.choice(['0.00', '10.00', '4.99', '35.00'])}. Questions: ")
        b.phone(org.phone, org=True).t(". Reply STOP to opt out.")
        return
    b.greet(p).t("Good news — your prescription is ready.\n\n  Medication: ")
    controlled = style == 2
    if controlled:
        b.s("MEDICATION", r.choice(CONTROLLED))
    else:
        b.medication()
    b.t("\n  Rx #: ").s("OTHER_ID", cb.rx_number(r)).t("\n  Prescriber: ").clinician(doc).t("\n  Pick up by: ")
    b.date(cb.future_date(r)).t(f"\n  Store: {org.name}, ").org_address(org).t("\n\n")
    if controlled:
        b.t("Because this is a controlled medication, we will match your ")
        b.s("BIOMETRIC", r.choice(["fingerprint", "thumbprint", "palm-vein scan"]))
        b.t(" at pickup, and the person picking up must show a government-issued photo ID.")
    else:
        b.t("Anyone picking up for you will need your date of birth. Please bring a photo ID.")
    b.t(" Prescriptions not picked up within 10 days are returned to stock.\n\nOpen ")
    b.t(r.choice(["8 AM–9 PM daily", "Mon–Sat 9–7, Sun 10–4", "24 hours"])).t(". Drive-thru available.")
    b.sign(org).footer(org)


def prescription_refill(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), store(b), cb.make_clinician(r)
    b.health_context = True
    style = r.randrange(3)
    b.greet(p)
    if style == 0:
        b.t("It's time to refill your ").medication().t(
            f". You have {r.randrange(0, 5)} refills left; it was last filled on "
        )
        b.date(cb.future_date(r)).t(".\n\nRefill in one tap: ").s(
            "URL", f"https://{org.domain}/rx/refill/{cb.token(r, 9)}"
        )
        b.t(f"\n\nPrefer the phone? Call {org.name} at ").phone(org.phone, org=True).t(" and enter Rx ")
        b.s("OTHER_ID", cb.rx_number(r)).t(". Enroll in auto-refill to get a 90-day supply and save up to 15%.")
    elif style == 1:
        b.t("We sent a refill request for your ").medication().t(" to ").clinician(doc).t(" on ").date(
            cb.future_date(r)
        )
        b.t(". Most prescribers respond within 2 business days; we will text you at ").phone(cb.phone_parts(r))
        b.t(" when it is ready.")
    else:
        b.t("Your insurance needs a prior authorization before we can refill your ").medication()
        b.t(". We have contacted your prescriber, and the request number is ").s("OTHER_ID", cb.case_number(r))
        b.t(". Your plan lists you as member ").s("HEALTH_PLAN_ID", cb.member_id(r)).t(".")
    b.sign(org).footer(org)


def pharmacy_notice(b: Builder) -> None:
    """General notices (``none``) and personal ones (recalls, consultations)."""
    r = b.rng
    org = store(b)
    style = r.randrange(4)
    drug = r.choice(pools.MEDICATIONS)[0]
    lot = f"Lot {cb.letters(r, 2)}{cb.digits(r, 4)}"
    if style == 0:
        b.t(f"Subject: Voluntary recall of certain {drug} lots\n\nDear customer,\n\nThe manufacturer of {drug} has")
        b.t(f" announced a voluntary recall of {lot} and {cb.letters(r, 2)}{cb.digits(r, 4)} because of a labelling")
        b.t(" error. Do not stop taking any medicine without talking to your prescriber. If you have questions, call ")
        b.phone(org.phone, org=True).t(" or bring your bottle to any store for a free exchange.")
    elif style == 1:
        p = cb.make_person(r)
        b.t("Important safety notice\n\n").greet(p).t("Our records show that on ").date(cb.future_date(r))
        b.t(" you were dispensed ").s("MEDICATION", drug).t(f" from {lot}, which is part of a voluntary recall. ")
        b.t("Please call your pharmacist at ").phone(org.phone, org=True).t(" to arrange a free replacement.")
    elif style == 2:
        b.t(f"{org.name} is moving! From ").date(cb.future_date(r), org=True).t(" our new store is at ")
        b.org_address(org).t(". Same pharmacists, same phone number: ").phone(org.phone, org=True)
        b.t(
            ". Flu shots and COVID-19 boosters are available without an appointment; most insurance plans cover them at"
        )
        b.t(" $0. Pharmacy hours: Mon–Fri 9:00 AM–7:00 PM, Sat 9:00 AM–5:00 PM.")
    else:
        p, pharmacist = cb.make_person(r), cb.make_person(r)
        b.greet(p).t("As part of your Medicare Part D plan, you are eligible for a free medication review. ")
        b.t("Our pharmacist ").s("NAME", pharmacist.full).t(" would like to go over your ").medication().t(" and ")
        b.medication().t(r.choice([" to check for interactions.", ", since both can affect blood pressure."]))
        b.t(" Book a 20-minute call at ").org_url(org, "/consult").t(".")
    b.footer(org)


def device_shipment(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "supplier"), cb.make_clinician(r)
    model, therapy, supplies, condition = r.choice(DEVICES)
    b.health_context = True  # a supply order for the person's care
    b.t(r.choice(["Your order has shipped 📦\n\n", "Subject: Supplies on the way\n\n", "SHIPPING NOTICE\n\n"])).greet(p)
    b.t(f"Your replacement supplies for your {model} ").s("PROCEDURE", therapy).t(f" ({supplies}) shipped on ")
    b.date(cb.future_date(r))
    b.t(r.choice([" and should arrive in 3–5 business days.", ". Expected delivery: 2 days."]))
    b.t("\n\n  Device serial number: ").s("DEVICE_ID", cb.device_id(r))
    if r.random() < 0.4:
        b.t("\n  UDI: ").s("DEVICE_ID", cb.device_id(r))
    b.t("\n  Ship to: ").address(cb.street_line(r), *r.choice(pools.CITIES), zip4=cb.digits(r, 4))
    b.t("\n  Ordering physician: ").clinician(doc).t("\n  Diagnosis on order: ").s("CONDITION", condition)
    b.t("\n\nYour insurance allows a new set every 90 days; your next order date is ").date(cb.future_date(r))
    b.t(". Manage deliveries at ").s("URL", f"https://{org.domain}/account/{cb.token(r, 8)}")
    b.t(" or call ").phone(org.phone, org=True).t(".").sign(org).footer(org)


def immunization_record(b: Builder) -> None:
    r = b.rng
    child, parent, org = cb.make_person(r), cb.make_person(r), cb.pick_org(r, "clinic", "pharmacy")
    child.family = parent.family if r.random() < 0.7 else child.family
    b.health_context = True
    b.t("Official immunization record\n\n").greet(parent)
    b.t("As requested, here is the immunization record for ").s("NAME", child.full).t(" (date of birth ")
    b.date(cb.birth_date(r).replace(year=cb.YEAR - r.randrange(4, 17)), r.choice([0, 1, 3])).t(").\n\n")
    for vaccine in r.sample(VACCINES, r.randrange(2, 5)):
        b.t("  • ").procedure(vaccine).t(" — ").date(
            cb.birth_date(r).replace(year=cb.YEAR - r.randrange(0, 4)), r.choice([1, 0, 3])
        )
        b.t(f"   lot {cb.letters(r, 1)}{cb.digits(r, 5)}\n")
    b.t("\nThis record meets school and camp requirements. ")
    if r.random() < 0.5:
        b.t("A signed copy has been uploaded to your portal at ").s(
            "URL", f"https://portal.{org.domain}/docs/{cb.token(r)}"
        )
        b.t(". ")
    b.t("Vaccines recommended for all children aged 11–12 include Tdap, HPV and meningococcal vaccines.")
    b.sign(org).footer(org)


def prescriber_notice(b: Builder) -> None:
    """Messages to and about prescribers: DEA and NPI numbers; some concern a patient."""
    r = b.rng
    doc = cb.make_clinician(r)
    doc.suffix = r.choice(["MD", "DO", "DDS", "NP"])
    dea = cb.dea(r, doc.person.family)
    if r.random() < 0.45:
        org = cb.pick_org(r, "hospital")
        b.t("Credentialing reminder\n\nDear ").clinician(doc, r.choice([0, 1, 2])).t(",\n\nOur records show that your")
        b.t(" DEA registration ").s("LICENSE_NUMBER", dea).t(" expires on ").date(cb.future_date(r))
        b.t(" and your state license ").s("LICENSE_NUMBER", f"{r.choice(['MD', 'DO', 'APRN', ''])}{cb.digits(r, 6)}")
        b.t(" on ").date(cb.future_date(r)).t(". Please upload the renewed certificates at ").org_url(
            org, "/credentialing"
        )
        b.t(" so your privileges continue without interruption. Your NPI on file is ").s("LICENSE_NUMBER", cb.npi(r))
        b.t(".\n\nMedical Staff Office, ").t(org.name).t("\n").phone(org.phone, org=True).t(" ext. 4410")
        return
    org, p = cb.pick_org(r, "pharmacy"), cb.make_person(r)
    b.t(f"Prescription verification request — {org.name}\n\nTo: ").clinician(doc).t("\nFax: ")
    b.phone(cb.phone_parts(r), fax=True, org=True).t("\nDEA: ").s("LICENSE_NUMBER", dea).t("   NPI: ").s(
        "LICENSE_NUMBER", cb.npi(r)
    )
    b.t("\n\nPatient: ").s("NAME", p.full).t("\nDOB: ").date(cb.birth_date(r), 1).t("\nAddress: ")
    b.address(cb.street_line(r), *r.choice(pools.CITIES)).t("\n\nWe received a prescription for ").s(
        "MEDICATION", r.choice(CONTROLLED)
    )
    b.t(r.choice([", #30, no refills", ", quantity 60", ", 14-day supply"])).t(", dated ").date(cb.future_date(r), 1)
    b.t(". The state monitoring program shows an overlapping fill on ").date(cb.future_date(r), 1)
    b.t(". Please confirm by calling ").phone(org.phone, org=True).t(".\n\nPharmacist: ").s(
        "NAME", cb.make_person(r).full
    )
    b.t(", PharmD").footer(org, full=False, extras=0)


KINDS = [
    ("prescription_ready", prescription_ready, 35),
    ("prescription_refill", prescription_refill, 30),
    ("pharmacy_notice", pharmacy_notice, 30),
    ("device_shipment", device_shipment, 30),
    ("immunization_record", immunization_record, 22),
    ("prescriber_notice", prescriber_notice, 25),
]

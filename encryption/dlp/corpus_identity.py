"""Corpus message kinds about accounts and identity: sign-ins, records requests, biometrics, photos, vehicles.

Rules: ``encryption.dlp.corpus``.
"""

from __future__ import annotations

from encryption.dlp import corpus_base as cb
from encryption.dlp import corpus_pools as pools
from encryption.dlp.corpus_base import Builder

BROWSERS = ["Chrome on Windows", "Safari on iPhone", "Firefox on Linux", "Edge on Windows 11", "the Android app 5.0.1"]


def security_alert(b: Builder) -> None:
    r = b.rng
    p, org = cb.make_person(r), cb.pick_org(r, "clinic", "hospital", "plan", "pharmacy", general=True)
    city, state, _ = r.choice(pools.CITIES)
    b.t("Subject: New sign-in to your account\n\n").greet(p)
    b.t(f"We noticed a new sign-in to your {org.name} account (").s("EMAIL", cb.person_email(r, p)).t(").\n\n")
    b.t("  When: ").date(cb.future_date(r)).t(f", {cb.time_of_day(r)}\n  Device: {r.choice(BROWSERS)}\n  IP address: ")
    b.s("IP_ADDRESS", cb.ip_address(r)).t(f"\n  Approximate location: {city}, {state}\n\n")
    if r.random() < 0.4:
        b.t("The previous sign-in came from ").s("IP_ADDRESS", cb.ip_address(r)).t(". ")
    b.t("If this was you, there is nothing to do. If not, change your password at ").org_url(org, "/security")
    b.t(" and call us at ").phone(org.phone, org=True).t(". We will never ask for your password by email.")
    b.footer(org, extras=r.choice([0, 0, 1]))


def password_reset(b: Builder) -> None:
    r = b.rng
    org = cb.pick_org(r, general=True)
    named, p = r.random() < 0.75, cb.make_person(r)
    b.t("Subject: Reset your password\n\n")
    if named:
        b.greet(p)
    else:
        b.t("Hello,\n\n")
    b.t("We received a request to reset the password for ")
    if named and r.random() < 0.6:
        b.t("the account ").s("EMAIL", cb.person_email(r, p))
    else:
        b.t("your account")
    b.t(". Use this link within 30 minutes:\n\n")
    if named:
        b.s("URL", f"https://{org.domain}/reset/{cb.token(r, 20)}")
    else:
        b.t("[Reset password]")
    if named and r.random() < 0.5:
        b.t("\n\nThe request came from IP address ").s("IP_ADDRESS", cb.ip_address(r)).t(".")
    b.t("\n\nIf you did not ask for this, ignore this email; your password will not change. Passwords must be at least")
    b.t(" 12 characters long.").footer(org, full=False, extras=r.choice([0, 0, 1]))


def records_request(b: Builder) -> None:
    """Release of information and identity checks: SSNs, licences, photographs."""
    r = b.rng
    p, org, staff = cb.make_person(r), cb.pick_org(r, "hospital", "clinic", general=True), cb.make_person(r)
    b.t("Re: Request for medical records, reference ").s("OTHER_ID", cb.case_number(r)).t("\n\n").greet(p)
    if r.random() < 0.6:
        b.health_context = True
        b.t("We received your signed authorization to release records of your care from ").date(cb.future_date(r))
        b.t(" to ").date(cb.future_date(r)).t(", including your ").procedure().t(r.choice([" and ", " for "]))
        b.t("your ").condition(code=False).t(", to ").clinician(cb.make_clinician(r)).t(".")
    else:
        b.t("Before we can set up access to your records we need to confirm your identity.")
    b.t("\n\nThe details we have on file:\n  Name: ").s("NAME", p.full).t("\n  Date of birth: ").date(
        cb.birth_date(r), r.choice([1, 0])
    )
    b.t("\n  Social Security number: ").s("SSN", cb.ssn(r)).t("\n  ")
    b.t(r.choice(["Driver's license: ", "State ID: ", "Driver license #: "])).s("LICENSE_NUMBER", cb.drivers_license(r))
    b.t("\n  Address: ").address(cb.street_line(r), *r.choice(pools.CITIES), zip4=cb.digits(r, 4))
    b.t("\n\nWe also received the ").s(
        "PHOTO", r.choice(["photo of your ID", "full-face photograph", "selfie", "photo"])
    )
    b.t(" you uploaded for verification. If any detail is wrong, call ").phone(org.phone, org=True)
    b.t(" or fax corrections to ").phone(org.fax, org=True, fax=True)
    b.t(". Copies are free for your own use; there is a $6.50 fee for third parties.\n\n").s("NAME", staff.full)
    b.t(", Health Information Management").footer(org, full=False, extras=r.choice([0, 1]))


def biometric_enrollment(b: Builder) -> None:
    r = b.rng
    p, org = cb.make_person(r), cb.pick_org(r, "hospital", "clinic", "pharmacy", general=True)
    biometric = r.choice(
        ["palm-vein scan", "fingerprint", "voiceprint", "facial geometry scan", "iris scan", "retina scan"]
    )
    b.t("Subject: You're enrolled in express check-in\n\n").greet(p)
    b.t("Thank you for enrolling in express check-in on ").date(cb.future_date(r)).t(". Your ").s(
        "BIOMETRIC", biometric
    )
    b.t(" is now linked to your record")
    if r.random() < 0.5:
        b.t(" (patient ID ").s("MRN", cb.mrn(r)).t(")")
    b.t(", so next time you can check in without a card.")
    if r.random() < 0.5:
        b.t(" The ").s("PHOTO", r.choice(["photo", "registration photo", "portrait"])).t(
            " we took at the desk will appear"
        )
        b.t(" in your chart so staff can recognize you.")
    if r.random() < 0.4:
        b.health_context = True
        b.t(" You can use it at your next appointment on ").date(cb.future_date(r)).t(".")
    b.t("\n\nWe store an encrypted template, never an image, and we never share it. To withdraw and delete your ")
    b.s("BIOMETRIC", r.choice(["biometric template", "fingerprint template", "voiceprint", "palm-vein template"]))
    b.t(", visit any front desk or ").org_url(org, "/privacy/biometrics").t(".").footer(org, extras=r.choice([0, 1]))


def transport_parking(b: Builder) -> None:
    r = b.rng
    p, org = cb.make_person(r), cb.pick_org(r, "hospital", "clinic", "plan", general=True)
    style = r.randrange(3)
    b.greet(p)
    if style == 0:
        b.health_context = True
        b.t("Your ride to your ").procedure(
            r.choice(["hemodialysis", "chemotherapy infusion", "radiation therapy", "physical therapy evaluation"])
        )
        b.t(" on ").date(cb.future_date(r)).t(f" is booked. Pickup at {cb.time_of_day(r)} from ")
        b.address(cb.street_line(r), *r.choice(pools.CITIES)).t(".\n\nDriver: ").s("NAME", cb.make_person(r).given)
        b.t(f"\nVehicle: {r.choice(['white Toyota Sienna', 'gray Ford Transit', 'blue Honda Odyssey'])}, plate ")
        b.s("VEHICLE_ID", cb.plate(r)).t("\n\nThe driver will call you at ").phone(cb.phone_parts(r)).t(" on arrival.")
    elif style == 1:
        b.health_context = True
        b.t("Your patient parking permit for your ").condition(code=False).t(
            " treatment visits is approved. It is valid"
        )
        b.t(" until ").date(cb.future_date(r)).t(" for vehicle ").s("VEHICLE_ID", cb.plate(r))
        b.t(r.choice([" (VIN ", " — VIN "])).s("VEHICLE_ID", cb.vin(r)).t("). Park in Garage C, levels 1–3.")
    else:
        b.t("Your staff parking permit has been issued for your vehicle, plate ").s("VEHICLE_ID", cb.plate(r))
        b.t(", VIN ").s("VEHICLE_ID", cb.vin(r)).t(". The permit is linked to employee badge ").s(
            "OTHER_ID", cb.digits(r, 6)
        )
        b.t(". Monthly parking is $45, deducted from your paycheck.")
    b.footer(org, full=False, extras=r.choice([0, 1]))


PHOTO_SUBJECTS = [
    (" of the ", "CONDITION", "rash", " on your left forearm"),
    (" of the ", "CONDITION", "mole", " on your back"),
    (" of your ", "CONDITION", "swollen ankle", ""),
    (" of the incision from your ", "PROCEDURE", "carpal tunnel release", ""),
    (" of the ", "CONDITION", "pressure sore", " on your heel"),
    (" of the ", "CONDITION", "burn", " on your right hand"),
]


def photo_upload(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "telehealth"), cb.make_clinician(r)
    count = r.choice(["2", "3", "three", "several"])
    b.health_context = True
    b.greet(p).t(f"Thanks for sending {count} ").s("PHOTO", r.choice(["photos", "pictures", "wound photos", "images"]))
    before, type_, term, after = r.choice(PHOTO_SUBJECTS)
    b.t(before).s(type_, term).t(after)
    b.t(" on ").date(cb.future_date(r)).t(". ").clinician(doc).t(" will review them before your e-visit")
    if r.random() < 0.5:
        b.t(" about your ").condition(code=False)
    b.t(". The ").s("PHOTO", r.choice(["photos", "images"])).t(" are stored in your chart under ")
    b.t(r.choice(["Media", "Documents > Clinical images"])).t(" and are visible only to your care team.\n\n")
    b.t("Tips for next time: use daylight, hold the camera 12 inches away and include a coin for scale.")
    b.t("\n\nView your e-visit: ").s("URL", f"https://{org.domain}/evisit/{cb.token(r, 11)}").footer(org)


KINDS = [
    ("security_alert", security_alert, 25),
    ("password_reset", password_reset, 25),
    ("records_request", records_request, 25),
    ("biometric_enrollment", biometric_enrollment, 25),
    ("transport_parking", transport_parking, 25),
    ("photo_upload", photo_upload, 22),
]

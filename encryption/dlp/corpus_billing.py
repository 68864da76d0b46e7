"""Corpus message kinds about money: statements, receipts, plans, claims, shop orders.

Rules: ``encryption.dlp.corpus``.
"""

from __future__ import annotations

from encryption.dlp import corpus_base as cb
from encryption.dlp import corpus_pools as pools
from encryption.dlp.corpus_base import Builder


def money(b: Builder, low: int, high: int) -> str:
    return f"${b.rng.randrange(low, high):,}.{b.rng.choice(['00', '50', '25', '18', '99', '40'])}"


def bill_statement(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "hospital", "lab"), cb.make_clinician(r)
    service = cb.future_date(r)
    b.health_context = True  # a bill for care
    style = r.randrange(3)
    if style == 0:
        b.t(f"{org.name.upper()}\nPATIENT STATEMENT\n\nStatement date: ").date(cb.future_date(r), 1)
        b.t("\nGuarantor: ").s("NAME", p.full).t("\nAccount number: ").s("ACCOUNT_NUMBER", cb.account_number(r))
        b.t("\nMailing address: ").address(cb.street_line(r), *r.choice(pools.CITIES), zip4=cb.digits(r, 4))
        b.t("\n\nDate of service   Description                        Charges    Ins. paid   You owe\n")
        b.date(service, 1).t(f"        Office visit, est. patient (9921{r.randrange(2, 6)})   {money(b, 150, 300)}")
        b.t(f"    {money(b, 80, 150)}     {money(b, 20, 80)}\n").date(service, 1).t("        ").procedure()
        b.t(f"   {money(b, 300, 2500)}    {money(b, 200, 1500)}    {money(b, 40, 400)}\n\n")
        b.t(f"AMOUNT DUE: {money(b, 60, 500)}    Due by: ").date(cb.future_date(r), r.choice([0, 1]))
        b.t("\n\nPay online: ").s("URL", f"https://pay.{org.domain}/s/{cb.token(r, 8)}").t(" or call ").phone(
            org.phone, org=True
        )
        b.t(".\nPay by mail: make checks payable to ").t(org.name).t(", ").s(
            "ADDRESS", f"PO Box {r.randrange(1000, 99999)}", org=True
        )
        b.t(f", {org.city}, {org.state} ").s("ZIP", org.zip, org=True)
        b.t(".\n\nQuestions about your insurance? Your claim number is ").s("ACCOUNT_NUMBER", cb.claim_number(r)).t(".")
        b.footer(org, full=False)
    elif style == 1:
        b.greet(p).t("Your bill for your visit with ").clinician(doc).t(" on ").date(service)
        b.t(f" is ready. After insurance, you owe {money(b, 15, 400)}.\n\nView and pay your bill: ")
        b.s("URL", f"https://{org.domain}/billing?acct={cb.digits(r, 8)}").t("\nAccount #: ").s(
            "ACCOUNT_NUMBER", cb.account_number(r)
        )
        b.t("\n\nNeed more time? Payment plans start at $25 a month with 0% interest. ")
        b.t("Financial assistance is available for households earning up to 300% of the federal poverty level.")
        b.sign(org).footer(org)
    else:
        b.t("FINAL NOTICE\n\n").greet(p).t(
            f"Your account with {org.name} has a past-due balance of {money(b, 200, 4000)}"
        )
        b.t(" for services on ").date(service).t(r.choice([", including your ", ", for your "])).procedure()
        b.t(".\n\nAccount: ").s("ACCOUNT_NUMBER", cb.account_number(r)).t("\nPatient: ").s(
            "NAME", cb.make_person(r).full
        )
        b.t(" (dependent)\n\nTo avoid referral to a collection agency after ").date(cb.future_date(r))
        b.t(", please pay in full or call ").phone(org.phone, org=True).t(" to set up a payment plan. If you have")
        b.t(" already paid, thank you and please disregard this notice.").footer(org, full=True)


def payment_receipt(b: Builder) -> None:
    r = b.rng
    p, org = cb.make_person(r), cb.pick_org(r, "clinic", "hospital", "lab", "pharmacy")
    b.health_context = True  # a payment for care
    b.t(r.choice(["Payment received\n\n", "Receipt for your payment\n\n", "Subject: Thank you for your payment\n\n"]))
    b.greet(p).t(f"Thank you. We received your payment of {money(b, 10, 900)} on ").date(cb.future_date(r))
    b.t(f" for {r.choice(['your visit on ', 'services on ', 'your care on '])}").date(cb.future_date(r)).t(".\n\n")
    b.t(f"Confirmation number: {cb.letters(r, 2)}{cb.digits(r, 6)}\nPayment method: ")
    b.t(r.choice(["credit card", "HSA card", "bank transfer", "Apple Pay"])).t("\nAccount: ")
    b.s("ACCOUNT_NUMBER", cb.account_number(r)).t(f"\nRemaining balance: {r.choice(['$0.00', money(b, 5, 200)])}")
    if r.random() < 0.4:
        b.t("\n\nThis payment was applied to charges for your ").procedure().t(".")
    b.t("\n\nA copy of this receipt was sent to ").s("EMAIL", cb.person_email(r, p)).t(".").footer(org)


def plan_renewal(b: Builder) -> None:
    """Mostly ``pii`` (membership and premiums are not care); some mention a covered drug or procedure."""
    r = b.rng
    p, org = cb.make_person(r), cb.pick_org(r, "plan")
    renew = cb.dt.date(cb.YEAR + 1, 1, 1)
    b.t(f"Subject: Your {cb.YEAR + 1} coverage\n\n").greet(p)
    b.t(f"Your {org.name} coverage renews automatically on ").date(renew, r.choice([0, 1, 3, 10])).t(".\n\n")
    b.t("Member ID: ").s("HEALTH_PLAN_ID", r.choice([cb.member_id(r), cb.mbi(r)]))
    b.t("\nGroup number: ").s("HEALTH_PLAN_ID", cb.group_number(r))
    b.t(f"\nPlan: {r.choice(['Silver PPO 2500', 'Gold HMO', 'Bronze HSA 7000', 'Medicare Advantage Plus'])}")
    b.t(f"\nMonthly premium: {money(b, 90, 700)} ({r.choice(['up', 'down'])} {r.randrange(1, 9)}.{r.randrange(10)}%)")
    if r.random() < 0.5:
        b.t("\nMailing address on file: ").address(cb.street_line(r), *r.choice(pools.CITIES))
    if r.random() < 0.4:
        b.t("\nPhone on file: ").phone(cb.phone_parts(r))
    if r.random() < 0.3:
        b.t("\nSubscriber SSN (for your Form 1095-B): ").s("SSN", cb.ssn(r))
    b.t("\n\nYour deductible resets to $2,500 and your out-of-pocket maximum is $7,000. ")
    style = r.randrange(4)
    if style == 0:
        b.t("Your prior authorization for ").medication().t(" carries over into the new plan year; reference ")
        b.s("OTHER_ID", cb.case_number(r)).t(".")
    elif style == 1:
        b.t("Good news: your ").procedure().t(" scheduled after ").date(renew, 0).t(
            " will be covered at the in-network rate."
        )
    else:
        b.t("Preventive care such as annual checkups and flu shots remains covered at 100%.")
    b.t("\n\nYour new ID card will arrive by mail. To compare plans before ").date(
        cb.dt.date(cb.YEAR, 12, 15), org=True
    )
    b.t(", visit ").org_url(org, "/compare").t(" or call Member Services at ").phone(org.phone, org=True).t(
        " (TTY 711)."
    )
    b.sign(org).footer(org)


def explanation_of_benefits(b: Builder) -> None:
    r = b.rng
    p, org, doc, provider = (
        cb.make_person(r),
        cb.pick_org(r, "plan"),
        cb.make_clinician(r),
        cb.pick_org(r, "clinic", "hospital"),
    )
    b.t("EXPLANATION OF BENEFITS — THIS IS NOT A BILL\n\nMember: ").s("NAME", p.full).t("\nMember ID: ")
    b.s("HEALTH_PLAN_ID", cb.member_id(r)).t("\nClaim number: ").s("ACCOUNT_NUMBER", cb.claim_number(r))
    b.t("\nPatient: ").s("NAME", r.choice([p.full, f"{r.choice(pools.GIVEN_NAMES)[0]} {p.family}"]))
    b.t("\nProvider: ").clinician(doc).t(f", {provider.name}\nDate of service: ").date(
        cb.future_date(r), r.choice([1, 0, 3])
    )
    b.t("\n\nService: ").procedure().t(f"\nAmount billed: {money(b, 200, 9000)}\nPlan discount: {money(b, 50, 2000)}")
    b.t(f"\nPlan paid: {money(b, 100, 5000)}\nYou may owe: {money(b, 0, 900)}")
    if r.random() < 0.5:
        b.t("\nDiagnosis: ").condition(code=True)
    b.t("\n\nIf you disagree with this decision, you may appeal within 180 days. Call ").phone(org.phone, org=True)
    b.t(" or write to Appeals, ").s("ADDRESS", f"PO Box {r.randrange(1000, 99999)}", org=True)
    b.t(f", {org.city}, {org.state} ").s("ZIP", org.zip, org=True).t(".").footer(org, extras=r.choice([0, 1]))


INJURIES = [("concussion", "S06.0X0A"), ("whiplash", "S13.4XXA"), ("fracture of the left wrist", "S62.102A"),
            ("torn meniscus", "S83.209A"), ("lumbar strain", "S39.012A"), ("rotator cuff tear", "S46.011A"),
            ("broken collarbone", "S42.001A"), ("laceration of the scalp", "S01.01XA")]  # fmt: skip
INJURY_PROCEDURES = ["MRI of the brain with contrast", "CT scan of the cervical spine", "physical therapy evaluation",
                     "arthroscopy of the right knee", "X-ray of the left wrist", "wound closure with sutures",
                     "chest X-ray", "cast application"]  # fmt: skip


def accident_claim(b: Builder) -> None:
    """Auto and workers' compensation claims: vehicles, case numbers and an injury."""
    r = b.rng
    p, org, adjuster = cb.make_person(r), cb.pick_org(r, "plan", "hospital"), cb.make_person(r)
    b.health_context = True
    b.t(f"Re: {r.choice(['Auto injury claim', 'Workers compensation claim', 'Motor vehicle accident'])} ")
    b.s("OTHER_ID", cb.case_number(r)).t("\n\n").greet(p)
    b.t("We are processing the medical claim for the accident on ").date(cb.future_date(r)).t(". Our records list:\n\n")
    b.t("  Claimant: ").s("NAME", p.full).t("\n  Date of birth: ").date(cb.birth_date(r), r.choice([1, 0]))
    b.t("\n  Vehicle: ").t(r.choice(["2021 Honda Civic", "2019 Ford F-150", "2023 Toyota RAV4", "2016 Subaru Outback"]))
    b.t(", VIN ").s("VEHICLE_ID", cb.vin(r)).t(", plate ").s("VEHICLE_ID", cb.plate(r))
    b.t("\n  Driver's license: ").s("LICENSE_NUMBER", cb.drivers_license(r))
    if r.random() < 0.6:
        b.t("\n  SSN: ").s("SSN", cb.ssn(r))
    injury, icd = r.choice(INJURIES)
    b.t("\n  Injuries reported: ").s("CONDITION", injury)
    if r.random() < 0.5:
        b.t(" (").s("CONDITION", icd).t(")")
    b.t("\n  Treatment: ").procedure(r.choice(INJURY_PROCEDURES))
    b.t(" at ").t(cb.pick_org(r, "hospital", "clinic").name)
    b.t("\n\nPlease send any remaining bills to me by email at ").s("EMAIL", cb.person_email(r, adjuster))
    b.t(" or by fax to ").phone(org.fax, org=True, fax=True).t(".\n\nRegards,\n").s("NAME", adjuster.full)
    b.t(f", Claims Adjuster\n{org.name}").footer(org, full=False, extras=r.choice([0, 1]))


def shop_order(b: Builder) -> None:
    """Hard negatives: a hospital gift-shop or wellness-store order. Order numbers, prices and codes are unlabelled."""
    r = b.rng
    org = cb.pick_org(r, "hospital", "pharmacy", "clinic", general=True)
    items = r.sample(pools.PRODUCTS, r.randrange(1, 4))
    named = r.random() < 0.6
    b.t(f"Order confirmation — {org.name} Wellness Shop\n\n")
    if named:
        b.greet(cb.make_person(r))
    else:
        b.t("Thanks for your order!\n\n")
    b.t(f"Order #{r.choice(['A-', 'WS', '', 'GS-'])}{cb.digits(r, r.choice([5, 6, 8]))}\n")
    b.t(f"Placed: {cb.time_of_day(r)}, guest checkout\n\n")
    for product, price in items:
        b.t(f"  1 × {product}    {price}\n")
    code = r.choice(pools.COUPON_CODES)
    b.t(f"\nPromo code {code} applied: -{r.choice(['10%', '15%', '$5.00', '20%'])}\nShipping: $0.00 (orders over $35)")
    b.t(f"\nTax: ${r.randrange(0, 6)}.{cb.digits(r, 2)}\n\nYour items ship within 2–3 business days. ")
    b.t("Returns are accepted within 30 days with the receipt. Track your order at ").org_url(org, "/shop/orders")
    b.t(".\n\nThis shop sells general wellness products only and does not fill prescriptions.")
    b.footer(org, full=False)


KINDS = [
    ("bill_statement", bill_statement, 40),
    ("payment_receipt", payment_receipt, 30),
    ("plan_renewal", plan_renewal, 35),
    ("explanation_of_benefits", explanation_of_benefits, 25),
    ("accident_claim", accident_claim, 22),
    ("shop_order", shop_order, 25),
]

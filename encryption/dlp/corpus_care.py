"""Corpus message kinds about care: appointments and results (rules: ``encryption.dlp.corpus``)."""

from __future__ import annotations

from encryption.dlp import corpus_base as cb
from encryption.dlp import corpus_pools as pools
from encryption.dlp.corpus_base import Builder


def appointment_reminder(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "hospital"), cb.make_clinician(r)
    when, time = cb.future_date(r), cb.time_of_day(r)
    b.health_context = True
    style = r.randrange(5)
    if style == 0:
        b.t(r.choice(["Subject: Appointment reminder\n\n", "Subject: See you soon\n\n", ""])).greet(p)
        b.t("This is a friendly reminder of your appointment with ").clinician(doc).t(" on ").date(when)
        b.t(f" at {time} at {org.name}.")
        if r.random() < 0.4:
            b.t(" The visit is for your ").procedure().t(".")
        b.t(
            " Please arrive 15 minutes early and bring your insurance card, a photo ID and a list of your current"
            " medications.\n\nIf you need to cancel or reschedule, call us at "
        ).phone(org.phone, org=True)
        b.t(" at least 24 hours ahead. Late cancellations may be charged a $25 fee.")
        b.sign(org).footer(org)
    elif style == 1:
        b.t(f"{org.name}: ").s("NAME", p.given).t(", reminder of your appt on ").date(when, r.choice([1, 2, 4, 13]))
        b.t(f" at {time} with ").clinician(doc, r.choice([2, 3])).t(". Reply C to confirm or R to reschedule, or call ")
        b.phone(org.phone, org=True).t(". Reply STOP to opt out.")
    elif style == 2:
        b.t("APPOINTMENT DETAILS\n\nPatient: ").s(
            "NAME", f"{p.family.upper()}, {p.given.upper()}" if r.random() < 0.4 else p.full
        )
        b.t("\nDate of birth: ").date(cb.birth_date(r), r.choice([0, 1, 3, 11]))
        b.t(f"\n{r.choice(['MRN', 'Medical record #', 'Patient ID'])}: ").s("MRN", cb.mrn(r))
        b.t("\nDate: ").date(when).t(f"\nTime: {time}\nProvider: ").clinician(doc)
        b.t(f" ({r.choice(pools.SPECIALTIES)})\nLocation: ").org_address(org)
        b.t("\nReason for visit: ").t(
            r.choice(["follow-up for ", "evaluation of ", "medication review for "])
        ).condition()
        b.t("\n\nPlease complete your pre-visit questionnaire at ")
        b.s("URL", f"https://portal.{org.domain}/checkin/{cb.token(r)}")
        b.t(" before you arrive. Check-in opens 30 minutes before your appointment time.").footer(org, full=False)
    elif style == 3:
        b.t(f"Estimado/a {cb.honorific(r, p).replace('Ms.', 'Sra.').replace('Mrs.', 'Sra.').replace('Mr.', 'Sr.')} ")
        b.s("NAME", p.family).t(":\n\nLe recordamos su cita con ").clinician(doc, 3).t(" el ")
        b.s("DATE", cb.spanish_date(when)).t(f" a las {time} en {org.name}, ").org_address(org)
        b.t(".\n\nSi necesita cambiar su cita, llame al ").phone(org.phone, org=True)
        b.t(".\n\n(English) Reminder: your appointment is on ").date(when, 0).t(f" at {time}.").footer(org, full=False)
    else:
        name = r.choice(["colonoscopy", "upper endoscopy", *pools.PROCEDURES])
        b.t("Hi ").s("NAME", p.given).t("! 👋\n\nJust a heads-up: you're booked for your ").procedure(name)
        b.t(" on ").date(when, r.choice([5, 8, 9])).t(f" at {time}.")
        if name in ("colonoscopy", "upper endoscopy"):
            b.t(
                "\n\nPrep tips: stop eating solid food the day before and follow the prep instructions your care team"
                " sent. You will be sedated, so plan for someone to drive you home."
            )
        else:
            b.t(
                r.choice(
                    [
                        "\n\nPlease wear comfortable clothing and leave jewelry at home.",
                        "\n\nNo special preparation is needed. Parking is free in Lot B for the first 2 hours.",
                    ]
                )
            )
        b.extras(org)
        b.t("\n\nQuestions? Text or call ").phone(org.phone, org=True).t(" or email ")
        b.s("EMAIL", f"scheduling@{org.domain}", org=True).t(".\n\nSee you soon,\n").t(org.name)


def appointment_confirmation(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "hospital"), cb.make_clinician(r)
    when, time = cb.future_date(r), cb.time_of_day(r)
    b.health_context = True
    if r.random() < 0.5:
        b.t("Subject: Your appointment is confirmed\n\n").greet(p)
        b.t("Thank you for scheduling with us. Your appointment is confirmed:\n\n  When: ").date(
            when, r.choice([0, 5, 10])
        )
        b.t(f", {time}\n  With: ").clinician(doc).t(f"\n  Where: {org.name}, ").org_address(org)
        b.t("\n\nAdd it to your calendar: ").org_url(org, "/calendar")
        b.t("\n\nBefore your visit, please review your medications and allergies in the patient portal. ")
        b.t("Patients with diabetes or high blood pressure should bring their home glucose or blood pressure log.")
        b.sign(org).footer(org)
    else:
        b.t("Booking confirmed ✔\n\n").s("NAME", p.full).t(", you're all set for a ").procedure()
        b.t(" at ").t(org.name).t(" on ").date(when).t(f", {time}.\n\nConfirmation sent to ")
        b.s("EMAIL", cb.person_email(r, p)).t(". Your intake forms: ")
        b.s("URL", f"https://{org.domain}/forms?p={cb.token(r, 12)}")
        b.t("\n\nNeed to change something? Call ").phone(org.phone, org=True).t(" (").hours().t(").")
        if r.random() < 0.5:
            b.t("\n\nEstimated cost after insurance: $").t(f"{r.randrange(20, 400)}.{r.choice(['00', '50', '25'])}")
            b.t(". Pay online and save 5%.")
        b.footer(org, full=False)


def appointment_cancellation(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "hospital"), cb.make_clinician(r)
    when = cb.future_date(r)
    b.health_context = True
    style = r.randrange(3)
    if style == 0:
        b.greet(p).t("We are sorry to let you know that ").clinician(doc, r.choice([0, 1, 2])).t(" is unavailable on ")
        b.date(when).t(
            " and your appointment that day has been cancelled. We would like to rebook you as soon as"
            " possible; the next openings are "
        ).date(cb.future_date(r), r.choice([4, 8, 12])).t(" and ")
        b.date(cb.future_date(r), r.choice([4, 8, 12])).t(".\n\nPlease call ").phone(org.phone, org=True)
        b.t(" or reply to this email. If you are running low on your ").medication()
        b.t(", ask us for a bridge refill.").sign(org).footer(org)
    elif style == 1:
        b.t("Cancellation confirmed\n\nPatient: ").s("NAME", p.full).t("\nAppointment: ").procedure().t(", ").date(when)
        b.t(f" at {cb.time_of_day(r)}\nCancelled on: ").date(cb.future_date(r), 1)
        b.t("\n\nNo fee applies because you cancelled more than 24 hours ahead. To book again visit ")
        b.org_url(org, "/book").t(".").footer(org, full=False)
    else:
        b.greet(p).t("We missed you at your appointment on ").date(when).t(". Missed visits make it harder to manage ")
        b.condition(code=False).t(", so please call ").phone(org.phone, org=True)
        b.t(" to reschedule. As noted in our policy, a $50 no-show fee has been added to account ")
        b.s("ACCOUNT_NUMBER", cb.account_number(r)).t(".").sign(org, doc).footer(org)


def lab_results_ready(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "hospital", "lab"), cb.make_clinician(r)
    b.health_context = True
    style = r.randrange(3)
    if style == 0:
        b.greet(p).t("New test results from your visit on ").date(cb.future_date(r))
        b.t(" are now available in your patient portal.")
        if r.random() < 0.5:
            b.t(" Your ").procedure().t(" report has been reviewed by ").clinician(doc).t(".")
        b.t(" Sign in at ").s("URL", f"https://portal.{org.domain}/results/{cb.token(r)}")
        b.t(" to view them.\n\nIf you have questions, send a message through the portal or call ")
        b.phone(org.phone, org=True).t(".").sign(org).footer(org)
    elif style == 1:
        b.t(f"{org.name} — results notice\n\nFor: ").s("NAME", p.full).t(" (DOB ").date(
            cb.birth_date(r), r.choice([1, 3])
        )
        b.t(")\nOrdered by: ").clinician(doc).t("\nCollected: ").date(cb.future_date(r), r.choice([1, 2, 11]))
        b.t("\n\nYour results are final. Log in with your email address (").s("EMAIL", cb.person_email(r, p))
        b.t(") to read them and any comments from your clinician.").footer(org)
    else:
        b.s("NAME", p.given).t(", your ").procedure("lab work").t(" is back. ").clinician(doc, 2).t(
            ' left you a note:\n\n"'
        )
        b.t(r.choice(["Good news — ", "Quick update: ", ""])).t("your ").lab().t(r.choice([
            ". That is a little higher than last time, so let's recheck in three months.\"",
            ". Everything else looks normal.\"",
            ". Let's talk about this at your next visit.\"",
        ]))  # fmt: skip
        b.t("\n\nReply in the portal or call ").phone(org.phone, org=True).t(".").footer(org, full=False)


def lab_result_detail(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "lab", "hospital"), cb.make_clinician(r)
    if r.random() < 0.5:
        b.t("LABORATORY REPORT\n\nPatient: ").s("NAME", f"{p.family}, {p.given}")
        b.t("   DOB: ").date(cb.birth_date(r), 1).t(f"\n{r.choice(['MRN', 'Acct/MRN', 'Chart #'])}: ").s(
            "MRN", cb.mrn(r)
        )
        collected = cb.future_date(r)
        b.t("\nCollected: ").date(collected, 1).t(f" {cb.time_of_day(r)}    Reported: ")
        b.date(collected + cb.dt.timedelta(days=r.randrange(1, 4)), 1)
        b.t("\nOrdering provider: ").clinician(doc).t(" (NPI ").s("LICENSE_NUMBER", cb.npi(r)).t(")\n\nResults:\n")
        for _ in range(r.randrange(2, 5)):
            b.t("  - ").lab().t(
                r.choice(["  (H)", "  (L)", "", "  normal", "  — within reference range", "  (flag: high)"]) + "\n"
            )
        b.t("\nInterpretation: findings consistent with ").condition().t(". ")
        b.t("Recommend starting ").medication().t(" and repeat testing in 12 weeks.")
        b.t("\n\nPerforming lab: ").t(org.name).t(", ").org_address(org).t(". CLIA-certified.")
    else:
        b.greet(p).t("I have reviewed the results of your ").procedure("blood tests").t(" from ").date(
            cb.future_date(r)
        )
        b.t(".\n\n")
        b.t("Your ").lab().t(" and your ").lab().t(". ")
        b.t(r.choice(["This confirms ", "This is consistent with ", "These numbers suggest "])).condition(code=False)
        b.t(". I would like you to ").t(r.choice(["continue ", "start ", "increase "])).medication()
        b.t(r.choice([" once a day", " twice daily with meals", " at bedtime"]))
        b.t(" and come back for a ").procedure().t(" in about three months.\n\n")
        b.t("Please call my nurse, ").s("NAME", cb.make_person(r).full).t(", at ").phone(org.phone, org=True)
        b.t(" ext. 2" + cb.digits(r, 2) + " with any questions.").sign(org, doc).footer(org)


def post_visit_summary(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "hospital"), cb.make_clinician(r)
    visit = cb.future_date(r)
    if r.random() < 0.55:
        b.t("AFTER VISIT SUMMARY\n\n").s("NAME", p.full).t(" | DOB: ").date(cb.birth_date(r), r.choice([1, 3, 0]))
        b.t(" | MRN: ").s("MRN", cb.mrn(r)).t("\nVisit date: ").date(visit, r.choice([0, 1, 10])).t(" with ").clinician(
            doc
        )
        b.t(f" at {org.name}\n\nToday's diagnoses:\n")
        for _ in range(r.randrange(1, 4)):
            b.t("  • ").condition().t("\n")
        if r.random() < 0.6:
            b.t("\nProcedures performed today:\n  • ").procedure().t("\n")
        b.t("\nYour medication list:\n")
        for action in r.sample(["START", "CONTINUE", "CONTINUE", "STOP", "CHANGE"], r.randrange(2, 5)):
            b.t(f"  {action}: ").medication().t(
                r.choice([" — 1 tablet by mouth daily", " — twice a day", "", " as needed"])
            )
            b.t("\n")
        if r.random() < 0.6:
            b.t("\nResults from today:\n  • ").lab().t("\n")
        b.t("\nNext steps: follow up in 3 months. Your next appointment is ").date(cb.future_date(r))
        b.t(f" at {cb.time_of_day(r)}.\n\nNurse advice line: ").phone(org.phone, org=True)
        b.t(" (24/7). For emergencies call 911.").footer(org, full=True)
    else:
        b.greet(p).t("Thank you for coming in on ").date(visit).t(". Here is a summary of what we discussed.\n\n")
        b.t("We talked about your ").condition(code=False).t(r.choice([
            " and how it has been affecting your sleep.", ", which is well controlled.", " and your recent symptoms.",
        ]))  # fmt: skip
        b.t(" We agreed that you will ").t(r.choice(["start ", "keep taking ", "slowly taper off "])).medication()
        b.t(r.choice([" every morning", " with food", ""])).t(". ")
        if r.random() < 0.7:
            b.t("I have ordered a ").procedure().t(", which our scheduling team will call you to book.")
        b.t("\n\nYour ").lab().t(" today. ").t(r.choice([
            "We will recheck it at your next visit.", "That is an improvement since your last visit.", "",
        ]))  # fmt: skip
        b.t("\n\nIf anything gets worse before then, message me through the portal at ").org_url(org, "/portal")
        b.t(" or call ").phone(org.phone, org=True).t(".").sign(org, doc).footer(org)


def referral(b: Builder) -> None:
    r = b.rng
    p, org, doc, specialist = cb.make_person(r), cb.pick_org(r, "clinic"), cb.make_clinician(r), cb.make_clinician(r)
    target = cb.pick_org(r, "clinic", "hospital")
    b.health_context = True
    if r.random() < 0.5:
        b.greet(p).clinician(doc, r.choice([0, 1, 2])).t(" has referred you to ").clinician(specialist)
        b.t(f" at {target.name} for ").t(
            r.choice(["evaluation of your ", "management of your ", "a second opinion on your "])
        )
        b.condition().t(".\n\nReferral number: ").s("OTHER_ID", cb.case_number(r)).t("\nValid through: ").date(
            cb.future_date(r)
        )
        b.t("\n\nYour plan requires prior authorization. Please have your member ID (")
        b.s("HEALTH_PLAN_ID", cb.member_id(r)).t(") ready when you call ").phone(target.phone, org=True)
        b.t(" to schedule. ").t(target.name).t(" is located at ").org_address(target).t(".").sign(org).footer(org)
    else:
        b.t("REFERRAL — sent by secure email\n\nTo: ").clinician(specialist, r.choice([0, 2])).t(
            f", {target.name}\nFax: "
        )
        b.phone(target.fax, org=True, fax=True).t("\nFrom: ").clinician(doc).t(" (NPI ").s("LICENSE_NUMBER", cb.npi(r))
        b.t(f"), {org.name}\nPhone: ").phone(org.phone, org=True).t("\n\nRe: ").s("NAME", p.full).t(", DOB ")
        b.date(cb.birth_date(r), r.choice([1, 3])).t(", MRN ").s("MRN", cb.mrn(r)).t("\nPatient phone: ").phone(
            cb.phone_parts(r)
        )
        b.t("\nInsurance: Blue Heron Health Plan, member ").s("HEALTH_PLAN_ID", cb.member_id(r)).t(", group ")
        b.s("HEALTH_PLAN_ID", cb.group_number(r)).t("\n\nReason for referral: ").condition(code=True)
        b.t(" not responding to ").medication().t(". Please evaluate for ").procedure()
        b.t(".\n\nRelevant results: ").lab().t("; ").lab().t(".\n\nThank you for seeing this patient.\n\n")
        b.clinician(doc, 2).t(f"\n{org.name}").footer(org, full=False, extras=0)


def telehealth_link(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "telehealth", "clinic"), cb.make_clinician(r)
    b.health_context = True
    b.greet(p).t("Your video visit with ").clinician(doc).t(" is on ").date(cb.future_date(r)).t(
        f" at {cb.time_of_day(r)}"
    )
    b.t(r.choice([" (Eastern Time).", " your local time.", "."]))
    b.t("\n\nJoin from this link about 10 minutes early:\n").s("URL", f"https://visit.{org.domain}/j/{cb.token(r, 12)}")
    b.t("\n\nThis link is unique to you; please do not share it. ")
    if r.random() < 0.6:
        b.t("If the video drops, we will call you at ").phone(cb.phone_parts(r)).t(". ")
    if r.random() < 0.5:
        b.t("The visit is a follow-up for your ").condition(code=False).t(". ")
    b.t("Works best with Chrome 120 or Safari 17; test your camera and microphone at ").org_url(org, "/test").t(".")
    b.t("\n\nA telehealth visit costs $89 if you are paying yourself.").sign(org).footer(org)


def care_gap_outreach(b: Builder) -> None:
    r = b.rng
    p, org, doc = cb.make_person(r), cb.pick_org(r, "clinic", "plan"), cb.make_clinician(r)
    style = r.randrange(3)
    b.greet(p)
    if style == 0:
        b.t("Our records show that you are due for your ").procedure().t(". Your last one was on ").date(
            cb.birth_date(r).replace(year=cb.YEAR - r.randrange(1, 6))
        )
        b.t(". Regular screening helps find problems early, when they are easiest to treat.")
    elif style == 1:
        b.t("Because you are living with ").condition(code=False).t(", it is time for your ").procedure()
        b.t(". Your most recent ").lab().t(", measured on ").date(cb.future_date(r)).t(".")
    else:
        b.t("We noticed you have not picked up your ").medication().t(" since ").date(cb.future_date(r))
        b.t(". Taking it every day is important for managing your ").condition(code=False).t(".")
    b.t("\n\nTo book, call ").phone(org.phone, org=True).t(" or schedule online at ").org_url(org, "/schedule")
    b.t(". Most plans cover preventive care at no cost to you.").sign(org, doc).footer(org)


def secure_message_notice(b: Builder) -> None:
    """Privacy-minimal notifications: about someone's care, but nothing in them identifies anyone."""
    r = b.rng
    org = cb.pick_org(r, general=True)
    subject, body = r.choice([
        ("New secure message", "You have a new secure message from your care team. For your privacy, we do not include"
         " details in email."),
        ("Test results available", "Your test results are ready. For your privacy, please sign in to view them."),
        ("New document", "A new document has been added to your health record."),
        ("Upcoming appointment", "You have an upcoming appointment. Sign in to see the date, time and location."),
        ("Statement ready", "Your latest statement is ready. You can view and pay it online."),
        ("Prescription update", "There is an update on a prescription request. Sign in to see the details."),
    ])  # fmt: skip
    b.health_context = subject != "New document"
    b.t(f"Subject: {subject}\n\n").t(r.choice(["Hello,\n\n", "Dear patient,\n\n", "", "Hi there,\n\n"])).t(body)
    b.t(" Sign in at ").org_url(org, r.choice(["", "/portal", "/mychart", "/login"]))
    b.t(r.choice([" or open the app.", ".", " from any device."]))
    if r.random() < 0.5:
        b.t(" Forgot your password? Use the “Forgot password” link on the sign-in page.")
    b.footer(org, extras=r.choice([0, 0, 1, 2]))


KINDS = [
    ("appointment_reminder", appointment_reminder, 50),
    ("appointment_confirmation", appointment_confirmation, 30),
    ("appointment_cancellation", appointment_cancellation, 30),
    ("lab_results_ready", lab_results_ready, 30),
    ("lab_result_detail", lab_result_detail, 30),
    ("post_visit_summary", post_visit_summary, 35),
    ("referral", referral, 30),
    ("telehealth_link", telehealth_link, 30),
    ("care_gap_outreach", care_gap_outreach, 30),
    ("secure_message_notice", secure_message_notice, 30),
]

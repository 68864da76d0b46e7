"""Corpus message kinds sent to many: newsletters, marketing, surveys, closures, events, portal invitations.

Most are ``none`` or ``pii``; a few personal variants are ``phi`` (rules: ``encryption.dlp.corpus``).
"""

from __future__ import annotations

from encryption.dlp import corpus_base as cb
from encryption.dlp import corpus_pools as pools
from encryption.dlp.corpus_base import Builder

RECIPES = [
    "Recipe of the month: lentil and spinach soup. 1 cup dried lentils, 4 cups low-sodium broth, 2 cups spinach."
    " Serves 4"
    " at about 320 calories and 18 g of protein per serving.",
    "Try this: overnight oats with 1/2 cup oats, 1/2 cup milk and a handful of berries. Ready in 5 minutes.",
    "Swap sugary drinks for water with lemon: cutting one 20-ounce soda a day saves about 240 calories.",
]
STATS = [
    "Last year our team gave more than 12500 flu shots and welcomed 48213 patient visits.",
    "Our patients rated us 4.9/5 in 2026, and 97% would recommend us to a friend.",
    "We added 14 exam rooms and cut average wait times by 35%.",
]


def newsletter(b: Builder) -> None:
    r = b.rng
    org = cb.pick_org(r, "clinic", "hospital", "plan", general=True)
    season = r.choice(["Spring", "Summer", "Fall", "Winter"])
    b.t(f"{org.name} Health News — {season} {cb.YEAR}\n\n")
    if r.random() < 0.35:
        b.greet(cb.make_person(r)).t("Here is your seasonal update from all of us.\n\n")
    else:
        b.t(r.choice(["Dear friends,\n\n", "Hello neighbors!\n\n", "", "Dear members,\n\n"]))
    for paragraph in r.sample(pools.EDUCATION, r.randrange(2, 4)):
        b.t(paragraph).t("\n\n")
    b.t(r.choice(RECIPES)).t("\n\n").t(r.choice(STATS)).t("\n\n")
    if r.random() < 0.3:
        doc = cb.make_clinician(r)
        b.t("Welcome to our team: ").clinician(doc, r.choice([0, 2])).t(
            f" joins our {r.choice(pools.SPECIALTIES)} practice"
        )
        b.t(" and is accepting new patients.\n\n")
    b.t("Save the date: our free community health fair is on ").date(cb.future_date(r), r.choice([0, 5, 10]), org=True)
    b.t(", 10 AM – 2 PM, with blood pressure checks and flu shots for everyone 6 months and older.\n\n")
    b.t("Read past issues at ").org_url(org, "/news").t(". To unsubscribe, visit ").org_url(org, "/unsubscribe").t(".")
    b.footer(org, full=True, extras=r.choice([0, 1]))


def wellness_marketing(b: Builder) -> None:
    r = b.rng
    org = cb.pick_org(r, "clinic", "hospital", "pharmacy", general=True)
    code = r.choice(pools.COUPON_CODES)
    offer = r.choice([
        ("massage therapy", "20% off your first session"), ("our 12-week weight-management program", "$199 a month"),
        ("yoga for back health", "$15 per class or 10 classes for $120"),
        ("the smoking-cessation class", "free for members"),
        ("a pharmacist-led blood pressure check", "$0 with most plans"), ("nutrition coaching", "3 sessions for $99"),
    ])  # fmt: skip
    b.t(r.choice(["✨ Spring into wellness ✨\n\n", "Subject: An offer just for you\n\n", "NEW THIS MONTH\n\n"]))
    if r.random() < 0.45:
        b.greet(cb.make_person(r))
    b.t(f"Treat yourself to {offer[0]} — {offer[1]}. Use code {code} at checkout. Offer ends ")
    b.date(cb.future_date(r), r.choice([0, 9, 12]), org=True).t(".\n\n")
    b.t(r.choice(pools.EDUCATION)).t("\n\n")
    for product, price in r.sample(pools.PRODUCTS, 2):
        b.t(f"Also on sale: {product}, now {price}.\n")
    b.t("\nBook online at ").org_url(org, "/wellness").t(" or call ").phone(org.phone, org=True)
    b.t(". Classes meet Tuesdays and Thursdays 6:00–7:00 PM.\n\nYou are receiving this because you subscribed to")
    b.t(" wellness offers. Unsubscribe: ").org_url(org, "/unsubscribe").footer(org, extras=r.choice([0, 1]))


def survey(b: Builder) -> None:
    r = b.rng
    org, doc = cb.pick_org(r, "clinic", "hospital", "telehealth", general=True), cb.make_clinician(r)
    style = r.randrange(3)
    if style == 0:
        b.health_context = True
        b.greet(cb.make_person(r)).t("How was your visit with ").clinician(doc).t(" on ").date(cb.future_date(r))
        b.t("? Your feedback helps us improve care. The survey takes about 2 minutes:\n\n")
        b.s("URL", f"https://survey.{org.domain}/s/{cb.token(r, 10)}")
        b.t("\n\nYour answers are confidential and will not be added to your medical record.")
    elif style == 1:
        b.greet(cb.make_person(r)).t(
            "We are redesigning our website and would love your opinion. Complete a 5-question"
        )
        b.t(" survey by ").date(cb.future_date(r), org=True).t(" and we'll send you a $10 gift card. Start here: ")
        b.org_url(org, "/feedback").t("\n\nThe survey is about the website only, not about your care.")
    else:
        b.t(f"Community Health Needs Assessment {cb.YEAR}\n\nEvery three years, {org.name} asks our community what")
        b.t(
            " matters most. Diabetes, mental health and access to care were the top concerns last time."
            " Tell us what you"
        )
        b.t(" think in 10 minutes at ").org_url(org, "/chna").t(". Paper copies are available at every front desk.")
    b.sign(org).footer(org)


def office_closure(b: Builder) -> None:
    r = b.rng
    org = cb.pick_org(r, "clinic", "hospital", "pharmacy", general=True)
    day = cb.future_date(r)
    style = r.choice([0, 0, 1, 1, 2, 3])
    if style == 0:
        holiday = r.choice(["Thanksgiving", "Independence Day", "Memorial Day", "Labor Day", "New Year's Day"])
        b.t(f"Holiday hours\n\nAll {org.name} locations will be closed on ").date(day, r.choice([5, 0, 10]), org=True)
        b.t(f" for {holiday} and will reopen on ").date(day + cb.dt.timedelta(days=1), r.choice([5, 4, 12]), org=True)
        b.t(" at 8:00 AM. For urgent needs, call our after-hours nurse line at ").phone(org.phone, org=True)
        b.t(". In an emergency, call 911.")
    elif style == 1:
        b.t(f"Weather closure\n\nBecause of the winter storm, our {org.city} office is closed today, ")
        b.date(day, r.choice([0, 8, 12]), org=True).t(". Patients with appointments today will be contacted to")
        b.t(" reschedule. Telehealth visits will go ahead as planned. Check ").org_url(org, "/status").t(
            " for updates."
        )
    elif style == 2:
        doc, cover = cb.make_clinician(r), cb.make_clinician(r)
        b.t("Provider update\n\n").clinician(doc, r.choice([0, 2])).t("'s office will be closed from ").date(
            day, org=True
        )
        b.t(" to ").date(day + cb.dt.timedelta(days=r.randrange(3, 21)), org=True).t(". During this time ")
        b.clinician(cover).t(" will see patients at our ").t(org.city).t(" office.")
    else:
        p = cb.make_person(r)
        b.health_context = True
        b.greet(p).t("Because our office is closed on ").date(day, org=True).t(
            ", your appointment that day has been moved to "
        )
        b.date(day + cb.dt.timedelta(days=r.randrange(1, 8))).t(f" at {cb.time_of_day(r)}. Reply YES to confirm.")
    b.t("\n\nWe apologize for any inconvenience.").footer(org, extras=r.choice([0, 1, 2]))


def event_invite(b: Builder) -> None:
    r = b.rng
    org = cb.pick_org(r, "clinic", "hospital", general=True)
    event = r.choice(["Community 5K Fun Run", "Family Health Day", "Volunteer Appreciation Dinner", "Open House",
                      "Healthy Cooking Demo", "Grand Rounds: Advances in Stroke Care"])  # fmt: skip
    style = r.randrange(4)
    if style == 0:
        b.greet(cb.make_person(r)).t(f"You're invited to our {event}!")
    elif style == 1:
        b.t(f"Join us for our {event}. Open to the public, all ages welcome.")
    elif style == 2:
        b.t("Dear ").clinician(cb.make_clinician(r), 1).t(
            f",\n\nAs a member of our medical staff, you are invited to the {event}."
        )
    else:
        p = cb.make_person(r)
        b.health_context = True
        b.greet(p).t("As a member of our ").condition(code=False).t(
            " support program, you are invited to a members-only"
        )
        b.t(" evening with our care team.")
    b.t("\n\nWhen: ").date(cb.future_date(r), r.choice([5, 10, 8]), org=True).t(", 6:30–8:30 PM\nWhere: ")
    b.t(f"{org.name}, ").org_address(org).t("\n\nRSVP by ").date(cb.future_date(r), r.choice([0, 4, 13]), org=True)
    b.t(" at ").org_url(org, "/events").t(" or email ").s("EMAIL", f"events@{org.domain}", org=True)
    b.t(". Parking is free; light refreshments will be served. Tickets for guests are $10.")
    b.footer(org, extras=r.choice([0, 1, 2]))


def portal_invitation(b: Builder) -> None:
    """A name, an email and a record number, but no health information: ``pii``."""
    r = b.rng
    p, org = cb.make_person(r), cb.pick_org(r, "clinic", "hospital", general=True)
    b.t(f"Subject: Activate your {org.name} patient portal\n\n").greet(p)
    if r.random() < 0.3:
        child = cb.make_person(r)
        b.t("You have been granted proxy access to the portal account of ").s("NAME", child.full).t(". ")
    b.t("Your patient portal account is ready. With it you can message your care team, see upcoming visits and pay")
    b.t(" bills online.\n\n  Username: ").s("EMAIL", cb.person_email(r, p))
    if r.random() < 0.5:
        b.t("\n  Medical record number: ").s("MRN", cb.mrn(r))
    b.t(f"\n  Activation code: {cb.letters(r, 3)}-{cb.digits(r, 3)}\n\nActivate your account here: ")
    b.s("URL", f"https://portal.{org.domain}/activate?t={cb.token(r, 16)}").t("\nThis link expires on ")
    b.date(cb.future_date(r)).t(". To finish signing up, confirm the date of birth we have on file: ")
    b.date(cb.birth_date(r), r.choice([1, 0, 3])).t(". The app works on iOS 16 and Android 12 or later.")
    b.footer(org)


HEADLINES = ["5 things to know about flu season", "Understanding your cholesterol numbers",
             "Is it a cold or allergies?",
             "Managing diabetes during the holidays", "Why screening matters", "Heart health basics",
             "Sleep and your health", "Talking about mental health"]  # fmt: skip
CHECKLIST = [
    "When to call your doctor:\n  - a fever above 103 °F\n  - trouble breathing\n"
    "  - symptoms that last more than 10 days",
    "Know your numbers:\n  - blood pressure below 120/80\n  - fasting glucose under 100 mg/dL\n"
    "  - BMI between 18.5 and 24.9",
    "Screening at a glance:\n  - mammogram: every 1–2 years from age 40\n  - colonoscopy: from age 45\n  - Pap smear:"
    " every 3 years from age 21",
]


def health_education(b: Builder) -> None:
    """General education with disease, drug and test words but no one in it: ``none``, nothing health-labelled."""
    r = b.rng
    org = cb.pick_org(r, "clinic", "hospital", "plan", "pharmacy", general=True)
    b.t(f"{r.choice(HEADLINES)}\n{org.name} | Health Library\n\n")
    for paragraph in r.sample(pools.EDUCATION, r.randrange(2, 5)):
        b.t(paragraph).t("\n\n")
    b.t(r.choice(CHECKLIST)).t("\n\n")
    drug = r.choice(pools.MEDICATIONS)[0]
    b.t(f"Ask your pharmacist: if you take {drug}, ask whether grapefruit juice or other medicines interact with it.")
    b.t(" This article is for general information and is not medical advice. Reviewed by our clinical editors in")
    b.t(f" {cb.YEAR}.\n\nMore articles: ").org_url(org, "/library").footer(
        org, full=r.random() < 0.3, extras=r.choice([0, 1])
    )


KINDS = [
    ("health_education", health_education, 28),
    ("newsletter", newsletter, 35),
    ("wellness_marketing", wellness_marketing, 30),
    ("survey", survey, 30),
    ("office_closure", office_closure, 32),
    ("event_invite", event_invite, 30),
    ("portal_invitation", portal_invitation, 25),
]

"""The message level: a healthcare organisation's message that identifies someone is ``phi`` unless
it is recognisably not about that person's care.

Looking only for positive evidence of care misses implicit care: "your spot in line is saved",
"we have you scheduled with Dr. Fonseca", "your order from Keystone Medical Supply has shipped",
"payment received — Brightpath Counseling" name no condition, test or drug, and yet being booked,
billed or supplied by a care provider is health information about the person. So the decision runs
the other way round (``decide_level``):

1. nothing identifies a person → ``none``;
2. a staff, workforce or veterinary matter (``WORKFORCE``, ``PET``) → ``pii``, whatever care words
   it has: a credentialing notice names privileges and immunisations, an onboarding letter a TB
   test, a committee agenda a drug, and none of them is anyone's care;
3. positive evidence of care (a health finding about the person, a phrase of care, a care
   provider's service: see ``health.health_context``) → ``phi``;
4. a recognised non-care class (the signals below) → ``pii``;
5. otherwise → ``phi``: missing PHI costs far more than protecting a message that needed none.

Each non-care class is recognised from cue words and phrases found by the shared keyword automaton
(``keywords.TABLE``, kind ``NOCARE_CUE``), each with a weight: a *decisive* phrase ("reset your
password", "open enrollment", "credentialing") weighs 2, a *supporting* word ("password", "premium",
"staff") weighs 1. A class holds when its distinct cues weigh ``THRESHOLD`` or more, so that one
stray word ("unsubscribe" in a footer, "app" in a signature) never turns a care message into
``pii``.
"""

from __future__ import annotations

from encryption.dlp.context import ScanContext
from encryption.dlp.findings import LEVEL_NONE, LEVEL_PHI, LEVEL_PII
from encryption.dlp.health import about_a_pet
from encryption.dlp.keywords import TABLE

# Set in the scan's cache by the classifier when health terms were found and all were general.
GENERAL_HEALTH = "general_health"
NOCARE_CUE = "nocare"  # argument: (signal name, weight, cue number)

# The named signals: kinds of message that identify someone and are not about their care.
ACCOUNT_SECURITY = "account_security"  # password reset, sign-in alert, MFA code, profile or e-mail change
PORTAL_ACCESS = "portal_access"  # portal or app invitation, activation, proxy-access set-up
OUTREACH = "outreach"  # newsletters, marketing, education, events, surveys, closures, fundraising
INSURANCE_ADMIN = "insurance_admin"  # enrollment, renewal, ID cards, premiums, coordination of benefits
WORKFORCE = "workforce"  # HR, staff, volunteers, vendors, IT, credentialing and licensure
FACILITIES = "facilities"  # gift shop, cafeteria, parking, lost and found, visitor services
IDENTITY_ADMIN = "identity_admin"  # identity verification, biometric enrollment, record merges
PET = "pet"  # a pet's care (see ``health.about_a_pet``)

# Signals that win over all positive evidence of care, and those that win over a phrase of care
# alone (see steps 2 and 3).
OVERRIDE_CARE = frozenset({PET})
OVERRIDE_CONTEXT = frozenset({WORKFORCE, INSURANCE_ADMIN})

# The strength of the positive evidence of care.
CARE_NONE = 0
CARE_CONTEXT = 1  # a phrase of care or a provider's service (``health.health_context``) only
CARE_FINDING = 2  # a health finding about the person

THRESHOLD = 2  # with a decisive cue among them
SUPPORTED = 3  # supporting cues alone
DECISIVE = 2
SUPPORTING = 1

_CUES: dict[str, tuple[str, str]] = {
    ACCOUNT_SECURITY: (
        """reset your password|password reset|reset password|reset link|forgot your password|forgot password|
        change your password|password was changed|password has been changed|new sign-in|new sign in|
        sign-in attempt|sign in attempt|login attempt|log in attempt|unusual sign-in|unusual activity|
        suspicious activity|verification code|one-time code|one time code|one-time passcode|security code|
        two-factor|2-step|two-step|multi-factor|mfa|authenticator|new device|was this you|this was you|wasn't you|
        was not you|email address was changed|email was changed|email address has been changed|
        email address was updated|phone number was changed|phone number was updated|profile was updated|
        profile has been updated|account was locked|account is locked|locked out|security alert|account settings|
        contact information was updated|username|new address|address change|address update|address was changed|
        address has been changed|i moved|not you|update your mailing address|update your address|contraseña|
        si no fue usted|new email|update my account|communication preferences|contact preferences|
        preferences have been updated""",
        """password|passcode|sign-in|signed in|log in|login|logged in|secure your account|device|browser|profile|
        account""",
    ),
    PORTAL_ACCESS: (
        """invites you|invited you|invitation to join|activate your account|activation code|activation link|
        create your account|create an account|set up your account|finish setting up|complete your registration|
        proxy access|proxy|access to your child's|access to a family member|caregiver access|shared access|
        download the app|patient app|portal account|portal invitation|welcome to the portal|sign up for""",
        """portal|app|invitation|invite|sign up|activate|register|registration|access""",
    ),
    OUTREACH: (
        """newsletter|webinar|workshop|health fair|open house|join us|rsvp|save the date|register now|
        register today|take our survey|take a short survey|short survey|survey|your feedback|tell us how|
        will be closed|closed on|holiday hours|office closure|clinic closure|donate|donation|fundraiser|
        fundraising|gala|annual fund|tax-deductible|your gift|thank you for your gift|promo code|percent off|
        limited time|special offer|free class|classes|seminar|lecture|support group|health tips|did you know|
        this month's|this issue|in this issue|5k|rewards|gift card|coupon|use code|offer code|for attending|
        happy new year|happy holidays|a message from our|edition|birthday|prize|conference|exhibit hall|
        how did we do|health library|this article|now open|now offers|hours change|you are invited|
        everyone is welcome|career fair|save up to|fitness|general information|not medical advice""",
        """event|events|class|register|registration|offer|discount|tips|learn more|read more|subscribe|community|
        season|celebrate|celebration|free|healthy|wellness|members|seats|points|redeem|talk|welcoming|stay well|
        this month|recipes|challenge|your team|spotlight|nominate|program|booth|rate your|for everyone|
        are available|and older|the risk of|most people|adults|open on|evening hours|see you soon|invited to|
        welcome|giveaway|such as|ask about|should have|text updates""",
    ),
    INSURANCE_ADMIN: (
        """premium|premiums|open enrollment|enrollment period|special enrollment|plan year|renew your plan|
        your plan will renew|will automatically renew|auto-renew|renewal notice|member id card|id card|id cards|
        auto claim|vehicle claim|collision|plan renews|car claim|homeowners claim|adjuster|new card|
        coordination of benefits|other insurance|other coverage|other health insurance|coverage will|
        coverage begins|coverage ends|effective date|evidence of coverage|summary of benefits|plan documents|
        benefit year|enrollment confirmation|insurance on file""",
        """plan|coverage|deductible|renews on|rental|member|members|renewal|renew|enroll|benefits|policy|
        subscriber|dependents|insurance|enrollment|you're enrolled|you are enrolled|enrolled in|effective|
        your card|front and back""",
    ),
    WORKFORCE: (
        """credentialing|recredentialing|reappointment|clinical privileges|privileges|medical staff office|
        medical staff|license renewal|licence renewal|license expires|licence expires|dea registration|
        board certification|malpractice|cme|ceu|continuing education|payroll|timesheet|time card|pto|
        human resources|hr department|talent acquisition|onboarding|offer letter|start date|new hire|new employee|
        employee health|employee id|employee badge|staff badge|staff parking|volunteer|volunteers|
        volunteer services|shift|shifts|schedule change|on-call|on call|staffing|vendor|purchase order|remit to|
        supplier|it service desk|service desk|help desk|helpdesk|it department|system maintenance|
        scheduled maintenance|downtime|outage|vpn|committee|agenda|meeting minutes|clinical placement|
        student placement|preceptor|rotation|residency|job posting|now hiring|apply now|interview|
        benefits enrollment|employee benefits|open enrollment for employees|annual training|compliance training|
        competency|unit meeting|staff meeting|all-staff|department meeting|hi team|hello team|pager|dea|
        contact hours|board of nursing|board of pharmacy|nursing education|salary|background check|
        staff spotlight|we're hiring|we are hiring|provider enrollment|network participation|caqh|attestation|
        your first day|grand rounds|safety walk""",
        """employee|employees|staff|staffing|colleague|colleagues|team members|nurse manager|manager|training|
        orientation|badge|workday|hr|npi|license|licence|certification|credentials|position|job|hiring|career|
        careers|candidate|meeting|invoice|deliveries|account manager|contract""",
    ),
    FACILITIES: (
        """gift shop|cafeteria|café|coffee shop|parking permit|parking garage|parking pass|parking validation|
        parking citation|parking violation|your car|lost and found|lost & found|valet|visitor badge|visitor pass|
        flowers|balloons|merchandise|facilities security|security office|citation|your order has been picked up|
        order confirmation|guest checkout""",
        """parking|garage|permit|gift|menu|order|shop|store|visitor|visitors|plate|vehicle|kiosk|reader|locker""",
    ),
    IDENTITY_ADMIN: (
        """verify your identity|identity verification|confirm your identity|proof of identity|express check-in|
        biometric check-in|palm scan|palm-vein|fingerprint|face scan|facial recognition|voiceprint|voice print|
        retina scan|iris scan|duplicate record|duplicate records|records were merged|record merge|
        merged your records|government id|state id|photo id|id verification|authorization to release|
        release of information|copy of your records|copy of my records|your records request""",
        """identity|biometric|biometrics|enroll|enrolled|enrolling|template|verification|verify|driver license|
        driver's license|drivers license|ssn|social security""",
    ),
}


def _register() -> None:
    # Each cue's argument carries its own number, so that a repeated cue is told without slicing.
    number = 0
    for signal, (decisive, supporting) in _CUES.items():
        for weight, phrases in ((DECISIVE, decisive), (SUPPORTING, supporting)):
            for phrase in phrases.split("|"):
                number += 1
                TABLE.add(NOCARE_CUE, [" ".join(phrase.split())], (signal, weight, number))


_register()


def non_care_signals(ctx: ScanContext) -> frozenset[str]:
    """The non-care classes this message is recognised as (see the module docstring)."""
    cached = ctx.cache.get("nocare")
    if cached is not None:
        return cached
    weights: dict[str, int] = {}
    decided: set[str] = set()
    seen: set[int] = set()
    for _, _, (signal, weight, number) in ctx.hits.get(NOCARE_CUE, ()):
        if number in seen:
            continue  # a cue counts once, however often it is repeated
        seen.add(number)
        weights[signal] = weights.get(signal, 0) + weight
        if weight == DECISIVE:
            decided.add(signal)
    if ctx.cache.get(GENERAL_HEALTH):
        # Health terms that are all general (education, marketing: see ``health.mark_general``)
        # support outreach; alone they decide nothing (a clinician's note can read as general).
        weights[OUTREACH] = weights.get(OUTREACH, 0) + SUPPORTING
    found = {
        signal
        for signal, weight in weights.items()
        if weight >= SUPPORTED or (signal in decided and weight >= THRESHOLD)
    }
    if about_a_pet(ctx):
        found.add(PET)
    result = ctx.cache["nocare"] = frozenset(found)
    return result


def decide_level(*, identifies: bool, care: int, signals: frozenset[str]) -> str:
    """The message level from three named facts (see the module docstring):
    ``identifies`` — something in the message identifies a person;
    ``care`` — the strength of positive evidence of care about them (``CARE_NONE``,
    ``CARE_CONTEXT``: a phrase of care or a provider's service only, ``CARE_FINDING``: a health
    finding about the person);
    ``signals`` — the non-care classes recognised (``non_care_signals``)."""
    if not identifies:
        return LEVEL_NONE
    if signals & OVERRIDE_CARE:
        return LEVEL_PII
    if care == CARE_FINDING or (care == CARE_CONTEXT and not signals & OVERRIDE_CONTEXT):
        return LEVEL_PHI
    if signals:
        return LEVEL_PII
    return LEVEL_PHI

"""Health information: conditions, medications, procedures and laboratory results, and the
phrases that make a message about someone's care (``has_health_context``).

* Dictionary terms (``lexicon/conditions.txt``, ``medications.txt``, ``procedures.txt``) are
  keywords of the shared automaton; a medication's strength that follows it ("Metformin 500 mg")
  is part of the finding.
* A strength after a word that is not in the dictionary makes it a medication when the word is
  capitalised or ends like a drug name ("Synthetamol 10 mg", "zorbatinib 40 mg").
* A laboratory test followed by a value is a result ("HbA1c 7.2%", "LDL of 162 mg/dL",
  "blood pressure 142/91"), and so are "positive for ...", "negative for ...".
* ICD-10-CM codes: a dotted code whose three-character category exists ("E11.9", "F32.A"), or an
  undotted one next to "ICD", "diagnosis", "dx" or "code".
"""

from __future__ import annotations

import re
from bisect import bisect_left

from encryption.dlp.context import ScanContext
from encryption.dlp.findings import CONDITION, LAB_RESULT, MEDICATION, PROCEDURE, Finding
from encryption.dlp.keywords import HEALTH, HEALTH_CUE, LAB, TABLE, VENDOR_CUE
from encryption.dlp.lexicon import health_terms, icd10_categories, lab_tests, words
from encryption.dlp.names import _NOT_NAME
from encryption.dlp.patterns import tokens

_CONFIDENCE = {CONDITION: 0.85, MEDICATION: 0.9, PROCEDURE: 0.85}


def _register() -> None:
    by_type: dict[str, list[str]] = {}
    for term, kind in health_terms().items():
        by_type.setdefault(kind, []).append(term)
    for kind, terms in by_type.items():
        TABLE.add(HEALTH, terms, kind)
    TABLE.add(LAB, lab_tests())
    TABLE.add(POSNEG_CUE, ["positive for", "negative for", "reactive for", "detected for"], "posneg")


POSNEG_CUE = "posneg"
_register()
_VACCINE_NAMES = frozenset(
    words("mmr mmrv tdap dtap ipv hpv shingrix pcv13 pcv15 pcv20 ppsv23 menacwy menb gardasil flu shot booster shot")
)

# The strength right after a drug name is part of the finding ("metformin 500 mg",
# "lisinopril-HCTZ 20/12.5 mg"); form, quantity and directions are not.
_STRENGTH = re.compile(
    # A release form may come before the strength too ("metformin ER 500 mg").
    r"(?:[ \t]+(?-i:ER|XR|XL|SR|CR|DR|ODT))?"
    r"[ \t]*\d+(?:\.\d+)?(?:[ \t]*/[ \t]*\d+(?:\.\d+)?)?[ \t]*(?:mg|mcg|µg|ug|g|ml|meq|units?|iu|%)(?![\w/])"
    r"(?:/(?:ml|dose|hr|h|day|actuation|spray)\b)?(?:[ \t]+(?:ER|XR|XL|SR|CR|DR|ODT)\b)?",
    re.I,
)
# A strength anywhere: the word before it may be a medication the dictionary does not know.
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z-]{3,})(?:[ \t]+(?:ER|XR|XL|SR|HCl|hcl|sodium|potassium))?[ \t]+$")
_DRUG_ENDINGS = (
    "pril",
    "sartan",
    "olol",
    "statin",
    "mab",
    "nib",
    "prazole",
    "gliflozin",
    "gliptin",
    "glutide",
    "floxacin",
    "cillin",
    "mycin",
    "cycline",
    "azepam",
    "zolam",
    "triptan",
    "tidine",
    "oxetine",
    "dipine",
    "lukast",
    "afil",
    "amol",
    "profen",
    "azole",
    "vir",
    "tropin",
    "sone",
    "olone",
    "parin",
    "xaban",
    "gatran",
    "semide",
    "thiazide",
    "barb",
    "pine",
    "done",
    "codone",
    "morphone",
    "caine",
    "dronate",
    "lamide",
    "pam",
    "tine",
    "ine",
    "ol",
    "il",
    # Spanish and Portuguese spellings ("amoxicilina", "metformina", "omeprazol", "losartán").
    "ina",
    "ino",
    "ona",
)
_NOT_DRUG = frozenset(
    words(
        "take takes taking took with daily dose doses dosage about than from each every total only also "
        "over under into your their this that these those have were been weigh weighs weighed lost gain "
        "gained drink drinks contains contain sodium sugar salt fiber protein calcium iron water caffeine "
        "alcohol least most more less limit increase decrease reduce reduced raise raised lower lowered"
    )
)

_LAB_UNITS = (
    r"(?:%|mg/dl|mg/l|g/dl|g/l|mmol/l|mmol/mol|µmol/l|umol/l|meq/l|ng/ml|ng/dl|pg/ml|µg/dl|ug/dl|mcg/dl|miu/l|"
    r"µiu/ml|uiu/ml|miu/ml|iu/l|u/l|units/l|mm/hr|mmhg|mm hg|bpm|beats per minute|cells/mm3|cells/µl|copies/ml|"
    r"ml/min(?:/1\.73\s?m2)?|x10\^?\d+/l|k/µl|k/ul|seconds|sec|kg/m2|kg/m²|ng/ml|ms|msec|milliseconds|"
    r"°[fc]|deg(?:rees)?[ \t]?[fc]?|f|kg|g|lbs?|pounds|oz|cm|mm|in|inches|"
    r"(?:\d+(?:st|nd|rd|th)[ \t]+)?percentile)"
)
# A percentile or a reference range in parentheses after the value ("(55th percentile)", "(ref 0.6-1.2)").
_LAB_RANGE = (
    r"(?:[ \t]*\((?:\d+(?:st|nd|rd|th)[ \t]+percentile|(?:ref|reference|normal|range)\b[^)\n]{0,24}|"
    r"\d+(?:\.\d+)?[ \t]*[-–][ \t]*\d+(?:\.\d+)?)\))?"
)
_LAB_VALUE = re.compile(
    rf"""
    (?:[ \t]+(?:level|levels|reading|readings|result|results|value|count|score|test|was|is|of|at|came\ back|
                came\ in|measured|showed|shows|returned|reading\ of|result\ of|level\ of|was\ at|is\ at|=|:|
                high|low|elevated|normal|borderline|up|down|up\ to|down\ to|still|slightly|very|critically|
                abnormal)){{0,4}}
    [ \t]*[:=\-–(]?[ \t]*(?:was|is|of|at|about|around|approximately|~)?[ \t]*
    (?P<value>[<>≤≥]?[ \t]*\d+(?:\.\d+)?(?:[ \t]*/[ \t]*\d+(?:\.\d+)?)?)
    (?:[ \t]*(?P<unit>{_LAB_UNITS}))?
    (?![\w/]){_LAB_RANGE}
    """,
    re.X | re.I,
)
_POSNEG_OBJECT = re.compile(
    r"[ \t]*(?:the[ \t]+)?([A-Za-z0-9][\w'-]*(?:[ \t]+[A-Za-z0-9][\w'-]*){0,3}?)(?=[ \t]*(?:[.,;:!?)\n]|$|"
    r"[ \t]+(?:and|but|on|in|at|from|as|so|which|we|you|please)\b))"
)
_POSNEG_BEFORE = re.compile(
    r"(?:(?:tested|test(?:ed)?|came[ \t]+back|screened|screen|results?(?:[ \t]+(?:was|were|is|are))?|was|were|is|"
    r"are)[ \t]+)$",
    re.I,
)
_ICD_CUE = re.compile(r"\b(?:icd|icd-10|icd10|icd-10-cm|diagnosis|diagnoses|dx|code|codes|diagnosed)\b[^\n]{0,24}$")


# Imaging of a body part ("CT of the cervical spine", "X-ray of the left wrist"), a vaccine's dose
# ("MMR dose 2", "Tdap #1"): the whole phrase is the procedure.
_IMAGING = frozenset(
    words(
        "x-ray x ray xray x-rays xrays mri ct scan scans ultrasound ultrasounds radiograph radiographs "
        "pet scan ct scan mri scan"
    )
)
_OF_BODY_PART = re.compile(
    r"[ \t]+(?:scan[ \t]+)?of[ \t]+(?:the[ \t]+|your[ \t]+|his[ \t]+|her[ \t]+)?(?:(?:left|right|lower|upper|both|"
    r"bilateral|cervical|thoracic|lumbar|front|back)[ \t]+){0,2}(?:abdomen[ \t]+and[ \t]+pelvis|brain|head|skull|"
    r"sinuses|neck|chest|abdomen|pelvis|spine|c-spine|l-spine|breast|breasts|lung|lungs|heart|liver|kidneys?|bladder|"
    r"thyroid|prostate|uterus|ovaries|shoulder|elbow|wrist|hand|fingers?|hip|hips|knee|knees|ankle|foot|feet|leg|"
    r"arm|jaw|teeth|mouth|face|orbits|carotids?|veins?|arteries|aorta|gallbladder|pancreas|spleen)\b",
    re.I,
)
# The region right after the modality ("MRI lumbar spine", "CT chest without contrast").
_REGION_AFTER = re.compile(
    r"[ \t]+(?:(?:left|right|bilateral|lumbar|cervical|thoracic|lower|upper)[ \t]+){0,2}"
    r"(?:abdomen[ \t]+and[ \t]+pelvis|brain|head|chest|abdomen|pelvis|spine|c-spine|l-spine|neck|breasts?|"
    r"shoulder|knee|hip|ankle|wrist|foot|hand|"
    r"sinuses|orbits|kidneys?|liver|thyroid)\b(?:[ \t]+with(?:out)?(?:[ \t]+(?:iv|and[ \t]+without))?[ \t]+contrast)?",
    re.I,
)
_CT_MRI_BEFORE = re.compile(r"\b(?:CT|MRI|PET)$")
_REGION_BEFORE = re.compile(
    r"\b(?:chest|head|brain|breast|cardiac|abdominal|abdomen|pelvic|pelvis|sinus|neck|spine|lumbar|cervical|knee|"
    r"shoulder|hip|ankle|wrist|renal|kidney|liver|prostate|thyroid)[ \t]+$",
    re.I,
)
_VACCINE_DOSE = re.compile(
    r"[ \t]*(?:\(?(?:dose|shot|#|no\.?)[ \t]*\d\)?|booster\b|\d(?:st|nd|rd|th)[ \t]+dose\b)", re.I
)
# A term followed by one of these words is an attribute or a document, not care ("MRI mode",
# "MR-conditional", "immunization record", "x-ray machine").
_NOT_CARE_AFTER = re.compile(
    r"[ \t-]*(?:mode|conditional|safe|safety|compatible|unsafe|machine|machines|scanner|scanners|suite|record|records|"
    r"history\s+form|card|cards|form|forms|requirements|policy|policies|department|dept|technologist|tech|"
    r"pump|pumps|van|vans|taxi|transport|transportation|ride|rides|ramp|ramps|lift|accessible|access|entrance|"
    r"parking|spaces?)\b",
    re.I,
)
_MODEL_BEFORE = re.compile(r"\b(?:model|brand|make)[ \t]+(?:[A-Z0-9][\w-]*[ \t]+){0,4}$")
# Category nouns opening a field ("Allergies: penicillin") are the label, not a finding.
_LABEL_NOUNS = frozenset(words("allergies allergy medications immunizations immunisations vaccines vaccinations labs"))
# Specialty words ending a capitalised organisation name ("ClearView Optometry").
_SPECIALTIES = frozenset(
    words(
        "optometry cardiology dermatology oncology radiology neurology urology podiatry psychiatry orthodontics "
        "dentistry pediatrics orthopedics audiology gastroenterology endocrinology rheumatology nephrology "
        "pulmonology ophthalmology physiotherapy chiropractic counseling counselling imaging"
    )
)


def _not_care(ctx: ScanContext, start: int, end: int, kind: str) -> bool:
    """A term that names no care here: a field label, an attribute, a model, an organisation."""
    text = ctx.text
    following = text[end : end + 1]
    if following == ":":
        return ctx.lower[start:end] in _LABEL_NOUNS
    if kind == PROCEDURE and following in (" ", "-") and _NOT_CARE_AFTER.match(text, end):
        return True
    if text[start].isupper():
        window = ctx.lower[max(0, start - 60) : start]
        if ("model" in window or "brand" in window or "make" in window) and _MODEL_BEFORE.search(
            text, max(0, start - 60), start
        ):
            return True
        if ctx.lower[start:end] in _SPECIALTIES and _TOKEN_BEFORE_CAP.search(text, max(0, start - 30), start):
            return True
    return False


_TOKEN_BEFORE_CAP = re.compile(r"(?<![.!?:\n])[ \t]+[A-Z][\w'’&-]*[ \t]+$|^[A-Z][\w'’&-]*[ \t]+$")


def _dictionary(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    for start, end, kind in ctx.hits.get(HEALTH, ()):
        if _not_care(ctx, start, end, kind):
            continue
        if kind == PROCEDURE:
            term = ctx.lower[start:end]
            if term in _IMAGING or term.endswith(("x-ray", "xray")):
                extent = _OF_BODY_PART.match(text, end) or _REGION_AFTER.match(text, end)
                if extent is not None:
                    end = extent.end()
                else:
                    region = _REGION_BEFORE.search(text, max(0, start - 16), start)
                    if region is not None:
                        start = region.start()
            elif "vaccin" in term or term in _VACCINE_NAMES:
                dose = _VACCINE_DOSE.match(text, end)
                if dose is not None:
                    end = dose.end()
        if kind == MEDICATION:
            strength = _STRENGTH.match(text, end)
            if strength is not None:
                end = strength.end()
            previous = out[-1] if out else None
            if (
                previous is not None
                and previous.type == MEDICATION
                and previous.end + 1 == start
                and text[previous.end] in "-/"
            ):
                # A combination product ("lisinopril-HCTZ 20/12.5 mg") is one medication.
                out[-1] = Finding(MEDICATION, previous.start, end, previous.confidence, previous.rule)
                continue
        out.append(Finding(kind, start, end, _CONFIDENCE[kind], f"dict.{kind.lower()}"))


def _doses(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    if not _has_dose_unit(ctx.lower):
        return
    known = {end for _, end, kind in ctx.hits.get(HEALTH, ()) if kind == MEDICATION}
    for kind, match in tokens(ctx):
        if kind != "dose":
            continue
        before = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start())
        if before is None:
            continue
        word = before.group(1)
        low = word.lower()
        if before.end(1) in known or low in _NOT_DRUG:
            continue
        if word[0].isupper() or low.endswith(_DRUG_ENDINGS):
            strength = _STRENGTH.match(text, before.end(1))
            end = strength.end() if strength is not None else match.end()
            out.append(Finding(MEDICATION, before.start(1), end, 0.65, "dose.unknown_drug"))


def _has_dose_unit(lower: str) -> bool:
    return "mg" in lower or "mcg" in lower or "ml" in lower or "unit" in lower or "iu" in lower or "µg" in lower


_LISTED_BEFORE = re.compile(
    r"(?:\b(?:tests?|labs?|ordered|orders|panel|order|draw|check|checks)[ \t]*:[^\n:]{0,30}?|"
    r"\b(?:panel|differential|count|test|level|cbc|cmp|bmp)[ \t]*),[ \t]*$",
    re.I,
)
_LISTED_AFTER = re.compile(r"[ \t]*(?:,|\n|$|and\b|;)")


# Measures of the body: a value is theirs only with its unit, and these units are theirs only.
_BODY_MEASURES = frozenset(["temp", "temperature", "weight", "height", "length", "head circumference", "body weight"])
_BODY_UNITS = frozenset(words("f kg g lb lbs pounds oz cm mm in inches"))


def _lab_results(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    for start, end, _ in ctx.hits.get(LAB, ()):
        match = _LAB_VALUE.match(text, end)
        if match is None or match.end() - end > 48:
            if _LISTED_BEFORE.search(text, max(0, start - 40), start) and _LISTED_AFTER.match(text, end):
                # A test in a list of tests ordered ("Tests: CBC, TSH, lipid panel") is a procedure.
                out.append(Finding(PROCEDURE, start, end, 0.6, "lab.listed"))
            continue
        unit = (match.group("unit") or "").lower()
        value = match.group("value")
        body = ctx.lower[start:end] in _BODY_MEASURES
        if not unit and body and ctx.lower[start:end] != "temperature":
            continue  # "weight 12.6 kg", "temp 100.4 F": these everyday words need their unit
        if not body and unit in _BODY_UNITS:
            continue  # "LDL 160 in March": units of size, weight and heat are for the body's measures
        if not unit and "/" not in value:
            # A bare number must not be a dose ("calcium 500 mg"), a time or a count of things.
            following = ctx.after(match.end(), 12)
            if re.match(
                r"[ \t]*(?:mg|mcg|iu|units?|tablets?|pills?|minutes|min|hours|hrs?|days?|weeks?|years?|am|pm|a\.m|"
                r"p\.m|:\d|,\d{3})\b",
                following,
            ):
                continue
        out.append(Finding(LAB_RESULT, start, match.end(), 0.85, "lab.value"))
    for start, end, _ in ctx.hits.get(POSNEG_CUE, ()):
        obj = _POSNEG_OBJECT.match(text, end)
        if obj is None:
            continue
        before = _POSNEG_BEFORE.search(text, max(0, start - 30), start)
        begin = before.start() if before is not None else start
        out.append(Finding(LAB_RESULT, begin, obj.end(1), 0.8, "lab.positive_negative"))


def _icd_codes(ctx: ScanContext, out: list[Finding]) -> None:
    categories = icd10_categories()
    text = ctx.text
    for kind, match in tokens(ctx):
        if kind != "icd":
            continue
        start = match.start()
        code = match.group()
        if code[:3] not in categories:
            continue
        if "." in code:
            out.append(Finding(CONDITION, match.start(), match.end(), 0.85, "icd10.code"))
        elif (start and text[start - 1] == "(" and text[match.end() : match.end() + 1] == ")") or _ICD_CUE.search(
            ctx.before(match.start(), 40)
        ):
            out.append(Finding(CONDITION, match.start(), match.end(), 0.75, "icd10.context"))


# --------------------------------------------------------------------------------------------
# About the person, or general education? "Your colonoscopy is scheduled for March 3" is about the
# reader; "flu shots are available at all of our locations" is not, even in a message that greets
# the reader by name. The sentence around a finding is weighed: events of someone's care,
# second-person words and a date or name in the sentence on one side, the vocabulary of education
# and marketing on the other. A finding in a general sentence gets a rule ending in ``/general``
# and does not make the message PHI (it is still reported).

GENERAL = "/general"
PERSONAL_CUE = "pcue"
GENERAL_CUE = "gcue"
YOU_CUE = "you"
TABLE.add(
    PERSONAL_CUE,
    """diagnosed|diagnosis|dx|prescribed|prescription|prescriptions|rx|refill|refills|refilled|dose|doses|dosage|
    result|results|scheduled|booked|all set|confirmed|overdue|is due|are due|now due|due for|ordered|taking|started|
    starting|stopped|continue|discontinue|discontinued|increase|increased|decrease|decreased|history of|treated|
    treating|treatment plan|care plan|reviewed|showed|shows|consistent with|suggest|suggests|tested|level|levels|
    reading|admitted|discharged|recovering|follow-up|follow up|pick up|pickup|ready|filled|dispensed|referred|
    referral|authorization|authorisation|approved|denied|claim|billed|charge|charges|statement|copay|co-pay|
    appointment|appt|seen|check-in|arrive|arrival|prep|preparation|fasting|instructions|recommend starting|
    we recommend|your recent|your upcoming|your last|your next|your annual|your scheduled|your current|
    reason for visit|indication|allergic to|treatment of|treatment for|treated for|medical records|our client|
    your client|itemized|itemised|date of loss|date of injury|yesterday|last night|this morning|last week|
    last month|days ago""".replace("\n", "").split("|"),
)
TABLE.add(
    GENERAL_CUE,
    """did you know|tip|tips|now available|is available|are available|available to|available for|available at|
    available in|learn|learning|awareness|everyone|everybody|anyone|adults|people|their|risk|risks|prevent|
    prevention|preventing|can help|helps|season|seasonal|walk-in|walk-ins|walkin|free|class|classes|workshop|
    workshops|webinar|webinars|seminar|seminars|support group|support groups|join us|sign up|register|most|many|
    common|commonly|guidelines|recommended for|aged|ages|years and older|older adults|community|event|events|fair|
    newsletter|research|studies|millions|americans|healthy|habits|lifestyle|signs of|symptoms of|month|
    protect yourself|now offering|we offer|offering|new service|welcome|welcomes|joins|joined|specializes|
    reminder that|mask|masks|vaccines are|vaccine is|shots are|shot is|such as|preventive|covered|coverage|often|
    usually|typically|generally|can be|may be|can cause|can lead|treatable|sign of|one in|percent|make sure|
    remember to|consider|talk with your|talk to your|ask your|if you have|if you are|if you or|if you're|
    those with|people with|patients with|who have|library|keep a|list of|our team|last year|more than|patients|
    visits|rounds|grand rounds|lecture|conference|at a glance|from age|sale|on sale|shop|buy|discount|coupon|
    price|prices|drugs like|medicines like|medications like|statins like|generics like|vaccines like|conditions like|
    diseases like|illnesses like|including|what is|what are|cases|leading cause|deadliest|affects|affect|
    symptoms include|should have|should get|adults|generic|generics|save|savings|in store|
    per customer|while supplies last|offer|no appointment needed|every year|each year|one of the|weakens|raises the|
    lowers|considered|optimal|programs|action plan|action plans|travel|travelling|traveling|recall|recalled|
    recalls|voluntary|manufacturer|lots|usual dose|general advice|while taking|return to the er|
    return to the emergency|warning signs|if you take|if you develop|if you notice|if you experience|and older|
    or older|ask about|keynote|symposium|cme|speaker|speakers|moderated|readmissions|admissions|dashboard|
    quality|metrics|median|average|statistics|monthly report|quarterly|top|staffing|census|treat yourself|
    off your|use code|checkout|promo|gift card|gift cards|refer a friend|book now""".replace("\n", "").split("|"),
)
TABLE.add(YOU_CUE, ["you", "your", "you're", "you've", "yours"])
_ALWAYS_PERSONAL_RULES = (
    "lab.value",
    "lab.positive_negative",
    "lab.reading",
    "icd10.code",
    "icd10.context",
    "dose.unknown_drug",
    "field.value",
)
_STOPS = ".!?\n"


def sentence_bounds(lower: str, start: int, end: int) -> tuple[int, int]:
    """The sentence (or line) around ``lower[start:end]``, at most 200 characters either side."""
    low = max(0, start - 200)
    begin = max(lower.rfind(stop, low, start) for stop in _STOPS) + 1
    if begin == 0:
        begin = low
    high = min(len(lower), end + 200)
    stops = [i for i in (lower.find(stop, end, high) for stop in _STOPS) if i != -1]
    return begin, (min(stops) if stops else high)


_STOP_CHARS = re.compile(r"[.!?\n](?!(?<=\.)\d)")  # "$9.99" and "7.2" end no sentence


def _sentence_of(ctx: ScanContext, start: int, end: int) -> tuple[int, int]:
    """``sentence_bounds`` from the text's sentence stops, found once per scan."""
    stops = ctx.cache.get("stops")
    if stops is None:
        stops = ctx.cache["stops"] = [m.start() for m in _STOP_CHARS.finditer(ctx.lower)]
    low = max(0, start - 200)
    at = bisect_left(stops, start)
    begin = stops[at - 1] + 1 if at and stops[at - 1] >= low else low
    high = min(len(ctx.lower), end + 200)
    at = bisect_left(stops, end, at)
    return begin, (stops[at] if at < len(stops) and stops[at] < high else high)


def _cue_starts(ctx: ScanContext, kind: str) -> list[int]:
    starts = ctx.cache.get(kind)
    if starts is None:
        starts = ctx.cache[kind] = sorted(start for start, _, _ in ctx.hits.get(kind, ()))
    return starts


def _count(starts: list[int], begin: int, stop: int) -> int:
    return bisect_left(starts, stop) - bisect_left(starts, begin)


def about_the_person(ctx: ScanContext, start: int, end: int, anchors: list[tuple[int, int]], evidence: int = 0) -> bool:
    """Whether the sentence around ``start:end`` is about someone's own care (see above).
    ``anchors`` are the spans of dates and names in the text: one in the sentence counts for it;
    ``evidence`` is what the caller already knows for it (a phrase of care counts 2)."""
    begin, stop = _sentence_of(ctx, start, end)
    general = 2 * _count(_cue_starts(ctx, GENERAL_CUE), begin, stop)
    if general <= evidence:
        return True  # nothing general outweighs what is already known for the person
    personal = evidence + 2 * _count(_cue_starts(ctx, PERSONAL_CUE), begin, stop)
    personal += 1 if _count(_cue_starts(ctx, YOU_CUE), begin, stop) else 0
    personal += sum(1 for a, b in anchors if begin <= a and b <= stop and not (a <= start < b))
    return personal >= general


_TITLE_CASE_AROUND = re.compile(r"(?:[A-Z][\w'’-]*[ \t]+){1,}$")
_TITLE_CASE_AFTER = re.compile(r"[ \t]+(?:(?:of|and|for|in|the|&)[ \t]+)?[A-Z][\w'’-]*")


def _in_a_title(ctx: ScanContext, f: Finding) -> bool:
    """ "Grand Rounds: Advances in Stroke Care", "Diabetes Awareness Month": a capitalised term
    inside a run of capitalised words names an event, a class or a campaign."""
    text = ctx.text
    if ('"' in text or "“" in text) and _in_quotes(text, f.start):
        return True
    if not text[f.start].isupper():
        return False
    before = _TITLE_CASE_AROUND.search(text, max(0, f.start - 40), f.start)
    after = _TITLE_CASE_AFTER.match(text, f.end)
    if before is not None and before.group().split()[-1].lower() in _TITLE_OPENERS:
        before = None
    return after is not None and (before is not None or text[f.end : after.end()].split()[-1].lower() in _TITLE_NOUNS)


def _in_quotes(text: str, start: int) -> bool:
    """Inside a quoted title on its line (a talk, an article: `on "Managing hypertension in 2027"`):
    an odd number of quotation marks before it, the quotation opening with a capital."""
    low = max(0, start - 80)
    if text.find('"', low, start) == -1 and text.find("“", low, start) == -1:
        return False
    line = text.rfind("\n", low, start) + 1
    before = text[max(line, low) : start]
    opened = before.rfind("“") if "“" in before else -1
    if opened == -1 or "”" in before[opened:]:
        if before.count('"') % 2 == 0:
            return False
        opened = before.rfind('"')
    return text[max(line, start - 80) + opened + 1 : start + 1][:1].isupper()


_TITLE_OPENERS = frozenset(["dear", "hi", "hello", "your", "our", "the", "a", "an", "diagnosis"])
_TITLE_NOUNS = frozenset(
    words(
        "awareness month week day care self-management management support class classes program programme "
        "workshop seminar webinar series basics month's walk run fair clinic center centre institute "
        "foundation society association unit team network alliance education network summit conference "
        "rounds"
    )
)


def mark_general(ctx: ScanContext, findings: list[Finding], anchors: list[tuple[int, int]]) -> list[Finding]:
    """``findings`` with those in general sentences re-ruled ``.../general``."""
    out = []
    pet = about_a_pet(ctx)
    for f in findings:
        if not pet and (
            (f.rule in _ALWAYS_PERSONAL_RULES and not _in_statistics(ctx, f))
            or (
                not _in_a_title(ctx, f)
                and about_the_person(ctx, f.start, f.end, anchors, evidence=_own_evidence(ctx, f))
            )
        ):
            out.append(f)
        else:
            out.append(Finding(f.type, f.start, f.end, f.confidence * 0.5, f.rule + GENERAL))
    return out


_POSSESSIVE_BEFORE = re.compile(r"(?:\b(?:your|his|her|my)|\w['’]s) $")
_POSSESSIVES = ("your ", "his ", "her ", "my ", "'s ", "’s ")


def _own_evidence(ctx: ScanContext, f: Finding) -> int:
    """What the finding itself says for the person: a possessive right before it ("your heart
    failure", "Ana's echo") counts as a phrase of care; a medication with its strength once."""
    before = ctx.lower[max(0, f.start - 6) : f.start]
    evidence = 2 if before.endswith(_POSSESSIVES) and _POSSESSIVE_BEFORE.search(before) else 0
    # A drug with its strength is nearly always someone's prescription, unless priced ("$4.00").
    if (
        f.type == MEDICATION
        and any(c.isdigit() for c in ctx.text[f.start : f.end])
        and not _PRICE_AFTER.match(ctx.text, f.end)
    ):
        evidence += 3
    return evidence


_PRICE_AFTER = re.compile(r"[^\n$.;]{0,24}?[$€£][ \t]?\d")


def _in_statistics(ctx: ScanContext, f: Finding) -> bool:
    """A reading among aggregate figures ("68% with A1c < 8%; 74% had a retinal exam") describes a
    population: two percentages or more in the sentence besides the finding's own."""
    text = ctx.text
    percents = ctx.cache.get("percents")
    if percents is None:
        percents = ctx.cache["percents"] = text.count("%")
    if percents < 3:
        return False
    begin, stop = _sentence_of(ctx, f.start, f.end)
    return text.count("%", begin, stop) - text.count("%", f.start, f.end) >= 2


# Veterinary care: a pet's vaccine or test is no health information about a person.
PET_CUE = "pet"
TABLE.add(
    PET_CUE,
    words(
        "veterinary veterinarian vet vets pet pets puppy puppies kitten kittens heartworm flea fleas spay spayed "
        "neuter neutered canine feline dog dogs cat cats"
    ),
)
TABLE.add(PET_CUE, ["animal hospital", "animal clinic", "pet owners", "your pet", "your dog", "your cat"], "strong")


def about_a_pet(ctx: ScanContext) -> bool:
    """Two veterinary words or more, one of them unmistakable (``animal hospital``, ``heartworm``...)."""
    hits = ctx.hits.get(PET_CUE, ())
    if len(hits) < 2:
        return False
    if "PET" in ctx.text:
        # "your PET scan": positron emission tomography, written in capitals, is no animal.
        hits = [hit for hit in hits if not ctx.text[hit[0] : hit[1]].endswith("PET")]
        if len(hits) < 2:
            return False
    pet = ctx.cache.get("pet")
    if pet is None:
        pet = ctx.cache["pet"] = any(
            argument == "strong" or ctx.lower[start:end] in _STRONG_PET for start, end, argument in hits
        )
    return pet


_STRONG_PET = frozenset(
    words("veterinary veterinarian heartworm puppy puppies kitten kittens spay spayed neuter neutered")
)


def health_findings(ctx: ScanContext) -> list[Finding]:
    """Health findings, unmarked (``mark_general`` then tells the general ones)."""
    found: list[Finding] = []
    _dictionary(ctx, found)
    _doses(ctx, found)
    _lab_results(ctx, found)
    _icd_codes(ctx, found)
    _word_forms(ctx, found)
    return found


# --------------------------------------------------------------------------------------------
# Terms no dictionary lists, recognised by their form: medical word endings ("angioedema",
# "spirometry", "cholecystectomy"), eponymous diseases ("Gaucher disease"), injuries ("torn
# meniscus"), tests named by what they examine ("hearing evaluation", "lipid panel"), and a test
# followed by its reading ("Lyme antibody positive", "blood cultures no growth").

_CONDITION_ENDINGS = (
    "itis",
    "osis",
    "emia",
    "aemia",
    "oma",
    "omas",
    "pathy",
    "pathies",
    "plasia",
    "algia",
    "edema",
    "oedema",
    "trophy",
    "uria",
    "penia",
    "rrhea",
    "rrhoea",
    "rrhage",
    "megaly",
    "ectasis",
    "sclerosis",
    "stenosis",
    "cele",
)
_PROCEDURE_ENDINGS = (
    "ectomy",
    "ectomies",
    "otomy",
    "ostomy",
    "oscopy",
    "oscopies",
    "plasty",
    "graphy",
    "metry",
    "centesis",
    "gram",
    "grams",
    "therapy",
    # Spanish: "endoscopia", "radiografía" (accents are folded), "apendicectomía", "fisioterapia".
    "scopia",
    "grafia",
    "ectomia",
    "plastia",
    "terapia",
)
_NOT_MEDICAL = frozenset(
    words(
        "diagnosis prognosis hypnosis osmosis symbiosis metamorphosis apotheosis diploma diplomas aroma "
        "aromas oklahoma tacoma sonoma paloma soma stoma empathy sympathy apathy telepathy antipathy "
        "nostalgia trophy photography geography biography bibliography calligraphy choreography "
        "demography typography cinematography autobiography orthography topography stenography "
        "lexicography oceanography cartography cryptography videography discography filmography geometry "
        "symmetry asymmetry trigonometry psychometry program programs diagram diagrams instagram telegram "
        "telegrams kilogram kilograms milligram milligrams microgram micrograms nanogram nanograms "
        "histogram histograms hologram anagram epigram monogram pictogram cryptogram ideogram "
        "parallelogram gram grams therapy therapies cele excel parcel"
    )
)
TABLE.add_endings(HEALTH_CUE, _CONDITION_ENDINGS, "ending_condition")
TABLE.add_endings(HEALTH_CUE, _PROCEDURE_ENDINGS, "ending_procedure")
TABLE.add(HEALTH_CUE, ["ct"], "ct")
TABLE.add(HEALTH_CUE, ["echo"], "echo")
# What a test showed: "ECG on 3/22 showed rate 118, irregularly irregular", "the images show
# crowding of the lower teeth", "screening shows no pathogenic variants detected".
TABLE.add(HEALTH_CUE, ["showed", "shows", "show", "revealed", "reveals", "demonstrated", "demonstrates"], "showed")
_SHOWING_TEST = re.compile(
    r"\b(?:ecg|ekg|echo|echocardiogram|x-?rays?|mri|ct|scan|ultrasound|images|imaging|biopsy|screening|bloodwork|"
    r"labs|panel|culture|mammogram|colonoscopy|endoscopy|monitor|recorder|exam|swab|test)\b[^.!?\n]{0,30}$",
    re.I,
)
_SHOWN = re.compile(r"[ \t]+(?:that[ \t]+)?([A-Za-z0-9][^.;!?\n]{2,60}?)(?=[ \t]*(?:[.;!?\n]|$))")
_CT_REGION = re.compile(
    r"[ \t]+(?:abdomen[ \t]+and[ \t]+pelvis|head|brain|chest|abdomen|pelvis|sinus|sinuses|spine|neck|angiogram|"
    r"angiography|scan|colonography|urogram)\b",
    re.I,
)
TABLE.add(HEALTH_CUE, ["disease", "syndrome", "disorder", "palsy", "anomaly", "deficiency"], "eponym")
TABLE.add(
    HEALTH_CUE,
    [
        "torn",
        "broken",
        "fractured",
        "sprained",
        "dislocated",
        "ruptured",
        "herniated",
        "pulled",
        "strained",
        "bruised",
        "injured",
        "separated",
        "cracked",
        "hurt",
    ],
    "injury",
)
TABLE.add(
    HEALTH_CUE,
    ["evaluation", "assessment", "study", "studies", "panel", "test", "testing", "screening", "exam", "examination"],
    "test_noun",
)
TABLE.add(
    HEALTH_CUE,
    [
        "strain",
        "sprain",
        "fracture",
        "tear",
        "contusion",
        "laceration",
        "abrasion",
        "dislocation",
        "sore",
        "ulcer",
        "wound",
        "burn",
        "injury",
        "break",
        "herniation",
        "protrusion",
        "bulge",
    ],
    "injury_noun",
)
# A lay description of something on the skin or under it, by where it is ("the spot on your
# shoulder", "a lump in her breast", "redness around the incision").
TABLE.add(
    HEALTH_CUE,
    words("spot spots mole moles rash lump lumps bump bumps lesion lesions growth patch blister redness swelling"),
    "lesion",
)
# Operations named by the region they treat ("lumbar fusion", "rotator cuff repair", "knee
# replacement", "ACL reconstruction").
TABLE.add(
    HEALTH_CUE,
    ["fusion", "replacement", "repair", "reconstruction", "arthroplasty", "decompression", "fixation"],
    "procedure_noun",
)
# A therapy named by its kind ("aquatic therapy", "dialectical behavior therapy"): the word alone
# is too common, and a capitalised one ends an organisation's name ("StrideWell Therapy").
TABLE.add(HEALTH_CUE, ["therapy", "therapies"], "therapy")
_THERAPY_KIND = re.compile(r"((?:[a-z][a-z-]{2,}[ \t]+){1,2})$")
_NOT_THERAPY_KIND = frozenset(
    words(
        "of for and or in on with to at by from is was are were be been this that our their its your his her my "
        "the a an any some no more less other same new retail about into after before during start started "
        "starting continue continued ordered recommended need needs needed"
    )
)
# What a patient reports ("Pt reports rectal bleeding x3 weeks", "patient complains of dizziness").
TABLE.add(
    HEALTH_CUE,
    ["pt reports", "patient reports", "complains of", "presents with", "presented with", "presenting with"],
    "complaint",
)
_COMPLAINT = re.compile(r"[ \t]+(?:(?:a|an|the|some|new|worsening)[ \t]+)?([a-z][^.;:!?\n]{2,50}?)[ \t]*(?=[.;!?\n]|$)")
# Clinical field labels: what follows "Diagnosis:" is a condition, "Treatment:" a procedure.
_FIELD_TYPES = {
    "diagnosis": CONDITION,
    "diagnoses": CONDITION,
    "dx": CONDITION,
    "diagnosis on order": CONDITION,
    "injuries reported": CONDITION,
    "injury": CONDITION,
    "injuries": CONDITION,
    "condition": CONDITION,
    "conditions": CONDITION,
    "reason for referral": CONDITION,
    "reason for visit": CONDITION,
    "chief complaint": CONDITION,
    "problem": CONDITION,
    "problems": CONDITION,
    "allergies": CONDITION,
    "treatment": PROCEDURE,
    "procedure": PROCEDURE,
    "procedures": PROCEDURE,
    "procedures performed": PROCEDURE,
    "procedure performed": PROCEDURE,
    "test ordered": PROCEDURE,
    "tests ordered": PROCEDURE,
    "surgery": PROCEDURE,
    "imaging": PROCEDURE,
    "therapy": PROCEDURE,
    "medication": MEDICATION,
    "medications": MEDICATION,
    "drug": MEDICATION,
    "prescribed": MEDICATION,
    # A report's reading: "Impression: BI-RADS 2, benign", "Findings: no acute fracture".
    "impression": LAB_RESULT,
    "impressions": LAB_RESULT,
    "findings": LAB_RESULT,
    "interpretation": LAB_RESULT,
}
for _label, _type in _FIELD_TYPES.items():
    TABLE.add(HEALTH_CUE, [_label], ("field", _type))
# A study before a report's "Impression:" or "Findings:".
_STUDY_BEFORE = re.compile(
    r"\b(?:ecg|ekg|echo(?:cardiogram)?|x-?rays?|mri|ct|pet|scan|ultrasound|sonogram|imaging|biopsy|mammogram|"
    r"colonoscopy|endoscopy|radiology|pathology|study|exam|test|labs?|cxr|dexa|eeg|emg|angiogram|culture)\b",
    re.I,
)
_FIELD_VALUE = re.compile(
    # An optional qualifier before the colon: "Condition (per certification): ...".
    r"[ \t]*(?:\([^()\n]{1,40}\)[ \t]*)?"
    r":[ \t]*(?:\n[ \t]*(?:[•*-][ \t]*)?)?([A-Za-z][^\n(;:|]{2,60}?)[ \t]*(?=[\n(;|]|\.(?:\s|$)|,[ \t]+(?:and|"
    r"stage)|$)"
)
TABLE.add(
    HEALTH_CUE,
    [
        "positive",
        "negative",
        "reactive",
        "nonreactive",
        "non reactive",
        "detected",
        "not detected",
        "no growth",
        "abnormal",
        "unremarkable",
        "benign",
        "malignant",
        "inconclusive",
    ],
    "reading",
)

_WORD_START = re.compile(r"[A-Za-z][A-Za-z'-]*$")
_EPONYM = re.compile(r"((?:[{'A-Z'}][a-zà-ÿ]+(?:-[A-Z][a-zà-ÿ]+)*(?:['’]s)?[ \t]+){1,3})$".replace("{'A-Z'}", "A-Z"))
_BODY_PART = (
    r"(?:(?:left|right|lower|upper)[ \t]+)?(?:acl|mcl|pcl|meniscus|ligament|tendon|achilles(?:[ \t]+tendon)?|"
    r"rotator[ \t]+cuff|"
    r"labrum|cartilage|hamstring|quad|quadriceps|calf|groin|muscle|disc|disk|vertebra|spine|back|neck|shoulder|"
    r"collarbone|clavicle|elbow|arm|forearm|wrist|hand|finger|thumb|rib|ribs|hip|pelvis|femur|thigh|knee|"
    r"kneecap|leg|shin|tibia|fibula|ankle|foot|heel|toe|jaw|nose|skull|eardrum|tooth|teeth|ulna|radius|"
    r"humerus|sternum|tailbone|coccyx)\b"
)
_INJURY_REGION = re.compile(
    r"\b(?:(?:lumbar|cervical|thoracic|sacral|spinal|pelvic|abdominal|groin|facial|scalp|hip|knee|ankle|wrist|"
    r"shoulder|elbow|hamstring|calf|neck|back|head|chest|rib|foot|hand|finger|toe|skin|stress|pressure|"
    r"disc|disk|vertebral|tibial|femoral|plateau|distal|proximal|left|right|"
    r"diabetic|venous|leg|rotator[ \t]+cuff|acl|mcl|meniscus|labral|achilles|corneal|partial|complete|"
    r"compound|hairline|greenstick|comminuted|second-degree|third-degree|first-degree)[ \t]+)+$",
    re.I,
)
_INJURY = re.compile(rf"[ \t]+(?:(?:his|her|their|your|the|a|an)[ \t]+)?{_BODY_PART}", re.I)
_LESION_SITE = re.compile(
    rf"[ \t]+(?:on|in|under|behind|near|around|over|along)[ \t]+(?:your|his|her|my|their|the)[ \t]+"
    rf"(?:(?:upper|lower|inner|outer|left|right)[ \t]+)?(?:{_BODY_PART}|face|cheek|forehead|scalp|chest|belly|"
    rf"abdomen|stomach|breast|lip|eyelid|ear|armpit|buttock|incision|scar|stitches|skin)\b",
    re.I,
)
_TEST_QUALIFIER = re.compile(
    r"(?:(?:hearing|vision|eye|speech|swallow|swallowing|balance|memory|cognitive|developmental|psychological|pain|"
    r"wound|nutrition|nutritional|functional|"
    r"neuropsychological|psychiatric|cardiac|cardiology|pulmonary|lung[ \t]+function|nerve[ \t]+conduction|sleep|"
    r"allergy|gait|urodynamic|sweat|stress|fall[ \t]+risk|lipid|metabolic|comprehensive[ \t]+metabolic|"
    r"basic[ \t]+metabolic|"
    r"thyroid|hepatic|liver|renal|kidney|electrolyte|coagulation|iron|respiratory|drug|std|sti|hepatitis|genetic|"
    r"prenatal|glucose|a1c|hemoglobin[ \t]+a1c|hba1c|cholesterol|psa|hiv|covid(?:-19)?|strep|tb|tuberculosis|"
    r"pregnancy|urine|stool|blood|bone[ \t]+density|hearing[ \t]+aid|audiology|vestibular|mental[ \t]+health|"
    r"depression|anxiety|autism|adhd|dementia|fitness[ \t]+for[ \t]+duty|pre-?operative|pre-?surgical|"
    r"cancer|colorectal[ \t]+cancer|breast[ \t]+cancer|lung[ \t]+cancer|skin[ \t]+cancer|cervical[ \t]+cancer|"
    r"prostate[ \t]+cancer|diabetic[ \t]+eye|diabetic[ \t]+foot|foot|skin|dental|oral)[ \t]+)$",
    re.I,
)
_TEST_NOUN_BEFORE = re.compile(
    r"((?:[\w-]+[ \t]+){0,2}(?:antibod(?:y|ies)|cultures?|tests?|screen(?:ing)?|panel|swab|pcr|antigen|titers?|"
    r"titres?|smear|biopsy|scan|x-?ray|mammogram|ultrasound|mri|ct|urinalysis|stool|specimen|pap|imaging|"
    r"results?|levels?|a1c|hba1c|ldl|psa|tsh)\b(?:(?P<when>[ \t]+(?:from|on|of|dated|taken|done|collected|drawn)\b"
    r"[^.!?\n]{0,24}?)?[ \t]+(?P<verb>is|was|were|are|came[ \t]+back|returned|showed|shows))?[ \t]*)$",
    re.I,
)


_NOT_EPONYM = _NOT_NAME | frozenset(
    words(
        "also and with has have had of in on for from rare chronic acute heart lung kidney liver this "
        "that these those such"
    )
)
_DETERMINERS = frozenset(words("your the a an my his her their our its this that these those"))


def _word_start(ctx: ScanContext, start: int) -> int:
    match = _WORD_START.search(ctx.text, max(0, start - 40), start)
    return match.start() if match is not None else start


def _word_forms(ctx: ScanContext, out: list[Finding]) -> None:
    text = ctx.text
    covered = [(f.start, f.end) for f in out]

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in covered)

    def widens(start: int, end: int) -> bool:
        # "rash on your forearm" over the dictionary's "rash": the longer span is the finding.
        return all(end <= a or start >= b or (start <= a and b <= end) for a, b in covered)

    for start, end, argument in ctx.hits.get(HEALTH_CUE, ()):
        found: Finding | None = None
        if argument == "echo":
            # "Ana's echo", "your echo": an echocardiogram; the word alone is too common.
            lead = ctx.lower[max(0, start - 6) : start]
            if not (lead.endswith(_POSSESSIVES) and _POSSESSIVE_BEFORE.search(lead)):
                continue
            found = Finding(PROCEDURE, start, end, 0.7, "form.echo")
        elif argument == "ct":
            # "CT of the cervical spine", "CT chest": the abbreviation only with what it images.
            extent = _OF_BODY_PART.match(text, end) or _REGION_AFTER.match(text, end) or _CT_REGION.match(text, end)
            if text[start:end] != "CT":
                continue
            if extent is not None:
                found = Finding(PROCEDURE, start, extent.end(), 0.75, "form.imaging")
            else:
                region = _REGION_BEFORE.search(text, max(0, start - 16), start)
                if region is None:
                    continue
                found = Finding(PROCEDURE, region.start(), end, 0.75, "form.imaging")
        elif argument == "showed":
            shown = _SHOWN.match(text, end)
            if shown is None or _SHOWING_TEST.search(text, max(0, start - 60), start) is None:
                continue
            found = Finding(LAB_RESULT, shown.start(1), shown.end(1), 0.6, "lab.shown")
        elif argument in ("ending_condition", "ending_procedure"):
            begin = _word_start(ctx, start)
            word = ctx.lower[begin:end]
            # Three letters or more before the ending ("arthritis", not "-itis"); two for "itis" ("otitis").
            least = 2 if ctx.lower[start:end] == "itis" else 3
            if (
                end - begin < len(word)
                or word in _NOT_MEDICAL
                or end - begin < (end - start) + least
                or "-" in word[:1]
            ):
                continue
            kind = CONDITION if argument == "ending_condition" else PROCEDURE
            if _not_care(ctx, begin, end, kind):
                continue
            found = Finding(kind, begin, end, 0.6, f"form.{kind.lower()}_ending")
        elif argument == "eponym":
            if not text[start].islower():
                continue
            before = _EPONYM.search(text, max(0, start - 50), start)
            if before is None:
                continue
            begin = before.start(1)
            while begin < start:
                first = text[begin:start].split()[0]
                if first.lower().rstrip("'’s") not in _NOT_EPONYM:
                    break
                begin += len(first)
                while begin < start and text[begin] in " \t":
                    begin += 1
            if begin >= start:
                continue
            found = Finding(CONDITION, begin, end, 0.7, "form.eponym")
        elif argument == "injury":
            part = _INJURY.match(text, end)
            if part is None:
                continue
            found = Finding(CONDITION, start, part.end(), 0.7, "form.injury")
        elif argument == "test_noun":
            qualifier = _TEST_QUALIFIER.search(text, max(0, start - 40), start)
            if qualifier is None:
                continue
            found = Finding(PROCEDURE, qualifier.start(), end, 0.7, "form.test")
        elif argument == "procedure_noun":
            region = _INJURY_REGION.search(text, max(0, start - 40), start)
            if region is None or not text[start].islower():
                continue
            found = Finding(PROCEDURE, region.start(), end, 0.7, "form.procedure")
        elif argument == "therapy":
            if not text[start].islower():
                continue
            kind_words = _THERAPY_KIND.search(text, max(0, start - 40), start)
            if kind_words is None:
                continue
            begin = kind_words.start(1)
            for word in kind_words.group(1).split():
                if word not in _NOT_THERAPY_KIND:
                    break
                begin += len(word)
                while text[begin] in " \t":
                    begin += 1
            if begin >= start:
                continue
            found = Finding(PROCEDURE, begin, end, 0.65, "form.therapy")
        elif argument == "complaint":
            value = _COMPLAINT.match(text, end)
            if value is None:
                continue
            found = Finding(CONDITION, value.start(1), value.end(1), 0.6, "field.value")
        elif argument == "lesion":
            site = _LESION_SITE.match(text, end)
            if site is None:
                continue
            found = Finding(CONDITION, start, site.end(), 0.65, "form.lesion")
        elif argument == "injury_noun":
            region = _INJURY_REGION.search(text, max(0, start - 40), start)
            if region is None:
                continue
            found = Finding(CONDITION, region.start(), end, 0.7, "form.injury")
        elif argument.__class__ is tuple and argument[0] == "field":
            if not text[start].isupper() and (start == 0 or text[start - 1] != "\n"):
                continue  # a label opens its line or is capitalised ("Diagnosis: ...")
            value = _FIELD_VALUE.match(text, end)
            if value is None:
                continue
            if argument[1] == LAB_RESULT:
                if not _STUDY_BEFORE.search(text, max(0, start - 300), start):
                    continue  # "Findings: 3 fire doors propped open": an audit, not a study's reading
            elif value.group(1).lower().startswith(("none", "n/a", "see ", "no ", "not ")):
                continue  # "Allergies: none"; but "Impression: no acute findings" is a reading
            found = Finding(argument[1], value.start(1), value.end(1), 0.65, "field.value")
        elif argument == "reading":
            noun = _TEST_NOUN_BEFORE.search(text, max(0, start - 60), start)
            if noun is None or "\n" in text[noun.start(1) : start]:
                continue
            if noun.group("when"):
                # "your COVID test from Dec 3rd came back negative": the test is a finding of its
                # own, the reading starts at the verb.
                found = Finding(LAB_RESULT, noun.start("verb"), end, 0.7, "lab.reading")
                if free(found.start, found.end):
                    out.append(found)
                    covered.append((found.start, found.end))
                continue
            begin = noun.start(1)
            head = text[begin:start].split()
            while head and (head[0].lower() in _DETERMINERS or not head[0][0].isalnum()):
                begin = text.index(head[1], begin + len(head[0])) if len(head) > 1 else start
                head = head[1:]
            found = Finding(LAB_RESULT, begin, end, 0.7, "lab.reading")
        if found is not None and (
            free(found.start, found.end)
            or found.rule == "lab.reading"
            or (found.rule in ("form.lesion", "form.injury", "field.value") and widens(found.start, found.end))
        ):
            # A reading spans its test ("biopsy was benign"): it outranks the test's dictionary term.
            out.append(found)
            covered.append((found.start, found.end))


# --------------------------------------------------------------------------------------------
# Health context: the message is about someone's care even where no term is named.

_CARE_NOUN = (
    r"(?:appointments?|appt|check-?ups?|checkups?|exams?|examinations?|consultations?|consults?|"
    r"procedures?|surgery|surgeries|operations?|screenings?|tests?|lab\s+work|labs|blood\s?work|results?|"
    r"prescriptions?|refills?|treatments?|therapy|therapies|infusions?|vaccinations?|immuni[sz]ations?|"
    r"bills?|statements?|invoices?|balance|co-?pays?|co-?payments?|claims?|eob|explanation\s+of\s+benefits|"
    r"diagnosis|care\s+plan|treatment\s+plan|referrals?|admission|discharge|hospital\s+stay|biopsy|mri|"
    r"x-?rays?|ultrasound|ct(?:\s+scan)?|echocardiogram|ekg|ecg|imaging|pathology\s+report|follow-?up|pre-?op|post-?op|recovery|condition|symptoms|dose|dosage|"
    r"injections?|pregnancy|telehealth\s+visit|virtual\s+visit|video\s+visit|dental\s+cleaning|hearing\s+aids?|"
    r"specimen|insurance\s+claim|prior\s+authori[sz]ation|supplies|supply\s+order|test\s+strips|"
    r"annual\s+(?:physical|exam|wellness\s+visit)|physical|wellness\s+(?:visit|exam)|mammogram|colonoscopy|"
    r"(?:lens\s+)?fittings?|"
    r"flu\s+shot|vaccine|booster|e-?visit|(?:upcoming|scheduled|recent|last|today's|missed|cancell?ed|"
    r"rescheduled)\s+visit)"
)
# Phrases of care, each with the words it may start with: the automaton finds those words and only
# the phrases starting with the word found are tried there (searching the whole text with every
# phrase would cost more than the rest of the scan).
_CONTEXT_PHRASES: tuple[tuple[str, str], ...] = (
    ("your", rf"your[ \t]+(?:[a-z0-9'-]+[ \t]+){{0,2}}?{_CARE_NOUN}\b"),
    (
        "your",
        r"your[ \t]+(?:next|first|upcoming|scheduled)[ \t]+(?:appointment|appt|visit)[ \t]+(?:is|on|with|at|has|"
        r"will)\b",
    ),
    (
        "your",
        r"your[ \t]+(?:recent[ \t]+)?(?:visit|appointment|appt|stay)[ \t]+(?:with|on|to\s+(?:see|dr)|at|yesterday|"
        r"today|last)\b",
    ),
    ("your", r"your\s+doctor\s+(?:has|ordered|prescribed|referred|recommends|wants)\b"),
    (
        "medication medications medicine medicines refill refills order prescription prescriptions",
        r"(?:medications?|medicines?|refills?|order|prescriptions?)\s+(?:is|are)\s+(?:ready|waiting|on\s+hold)\b",
    ),
    (
        "appointment appt visit procedure surgery exam consultation check checkup",
        r"(?:appointment|appt|visit|procedure|surgery|exam|consultation|check-?up)\s+(?:is|has\s+been|was|will\s+be)\s+"
        r"(?:confirmed|scheduled|booked|rescheduled|cancell?ed|moved|changed|set|coming\s+up|tomorrow|today)",
    ),
    (
        "appointment appt visit",
        r"(?:appointment|appt|visit)\s+(?:reminder|confirmation|on|for\s+(?:your|you)|with\s+(?:dr|doctor|nurse|"
        r"your))\b",
    ),
    ("reminder remind", r"(?:reminder|remind\s+you)\b[^.\n]{0,40}\b(?:appointment|appt|visit)\b"),
    (
        "you",
        r"you(?:\s+are|\s+were|\s+have\s+been|['’]re|\s+will\s+be|['’]ll\s+be)\s+(?:all\s+set|scheduled|booked|due|"
        r"overdue|admitted|discharged|diagnosed|prescribed|referred|seen|treated|checked\s+in|approved\s+for|"
        r"cleared\s+for|confirmed)\b",
    ),
    (
        "booking appointment appt visit reservation",
        r"(?:booking|appointment|appt|visit|reservation)\s+(?:is\s+)?confirmed\b",
    ),
    (
        "you",
        r"you\s+(?:recently\s+|just\s+)?(?:have|had)\s+(?:an?\s+)?(?:upcoming\s+|scheduled\s+|new\s+)?(?:appointment|appt|visit|procedure|"
        r"surgery|test|referral|balance|prescription)\b",
    ),
    (
        "has have",
        r"(?:has|have)\s+(?:an?\s+)?(?:upcoming\s+|scheduled\s+)?(?:appointment|appt|visit|cleaning|procedure|surgery|"
        r"exam|check-?up|screening|session|consultation|follow-?up)\s+(?:on|at|with|scheduled|tomorrow|today|this|next)\b",
    ),
    (
        "we",
        r"we\s+(?:have\s+)?(?:scheduled|booked|received\s+your(?!\s+(?:request|application|inquiry|enquiry|message|"
        r"question|feedback|comments?|form|email|e-mail|call)\b)|reviewed\s+your|processed\s+your|filled\s+your|"
        r"sent\s+your|shipped\s+your|mailed\s+your)\b",
    ),
    # "due for your mammogram", not "due for recredentialing" or "due for renewal" (paperwork).
    (
        "due overdue",
        r"(?:due|overdue)\s+for\s+(?:your|a|an|the)?\s*(?!(?:re)?(?:credential|certif|new|verif|validat|enrol|regist|"
        r"payment|review|upgrade|inspection|audit|training|license|licence|password|update|audit|servic|maintenance|oil|"
        r"tire|tyre|its\b|preventi?ve\s+maint)\w*)[\w-]+",
    ),
    (
        "cleaning session physio therapy scan screening test surgery procedure exam appointment appt visit consult "
        "consultation checkup check draw infusion injection",
        r"(?:cleaning|session|physio|therapy|scan|screening|test|surgery|procedure|exam|appointment|appt|visit|"
        r"consult(?:ation)?|check-?up|draw|infusion|injection)\s+(?:is\s+|has\s+been\s+|was\s+)?(?:booked|scheduled|"
        r"confirmed|rescheduled|moved)\b",
    ),
    ("time", r"time\s+(?:for|to\s+schedule|to\s+book)\s+your\b"),
    (
        "records",
        r"records\s+show\s+(?:that\s+)?you\s+(?:are|were|have|haven't|had|last|missed|did|filled|received|"
        r"picked\s+up|got)\b",
    ),
    (
        "have haven has hasn",
        r"(?:have\s+not|haven't|has\s+not|hasn't)\s+(?:yet\s+)?(?:had|received|completed|scheduled|picked\s+up)\b",
    ),
    (
        "supplies supply test refill cpap",
        r"(?:supplies|supply\s+order|test\s+strips|cpap\s+supplies|refill\s+order)\s+(?:has|have|is|are|was|were|"
        r"will)\b",
    ),
    (
        "test lab biopsy imaging pathology screening blood bloodwork x xray mri scan ct culture",
        r"(?:test|lab|biopsy|imaging|pathology|screening|blood\s?work|x-?ray|mri|scan|ct|culture)\s+results?\b",
    ),
    (
        "result results",
        r"results?\s+(?:(?:from|of|for)\s+your\s+[^.\n]{2,60}?\s+)?(?:are|is|were|was)\s+(?:now\s+)?(?:ready|"
        r"available|in|back|normal|abnormal|positive|negative|elevated|within)",
    ),
    (
        "prescription prescriptions",
        r"prescriptions?\b[^.\n]{0,40}\b(?:ready|filled|refill|refilled|pick\s?-?up|picked\s+up|transferred|renewal|"
        r"renew|renewed|expired|expiring|sent|on\s+hold|due)\b",
    ),
    ("ready", r"ready\s+for\s+pick\s?-?\s?up\b"),
    (
        "diagnosis diagnoses injury injuries treatment procedure procedures condition conditions reason chief "
        "symptoms medication medications allergies prescribed result results vitals immunizations immunisations",
        r"(?:diagnos[ie]s|injur(?:y|ies)(?:\s+reported)?|treatment|procedures?(?:\s+performed)?|conditions?|"
        r"reason\s+for\s+(?:visit|referral)|chief\s+complaint|symptoms|medications?|allergies|prescribed|"
        r"results?|vitals|immuni[sz]ations)\s*:",
    ),
    ("refill refills", r"refills?\s+(?:remaining|left|available|due|request|requested|approved|denied)\b"),
    (
        "amount balance patient date dates services statement billed insurance past outstanding visit after "
        "discharge hospital inpatient emergency er urgent appointment check arrival pre preop post postop prep bowel "
        "fasting care treatment",
        r"(?:amount\s+due|balance\s+due|patient\s+responsibility|dates?\s+of\s+service|services\s+rendered|"
        r"statement\s+of\s+services|billed\s+to\s+your\s+insurance|insurance\s+(?:paid|adjustment|payment)|"
        r"past\s+due\s+balance|outstanding\s+balance|visit\s+summary|after[- ]visit\s+summary|discharge\s+"
        r"(?:instructions|summary|papers)|hospital\s+stay|inpatient\s+stay|emergency\s+(?:room|department)\s+visit|"
        r"er\s+visit|urgent\s+care\s+visit|date\s+of\s+visit|visit\s+date|appointment\s+(?:date|time|details)|"
        r"check-?in\s+time|arrival\s+time|pre-?op(?:erative)?\s+instructions|post-?op(?:erative)?\s+instructions|"
        r"prep\s+instructions|bowel\s+prep|fasting\s+instructions|care\s+instructions|treatment\s+plan|care\s+plan)\b",
    ),
    (
        "bill bills statement statements invoice invoices charge charges payment balance",
        r"(?:bills?|statements?|invoices?|charges?|payment|balance)\s+for\s+(?:your\s+)?(?:recent\s+)?(?:visit|services|care|"
        r"treatment|procedure|stay|appointment|surgery|exam|lab\s+work|test)\b",
    ),
    (
        "diagnosed diagnosis treated admitted discharged prescribed referred dispensed pharmacist",
        r"(?:diagnosed\s+with|diagnosis\s+of|treated\s+for|admitted\s+(?:to|on|for)|discharged\s+(?:from|on)|"
        r"prescribed\s+(?:you|for|a|an|the)|referred\s+(?:you\s+)?to\s+(?:dr|a|an|our)|dispensed|"
        r"pharmacist\s+(?:has|will))\b",
    ),
    # A session with a clinician or of a therapy: behavioural health, physio, infusions.
    (
        "your",
        r"your\s+(?:[a-z-]+\s+)?session\s+(?:with|tomorrow|today|(?:this|next)\s+week|on\s+(?:mon|tue|wed|thu|fri|sat|"
        r"sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|\d))",
    ),
    (
        "counseling counselling psychotherapy psychiatry psychiatric therapy behavioral behavioural mental",
        r"(?:counsel+ing|psychotherapy|psychiatr(?:y|ic)|therapy|(?:behaviou?ral|mental)\s+health)\s+(?:session|"
        r"appointment|appt|visit|intake|evaluation)s?\b",
    ),
    # Spanish: "su cita", "su receta", "sus resultados".
    (
        "su sus",
        r"sus?\s+(?:pr[oó]xima\s+)?(?:cita|citas|receta|recetas|resultados?|consulta|tratamiento|medicamentos?|"
        r"vacunas?|cirug[ií]a|examen|an[aá]lisis|estudio)\b",
    ),
    # Something of the reader's booked, whatever it is called ("su ultrasonido obstétrico está
    # programado para el 3 de septiembre").
    (
        "su sus",
        r"sus?\s+(?:[^\W\d_]+\s+){1,3}?(?:est[aá]n?|quedan?|ha\s+sido|han\s+sido|fue|fueron)\s+(?:programad|"
        r"confirmad|agendad|reprogramad|cancelad)[oa]s?\b",
    ),
    # A debt sent to collections, in Spanish ("para evitar que sea enviada a cobranza").
    ("cobranza cobranzas", r"cobranzas?\b"),
    # A visit by its date or clinician, in a receipt or statement ("Applied to visit of 07/11/2027").
    (
        "visit",
        r"visit\s+(?:of|dated)\s+(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?(?:\d|jan|feb|mar|apr|may|jun|"
        r"jul|aug|sep|oct|nov|dec)",
    ),
    ("applied", r"applied\s+to\s+(?:your\s+|the\s+)?(?:visit|services?|date\s+of\s+service|procedure|treatment)\b"),
    # Field-labelled appointments ("Appointment: 06/24/2027 1:00 PM", "Visit type: Follow-up").
    (
        "appointment appt",
        r"(?:appointment|appt)(?:\s+(?:date|time|date/time|date\s+and\s+time|date\s+&\s+time))?[ \t]*:[ \t]*"
        r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?[ \t]+)?(?:\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
    ),
    ("visit", r"visit\s+(?:type|reason|date|time)[ \t]*:"),
    # A consultation on a date or with a doctor ("la consulta del 3 de febrero", "cita con la Dra.
    # Ruiz"), an appointment asked for ("¿me pueden dar cita?").
    (
        "cita citas consulta visita",
        r"(?:citas?|consulta|visita)\s+(?:del|el|para\s+el|con\s+(?:el|la)\s+(?:dra?|doctora?))\b\.?\s*(?:\d|lunes|"
        r"martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo|pr[oó]xim[oa]|[a-z]+\b)",
    ),
    ("dar darme darle pedir sacar", r"(?:dar|darme|darle|pedir|sacar)\s+(?:una\s+)?cita\b"),
    # An appointment by its parts ("crown prep w/ Dr. Vuong on 5/12", "with Dr. Reyes at 10:40") and
    # a clinician's next step with the reader ("Dr. Obi will call you", "will review the photos").
    (
        "dr doctor",
        r"(?:(?<=with\s)|(?<=w/\s)|(?<=w/))(?:dr|doctor)\.?\s+[\w'’-]+(?:\s+[\w'’-]+)?\s+(?:on|at|tomorrow|today|"
        r"this|next)\b",
    ),
    (
        "dr doctor",
        r"(?:dr|doctor)\.?\s+[\w'’-]+(?:\s+[\w'’-]+)?\s+will\s+(?:call\s+you|see\s+you|contact\s+you|follow\s+up\s+with\s+you|"
        r"(?:review|discuss|go\s+over)\s+(?:them|it|this|these|your|the\s+(?:results?|photos?|pictures?|images?|"
        r"report|scans?|findings)|with\s+you))\b",
    ),
    # A product the reader was given ("a medication you received", "the vaccine you were given").
    (
        "medication medications medicine medicines prescription prescriptions vaccine vaccines device",
        r"(?:medications?|medicines?|prescriptions?|vaccines?|device)\s+(?:that\s+)?you\s+(?:received|filled|"
        r"picked\s+up|were\s+(?:given|prescribed)|are\s+taking|took)\b",
    ),
    # A debt for care: a collection notice naming a medical creditor (see _MEDICAL_CREDITOR).
    (
        "collect debt collection collections",
        r"(?:collect\s+(?:a|this|the|your)\s+(?:debt|balance|account)|debt\s+collect(?:or|ion)|collections?\s+"
        r"(?:agency|notice|account|department))\b",
    ),
)
# Words of a care provider's name: a debt owed to one is a bill for care.
_MEDICAL_CREDITOR = re.compile(
    r"\b(?:Medical|Clinic|Cl[ií]nica|M[eé]dic[oa]|Hospital|Health|Healthcare|Dental|Dentistry|Physicians?|Surgery|"
    r"Surgical|Imaging|Radiology|Pediatrics|Orthopa?edics|Cardiology|Dermatology|Laboratory|Labs|Urgent\s+Care|"
    r"Emergency|Ambulance|Therapy|Anesthesia|Pathology)\b"
)
_DEBT_WORDS = frozenset(words("collect debt collection collections cobranza cobranzas"))
_BILLING = re.compile(r"(?i)\b(?:bills?|statements?|invoices?|balance|charges?|payment|amount\s+due|balance\s+due)\b")
# A supplier's wording: the organisation is the customer ("Invoice number", "Customer code",
# "42 deliveries", "Service period", "remit to", "net 30").
TABLE.add(
    VENDOR_CUE,
    """customer code|customer number|customer no|customer id|customer account|vendor|supplier|deliveries|
    delivery window|service period|remit to|net 15|net 30|net 45|net 60|purchase order|po number|account manager|
    per unit|unit price|wholesale""".replace("\n", "").split("|"),
)


def _vendor_message(ctx: ScanContext) -> bool:
    return VENDOR_CUE in ctx.hits


# The words phrases of care start with: a kind of their own, so that only they are looked at.
CARE_CUE = "care"


def _context_patterns() -> dict[str, re.Pattern[str]]:
    by_word: dict[str, list[str]] = {}
    for starts, phrase in _CONTEXT_PHRASES:
        for word in starts.split():
            by_word.setdefault(word, []).append(phrase)
    return {word: re.compile("|".join(f"(?:{p})" for p in phrases), re.I) for word, phrases in by_word.items()}


_CONTEXT_BY_WORD = _context_patterns()
for _word in _CONTEXT_BY_WORD:
    TABLE.add(CARE_CUE, [_word], _word)


# --------------------------------------------------------------------------------------------
# Phrases of care that are not about care here.
#
# A feature list: "With MyLakeshore you can message your care team, request appointments, view test
# results and pay bills online" says what a portal does, not that anyone has results or a bill.
CAPABILITY_CUE = "can"
TABLE.add(
    CAPABILITY_CUE,
    """you can|you'll be able to|you will be able to|lets you|let you|allows you to|allow you to|enables you to|
    helps you|where you can|puede|podrá|podra""".replace("\n", "").split("|"),
)
_FEATURE_VERB = re.compile(
    r"(?i)\b(?:view|see|check|request|schedule|book|pay|message|manage|access|refill|renew|download|update|track|"
    r"review|print|share|ver|pagar|solicitar|programar)\b"
)
_PREDICATE_AFTER = re.compile(r"\s+(?:is|are|was|were|has|have|had|will|came|come)\b", re.I)


def _in_feature_list(ctx: ScanContext, found: re.Match[str], anchors: list[tuple[int, int]]) -> bool:
    """The phrase is a bare noun ("test results", "your bills") in a sentence listing what the
    reader can do ("you can ... request appointments, view test results and pay bills"), with no
    date or name in it ("you can use it at your next appointment on June 2" is an appointment)."""
    begin, stop = _sentence_of(ctx, found.start(), found.end())
    if not _count(_cue_starts(ctx, CAPABILITY_CUE), begin, found.start()):
        return False
    if _PREDICATE_AFTER.match(ctx.text, found.end()) or _PREDICATE_AFTER.search(found.group()):
        return False  # "your results are ready, you can ..."
    if any(begin <= a and b <= stop for a, b in anchors):
        return False
    return len(_FEATURE_VERB.findall(ctx.text, begin, stop)) >= 2


# A claim, bill, statement or visit of something that is not care: "your auto claim was updated",
# "the adjuster visit is booked".
_NOT_CARE_ACCOUNT = re.compile(
    r"(?i)(?:auto|car|vehicle|motor|collision|property|homeowners?|homeowner['’]s|renters?|travel|luggage|baggage|pet|"
    r"theft|utility|tuition|parking|membership|gym|subscription|cafeteria|gift|adjuster|site|sales|technician|"
    r"installer|contractor|inspection|inspector)"
)
_NOT_CARE_NOUN = re.compile(r"(?i)\b(?:claims?|bills?|statements?|invoices?|visits?|appointments?)\b")
_QUALIFIER_BEFORE = re.compile(r"(?i)\b([a-z'’]+)[ \t]+$")
# A roster, shift or event: "You're confirmed for: Saturday, October 16 — Information Desk" in a
# volunteer's or an employee's message is a place on a rota, not an appointment.
WORK_CUE = "work"
TABLE.add(
    WORK_CUE,
    """volunteer|volunteers|volunteering|shift|shifts|orientation|training|employee|employees|new hire|interview|
    webinar|class|classes|workshop|workshops|seminar|tour|fair|event|events|meeting|conference|rsvp|your spot|
    attendee|attendees|support group|course|lecture|credentialing|recredentialing|reappointment|privileges|cme|
    onboarding|payroll|timesheet""".replace("\n", "").split("|"),
)
# An account's security: "new sign-in on 5/8 at 9:12 PM, reply Y if this was you" books no one.
TABLE.add(
    WORK_CUE,
    """sign-in|sign in|signed in|log in|login|logged in|password|passcode|verification code|security code|
    one-time code|new device|this was you""".replace("\n", "").split("|"),
)
_ROSTER_PHRASE = re.compile(
    r"(?i)^you(?:\s+are|\s+were|\s+have\s+been|['’]re|\s+will\s+be|['’]ll\s+be)\s+(?:all\s+set|scheduled|booked|"
    r"confirmed|due|approved\s+for|cleared\s+for)$"
)
_CARE_NOUN_RE = re.compile(rf"(?i)\b{_CARE_NOUN}\b")


def _not_care_here(ctx: ScanContext, found: re.Match[str], anchors: list[tuple[int, int]]) -> bool:
    phrase = found.group()
    if CAPABILITY_CUE in ctx.hits and _in_feature_list(ctx, found, anchors):
        return True
    noun = _NOT_CARE_NOUN.search(phrase)
    if noun is not None:
        # The word just before the noun says what it is for ("auto claim"; "travel vaccine appointment").
        if noun.start():
            before = _QUALIFIER_BEFORE.search(phrase, 0, noun.start())
        else:
            before = _QUALIFIER_BEFORE.search(ctx.text, max(0, found.start() - 24), found.start())
        if before is not None and _NOT_CARE_ACCOUNT.fullmatch(before.group(1)):
            return True
    if WORK_CUE in ctx.hits and _ROSTER_PHRASE.match(phrase):
        begin, stop = _sentence_of(ctx, found.start(), found.end())
        return _CARE_NOUN_RE.search(ctx.text, begin, stop) is None
    return False


# --------------------------------------------------------------------------------------------
# A care provider writing to someone about a service. Many reminders, statements and receipts use
# no phrase of care: "Smile Studio Dental: Reminder for Renée A. — 5/29 @ 2:15 PM. Reply Y to
# confirm", "you have a new statement from Maple Grove Family Medicine. Balance: $212.96",
# "Clearview BH: Ravi, group session moves to Room 4". What makes them about care is who writes and
# about what: a sender whose name says it gives care (a clinic, a practice, a hospital, a dental
# office, a pharmacy, a behavioural health service) and a service it gives the reader (a bill or
# balance, a booked slot, a session). Either alone is not enough: a hospital also sends volunteer
# rotas, gift-shop receipts and event invitations, and a gym sends reminders and bills.
PROVIDER_CUE = "provider"
TABLE.add(
    PROVIDER_CUE,
    """clinic|clinics|clínica|clinica|hospital|hospitals|dental|dentistry|orthodontics|pediatrics|paediatrics|
    pharmacy|farmacia|family medicine|internal medicine|family practice|medical group|medical center|medical centre|
    medical associates|medical clinic|medical office|health partners|health center|health centre|health clinic|
    health system|behavioral health|behavioural health|mental health|women's health|womens health|home health|
    urgent care|physical therapy|physiotherapy|counseling|counselling|psychiatry|dermatology|cardiology|oncology|
    orthopedics|orthopaedics|radiology|imaging|laboratory|optometry|eye care|eye center|vision center|audiology|
    hearing center|chiropractic|dialysis|surgery center|surgical center|physicians|centro médico|centro medico|
    consultorio|bh""".replace("\n", "").split("|"),
)
_NOT_PROVIDER_AFTER = re.compile(
    r"(?:[ \t]+[A-Z][\w'’&-]*){0,2}?[ \t]+(?:Foundation|Gift|Caf[eé]|Cafeteria|Parking|Plan|Insurance|Volunteer|"
    r"Volunteers|Careers|Auxiliary|Store|Shop|Fitness|Gym|Garage|Association|Society|Board)\b"
)
SERVICE_CUE = "service"
TABLE.add(
    SERVICE_CUE,
    """statement|statements|balance|balance due|amount due|amount owed|past due|past-due|overdue|bill|invoice|
    patient portion|your portion|patient responsibility|saldo|factura|estado de cuenta""".replace("\n", "").split("|"),
    "bill",
)
TABLE.add(
    SERVICE_CUE,
    """reminder for|reply y|reply yes|reply c|reply 1|to reschedule|recordatorio|responda si|
    responda sí""".replace("\n", "").split("|"),
    "slot",
)
TABLE.add(SERVICE_CUE, ["see you"], "see")
TABLE.add(
    SERVICE_CUE,
    """group session|individual session|therapy session|counseling session|counselling session|your session|
    next session|sesión|sesion""".replace("\n", "").split("|"),
    "session",
)
# Not a bill for care: a shop's order, a donation, a premium, a fee for a place at an event.
RETAIL_CUE = "retail"
TABLE.add(
    RETAIL_CUE,
    """order|orders|shop|gift|gifts|cafeteria|café|cafe|menu|donation|donations|premium|premiums|tuition|
    registration|parking|permit|membership|subscription|ticket|tickets|merchandise""".replace("\n", "").split("|"),
)
_MONEY = re.compile(r"[$€£][ \t]?(?!0+(?:\.0+)?(?![\d.,]))\d")  # an amount, not $0.00
_NO_BEFORE = re.compile(r"(?i)\bno[ \t]+$")
# "See you Thursday 3/9", "see you on the 4th", "see you tomorrow"; not "see you soon", "see you at the 5K".
_SEE_YOU_WHEN = re.compile(
    r"(?i)[ \t]+(?:on[ \t]+|this[ \t]+|next[ \t]+)?(?:mon|tue|wed|thu|fri|sat|sun|tomorrow|today|tonight|jan|feb|mar|"
    r"apr|may|jun|jul|aug|sep|oct|nov|dec|the[ \t]+\d|\d)"
)
_CLOCK_TIME = re.compile(r"(?i)\b\d{1,2}(?::\d{2})?[ \t]?[ap]\.?[ \t]?m\b\.?|\b\d{1,2}:\d{2}\b|\b\d{1,2}[ \t]?h\b")


_PROPER_BEFORE = re.compile(r"[A-Z][\w'’&-]*[ \t]+$")
_PROPER_AFTER = re.compile(r"[ \t]+(?:(?:de|del|of|for)[ \t]+)?[A-Z]")


def _care_provider(ctx: ScanContext) -> bool:
    """A care provider's name in the message: a provider word in a name of capitalised words ("Maple
    Grove Family Medicine", "Clearview BH", "Hospital Riverside", "Clínica San Rafael"), not one of
    its shops or funds ("Riverside Hospital Gift Shop"); not "Imaging results are ready"."""
    text = ctx.text
    for start, end, _ in ctx.hits.get(PROVIDER_CUE, ()):
        if not text[start].isupper() or text[start:end] == "Bh":
            continue  # a lower-case word; the abbreviation only in capitals
        if _NOT_PROVIDER_AFTER.match(text, end):
            continue
        if _PROPER_BEFORE.search(text, max(0, start - 40), start) or _PROPER_AFTER.match(text, end):
            return True
    return False


def _provider_service(ctx: ScanContext, anchors: list[tuple[int, int]]) -> bool:
    """A care provider's name and a service it gives the reader (see above)."""
    services = ctx.hits.get(SERVICE_CUE)
    if not services or PROVIDER_CUE not in ctx.hits or not _care_provider(ctx):
        return False
    text = ctx.text
    work = WORK_CUE in ctx.hits
    for start, end, kind in services:
        if kind == "bill":
            if _vendor_message(ctx) or any(a <= start < b for a, b in anchors):
                continue  # a supplier's invoice; a name ("Bill Dubois, Health Information Management")
            begin, stop = _sentence_of(ctx, start, end)
            if _MONEY.search(text, begin, stop) is None or _NO_BEFORE.search(text, max(0, start - 8), start):
                continue  # an amount in its sentence: "Balance: $212.96", not "no balance is due"
            if _count(_cue_starts(ctx, RETAIL_CUE), begin, stop):
                continue
            return True
        if work:
            continue  # a slot or a session on a rota, at an event, or an account's security notice
        if kind == "see" and _SEE_YOU_WHEN.match(text, end) is None:
            continue
        if kind != "session" and _CLOCK_TIME.search(text) is None:
            continue
        return True
    return False


def health_context(ctx: ScanContext, anchors: list[tuple[int, int]] | None = None) -> bool:
    """Whether some phrase of care (see ``_CONTEXT_PHRASES``) stands in a sentence about the person,
    or a care provider writes about a service it gives (``_provider_service``).
    ``anchors``: spans of dates and names, as for ``about_the_person``."""
    text = ctx.text
    if about_a_pet(ctx):
        return False
    for start, _, word in ctx.hits.get(CARE_CUE, ()):
        found = _CONTEXT_BY_WORD[word].match(text, start)
        if found is None:
            continue
        if word in _DEBT_WORDS:
            if _MEDICAL_CREDITOR.search(text):
                return True
            continue
        if _vendor_message(ctx) and _BILLING.search(found.group()):
            continue  # a supplier's invoice to the organisation: no one's care is billed
        if _not_care_here(ctx, found, anchors or []):
            continue
        if about_the_person(ctx, found.start(), found.end(), anchors or [], evidence=2):
            return True
    return _provider_service(ctx, anchors or [])


def has_health_context(text: str) -> bool:
    """True when the text is about someone's care beyond any named term: an appointment or visit,
    a bill or statement for care, a prescription being ready, results being available..."""
    return bool(text) and health_context(ScanContext.of(text))

"""Person names, patients' and clinicians'.

Two kinds of evidence, both starting from the keyword automaton:

* **Cues**: a greeting ("Dear", "Hi", "Hola"), a title ("Dr.", "Mrs.", "Nurse"), a field label
  ("Patient:", "Member name:", "Provider:", "With:"), a relation ("your daughter"), or a closing
  line ("Sincerely," then a new line) is followed by capitalised words. After a strong cue the
  words need not be in any list ("Dear Odalys"); after a weak one ("with", "thanks", a label with
  no colon) one of them must be a known given name or surname.
* **Dictionaries**: a capitalised given name (US Census and curated lists, less names that are
  everyday words such as "Grace" or "May") alone or followed by capitalised words, or a
  capitalised pair ending in a known surname ("Maria Gonzalez", "Odalys Quintanilla").

A run of capitalised words with an organisation or place word in it ("Sunrise Family Clinic",
"San Antonio", "Lincoln Medical Center") is never a name, nor are words such as "Patient" or
"Team" after a greeting.
"""

from __future__ import annotations

import re

from encryption.dlp.context import ScanContext
from encryption.dlp.findings import NAME, Finding
from encryption.dlp.keywords import NAME_CUE, TABLE
from encryption.dlp.lexicon import FOLD, first_names, name_words, surnames, words

GREETING = "greeting"
WEAK_GREETING = "weak_greeting"
TITLE = "title"
LABEL = "label"
WEAK_LABEL = "weak_label"
RELATION = "relation"
CLOSING = "closing"
DICTIONARY = "dictionary"

_CUES: dict[str, tuple[str, ...]] = {
    GREETING: (
        "dear",
        "hi",
        "hello",
        "hey",
        "greetings",
        "good morning",
        "good afternoon",
        "good evening",
        "hola",
        "estimado",
        "estimada",
        "estimados",
        "querido",
        "querida",
        "bonjour",
        "attn",
        "attention",
        "hiya",
    ),
    WEAK_GREETING: (
        "thanks",
        "thank you",
        "welcome",
        "congratulations",
        "congrats",
        "happy birthday",
        "reminder for",
        "good news",
        "hi there",
        "bye",
    ),
    TITLE: (
        "dr",
        "doctor",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "prof",
        "professor",
        "nurse",
        "sr",
        "sra",
        "srta",
        "dra",
        "rev",
        "reverend",
        "pastor",
        "mister",
        "nurse practitioner",
        "physician assistant",
        "midwife",
        "dr's",
        "don",
        "doña",
        "dona",
        "mme",
        "mlle",
        "herr",
        "frau",
        "sig",
        "sra",
        "señor",
        "señora",
        "senor",
        "senora",
        "señorita",
        "madame",
        "monsieur",
    ),
    LABEL: (
        "patient",
        "patient name",
        "name",
        "full name",
        "legal name",
        "preferred name",
        "first name",
        "last name",
        "member",
        "member name",
        "insured",
        "insured name",
        "subscriber",
        "subscriber name",
        "guarantor",
        "responsible party",
        "provider",
        "provider name",
        "physician",
        "clinician",
        "prescriber",
        "prescribing provider",
        "prescribing physician",
        "ordering provider",
        "ordering physician",
        "referring provider",
        "referring physician",
        "attending",
        "attending physician",
        "surgeon",
        "therapist",
        "counselor",
        "care coordinator",
        "case manager",
        "caregiver",
        "parent",
        "guardian",
        "parent/guardian",
        "emergency contact",
        "contact",
        "contact name",
        "contact person",
        "recipient",
        "to",
        "from",
        "cc",
        "signed",
        "signature",
        "seen by",
        "with",
        "dictated by",
        "reviewed by",
        "ordered by",
        "authorized by",
        "approved by",
        "performed by",
        "prepared by",
        "spouse",
        "dependent",
        "beneficiary",
        "policyholder",
        "policy holder",
        "account holder",
        "primary care provider",
        "pcp",
        "referred by",
        "referred to",
        "pharmacist",
        "dentist",
        "hygienist",
        "your provider",
        "your doctor",
        "your physician",
        "your nurse",
        "your therapist",
        "your dentist",
        "your surgeon",
        "your pharmacist",
        "your care coordinator",
        "patient's name",
        "name of patient",
        "child",
        "child's name",
        "student",
        "employee",
        "resident",
        "interpreter",
        "nurse navigator",
        "case worker",
        "social worker",
        "sender",
        "author",
        "assigned to",
        "con",
        "paciente",
        "nombre",
        "médico",
        "medico",
        "doctora",
        "avec",
        "patient name",
        "nom",
        "for",
        "claimant",
        "insured party",
        "enrollee",
        "client",
        "client name",
        "customer",
        "customer name",
    ),
    RELATION: (
        "son",
        "daughter",
        "child",
        "husband",
        "wife",
        "spouse",
        "partner",
        "mother",
        "father",
        "mom",
        "dad",
        "brother",
        "sister",
        "grandson",
        "granddaughter",
        "grandmother",
        "grandfather",
        "baby",
        "infant",
        "newborn",
        "stepson",
        "stepdaughter",
        "caregiver",
        "aunt",
        "uncle",
        "niece",
        "nephew",
        "fiance",
        "fiancee",
    ),
    CLOSING: (
        "sincerely",
        "regards",
        "best regards",
        "kind regards",
        "warm regards",
        "warmly",
        "best",
        "best wishes",
        "thanks",
        "thank you",
        "many thanks",
        "cheers",
        "respectfully",
        "yours truly",
        "yours sincerely",
        "take care",
        "with gratitude",
        "all the best",
        "see you soon",
        "cordially",
        "atentamente",
        "saludos",
        "warm wishes",
        "be well",
        "stay well",
        "in good health",
        "with care",
        "gratefully",
        "thank you again",
        "yours",
        "love",
        "talk soon",
        "wishing you well",
        "until next time",
    ),
}
# Labels that are names only with a colon or dash after them ("To:", "Name:"), or dictionary support.
_COLON_LABELS = frozenset(
    {
        "to",
        "from",
        "cc",
        "name",
        "contact",
        "with",
        "signed",
        "signature",
        "child",
        "student",
        "employee",
        "resident",
        "member",
        "sender",
        "author",
        "recipient",
        "patient",
        "provider",
        "con",
        "avec",
        "nom",
        "paciente",
        "nombre",
        "for",
        "client",
        "customer",
        "re",
    }
)

for _role, _words in _CUES.items():
    # Labels that only count with a colon ("To:", "With:") are found from the colons instead:
    # as keywords they would be hit in nearly every sentence.
    TABLE.add(NAME_CUE, [w for w in _words if not (_role == LABEL and w in _COLON_LABELS)], _role)
_CUE_WORDS = frozenset(word for words in _CUES.values() for word in words if " " not in word)
CREDENTIAL = "credential"
# A writer naming themselves in lower case ("hi dr lee its maria lopez again", "this is zoe").
INTRO = "intro"
TABLE.add(NAME_CUE, ["this is", "it's", "its", "my name is"], INTRO)
TABLE.add(
    NAME_CUE,
    words(
        "md do rn np dnp pa pa-c phd dds dmd pharmd lpn fnp fnp-c anp agnp dpm od cnm crna aprn lcsw lmft "
        "cgc lmhc lcpc lpc psyd ccc-slp mpt dpt otr rd rdn ibclc facp facs facc faap facog msn bsn mbbs mbchb frcp frcs"
    ),
    CREDENTIAL,
)

# Capitalised words that are not names however they are placed.
_NOT_NAME = frozenset(
    words(
        "patient patients member members customer customers client clients friend friends neighbor "
        "neighbors neighbour neighbours team all everyone everybody there valued sir madam caregiver "
        "caregivers parent parents guardian guardians family families colleague colleagues community "
        "folks doctor doctors subscriber subscribers policyholder policyholders resident residents "
        "participant participants student students staff provider providers user users guest guests "
        "visitor visitors again back you your yours our we us the a an this that these those thank thanks "
        "please hello hi hey dear regards sincerely best welcome reminder important notice update note "
        "today tomorrow yesterday tonight monday tuesday wednesday thursday friday saturday sunday mon "
        "tue tues wed thu thur thurs fri sat sun am pm a.m p.m re fw fwd subject date time location where "
        "when what who why how with from to cc name phone email e-mail address fax mrn dob id account "
        "statement balance invoice appointment appointments visit visits results result lab labs "
        "prescription prescriptions rx pharmacy clinic hospital health medical care center yes no ok okay "
        "ps holidays holiday season new year spring summer fall autumn winter flu covid wellness portal "
        "mychart online login password security support services service billing scheduling department "
        "office desk front coordinator manager director nurse practitioner assistant physician surgeon "
        "therapist counselor pharmacist dentist hygienist technician specialist administrator "
        "representative advocate navigator coach md do rn np pa pa-c phd dds dmd pharmd lpn fnp dnp msn "
        "bsn lcsw lmft pt dpt ot cnm crna aprn mba mph facp facc faap jr sr ii iii iv esq i me my mine he "
        "she they them his her their it its is are was were be been being has have had will would can "
        "could should shall might must if and or but so not only just also then than as at by for of on "
        "in into onto out over under up down about after before between during through via per each every "
        "some any many much more most other another such own same both either neither new old next last "
        "first second third final mr mrs ms miss mx dr prof rev hon sir here now soon call visit book "
        "schedule confirm reschedule cancel reply click log sign learn read view see join get keep stay "
        "take bring arrive remember don't dont do does did let lets let's make sure our hours open closed "
        "closing opening free save dear everyone's covid-19 medicare medicaid insurance plan plans hmo "
        "ppo epo benefits benefit coverage claim claims copay deductible total amount due paid payment "
        "payments pay online message messages notification alert alerts information info details summary "
        "instructions questions question answer answers help faq home main street avenue road suite floor "
        "building room unit apt box po p.o united states america usa us english spanish french espanol "
        "español great good well wonderful thanks! congratulations congrats hooray attention attn urgent "
        "action required confidential private secure encrypted message le la les el los las de del su sus "
        "con en por para que una un es y o se al lo mi tu nos du des et ou au aux il elle nous vous votre "
        "vos notre cette ce ci muy buenos buenas gracias hola estimado estimada señor señora cita su "
        "recordamos "
        # languages (an interpreter's, a leaflet's)
        "arabic amharic bengali cantonese chinese creole farsi german haitian hindi italian japanese korean "
        "mandarin persian polish portuguese punjabi russian somali swahili tagalog ukrainian urdu vietnamese"
    )
)
# Words that make a run of capitalised words an organisation, a place or an event. Words that are
# also common surnames (Park, Hall, Lane, Day, Wells) are left out: street addresses are found by
# the address rule, which wins where the two overlap.
_ORG = frozenset(
    words(
        "clinic clinics hospital hospitals medical medicine center centre centers centres health "
        "healthcare care pharmacy pharmacies group associates partners practice services service "
        "department dept office team institute university college school foundation lab labs laboratory "
        "laboratories imaging radiology pediatrics pediatric dental dentistry orthopedics orthopaedics "
        "cardiology oncology dermatology neurology surgery surgical specialists physicians urgent network "
        "system systems plan plans insurance inc llc corp corporation company co ltd pllc street st "
        "avenue ave road rd boulevard blvd drive dr parkway pkwy plaza building suite floor tower campus "
        "county city memorial regional community children's childrens san santa los las fort port mount "
        "saint st. united american national federal bank pharma wellness rehab rehabilitation hospice "
        "homes living senior gardens trust fund society association council agency program project "
        "initiative month awareness fair campaign portal app online mychart website newsletter news "
        "express plus sciences science clinical diagnostics therapeutics pharmaceuticals vision eyecare "
        "optometry optical hearing audiology behavioral mental counseling therapy ob/gyn obgyn women's "
        "womens men's mens kids primary internal emergency er icu outpatient inpatient ambulatory "
        "specialty unit units cancer heart spine orthopedic ortho sports sleep allergy asthma diabetes "
        "kidney liver lung skin foot neuro academy church cathedral temple mosque synagogue ministries "
        "ministry shelter pantry market store shop mall restaurant cafe café hotel inn airport station "
        "library museum theater theatre stadium arena highway hwy route district borough township parish "
        "province region island islands apothecary drugstore drug drugs medicare medicaid health's "
        "regional's valley accounts payable receivable purchasing procurement collections recovery solutions billing "
        "receivables farmacia clinica centro laboratorio consultorio salud servicios imagen elementary"
    )
)
_TITLE_WORDS = frozenset(
    words("dr doctor mr mrs ms miss mx prof professor nurse sr sra srta dra rev reverend pastor mister")
)
_PARTICLES = frozenset(
    words("de del de la da das do dos van von der den di du le la bin ibn al el ter ten st st. ó ní nic uí mac mc")
)
_CREDENTIALS = frozenset(
    words(
        "md do rn np pa pa-c phd dds dmd pharmd lpn fnp dnp msn bsn lcsw lmft cgc lpc lmhc lcpc psyd pt dpt ot cnm "
        "crna aprn mba mbbs mbchb frcp frcs frcpc mrcp "
        "mph facp facc faap facog ms ma bs ba cpa jr sr ii iii iv esq"
    )
)

# Capital and small letters of Latin-1, Latin Extended-A/B and Latin Extended Additional
# ("Łukasz", "Szymańska", "Nguyễn"), as character-class contents.
_LATIN = [chr(code) for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)) if chr(code).isalpha()]
_UPPER = "A-Z" + "".join(char for char in _LATIN if char.isupper())
_LOWER = "a-z" + "".join(char for char in _LATIN if char.islower())
_TOKEN = (
    rf"(?:(?:Mc|Mac|O['’]|D['’]|L['’])?[{_UPPER}][{_LOWER}]+(?:[{_UPPER}][{_LOWER}]+)?(?:-[{_UPPER}]?[{_LOWER}]+)?"
    rf"|[{_UPPER}]\.(?=[ \t]+[{_UPPER}])|(?:[{_UPPER}]['’])?[{_UPPER}]{{2,}}(?:-[{_UPPER}]{{2,}})?)"
)
_PARTICLE = (
    r"(?:de|del|de la|da|das|do|dos|van|von|der|den|van der|van den|di|du|le|la|bin|ibn|al|el|St\.?|Ste\.?|Ó|Ní|Nic|"
    r"Uí|Mac|Mc)"
)
_SEQUENCE = re.compile(
    rf"(?P<seq>{_TOKEN}(?:(?:[ \t]+(?:{_PARTICLE}[ \t]+)?|-(?=[{_UPPER}][{_LOWER}]))"
    rf"(?:{_TOKEN}))*)(?P<poss>['’]s\b)?"
)
# After a title or a greeting a name may open with a particle ("Sra. von Hagen", "Mr. de la Cruz").
_CUED_SEQUENCE = re.compile(
    rf"(?:(?:de|del|de la|da|van|von|van der|van den|di|du|le|la|al|el|St\.?|Ó|Ní|Nic|Mac|"
    rf"Mc)[ \t]+)?{_SEQUENCE.pattern}"
)
_TOKENS = re.compile(_TOKEN)
_TOKENS_BEFORE = re.compile(rf"((?:{_TOKEN}[ \t]+)+)$")
_TOKEN_BEFORE = re.compile(rf"({_TOKEN})[ \t]+$")
# "Lars B. Ngata, DNP": a credential after a comma closes a name.
# "Sunita Rao, MS, CGC": other credentials (in capitals) may stand between.
_NAME_BEFORE_CREDENTIAL = re.compile(
    rf"({_SEQUENCE.pattern})[ \t]*,[ \t]*(?:[A-Z][A-Za-z]{{1,5}}(?:-[A-Z])?[ \t]*,[ \t]*){{0,2}}$"
)
# "Bill," alone on a line (or before lower-case words): a salutation without a greeting word.
_SALUTATION = re.compile(
    rf"[ \t]*(?:(?:—|–|--|-)[ \t]*)?({_TOKEN}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_TOKEN}){{0,2}})[ \t]*"
    r"(?:,(?=[ \t]*(?:\r?\n|$)|[ \t]+[a-z0-9])|(?=[ \t]*(?:\r?\n|$))|(?<=[ \t])[-–—](?=[ \t]+[a-zA-Z]))"
)
_PLACE_AFTER = re.compile(
    r"[ \t]*,[ \t]*(?:A[KLRZS]|C[AOT]|D[CE]|FL|G[AU]|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|P[AR]|RI|"
    r"S[CD]|T[NX]|UT|V[AIT]|W[AIVY])\b"
)
_AFTER_GREETING = re.compile(
    rf"(?:/[aeo]s?|\([aeo]\))?[ \t]*[,:!]?[ \t]*(?:(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Sr|Sra|Srta|Dra|Mme|Mlle|M)\.?[ \t]+)?"
    rf"(?=[{_UPPER}]|(?:de|del|van|von|di|du|le|la|al|el)[ \t])"
)
_AFTER_TITLE = re.compile(rf"\.?[ \t]*(?=[{_UPPER}]|(?:de|del|van|von|di|du|le|la|al|el)[ \t])")
_AFTER_DASH = re.compile(r"(?:^|\n)[ \t]*(?:—|–|--|-)[ \t]*$")
_AFTER_LABEL = re.compile(
    rf"[ \t]*(?P<colon>[:\-–]|\bis\b)?[ \t]*(?:(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Nurse)\.?[ \t]+)?(?=[{_UPPER}])"
)
_AFTER_RELATION = re.compile(rf"[ \t]*,?[ \t]*(?=[{_UPPER}])")
_AFTER_CLOSING = re.compile(
    rf"[ \t]*[,!.]?[ \t]*\r?\n[ \t\r\n]*(?:[-–—][ \t]*)?(?:(?:Dr|Mr|Mrs|Ms|Mx|Nurse)\.?[ \t]+)?(?=[{_UPPER}])"
)
_LINE_END = re.compile(r"[ \t]*(?:,[ \t]*[A-Za-z.\- ,]{1,30})?[ \t]*(?:\r?\n|$)")
_GIVEN_AFTER_COMMA = re.compile(rf",[ \t]*({_TOKEN}(?:[ \t]+{_TOKEN}){{0,2}})")
# "BELLO, IBRAHIM", "O'SULLIVAN, CIARAN": an all-capital family name and a comma before a given name.
_CAPS_FAMILY_BEFORE = re.compile(
    rf"(?<![\w'’-])((?:[{_UPPER}]['’])?[{_UPPER}]{{2,}}(?:[- ][{_UPPER}]{{2,}})?)[ \t]*,[ \t]*$"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|^\s*)$")


def _register_dictionary() -> None:
    ambiguous = name_words()
    first = first_names() - ambiguous
    last = surnames() - ambiguous
    TABLE.add(NAME_CUE, sorted(first & last), "both")
    TABLE.add(NAME_CUE, sorted(first - last), "first")
    TABLE.add(NAME_CUE, sorted(last - first), "last")


_register_dictionary()


def fold(word: str) -> str:
    """A lowercase word without diacritics, as the name lists spell it ("chloé" → "chloe")."""
    return word.translate(FOLD)


class _Lists:
    __slots__ = ("ambiguous", "first", "last")

    def __init__(self) -> None:
        self.first = first_names()
        self.last = surnames()
        self.ambiguous = name_words()


_LISTS: _Lists | None = None


def _lists() -> _Lists:
    global _LISTS
    if _LISTS is None:
        _LISTS = _Lists()
    return _LISTS


def _known(word: str, lists: _Lists) -> bool:
    if word[:2] in ("o'", "o’") and len(word) > 3:  # "o'sullivan"
        word = word[2:]
    if "-" in word:  # "jean-luc", "garcía-lópez": every part a name
        parts = [part for part in word.split("-") if part]
        return bool(parts) and all(_listed(part, lists) for part in parts) and any(_known(p, lists) for p in parts)
    return (word in lists.first or word in lists.last) and word not in lists.ambiguous


def _listed(word: str, lists: _Lists) -> bool:
    """In a name list at all (everyday-word names such as "grace" included)."""
    if "-" in word:
        parts = [part for part in word.split("-") if part]
        return bool(parts) and all(_listed(part, lists) for part in parts)
    return word in lists.first or word in lists.last


def _clean_tokens(ctx: ScanContext, start: int, end: int) -> list[tuple[int, int, str]]:
    """The name-like tokens of ``text[start:end]``, with offsets and lowercase form (particles
    such as "de la" or "St." are inside a name's span but are not tokens)."""
    return [
        (m.start(), m.end(), fold(m.group().lower()))
        for m in _TOKENS.finditer(ctx.text, start, end)
        if m.group() not in ("St", "Ste")
    ]


def _trim(tokens: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop leading and trailing words that cannot be part of a name; stop at the first one inside."""
    kept: list[tuple[int, int, str]] = []
    for token in tokens:
        word = token[2].rstrip(".")
        if word in _NOT_NAME or word in _CREDENTIALS:
            if kept:
                break
            continue
        kept.append(token)
    return kept


def _has_org(tokens: list[tuple[int, int, str]]) -> bool:
    return any(word in _ORG for _, _, word in tokens)


def _sequence_at(ctx: ScanContext, position: int, cued: bool = False) -> tuple[int, int] | None:
    match = (_CUED_SEQUENCE if cued else _SEQUENCE).match(ctx.text, position)
    if match is None:
        return None
    return match.start(), match.end("seq")


def _next_char(text: str, end: int) -> str:
    """The first character after ``end`` that is not a space or a tab ("" at the end)."""
    length = len(text)
    while end < length and text[end] in " \t":
        end += 1
    return text[end] if end < length else ""


def _worth_reading(text: str, start: int, end: int, role: str, label: str) -> bool:
    """A cheap look at what follows a cue, before any pattern is tried: most cue words ("to",
    "from", "patient", "with") are followed by lower-case words and name no one."""
    following = _next_char(text, end)
    if role == LABEL:
        if label in _COLON_LABELS:
            return following in (":", "-", "–")
        return following in (":", "-", "–", "i") or following.isupper()
    if role == CLOSING:
        return "\n" in text[end : end + 4]
    if role == TITLE:
        return (text[start].isupper() and (following == "." or following in "dvl")) or following.isupper()
    if role in (GREETING, WEAK_GREETING):
        return following.isupper() or following in (",", ":", "!", "/", "(", "d", "v", "l")
    return following.isupper() or following == ","


def _from_cue(ctx: ScanContext, start: int, end: int, role: str, lists: _Lists) -> Finding | None:
    text = ctx.text
    if not _worth_reading(text, start, end, role, ctx.lower[start:end]):
        return None
    if role == TITLE:
        if not text[start].isupper() and ctx.lower[start:end] not in _LOWER_TITLES:
            return None  # "nurse Wren", "doctor Okafor"; not "dr" or "ms" in lower case
        after = _AFTER_TITLE.match(text, end)
        if after is None:
            return None
        if ctx.lower[start:end] in ("dr", "st") and re.search(
            r"\d+[ \t]+[A-Z][\w'-]*[ \t]+$", text[max(0, start - 30) : start]
        ):
            return None  # "12 Oak Dr. Springfield": a street
    elif role in (GREETING, WEAK_GREETING):
        if not text[start].isupper() and role == WEAK_GREETING:
            return None
        after = _AFTER_GREETING.match(text, end)
    elif role == CLOSING:
        after = _AFTER_CLOSING.match(text, end)
    elif role == RELATION:
        after = _AFTER_RELATION.match(text, end)
    else:
        after = _AFTER_LABEL.match(text, end)
    if after is None:
        return None
    span = _sequence_at(ctx, after.end(), cued=role in (TITLE, GREETING))
    if span is None:
        return None
    raw = _clean_tokens(ctx, *span)
    tokens = _trim(raw)[:4]
    if tokens and span[0] < tokens[0][0] and all(w in _PARTICLES for w in ctx.lower[span[0] : tokens[0][0]].split()):
        tokens[0] = (span[0], tokens[0][1], ctx.lower[span[0] : tokens[0][1]])
    if not tokens:
        return None
    if role == TITLE:
        if len(tokens) > 1 and _has_org(tokens[-1:]):
            return None
    elif _has_org(tokens) or _has_org(raw[:6]):
        return None  # "Bill to: Mercy Ridge Medical Group": an organisation after the label
    given = None
    if role == LABEL and len(tokens) == 1:
        # "Patient: GARCIA, MARIA" / "Name: Rivera, Tomás": family name, comma, given names.
        given = _GIVEN_AFTER_COMMA.match(text, tokens[0][1])
        if given is not None:
            tokens = tokens + _trim(_clean_tokens(ctx, given.start(1), given.end(1)))  # not "MRN" after it
    if role == CLOSING and _LINE_END.match(text, tokens[-1][1]) is None:
        return None  # a closing line is the name alone (credentials allowed after a comma)
    known = any(_known(word, lists) for _, _, word in tokens)
    strong = role in (TITLE, GREETING, CLOSING) or (
        role == LABEL and (after.group("colon") is not None or ctx.lower[start:end] not in _COLON_LABELS)
    )
    if role == LABEL and ctx.lower[start:end] in _COLON_LABELS and after.group("colon") is None and not known:
        return None
    if role == LABEL and ctx.lower[start:end] == "re" and given is None and not known:
        return None  # "Re: Oyelaran, Grace" or a known name; not "RE: Your appointment"
    if (
        not strong
        and not known
        and not (
            role == WEAK_GREETING
            and len(tokens) == 1
            and _next_char(text, tokens[0][1]) in (",", "!", ".", "\n", "\r", "")
            and _plausible(ctx, tokens[0])
        )
    ):
        return None
    if (
        given is None
        and all(word.isupper() and len(word) > 1 for word in (text[s:e] for s, e, _ in tokens))
        and not known
    ):
        return None  # "PATIENT: SEE ABOVE"
    confidence = 0.9 if (known or role == TITLE) else 0.75
    return Finding(NAME, tokens[0][0], tokens[-1][1], confidence, f"name.{role}")


_LOWER_TITLES = frozenset(words("nurse doctor midwife"))
# A family name in parentheses after a name ("Mateo (Chaudhry) checking on ..."): listed surnames only.
_SURNAME_IN_PARENTHESES = re.compile(rf"[ \t]*\(({_TOKEN})\)")


def _surname_after(ctx: ScanContext, found: Finding, lists: _Lists) -> Finding | None:
    match = _SURNAME_IN_PARENTHESES.match(ctx.text, found.end)
    if match is None:
        return None
    word = fold(match.group(1).lower())
    if word not in lists.last or word in lists.ambiguous or word in _ORG or word in _NOT_NAME:
        return None
    return Finding(NAME, match.start(1), match.end(1), 0.7, "name.parenthesised")


def _from_dictionary(ctx: ScanContext, start: int, lists: _Lists) -> Finding | None:
    text = ctx.text
    if not text[start].isupper():
        return None
    # Extend to the left over capitalised words that are names too ("Maria [Elena] Garcia").
    begin = start
    left = _TOKENS_BEFORE.search(text[max(0, start - 40) : start])
    if left is not None:
        offset = max(0, start - 40)
        for m in reversed(list(_TOKENS.finditer(text, offset + left.start(1), start))):
            word = fold(m.group().lower())
            if word in lists.first or word in lists.last or (len(word) == 2 and word.endswith(".")):
                begin = m.start()
            else:
                if word in _ORG or word in ("st.", "st", "saint", "san", "santa", "mount", "fort", "port"):
                    return None
                break
    span = _sequence_at(ctx, begin)
    if span is None:
        return None
    all_tokens = _clean_tokens(ctx, *span)
    if _has_org(all_tokens[:5]):
        return None
    tokens = _trim(all_tokens)[:4]
    if not tokens:
        return None
    words = [word for _, _, word in tokens]
    if _PLACE_AFTER.match(text, tokens[-1][1]):
        return None  # "Madison, WI": a city
    if len(words) == 1:
        word = words[0]
        if text[tokens[0][0] : tokens[0][1]].isupper() and word in lists.first and word not in lists.ambiguous:
            family = _CAPS_FAMILY_BEFORE.search(text, max(0, tokens[0][0] - 40), tokens[0][0])
            if family is not None and not _has_org(_clean_tokens(ctx, family.start(1), family.end(1))):
                return Finding(NAME, family.start(1), tokens[0][1], 0.75, "name.family_given")
        if (
            len(word) < 3
            or word not in lists.first
            or word in lists.ambiguous
            or text[tokens[0][0] : tokens[0][1]].isupper()
        ):
            return None
        preceding = text[max(0, tokens[0][0] - 6) : tokens[0][0]]
        if re.search(r"(?:St|Saint|San|Santa)\.?[ \t]*$", preceding):
            return None
        return Finding(NAME, tokens[0][0], tokens[-1][1], 0.6, "name.dictionary")
    first_known = words[0] in lists.first and words[0] not in lists.ambiguous
    last_known = words[-1] in lists.last and words[-1] not in lists.ambiguous
    any_first = words[0] in lists.first
    if not (
        first_known
        or (last_known and (any_first or not _SENTENCE_START.search(text[max(0, tokens[0][0] - 3) : tokens[0][0]])))
    ):
        return None
    confidence = 0.85 if first_known and (words[-1] in lists.last) else 0.7
    return Finding(NAME, tokens[0][0], tokens[-1][1], confidence, "name.dictionary")


def name_findings(ctx: ScanContext) -> list[Finding]:
    lists = _lists()
    out: list[Finding] = []
    covered_until = -1
    for start, end, role in sorted(ctx.hits.get(NAME_CUE, ()), key=lambda hit: hit[0]):
        if role in ("first", "last", "both"):
            if start < covered_until:
                continue
            found = _from_dictionary(ctx, start, lists) if role != "last" else _from_surname(ctx, start, lists)
        elif role == CREDENTIAL:
            if "," not in ctx.text[max(0, start - 3) : start]:
                continue
            found = _before_credential(ctx, start, end, lists)
        elif role == GREETING and _next_char(ctx.text, end).islower():
            found = _lowercase_name(ctx, end, lists)
        elif role == INTRO:
            found = _introduced(ctx, end, lists)
        else:
            found = _from_cue(ctx, start, end, role, lists)
            if found is None and role == TITLE and ctx.text[start].islower():
                found = _lowercase_after_title(ctx, start, end, lists)
        if found is not None and not _CONTRACTION.match(ctx.text, found.end):
            out.append(found)
            if ctx.text.startswith((" (", "("), found.end):
                surname = _surname_after(ctx, found, lists)
                if surname is not None:
                    out.append(surname)
                    covered_until = max(covered_until, surname.end)
            covered_until = max(covered_until, found.end)
    out.extend(_colon_labels(ctx, lists))
    out.extend(_salutations(ctx, lists))
    out.extend(_vocatives(ctx))
    return out


_CONTRACTION = re.compile(r"['’](?:t|ll|ve|re|d)\b")  # "Don't", "Won't": a verb, not a name
_LOWER_WORDS = re.compile(rf"[ \t]+([{_LOWER}]+(?:[ \t]+[{_LOWER}]+)?)(?=[ \t]*[,!:.\-–—\n]|[ \t]*$)")


def _lowercase_name(ctx: ScanContext, end: int, lists: _Lists) -> Finding | None:
    """ "hi maria!", "hey ana -": a greeting and given names written in lower case (only names of
    the given-name list that are not everyday words)."""
    match = _LOWER_WORDS.match(ctx.text, end)
    if match is None:
        return None
    names = match.group(1).split()
    if not all(fold(w) in lists.first and fold(w) not in lists.ambiguous and w not in _NOT_NAME for w in names):
        return None
    return Finding(NAME, match.start(1), match.end(1), 0.7, "name.greeting")


_LOWER_TITLE_WORDS = frozenset(words("dr doctor mr mrs ms dra sra"))
_LOWER_WORD_AFTER = re.compile(rf"\.?[ \t]+([{_LOWER}][{_LOWER}'’-]+)")
_INTRODUCED = re.compile(rf"[ \t]+([{_LOWER}]+)(?:[ \t]+([{_LOWER}][{_LOWER}'’-]+))?")


def _lower_name_word(word: str, lists: _Lists) -> bool:
    folded = fold(word)
    return folded not in _NOT_NAME and folded not in lists.ambiguous and (folded in lists.first or folded in lists.last)


def _lowercase_after_title(ctx: ScanContext, start: int, end: int, lists: _Lists) -> Finding | None:
    """ "hi dr hernandez", "hello mrs. gallagher": a title and a family name in lower case (a
    listed name, or any word addressed on its own: "dr amari, ...")."""
    if ctx.lower[start:end] not in _LOWER_TITLE_WORDS:
        return None
    match = _LOWER_WORD_AFTER.match(ctx.text, end)
    if match is None:
        return None
    word = match.group(1)
    if not _lower_name_word(word, lists) and not (
        _next_char(ctx.text, match.end(1)) in (",", "!")
        and len(word) > 2
        and word not in _NOT_NAME
        and word not in _CUE_WORDS
        and word not in _months_and_terms()
    ):
        return None
    return Finding(NAME, match.start(1), match.end(1), 0.7, "name.title")


def _introduced(ctx: ScanContext, end: int, lists: _Lists) -> Finding | None:
    """ "this is zoe", "its maria lopez again": a listed given name in lower case (not an everyday
    word), and a listed family name after it."""
    match = _INTRODUCED.match(ctx.text, end)
    if match is None:
        return None
    given = fold(match.group(1))
    if given not in lists.first or given in lists.ambiguous or given in _NOT_NAME or given in _CUE_WORDS:
        return None
    family = match.group(2)
    if family is not None and _lower_name_word(family, lists) and fold(family) in lists.last:
        return Finding(NAME, match.start(1), match.end(2), 0.7, "name.intro")
    return Finding(NAME, match.start(1), match.end(1), 0.65, "name.intro")


# Words that open a message or a sentence like a name but are not one ("Sorry, your order...").
_NOT_VOCATIVE = frozenset(
    words(
        "sorry yes yeah yep nope ok okay great good bad done success ready shipped heads psst oops hurry "
        "surprise quick friendly final last urgent reminder important alert note notice update fyi btw "
        "well so now also again hey hmm wow oh ah alas cheers ps nb re fw fwd attention hurrah hooray "
        "unfortunately fortunately luckily sadly happily finally currently recently additionally however "
        "otherwise meanwhile therefore instead besides furthermore moreover please kindly tomorrow today "
        "tonight yesterday here there this that these those it what why how when where who which "
        "congratulations congrats welcome thanks hello hi dear greetings subject date time total amount "
        "balance next first second third item order invoice receipt confirmation payment status warning "
        "seniors veterans moms dads kids ladies gentlemen nurses doctors employees volunteers donors "
        "shoppers customers travelers travellers athletes runners smokers teens adults women men folks"
    )
)


def _plausible(ctx: ScanContext, token: tuple[int, int, str]) -> bool:
    """Whether a capitalised word that no name list knows may be a given name used in address."""
    start, end, word = token
    raw = ctx.text[start:end]
    if len(word) < 3 or raw.isupper() or not raw[1:].islower() or word.endswith(("ly", "ing")):
        return False
    if word in _NOT_NAME or word in _NOT_VOCATIVE or word in _CUE_WORDS or word in _ORG or word in _PLACES:
        return False
    return word not in _months_and_terms()


_PLACES = frozenset(
    word.lower()
    for word in words(
        "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho "
        "Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota "
        "Mississippi Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah "
        "Vermont Virginia Washington Wisconsin Wyoming Canada Mexico England Ireland Scotland Wales France "
        "Germany Spain Italy India China Japan Nigeria Ghana Kenya Poland Vietnam Brazil Australia"
    )
)


def _months_and_terms() -> frozenset[str]:
    global _TERMS
    if _TERMS is None:
        from encryption.dlp.lexicon import health_terms
        from encryption.dlp.patterns import _MONTHS

        _TERMS = frozenset(health_terms()) | frozenset(_MONTHS)
    return _TERMS


_TERMS: frozenset[str] | None = None
# "juan carlos, tu receta...": given names in lower case opening the message.
_OPENING_LOWER = re.compile(rf"[ \t]*([{_LOWER}]+(?:[ \t]+[{_LOWER}]+)?)[ \t]*,")
# "Your lab results are ready, Oyinkansola.": a single capitalised word closing a sentence after a
# comma, in a sentence addressed to the reader.
_CLOSING_VOCATIVE = re.compile(rf",[ \t]+({_TOKEN})[ \t]*[.!](?=\s|$)")
_ADDRESSED = re.compile(r"\b(?:you|your|you're|you've|thanks|thank you)\b")


def _vocatives(ctx: ScanContext) -> list[Finding]:
    text = ctx.text
    out = []
    lower = _OPENING_LOWER.match(text)
    if lower is not None:
        names = [fold(word) for word in lower.group(1).split()]
        lists = _lists()
        if all(name in lists.first and name not in lists.ambiguous and name not in _NOT_NAME for name in names):
            out.append(Finding(NAME, lower.start(1), lower.end(1), 0.65, "name.salutation"))
    if ", " in text:
        for match in _CLOSING_VOCATIVE.finditer(text):
            tokens = _clean_tokens(ctx, match.start(1), match.end(1))
            if len(tokens) != 1 or tokens[0][1] != match.end(1) or not _plausible(ctx, tokens[0]):
                continue
            begin = max(text.rfind(stop, 0, match.start()) for stop in ".!?\n") + 1
            if _ADDRESSED.search(ctx.lower, begin, match.start()):
                out.append(Finding(NAME, tokens[0][0], tokens[0][1], 0.6, "name.vocative"))
    return out


_WORD_BEFORE_COLON = re.compile(r"([a-z][a-z'’]*)[ \t]*$")


def _colon_labels(ctx: ScanContext, lists: _Lists) -> list[Finding]:
    """ "To: Maria Garcia", "With: Dr. Rowan Demoway", "For: Aroha Ngata"."""
    text = ctx.text
    out = []
    position = text.find(":")
    while position != -1:
        word = _WORD_BEFORE_COLON.search(ctx.lower, max(0, position - 24), position)
        if word is not None and word.group(1) in _COLON_LABELS:
            found = _from_cue(ctx, word.start(1), word.end(1), LABEL, lists)
            if found is not None:
                out.append(found)
        position = text.find(":", position + 1)
    return out


def _before_credential(ctx: ScanContext, start: int, end: int, lists: _Lists) -> Finding | None:
    text = ctx.text
    credential = text[start:end]
    if not credential[:1].isupper() or credential.lower() == credential.capitalize().lower() == credential:
        return None
    if credential in ("Do", "Ma", "Ms", "Ba", "Bs", "Pa", "Pt", "Ot", "Md"):
        return None  # a credential is written in capitals ("MD", "PA-C", "PharmD")
    match = _NAME_BEFORE_CREDENTIAL.search(text, max(0, start - 60), start)
    if match is None:
        return None
    tokens = _trim(_clean_tokens(ctx, match.start(1), match.end(1)))[-4:]
    if not tokens or _has_org(tokens):
        return None
    return Finding(NAME, tokens[0][0], tokens[-1][1], 0.85, "name.credential")


def _FIRST_ONLY(lists: _Lists) -> _Lists:
    view = _Lists.__new__(_Lists)
    view.first, view.last, view.ambiguous = lists.first, frozenset(), lists.ambiguous
    return view


_OPENING_LINES = 4


def _line_starts(text: str) -> list[int]:
    """Where a salutation may stand: the first lines of the message (and after a "Clinic: "
    prefix there), a line opening with a dash ("— Aroha King"), the line after a closing."""
    if "\n" not in text and ": " not in text:
        return [0]
    starts = [0]
    position = text.find("\n")
    lines = 1
    while position != -1:
        following = position + 1
        if lines < _OPENING_LINES + 4 and text[position - 1 : position] != "\n":
            lines += 1  # blank lines do not count
        if (
            lines <= _OPENING_LINES
            or text[following : following + 1] in ("—", "–", "-")
            or (text[max(0, position - 1) : position] in (",", "!"))
        ):
            starts.append(following)
        position = text.find("\n", following)
    head_end = starts[-1] if len(starts) <= _OPENING_LINES else starts[_OPENING_LINES]
    position = text.find(": ", 0, head_end + 80)
    while position != -1:
        starts.append(position + 2)
        position = text.find(": ", position + 2, head_end + 80)
    return starts


def _starts_of(ctx: ScanContext) -> list[int]:
    starts = ctx.cache.get("line_starts")
    if starts is None:
        starts = ctx.cache["line_starts"] = _line_starts(ctx.text)
    return starts


def _salutations(ctx: ScanContext, lists: _Lists) -> list[Finding]:
    text = ctx.text
    out = []
    length = len(text)
    for position in _starts_of(ctx):
        while position < length and text[position] in " \t":
            position += 1
        if position >= length or not (text[position].isupper() or text[position] in "—–-"):
            continue
        match = _SALUTATION.match(text, position)
        if match is None:
            continue
        first, _, rest = match.group(1).partition(" ")
        if rest and first.lower() in _CUE_WORDS:
            continue  # "Dear Maria Garcia,": the greeting rule reads it (no salutation starts with a cue)
        # A salutation is short: a few words, then a comma or the end of the line.
        newline = text.find("\n", position, position + 48)
        comma = text.find(",", position, position + 44)
        stop = min(
            i for i in (newline, comma, position + 44 if newline == -1 and comma == -1 else -1, length) if i != -1
        )
        dash = text[match.end() - 1] in "-–—"  # "Lars - colonoscopy prep: ..."
        head = text[position:stop].strip().lstrip("—–-").replace(" ", "").replace("-", "").replace(".", "")
        if not dash and not head.replace("'", "").replace("’", "").isalpha():
            continue
        tokens = _clean_tokens(ctx, match.start(1), match.end(1))
        words = [word for _, _, word in tokens]
        alone = not dash and "," not in text[match.end(1) : match.end()]
        if dash and _next_char(text, match.end())[:1].isupper() and not _given_name(words, lists):
            continue  # "LUCÍA - Your appt ...": before a capital, only a given name that is no word or place
        if (
            tokens
            and all(_listed(w, lists) and w not in _NOT_NAME and w not in _CUE_WORDS for w in words)
            and not _has_org(tokens)
            and (not alone or _listed(words[0].split("-")[0], _FIRST_ONLY(lists)))
        ):
            out.append(Finding(NAME, tokens[0][0], tokens[-1][1], 0.75, "name.salutation"))
        elif not alone and len(tokens) == 1 and _plausible(ctx, tokens[0]) and _VOCATIVE_AFTER.match(text, match.end()):
            # "Fatou, good news - ...", "Aleksander, you're on ...": a single capitalised word that no
            # list knows, opening a line before a comma and lower-case words.
            out.append(Finding(NAME, tokens[0][0], tokens[0][1], 0.6, "name.vocative"))
    return out


_VOCATIVE_AFTER = re.compile(r"[ \t]+[a-z]")


def _given_name(words: list[str], lists: _Lists) -> bool:
    return bool(words) and words[0] in lists.first and words[0] not in lists.ambiguous


def _from_surname(ctx: ScanContext, start: int, lists: _Lists) -> Finding | None:
    """A known surname preceded by a capitalised word that is not a sentence opener:
    "Odalys Quintanilla" mid-sentence."""
    text = ctx.text
    if not text[start].isupper():
        return None
    prior = _TOKEN_BEFORE.search(text[max(0, start - 30) : start])
    if prior is None:
        return None
    first_start = start - (min(start, 30) - prior.start(1))
    word = fold(prior.group(1).lower())
    if (
        word in _NOT_NAME
        or word in _ORG
        or word in _TITLE_WORDS
        or (word in lists.ambiguous and word not in lists.first)
    ):
        return None
    surname = _TOKENS.match(text, start)
    possessive = surname is not None and text.startswith(("'s ", "’s "), surname.end())
    if (
        word not in lists.first
        and not possessive
        and _SENTENCE_START.search(text[max(0, first_start - 3) : first_start])
    ):
        return None  # a capitalised word opening a sentence, unless "Przemysław Wójcik's ..." follows
    return _from_dictionary(ctx, first_start, lists) or _pair(ctx, first_start, lists)


def _pair(ctx: ScanContext, start: int, lists: _Lists) -> Finding | None:
    span = _sequence_at(ctx, start)
    if span is None:
        return None
    tokens = _trim(_clean_tokens(ctx, *span))[:4]
    if len(tokens) < 2 or _has_org(tokens):
        return None
    last = tokens[-1][2]
    if last not in lists.last or last in lists.ambiguous:
        return None
    return Finding(NAME, tokens[0][0], tokens[-1][1], 0.65, "name.surname_pair")

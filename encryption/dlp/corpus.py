"""A labelled corpus of synthetic healthcare emails: the yardstick for the PHI/DLP classifier.

``python -m encryption.dlp.corpus`` regenerates ``encryption/dlp/corpus/healthcare_emails.jsonl``;
``--check`` exits 1 if the file is not what the generator produces. The generator is deterministic
(each message has its own ``random.Random`` seeded by its kind and number) and was written without
looking at the classifier's rules or word lists, so the scores measure generalisation. The full
guidelines, with examples, are in ``docs/dlp-corpus.md``.

Record: ``{"id", "kind", "text", "level", "health_context", "findings": [{"type", "start", "end"}]}``;
``text[start:end]`` is the labelled span. A finding may carry ``"org": true`` (see the level rule).

Labelling guidelines
====================
Identifiers: every occurrence is labelled, whoever it belongs to (patient, relative, clinician,
organisation); whose it is matters only for the message level. Labels ("MRN:", "Member ID")
stay outside the span.

- NAME: every person's name — patients, relatives, clinicians, staff signing a message — in any
  form (full, given name alone in "Hi Priya,", family name alone in "Dear Ms. Okafor,", "RIVERA,
  TOMÁS" in a field). Honorifics and credentials stay outside ("Dr. ", ", MD"); a middle initial
  and particles ("de la Cruz") stay inside. Not names: organisations, eponymous conditions and
  tests ("Crohn's disease", "Holter monitor"), street names inside an address, car models.
- DATE: every calendar date more specific than a year, however written ("March 3, 2027",
  "3/3/27", "Mar 3rd", "Tuesday, March 3" — the weekday is inside the span), including dates of
  birth, service, closures and events. Not dates: a year alone, times, relative days
  ("tomorrow"), office hours, the expiry inside a UDI (part of the DEVICE_ID).
- PHONE / FAX: every telephone or fax number with its country code and punctuation; an extension
  ("ext. 204") stays outside. Service codes (911, 711) are not phone numbers.
- EMAIL, URL, IP_ADDRESS: every email address, web address (with or without a scheme) and IPv4 or
  IPv6 address.
- ADDRESS: the street line — number, street, unit ("120 Main St, Apt 4B") — or a PO box. City and
  state are not labelled (a city alone identifies no one; a state is allowed by Safe Harbor).
  ZIP: the five-digit ZIP or ZIP+4, labelled separately.
- SSN: a full Social Security number in any format. MRN: medical record numbers, patient and chart
  IDs. HEALTH_PLAN_ID: member, subscriber, group, Medicare (MBI) and Medicaid numbers.
  ACCOUNT_NUMBER: billing/guarantor accounts and claim numbers. LICENSE_NUMBER: driver's licences,
  state IDs, DEA and NPI numbers, professional licences. VEHICLE_ID: VINs and licence plates.
  DEVICE_ID: serial numbers and UDIs of a device a person uses. OTHER_ID: any other number that
  points at one person or their care: Rx, case, referral, prior-authorisation and
  employee badge numbers.
- BIOMETRIC: a mention of a person's biometric record, the noun phrase ("fingerprint",
  "voiceprint", "palm-vein scan", "retina scan" used for identification). PHOTO: a mention of a
  photograph of a person that is held or sent ("the selfie you uploaded", "wound photos",
  "registration photo"). "Bring a photo ID" is an instruction, not a photograph: not labelled.

Health information is labelled only when it is about the person the message concerns (their
condition, medication, procedure, test or result). General education ("flu shots are available",
"an A1c below 7% is a common goal", "if you take warfarin, ask your pharmacist") is not labelled,
even in a message that names someone.

- CONDITION: a diagnosis, injury or finding as written ("type 2 diabetes", "chronic kidney
  disease, stage 3", "the rash"); an ICD-10 code next to it ("E11.9") is a separate CONDITION span.
- MEDICATION: the drug name plus a strength written right after it ("metformin 500 mg"); form,
  quantity and directions ("tablets, take twice daily") stay outside.
- PROCEDURE: a test, scan, vaccination, therapy or operation the person had, has booked or is due
  for, with its site ("MRI of the left knee", "your blood tests"), and a therapy device the person
  uses ("CPAP", "insulin pump"; the model name stays outside). Not procedures: visit types
  ("annual physical", "follow-up"), "test results" with no test named.
- LAB_RESULT: from the analyte to its value and unit ("HbA1c 7.2%", "LDL was 162 mg/dL"), or a
  qualitative result as a phrase ("negative for strep"); flags and reference ranges stay outside.

Not labelled (hard negatives): prices, retail order numbers, payment confirmation numbers, coupon
codes, activation codes, lot numbers, visit billing codes ("99214"), office hours, times, years,
percentages, version numbers, counts, reference ranges, blood pressure targets.

Message level: ``phi`` when the message identifies a person and carries health information about
them — a health span, or ``health_context``: an appointment, a visit, a bill or payment for care, a
prescription or supply order, test results being ready; ``pii`` when it identifies a person without
health information (password reset, sign-in alert, portal invitation, event invitation, a
newsletter greeting someone by name with a general tip, a plan renewal with no care in it, a
clinician's credentialing reminder); ``none`` when it identifies no one. A person is identified by
any identifier span not marked ``"org": true``. Organisation contact details (the sender's phone,
fax, address, website, events@ email) and dates about no one (a closure, a health fair) are marked
``org`` and identify no one, so a newsletter carrying the clinic's phone number is ``none``. A
clinician's name does identify a person. Being a patient or member is not by itself health
information, so messages that can be ``pii`` or ``none`` come from general senders (a family
practice, a hospital, a plan, a pharmacy), never from one whose name reveals the care (an oncology
or behavioural health practice).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from encryption.dlp.corpus_base import Builder

CORPUS_PATH = Path(__file__).resolve().parent / "corpus" / "healthcare_emails.jsonl"
SEED = "sealpost-dlp-corpus-v1"

Kind = tuple[str, Callable[[Builder], None], int]


def kinds() -> list[Kind]:
    """Every message kind: (name, writer, how many messages)."""
    from encryption.dlp import corpus_billing, corpus_care, corpus_identity, corpus_outreach, corpus_pharmacy

    modules = (corpus_care, corpus_billing, corpus_pharmacy, corpus_outreach, corpus_identity)
    return [kind for module in modules for kind in module.KINDS]


def generate() -> list[dict]:
    records = []
    for name, writer, count in kinds():
        for number in range(count):
            builder = Builder(random.Random(f"{SEED}:{name}:{number}"))  # noqa: S311 - synthetic data, not security
            writer(builder)
            records.append(
                {
                    "id": f"{name}-{number:03d}",
                    "kind": name,
                    "text": builder.text,
                    "level": builder.level,
                    "health_context": builder.health_context,
                    "findings": [
                        {"type": s.type, "start": s.start, "end": s.end, **({"org": True} if s.org else {})}
                        for s in builder.spans
                    ],
                }
            )
    return records


def dumps(records: Iterable[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n" for record in records)


def load(path: Path | str = CORPUS_PATH) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def statistics(records: list[dict]) -> dict[str, Counter]:
    return {
        "kinds": Counter(r["kind"] for r in records),
        "levels": Counter(r["level"] for r in records),
        "kind_levels": Counter(f"{r['kind']}:{r['level']}" for r in records),
        "types": Counter(f["type"] for r in records for f in r["findings"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate (or check) the labelled DLP corpus.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the corpus file is out of date")
    parser.add_argument("--stats", action="store_true", help="print messages per kind and level, spans per type")
    parser.add_argument("--path", type=Path, default=CORPUS_PATH)
    args = parser.parse_args(argv)
    records = generate()
    content = dumps(records)
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != content:
            print(f"{args.path} is out of date: run python -m encryption.dlp.corpus", file=sys.stderr)
            return 1
        print(f"{args.path} is up to date ({len(records)} messages)")
    else:
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(content, encoding="utf-8")
        print(f"wrote {len(records)} messages ({len(content.encode())} bytes) to {args.path}")
    if args.stats:
        for name, counter in statistics(records).items():
            print(f"\n{name}:")
            for key, value in sorted(counter.items()):
                print(f"  {key:40} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

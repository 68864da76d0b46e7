"""What the PHI/DLP classifier reports: finding types, findings and the message level.

The names are a contract (``dlp_scan`` prints them, policies name them): never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass

# The HIPAA Safe Harbor identifiers (45 CFR 164.514(b)(2)), as the classifier names them.
NAME = "NAME"
DATE = "DATE"
PHONE = "PHONE"
FAX = "FAX"
EMAIL = "EMAIL"
SSN = "SSN"
MRN = "MRN"
HEALTH_PLAN_ID = "HEALTH_PLAN_ID"
ACCOUNT_NUMBER = "ACCOUNT_NUMBER"
LICENSE_NUMBER = "LICENSE_NUMBER"
VEHICLE_ID = "VEHICLE_ID"
DEVICE_ID = "DEVICE_ID"
URL = "URL"
IP_ADDRESS = "IP_ADDRESS"
ADDRESS = "ADDRESS"
ZIP = "ZIP"
BIOMETRIC = "BIOMETRIC"
PHOTO = "PHOTO"
OTHER_ID = "OTHER_ID"

# Health information: what makes identified data PHI.
CONDITION = "CONDITION"
MEDICATION = "MEDICATION"
PROCEDURE = "PROCEDURE"
LAB_RESULT = "LAB_RESULT"

IDENTIFIER_TYPES = frozenset(
    {
        NAME,
        DATE,
        PHONE,
        FAX,
        EMAIL,
        SSN,
        MRN,
        HEALTH_PLAN_ID,
        ACCOUNT_NUMBER,
        LICENSE_NUMBER,
        VEHICLE_ID,
        DEVICE_ID,
        URL,
        IP_ADDRESS,
        ADDRESS,
        ZIP,
        BIOMETRIC,
        PHOTO,
        OTHER_ID,
    }
)
HEALTH_TYPES = frozenset({CONDITION, MEDICATION, PROCEDURE, LAB_RESULT})
FINDING_TYPES = IDENTIFIER_TYPES | HEALTH_TYPES

# Message levels.
LEVEL_PHI = "phi"  # identifies a person and carries health information about them
LEVEL_PII = "pii"  # identifies a person, no health information
LEVEL_NONE = "none"
LEVELS = (LEVEL_PHI, LEVEL_PII, LEVEL_NONE)


@dataclass(frozen=True, slots=True)
class Finding:
    """One span of the scanned text: ``text[start:end]`` is what was found."""

    type: str
    start: int
    end: int
    confidence: float
    rule: str

    def as_json(self) -> dict:
        """The ``dlp_scan`` output shape (the rule is internal and stays out of it)."""
        return {"type": self.type, "start": self.start, "end": self.end, "confidence": round(self.confidence, 2)}


@dataclass(frozen=True, slots=True)
class Classification:
    """A message's level, its findings (sorted by start) and why the level was chosen."""

    level: str
    findings: tuple[Finding, ...]
    # True when something other than a finding made the text health information
    # (for example "your appointment", "your bill for your visit").
    health_context: bool = False

    @property
    def types(self) -> frozenset[str]:
        return frozenset(finding.type for finding in self.findings)

    @property
    def identifier_count(self) -> int:
        return sum(1 for finding in self.findings if finding.type in IDENTIFIER_TYPES)

"""The PHI/DLP classifier: finds HIPAA Safe Harbor identifiers and health information in text and
decides a message's level (``phi``, ``pii``, ``none``). Pure Python over strings, compiled once
per process, safe to call from any thread. See ``docs/dlp.md``.
"""

from encryption.dlp.classifier import TextEvidence, classify, level_of, scan, scan_value, text_evidence
from encryption.dlp.findings import Classification, Finding
from encryption.dlp.health import has_health_context

__all__ = [
    "Classification",
    "Finding",
    "TextEvidence",
    "classify",
    "has_health_context",
    "level_of",
    "scan",
    "scan_value",
    "text_evidence",
]

"""Helpers for protection and quarantine tests: classifications built by hand (the policy is
tested apart from the classifier), a held message, and a row in each protection table."""

from __future__ import annotations

from typing import Any

from encryption.dlp.findings import LEVEL_NONE, LEVEL_PHI, LEVEL_PII, Classification, Finding
from encryption.models import QuarantinedMessage
from encryption.protection import (
    QUARANTINE,
    DomainPosture,
    ProtectionDecision,
    PurposeFacts,
    Reason,
)
from encryption.quarantine import quarantine_hold
from tenants.context import tenant_context
from tenants.roles import Role

# Obviously synthetic: no real person, number or condition.
SYNTHETIC_SUBJECT = "Your results, Testy Synthetic"
SYNTHETIC_TEXT = "Dear Testy Synthetic, your MRN ZZ-000000 shows synthetic-itis. Call 555-0100."
SYNTHETIC_HTML = "<p>Dear <b>Testy Synthetic</b>, <script>alert(1)</script> your MRN ZZ-000000.</p>"

VERIFIED = DomainPosture(domain="verified.example", tls="verified", tls_version="1.3")
VERIFIED_12 = DomainPosture(domain="verified12.example", tls="verified", tls_version="1.2")
UNVERIFIED = DomainPosture(domain="unverified.example", tls="unverified", tls_version="1.2")
NO_TLS = DomainPosture(domain="plain.example", tls="none")

CARE = PurposeFacts("care", is_marketing=False, allows_phi=True)
MARKETING = PurposeFacts("marketing", is_marketing=True, allows_phi=False)
NEWSLETTER = PurposeFacts("newsletter", is_marketing=False, allows_phi=False)


def finding(kind: str, start: int = 0, end: int = 1) -> Finding:
    return Finding(type=kind, start=start, end=end, confidence=0.9, rule="test")


def classified(level: str, *kinds: str, health_context: bool = False) -> Classification:
    """A classification with one finding per kind, at made-up offsets."""
    findings = tuple(finding(kind, index * 2, index * 2 + 1) for index, kind in enumerate(kinds))
    return Classification(level=level, findings=findings, health_context=health_context)


PHI = classified(LEVEL_PHI, "NAME", "CONDITION")
PII = classified(LEVEL_PII, "NAME")
NONE = classified(LEVEL_NONE)


def synthetic_classification(text: str = SYNTHETIC_TEXT) -> Classification:
    """Findings over ``SYNTHETIC_TEXT`` at their real offsets."""
    spans = [("NAME", "Testy Synthetic"), ("MRN", "ZZ-000000"), ("CONDITION", "synthetic-itis"), ("PHONE", "555-0100")]
    findings = []
    for kind, found in spans:
        start = text.find(found)
        if start >= 0:
            findings.append(Finding(type=kind, start=start, end=start + len(found), confidence=0.95, rule="test"))
    return Classification(level=LEVEL_PHI, findings=tuple(sorted(findings, key=lambda f: f.start)))


HOLD_DECISION = ProtectionDecision(
    action=QUARANTINE,
    reasons=(
        Reason(
            "phi_verified_tls", "verified_tls", "The message carries PHI: the recipient's domain offers verified TLS."
        ),
        Reason("phi_in_marketing", QUARANTINE, "The message carries PHI for the marketing purpose “marketing”."),
    ),
)


def make_held(fixture: Any, *, contact: Any = None, **overrides: Any) -> QuarantinedMessage:
    """A held message in ``fixture``'s tenant, as the delivery pipeline would store it."""
    values: dict[str, Any] = {
        "subject": SYNTHETIC_SUBJECT,
        "text": SYNTHETIC_TEXT,
        "html": SYNTHETIC_HTML,
        "classification": synthetic_classification(),
        "decision": HOLD_DECISION,
        "source_ref": "campaign-synthetic-1",
        "purpose": "marketing",
    }
    values.update(overrides)
    with tenant_context(fixture.tenant):
        return quarantine_hold(tenant=fixture.tenant, contact=contact, **values)


def protection_rows_in_every_table(fixture: Any, contact: Any = None) -> None:
    """At least one row in each protection table for ``fixture``'s tenant (row-level security
    tests)."""
    from encryption.services import protection_policy_update

    with tenant_context(fixture.tenant):
        protection_policy_update(tenant=fixture.tenant, actor=fixture.users[Role.ADMIN], escrow_all_phi=True)
    make_held(fixture, contact=contact)


def held_kwargs(world: Any) -> dict[str, Any]:
    """For the tenant-isolation harness (tests/test_isolation.py): a held message of tenant A."""
    return {"item_id": make_held(world.a).pk}


def still_held(world: Any, kwargs: dict[str, Any]) -> bool:
    with tenant_context(world.a.tenant):
        return QuarantinedMessage.objects.for_tenant(world.a.tenant).get(pk=kwargs["item_id"]).status == "held"

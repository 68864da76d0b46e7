"""Helpers for the escrow tests: an escrowed message (synthetic content) with its link token."""

from __future__ import annotations

from typing import Any

from encryption.escrow import Stored, escrow_store
from tenants.context import tenant_context
from tests.factories import make_contact

PHI_SUBJECT = "Your lab results from Dr. Rowan Demoway"
PHI_TEXT = "Dear Quilla Synthetica, your HbA1c was 7.9% on 3 March 2027. Please call us to discuss metformin."
PHI_HTML = (
    "<p>Dear Quilla Synthetica,</p><p>Your <b>HbA1c was 7.9%</b> on 3 March 2027.</p>"
    '<p><img src="https://tracker.example.net/pixel.gif" alt=""> <a href="https://clinic.example.org/labs">Lab guide</a></p>'
)


def make_escrowed(
    fixture: Any, *, email: str = "quilla@patients-plain.example", with_contact: bool = True, **overrides: Any
) -> Stored:
    """An escrowed message for a new contact of the fixture's tenant (or for no contact)."""
    contact = (
        make_contact(fixture.tenant, email=email, first_name="Quilla", last_name="Synthetica") if with_contact else None
    )
    values = {
        "recipient_email": email,
        "from_name": "Sunrise Family Clinic",
        "from_address": "news@org-a.example.com",
        "subject": PHI_SUBJECT,
        "html": PHI_HTML,
        "text": PHI_TEXT,
        "level": "phi",
        "contact": contact,
        **overrides,
    }
    with tenant_context(fixture.tenant):
        return escrow_store(tenant=fixture.tenant, **values)


def make_reply(
    fixture: Any, *, body: str = "Thank you, I will call on Monday about my metformin.", with_contact: bool = True
) -> Any:
    from encryption.models import EscrowReply

    stored = make_escrowed(
        fixture, email=f"reply-{fixture.tenant.slug}-{_next()}@patients-plain.example", with_contact=with_contact
    )
    with tenant_context(fixture.tenant):
        reply = EscrowReply(tenant=fixture.tenant, escrow=stored.escrow, contact=stored.escrow.contact, body=body)
        reply.save()
    return reply


_counter = iter(range(1, 10**9))


def _next() -> int:
    return next(_counter)


def escrow_rows_in_every_table(fixture: Any) -> None:
    """A row in each escrow table for the fixture's tenant (tests/test_rls.py)."""
    from datetime import timedelta

    from django.utils import timezone

    from encryption.escrow import escrow_settings_for
    from encryption.models import EscrowAccess, EscrowCode, RecipientPasskey

    reply = make_reply(fixture, with_contact=False)  # tests/test_rls.py counts its own one contact
    escrow = reply.escrow
    later = timezone.now() + timedelta(minutes=10)
    with tenant_context(fixture.tenant):
        escrow_settings_for(tenant=fixture.tenant)
        EscrowCode.objects.create(tenant=fixture.tenant, escrow=escrow, code_hash="0" * 64, expires_at=later)
        EscrowAccess.objects.create(
            tenant=fixture.tenant, escrow=escrow, browser_hash="1" * 64, method="code", expires_at=later
        )
        RecipientPasskey.objects.create(
            tenant=fixture.tenant,
            recipient_index="2" * 64,
            credential_id=f"cred-{fixture.tenant.slug}",
            public_key=b"k",
        )


# --- tests/test_isolation.py ----------------------------------------------------------------------


def escrow_kwargs(world: Any) -> dict[str, Any]:
    return {"escrow_id": make_escrowed(world.a, email=f"iso-{_next()}@patients-plain.example").escrow.pk}


def escrow_still_active(world: Any, kwargs: dict[str, Any]) -> bool:
    from encryption.models import EscrowedMessage

    with tenant_context(world.a.tenant):
        escrow = EscrowedMessage.objects.for_tenant(world.a.tenant).get(pk=kwargs["escrow_id"])
        return escrow.status == "active" and escrow.text is not None


def reply_kwargs(world: Any) -> dict[str, Any]:
    return {"reply_id": make_reply(world.a).pk}


def reply_unread(world: Any, kwargs: dict[str, Any]) -> bool:
    from encryption.models import EscrowReply

    with tenant_context(world.a.tenant):
        return EscrowReply.objects.for_tenant(world.a.tenant).get(pk=kwargs["reply_id"]).read_at is None

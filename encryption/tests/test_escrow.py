"""The escrow store (encryption.escrow) and its staff pages: content encrypted, link tokens
stored hashed and bound to their organisation, retraction and expiry deleting content, the
settings' validation, the list, replies behind a step-up, and the contact page."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import actions, events, head_seq
from encryption.escrow import (
    EscrowSettingsInvalid,
    EscrowUnavailable,
    escrow_expire_due,
    escrow_from_token,
    escrow_retract,
    escrow_settings_update,
    escrow_store,
    new_token,
    token_hash,
)
from encryption.models import EscrowedMessage, EscrowStatus
from encryption.tests.escrow_support import PHI_TEXT, make_escrowed, make_reply
from sealpost.leb128 import encode as _leb128
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _raw_row(escrow_id) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT subject, html, text, recipient_email, token_hash FROM encryption_escrowedmessage WHERE id = %s",
            [escrow_id],
        )
        names = [c.name for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def _reload(tenant, escrow_id) -> EscrowedMessage:
    with tenant_context(tenant):
        return EscrowedMessage.objects.for_tenant(tenant).get(pk=escrow_id)


# --- The store ------------------------------------------------------------------------------------


def test_an_escrowed_message_is_encrypted_and_its_token_kept_only_as_a_hash(world):
    seq = head_seq(world.a.tenant)
    stored = make_escrowed(world.a)
    with tenant_context(world.a.tenant):
        raw = _raw_row(stored.escrow.pk)
    for column in ("subject", "html", "text", "recipient_email"):
        assert b"Synthetica" not in bytes(raw[column]) and b"quilla@" not in bytes(raw[column])
    assert raw["token_hash"] == token_hash(stored.token) and stored.token not in str(raw)
    with tenant_context(world.a.tenant):
        escrow = _reload(world.a.tenant, stored.escrow.pk)
        assert escrow.text == PHI_TEXT and escrow.status == EscrowStatus.ACTIVE
    assert abs(escrow.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert [a for a in actions(world.a.tenant, seq) if a.startswith("escrow.")] == ["escrow.stored"]
    assert "quilla" not in str(events(world.a.tenant, seq)).lower()


def test_tokens_carry_192_random_bits_and_name_their_organisation_only(world):
    stored = make_escrowed(world.a)
    found = escrow_from_token(stored.token)
    assert found is not None and found[0] == world.a.tenant and found[1].pk == stored.escrow.pk
    raw = base64.urlsafe_b64decode(stored.token + "=" * (-len(stored.token) % 4))
    prefix = _leb128(world.a.tenant.pk)
    assert raw.startswith(prefix) and len(raw) - len(prefix) == 24  # the tenant id, then 192 random bits
    assert len({new_token(world.a.tenant) for _ in range(200)}) == 200
    # One character changed, a truncated token, garbage: nothing.
    flipped = stored.token[:-1] + ("A" if stored.token[-1] != "A" else "B")
    for bad in (flipped, stored.token[:-2], "x" * 40, "../../etc/passwd", ""):
        assert escrow_from_token(bad) is None
    # Tenant B's id with tenant A's random part: B has no such hash.
    b_id = base64.urlsafe_b64encode(_leb128(world.b.tenant.pk) + raw[len(prefix) :]).decode().rstrip("=")
    assert escrow_from_token(b_id) is None


def test_storing_a_campaign_message_again_keeps_the_content_and_replaces_the_link(world):
    message = _campaign_message(world)
    first = make_escrowed(world.a, email="again@patients-plain.example", message_id=message.pk)
    with tenant_context(world.a.tenant):
        second = escrow_store(
            tenant=world.a.tenant,
            recipient_email="again@patients-plain.example",
            from_name="Sunrise",
            from_address="news@org-a.example.com",
            subject="changed",
            html="<p>changed</p>",
            text="changed",
            level="phi",
            message_id=message.pk,
        )
    assert second.escrow.pk == first.escrow.pk and second.token != first.token
    assert escrow_from_token(first.token) is None  # only the notice that went out works
    with tenant_context(world.a.tenant):
        assert escrow_from_token(second.token)[1].text == PHI_TEXT


def test_retraction_deletes_the_content_and_the_link_then_says_so(world):
    stored = make_escrowed(world.a)
    officer = world.a.users[Role.COMPLIANCE_OFFICER]
    with tenant_context(world.a.tenant):
        escrow_retract(tenant=world.a.tenant, user=officer, escrow=stored.escrow)
        with pytest.raises(EscrowUnavailable):
            escrow_retract(tenant=world.a.tenant, user=officer, escrow=stored.escrow)
        raw = _raw_row(stored.escrow.pk)
    assert raw["subject"] is None and raw["html"] is None and raw["text"] is None
    escrow = escrow_from_token(stored.token)[1]
    assert escrow.status == EscrowStatus.RETRACTED and escrow.content_deleted_at is not None
    assert escrow.retracted_by == officer
    assert "escrow.retracted" in actions(world.a.tenant)


def _campaign_message(world):
    from campaigns.models import Message
    from campaigns.tests.support import consenting, make_campaign

    campaign, contact = make_campaign(world.a), consenting(world.a)
    with tenant_context(world.a.tenant):
        return Message.objects.create(
            tenant=world.a.tenant, campaign=campaign, contact=contact, send_after=timezone.now()
        )


def test_a_campaign_message_whose_escrow_was_retracted_is_never_escrowed_again(world):
    message = _campaign_message(world)
    stored = make_escrowed(world.a, email="gone@patients-plain.example", message_id=message.pk)
    with tenant_context(world.a.tenant):
        escrow_retract(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], escrow=stored.escrow)
        with pytest.raises(EscrowUnavailable):
            escrow_store(
                tenant=world.a.tenant,
                recipient_email="gone@patients-plain.example",
                from_name="Sunrise",
                from_address="news@org-a.example.com",
                subject="s",
                html="h",
                text="t",
                level="phi",
                message_id=message.pk,
            )


def test_expiry_deletes_the_content_of_what_is_due_only(world):
    due = make_escrowed(world.a, email="due@patients-plain.example")
    fresh = make_escrowed(world.a, email="fresh@patients-plain.example")
    later = timezone.now() + timedelta(days=30, minutes=5)
    with tenant_context(world.a.tenant):
        EscrowedMessage.objects.for_tenant(world.a.tenant).filter(pk=fresh.escrow.pk).update(
            expires_at=later + timedelta(days=1)
        )
        assert escrow_expire_due(tenant=world.a.tenant, now=later) == 1
        assert escrow_expire_due(tenant=world.a.tenant, now=later) == 0
    with tenant_context(world.a.tenant):
        expired = _reload(world.a.tenant, due.escrow.pk)
        assert expired.status == EscrowStatus.EXPIRED and expired.text is None and expired.subject is None
        assert _reload(world.a.tenant, fresh.escrow.pk).text == PHI_TEXT
    assert actions(world.a.tenant).count("escrow.expired") == 1


def test_the_beat_task_expires_every_organisations_messages(world):
    from encryption.tasks import escrow_expire_task

    for fixture in (world.a, world.b):
        stored = make_escrowed(fixture, email=f"beat-{fixture.tenant.slug}@patients-plain.example")
        with tenant_context(fixture.tenant):
            EscrowedMessage.objects.for_tenant(fixture.tenant).filter(pk=stored.escrow.pk).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            )
    assert escrow_expire_task() == 2


# --- Settings -------------------------------------------------------------------------------------


def _update(world, **overrides):
    values = {
        "expiry_days": 14,
        "notice_subject": "A secure message is waiting",
        "shared_secret_field": "",
        "shared_secret_prompt": "",
        "allow_passkeys": True,
        "brand_colour": "#123456",
    }
    values.update(overrides)
    with tenant_context(world.a.tenant):
        return escrow_settings_update(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], **values)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"expiry_days": 0}, "expiry_days"),
        ({"expiry_days": 366}, "expiry_days"),
        ({"notice_subject": "  "}, "notice_subject"),
        ({"notice_subject": "Your MRI results for Maria Garcia"}, "notice_subject"),
        ({"shared_secret_field": "contact.nope"}, "shared_secret_field"),
        ({"shared_secret_field": "org.name"}, "shared_secret_field"),
        ({"shared_secret_field": "contact.last_name", "shared_secret_prompt": ""}, "shared_secret_prompt"),
        ({"brand_colour": "red"}, "brand_colour"),
        ({"logo": b"<svg onload=alert(1)></svg>"}, "logo"),
        ({"logo": b"\x89PNG\r\n\x1a\n" + b"0" * 200_001}, "logo"),
    ],
)
def test_settings_refuse_what_would_be_wrong_and_change_nothing(world, overrides, field):
    seq = head_seq(world.a.tenant)
    with pytest.raises(EscrowSettingsInvalid) as refused:
        _update(world, **overrides)
    assert field in refused.value.errors
    assert actions(world.a.tenant, seq) == []


def test_settings_change_applies_to_new_escrows_and_is_audited_by_field(world):
    _update(world, expiry_days=7, shared_secret_field="contact.last_name", shared_secret_prompt="Your last name")
    stored = make_escrowed(world.a)
    assert abs(stored.escrow.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    [(_action, details)] = [e for e in events(world.a.tenant) if e[0] == "escrow.settings_changed"]
    assert details == {
        "changed": ["brand_colour", "expiry_days", "notice_subject", "shared_secret_field", "shared_secret_prompt"]
    }


# --- Staff pages ----------------------------------------------------------------------------------


def test_the_list_shows_dates_and_status_never_the_content(world, login):
    stored = make_escrowed(world.a)
    page = login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("encryption:escrow_list"))
    body = page.content.decode()
    assert page.status_code == 200 and "q•••@patients-plain.example" in body
    assert "HbA1c" not in body and "Synthetica" not in body and "lab results" not in body
    assert reverse("encryption:escrow_retract", kwargs={"escrow_id": stored.escrow.pk}) not in body  # marketers


def test_compliance_officers_retract_and_marketers_cannot(world, login):
    stored = make_escrowed(world.a)
    url = reverse("encryption:escrow_retract", kwargs={"escrow_id": stored.escrow.pk})
    assert login(world.a.users[Role.MARKETER], world.a.tenant).post(url).status_code == 403
    assert _reload(world.a.tenant, stored.escrow.pk).status == EscrowStatus.ACTIVE
    response = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).post(url, follow=True)
    assert "Retracted" in response.content.decode()
    assert _reload(world.a.tenant, stored.escrow.pk).status == EscrowStatus.RETRACTED


def test_a_reply_is_read_after_a_step_up_and_every_reading_is_audited(world, login):
    reply = make_reply(world.a)
    url = reverse("encryption:escrow_reply", kwargs={"reply_id": reply.pk})
    officer = world.a.users[Role.COMPLIANCE_OFFICER]
    assert login(officer, world.a.tenant).get(url).status_code == 302  # to the step-up
    listing = login(officer, world.a.tenant).get(reverse("encryption:escrow_replies")).content.decode()
    assert "metformin" not in listing and "Unread" in listing
    client = login(officer, world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    page = client.get(url)
    assert page.status_code == 200 and "about my metformin" in page.content.decode()
    assert actions(world.a.tenant, seq) == ["escrow.reply_read"]
    with tenant_context(world.a.tenant):
        reply.refresh_from_db()
    assert reply.read_by == officer and reply.read_at is not None
    assert login(world.a.users[Role.MARKETER], world.a.tenant, step_up=True).get(url).status_code == 403


def test_the_contact_page_lists_secure_messages_and_replies(world, login):
    reply = make_reply(world.a)
    url = reverse("segments:contact_detail", kwargs={"contact_id": reply.contact.pk})
    officer_page = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).get(url).content.decode()
    assert "Secure messages" in officer_page and "Waiting for pickup" in officer_page
    assert reverse("encryption:escrow_reply", kwargs={"reply_id": reply.pk}) in officer_page
    marketer_page = login(world.a.users[Role.MARKETER], world.a.tenant).get(url).content.decode()
    assert "Waiting for pickup" in marketer_page and "Secure replies" not in marketer_page


def test_only_admins_change_the_settings_page(world, login):
    url = reverse("encryption:escrow_settings")
    assert login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).get(url).status_code == 403
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert admin.get(url).status_code == 200
    bad = admin.post(url, {"expiry_days": "0", "notice_subject": "x", "brand_colour": "#000000"})
    assert bad.status_code == 400 and "Between 1 and 365 days." in bad.content.decode()
    ok = admin.post(
        url, {"expiry_days": "10", "notice_subject": "Secure message waiting", "brand_colour": "#112233"}, follow=True
    )
    assert "Escrow settings saved." in ok.content.decode()

"""Sealed links: what they carry, that they cannot be altered or reused across organisations or
kinds, that they expire, the compact mailto token and unsubscribe by mail."""

from __future__ import annotations

import io
import time
import uuid

import pytest
from django.core import signing
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from consent.links import (
    LOCAL_PART_MAX,
    InvalidLink,
    list_unsubscribe_headers,
    mailto_address,
    mailto_local_part,
    message_links,
    preference_centre_url,
    preference_token,
    read_mailto_address,
    read_preference_token,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)
from consent.models import ConsentStatus, Suppression
from consent.recipients import MailUnsubscribeResult, unsubscribe_by_mail
from consent.tests.link_scan import assert_names_nobody
from consent.tests.public_support import grant, status_of
from segments.models import Contact
from tenants.context import tenant_context
from tenants.models import Organisation
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://sealpost.example.org"
    settings.CONSENT_UNSUBSCRIBE_MAIL_DOMAIN = "unsubscribe.sealpost.example.org"


def test_links_name_nobody(world):
    """(More in test_opaque_links: every decoding of every piece of the URL is scanned.)"""
    contact = make_contact(world.a.tenant, first_name="Zelda", last_name="Quill")
    for url in (
        preference_centre_url(tenant=world.a.tenant, contact=contact),
        unsubscribe_url(tenant=world.a.tenant, contact=contact, purpose="billing"),
    ):
        assert url.startswith("https://sealpost.example.org/r/")
        assert_names_nobody(url, contact)


def test_tokens_round_trip(world):
    contact = make_contact(world.a.tenant)
    target = read_unsubscribe_token(unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose="care"))
    assert (target.tenant_id, target.contact_id, target.purpose) == (world.a.tenant.pk, contact.pk, "care")
    target = read_preference_token(preference_token(tenant=world.a.tenant, contact=contact))
    assert (target.tenant_id, target.contact_id, target.purpose) == (world.a.tenant.pk, contact.pk, "")


def test_altered_ids_fail_the_signature_of_a_legacy_token(world):
    """Links issued before links were sealed are still read (consent.links): their readable
    payload cannot be changed."""
    contact = make_contact(world.a.tenant)
    token = signing.TimestampSigner(salt="sealpost.consent.unsubscribe").sign_object(
        [world.a.tenant.pk, contact.pk.hex, "care"]
    )
    assert read_unsubscribe_token(token).purpose == "care"
    _payload, rest = token.split(":", 1)
    for forged_payload in (
        f'[{world.b.tenant.pk},"{contact.pk.hex}","care"]',  # another organisation
        f'[{world.a.tenant.pk},"{uuid.uuid4().hex}","care"]',  # another contact
        f'[{world.a.tenant.pk},"{contact.pk.hex}","billing"]',  # another purpose
    ):
        forged = signing.b64_encode(forged_payload.encode()).decode() + ":" + rest
        with pytest.raises(InvalidLink):
            read_unsubscribe_token(forged)


def test_a_token_of_one_kind_is_not_a_token_of_another(world):
    contact = make_contact(world.a.tenant)
    preference = preference_token(tenant=world.a.tenant, contact=contact)
    unsubscribe = unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose=None)
    with pytest.raises(InvalidLink):
        read_unsubscribe_token(preference)
    with pytest.raises(InvalidLink):
        read_preference_token(unsubscribe)
    grant(world.a.tenant, contact, "care")
    client = Client()
    assert client.post(reverse("consent_public:unsubscribe", args=[preference])).status_code == 404
    assert client.get(reverse("consent_public:preferences", args=[unsubscribe])).status_code == 404
    assert status_of(world.a.tenant, contact, "care") == ConsentStatus.GRANTED


def test_links_expire_after_the_configured_age(world, settings, monkeypatch):
    settings.CONSENT_LINK_MAX_AGE_DAYS = 60
    contact = make_contact(world.a.tenant)
    token = unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose="care")
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + 59 * 86400)
    assert read_unsubscribe_token(token).purpose == "care"
    monkeypatch.setattr(signing.time, "time", lambda: now + 61 * 86400)
    with pytest.raises(InvalidLink):
        read_unsubscribe_token(token)


def test_a_link_naming_another_organisations_contact_touches_nothing(world):
    """Even a correctly signed token naming tenant A and a contact of tenant B (which we never
    make) finds nobody: the contact is looked up as tenant A, behind row-level security."""
    contact_b = make_contact(world.b.tenant)
    grant(world.b.tenant, contact_b, "care")
    seq_a, seq_b = head_seq(world.a.tenant), head_seq(world.b.tenant)
    forged = signing.TimestampSigner(salt="sealpost.consent.unsubscribe").sign_object(
        [world.a.tenant.pk, contact_b.pk.hex, "care"]
    )
    response = Client().post(reverse("consent_public:unsubscribe", args=[forged]))
    assert response.status_code == 200
    assert status_of(world.b.tenant, contact_b, "care") == ConsentStatus.GRANTED
    assert events(world.a.tenant, seq_a) == []
    assert events(world.b.tenant, seq_b) == []
    preferences = signing.TimestampSigner(salt="sealpost.consent.preferences").sign_object(
        [world.a.tenant.pk, contact_b.pk.hex, ""]
    )
    assert Client().get(reverse("consent_public:preferences", args=[preferences])).status_code == 410


# --- mailto ---------------------------------------------------------------------------------------


def test_mailto_token_round_trips_and_fits_in_a_local_part(world):
    contact = make_contact(world.a.tenant)
    for purpose in ("appointment_reminders", None):
        address = mailto_address(tenant=world.a.tenant, contact=contact, purpose=purpose)
        local, domain = address.split("@")
        assert domain == "unsubscribe.sealpost.example.org"
        assert len(local.encode()) <= LOCAL_PART_MAX
        assert local == local.lower() and local.startswith("u-")
        target = read_mailto_address(address)
        assert (target.tenant_id, target.contact_id) == (world.a.tenant.pk, contact.pk)
        assert bool(target.purpose_tag) == bool(purpose)
        # Mail systems may change the case of a local part: base32 does not mind.
        assert read_mailto_address(address.upper()) == target


def test_mailto_token_fits_for_the_largest_organisation_ids():
    big = Organisation(pk=2**35 - 1, name="Big", slug="big")
    contact = Contact(pk=uuid.UUID(int=2**128 - 1))
    local = mailto_local_part(tenant=big, contact=contact, purpose="a_purpose_with_a_long_key_" + "x" * 38)
    assert len(local) <= LOCAL_PART_MAX
    assert read_mailto_address(f"{local}@unsubscribe.sealpost.example.org").tenant_id == big.pk


def test_mailto_token_refuses_alteration_and_foreign_domains(world, settings):
    contact = make_contact(world.a.tenant)
    address = mailto_address(tenant=world.a.tenant, contact=contact, purpose="care")
    local, domain = address.split("@")
    flipped = local[:10] + ("a" if local[10] != "a" else "b") + local[11:]
    for bad in (
        f"{flipped}@{domain}",
        f"{local[:-1]}@{domain}",
        f"{local}@elsewhere.example.org",
        f"x-{local[2:]}@{domain}",
        f"u-not*base32@{domain}",
        "",
    ):
        with pytest.raises(InvalidLink):
            read_mailto_address(bad)
    # A token made under another secret key is refused; under a fallback key it still works.
    settings.SECRET_KEY, old = "another-secret-key-for-the-test-" * 2, settings.SECRET_KEY
    with pytest.raises(InvalidLink):
        read_mailto_address(address)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert read_mailto_address(address).contact_id == contact.pk


def test_list_unsubscribe_headers(world):
    contact = make_contact(world.a.tenant)
    headers = list_unsubscribe_headers(tenant=world.a.tenant, contact=contact, purpose="billing")
    url = unsubscribe_url(tenant=world.a.tenant, contact=contact, purpose="billing")
    mailto = mailto_address(tenant=world.a.tenant, contact=contact, purpose="billing")
    assert headers == {
        "List-Unsubscribe": f"<{url}>, <mailto:{mailto}?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert url.startswith("https://")
    links = message_links(tenant=world.a.tenant, contact=contact, purpose="billing")
    assert links.headers == headers
    assert links.unsubscribe_url == url
    assert read_preference_token(links.preference_centre_url.rstrip("/").rsplit("/", 1)[1]).contact_id == contact.pk


def test_unsubscribe_by_mail_revokes_the_purpose(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "billing", "care")
    seq = head_seq(tenant)
    address = mailto_address(tenant=tenant, contact=contact, purpose="billing")
    assert unsubscribe_by_mail(to_address=address) == MailUnsubscribeResult.DONE
    assert status_of(tenant, contact, "billing") == ConsentStatus.REVOKED
    assert status_of(tenant, contact, "care") == ConsentStatus.GRANTED
    assert events(tenant, seq) == [
        ("consent.changed", {"purpose": "billing", "from": "granted", "to": "revoked", "source": "recipient"}),
        ("consent.unsubscribed", {"channel": "mailto", "purpose": "billing", "changed": 1}),
    ]
    # Again: nothing more changes.
    assert unsubscribe_by_mail(to_address=address) == MailUnsubscribeResult.DONE
    assert [action for action, _ in events(tenant, seq)][2:] == ["consent.unsubscribed"]


def test_unsubscribe_command_reads_the_message_on_stdin(world, monkeypatch):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    address = mailto_address(tenant=tenant, contact=contact, purpose=None)
    message = (
        f"X-Sealpost-Envelope-To: {address}\nFrom: someone@example.net\nTo: <{address}>\n"
        "Subject: unsubscribe\n\nPlease stop.\n"
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(message.encode())))
    out = io.StringIO()
    call_command("consent_unsubscribe_mail", stdout=out)
    assert "Processed 1" in out.getvalue()
    assert status_of(tenant, contact, "care") == ConsentStatus.REVOKED
    with tenant_context(tenant):
        assert Suppression.objects.filter(email_index=contact.email_index, reason="unsubscribed").exists()


def test_unsubscribe_command_bounces_addresses_that_are_not_ours(world, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"Subject: hi\n\nbody\n")))
    with pytest.raises(CommandError) as raised:
        call_command("consent_unsubscribe_mail", "--recipient", "u-aaaa@unsubscribe.sealpost.example.org")
    assert raised.value.returncode == 67

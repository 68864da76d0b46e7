"""Recipients' links are opaque: the preference-centre and unsubscribe URLs and the
List-Unsubscribe header name nobody (no contact id, address, external id or name, whether read
raw, url-decoded or with any segment base64- or base32-decoded), links issued before they were
sealed keep working, altered links are refused, and a link sent in a campaign message counts its
unsubscribe for that campaign."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from consent import links
from consent.links import (
    PREFERENCES_SALT,
    UNSUBSCRIBE_SALT,
    InvalidLink,
    mailto_address,
    message_links,
    preference_centre_url,
    read_mailto_address,
    read_preference_token,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
    without_link_times,
)
from consent.models import ConsentStatus
from consent.tests.link_scan import assert_names_nobody
from consent.tests.public_support import grant, status_of
from delivery.tests.test_inbound_support import sent_message
from reporting.tests.source_support import recorded, rollups
from sealpost import leb128
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"
SITE = "https://sealpost.example.org"
MAIL_DOMAIN = "unsubscribe.sealpost.example.org"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE
    settings.CONSENT_UNSUBSCRIBE_MAIL_DOMAIN = MAIL_DOMAIN


def _token(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[1]


def _path(url: str) -> str:
    return urlsplit(url).path


def _legacy(salt: str, tenant, contact, purpose: str = "") -> str:
    """A token exactly as links were made before they were sealed."""
    return signing.TimestampSigner(salt=salt).sign_object([tenant.pk, contact.pk.hex, purpose])


def test_links_of_a_campaign_message_name_nobody(world):
    contact = make_contact(world.a.tenant, first_name="Zelda", last_name="Quill", external_id="MRN-884422")
    message_id = 424242
    made = message_links(tenant=world.a.tenant, contact=contact, purpose="billing", message_id=message_id)
    for value in (
        made.preference_centre_url,
        made.unsubscribe_url,
        made.headers["List-Unsubscribe"],
        preference_centre_url(tenant=world.a.tenant, contact=contact),
        unsubscribe_url(tenant=world.a.tenant, contact=contact, purpose=None),
        mailto_address(tenant=world.a.tenant, contact=contact, purpose=None),
    ):
        assert_names_nobody(value, contact)
    for url in (made.preference_centre_url, made.unsubscribe_url):
        assert url.startswith(f"{SITE}/r/")
        token = _token(url)
        assert ":" not in token and "billing" not in url
        assert_names_nobody(token, contact)
        # Only the organisation is readable: its pk leads the token.
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert leb128.decode(raw) == (world.a.tenant.pk, len(leb128.encode(world.a.tenant.pk)))
    assert made.headers["List-Unsubscribe"].startswith(f"<{made.unsubscribe_url}>, <mailto:u-")


def test_the_scan_would_see_an_identifier(world):
    """The scan above is not blind: it finds the contact in a legacy link and mailto address."""
    contact = make_contact(world.a.tenant)
    legacy_url = f"{SITE}/r/unsubscribe/{_legacy(UNSUBSCRIBE_SALT, world.a.tenant, contact)}/"
    with pytest.raises(AssertionError):
        assert_names_nobody(legacy_url, contact)
    body = bytes([links.MAILTO_VERSION_ALL]) + leb128.encode(world.a.tenant.pk) + contact.pk.bytes
    legacy_local = "u-" + base64.b32encode(body + links._mac(body, links._secrets()[0])).decode().rstrip("=").lower()
    with pytest.raises(AssertionError):
        assert_names_nobody(f"mailto:{legacy_local}@{MAIL_DOMAIN}", contact)


def test_tokens_carry_the_message_and_the_purpose(world):
    contact = make_contact(world.a.tenant)
    target = read_unsubscribe_token(
        unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose="care", message_id=2**40 + 3)
    )
    assert (target.tenant_id, target.contact_id, target.purpose, target.message_id) == (
        world.a.tenant.pk,
        contact.pk,
        "care",
        2**40 + 3,
    )
    url = preference_centre_url(tenant=world.a.tenant, contact=contact)
    assert read_preference_token(_token(url)).message_id is None
    long_purpose = "a_purpose_with_a_long_key_" + "x" * 38
    assert (
        read_unsubscribe_token(unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose=long_purpose)).purpose
        == long_purpose
    )


def test_every_altered_character_is_refused(world):
    contact = make_contact(world.a.tenant)
    token = unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose="care", message_id=7)
    alphabet = "AQgw_-"  # differ in high and low bits
    for at in range(len(token)):
        for replacement in alphabet:
            if replacement == token[at]:
                continue
            forged = token[:at] + replacement + token[at + 1 :]
            with pytest.raises(InvalidLink):
                read_unsubscribe_token(forged)
    for forged in (token[:-1], token + "A", token[1:], "", "x" * len(token), token.replace(token[0], ":", 1)):
        with pytest.raises(InvalidLink):
            read_unsubscribe_token(forged)


def test_moving_a_token_to_another_organisation_is_refused(world):
    contact = make_contact(world.a.tenant)
    token = unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose="care")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    _, offset = leb128.decode(raw)
    moved = base64.urlsafe_b64encode(leb128.encode(world.b.tenant.pk) + raw[offset:]).decode().rstrip("=")
    with pytest.raises(InvalidLink):
        read_unsubscribe_token(moved)


def test_a_tampered_link_changes_nothing(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    seq = head_seq(tenant)
    token = unsubscribe_token(tenant=tenant, contact=contact, purpose="care")
    at = len(token) // 2
    forged = token[:at] + ("B" if token[at] != "B" else "C") + token[at + 1 :]
    client = Client()
    assert (
        client.post(
            reverse("consent_public:unsubscribe", args=[forged]),
            data=ONE_CLICK,
            content_type="application/x-www-form-urlencoded",
        ).status_code
        == 404
    )
    assert client.get(reverse("consent_public:preferences", args=[forged])).status_code == 404
    assert status_of(tenant, contact, "care") == ConsentStatus.GRANTED
    assert events(tenant, seq) == []
    assert recorded(tenant, "unsubscribed") == []


def test_a_key_rotation_keeps_links_working_through_the_fallbacks(world, settings):
    contact = make_contact(world.a.tenant)
    token = unsubscribe_token(tenant=world.a.tenant, contact=contact, purpose="care")
    address = mailto_address(tenant=world.a.tenant, contact=contact, purpose="care")
    settings.SECRET_KEY, old = "another-secret-key-for-the-test-" * 2, settings.SECRET_KEY
    with pytest.raises(InvalidLink):
        read_unsubscribe_token(token)
    with pytest.raises(InvalidLink):
        read_mailto_address(address)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert read_unsubscribe_token(token).contact_id == contact.pk
    assert read_mailto_address(address).contact_id == contact.pk


# --- Links delivered before links were sealed ---------------------------------------------------


def test_a_legacy_one_click_link_still_unsubscribes(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care", "billing")
    path = reverse("consent_public:unsubscribe", args=[_legacy(UNSUBSCRIBE_SALT, tenant, contact, "care")])
    response = Client(enforce_csrf_checks=True).post(
        path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert status_of(tenant, contact, "care") == ConsentStatus.REVOKED
    assert status_of(tenant, contact, "billing") == ConsentStatus.GRANTED
    assert recorded(tenant, "unsubscribed") == [(None, None, contact.pk, "", "one_click")]
    # The page it answers with links to the preference centre by a new, sealed link.
    preferences = re.search(rb"/r/preferences/([^/\"]+)/", response.content)
    assert preferences is not None and b":" not in preferences.group(1)
    assert_names_nobody(preferences.group(1).decode(), contact)


def test_a_legacy_preference_link_still_opens_and_a_legacy_mailto_still_unsubscribes(world):
    from consent.recipients import MailUnsubscribeResult, unsubscribe_by_mail

    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "billing")
    legacy = _legacy(PREFERENCES_SALT, tenant, contact)
    assert Client().get(reverse("consent_public:preferences", args=[legacy])).status_code == 200
    with pytest.raises(InvalidLink):
        read_unsubscribe_token(_legacy(PREFERENCES_SALT, tenant, contact))  # kinds still apart
    body = bytes([links.MAILTO_VERSION_ALL]) + leb128.encode(tenant.pk) + contact.pk.bytes
    local = "u-" + base64.b32encode(body + links._mac(body, links._secrets()[0])).decode().rstrip("=").lower()
    assert unsubscribe_by_mail(to_address=f"{local}@{MAIL_DOMAIN}") == MailUnsubscribeResult.DONE
    assert status_of(tenant, contact, "billing") == ConsentStatus.REVOKED


def test_only_sealed_links_are_issued(world):
    contact = make_contact(world.a.tenant)
    for url in (
        preference_centre_url(tenant=world.a.tenant, contact=contact),
        unsubscribe_url(tenant=world.a.tenant, contact=contact, purpose="care", message_id=5),
    ):
        token = _token(url)
        assert ":" not in token
        with pytest.raises(signing.BadSignature):
            signing.TimestampSigner(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    local = mailto_address(tenant=world.a.tenant, contact=contact, purpose="care").split("@")[0]
    padded = local[2:].upper() + "=" * (-len(local[2:]) % 8)
    assert base64.b32decode(padded)[0] == links.MAILTO_VERSION_SEALED_PURPOSE


def test_renderings_a_second_apart_compare_equal_by_what_their_links_name(world, monkeypatch):
    contact = make_contact(world.a.tenant)
    other = make_contact(world.a.tenant)
    first = unsubscribe_url(tenant=world.a.tenant, contact=contact, purpose="care", message_id=9)
    monkeypatch.setattr(links, "_issued_now", lambda: 2_000_000_000)
    later = unsubscribe_url(tenant=world.a.tenant, contact=contact, purpose="care", message_id=9)
    assert first != later
    assert without_link_times(f"Stop: {first}") == without_link_times(f"Stop: {later}")
    legacy = f"{SITE}/r/unsubscribe/{_legacy(UNSUBSCRIBE_SALT, world.a.tenant, contact, 'care')}/"
    assert without_link_times(legacy) == without_link_times(later)
    elsewhere = unsubscribe_url(tenant=world.a.tenant, contact=other, purpose="care", message_id=9)
    assert without_link_times(elsewhere) != without_link_times(later)
    assert without_link_times(unsubscribe_url(tenant=world.a.tenant, contact=contact, purpose="billing")) != (
        without_link_times(later)
    )


# --- Unsubscribes counted for their campaign ----------------------------------------------------


def test_an_unsubscribe_from_a_campaign_messages_link_counts_for_its_campaign(world):
    sent = sent_message(world.a, email="patient.optout@clinic-mail.example")
    message = sent.message
    tenant = world.a.tenant
    with tenant_context(tenant):
        type(message).objects.for_tenant(tenant).filter(pk=message.pk).update(recipient_domain="clinic-mail.example")
        purpose = message.campaign.purpose
    grant(tenant, message.contact, purpose)
    url = unsubscribe_url(tenant=tenant, contact=message.contact, purpose=purpose, message_id=message.pk)
    response = Client(enforce_csrf_checks=True).post(
        _path(url), data=ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert status_of(tenant, message.contact, purpose) == ConsentStatus.REVOKED
    assert recorded(tenant, "unsubscribed") == [
        (message.campaign_id, message.pk, message.contact_id, "clinic-mail.example", "one_click")
    ]
    assert rollups(tenant, "unsubscribed", campaign_id=message.campaign_id, domain="clinic-mail.example") == {
        "tenant": 1,
        "tenant_domain": 1,
        "campaign": 1,
        "campaign_domain": 1,
    }


def test_the_preference_centre_reached_from_a_campaign_message_counts_for_its_campaign(world):
    sent = sent_message(world.a, email="patient.prefs@clinic-mail.example")
    message = sent.message
    tenant = world.a.tenant
    grant(tenant, message.contact, "marketing", "billing")
    url = preference_centre_url(tenant=tenant, contact=message.contact, message_id=message.pk)
    client = Client()
    choices = {"topics": [], "frequency": "as_sent", "delivery": "secure", "purposes": ["billing"]}
    assert client.post(_path(url), choices).status_code == 302
    assert [row[:2] for row in recorded(tenant, "unsubscribed")] == [(message.campaign_id, message.pk)]
    assert rollups(tenant, "unsubscribed", campaign_id=message.campaign_id)["campaign"] == 1


def test_a_link_naming_a_message_of_someone_else_counts_for_no_campaign(world):
    """Cannot come from a link we made; if it did, the event is the contact's only."""
    sent = sent_message(world.a, email="patient.other@clinic-mail.example")
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    url = unsubscribe_url(tenant=tenant, contact=contact, purpose="care", message_id=sent.message.pk)
    assert (
        Client().post(_path(url), data=ONE_CLICK, content_type="application/x-www-form-urlencoded").status_code == 200
    )
    assert recorded(tenant, "unsubscribed") == [(None, None, contact.pk, "", "one_click")]


def test_a_link_of_organisation_a_naming_a_message_of_organisation_b_counts_nothing_there(world):
    sent_b = sent_message(world.b, email="patient.b@clinic-mail.example")
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "care")
    url = unsubscribe_url(tenant=tenant, contact=contact, purpose="care", message_id=sent_b.message.pk)
    assert (
        Client().post(_path(url), data=ONE_CLICK, content_type="application/x-www-form-urlencoded").status_code == 200
    )
    assert recorded(tenant, "unsubscribed") == [(None, None, contact.pk, "", "one_click")]
    assert recorded(world.b.tenant, "unsubscribed") == []
    assert rollups(world.b.tenant, "unsubscribed", campaign_id=sent_b.message.campaign_id)["campaign"] == 0

"""Sending domains: the DKIM key (generated, stored encrypted, signing what receivers verify), the
DNS checks and their explanations, the verification rule launch and the pipeline rely on, the
demo's mark, the pages, tenant isolation and the audit trail."""

from __future__ import annotations

import html
import json
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from delivery.dkim_signing import verify_message
from delivery.models import SendingDomain, SendingDomainStatus
from delivery.posture import InvalidDomain
from delivery.sending_domains import (
    DemoVerificationRefused,
    SendingDomainError,
    SendingDomainNotVerified,
    dkim_host,
    sending_domain_add,
    sending_domain_check,
    sending_domain_get,
    sending_domain_key,
    sending_domain_records,
    sending_domain_remove,
    sending_domain_verified,
    sending_domain_verify_for_demo,
)
from delivery.testing import FakeResolver, use_resolver
from delivery.tests.support import make_sending_domain, make_verified_sending_domain, published_resolver
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

DOMAIN = "mail.clinic-a.example.org"
INCLUDE = "include:_spf.sealpost.example"


@pytest.fixture(autouse=True)
def _spf_include(settings):
    settings.DELIVERY_SPF_INCLUDE = INCLUDE


def _actions(tenant) -> list[str]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(chain_id=tenant.pk).order_by("seq").values_list("action", flat=True))


def _check(fixture, sending_domain, resolver):
    with tenant_context(fixture.tenant), use_resolver(resolver):
        return sending_domain_check(
            tenant=fixture.tenant, actor=fixture.users[Role.ADMIN], sending_domain=sending_domain
        )


def _message(domain: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Clinic <news@{domain}>"
    message["To"] = "patient@example.net"
    message["Subject"] = "Your appointment"
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content("See you soon.")
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- The key -------------------------------------------------------------------------------------


def test_adding_a_domain_generates_an_rsa_2048_key_stored_encrypted(world):
    sending_domain = make_sending_domain(world.a, "  Mail.Clinic-A.Example.ORG. ")
    assert sending_domain.domain == DOMAIN
    assert sending_domain.status == SendingDomainStatus.PENDING
    assert sending_domain.dkim_selector == f"sp{timezone.now():%Y%m}"
    assert sending_domain.dkim_public_txt.startswith("v=DKIM1; k=rsa; p=")
    with tenant_context(world.a.tenant):
        reloaded = SendingDomain.objects.for_tenant(world.a.tenant).get(pk=sending_domain.pk)
        assert reloaded.dkim_private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
        with connection.cursor() as cursor:
            cursor.execute("SELECT dkim_private_key FROM delivery_sendingdomain WHERE id = %s", [sending_domain.pk])
            raw = bytes(cursor.fetchone()[0])
    assert b"PRIVATE KEY" not in raw and b"MII" not in raw
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert load_pem_private_key(reloaded.dkim_private_key.encode(), None).key_size == 2048


def test_a_domain_is_added_once_per_tenant_and_must_be_a_domain(world):
    make_sending_domain(world.a, DOMAIN)
    with tenant_context(world.a.tenant):
        with pytest.raises(SendingDomainError, match="already"):
            sending_domain_add(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], domain=DOMAIN.upper())
        with pytest.raises(InvalidDomain):
            sending_domain_add(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], domain="not a domain")
    make_sending_domain(world.b, DOMAIN)  # another organisation may add the same name


def test_the_records_to_publish_are_given_exactly(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    records = {r.purpose: r for r in sending_domain_records(sending_domain)}
    assert (records["DKIM"].host, records["DKIM"].type, records["DKIM"].value) == (
        f"{sending_domain.dkim_selector}._domainkey.{DOMAIN}",
        "TXT",
        sending_domain.dkim_public_txt,
    )
    assert (records["SPF"].host, records["SPF"].value) == (DOMAIN, f"v=spf1 {INCLUDE} ~all")
    assert (records["DMARC"].host, records["DMARC"].value) == (
        f"_dmarc.{DOMAIN}",
        "v=DMARC1; p=quarantine; adkim=r; aspf=r",
    )


# --- Checks --------------------------------------------------------------------------------------


def test_all_records_published_verifies_the_domain(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(world.a, sending_domain, published_resolver(sending_domain))
    assert checked.status == SendingDomainStatus.VERIFIED
    assert (checked.dkim_ok, checked.spf_ok, checked.dmarc_ok) == (True, True, True)
    assert checked.verified_at is not None and checked.last_checked_at is not None
    assert "Sealpost's public key" in checked.dkim_explanation
    assert INCLUDE in checked.spf_explanation and INCLUDE in checked.spf_record_seen
    assert "p=quarantine" in checked.dmarc_explanation
    assert checked.dkim_record_seen == sending_domain.dkim_public_txt


def test_a_dkim_key_split_into_strings_with_spaces_still_matches(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    value = sending_domain.dkim_public_txt
    spaced = value[:60] + " " + value[60:200] + "\t" + value[200:]
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, dkim=[spaced]))
    assert checked.dkim_ok


def test_missing_dkim_record_is_not_verified_and_says_what_to_publish(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, dkim=[]))
    assert checked.status == SendingDomainStatus.FAILING and not checked.dkim_ok
    assert checked.spf_ok and checked.dmarc_ok
    assert f"no TXT record at {dkim_host(sending_domain)}" in checked.dkim_explanation
    assert checked.verified_at is None


def test_a_wrong_dkim_key_is_not_verified(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    other = make_sending_domain(world.a, "other.example.org")
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, dkim=[other.dkim_public_txt]))
    assert checked.status == SendingDomainStatus.FAILING
    assert "different public key" in checked.dkim_explanation
    assert checked.dkim_record_seen == other.dkim_public_txt
    revoked = _check(world.a, sending_domain, published_resolver(sending_domain, dkim=["v=DKIM1; k=rsa; p="]))
    assert "revoked" in revoked.dkim_explanation and not revoked.dkim_ok


def test_missing_spf_is_not_verified(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, spf=["some-verification=1"]))
    assert checked.status == SendingDomainStatus.FAILING and not checked.spf_ok
    assert "no SPF record" in checked.spf_explanation and f"v=spf1 {INCLUDE} ~all" in checked.spf_explanation


@pytest.mark.parametrize(
    ("record", "ok", "phrase"),
    [
        (f"v=spf1 mx {INCLUDE} -all", True, "authorises Sealpost"),
        (f"v=spf1 +{INCLUDE} ~all", True, "authorises Sealpost"),
        ("v=spf1 mx -all", False, "ends in -all"),
        ("v=spf1 mx ~all", True, "soft fail"),
        ("v=spf1 mx ?all", True, "does not include"),
        ("v=spf1 +all", True, "+all"),
        ("v=spf1 redirect=_spf.example.org", True, "redirect="),
    ],
)
def test_spf_passes_when_it_authorises_sealpost_or_does_not_reject_it(world, record, ok, phrase):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, spf=[record]))
    assert checked.spf_ok is ok
    assert phrase in checked.spf_explanation
    assert (checked.status == SendingDomainStatus.VERIFIED) is ok


def test_two_spf_records_fail(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(
        world.a, sending_domain, published_resolver(sending_domain, spf=[f"v=spf1 {INCLUDE} ~all", "v=spf1 mx ~all"])
    )
    assert not checked.spf_ok and "2 SPF records" in checked.spf_explanation


def test_missing_dmarc_is_not_verified(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, dmarc=[]))
    assert checked.status == SendingDomainStatus.FAILING and not checked.dmarc_ok
    assert f"no DMARC record at _dmarc.{DOMAIN}" in checked.dmarc_explanation


def test_dmarc_p_none_is_accepted_with_a_warning(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, dmarc=["v=DMARC1; p=none"]))
    assert checked.status == SendingDomainStatus.VERIFIED and checked.dmarc_ok
    assert "p=none" in checked.dmarc_explanation and "only monitors" in checked.dmarc_explanation


def test_dmarc_without_a_valid_policy_fails(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    checked = _check(world.a, sending_domain, published_resolver(sending_domain, dmarc=["v=DMARC1; rua=mailto:x@y.z"]))
    assert not checked.dmarc_ok and "no valid policy" in checked.dmarc_explanation


def test_dmarc_of_the_parent_domain_covers_a_subdomain(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    resolver = published_resolver(sending_domain, dmarc=[])
    resolver.txt_records["_dmarc.clinic-a.example.org"] = (["v=DMARC1; p=reject; sp=quarantine"], False)
    checked = _check(world.a, sending_domain, resolver)
    assert checked.dmarc_ok and "p=quarantine" in checked.dmarc_explanation
    assert "_dmarc.clinic-a.example.org" in checked.dmarc_explanation
    assert ("TXT", "_dmarc.example.org") not in resolver.queries  # stops at the first record found
    assert ("TXT", "_dmarc.org") not in resolver.queries


def test_a_failed_lookup_does_not_take_verification_away(world):
    sending_domain = make_verified_sending_domain(world.a, DOMAIN)
    resolver = published_resolver(sending_domain)
    resolver.failing.add(f"_dmarc.{DOMAIN}")
    checked = _check(world.a, sending_domain, resolver)
    assert checked.status == SendingDomainStatus.VERIFIED and not checked.dmarc_ok
    assert "did not complete" in checked.dmarc_explanation
    # A definite failure does.
    failing = _check(world.a, sending_domain, published_resolver(sending_domain, dkim=[]))
    assert failing.status == SendingDomainStatus.FAILING and failing.verified_at is None


# --- Launch and the pipeline ------------------------------------------------------------------


def test_verified_only_for_the_tenants_own_verified_domain(world):
    pending = make_sending_domain(world.a, "pending.example.org")
    make_verified_sending_domain(world.b, DOMAIN)
    with tenant_context(world.a.tenant):
        assert not sending_domain_verified(tenant=world.a.tenant, domain=DOMAIN)  # B's does not count for A
        assert not sending_domain_verified(tenant=world.a.tenant, domain=pending.domain)
        assert not sending_domain_verified(tenant=world.a.tenant, domain="not a domain")
    make_verified_sending_domain(world.a, DOMAIN)
    with tenant_context(world.a.tenant):
        assert sending_domain_verified(tenant=world.a.tenant, domain=DOMAIN.upper())
        assert not sending_domain_verified(tenant=world.a.tenant, domain=f"sub.{DOMAIN}")
    with tenant_context(world.b.tenant):
        assert sending_domain_verified(tenant=world.b.tenant, domain=DOMAIN)


def test_the_key_signs_what_receivers_verify_with_the_published_record(world):
    sending_domain = make_verified_sending_domain(world.a, DOMAIN)
    with tenant_context(world.a.tenant):
        key = sending_domain_key(tenant=world.a.tenant, domain=DOMAIN)
    assert (key.domain, key.selector) == (DOMAIN, sending_domain.dkim_selector)
    signed = key.sign(_message(DOMAIN))
    assert verify_message(signed, dns_txt={dkim_host(sending_domain): sending_domain.dkim_public_txt})
    other = make_sending_domain(world.a, "other.example.org")
    assert not verify_message(signed, dns_txt={dkim_host(sending_domain): other.dkim_public_txt})


def test_no_key_for_an_unverified_or_foreign_domain(world):
    make_sending_domain(world.a, DOMAIN)
    make_verified_sending_domain(world.b, "b-only.example.org")
    with tenant_context(world.a.tenant):
        with pytest.raises(SendingDomainNotVerified, match="not a verified sending domain"):
            sending_domain_key(tenant=world.a.tenant, domain=DOMAIN)
        with pytest.raises(SendingDomainNotVerified):
            sending_domain_key(tenant=world.a.tenant, domain="b-only.example.org")


def test_removing_a_domain_stops_launch_and_signing(world):
    sending_domain = make_verified_sending_domain(world.a, DOMAIN)
    with tenant_context(world.a.tenant):
        sending_domain_remove(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], sending_domain=sending_domain)
        assert not sending_domain_verified(tenant=world.a.tenant, domain=DOMAIN)
        with pytest.raises(SendingDomainNotVerified):
            sending_domain_key(tenant=world.a.tenant, domain=DOMAIN)


# --- The demo ------------------------------------------------------------------------------------


def test_demo_verification_works_in_the_embedded_default_only(world, settings):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    with tenant_context(world.a.tenant):
        marked = sending_domain_verify_for_demo(tenant=world.a.tenant, sending_domain=sending_domain)
        assert marked.verified_for_demo and marked.status == SendingDomainStatus.VERIFIED
        assert sending_domain_verified(tenant=world.a.tenant, domain=DOMAIN)
        settings.PRODUCTION = True
        # Production never honours the demo's mark, nor makes one.
        assert not sending_domain_verified(tenant=world.a.tenant, domain=DOMAIN)
        with pytest.raises(SendingDomainNotVerified):
            sending_domain_key(tenant=world.a.tenant, domain=DOMAIN)
        other = sending_domain_add(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], domain="other.example.org")
        with pytest.raises(DemoVerificationRefused):
            sending_domain_verify_for_demo(tenant=world.a.tenant, sending_domain=other)
        assert SendingDomain.objects.get(pk=other.pk).status == SendingDomainStatus.PENDING


def test_a_real_check_replaces_the_demo_mark(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    with tenant_context(world.a.tenant):
        sending_domain_verify_for_demo(tenant=world.a.tenant, sending_domain=sending_domain)
    checked = _check(world.a, sending_domain, FakeResolver())
    assert not checked.verified_for_demo and checked.status == SendingDomainStatus.FAILING


def test_seed_demo_gives_demo_organisations_a_domain_verified_for_the_demo(settings, tmp_path, client):
    from django.core.management import call_command

    from delivery.demo import demo_sending_domain
    from tenants.models import Organisation

    settings.VAR_DIR = tmp_path
    call_command("seed_demo")
    call_command("seed_demo")
    tenant = Organisation.objects.get(slug="sunrise-demo")
    with tenant_context(tenant):
        rows = list(SendingDomain.objects.for_tenant(tenant))
        assert [(r.domain, r.verified_for_demo) for r in rows] == [(demo_sending_domain("sunrise-demo"), True)]
        assert sending_domain_verified(tenant=tenant, domain="sunrise-demo.example.com")
    assert _actions(tenant).count("sending_domain.verified_for_demo") == 1
    from authn.models import User

    admin = User.objects.get(email="admin@demo.sealpost.test")
    client.force_login(admin)
    from authn.tests.support import bind_client_session
    from tenants.resolution import SESSION_TENANT_KEY

    bind_client_session(client, admin, step_up=True)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    page = client.get(reverse("delivery:sending_domain_detail", kwargs={"domain_id": rows[0].pk}))
    assert "Verified for the local demo only" in page.content.decode()


# --- Pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "view", "manage"),
    [(Role.ADMIN, 200, True), (Role.MARKETER, 200, False), (Role.COMPLIANCE_OFFICER, 200, False)],
)
def test_page_permissions(world, login, role, view, manage):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    client = login(world.a.users[role], world.a.tenant)
    detail = reverse("delivery:sending_domain_detail", kwargs={"domain_id": sending_domain.pk})
    assert client.get(reverse("delivery:sending_domain_list")).status_code == view
    assert client.get(detail).status_code == view
    expected = 302 if manage else 403
    with use_resolver(published_resolver(sending_domain)):
        check = client.post(reverse("delivery:sending_domain_check", kwargs={"domain_id": sending_domain.pk}))
    assert check.status_code == expected
    assert client.post(reverse("delivery:sending_domain_add"), {"domain": "new.example.org"}).status_code == expected
    remove = reverse("delivery:sending_domain_remove", kwargs={"domain_id": sending_domain.pk})
    assert client.get(remove).status_code == (200 if manage else 403)
    assert client.post(remove).status_code == expected
    with tenant_context(world.a.tenant):
        assert SendingDomain.objects.filter(domain=DOMAIN).exists() is not manage
        assert SendingDomain.objects.filter(domain="new.example.org").exists() is manage


def test_the_add_form_only_shows_to_admins_and_the_page_is_in_the_navigation(world, login):
    admin = (
        login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("delivery:sending_domain_list")).content.decode()
    )
    assert reverse("delivery:sending_domain_add") in admin
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("tenants:dashboard")).content.decode()
    assert reverse("delivery:sending_domain_list") in marketer
    listing = login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("delivery:sending_domain_list"))
    assert reverse("delivery:sending_domain_add") not in listing.content.decode()


def test_adding_through_the_page_shows_the_records_then_the_checks(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(reverse("delivery:sending_domain_add"), {"domain": DOMAIN})
    assert response.status_code == 302
    with tenant_context(world.a.tenant):
        sending_domain = SendingDomain.objects.get(domain=DOMAIN)
    page = html.unescape(client.get(response.url).content.decode())
    for record in sending_domain_records(sending_domain):
        assert record.host in page and record.value in page
    assert "Not checked yet" in page
    assert "PRIVATE KEY" not in page
    with use_resolver(published_resolver(sending_domain, dmarc=["v=DMARC1; p=none"])):
        checked = client.post(reverse("delivery:sending_domain_check", kwargs={"domain_id": sending_domain.pk}))
    page = html.unescape(client.get(checked.url, follow=True).content.decode())
    assert "is verified" in page and "only monitors" in page and "v=DMARC1; p=none" in page


def test_an_invalid_or_duplicate_domain_is_refused_on_the_page(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    bad = client.post(reverse("delivery:sending_domain_add"), {"domain": "nope"})
    assert bad.status_code == 400 and "not a valid domain" in bad.content.decode()
    make_sending_domain(world.a, DOMAIN)
    again = client.post(reverse("delivery:sending_domain_add"), {"domain": DOMAIN})
    assert again.status_code == 400 and "already one of your sending domains" in again.content.decode()


def test_another_tenants_domain_is_404(world, login):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    client = login(world.b.users[Role.ADMIN], world.b.tenant)
    kwargs = {"domain_id": sending_domain.pk}
    assert client.get(reverse("delivery:sending_domain_detail", kwargs=kwargs)).status_code == 404
    with use_resolver(published_resolver(sending_domain)):
        assert client.post(reverse("delivery:sending_domain_check", kwargs=kwargs)).status_code == 404
    assert client.post(reverse("delivery:sending_domain_remove", kwargs=kwargs)).status_code == 404
    assert DOMAIN not in client.get(reverse("delivery:sending_domain_list")).content.decode()
    with tenant_context(world.b.tenant):
        from django.http import Http404

        with pytest.raises(Http404):
            sending_domain_get(tenant=world.b.tenant, domain_id=sending_domain.pk)
    with tenant_context(world.a.tenant):
        row = SendingDomain.objects.get(pk=sending_domain.pk)
    assert row.status == SendingDomainStatus.PENDING and row.last_checked_at is None


# --- Audit ---------------------------------------------------------------------------------------


def test_audit_events_in_order_with_outcomes_only(world):
    sending_domain = make_sending_domain(world.a, DOMAIN)
    _check(world.a, sending_domain, published_resolver(sending_domain, spf=[]))
    _check(world.a, sending_domain, published_resolver(sending_domain))
    with tenant_context(world.a.tenant):
        sending_domain_remove(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], sending_domain=sending_domain)
        events = list(
            AuditEvent.objects.filter(chain_id=world.a.tenant.pk, action__startswith="sending_domain.").order_by("seq")
        )
    # The first key of the organisation is created (and audited) on the way: encryption's event.
    assert "encryption.key_created" in _actions(world.a.tenant)
    assert [event.action for event in events] == [
        "sending_domain.added",
        "sending_domain.checked",
        "sending_domain.checked",
        "sending_domain.removed",
    ]
    assert json.loads(events[0].details) == {
        "domain": DOMAIN,
        "selector": sending_domain.dkim_selector,
        "algorithm": "rsa-sha256",
    }
    assert json.loads(events[1].details) == {"dkim_ok": True, "spf_ok": False, "dmarc_ok": True, "verified": False}
    assert json.loads(events[2].details) == {"dkim_ok": True, "spf_ok": True, "dmarc_ok": True, "verified": True}
    assert json.loads(events[3].details) == {"domain": DOMAIN}
    assert {event.actor_id for event in events} == {str(world.a.users[Role.ADMIN].pk)}
    assert {event.target_id for event in events} == {str(sending_domain.pk)}

"""The Recipient domains page: who may see it and check a domain, what it shows, and that one
organisation never sees the domains another checked."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from delivery.models import DomainTlsPosture, TenantRecipientDomain
from delivery.testing import CertificateAuthority, FakeResolver, server_context, smtp_server, use_resolver
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

VERIFIED = "verified.example.test"
PLAIN = "plain.example.test"


@pytest.fixture(autouse=True)
def servers(settings, tmp_path):
    """Two recipient domains as the embedded demo has them: one with verified TLS, one without."""
    ca = CertificateAuthority(tmp_path / "ca")
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MTA_STS_OVERRIDES = {}
    with (
        use_resolver(FakeResolver()),
        smtp_server(tls_context=server_context(ca.issue(f"mx.{VERIFIED}"))) as good,
        smtp_server() as plain,
    ):
        settings.DELIVERY_MX_OVERRIDES = {VERIFIED: f"mx.{VERIFIED}:{good.port}", PLAIN: f"mx.{PLAIN}:{plain.port}"}
        yield


def _actions(tenant) -> list[str]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(chain_id=tenant.pk).order_by("seq").values_list("action", flat=True))


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.COMPLIANCE_OFFICER, 200), (Role.MARKETER, 403)])
def test_admins_and_compliance_officers_see_the_page(world, login, role, status):
    client = login(world.a.users[role], world.a.tenant)
    assert client.get(reverse("delivery:domain_list")).status_code == status
    assert client.post(reverse("delivery:domain_check"), {"domain": VERIFIED}).status_code in (
        (302,) if status == 200 else (403,)
    )


def test_the_page_is_in_the_navigation_for_those_who_may_see_it(world, login):
    admin = login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("tenants:dashboard"))
    assert reverse("delivery:domain_list") in admin.content.decode()
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("tenants:dashboard"))
    assert reverse("delivery:domain_list") not in marketer.content.decode()


def test_checking_domains_lists_them_with_their_posture(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    start = len(_actions(world.a.tenant))
    response = client.post(reverse("delivery:domain_check"), {"domain": " Verified.Example.Test. "}, follow=True)
    assert response.status_code == 200
    assert f"Checked {VERIFIED}: verified TLS." in response.content.decode()
    client.post(reverse("delivery:domain_check"), {"domain": PLAIN})

    page = client.get(reverse("delivery:domain_list"))
    rows = {row.domain: row.posture for row in page.context["rows"]}
    assert set(rows) == {VERIFIED, PLAIN}
    assert rows[VERIFIED].tls == "verified" and rows[PLAIN].tls == "none"
    body = page.content.decode()
    assert "Verified TLS" in body and "No TLS" in body
    assert "the server does not offer STARTTLS" in body
    assert f"mx.{VERIFIED}" in body
    assert _actions(world.a.tenant)[start:] == ["delivery.domain_checked", "delivery.domain_checked"]
    with tenant_context(world.a.tenant):
        event = AuditEvent.objects.filter(chain_id=world.a.tenant.pk, action="delivery.domain_checked").first()
        assert json.loads(event.details) == {"tls": "verified", "delivery_refused": False}
        assert VERIFIED not in event.details


def test_another_organisation_does_not_see_the_domains_checked(world, login):
    checked = login(world.a.users[Role.ADMIN], world.a.tenant)
    checked.post(reverse("delivery:domain_check"), {"domain": VERIFIED}, follow=True)  # shows its message
    client = login(world.b.users[Role.ADMIN], world.b.tenant)
    page = client.get(reverse("delivery:domain_list"))
    assert page.context["rows"] == []
    assert VERIFIED not in page.content.decode()
    # The posture itself is a public fact kept once; the list of who checked it is per tenant.
    assert DomainTlsPosture.objects.filter(domain=VERIFIED).count() == 1
    with tenant_context(world.b.tenant):
        assert not TenantRecipientDomain.objects.for_tenant(world.b.tenant).exists()

    client.post(reverse("delivery:domain_check"), {"domain": PLAIN})
    rows = client.get(reverse("delivery:domain_list")).context["rows"]
    assert [row.domain for row in rows] == [PLAIN]


def test_an_invalid_domain_is_refused_and_changes_nothing(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    start = len(_actions(world.a.tenant))
    response = client.post(reverse("delivery:domain_check"), {"domain": "not a domain"})
    assert response.status_code == 400
    assert "That is not a valid domain name." in response.content.decode()
    assert _actions(world.a.tenant)[start:] == []
    assert not DomainTlsPosture.objects.exists()


def test_checks_are_rate_limited_per_organisation(world, login, settings):
    settings.DELIVERY_DOMAIN_CHECKS_PER_HOUR = 1
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert client.post(reverse("delivery:domain_check"), {"domain": PLAIN}).status_code == 302
    assert client.post(reverse("delivery:domain_check"), {"domain": VERIFIED}).status_code == 429
    other = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert other.post(reverse("delivery:domain_check"), {"domain": VERIFIED}).status_code == 302


def test_the_check_form_needs_its_csrf_token(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    client.handler.enforce_csrf_checks = True
    try:
        assert client.post(reverse("delivery:domain_check"), {"domain": PLAIN}).status_code == 403
    finally:
        client.handler.enforce_csrf_checks = False
    assert not DomainTlsPosture.objects.exists()


def test_the_list_takes_a_fixed_number_of_queries(world, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    counts = []
    for domain in (VERIFIED, PLAIN):
        client.post(reverse("delivery:domain_check"), {"domain": domain}, follow=True)
        with CaptureQueriesContext(connection) as queries:
            assert len(client.get(reverse("delivery:domain_list")).context["rows"]) == len(counts) + 1
        counts.append(len(queries))
        # Two of them are the page's own: the organisation's domains, then their postures.
        assert sum("delivery_" in query["sql"] for query in queries.captured_queries) == 2
    assert counts[0] == counts[1]

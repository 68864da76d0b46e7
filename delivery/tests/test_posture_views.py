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


@pytest.fixture
def check(django_capture_on_commit_callbacks, monkeypatch):
    """``check(client, domain)``: post "check now" and run the queued probe task (Celery eager),
    as a worker would right after the request commits."""
    from sealpost.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)

    def _check(client, domain, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("delivery:domain_check"), {"domain": domain}, **kwargs)

    return _check


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


def test_checking_domains_lists_them_with_their_posture(world, login, check):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    start = len(_actions(world.a.tenant))
    response = check(client, " Verified.Example.Test. ", follow=True)
    assert response.status_code == 200
    assert f"Checking {VERIFIED} now" in response.content.decode()
    check(client, PLAIN)

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


def test_another_organisation_does_not_see_the_domains_checked(world, login, check):
    checked = login(world.a.users[Role.ADMIN], world.a.tenant)
    check(checked, VERIFIED, follow=True)  # shows its message
    client = login(world.b.users[Role.ADMIN], world.b.tenant)
    page = client.get(reverse("delivery:domain_list"))
    assert page.context["rows"] == []
    assert VERIFIED not in page.content.decode()
    # The posture itself is a public fact kept once; the list of who checked it is per tenant.
    assert DomainTlsPosture.objects.filter(domain=VERIFIED).count() == 1
    with tenant_context(world.b.tenant):
        assert not TenantRecipientDomain.objects.for_tenant(world.b.tenant).exists()

    check(client, PLAIN)
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


def test_the_list_takes_a_fixed_number_of_queries(world, login, check):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    counts = []
    for domain in (VERIFIED, PLAIN):
        check(client, domain, follow=True)
        with CaptureQueriesContext(connection) as queries:
            assert len(client.get(reverse("delivery:domain_list")).context["rows"]) == len(counts) + 1
        counts.append(len(queries))
        # Two of them are the page's own: the organisation's domains, then their postures.
        assert sum("delivery_" in query["sql"] for query in queries.captured_queries) == 2
    assert counts[0] == counts[1]


def test_a_check_runs_in_the_background_and_the_list_shows_it_until_done(
    world, login, django_capture_on_commit_callbacks
):
    """The request only records the request and queues the probe: no page waits for a mail
    server. Until the task has run the row says "Checking…" and the table polls itself."""
    from delivery.tasks import recipient_domain_check_task

    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(reverse("delivery:domain_check"), {"domain": VERIFIED}).status_code == 302
    assert len(callbacks) == 1 and not DomainTlsPosture.objects.exists()  # nothing probed yet
    rows_url = reverse("delivery:domain_rows")
    page = client.get(reverse("delivery:domain_list")).content.decode()
    assert "Checking…" in page and f'hx-get="{rows_url}"' in page
    with tenant_context(world.a.tenant):
        row = TenantRecipientDomain.objects.for_tenant(world.a.tenant).get(domain=VERIFIED)
    assert recipient_domain_check_task.apply(args=(world.a.tenant.pk, str(row.pk))).get() == "verified"
    fragment = client.get(rows_url).content.decode()
    assert "Verified TLS" in fragment and "Checking…" not in fragment and "hx-get" not in fragment
    assert _actions(world.a.tenant)[-1] == "delivery.domain_checked"
    # Run again (a redelivered task): nothing more is probed or audited.
    assert recipient_domain_check_task.apply(args=(world.a.tenant.pk, str(row.pk))).get() == "nothing to do"
    assert _actions(world.a.tenant).count("delivery.domain_checked") == 1


def test_a_probe_that_fails_unexpectedly_never_leaves_the_row_checking(world, login, monkeypatch):
    from delivery import posture
    from delivery.posture import recipient_domain_check_request, recipient_domain_check_run

    def broken(domain, refresh=False):
        raise RuntimeError("synthetic failure")

    with tenant_context(world.a.tenant):
        row = recipient_domain_check_request(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], domain=PLAIN)
    monkeypatch.setattr(posture, "domain_posture", broken)
    with pytest.raises(RuntimeError):
        recipient_domain_check_run(tenant=world.a.tenant, row_id=row.pk)
    with tenant_context(world.a.tenant):
        row.refresh_from_db()
    assert row.check_requested_at is None
    assert "delivery.domain_checked" not in _actions(world.a.tenant)

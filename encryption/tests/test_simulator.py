"""The protection simulator: admins and compliance officers paste text and see the decision, the
reasons and the findings highlighted (escaped); the text is never stored, logged or put in a URL."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from consent.purposes import BUILTIN_PURPOSES
from encryption.dlp import classify
from encryption.dlp.findings import LEVEL_PHI, Classification, Finding
from encryption.models import QuarantinedMessage
from encryption.protection import DEFAULT_SETTINGS, DomainPosture, protection_decide
from encryption.services import protection_policy_update
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

SIMULATOR = reverse("encryption:protection_simulator")
HOSTILE = "Dear <script>alert(1)</script> Testy, your MRN ZZ-000001 shows synthetic-itis."


def _stub(text: str) -> Classification:
    """A classifier stand-in with findings at known offsets (the real one is used below too)."""
    spans = [("NAME", "Testy"), ("MRN", "ZZ-000001"), ("CONDITION", "synthetic-itis")]
    findings = tuple(
        Finding(kind, text.index(found), text.index(found) + len(found), 0.9, "stub")
        for kind, found in spans
        if found in text
    )
    return Classification(level=LEVEL_PHI if findings else "none", findings=findings)


@pytest.fixture
def stub_classifier(monkeypatch):
    monkeypatch.setattr("encryption.policy_views.classify", _stub)


def _form(**overrides) -> dict[str, str]:
    data = {
        "text": HOSTILE,
        "domain": "unverified.example",
        "tls": "unverified",
        "tls_version": "1.2",
        "purpose": "care",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.COMPLIANCE_OFFICER, 200), (Role.MARKETER, 403)])
def test_who_may_use_the_simulator(world, login, role, status):
    client = login(world.a.users[role], world.a.tenant)
    page = client.get(SIMULATOR)
    assert page.status_code == status
    assert client.post(SIMULATOR, _form()).status_code == status
    if status == 200:
        assert "Choose the domain's TLS by hand" in page.content.decode()


def test_the_decision_reasons_and_escaped_highlights_are_shown(world, login, stub_classifier, caplog):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    caplog.set_level(logging.DEBUG)
    response = client.post(SIMULATOR, _form())
    body = response.content.decode()
    assert response.status_code == 200
    assert "Decision: Escrow (secure portal)" in body
    assert "phi_no_verified_tls" in body and "TLS without verification" in body
    assert '<mark title="NAME">Testy<sup class="finding-type"> NAME</sup></mark>' in body
    assert '<mark title="MRN">ZZ-000001<sup class="finding-type"> MRN</sup></mark>' in body
    # The pasted markup is text on the page, never markup.
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "no-store" in response["Cache-Control"]
    # Audited without the text: level, decision and the number of findings.
    assert events(world.a.tenant, seq) == [
        ("protection.simulated", {"level": "phi", "decision": "escrow", "findings": 3})
    ]
    # Not stored, not logged, not in the session, hidden from error reports.
    with tenant_context(world.a.tenant):
        assert not QuarantinedMessage.objects.for_tenant(world.a.tenant).exists()
    assert "ZZ-000001" not in caplog.text and "synthetic-itis" not in caplog.text
    assert "ZZ-000001" not in str(dict(client.session.items()))
    assert response.wsgi_request.sensitive_post_parameters == ("text",)


def test_the_patients_recorded_choice_and_the_purpose_change_the_decision(world, login, stub_classifier):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    accepted = client.post(SIMULATOR, _form(accepts_unencrypted_phi="on")).content.decode()
    assert "Decision: Standard delivery" in accepted and "phi_patient_accepts_unencrypted" in accepted
    verified = client.post(SIMULATOR, _form(tls="verified", tls_version="1.3")).content.decode()
    assert "Decision: Verified TLS only" in verified
    marketing = client.post(SIMULATOR, _form(tls="verified", purpose="marketing")).content.decode()
    assert "Decision: Quarantine" in marketing and "phi_in_marketing" in marketing


def test_the_simulator_uses_the_organisations_saved_policy(world, login, stub_classifier):
    with tenant_context(world.a.tenant):
        protection_policy_update(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], escrow_all_phi=True)
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    body = client.post(SIMULATOR, _form(tls="verified", tls_version="1.3")).content.decode()
    assert "Decision: Escrow" in body and "escrow_all_phi" in body
    # Tenant B's policy is its own.
    other = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert "Decision: Verified TLS only" in other.post(SIMULATOR, _form(tls="verified")).content.decode()


def test_the_organisations_own_purposes_can_be_chosen(world, login, stub_classifier):
    from consent.services import purpose_create
    from consent.tests.support import STAFF

    with tenant_context(world.a.tenant):
        purpose_create(tenant=world.a.tenant, actor=STAFF, key="newsletter", name="Newsletter", is_marketing=False)
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert "Newsletter" in client.get(SIMULATOR).content.decode()
    body = client.post(SIMULATOR, _form(tls="verified", purpose="newsletter")).content.decode()
    assert "phi_purpose_not_allowed" in body
    # Another tenant's purpose is not a choice.
    other = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert other.post(SIMULATOR, _form(purpose="newsletter")).status_code == 400


@pytest.mark.parametrize(
    "overrides",
    [
        {"domain": "not a domain"},
        {"domain": ""},
        {"tls": "maybe"},
        {"tls_version": "9.9"},
        {"text": ""},
        {"text": "x" * 20_001},
    ],
)
def test_bad_input_is_refused_and_nothing_is_audited(world, login, stub_classifier, overrides):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    response = client.post(SIMULATOR, _form(**overrides))
    assert response.status_code == 400 and "Decision:" not in response.content.decode()
    assert events(world.a.tenant, seq) == []


def test_text_in_the_url_is_ignored(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    response = client.get(
        SIMULATOR, {"text": "MRN ZZ-000001", "domain": "example.com", "tls": "none", "purpose": "care"}
    )
    assert response.status_code == 200 and "Decision:" not in response.content.decode()
    assert events(world.a.tenant, seq) == []


def test_with_the_real_classifier_the_page_shows_what_the_policy_decides(world, login):
    text = (
        "Dear Testy Synthetic, your appointment at the clinic on 03/04/2031 about your diabetes "
        "follow-up is confirmed. MRN: 00012345. Call 555-0100."
    )
    classification = classify(text)
    expected = protection_decide(
        policy=DEFAULT_SETTINGS,
        classification=classification,
        purpose=next(purpose for purpose in BUILTIN_PURPOSES if purpose.key == "care"),
        posture=DomainPosture(domain="plain.example", tls="none"),
        accepts_unencrypted_phi=False,
    )
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    body = client.post(SIMULATOR, _form(text=text, domain="plain.example", tls="none", tls_version="")).content.decode()
    assert f"Decision: {expected.label}" in body
    for code in expected.codes:
        assert code in body
    for finding in classification.findings:
        assert f'<mark title="{finding.type}">' in body


def _stored_posture(domain: str, *, tls: str, version: str | None, refused: bool = False) -> None:
    """A posture as a probe would have stored it (no network here)."""
    from datetime import timedelta

    from django.utils import timezone

    from delivery.posture import TlsPosture, _store

    now = timezone.now()
    _store(
        TlsPosture(
            domain=domain,
            mx_hosts=(f"mx.{domain}",),
            mx_host=f"mx.{domain}",
            tls=tls,
            tls_version=version,
            protocol=f"TLSv{version}" if version else None,
            cipher=None,
            certificate=None,
            verification="webpki" if tls == "verified" else None,
            mta_sts_mode="none",
            mta_sts_policy=None,
            dane=False,
            delivery_refused=refused,
            reasons=(),
            checked_at=now,
            expires_at=now + timedelta(hours=1),
        ),
        requested=True,
    )


def _checked_by(fixture, domain: str) -> None:
    from delivery.posture import recipient_domain_touch

    with tenant_context(fixture.tenant):
        recipient_domain_touch(tenant=fixture.tenant, domain=domain)


def test_a_checked_domain_s_stored_posture_drives_the_decision(world, login, stub_classifier):
    _stored_posture("verified.example", tls="verified", version="1.3")
    _stored_posture("plain.example", tls="none", version=None)
    _checked_by(world.a, "verified.example")
    _checked_by(world.a, "plain.example")
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    verified = client.post(SIMULATOR, _form(domain="verified.example", tls="checked", tls_version=None))
    assert verified.status_code == 200
    assert verified.context["result"]["decision"].action == "verified_tls"
    plain = client.post(SIMULATOR, _form(domain="plain.example", tls="checked", tls_version=None))
    assert plain.context["result"]["decision"].action == "escrow"


def test_a_refused_domain_reads_as_no_tls(world, login, stub_classifier):
    _stored_posture("refused.example", tls="unverified", version="1.2", refused=True)
    _checked_by(world.a, "refused.example")
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(SIMULATOR, _form(domain="refused.example", tls="checked", tls_version=None))
    assert response.context["result"]["decision"].action == "escrow"


def test_another_organisation_s_checked_domain_does_not_show_through(world, login, stub_classifier):
    """Tenant B checked the domain; tenant A never did: A learns nothing, not even that B did."""
    _stored_posture("only-b.example", tls="verified", version="1.3")
    _checked_by(world.b, "only-b.example")
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    response = client.post(SIMULATOR, _form(domain="only-b.example", tls="checked", tls_version=None))
    assert response.status_code == 400
    assert "has not checked that domain yet" in response.content.decode()
    assert response.context["result"] is None
    assert events(world.a.tenant, seq) == []

"""The BAA pages: signing behind a passkey step-up, terminating, the signed copy, the dashboard
notice, the sub-processor pages, roles and other tenants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import actions, events, head_seq
from authn.tests.support import give_step_up
from baa.models import Agreement, AgreementStatus, SubProcessor
from baa.selectors import document_current
from baa.tests.support import make_active, make_draft, make_subprocessor, reload_agreement, reload_subprocessor
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

STATUS = reverse("baa:status")
PREPARE = reverse("baa:agreement_prepare")
SUBPROCESSORS = reverse("baa:subprocessor_list")
NEW_SUBPROCESSOR = reverse("baa:subprocessor_create")


def _url(name, **kwargs):
    return reverse(f"baa:{name}", kwargs=kwargs)


def _sign_form(agreement, **overrides):
    data = {
        "agree": "on",
        "signer_name": "Avery Signer",
        "signer_title": "Practice administrator",
        "signer_organisation": "Org A",
        "document_sha256": agreement.document.sha256,
    }
    data.update(overrides)
    return data


def test_signing_is_refused_without_a_fresh_step_up_and_works_with_one(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)  # signed in with a passkey, no fresh step-up
    response = client.post(PREPARE)
    draft_id = response["Location"].split("/")[-3]
    assert response["Location"] == _url("agreement_sign", agreement_id=draft_id)
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Signing needs a fresh confirmation" in page.content.decode()

    seq = head_seq(world.a.tenant)
    draft = reload_agreement(world.a, draft_id)
    refused = client.post(_url("agreement_sign", agreement_id=draft_id), _sign_form(draft))
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("authn:step_up"))
    assert reload_agreement(world.a, draft_id).status == AgreementStatus.DRAFT
    assert actions(world.a.tenant, seq) == []

    give_step_up(client)
    signed = client.post(_url("agreement_sign", agreement_id=draft_id), _sign_form(draft))
    assert signed.status_code == 302 and signed["Location"] == STATUS
    agreement = reload_agreement(world.a, draft_id)
    assert agreement.status == AgreementStatus.ACTIVE
    assert agreement.signer_ip == "127.0.0.1" and agreement.signed_by == world.a.users[Role.ADMIN]
    assert actions(world.a.tenant, seq) == ["baa.signed", "baa.activated"]
    assert "in force until" in client.get(STATUS).content.decode()


def test_the_sign_page_shows_the_whole_text_and_its_hash(world, login):
    draft = make_draft(world.a)
    body = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True).get(
        _url("agreement_sign", agreement_id=draft.pk)
    )
    text = body.content.decode()
    document = document_current()
    assert document.sha256 in text
    assert "SUBCONTRACTORS" in text and "Return or destruction of PHI" in text
    assert "I have read the agreement" in text


def test_signing_without_ticking_i_have_read_signs_nothing(world, login):
    draft = make_draft(world.a)
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    form = _sign_form(draft)
    del form["agree"]
    response = client.post(_url("agreement_sign", agreement_id=draft.pk), form)
    assert response.status_code == 400 and "Tick the box" in response.content.decode()
    assert reload_agreement(world.a, draft.pk).status == AgreementStatus.DRAFT
    assert actions(world.a.tenant, seq) == []


def test_a_signed_agreement_is_not_signed_again_through_the_page(world, login):
    active = make_active(world.a)
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    response = client.post(_url("agreement_sign", agreement_id=active.pk), _sign_form(active, signer_name="Other"))
    assert response.status_code == 302 and response["Location"] == STATUS
    assert reload_agreement(world.a, active.pk).signer_name == "Avery Signer"
    assert actions(world.a.tenant, seq) == []


def test_terminating_needs_a_step_up_a_reason_and_the_confirmation(world, login):
    active = make_active(world.a)
    url = _url("agreement_terminate", agreement_id=active.pk)
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    data = {"reason": "Moving to another platform.", "confirm": "on"}
    assert client.post(url, data)["Location"].startswith(reverse("authn:step_up"))
    give_step_up(client)
    assert client.post(url, {"reason": "Moving to another platform."}).status_code == 400
    assert client.post(url, {"confirm": "on"}).status_code == 400
    assert reload_agreement(world.a, active.pk).status == AgreementStatus.ACTIVE
    assert client.post(url, data)["Location"] == STATUS
    agreement = reload_agreement(world.a, active.pk)
    assert agreement.status == AgreementStatus.TERMINATED
    assert agreement.termination_reason == "Moving to another platform."
    assert actions(world.a.tenant, seq) == ["baa.terminated"]
    assert "PHI cannot be sent" in client.get(STATUS).content.decode()


def test_the_signed_copy_holds_text_signatures_dates_and_hash_and_is_audited(world, login, settings):
    settings.BAA_COUNTERSIGNER_NAME = "Robin Countersigner"
    active = make_active(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    response = client.get(_url("agreement_download", agreement_id=active.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    for expected in (
        active.signed_sha256,
        "Avery Signer",
        "Practice administrator",
        "Org A",
        "192.0.2.10",
        "Robin Countersigner",
        active.effective_date.isoformat(),
        active.expiry_date.isoformat(),
        "SUBCONTRACTORS",
    ):
        assert expected in body, expected
    # Self-contained: nothing is fetched from elsewhere when the file is opened.
    assert "<link" not in body and "<script" not in body and "src=" not in body
    assert events(world.a.tenant, seq) == [("baa.downloaded", {"document_version": 1, "status": "active"})]


def test_an_unsigned_draft_has_no_copy_to_download(world, login):
    draft = make_draft(world.a)
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    assert client.get(_url("agreement_download", agreement_id=draft.pk)).status_code == 404
    assert actions(world.a.tenant, seq) == []


def test_the_status_page_shows_the_agreement_in_force_and_the_history(world, login):
    first = make_active(world.a)
    make_active(world.a)  # supersedes the first
    body = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).get(STATUS).content.decode()
    assert "Agreement in force" in body and "PHI may be sent" in body
    assert body.count("Superseded by a newer agreement.") == 1
    assert _url("agreement_download", agreement_id=first.pk) in body
    # Compliance officers read only: no terminate or sign actions.
    assert "/terminate/" not in body and "Read and sign" not in body and PREPARE not in body
    admin_body = login(world.a.users[Role.ADMIN], world.a.tenant).get(STATUS).content.decode()
    assert "/terminate/" in admin_body


@pytest.mark.parametrize("role", [Role.MARKETER, Role.COMPLIANCE_OFFICER])
def test_only_admins_prepare_sign_or_terminate(world, login, role):
    draft = make_draft(world.a)
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    assert client.post(PREPARE).status_code == 403
    assert client.post(_url("agreement_sign", agreement_id=draft.pk), _sign_form(draft)).status_code == 403
    assert client.get(_url("agreement_sign", agreement_id=draft.pk)).status_code == 403
    assert reload_agreement(world.a, draft.pk).status == AgreementStatus.DRAFT
    assert actions(world.a.tenant, seq) == []


def test_marketers_do_not_see_the_baa_pages(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.get(STATUS).status_code == 403
    assert client.get(SUBPROCESSORS).status_code == 403
    active = make_active(world.a)
    assert client.get(_url("agreement_download", agreement_id=active.pk)).status_code == 403


# --- The dashboard notice -------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_the_dashboard_says_why_phi_cannot_be_sent_and_where_to_sign(world, login, role):
    client = login(world.a.users[role], world.a.tenant)
    body = client.get(reverse("tenants:dashboard")).content.decode()
    assert "Messages with PHI cannot be sent" in body
    assert "No business associate agreement is in force" in body
    link = f'href="{STATUS}"'
    if role == Role.MARKETER:
        assert "Ask an admin to sign" in body and link not in body
    else:
        assert link in body
    make_active(world.a)
    assert "Messages with PHI cannot be sent" not in client.get(reverse("tenants:dashboard")).content.decode()
    # B has no agreement: its dashboard still warns.
    other = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert "Messages with PHI cannot be sent" in other.get(reverse("tenants:dashboard")).content.decode()


# --- Sub-processors -------------------------------------------------------------------------------


def test_an_admin_adds_edits_and_removes_a_subprocessor(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    seq = head_seq(world.a.tenant)
    created = client.post(
        NEW_SUBPROCESSOR,
        {
            "name": "Amazon SES",
            "purpose": "Email delivery",
            "handles_phi": "on",
            "baa_status": "signed",
            "baa_date": "2026-01-15",
        },
    )
    assert created.status_code == 302 and created["Location"] == SUBPROCESSORS
    with tenant_context(world.a.tenant):
        subprocessor = SubProcessor.objects.for_tenant(world.a.tenant).get()
    assert "Amazon SES" in client.get(SUBPROCESSORS).content.decode()
    edit = _url("subprocessor_edit", subprocessor_id=subprocessor.pk)
    assert client.get(edit).status_code == 200
    saved = client.post(
        edit, {"name": "Amazon SES", "purpose": "Email delivery", "baa_status": "none"}
    )  # no longer handles PHI
    assert saved.status_code == 302
    changed = reload_subprocessor(world.a, subprocessor.pk)
    assert (changed.handles_phi, changed.baa_status, changed.baa_date) == (False, "none", None)
    delete = _url("subprocessor_delete", subprocessor_id=subprocessor.pk)
    assert client.get(delete).status_code == 200
    assert client.post(delete).status_code == 302
    assert reload_subprocessor(world.a, subprocessor.pk) is None
    assert actions(world.a.tenant, seq) == ["subprocessor.added", "subprocessor.updated", "subprocessor.removed"]


def test_a_phi_subprocessor_without_a_baa_requirement_is_refused_with_the_reason(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(
        NEW_SUBPROCESSOR,
        {"name": "Analytics Co", "purpose": "Open tracking", "handles_phi": "on", "baa_status": "not_required"},
    )
    assert response.status_code == 400
    assert "needs a business associate agreement" in response.content.decode()
    with tenant_context(world.a.tenant):
        assert not SubProcessor.objects.for_tenant(world.a.tenant).exists()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.COMPLIANCE_OFFICER])
def test_only_admins_manage_subprocessors(world, login, role):
    subprocessor = make_subprocessor(world.a)
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    data = {"name": "Other", "purpose": "x", "baa_status": "none"}
    assert client.post(NEW_SUBPROCESSOR, data).status_code == 403
    assert client.post(_url("subprocessor_edit", subprocessor_id=subprocessor.pk), data).status_code == 403
    assert client.post(_url("subprocessor_delete", subprocessor_id=subprocessor.pk)).status_code == 403
    assert reload_subprocessor(world.a, subprocessor.pk).name == "Amazon SES"
    assert actions(world.a.tenant, seq) == []
    listing = client.get(SUBPROCESSORS)
    if role == Role.COMPLIANCE_OFFICER:
        assert listing.status_code == 200 and "Amazon SES" in listing.content.decode()
        assert NEW_SUBPROCESSOR not in listing.content.decode()
    else:
        assert listing.status_code == 403


# --- Other tenants --------------------------------------------------------------------------------


def test_another_tenants_admin_gets_404_for_every_baa_object_and_changes_nothing(world, login):
    make_active(world.b)  # B's own agreement: B's admin is not stopped by a missing BAA
    active = make_active(world.a)
    subprocessor = make_subprocessor(world.a)
    client = login(world.b.users[Role.ADMIN], world.b.tenant, step_up=True)
    draft = make_draft(world.a)
    seq = head_seq(world.a.tenant)
    urls = [
        _url("agreement_sign", agreement_id=draft.pk),
        _url("agreement_terminate", agreement_id=active.pk),
        _url("agreement_download", agreement_id=active.pk),
        _url("subprocessor_edit", subprocessor_id=subprocessor.pk),
        _url("subprocessor_delete", subprocessor_id=subprocessor.pk),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert client.post(urls[0], _sign_form(draft)).status_code == 404
    assert client.post(urls[1], {"reason": "x", "confirm": "on"}).status_code == 404
    assert client.post(urls[3], {"name": "Renamed", "purpose": "x", "baa_status": "none"}).status_code == 404
    assert client.post(urls[4]).status_code == 404
    assert reload_agreement(world.a, draft.pk).status == AgreementStatus.DRAFT
    assert reload_agreement(world.a, active.pk).status == AgreementStatus.ACTIVE
    assert reload_subprocessor(world.a, subprocessor.pk).name == "Amazon SES"
    assert actions(world.a.tenant, seq) == []
    # B's pages list B's agreement and sub-processors only.
    assert "Amazon SES" not in client.get(SUBPROCESSORS).content.decode()
    assert str(active.pk) not in client.get(STATUS).content.decode()


def test_renewal_is_offered_only_close_to_the_expiry_date(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    active = make_active(world.a)
    assert "now replaces the agreement in force" not in client.get(STATUS).content.decode()
    with tenant_context(world.a.tenant):
        Agreement.objects.for_tenant(world.a.tenant).filter(pk=active.pk).update(
            expiry_date=(timezone.now() + timedelta(days=30)).date()
        )
    body = client.get(STATUS).content.decode()
    assert "now replaces the agreement in force" in body and PREPARE in body
    draft_url = client.post(PREPARE)["Location"]
    assert client.get(draft_url).status_code == 200

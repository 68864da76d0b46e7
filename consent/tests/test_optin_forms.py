"""Staff pages of the hosted opt-in forms: who may use them, versions, audit, and that another
organisation's form is not found."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from consent.models import OptInForm
from consent.tests.public_support import make_form
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

FORM_DATA = {
    "name": "Flu season",
    "heading": "Flu clinic news",
    "introduction": "Dates of our flu clinics.",
    "purposes": ["marketing", "appointment_reminders"],
    "is_active": "on",
}


def _only_form(tenant) -> OptInForm:
    with tenant_context(tenant):
        return OptInForm.objects.get()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MARKETER])
def test_admins_and_marketers_create_and_edit_forms(world, login, settings, role):
    settings.SITE_URL = "https://sealpost.example.org"
    tenant = world.a.tenant
    client = login(world.a.users[role], tenant)
    seq = head_seq(tenant)
    response = client.post(reverse("consent:optin_form_create"), FORM_DATA)
    form = _only_form(tenant)
    assert response.status_code == 302
    assert response["Location"] == reverse("consent:optin_form_detail", args=[form.pk])
    assert (form.version, form.purposes) == (1, ["appointment_reminders", "marketing"])
    detail = client.get(response["Location"]).content.decode()
    hosted = f"https://sealpost.example.org/r/optin/{tenant.slug}/{form.public_id}/"
    assert hosted in detail
    assert f"&lt;iframe src=&quot;{hosted}&quot; title=&quot;Flu clinic news&quot;" in detail

    edit = reverse("consent:optin_form_edit", args=[form.pk])
    assert client.get(edit).status_code == 200
    assert client.post(edit, {**FORM_DATA, "heading": "Flu clinics near you"}).status_code == 302
    assert client.post(edit, {**FORM_DATA, "heading": "Flu clinics near you"}).status_code == 302  # no change
    form = _only_form(tenant)
    assert (form.version, form.heading, form.form_version) == (2, "Flu clinics near you", f"{form.public_id}:v2")
    assert events(tenant, seq) == [
        (
            "consent.optin_form_saved",
            {"version": 1, "purposes": ["appointment_reminders", "marketing"], "created": True, "is_active": True},
        ),
        (
            "consent.optin_form_saved",
            {"version": 2, "purposes": ["appointment_reminders", "marketing"], "fields": ["heading"]},
        ),
    ]
    listing = client.get(reverse("consent:optin_form_list")).content.decode()
    assert "Flu season" in listing and "v2" in listing


def test_compliance_officers_may_not_manage_forms(world, login):
    form = make_form(world.a.tenant)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert client.get(reverse("consent:optin_form_list")).status_code == 403
    assert client.post(reverse("consent:optin_form_create"), FORM_DATA).status_code == 403
    assert client.get(reverse("consent:optin_form_detail", args=[form.pk])).status_code == 403
    edit = client.post(reverse("consent:optin_form_edit", args=[form.pk]), {**FORM_DATA, "heading": "Changed"})
    assert edit.status_code == 403
    assert _only_form(world.a.tenant).version == 1


def test_it_checks_ownership(world, login):
    form = make_form(world.a.tenant)
    client = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert client.get(reverse("consent:optin_form_detail", args=[form.pk])).status_code == 404
    assert client.get(reverse("consent:optin_form_edit", args=[form.pk])).status_code == 404
    response = client.post(reverse("consent:optin_form_edit", args=[form.pk]), {**FORM_DATA, "heading": "Mine now"})
    assert response.status_code == 404
    assert "Website sign-up" not in client.get(reverse("consent:optin_form_list")).content.decode()
    assert _only_form(world.a.tenant).heading == "Hear from Synthetic Clinic"


def test_invalid_forms_are_explained_and_save_nothing(world, login):
    tenant = world.a.tenant
    client = login(world.a.users[Role.ADMIN], tenant)
    seq = head_seq(tenant)
    response = client.post(reverse("consent:optin_form_create"), {**FORM_DATA, "heading": "", "purposes": []})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nothing was saved" in body
    assert "Choose at least one purpose" in body
    assert 'aria-describedby="id_purposes-error"' in body
    with tenant_context(tenant):
        assert not OptInForm.objects.exists()
    assert events(tenant, seq) == []


def test_archived_purposes_cannot_be_chosen(world, login):
    from consent.services import purpose_archive, purpose_create
    from consent.tests.support import STAFF

    tenant = world.a.tenant
    with tenant_context(tenant):
        purpose = purpose_create(tenant=tenant, actor=STAFF, key="research", name="Research", is_marketing=False)
        purpose_archive(tenant=tenant, actor=STAFF, purpose=purpose)
    client = login(world.a.users[Role.ADMIN], tenant)
    response = client.post(reverse("consent:optin_form_create"), {**FORM_DATA, "purposes": ["research"]})
    assert response.status_code == 200
    with tenant_context(tenant):
        assert not OptInForm.objects.exists()


def test_the_list_takes_a_fixed_number_of_queries(world, login, django_assert_max_num_queries):
    """The page costs the same with one form as with many (no query per row)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_form(world.a.tenant, name="Form 0")
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    client.get(reverse("consent:optin_form_list"))  # warm the session and the keys
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("consent:optin_form_list"))
    for number in range(1, 8):
        make_form(world.a.tenant, name=f"Form {number}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("consent:optin_form_list"))
    assert response.content.decode().count("Form ") >= 8

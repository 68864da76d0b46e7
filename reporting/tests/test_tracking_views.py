"""The tracking switches in the UI and the API: the organisation's settings page (admins), a
campaign's switch (form, detail page, API), a contact's opt-out (detail page, API) and the
recipient's own choice in the preference centre. Each change is audited; another tenant's
users get 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from campaigns.models import Campaign
from campaigns.tests.support import approved_template, make_campaign, segment
from consent.links import preference_centre_url
from consent.tests.public_support import grant
from reporting.models import TrackingSettings
from reporting.tracking import tracking_settings_for
from segments.models import Contact
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db


def _bearer(fixture, scopes):
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=scopes)
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def _campaign(fixture) -> Campaign:
    with tenant_context(fixture.tenant):
        return make_campaign(fixture)


def _reload_campaign(fixture, campaign) -> Campaign:
    with tenant_context(fixture.tenant):
        return Campaign.objects.for_tenant(fixture.tenant).get(pk=campaign.pk)


def _reload_contact(fixture, contact) -> Contact:
    with tenant_context(fixture.tenant):
        return Contact.objects.for_tenant(fixture.tenant).get(pk=contact.pk)


# --- The organisation's settings ----------------------------------------------------------------


def test_defaults_track_opens_and_clicks_but_not_phi_messages(world):
    with tenant_context(world.a.tenant):
        row = tracking_settings_for(tenant=world.a.tenant)
        stored = TrackingSettings.objects.for_tenant(world.a.tenant).exists()
    assert (row.track_opens, row.track_clicks, row.track_phi_messages) == (True, True, False)
    assert row._state.adding and not stored  # nothing stored until an admin saves


def test_admins_change_the_settings_and_the_change_is_audited(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    url = reverse("reporting:tracking_settings")
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="track_opens" checked' in body and 'name="track_phi_messages" aria-describedby="phi_help">' in body
    seq = head_seq(world.a.tenant)
    response = client.post(url, {"track_opens": "on", "track_phi_messages": "on"})
    assert response.status_code == 302
    with tenant_context(world.a.tenant):
        row = TrackingSettings.objects.for_tenant(world.a.tenant).get()
    assert (row.track_opens, row.track_clicks, row.track_phi_messages) == (True, False, True)
    assert events(world.a.tenant, seq) == [
        (
            "tracking.settings_changed",
            {
                "changed": ["track_clicks", "track_phi_messages"],
                "track_opens": True,
                "track_clicks": False,
                "track_phi_messages": True,
            },
        )
    ]
    # Tenant B's settings are B's own: still the defaults.
    with tenant_context(world.b.tenant):
        assert tracking_settings_for(tenant=world.b.tenant).track_clicks is True


@pytest.mark.parametrize("role", [Role.MARKETER, Role.COMPLIANCE_OFFICER])
def test_only_admins_reach_the_settings(world, login, role):
    client = login(world.a.users[role], world.a.tenant)
    assert client.get(reverse("reporting:tracking_settings")).status_code == 403
    assert client.post(reverse("reporting:tracking_settings"), {}).status_code == 403
    with tenant_context(world.a.tenant):
        assert not TrackingSettings.objects.for_tenant(world.a.tenant).exists()


# --- A campaign's switch ------------------------------------------------------------------------


def test_the_campaign_form_has_the_tracking_switch(world, login):
    version, seg = approved_template(world.a), segment(world.a)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    page = client.get(reverse("campaigns:campaign_create"))
    assert 'name="tracking" value="on"' in page.content.decode()
    response = client.post(
        reverse("campaigns:campaign_create"),
        {
            "name": "No tracking please",
            "template": str(version.template_id),
            "segment": str(seg.pk),
            "from_name": "Synthetic Clinic",
            "from_address": "news@org-a.example.com",
            "schedule_kind": "now",
            "tracking": "off",
        },
    )
    assert response.status_code == 302
    with tenant_context(world.a.tenant):
        campaign = Campaign.objects.for_tenant(world.a.tenant).get(name="No tracking please")
    assert campaign.tracking_enabled is False
    edit = client.get(reverse("campaigns:campaign_edit", args=[campaign.pk])).content.decode()
    assert "checked" in edit.split('value="off"', 1)[1].split(">", 1)[0]


def test_the_campaign_detail_page_turns_tracking_off_in_any_state_and_audits_it(world, login):
    campaign = _campaign(world.a)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    detail = client.get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    assert "Turn tracking off" in detail
    seq = head_seq(world.a.tenant)
    url = reverse("reporting:campaign_tracking", args=[campaign.pk])
    assert client.post(url, {"enabled": "off"}).status_code == 302
    assert _reload_campaign(world.a, campaign).tracking_enabled is False
    assert client.post(url, {"enabled": "off"}).status_code == 302  # no change: no event
    assert client.post(url, {"enabled": "on"}).status_code == 302
    assert _reload_campaign(world.a, campaign).tracking_enabled is True
    assert events(world.a.tenant, seq) == [
        ("campaign.tracking_changed", {"tracking_enabled": False}),
        ("campaign.tracking_changed", {"tracking_enabled": True}),
    ]
    # A compliance officer sees the state but may not change it.
    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert (
        "Turn tracking off"
        not in officer.get(reverse("campaigns:campaign_detail", args=[campaign.pk])).content.decode()
    )
    assert officer.post(url, {"enabled": "off"}).status_code == 403


def test_another_tenants_user_gets_404_for_the_campaign_and_contact_switches(world, login):
    campaign = _campaign(world.a)
    contact = make_contact(world.a.tenant)
    client = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert (
        client.post(reverse("reporting:campaign_tracking", args=[campaign.pk]), {"enabled": "off"}).status_code == 404
    )
    assert client.post(reverse("reporting:contact_tracking", args=[contact.pk]), {"opt_out": "on"}).status_code == 404
    assert _reload_campaign(world.a, campaign).tracking_enabled is True
    assert _reload_contact(world.a, contact).tracking_opt_out is False


def test_the_campaigns_api_takes_and_shows_tracking_enabled(world, client):
    version, seg = approved_template(world.a), segment(world.a)
    body = {
        "name": "API without tracking",
        "template_id": str(version.template_id),
        "segment_id": str(seg.pk),
        "from_name": "Synthetic Clinic",
        "from_address": "news@org-a.example.com",
    }
    write = _bearer(world.a, ["campaigns:write", "campaigns:read"])
    created = client.post(
        "/api/campaigns/", {**body, "tracking_enabled": False}, content_type="application/json", **write
    )
    assert created.status_code == 201, created.json()
    assert created.json()["tracking_enabled"] is False
    default = client.post("/api/campaigns/", {**body, "name": "API default"}, content_type="application/json", **write)
    assert default.json()["tracking_enabled"] is True
    shown = client.get(f"/api/campaigns/{created.json()['id']}/", **write)
    assert shown.json()["tracking_enabled"] is False


# --- A contact's opt-out ------------------------------------------------------------------------


def test_staff_opt_a_contact_out_from_the_contact_page_audited(world, login):
    contact = make_contact(world.a.tenant)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    page = client.get(reverse("segments:contact_detail", args=[contact.pk])).content.decode()
    assert "Opt out of tracking" in page
    seq = head_seq(world.a.tenant)
    response = client.post(reverse("reporting:contact_tracking", args=[contact.pk]), {"opt_out": "on"})
    assert response.status_code == 302
    assert _reload_contact(world.a, contact).tracking_opt_out is True
    assert events(world.a.tenant, seq) == [("contact.updated", {"fields": ["tracking_opt_out"]})]
    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert "Opted out" in officer.get(reverse("segments:contact_detail", args=[contact.pk])).content.decode()
    assert officer.post(reverse("reporting:contact_tracking", args=[contact.pk]), {"opt_out": "off"}).status_code == 403


def test_the_contacts_api_reads_and_writes_tracking_opt_out(world, client):
    contact = make_contact(world.a.tenant)
    auth = _bearer(world.a, ["contacts:read", "contacts:write"])
    url = f"/api/contacts/{contact.pk}/"
    assert client.get(url, **auth).json()["tracking_opt_out"] is False
    changed = client.patch(url, {"tracking_opt_out": True}, content_type="application/json", **auth)
    assert changed.status_code == 200 and changed.json()["tracking_opt_out"] is True
    assert _reload_contact(world.a, contact).tracking_opt_out is True
    bad = client.patch(url, {"tracking_opt_out": "perhaps"}, content_type="application/json", **auth)
    assert bad.status_code == 400
    assert _reload_contact(world.a, contact).tracking_opt_out is True
    other = _bearer(world.b, ["contacts:read", "contacts:write"])
    assert client.patch(url, {"tracking_opt_out": False}, content_type="application/json", **other).status_code == 404
    assert _reload_contact(world.a, contact).tracking_opt_out is True


# --- The recipient's own choice -----------------------------------------------------------------


def _preferences_path(tenant, contact) -> str:
    return "/" + preference_centre_url(tenant=tenant, contact=contact).split("://", 1)[1].split("/", 1)[1]


def test_a_recipient_opts_out_of_tracking_in_the_preference_centre(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    grant(tenant, contact, "appointment_reminders")
    client = Client(enforce_csrf_checks=True)
    path = _preferences_path(tenant, contact)
    page = client.get(path)
    body = page.content.decode()
    assert "Open and click tracking" in body
    assert 'value="allow"' in body and 'name="tracking"' in body
    seq = head_seq(tenant)
    data = {
        "purposes": ["appointment_reminders"],
        "frequency": "as_sent",
        "delivery": "secure",
        "tracking": "off",
        "csrfmiddlewaretoken": page.context["csrf_token"],
    }
    assert client.post(path, data).status_code == 302
    assert _reload_contact(world.a, contact).tracking_opt_out is True
    recorded = events(tenant, seq)
    assert ("contact.updated", {"fields": ["tracking_opt_out"]}) in recorded
    # The page now shows the choice made; saving without changing it records nothing more.
    page = client.get(path)
    assert "checked" in page.content.decode().split('value="off"', 1)[1].split(">", 1)[0]
    seq = head_seq(tenant)
    assert client.post(path, {**data, "csrfmiddlewaretoken": page.context["csrf_token"]}).status_code == 302
    assert [a for a, _ in events(tenant, seq) if a == "contact.updated"] == []
    # And back in.
    page = client.get(path)
    client.post(path, {**data, "tracking": "allow", "csrfmiddlewaretoken": page.context["csrf_token"]})
    assert _reload_contact(world.a, contact).tracking_opt_out is False


# --- Links of a version -------------------------------------------------------------------------


def test_links_are_created_once_and_only_for_approved_versions(world, django_assert_num_queries):
    from delivery.tests.test_pipeline_support import approved_version
    from reporting.models import TrackedLink
    from reporting.tracking import tracked_links_ensure, tracking_plan
    from templates.selectors import version_contents
    from templates.tests.support import make_template

    html = '<a href="https://clinic.example/one">1</a> <a href="https://clinic.example/two">2</a>'
    version = approved_version(world.a, html=html)
    draft = make_template(world.a.tenant, world.a.users[Role.MARKETER], name="Draft links", html=html)
    campaign = make_campaign(world.a, version=version)
    with tenant_context(world.a.tenant):
        first = tracked_links_ensure(tenant=world.a.tenant, version=version)
        again = tracked_links_ensure(tenant=world.a.tenant, version=version)
        assert {url: link.pk for url, link in first.items()} == {url: link.pk for url, link in again.items()}
        assert sorted((link.position, url) for url, link in first.items()) == [
            (0, "https://clinic.example/one"),
            (1, "https://clinic.example/two"),
        ]
        assert tracked_links_ensure(tenant=world.a.tenant, version=draft) == {}
        assert TrackedLink.objects.for_tenant(world.a.tenant).count() == 2
        contents = version_contents(tenant=world.a.tenant, version=version)
        # Once the links exist, a batch's plan is two queries: the settings and the links.
        with django_assert_num_queries(2):
            plan = tracking_plan(tenant=world.a.tenant, campaign=campaign, version=version, contents=contents)
        assert sorted(plan.links_by_raw.values()) == sorted(link.pk for link in first.values())
    with tenant_context(world.b.tenant):
        assert not TrackedLink.objects.for_tenant(world.b.tenant).exists()

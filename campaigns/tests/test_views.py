"""The campaigns web UI: roles, the checklist, launch, approval, the progress fragment's query
count, test sends, and tenant B's users getting 404 for tenant A's campaign on every route."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.tests.helpers import actions, head_seq
from campaigns.models import Campaign, CampaignStatus, Message
from campaigns.tests.support import approved_template, consenting, make_campaign, message_rows, segment
from templates.tests.pipeline_mail import ca, mx_cert, servers, test_mail  # noqa: F401 - fixtures
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

OBJECT_ROUTES = [
    "campaign_detail",
    "campaign_edit",
    "campaign_progress",
    "campaign_approve",
    "campaign_launch",
    "campaign_pause",
    "campaign_resume",
    "campaign_cancel",
    "campaign_test_send",
]


def url(name, campaign=None):
    return reverse(f"campaigns:{name}", kwargs={"campaign_id": campaign.pk} if campaign else None)


def _status(fixture, campaign):
    with tenant_context(fixture.tenant):
        return Campaign.objects.for_tenant(fixture.tenant).get(pk=campaign.pk).status


@pytest.mark.parametrize("name", OBJECT_ROUTES)
def test_other_tenants_campaign_is_404_on_every_route(world, login, name, verified_domains):
    from tenants.permissions import role_has_permission
    from tests.urlwalk import view_marker, walk

    consenting(world.a)
    campaign = make_campaign(world.a)
    seq = head_seq(world.a.tenant)
    route = next(route for route in walk() if route.name == f"campaigns:{name}")
    _, code = view_marker(route.callback)
    for role in Role:
        client = login(world.b.users[role], world.b.tenant)
        response = client.get(url(name, campaign))
        if response.status_code == 405:
            response = client.post(url(name, campaign))
        assert response.status_code == (404 if role_has_permission(role, code) else 403), (name, role)
    assert _status(world.a, campaign) == CampaignStatus.DRAFT
    assert head_seq(world.a.tenant) == seq


def test_roles(world, login, verified_domains):
    campaign = make_campaign(world.a)
    compliance = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert compliance.get(url("campaign_list")).status_code == 200
    assert compliance.get(url("campaign_detail", campaign)).status_code == 200
    assert compliance.get(url("campaign_create")).status_code == 403
    assert compliance.post(url("campaign_launch", campaign)).status_code == 403
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert marketer.post(url("campaign_approve", campaign)).status_code == 403


def test_create_edit_and_checklist(world, login, verified_domains):
    a = world.a
    version, seg = approved_template(a), segment(a, name="Everyone")
    client = login(a.users[Role.MARKETER], a.tenant)
    assert client.get(url("campaign_create")).status_code == 200
    data = {
        "name": "Spring reminders",
        "template": str(version.template_id),
        "segment": str(seg.pk),
        "from_name": "Synthetic Clinic",
        "from_address": "news@org-a.example.com",
        "schedule_kind": "now",
    }
    bad = client.post(url("campaign_create"), {**data, "from_name": "Evil\r\nBcc: x@example.com"})
    assert bad.status_code == 400
    response = client.post(url("campaign_create"), data)
    assert response.status_code == 302
    with tenant_context(a.tenant):
        campaign = Campaign.objects.for_tenant(a.tenant).get(name="Spring reminders")
    page = client.get(url("campaign_detail", campaign)).content.decode()
    assert "Before launch" in page and "Version 1 is approved" in page and "org-a.example.com is verified" in page
    response = client.post(url("campaign_edit", campaign), {**data, "name": "Spring reminders 2"})
    assert response.status_code == 302
    assert actions(a.tenant)[-2:] == ["campaign.created", "campaign.updated"]


def test_launch_confirmation_shows_the_estimate_then_launches(world, login, verified_domains, sent_tasks):
    a = world.a
    for _ in range(4):
        consenting(a)
    campaign = make_campaign(a)
    client = login(a.users[Role.MARKETER], a.tenant)
    page = client.get(url("campaign_launch", campaign)).content.decode()
    assert "Launch to 4 recipients" in page
    response = client.post(url("campaign_launch", campaign))
    assert response.status_code == 302
    assert _status(a, campaign) == CampaignStatus.SENDING and len(message_rows(a, campaign)) == 4
    # Launching again is refused with a message; nothing doubles.
    client.post(url("campaign_launch", campaign))
    assert len(message_rows(a, campaign)) == 4


def test_approval_by_a_compliance_officer_then_pause_resume_cancel(world, login, verified_domains, sent_tasks):
    a = world.a
    consenting(a, purpose="marketing")
    campaign = make_campaign(a, version=approved_template(a, purpose="marketing"))
    since = head_seq(a.tenant)
    officer = login(a.users[Role.COMPLIANCE_OFFICER], a.tenant)
    assert officer.post(url("campaign_approve", campaign)).status_code == 302
    marketer = login(a.users[Role.MARKETER], a.tenant)
    marketer.post(url("campaign_launch", campaign))  # no one authorised marketing: 0 recipients
    for step in ("campaign_pause", "campaign_resume", "campaign_cancel"):
        assert marketer.post(url(step, campaign)).status_code == 302
    assert [action for action in actions(a.tenant, since) if action.startswith("campaign.")] == [
        "campaign.approved",
        "campaign.launched",
        "campaign.paused",
        "campaign.resumed",
        "campaign.cancelled",
    ]


def test_progress_is_one_grouped_count(world, login, verified_domains, sent_tasks, django_assert_max_num_queries):
    a = world.a
    for _ in range(5):
        consenting(a)
    campaign = make_campaign(a)
    client = login(a.users[Role.MARKETER], a.tenant)
    client.post(url("campaign_launch", campaign))
    with tenant_context(a.tenant):
        first = Message.objects.for_tenant(a.tenant).filter(campaign_id=campaign.pk).order_by("id").first()
        Message.objects.for_tenant(a.tenant).filter(pk=first.pk).update(status="sent")
    client.get(url("campaign_progress", campaign))  # warm the session and permission caches
    with django_assert_max_num_queries(16) as captured:
        response = client.get(url("campaign_progress", campaign))
    counting = [q for q in captured.captured_queries if "campaigns_message" in q["sql"]]
    assert len(counting) == 1 and "GROUP BY" in counting[0]["sql"]
    page = response.content.decode()
    assert 'hx-trigger="every 2s"' in page and "1 of 5 messages settled (20%)" in page
    assert '<progress max="100" value="20"' in page


def test_progress_counts_escrow_holds_apart_from_transport_retries(world, login, verified_domains, sent_tasks):
    """An escrowed message whose notice is being retried (``protection_action = escrow``) shows
    apart from deferred; a transport retry stays deferred. The page and the API agree."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.selectors import HELD_FOR_ESCROW, campaign_progress

    a = world.a
    for _ in range(3):
        consenting(a)
    campaign = make_campaign(a)
    client = login(a.users[Role.MARKETER], a.tenant)
    client.post(url("campaign_launch", campaign))
    retry = timezone.now() + timedelta(hours=1)
    with tenant_context(a.tenant):
        first, second, _ = Message.objects.for_tenant(a.tenant).filter(campaign_id=campaign.pk).order_by("id")
        Message.objects.for_tenant(a.tenant).filter(pk=first.pk).update(
            status="deferred", protection_action="escrow", reason_codes=["escrow_notice"], send_after=retry
        )
        Message.objects.for_tenant(a.tenant).filter(pk=second.pk).update(
            status="deferred", protection_action="verified_tls", smtp_code=451, send_after=retry
        )
        progress = campaign_progress(tenant=a.tenant, campaign=campaign)
    assert progress.as_dict()["deferred"] == 1 and progress.as_dict()[HELD_FOR_ESCROW] == 1
    assert progress.as_dict()["queued"] == 1 and progress.total == 3 and progress.settled == 0
    page = client.get(url("campaign_progress", campaign)).content.decode()
    assert '<dt>Escrowed, notice being retried</dt><dd data-status="held_for_escrow">1</dd>' in page
    assert '<dt>Deferred</dt><dd data-status="deferred">1</dd>' in page


def test_test_send_reuses_template_test_sends_from_the_campaigns_sender(
    world,
    login,
    django_capture_on_commit_callbacks,
    test_mail,  # noqa: F811
):
    a = world.a
    campaign = make_campaign(a, from_name="Clinic News")
    client = login(a.users[Role.MARKETER], a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("campaign_test_send", campaign))
    assert response.status_code == 302
    assert actions(a.tenant)[-2:] == ["template.test_sent", "template.test_delivered"]
    assert test_mail.recipients() == [a.users[Role.MARKETER].email]
    received = test_mail.received[0]
    assert received.subject.startswith("[TEST]")
    assert str(received.message["From"]) == f"Clinic News <{campaign.from_address}>"


def test_settings_page(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert client.get(reverse("campaigns:settings")).status_code == 200
    bad = client.post(reverse("campaigns:settings"), {"cap_messages": 2, "cap_days": 5, "default_time_zone": "Nope/X"})
    assert bad.status_code == 400
    ok = client.post(
        reverse("campaigns:settings"), {"cap_messages": 2, "cap_days": 5, "default_time_zone": "Europe/Paris"}
    )
    assert ok.status_code == 302
    assert actions(world.a.tenant)[-1] == "campaign.settings_changed"

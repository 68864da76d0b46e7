"""Launch: the checks (each refusal changes nothing), the audience freeze (segment ∩ consent ∩
not suppressed ∩ frequency cap, one row per contact), schedules and the pipeline's kick-off."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.utils import timezone

from audit.services import actor_for_user, system_actor
from audit.tests.helpers import actions, events, head_seq
from baa.tests.support import make_active
from campaigns import freeze
from campaigns.checks import Code
from campaigns.models import Campaign, CampaignSettings, CampaignStatus, Message, MessageStatus, ScheduleKind
from campaigns.selectors import campaign_settings
from campaigns.services import LaunchRefused, campaign_launch, campaigns_start_due
from campaigns.tasks import dispatch_due_task
from campaigns.tests.support import (
    approve,
    approved_template,
    consenting,
    grant,
    make_campaign,
    message_rows,
    segment,
    statuses,
)
from consent.services import suppression_add
from consent.tests.support import authorise
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def launch(fixture, campaign, **kwargs):
    with tenant_context(fixture.tenant):
        return campaign_launch(tenant=fixture.tenant, user=fixture.users[Role.MARKETER], campaign=campaign, **kwargs)


def _old_messages(fixture, contact, count, days_ago):
    """``count`` sent messages to ``contact``, each from another campaign."""
    version, seg = approved_template(fixture), segment(fixture)
    for _ in range(count):
        other = make_campaign(fixture, version=version, seg=seg)
        with tenant_context(fixture.tenant):
            Message(
                tenant=fixture.tenant,
                campaign=other,
                contact=contact,
                status=MessageStatus.SENT,
                send_after=timezone.now() - timedelta(days=days_ago),
            ).save()


def test_launch_freezes_segment_consent_suppression_and_cap(world, verified_domains, sent_tasks):
    a = world.a
    english = segment(a, {"all": [{"field": "language", "op": "eq", "value": "en"}]})
    included = consenting(a)
    no_consent = make_contact(a.tenant)
    revoked = consenting(a)
    grant(a, revoked, "appointment_reminders", "revoked")
    suppressed = consenting(a, email="suppressed.person@org-a.example.com")
    capped = consenting(a)
    _old_messages(a, capped, 3, days_ago=2)
    old_enough = consenting(a)
    _old_messages(a, old_enough, 3, days_ago=10)  # outside the 7-day window
    other_language = consenting(a, language="es")
    other_purpose = consenting(a, purpose="billing")
    with tenant_context(a.tenant):
        suppression_add(
            tenant=a.tenant, actor=system_actor("test"), email="suppressed.person@org-a.example.com", reason="manual"
        )
    campaign = make_campaign(a, seg=english)

    launched = launch(a, campaign)

    frozen = statuses(a, campaign)
    assert set(frozen) == {included.pk, old_enough.pk}
    assert set(frozen.values()) == {MessageStatus.QUEUED}
    for left_out in (no_consent, revoked, suppressed, capped, other_language, other_purpose):
        assert left_out.pk not in frozen
    assert launched.status == CampaignStatus.SENDING
    assert launched.audience_size == 2
    assert launched.template_version is not None and launched.launched_by == a.users[Role.MARKETER]


def test_frequency_cap_is_the_tenants_setting(world, verified_domains, sent_tasks):
    a = world.a
    contact = consenting(a)
    _old_messages(a, contact, 1, days_ago=1)
    with tenant_context(a.tenant):
        CampaignSettings.objects.create(tenant=a.tenant, cap_messages=1, cap_days=7)
    assert launch(a, make_campaign(a)).audience_size == 0
    with tenant_context(a.tenant):
        CampaignSettings.objects.for_tenant(a.tenant).update(cap_messages=0)  # 0: no cap
    assert launch(a, make_campaign(a)).audience_size == 1


def test_launch_dispatches_the_pipeline_on_commit_and_audits(
    world, verified_domains, sent_tasks, django_capture_on_commit_callbacks
):
    a = world.a
    for _ in range(3):
        consenting(a)
    campaign = make_campaign(a)
    since = head_seq(a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        launch(a, campaign)
    assert sent_tasks == [("delivery.campaign_dispatch", [a.tenant.pk, str(campaign.pk)])]
    [(action, details)] = events(a.tenant, since)
    assert action == "campaign.launched"
    assert details["messages"] == 3 and details["template_version"] == 1 and details["status"] == "sending"


def test_launching_twice_is_refused_and_never_doubles_rows(world, verified_domains, sent_tasks):
    a = world.a
    consenting(a)
    consenting(a)
    campaign = make_campaign(a)
    launch(a, campaign)
    with pytest.raises(LaunchRefused) as refused:
        launch(a, campaign)
    assert refused.value.code == Code.STATE
    # A concurrent launch that got past the row lock would insert nothing either.
    with tenant_context(a.tenant):
        locked = Campaign.objects.for_tenant(a.tenant).get(pk=campaign.pk)
        again = freeze.freeze_audience(
            tenant=a.tenant,
            campaign=locked,
            settings=CampaignSettings(tenant=a.tenant, cap_messages=0),
            now=timezone.now(),
        )
    assert again == 0
    assert len(message_rows(a, campaign)) == 2


def _unchanged(fixture, campaign, seq):
    with tenant_context(fixture.tenant):
        row = Campaign.objects.for_tenant(fixture.tenant).get(pk=campaign.pk)
        assert row.status == CampaignStatus.DRAFT and row.template_version_id is None and row.launched_at is None
        assert not Message.objects.for_tenant(fixture.tenant).filter(campaign_id=campaign.pk).exists()
    assert head_seq(fixture.tenant) == seq


def test_refused_without_an_approved_template_version(world, verified_domains):
    from templates.tests.support import make_template

    a = world.a
    consenting(a)
    draft = make_template(a.tenant, a.users[Role.MARKETER], name="Only a draft", html="<p>{{ org.name }}</p>")
    campaign = make_campaign(a, version=draft)
    seq = head_seq(a.tenant)
    with pytest.raises(LaunchRefused) as refused:
        launch(a, campaign)
    assert refused.value.code == Code.TEMPLATE
    _unchanged(a, campaign, seq)


def test_refused_without_approval_for_marketing(world, verified_domains):
    a = world.a
    contact = consenting(a, purpose="marketing")
    authorise(a.tenant, contact)
    campaign = make_campaign(a, version=approved_template(a, purpose="marketing"))
    seq = head_seq(a.tenant)
    with pytest.raises(LaunchRefused) as refused:
        launch(a, campaign)
    assert refused.value.code == Code.APPROVAL
    _unchanged(a, campaign, seq)
    approve(a, campaign)
    assert launch(a, campaign).audience_size == 1


def test_approval_is_for_one_template_version(world, verified_domains):
    from templates.services import draft_for_editing, version_approve, version_submit

    a = world.a
    consenting(a)
    version = approved_template(a, phi=True)
    make_active(a)
    campaign = make_campaign(a, version=version)
    approve(a, campaign)
    with tenant_context(a.tenant):  # a newer version is approved after the campaign's approval
        draft = draft_for_editing(tenant=a.tenant, template=version.template, user=a.users[Role.MARKETER])
        version_submit(tenant=a.tenant, user=a.users[Role.MARKETER], version=draft)
        version_approve(tenant=a.tenant, user=a.users[Role.COMPLIANCE_OFFICER], version=draft)
    seq = head_seq(a.tenant)
    with pytest.raises(LaunchRefused) as refused:
        launch(a, campaign)
    assert refused.value.code == Code.APPROVAL
    _unchanged(a, campaign, seq)


def test_baa_gate_refuses_a_phi_version_without_an_active_baa(world, verified_domains, sent_tasks):
    a = world.a
    consenting(a)
    campaign = make_campaign(a, version=approved_template(a, phi=True))
    approve(a, campaign)
    seq = head_seq(a.tenant)
    with pytest.raises(LaunchRefused) as refused:
        launch(a, campaign)
    assert refused.value.code == Code.BAA
    assert "business associate agreement" in str(refused.value).lower()
    _unchanged(a, campaign, seq)
    make_active(a)
    assert launch(a, campaign).audience_size == 1


def test_a_version_without_phi_needs_no_baa(world, verified_domains, sent_tasks):
    a = world.a
    consenting(a)
    assert launch(a, make_campaign(a)).status == CampaignStatus.SENDING


def test_refused_for_an_unverified_sending_domain(world, verified_domains):
    a = world.a
    consenting(a)
    campaign = make_campaign(a, from_address="news@unverified.example.net")
    seq = head_seq(a.tenant)
    with pytest.raises(LaunchRefused) as refused:
        launch(a, campaign)
    assert refused.value.code == Code.SENDING_DOMAIN
    _unchanged(a, campaign, seq)
    # Another tenant's verified domain is not this tenant's.
    campaign_b_domain = make_campaign(a, from_address="news@org-b.example.com")
    with pytest.raises(LaunchRefused) as refused:
        launch(a, campaign_b_domain)
    assert refused.value.code == Code.SENDING_DOMAIN


def test_refused_for_a_missing_or_invalid_segment(world, verified_domains):
    a = world.a
    consenting(a)
    bad = segment(a, {"all": [{"field": "attr.no_such_attribute", "op": "eq", "value": "x"}]})
    for campaign in (make_campaign(a, seg=bad), make_campaign(a, seg=False)):
        seq = head_seq(a.tenant)
        with pytest.raises(LaunchRefused) as refused:
            launch(a, campaign)
        assert refused.value.code == Code.SEGMENT
        _unchanged(a, campaign, seq)


def test_local_time_send_after_per_time_zone(world, verified_domains, sent_tasks):
    a = world.a
    paris = consenting(a, time_zone="Europe/Paris")
    new_york = consenting(a, time_zone="America/New_York")
    unknown = consenting(a, time_zone="Mars/Olympus_Mons")
    with tenant_context(a.tenant):
        CampaignSettings.objects.create(tenant=a.tenant, default_time_zone="Asia/Tokyo")
    now = datetime(2030, 3, 1, 6, 0, tzinfo=UTC)
    campaign = make_campaign(
        a, schedule_kind=ScheduleKind.LOCAL_TIME, local_send_date=date(2030, 3, 4), local_send_time=time(9, 30)
    )
    launched = launch(a, campaign, now=now)
    send_after = {m.contact_id: m.send_after for m in message_rows(a, campaign)}
    assert send_after[paris.pk] == datetime(2030, 3, 4, 8, 30, tzinfo=UTC)  # CET, UTC+1
    assert send_after[new_york.pk] == datetime(2030, 3, 4, 14, 30, tzinfo=UTC)  # EST, UTC-5
    assert send_after[unknown.pk] == datetime(2030, 3, 4, 0, 30, tzinfo=UTC)  # the tenant's Tokyo, UTC+9
    assert launched.status == CampaignStatus.SCHEDULED
    assert launched.scheduled_at == datetime(2030, 3, 4, 0, 30, tzinfo=UTC)  # the first one due
    assert sent_tasks == []


def test_local_time_already_passed_somewhere_sends_there_at_once(world, verified_domains, sent_tasks):
    a = world.a
    tokyo = consenting(a, time_zone="Asia/Tokyo")
    los_angeles = consenting(a, time_zone="America/Los_Angeles")
    now = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)  # 17:00 in Tokyo, 01:00 in Los Angeles
    campaign = make_campaign(
        a, schedule_kind=ScheduleKind.LOCAL_TIME, local_send_date=date(2030, 6, 1), local_send_time=time(9, 0)
    )
    launched = launch(a, campaign, now=now)
    send_after = {m.contact_id: m.send_after for m in message_rows(a, campaign)}
    assert send_after[tokyo.pk] == now
    assert send_after[los_angeles.pk] == datetime(2030, 6, 1, 16, 0, tzinfo=UTC)  # PDT, UTC-7
    assert launched.status == CampaignStatus.SENDING


def test_python_freeze_path_matches_the_sql_one(world, verified_domains):
    """SQLite (the embedded default) freezes in Python: same rows, same send_after."""
    a = world.a
    zones = ["Europe/Paris", "America/New_York", "Australia/Sydney", "Not/AZone", "UTC"]
    for zone in zones:
        consenting(a, time_zone=zone)
    consenting(a, purpose="billing")
    now = datetime(2030, 10, 1, 12, 0, tzinfo=UTC)
    kwargs = {
        "schedule_kind": ScheduleKind.LOCAL_TIME,
        "local_send_date": date(2030, 10, 2),
        "local_send_time": time(7, 45),
    }
    sql_campaign, python_campaign = make_campaign(a, **kwargs), make_campaign(a, **kwargs)
    with tenant_context(a.tenant):
        settings = campaign_settings(tenant=a.tenant)
        for campaign, insert in ((sql_campaign, freeze._insert_postgresql), (python_campaign, freeze._insert_python)):
            audience = freeze.audience_queryset(tenant=a.tenant, campaign=campaign, settings=settings, now=now)
            assert insert(a.tenant, campaign, audience, "UTC", now) == len(zones)
    by_contact = {m.contact_id: m.send_after for m in message_rows(a, sql_campaign)}
    assert by_contact == {m.contact_id: m.send_after for m in message_rows(a, python_campaign)}


def test_scheduled_campaign_starts_when_its_time_comes(
    world, verified_domains, sent_tasks, django_capture_on_commit_callbacks
):
    a = world.a
    consenting(a)
    at = timezone.now() + timedelta(hours=2)
    campaign = make_campaign(a, schedule_kind=ScheduleKind.AT, scheduled_at=at)
    launched = launch(a, campaign)
    assert launched.status == CampaignStatus.SCHEDULED and launched.scheduled_at == at
    assert [m.send_after for m in message_rows(a, campaign)] == [at]
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_due_task() == 0
        with tenant_context(a.tenant):
            assert campaigns_start_due(tenant=a.tenant, actor=system_actor("test"), now=at + timedelta(seconds=1)) == [
                str(campaign.pk)
            ]
    assert sent_tasks == [("delivery.campaign_dispatch", [a.tenant.pk, str(campaign.pk)])]
    assert actions(a.tenant)[-1] == "campaign.started"
    with tenant_context(a.tenant):
        assert Campaign.objects.for_tenant(a.tenant).get(pk=campaign.pk).status == CampaignStatus.SENDING


def test_launch_of_another_tenants_campaign_is_impossible(world, verified_domains):
    a, b = world.a, world.b
    consenting(a)
    campaign = make_campaign(a)
    with tenant_context(b.tenant), pytest.raises(Campaign.DoesNotExist):
        campaign_launch(
            tenant=b.tenant,
            user=b.users[Role.MARKETER],
            campaign=campaign,
            actor=actor_for_user(b.users[Role.MARKETER]),
        )

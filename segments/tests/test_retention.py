"""Data retention: the policy, the preview, the removal, the page and the daily task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from segments import retention
from segments.models import Contact, RetentionPolicy
from segments.retention import (
    RetentionError,
    retention_policy_for,
    retention_policy_update,
    retention_preview,
    retention_run,
)
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _aged(tenant, days, **fields):
    return make_contact(tenant, last_activity_at=timezone.now() - timedelta(days=days), **fields)


def _policy(world, days, fixture=None):
    fixture = fixture or world.a
    with tenant_context(fixture.tenant):
        return retention_policy_update(
            tenant=fixture.tenant,
            actor=actor_for_user(fixture.users[Role.ADMIN]),
            inactive_days=days,
            user=fixture.users[Role.ADMIN],
        )


def _remaining(tenant):
    with tenant_context(tenant):
        return set(Contact.objects.for_tenant(tenant).values_list("pk", flat=True))


def test_no_policy_keeps_everyone(world):
    _aged(world.a.tenant, 5000)
    with tenant_context(world.a.tenant):
        assert retention_policy_for(tenant=world.a.tenant).inactive_days is None
        assert retention_preview(tenant=world.a.tenant).count == 0
        assert retention_run(tenant=world.a.tenant, actor=actor_for_user(world.a.users[Role.ADMIN])) == 0
    assert len(_remaining(world.a.tenant)) == 1


def test_policy_change_is_audited_and_bounded(world):
    seq = head_seq(world.a.tenant)
    policy = _policy(world, 365)
    assert policy.updated_by == world.a.users[Role.ADMIN]
    _policy(world, 365)  # unchanged: no event
    _policy(world, None)
    with pytest.raises(RetentionError):
        _policy(world, 3)
    assert events(world.a.tenant, seq) == [
        ("retention.policy_changed", {"inactive_days_from": None, "inactive_days_to": 365}),
        ("retention.policy_changed", {"inactive_days_from": 365, "inactive_days_to": None}),
    ]


def test_preview_counts_and_samples_only_the_expired(world):
    old = [_aged(world.a.tenant, 400 + n) for n in range(3)]
    _aged(world.a.tenant, 100)
    _aged(world.b.tenant, 5000)
    _policy(world, 365)
    with tenant_context(world.a.tenant):
        preview = retention_preview(tenant=world.a.tenant)
    assert preview.count == 3
    assert [c.pk for c in preview.sample] == [c.pk for c in reversed(old)]  # least recently active first


def test_run_removes_the_expired_in_batches_and_audits_counts_and_ids(world, monkeypatch):
    monkeypatch.setattr(retention, "RETENTION_BATCH_SIZE", 2)
    expired = [_aged(world.a.tenant, 800, first_name="Synthgone") for _ in range(5)]
    kept = _aged(world.a.tenant, 10)
    other_tenant = _aged(world.b.tenant, 5000)
    _policy(world, 365)
    _policy(world, 365, fixture=world.b)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant):
        removed = retention_run(tenant=world.a.tenant, actor=actor_for_user(world.a.users[Role.ADMIN]))
    assert removed == 5
    assert _remaining(world.a.tenant) == {kept.pk}
    assert _remaining(world.b.tenant) == {other_tenant.pk}
    recorded = events(world.a.tenant, seq)
    assert [action for action, _ in recorded] == ["retention.contacts_removed"] * 3
    assert [details["count"] for _, details in recorded] == [2, 2, 1]
    assert sorted(i for _, details in recorded for i in details["contact_ids"]) == sorted(str(c.pk) for c in expired)
    assert "Synthgone" not in str(recorded)


def test_audit_lists_ids_up_to_a_cap(world, monkeypatch):
    monkeypatch.setattr(retention, "AUDIT_ID_CAP", 2)
    for _ in range(3):
        _aged(world.a.tenant, 800)
    _policy(world, 365)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant):
        retention_run(tenant=world.a.tenant, actor=actor_for_user(world.a.users[Role.ADMIN]))
    [(_, details)] = events(world.a.tenant, seq)
    assert details["count"] == 3 and len(details["contact_ids"]) == 2 and details["contact_ids_truncated"] is True


def test_daily_task_runs_each_tenant_with_a_policy(world, monkeypatch):
    from sealpost.celery import app as celery_app

    # Django settings are read once when Celery configures itself: switch the app's own config.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    _aged(world.a.tenant, 800)
    kept_b = _aged(world.b.tenant, 800)  # tenant B has no policy
    _policy(world, 365)
    assert retention.retention_run_all_task.delay().get() == 1
    assert _remaining(world.a.tenant) == set()
    assert _remaining(world.b.tenant) == {kept_b.pk}
    assert events(world.a.tenant, head_seq(world.a.tenant) - 1)[-1][0] == "retention.contacts_removed"


def test_beat_schedules_the_daily_run_and_workers_know_the_tasks():
    from sealpost.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["segments-retention"]
    assert entry["task"] == "segments.retention_run_all" and entry["schedule"] == 24 * 3600
    app.loader.import_default_modules()
    assert {"segments.retention_run_all", "segments.retention_run_tenant"} <= set(app.tasks)


# --- The page --------------------------------------------------------------------------------


def test_page_shows_policy_count_and_masked_sample(world, login):
    _aged(world.a.tenant, 800, first_name="Hiddenfirst", last_name="Hiddenlast", email="hidden.person@example.com")
    _policy(world, 365)
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    body = client.get(reverse("segments:retention")).content.decode()
    assert "365" in body and "<strong>1</strong> contact" in body
    assert "H. H." in body and "h•••@example.com" in body
    assert "Hiddenfirst" not in body and "hidden.person@" not in body
    assert "Remove 1 now" in body


def test_saving_the_policy_needs_a_step_up(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(reverse("segments:retention"), {"inactive_days": "365"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    with tenant_context(world.a.tenant):
        assert not RetentionPolicy.objects.for_tenant(world.a.tenant).exists()
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    assert client.post(reverse("segments:retention"), {"inactive_days": "365"}).status_code == 302
    assert ("retention.policy_changed", {"inactive_days_from": None, "inactive_days_to": 365}) in events(
        world.a.tenant, seq
    )
    invalid = client.post(reverse("segments:retention"), {"inactive_days": "2"})
    assert invalid.status_code == 200 and "Nothing was saved" in invalid.content.decode()


def test_remove_now_needs_a_step_up(world, login):
    contact = _aged(world.a.tenant, 800)
    _policy(world, 365)
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.post(reverse("segments:retention_run"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    assert _remaining(world.a.tenant) == {contact.pk}
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    assert client.post(reverse("segments:retention_run")).status_code == 302
    assert _remaining(world.a.tenant) == set()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.COMPLIANCE_OFFICER])
def test_only_admins_manage_retention(world, login, role):
    _aged(world.a.tenant, 800)
    _policy(world, 365)
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    assert client.get(reverse("segments:retention")).status_code == 403
    assert client.post(reverse("segments:retention_run")).status_code == 403
    assert len(_remaining(world.a.tenant)) == 1


def test_remove_now_acts_on_the_signed_in_tenant_only(world, login):
    kept = _aged(world.a.tenant, 800)
    _policy(world, 365)
    _policy(world, 365, fixture=world.b)
    client = login(world.b.users[Role.ADMIN], world.b.tenant, step_up=True)
    assert client.post(reverse("segments:retention_run")).status_code == 302
    assert _remaining(world.a.tenant) == {kept.pk}

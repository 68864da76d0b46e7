"""Break-glass (emergency) access: granted by an admin with a reason, it gives a member a role for
exactly its window, marks everything they do in the audit log, tells the compliance officers,
ends on its own (the sweep records it once) or when revoked."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import actions, events, head_seq
from authn import break_glass
from authn.break_glass import (
    active_break_glass_for,
    break_glass_expire_due,
    break_glass_grant,
    break_glass_revoke,
)
from authn.models import BreakGlassGrant
from authn.tasks import break_glass_expire_task
from authn.tests.mail import inbox  # noqa: F401 - fixture
from tenants.context import tenant_context
from tenants.models import Membership
from tenants.roles import Role

pytestmark = pytest.mark.django_db

REASON = "Covering the on-call admin during a synthetic outage"
ADMIN_ONLY = "tenants:roles"  # roles.view: admins only


def _grant(fixture, *, user_role=Role.MARKETER, role=Role.ADMIN, minutes=30, reason=REASON, actor=None):
    with tenant_context(fixture.tenant):
        return break_glass_grant(
            tenant=fixture.tenant,
            actor=actor or fixture.users[Role.ADMIN],
            user=fixture.users[user_role],
            role=role,
            reason=reason,
            minutes=minutes,
        )


def _reload(fixture, grant) -> BreakGlassGrant:
    with tenant_context(fixture.tenant):
        return BreakGlassGrant.objects.for_tenant(fixture.tenant).get(pk=grant.pk)


@pytest.fixture
def clock(monkeypatch):
    """Moves the clock that decides whether a grant is active, and nothing else (sessions keep
    their own clocks)."""
    state = {"now": timezone.now()}
    monkeypatch.setattr(break_glass, "timezone", SimpleNamespace(now=lambda: state["now"]))

    def set_to(moment):
        state["now"] = moment

    return set_to


# --- Granting ---------------------------------------------------------------------------------


def test_granting_is_audited_without_the_reason(world):
    start = head_seq(world.a.tenant)
    grant = _grant(world.a, role=Role.COMPLIANCE_OFFICER, minutes=45)
    assert grant.reason == REASON
    assert grant.expires_at - grant.created_at == timedelta(minutes=45)
    ((action, details),) = events(world.a.tenant, start)
    assert action == "break_glass.granted"
    assert details == {
        "grant_id": str(grant.pk),
        "user_id": world.a.users[Role.MARKETER].pk,
        "role": "compliance_officer",
        "minutes": 45,
        "expires_at": grant.expires_at.isoformat(),
    }
    assert "outage" not in str(details)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "too short reason"}, "reason"),
        ({"reason": "   " + "x" * 19 + "   "}, "reason"),
        ({"minutes": 14}, "minutes"),
        ({"minutes": 481}, "minutes"),
        ({"role": "superuser"}, "role"),
    ],
)
def test_a_grant_needs_a_real_reason_and_a_bounded_window(world, changes, field):
    start = head_seq(world.a.tenant)
    with pytest.raises(ValidationError) as refused:
        _grant(world.a, **changes)
    assert field in refused.value.message_dict
    assert actions(world.a.tenant, start) == []


def test_the_window_limits_are_inclusive(world):
    assert _grant(world.a, user_role=Role.MARKETER, minutes=15)
    assert _grant(world.a, user_role=Role.COMPLIANCE_OFFICER, minutes=480)


def test_no_second_active_grant_and_no_self_grant(world):
    _grant(world.a)
    with pytest.raises(ValidationError, match="already has emergency access"):
        _grant(world.a, role=Role.COMPLIANCE_OFFICER)
    with pytest.raises(ValidationError, match="not to yourself"):
        _grant(world.a, user_role=Role.ADMIN)


def test_only_members_can_be_granted_and_only_by_a_stored_admin(world):
    # B's marketer is not a member of A.
    with tenant_context(world.a.tenant), pytest.raises(ValidationError, match="active member"):
        break_glass_grant(
            tenant=world.a.tenant,
            actor=world.a.users[Role.ADMIN],
            user=world.b.users[Role.MARKETER],
            role=Role.ADMIN,
            reason=REASON,
            minutes=30,
        )
    # B's admin is no admin of A.
    with tenant_context(world.a.tenant), pytest.raises(ValidationError, match="Only an admin"):
        break_glass_grant(
            tenant=world.a.tenant,
            actor=world.b.users[Role.ADMIN],
            user=world.a.users[Role.MARKETER],
            role=Role.ADMIN,
            reason=REASON,
            minutes=30,
        )
    # Someone acting as admin under emergency access cannot hand out more of it.
    _grant(world.a, user_role=Role.MARKETER, role=Role.ADMIN)
    with pytest.raises(ValidationError, match="Only an admin"):
        _grant(world.a, user_role=Role.COMPLIANCE_OFFICER, actor=world.a.users[Role.MARKETER])
    # A deactivated member cannot be granted.
    with tenant_context(world.a.tenant):
        Membership.objects.for_tenant(world.a.tenant).filter(user=world.a.users[Role.COMPLIANCE_OFFICER]).update(
            is_active=False
        )
    with pytest.raises(ValidationError, match="active member"):
        _grant(world.a, user_role=Role.COMPLIANCE_OFFICER)


# --- The effect on requests -------------------------------------------------------------------


def test_the_grant_elevates_the_role_for_exactly_its_window(world, login, clock):
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert marketer.get(reverse(ADMIN_ONLY)).status_code == 403
    grant = _grant(world.a, role=Role.ADMIN, minutes=30)

    clock(grant.created_at - timedelta(microseconds=1))
    assert marketer.get(reverse(ADMIN_ONLY)).status_code == 403
    clock(grant.created_at)
    inside = marketer.get(reverse(ADMIN_ONLY))
    assert inside.status_code == 200
    assert f"Emergency access active until {timezone.localtime(grant.expires_at):%H:%M}" in inside.content.decode()
    clock(grant.expires_at - timedelta(microseconds=1))
    assert marketer.get(reverse(ADMIN_ONLY)).status_code == 200
    clock(grant.expires_at)
    after = marketer.get(reverse(ADMIN_ONLY))
    assert after.status_code == 403
    assert "Emergency access active" not in marketer.get(reverse("tenants:dashboard")).content.decode()
    # The stored role never changed.
    with tenant_context(world.a.tenant):
        assert Membership.objects.for_tenant(world.a.tenant).get(user=world.a.users[Role.MARKETER]).role == "marketer"


def test_a_grant_in_one_organisation_gives_nothing_in_another(world, login):
    user = world.a.users[Role.MARKETER]
    with tenant_context(world.b.tenant):
        Membership(tenant=world.b.tenant, user=user, role=Role.MARKETER).save()
    _grant(world.a, role=Role.ADMIN)
    assert login(user, world.a.tenant).get(reverse(ADMIN_ONLY)).status_code == 200
    assert login(user, world.b.tenant).get(reverse(ADMIN_ONLY)).status_code == 403


def _own_client(user, tenant):
    """A signed-in client of its own (the ``login`` fixture reuses one client)."""
    from django.test import Client

    from authn.tests.support import bind_client_session
    from tenants.resolution import SESSION_TENANT_KEY

    other = Client()
    other.force_login(user)
    bind_client_session(other, user)
    session = other.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    return other


def test_revoking_stops_it_at_once(world, login):
    grant = _grant(world.a, role=Role.ADMIN)
    marketer = _own_client(world.a.users[Role.MARKETER], world.a.tenant)
    assert marketer.get(reverse(ADMIN_ONLY)).status_code == 200

    start = head_seq(world.a.tenant)
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    revoke_url = reverse("authn:break_glass_revoke", kwargs={"grant_id": grant.pk})
    assert admin.post(revoke_url).status_code == 302
    assert admin.post(revoke_url).status_code == 302  # already ended: nothing more recorded
    revoked_events = [(a, d) for a, d in events(world.a.tenant, start) if a.startswith("break_glass.")]
    assert revoked_events == [
        (
            "break_glass.revoked",
            {"grant_id": str(grant.pk), "user_id": world.a.users[Role.MARKETER].pk, "role": "admin"},
        )
    ]
    stored = _reload(world.a, grant)
    assert stored.revoked_at is not None and stored.revoked_by_id == world.a.users[Role.ADMIN].pk

    assert marketer.get(reverse(ADMIN_ONLY)).status_code == 403
    with tenant_context(world.a.tenant):
        assert active_break_glass_for(tenant=world.a.tenant, user_id=world.a.users[Role.MARKETER].pk) is None


def test_every_event_under_break_glass_carries_the_grant_id(world, login):
    grant = _grant(world.a, role=Role.COMPLIANCE_OFFICER)
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant)
    start = head_seq(world.a.tenant)
    assert marketer.get(reverse("audit:event_list")).status_code == 200  # audit.view, as compliance officer
    assert marketer.get(reverse("audit:event_list"), {"page": 1}).status_code == 200
    recorded = events(world.a.tenant, start)
    assert [action for action, _ in recorded] == ["break_glass.used", "audit.viewed", "audit.viewed"]
    assert all(details.get("break_glass") == str(grant.pk) for _, details in recorded)
    assert recorded[0][1]["grant_id"] == str(grant.pk)

    # Another member's requests, and work outside any request, are not marked.
    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    start = head_seq(world.a.tenant)
    officer.get(reverse("audit:event_list"))
    _grant(world.a, user_role=Role.COMPLIANCE_OFFICER, role=Role.ADMIN)
    assert [details.get("break_glass") for _, details in events(world.a.tenant, start)] == [None, None]


def test_use_is_recorded_once_per_grant_per_session(world, login, client):
    _grant(world.a, role=Role.ADMIN)
    start = head_seq(world.a.tenant)
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant)
    for _ in range(3):
        marketer.get(reverse("tenants:dashboard"))
    assert actions(world.a.tenant, start).count("break_glass.used") == 1
    # A new session records it again.
    marketer.logout()
    login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("tenants:dashboard"))
    assert actions(world.a.tenant, start).count("break_glass.used") == 2


# --- Expiry -----------------------------------------------------------------------------------


def test_the_sweep_records_each_expiry_once(world):
    a_grant = _grant(world.a, role=Role.ADMIN, minutes=15)
    b_grant = _grant(world.b, role=Role.COMPLIANCE_OFFICER, minutes=60)
    revoked = _grant(world.a, user_role=Role.COMPLIANCE_OFFICER, minutes=15)
    with tenant_context(world.a.tenant):
        break_glass_revoke(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], grant=revoked)
    starts = {world.a.tenant.pk: head_seq(world.a.tenant), world.b.tenant.pk: head_seq(world.b.tenant)}

    assert break_glass_expire_due(now=a_grant.expires_at - timedelta(seconds=1)) == 0
    assert break_glass_expire_due(now=a_grant.expires_at + timedelta(seconds=1)) == 1
    assert break_glass_expire_due(now=a_grant.expires_at + timedelta(seconds=2)) == 0
    assert events(world.a.tenant, starts[world.a.tenant.pk]) == [
        (
            "break_glass.expired",
            {"grant_id": str(a_grant.pk), "user_id": world.a.users[Role.MARKETER].pk, "role": "admin"},
        )
    ]
    assert _reload(world.a, a_grant).expiry_recorded_at is not None
    assert _reload(world.a, revoked).expiry_recorded_at is None  # ended by revocation, not expiry
    assert actions(world.b.tenant, starts[world.b.tenant.pk]) == []

    assert break_glass_expire_due(now=b_grant.expires_at + timedelta(seconds=1)) == 1
    assert actions(world.b.tenant, starts[world.b.tenant.pk]) == ["break_glass.expired"]


def test_the_periodic_task_expires_grants_on_their_own(world, settings):
    grant = _grant(world.a, role=Role.ADMIN)
    with tenant_context(world.a.tenant):
        BreakGlassGrant.objects.for_tenant(world.a.tenant).filter(pk=grant.pk).update(
            created_at=timezone.now() - timedelta(hours=2), expires_at=timezone.now() - timedelta(minutes=1)
        )
        assert active_break_glass_for(tenant=world.a.tenant, user_id=world.a.users[Role.MARKETER].pk) is None
    start = head_seq(world.a.tenant)
    assert break_glass_expire_task.apply().get() == 1
    assert actions(world.a.tenant, start) == ["break_glass.expired"]
    schedule = settings.CELERY_BEAT_SCHEDULE["break-glass-expiry"]
    assert schedule == {"task": "authn.break_glass_expire", "schedule": 60}


# --- Notifications ----------------------------------------------------------------------------


def test_compliance_officers_are_emailed_when_access_is_granted(
    world,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    second_officer = _extra_member(world.a, "officer2", Role.COMPLIANCE_OFFICER)
    inactive_officer = _extra_member(world.a, "officer3", Role.COMPLIANCE_OFFICER, is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        grant = _grant(world.a, role=Role.ADMIN, minutes=90)
    officers = sorted([world.a.users[Role.COMPLIANCE_OFFICER].email, second_officer.email])
    assert inbox.recipients() == officers
    assert inactive_officer.email not in inbox.recipients()
    for received in inbox.received:
        assert received.subject == "Sealpost: emergency access granted in Org A"
        body = received.body
        assert world.a.users[Role.MARKETER].email in body
        assert "Acting as:   Admin" in body
        assert f"Until:       {grant.expires_at:%Y-%m-%d %H:%M} UTC" in body
        assert f"Granted by:  {world.a.users[Role.ADMIN].display_name}" in body
        assert "/audit/?action=break_glass" in body
        assert REASON not in body and "outage" not in body
    # Nobody in the other organisation hears of it.
    assert world.b.users[Role.COMPLIANCE_OFFICER].email not in inbox.recipients()


def test_a_rolled_back_grant_sends_nothing(world, inbox, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        _grant(world.a, reason="short")
    assert inbox.received == []


def _extra_member(fixture, name, role, *, is_active=True):
    from authn.models import User

    user = User.objects.create_user(email=f"{name}@{fixture.tenant.slug}.example.com", password="x-synthetic-pass-1")
    with tenant_context(fixture.tenant):
        Membership(tenant=fixture.tenant, user=user, role=role, is_active=is_active).save()
    return user


# --- Pages ------------------------------------------------------------------------------------


def _form(fixture, *, role=Role.ADMIN, minutes=60, reason=REASON, member=None):
    membership = member or fixture.memberships[Role.MARKETER]
    return {"member": str(membership.pk), "role": role, "minutes": minutes, "reason": reason}


def test_granting_from_the_page_needs_a_fresh_step_up(world, login):
    from authn.tests.support import give_step_up

    url = reverse("authn:break_glass_list")
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    assert admin.get(url).status_code == 200
    refused = admin.post(url, _form(world.a), HTTP_REFERER=f"http://testserver{url}")
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("authn:step_up"))
    with tenant_context(world.a.tenant):
        assert not BreakGlassGrant.objects.for_tenant(world.a.tenant).exists()

    give_step_up(admin)
    start = head_seq(world.a.tenant)
    granted = admin.post(url, _form(world.a, role=Role.COMPLIANCE_OFFICER, minutes=20))
    assert granted.status_code == 302 and granted["Location"] == url
    assert actions(world.a.tenant, start) == ["break_glass.granted"]
    page = admin.get(url).content.decode()
    assert REASON in page and "Compliance officer" in page and "End now" in page

    invalid = admin.post(url, _form(world.a, member=world.a.memberships[Role.COMPLIANCE_OFFICER], reason="too short"))
    assert invalid.status_code == 400
    assert "at least 20 characters" in invalid.content.decode()


def test_the_page_lists_active_and_past_grants(world, login):
    active = _grant(world.a, role=Role.ADMIN)
    ended = _grant(
        world.a, user_role=Role.COMPLIANCE_OFFICER, role=Role.ADMIN, reason="A second synthetic emergency reason"
    )
    with tenant_context(world.a.tenant):
        break_glass_revoke(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], grant=ended)
    body = login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("authn:break_glass_list")).content.decode()
    active_part, past_part = body.split("Past</caption>")
    assert active.reason in active_part and ended.reason not in active_part
    assert ended.reason in past_part and "Ended early" in past_part
    assert reverse("authn:break_glass_revoke", kwargs={"grant_id": active.pk}) in active_part
    assert reverse("authn:break_glass_revoke", kwargs={"grant_id": ended.pk}) not in body


def test_only_admins_reach_the_page_and_see_it_in_navigation(world, login):
    for role in Role:
        response = login(world.a.users[role], world.a.tenant).get(reverse("authn:break_glass_list"))
        assert response.status_code == (200 if role == Role.ADMIN else 403), role
    dashboard = login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("tenants:dashboard")).content.decode()
    assert "Emergency access" in dashboard


def test_the_audit_log_highlights_break_glass_events(world, login):
    grant = _grant(world.a, role=Role.COMPLIANCE_OFFICER)
    officer_by_grant = login(world.a.users[Role.MARKETER], world.a.tenant)
    officer_by_grant.get(reverse("audit:event_list"))  # break_glass.used + audit.viewed, both marked

    page = login(world.a.users[Role.ADMIN], world.a.tenant).get(reverse("audit:event_list"))
    rows = [row for row in page.content.decode().split("<tr")[1:] if "<td>" in row]
    highlighted = [row for row in rows if 'class="row-break-glass"' in row]
    for action in ("break_glass.granted", "break_glass.used", "audit.viewed"):
        assert any(action in row for row in highlighted), action
    assert len(highlighted) == 3  # granted, used, and the audit.viewed done under the grant
    assert all("Emergency access</span>" in row for row in highlighted)
    assert any("membership.created" in row for row in rows if row not in highlighted)

    with tenant_context(world.a.tenant):
        from audit.models import AuditEvent

        used = AuditEvent.objects.filter(chain_id=world.a.tenant.pk, action="audit.viewed").order_by("seq").first()
    detail = login(world.a.users[Role.ADMIN], world.a.tenant).get(
        reverse("audit:event_detail", kwargs={"event_id": used.pk})
    )
    assert f"break-glass grant <code>{grant.pk}</code>" in detail.content.decode()


# --- Other organisations ----------------------------------------------------------------------


def test_another_organisations_admin_cannot_see_revoke_or_grant_for_a(world, login):
    from authn.tests.support import give_step_up

    grant = _grant(world.a, role=Role.ADMIN)
    b_admin = login(world.b.users[Role.ADMIN], world.b.tenant)
    give_step_up(b_admin)
    page = b_admin.get(reverse("authn:break_glass_list")).content.decode()
    assert REASON not in page and world.a.users[Role.MARKETER].email not in page
    revoke = b_admin.post(reverse("authn:break_glass_revoke", kwargs={"grant_id": grant.pk}))
    assert revoke.status_code == 404
    assert _reload(world.a, grant).revoked_at is None
    # A's member offered in B's form is not a valid choice.
    start = head_seq(world.a.tenant), head_seq(world.b.tenant)
    offered = _form(world.a, member=world.a.memberships[Role.COMPLIANCE_OFFICER])
    refused = b_admin.post(reverse("authn:break_glass_list"), offered)
    assert refused.status_code == 400
    assert "Select a valid choice" in refused.content.decode()
    assert (head_seq(world.a.tenant), head_seq(world.b.tenant)) == start
    with tenant_context(world.b.tenant):
        assert not BreakGlassGrant.objects.for_tenant(world.b.tenant).exists()

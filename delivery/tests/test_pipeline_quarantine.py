"""A campaign message held in quarantine, end to end: its campaign stays ``sending`` while it
waits; a compliance officer's release queues it again and the pipeline sends it (once, over
verified TLS) as long as it still renders as reviewed; a rejection blocks it and lets the
campaign complete; a release after the campaign was cancelled sends nothing."""

from __future__ import annotations

import email
import email.policy
import re
import time

import pytest

from audit.tests.helpers import events, head_seq
from campaigns.messages import CAMPAIGN_CANCELLED, QUARANTINE_REJECTED, QUARANTINE_RELEASED
from campaigns.models import Campaign, CampaignStatus, MessageStatus
from consent import links as consent_links
from delivery.pipeline import PIPELINE_ACTOR, RELEASED_CONTENT_CHANGED
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import TLS_DOMAIN, consenting_contacts, launch, rows, run
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db
# The shared fixtures (test_pipeline_support), used by name.
ca, mx_cert, servers, pipeline_env, needs_baa = (
    support.ca,
    support.mx_cert,
    support.servers,
    support.pipeline_env,
    support.needs_baa,
)
S = MessageStatus


@pytest.fixture
def dispatched(monkeypatch):
    """The campaign kick-offs sent by name (``campaigns.dispatch``), as (task, args)."""
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr("campaigns.dispatch.current_app.send_task", lambda name, args: sent.append((name, args)))
    return sent


def _quarantining_campaign(env, count: int = 1):
    from encryption.services import protection_policy_update

    with tenant_context(env.tenant):
        protection_policy_update(
            tenant=env.tenant,
            actor=env.fixture.users[Role.ADMIN],
            rules=[{"kind": "purpose", "value": "appointment_reminders", "action": "quarantine"}],
        )
    contacts = consenting_contacts(env.fixture, TLS_DOMAIN, count)
    campaign = launch(env)
    assert run(env, campaign).counts["quarantined"] == count
    return campaign, contacts


def _items(env):
    from encryption.models import QuarantinedMessage

    with tenant_context(env.tenant):
        return list(QuarantinedMessage.objects.for_tenant(env.tenant).order_by("created_at", "pk"))


def _decide(env, item, how, capture):
    from encryption.quarantine import quarantine_reject, quarantine_release

    decide = quarantine_release if how == "release" else quarantine_reject
    with tenant_context(env.tenant), capture(execute=True):
        return decide(tenant=env.tenant, actor=env.fixture.users[Role.COMPLIANCE_OFFICER], item=item)


def _campaign_status(env, campaign) -> str:
    with tenant_context(env.tenant):
        return Campaign.objects.for_tenant(env.tenant).get(pk=campaign.pk).status


def _complete(env, campaign) -> bool:
    from campaigns.services import campaign_complete_if_finished

    with tenant_context(env.tenant):
        return campaign_complete_if_finished(tenant=env.tenant, campaign=campaign, actor=PIPELINE_ACTOR)


def test_a_released_message_is_queued_again_and_sent_once(
    pipeline_env, dispatched, django_capture_on_commit_callbacks, monkeypatch
):
    env = pipeline_env
    campaign, (contact,) = _quarantining_campaign(env)
    # Waiting for a person: nothing to claim, yet the campaign is not complete.
    assert run(env, campaign).claimed == 0
    assert not _complete(env, campaign)
    assert _campaign_status(env, campaign) == CampaignStatus.SENDING
    (item,) = _items(env)
    (message,) = rows(env, campaign)
    assert item.source_ref == str(message.pk)
    seq = head_seq(env.tenant)
    _decide(env, item, "release", django_capture_on_commit_callbacks)
    (message,) = rows(env, campaign)
    assert message.status == S.QUEUED and QUARANTINE_RELEASED in message.reason_codes
    assert message.first_attempt_at is None
    # Audited with ids and the new status; the campaign is kicked once the release commits.
    with tenant_context(env.tenant):
        assert events(env.tenant, seq) == [("quarantine.released", {"message": message.pk, "message_status": "queued"})]
    assert dispatched == [("delivery.campaign_dispatch", [env.tenant.pk, str(campaign.pk)])]
    # Sent later than it was held: its sealed links carry another issue time (so other tokens),
    # which does not make it a different message from the one reviewed.
    later = int(time.time()) + 3600
    monkeypatch.setattr(consent_links, "_issued_now", lambda: later)
    result = run(env, campaign)
    assert result.counts["sent"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.SENT and message.protection_action == "verified_tls"
    assert [r.rcpt_tos for r in env.tls.recorder.received] == [[contact.email]]
    assert all(r.tls for r in env.tls.recorder.received)
    assert len(_items(env)) == 1  # not held a second time
    sent = email.message_from_bytes(env.tls.recorder.received[0].content, policy=email.policy.default)
    sent_link = re.search(r"/unsubscribe/[^/\s]+/", sent.get_body(("plain",)).get_content())
    with tenant_context(env.tenant):
        reviewed_link = re.search(r"/unsubscribe/[^/\s]+/", item.text)
    assert sent_link is not None and reviewed_link is not None
    assert sent_link.group() != reviewed_link.group()
    assert run(env, campaign).claimed == 0
    assert _complete(env, campaign)
    assert len(env.tls.recorder.received) == 1


def test_a_rejected_message_is_blocked_and_the_campaign_completes(
    pipeline_env, dispatched, django_capture_on_commit_callbacks
):
    env = pipeline_env
    campaign, _ = _quarantining_campaign(env, count=2)
    first, second = _items(env)
    _decide(env, first, "reject", django_capture_on_commit_callbacks)
    assert not _complete(env, campaign)  # the other one still waits
    _decide(env, second, "reject", django_capture_on_commit_callbacks)
    assert {m.status for m in rows(env, campaign)} == {S.BLOCKED}
    assert all(QUARANTINE_REJECTED in m.reason_codes for m in rows(env, campaign))
    assert len(dispatched) == 2
    assert run(env, campaign).claimed == 0
    assert _complete(env, campaign)
    assert _campaign_status(env, campaign) == CampaignStatus.COMPLETED
    assert env.tls.recorder.received == []


def test_a_release_after_the_campaign_was_cancelled_sends_nothing(
    pipeline_env, dispatched, django_capture_on_commit_callbacks
):
    from campaigns.services import campaign_cancel

    env = pipeline_env
    campaign, _ = _quarantining_campaign(env)
    with tenant_context(env.tenant):
        campaign_cancel(tenant=env.tenant, user=env.fixture.users[Role.MARKETER], campaign=campaign)
    (item,) = _items(env)
    _decide(env, item, "release", django_capture_on_commit_callbacks)
    (message,) = rows(env, campaign)
    assert message.status == S.CANCELLED and CAMPAIGN_CANCELLED in message.reason_codes
    assert run(env, campaign).claimed == 0
    assert env.tls.recorder.received == []


def test_a_released_message_that_renders_differently_now_is_held_again(
    pipeline_env, dispatched, django_capture_on_commit_callbacks
):
    """The officer approved what they read; the contact's name changed since, so what would go
    out is not that: it is held again (a new item to review), and nothing is sent."""
    from segments.models import Contact

    env = pipeline_env
    campaign, (contact,) = _quarantining_campaign(env)
    (item,) = _items(env)
    _decide(env, item, "release", django_capture_on_commit_callbacks)
    with tenant_context(env.tenant):
        changed = Contact.objects.for_tenant(env.tenant).get(pk=contact.pk)
        changed.first_name = "Blake"
        changed.save()
    assert run(env, campaign).counts["quarantined"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.QUARANTINED and RELEASED_CONTENT_CHANGED in message.reason_codes
    old, new = _items(env)
    assert (old.pk, old.status, new.status) == (item.pk, "released", "held")
    assert new.source_ref == str(message.pk)
    with tenant_context(env.tenant):
        assert "Blake" in new.text and "Blake" not in old.text
    assert env.tls.recorder.received == []

"""Outcomes the pipeline records: a 4xx retried after backoff (time travels through ``now``), a
5.1.x bounce that suppresses the address, a stall after the final dot recorded as unknown (never
resent), giving up after the configured period, and a verified-TLS failure on a stale posture."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.tests.helpers import actions
from campaigns.models import MessageStatus
from delivery.pipeline import GAVE_UP, TLS_FAILED
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import (
    PLAIN_HTML,
    TLS_DOMAIN,
    consenting_contacts,
    launch,
    message_ids,
    received,
    rows,
    run,
    status_counts,
)
from tenants.context import tenant_context

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


def test_451_then_250_delivers_once_after_backoff(pipeline_env):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    env.tls.recorder.data_replies = ["451 4.3.0 Try again later"]
    t0 = timezone.now()
    assert run(env, campaign, now=t0).counts["deferred"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.DEFERRED and message.smtp_code == 451 and message.smtp_enhanced == "4.3.0"
    # Exponential backoff with jitter, never immediate (attempt 1: 30-60 s).
    wait = message.next_attempt_at - t0
    assert timedelta(seconds=29) <= wait <= timedelta(seconds=61)
    assert message.send_after == message.next_attempt_at
    assert run(env, campaign, now=t0 + timedelta(seconds=5)).claimed == 0  # not due yet
    assert run(env, campaign, now=message.next_attempt_at + timedelta(seconds=1)).counts["sent"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.SENT and message.attempts == 2
    # The server saw the message twice (the first refused with 451), accepted it once.
    assert list(message_ids(received(env.tls)).values()) == [2]
    assert env.tls.recorder.data_replies == []


def test_550_5_1_1_bounces_and_suppresses_the_address(pipeline_env):
    from consent.models import Suppression, SuppressionReason

    env = pipeline_env
    bad, good = consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    env.tls.recorder.rcpt_replies = {bad.email: "550 5.1.1 No such user"}
    result = run(env, campaign)
    assert result.counts["bounced"] == 1 and result.counts["sent"] == 1 and result.counts["suppressed"] == 1
    by_contact = {m.contact_id: m for m in rows(env, campaign)}
    assert by_contact[bad.pk].status == S.BOUNCED and by_contact[bad.pk].smtp_enhanced == "5.1.1"
    assert by_contact[good.pk].status == S.SENT
    with tenant_context(env.tenant):
        suppressed = list(Suppression.objects.for_tenant(env.tenant).values_list("email_index", "reason"))
        assert suppressed == [(bad.email_index, SuppressionReason.HARD_BOUNCE)]
        assert "suppression.added" in actions(env.tenant)


def test_a_5_7_x_bounce_does_not_suppress(pipeline_env):
    from consent.models import Suppression

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    env.tls.recorder.data_replies = ["550 5.7.1 Rejected by policy"]
    assert run(env, campaign).counts["bounced"] == 1
    with tenant_context(env.tenant):
        assert not Suppression.objects.for_tenant(env.tenant).exists()


def test_stall_after_the_final_dot_is_unknown_and_never_resent(pipeline_env):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    env.tls.recorder.stall_after_data = 5.0  # the transport waits 3 s for the reply
    assert run(env, campaign).counts["unknown"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.UNKNOWN and message.handed_off_at is not None
    env.tls.recorder.stall_after_data = 0
    later = timezone.now() + timedelta(days=1)
    assert run(env, campaign, now=later).claimed == 0
    assert len(env.tls.recorder.received) == 1


def test_deferred_past_the_give_up_period_bounces_without_suppressing(pipeline_env, settings):
    from consent.models import Suppression

    env = pipeline_env
    settings.DELIVERY_GIVE_UP_AFTER = 3600
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    env.tls.recorder.data_replies = ["451 4.3.0 Try again later", "451 4.3.0 Try again later"]
    t0 = timezone.now()
    assert run(env, campaign, now=t0).counts["deferred"] == 1
    assert run(env, campaign, now=t0 + timedelta(hours=2)).counts["bounced"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.BOUNCED and GAVE_UP in message.reason_codes
    with tenant_context(env.tenant):
        assert not Suppression.objects.for_tenant(env.tenant).exists()


def test_give_up_counts_from_the_messages_first_attempt_not_the_campaign_start(pipeline_env, settings, monkeypatch):
    """A message held back for three days (no posture yet) before it first meets the transport
    is not given up at its first deferral because its campaign started days ago: the period
    runs from its own first attempt, which retries do not move."""
    from delivery import posture

    env = pipeline_env
    settings.DELIVERY_GIVE_UP_AFTER = 3600
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    t0 = timezone.now()
    with monkeypatch.context() as held_back:
        held_back.setattr(posture, "posture_or_schedule", lambda domain: None)
        assert run(env, campaign, now=t0).counts["deferred"] == 1
    (message,) = rows(env, campaign)
    assert message.first_attempt_at is None  # waiting for a posture is no delivery attempt
    env.tls.recorder.data_replies = ["451 4.3.0 Try again later"] * 3
    later = t0 + timedelta(days=3)
    assert run(env, campaign, now=later).counts["deferred"] == 1
    (message,) = rows(env, campaign)
    first = message.first_attempt_at
    assert message.status == S.DEFERRED and abs(first - later) < timedelta(seconds=30)
    assert run(env, campaign, now=message.next_attempt_at + timedelta(seconds=1)).counts["deferred"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.DEFERRED and message.first_attempt_at == first
    assert run(env, campaign, now=first + timedelta(hours=2)).counts["bounced"] == 1
    (message,) = rows(env, campaign)
    assert message.status == S.BOUNCED and GAVE_UP in message.reason_codes
    assert env.tls.recorder.data_replies == []  # three attempts, each refused with 451


def test_verified_tls_failing_on_a_stale_posture_sends_nothing_then_escrows_after_a_fresh_probe(pipeline_env, settings):
    """The posture said verified; the MX now has no STARTTLS (the route moves to the plain
    server): the transport refuses, nothing reaches either server, the posture is distrusted,
    and on its next claim (after a fresh probe) the PHI message goes to escrow."""
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    settings.DELIVERY_MX_OVERRIDES = {**settings.DELIVERY_MX_OVERRIDES, TLS_DOMAIN: env.plain.route()}
    result = run(env, campaign)
    assert result.counts["deferred"] == 1
    assert env.plain.recorder.commands == [] and env.tls.recorder.commands == []
    (message,) = rows(env, campaign)
    assert message.status == S.DEFERRED and message.handed_off_at is None
    assert TLS_FAILED in message.reason_codes
    from delivery.posture import cached_posture

    assert not cached_posture(TLS_DOMAIN).is_fresh()  # distrusted: the next claim probes again
    support.probe(TLS_DOMAIN)  # what the scheduled probe finds: no STARTTLS now
    run(env, campaign, now=message.next_attempt_at + timedelta(seconds=1))
    (message,) = rows(env, campaign)
    assert message.status == S.ESCROWED
    assert len(env.plain.recorder.received) == 1  # the notice, not the message
    assert b"/secure/" in env.plain.recorder.received[0].content


def test_posture_unknown_defers_the_domains_messages_a_little(pipeline_env, monkeypatch):
    from delivery import posture

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env, html=PLAIN_HTML)
    monkeypatch.setattr(posture, "posture_or_schedule", lambda domain: None)
    t0 = timezone.now()
    assert run(env, campaign, now=t0).counts["deferred"] == 2
    assert env.tls.recorder.commands == []
    assert all(m.send_after <= t0 + timedelta(seconds=61) for m in rows(env, campaign))
    assert status_counts(env, campaign) == {S.DEFERRED: 2}

"""Bounces and complaints that arrive after sending are reporting events: inbound DSN and ARF
reports and SES notifications, each with the message's campaign, contact and recipient domain,
counted in the rollups (a complaint once per message, however many reports name it)."""

from __future__ import annotations

import pytest

from campaigns.models import Message, MessageStatus
from delivery.ses import parse_ses_event, ses_event_apply
from delivery.tests.test_inbound_services import _ses, receive_and_process
from delivery.tests.test_inbound_support import PATIENT, Sent, arf, dsn, sent_message
from reporting.tests.source_support import recorded, rollups
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db
S = MessageStatus
DOMAIN = "example.test"


def sent(fixture, status: str = S.SENT) -> Sent:
    """A sent message whose first attempt stamped its recipient domain (as the pipeline does)."""
    message = sent_message(fixture, status=status)
    with tenant_context(message.tenant):
        Message.objects.for_tenant(message.tenant).filter(pk=message.message.pk).update(recipient_domain=DOMAIN)
    return message


def ids(message: Sent) -> tuple:
    return (message.message.campaign_id, message.message.pk, message.message.contact_id, DOMAIN)


def test_an_arf_abuse_complaint_is_one_complained_event_of_its_message(world):
    message = sent(world.a)
    receive_and_process(arf(message.message_id), message.tenant)
    assert recorded(message.tenant, "complained") == [(*ids(message), "abuse")]
    assert rollups(message.tenant, "complained", campaign_id=message.message.campaign_id, domain=DOMAIN) == {
        "tenant": 1,
        "tenant_domain": 1,
        "campaign": 1,
        "campaign_domain": 1,
    }
    # A second report about the same message (ISPs send them) is not a second complaint.
    receive_and_process(arf(message.message_id, feedback_type="fraud"), message.tenant)
    assert len(recorded(message.tenant, "complained")) == 1
    assert (
        rollups(message.tenant, "complained", campaign_id=message.message.campaign_id, domain=DOMAIN)["campaign"] == 1
    )


def test_feedback_that_is_not_a_complaint_is_no_event(world):
    message = sent(world.a)
    receive_and_process(arf(message.message_id, feedback_type="not-spam"), message.tenant)
    receive_and_process(arf(message.message_id, rcpt_to=None, to="redacted@redacted.invalid"), message.tenant)
    assert recorded(message.tenant, "complained") == []
    assert rollups(message.tenant, "complained")["tenant"] == 0


def test_an_ses_complaint_is_a_complained_event_and_counts_once_with_an_arf_report(world):
    message = sent(world.a)
    applied = ses_event_apply(parse_ses_event(_ses("Complaint", message.message_id, PATIENT)))
    assert applied.matched == 1
    assert recorded(message.tenant, "complained") == [(*ids(message), "abuse")]
    ses_event_apply(parse_ses_event(_ses("Complaint", message.message_id, PATIENT)))
    receive_and_process(arf(message.message_id), message.tenant)
    assert rollups(message.tenant, "complained", campaign_id=message.message.campaign_id, domain=DOMAIN) == {
        "tenant": 1,
        "tenant_domain": 1,
        "campaign": 1,
        "campaign_domain": 1,
    }


def test_an_ses_complaint_about_someone_else_is_no_event(world):
    message = sent(world.a)
    ses_event_apply(parse_ses_event(_ses("Complaint", message.message_id, "neighbour@example.test")))
    assert recorded(message.tenant, "complained") == []


def test_a_dsn_hard_bounce_after_sending_is_bounced_hard_and_bounced_after_sent(world):
    message = sent(world.a)
    receive_and_process(dsn(message.message_id, [(PATIENT, "failed", "5.1.1", "550 5.1.1 unknown")]), message.tenant)
    assert recorded(message.tenant, "bounced_hard") == [(*ids(message), "5.1.1")]
    campaign = message.message.campaign_id
    for metric in ("bounced_hard", "bounced_after_sent"):
        assert rollups(message.tenant, metric, campaign_id=campaign, domain=DOMAIN) == {
            "tenant": 1,
            "tenant_domain": 1,
            "campaign": 1,
            "campaign_domain": 1,
        }
    # The same report again moves nothing, so records nothing.
    receive_and_process(dsn(message.message_id, [(PATIENT, "failed", "5.1.1", "550")]), message.tenant)
    assert len(recorded(message.tenant, "bounced_hard")) == 1


def test_a_dsn_bounce_of_an_unknown_outcome_was_never_delivered(world):
    message = sent(world.a, status=S.UNKNOWN)
    receive_and_process(dsn(message.message_id, [(PATIENT, "failed", "5.7.1", "550 policy")]), message.tenant)
    assert recorded(message.tenant, "bounced_hard") == [(*ids(message), "5.7.1")]
    assert rollups(message.tenant, "bounced_after_sent")["tenant"] == 0


def test_a_delayed_dsn_is_no_event(world):
    message = sent(world.a)
    receive_and_process(dsn(message.message_id, [(PATIENT, "delayed", "4.4.1", "timed out")]), message.tenant)
    assert recorded(message.tenant, "bounced_hard") == recorded(message.tenant, "bounced_soft") == []


def test_an_ses_permanent_bounce_is_bounced_hard(world):
    message = sent(world.a)
    ses_event_apply(parse_ses_event(_ses("Bounce", message.message_id, PATIENT, status="5.1.1")))
    assert recorded(message.tenant, "bounced_hard") == [(*ids(message), "5.1.1")]
    assert (
        rollups(message.tenant, "bounced_after_sent", campaign_id=message.message.campaign_id, domain=DOMAIN)[
            "campaign"
        ]
        == 1
    )


def test_an_ses_transient_bounce_moves_nothing_and_is_no_event(world):
    # SES reports a Transient bounce when it gave up on a soft failure; the message stays
    # ``sent`` (see test_a_transient_ses_bounce_does_not_bounce_the_message), so no event.
    message = sent(world.a)
    ses_event_apply(
        parse_ses_event(_ses("Bounce", message.message_id, PATIENT, bounce_type="Transient", status="4.2.2"))
    )
    assert recorded(message.tenant, "bounced_soft") == recorded(message.tenant, "bounced_hard") == []


def test_a_report_naming_another_organisations_message_records_nothing_there(world):
    a = sent(world.a)
    b = sent(world.b)
    receive_and_process(arf(a.message_id), a.tenant)
    assert recorded(world.b.tenant, "complained") == [] and rollups(b.tenant, "complained")["tenant"] == 0

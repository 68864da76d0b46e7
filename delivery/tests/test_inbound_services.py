"""Inbound reports applied to campaign messages: bounces and complaints recorded with the right
reason and source, refused when the recipient is not the message's, stored encrypted, kept
inside their own organisation, audited without PHI; and the SES path through the same service."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.tests.helpers import events, head_seq
from campaigns.models import MessageStatus
from consent.models import ConsentSource, Suppression, SuppressionReason
from consent.services import ConsentError, suppression_remove
from delivery.inbound_services import (
    NO_MESSAGE_REF,
    UNKNOWN_ORGANISATION,
    inbound_report_process,
    inbound_report_receive,
)
from delivery.inbound_tasks import inbound_report_process_task
from delivery.mime import message_id_for
from delivery.models import InboundReport, InboundReportOutcome
from delivery.tests.test_inbound_support import FROM_DOMAIN, PATIENT, Sent, arf, dsn, sent_message
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db
S = MessageStatus
Outcome = InboundReportOutcome


def receive_and_process(raw: bytes, tenant) -> InboundReport:
    intake = inbound_report_receive(raw, enqueue=False)
    assert intake.stored and intake.tenant_id == tenant.pk and intake.report_id is not None
    with tenant_context(tenant):
        report = inbound_report_process(tenant=tenant, report_id=intake.report_id)
    assert report is not None
    return report


def suppressions(tenant) -> list[tuple[str, str, str]]:
    with tenant_context(tenant):
        return list(Suppression.objects.for_tenant(tenant).values_list("email_index", "reason", "source"))


def contact_index(sent: Sent) -> str:
    with tenant_context(sent.tenant):
        return sent.message.contact.email_index  # type: ignore[union-attr]


def test_a_5_1_1_dsn_bounces_the_message_and_suppresses_the_address_as_a_delivery_hard_bounce(world):
    sent = sent_message(world.a)
    seq = head_seq(sent.tenant)
    report = receive_and_process(
        dsn(sent.message_id, [(PATIENT, "failed", "5.1.1", "550 5.1.1 unknown user")]), sent.tenant
    )
    assert report.outcome == Outcome.APPLIED and report.kind == "dsn"
    assert (report.action, report.status_code) == ("failed", "5.1.1")
    assert report.message_id == sent.message.pk and report.message_bounced
    assert report.suppression_reason == SuppressionReason.HARD_BOUNCE
    message = sent.refresh()
    assert message.status == S.BOUNCED and message.smtp_enhanced == "5.1.1"
    assert suppressions(sent.tenant) == [(contact_index(sent), SuppressionReason.HARD_BOUNCE, ConsentSource.DELIVERY)]
    recorded = events(sent.tenant, seq)
    assert [action for action, _ in recorded] == [
        "delivery.inbound_report_received",
        "suppression.added",
        "delivery.bounce_recorded",
        "delivery.inbound_report_processed",
    ]
    assert recorded[1][1] == {"reason": "hard_bounce", "source": "delivery"}
    assert recorded[2][1] == {
        "via": "dsn",
        "status_code": "5.1.1",
        "permanent": True,
        "message_bounced": True,
        "suppressed": True,
        "campaign_id": str(sent.message.campaign_id),
    }
    assert recorded[3][1]["outcome"] == "applied" and recorded[3][1]["message_id"] == str(sent.message.pk)


def test_a_permanent_failure_that_is_not_5_1_bounces_without_suppressing(world):
    sent = sent_message(world.a, status=S.UNKNOWN)
    report = receive_and_process(dsn(sent.message_id, [(PATIENT, "failed", "5.7.1", "550 5.7.1 policy")]), sent.tenant)
    assert report.outcome == Outcome.APPLIED and report.message_bounced and report.suppression_reason == ""
    assert sent.refresh().status == S.BOUNCED  # unknown → bounced: the evidence settles it
    assert suppressions(sent.tenant) == []


def test_a_delayed_dsn_is_stored_only(world):
    sent = sent_message(world.a)
    report = receive_and_process(dsn(sent.message_id, [(PATIENT, "delayed", "4.4.1", "timed out")]), sent.tenant)
    assert report.outcome == Outcome.STORED_ONLY and report.message_id == sent.message.pk
    assert (report.action, report.status_code) == ("delayed", "4.4.1")
    assert sent.refresh().status == S.SENT and suppressions(sent.tenant) == []


def test_the_block_about_our_recipient_is_the_one_applied(world):
    sent = sent_message(world.a)
    raw = dsn(
        sent.message_id,
        [
            ("someone-else@example.test", "delayed", "4.2.2", "mailbox full"),
            ("PATIENT@Example.Test", "failed", "5.1.1", "550 5.1.1 unknown"),
        ],
    )
    report = receive_and_process(raw, sent.tenant)
    assert (report.outcome, report.status_code) == (Outcome.APPLIED, "5.1.1")
    assert report.recipient_count == 2 and sent.refresh().status == S.BOUNCED


def test_a_report_whose_recipient_is_not_the_messages_contact_changes_nothing(world):
    sent = sent_message(world.a)
    other = sent_message(world.a, email="neighbour@example.test")
    # Our real Message-ID, but it names another address: refused.
    raw = dsn(sent.message_id, [(other.email, "failed", "5.1.1", "550 5.1.1 unknown")], to=other.email)
    report = receive_and_process(raw, sent.tenant)
    assert report.outcome == Outcome.RECIPIENT_MISMATCH and report.message_id is None
    assert sent.refresh().status == S.SENT and other.refresh().status == S.SENT
    assert suppressions(sent.tenant) == []
    complaint = receive_and_process(arf(sent.message_id, rcpt_to=other.email, to=other.email), sent.tenant)
    assert complaint.outcome == Outcome.RECIPIENT_MISMATCH and suppressions(sent.tenant) == []


def test_the_raw_report_is_stored_encrypted_and_round_trips_exactly(world):
    sent = sent_message(world.a)
    raw = dsn(sent.message_id, [(PATIENT, "failed", "5.1.1", "550 5.1.1 unknown")], original="message")
    raw += "Ünïcödé trailer\r\n".encode() + b"\xff\xfe latin junk\r\n"
    intake = inbound_report_receive(raw, enqueue=False)
    with tenant_context(sent.tenant), connection.cursor() as cursor:
        cursor.execute("SELECT raw FROM delivery_inboundreport WHERE id = %s", [intake.report_id])
        stored = bytes(cursor.fetchone()[0])
        report = InboundReport.objects.for_tenant(sent.tenant).get(pk=intake.report_id)
        assert report.raw_bytes == raw and report.size_bytes == len(raw)
    for plaintext in (b"patient@example.test", b"cardiology", b"Final-Recipient", b"latin junk"):
        assert plaintext not in stored


def test_a_report_can_only_reach_the_message_of_the_organisation_its_message_id_names(world):
    a = sent_message(world.a)
    b = sent_message(world.b)  # the same address is also a contact of B
    # A Message-ID sealed for B's organisation with A's message row: routed to B, where that
    # row does not exist (row-level security and the tenant-scoped manager both hide it).
    forged = message_id_for(tenant_id=world.b.tenant.pk, message_row_id=a.message.pk, domain=FROM_DOMAIN)
    report = receive_and_process(dsn(forged, [(PATIENT, "failed", "5.1.1", "550 unknown")]), world.b.tenant)
    assert report.outcome == Outcome.MESSAGE_NOT_FOUND
    assert a.refresh().status == S.SENT and b.refresh().status == S.SENT
    assert suppressions(world.a.tenant) == [] and suppressions(world.b.tenant) == []
    # A's stored report cannot be processed (or seen) as B.
    intake = inbound_report_receive(dsn(a.message_id, [(PATIENT, "failed", "5.1.1", "550")]), enqueue=False)
    assert intake.tenant_id == world.a.tenant.pk
    with tenant_context(world.b.tenant):
        assert inbound_report_process(tenant=world.b.tenant, report_id=intake.report_id) is None
    assert inbound_report_process_task.run(world.b.tenant.pk, intake.report_id) == "gone"
    with tenant_context(world.a.tenant):
        assert InboundReport.objects.for_tenant(world.a.tenant).get(pk=intake.report_id).outcome == Outcome.PENDING
    assert inbound_report_process_task.run(world.a.tenant.pk, intake.report_id) == Outcome.APPLIED
    assert a.refresh().status == S.BOUNCED and b.refresh().status == S.SENT
    assert suppressions(world.b.tenant) == []


def test_an_abuse_complaint_suppresses_with_reason_complaint_that_staff_cannot_lift(world):
    sent = sent_message(world.a)
    seq = head_seq(sent.tenant)
    report = receive_and_process(arf(sent.message_id), sent.tenant)
    assert report.outcome == Outcome.APPLIED and report.feedback_type == "abuse"
    assert report.suppression_reason == SuppressionReason.COMPLAINT and not report.message_bounced
    assert sent.refresh().status == S.SENT
    assert suppressions(sent.tenant) == [(contact_index(sent), SuppressionReason.COMPLAINT, ConsentSource.DELIVERY)]
    recorded = events(sent.tenant, seq)
    assert [action for action, _ in recorded] == [
        "delivery.inbound_report_received",
        "suppression.added",
        "delivery.complaint_recorded",
        "delivery.inbound_report_processed",
    ]
    assert recorded[2][1]["feedback_type"] == "abuse" and recorded[2][1]["via"] == "arf"
    with tenant_context(sent.tenant):
        suppression = Suppression.objects.for_tenant(sent.tenant).get()
        with pytest.raises(ConsentError):
            suppression_remove(tenant=sent.tenant, actor=None, suppression=suppression)  # type: ignore[arg-type]


def test_feedback_that_is_not_a_complaint_is_stored_only(world):
    sent = sent_message(world.a)
    report = receive_and_process(arf(sent.message_id, feedback_type="not-spam"), sent.tenant)
    assert report.outcome == Outcome.STORED_ONLY and report.message_id == sent.message.pk
    assert suppressions(sent.tenant) == []


def test_a_redacted_complaint_cannot_be_checked_and_suppresses_nobody(world):
    sent = sent_message(world.a)
    report = receive_and_process(arf(sent.message_id, rcpt_to=None, to="redacted@redacted.invalid"), sent.tenant)
    assert report.outcome == Outcome.RECIPIENT_MISMATCH and suppressions(sent.tenant) == []


def test_reports_that_name_no_message_of_ours_are_dropped_and_stored_nowhere(world):
    sent = sent_message(world.a)
    foreign = dsn("<abc.123@elsewhere.example.test>", [(PATIENT, "failed", "5.1.1", "")])
    assert inbound_report_receive(foreign, enqueue=False).reason == NO_MESSAGE_REF
    gone = message_id_for(tenant_id=999_999, message_row_id=sent.message.pk, domain=FROM_DOMAIN)
    dropped = inbound_report_receive(dsn(gone, [(PATIENT, "failed", "5.1.1", "")]), enqueue=False)
    assert (dropped.stored, dropped.reason) == (False, UNKNOWN_ORGANISATION)
    for fixture in (world.a, world.b):
        with tenant_context(fixture.tenant):
            assert not InboundReport.objects.for_tenant(fixture.tenant).exists()


def test_something_unreadable_that_names_our_message_is_stored_as_unrecognised_and_not_queued(
    world, django_capture_on_commit_callbacks
):
    sent = sent_message(world.a)
    reply = f"From: {PATIENT}\r\nSubject: Re: hi\r\nIn-Reply-To: {sent.message_id}\r\n\r\nThanks\r\n".encode()
    with django_capture_on_commit_callbacks() as callbacks:
        intake = inbound_report_receive(reply)
    assert intake.stored and callbacks == []
    with tenant_context(sent.tenant):
        report = InboundReport.objects.for_tenant(sent.tenant).get(pk=intake.report_id)
        assert (report.kind, report.outcome, report.problem) == ("unknown", Outcome.UNRECOGNISED, "not_a_report")
        assert inbound_report_process(tenant=sent.tenant, report_id=intake.report_id).outcome == Outcome.UNRECOGNISED


def test_the_task_gets_ids_only_and_processing_twice_changes_nothing_more(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    sent = sent_message(world.a)
    queued: list[tuple] = []
    monkeypatch.setattr(inbound_report_process_task, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        intake = inbound_report_receive(dsn(sent.message_id, [(PATIENT, "failed", "5.1.1", "550")]))
    assert queued == [(world.a.tenant.pk, intake.report_id)]
    assert inbound_report_process_task.run(*queued[0]) == Outcome.APPLIED
    seq = head_seq(sent.tenant)
    assert inbound_report_process_task.run(*queued[0]) == Outcome.APPLIED
    assert events(sent.tenant, seq) == [] and len(suppressions(sent.tenant)) == 1


def test_no_address_or_server_text_reaches_the_audit_log(world):
    sent = sent_message(world.a)
    seq = head_seq(sent.tenant)
    receive_and_process(dsn(sent.message_id, [(PATIENT, "failed", "5.1.1", "550 5.1.1 patient unknown")]), sent.tenant)
    receive_and_process(arf(sent.message_id), sent.tenant)
    stored = repr(events(sent.tenant, seq))
    for value in ("patient@", "example.test", "unknown", "cardiology", "mx.example.test"):
        assert value not in stored


def _ses(kind: str, message_id: str, address: str, **fields) -> dict:
    mail = {"messageId": "0100018f-ses-id", "commonHeaders": {"messageId": message_id}}
    if kind == "Bounce":
        body = {
            "bounceType": fields.get("bounce_type", "Permanent"),
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "status": fields.get("status", "5.1.1")}],
        }
        return {"notificationType": "Bounce", "mail": mail, "bounce": body}
    body = {"complainedRecipients": [{"emailAddress": address}], "complaintFeedbackType": "abuse"}
    return {"notificationType": "Complaint", "mail": mail, "complaint": body}


def test_ses_bounces_and_complaints_go_through_the_same_service(world):
    from delivery.ses import parse_ses_event, ses_event_apply

    sent = sent_message(world.a)
    seq = head_seq(sent.tenant)
    # Someone else's address on our message: nothing.
    assert ses_event_apply(parse_ses_event(_ses("Bounce", sent.message_id, "neighbour@example.test"))).matched == 0
    assert sent.refresh().status == S.SENT and suppressions(sent.tenant) == []
    applied = ses_event_apply(parse_ses_event(_ses("Bounce", sent.message_id, PATIENT)))
    assert applied.matched == 1 and applied.message_bounced
    assert applied.suppression_reason == SuppressionReason.HARD_BOUNCE
    assert sent.refresh().status == S.BOUNCED
    complained = ses_event_apply(parse_ses_event(_ses("Complaint", sent.message_id, PATIENT)))
    assert complained.suppression_reason == SuppressionReason.COMPLAINT
    assert sorted(suppressions(sent.tenant)) == [
        (contact_index(sent), SuppressionReason.COMPLAINT, ConsentSource.DELIVERY),
        (contact_index(sent), SuppressionReason.HARD_BOUNCE, ConsentSource.DELIVERY),
    ]
    recorded = [(action, details.get("via")) for action, details in events(sent.tenant, seq)]
    assert recorded == [
        ("suppression.added", None),
        ("delivery.bounce_recorded", "ses"),
        ("suppression.added", None),
        ("delivery.complaint_recorded", "ses"),
    ]


def test_a_transient_ses_bounce_does_not_bounce_the_message(world):
    from delivery.ses import parse_ses_event, ses_event_apply

    sent = sent_message(world.a)
    event = parse_ses_event(_ses("Bounce", sent.message_id, PATIENT, bounce_type="Transient", status="4.2.2"))
    applied = ses_event_apply(event)
    assert applied.matched == 1 and not applied.message_bounced and applied.suppression_reason == ""
    assert sent.refresh().status == S.SENT and suppressions(sent.tenant) == []

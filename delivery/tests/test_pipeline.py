"""The send pipeline end to end against real SMTP servers: verified TLS, DKIM and unsubscribe
headers, PHI never to a server without STARTTLS, quarantine, consent re-checked at send time,
the BAA gate at send time, and tenant isolation."""

from __future__ import annotations

import email
import email.policy

import pytest

from audit.tests.helpers import actions
from campaigns.models import MessageStatus
from delivery.dkim_signing import verify_message
from delivery.mime import message_id_for
from delivery.pipeline import BATCH_ACTION, ESCROW_NOTICE
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import (
    FROM_DOMAIN,
    PLAIN_DOMAIN,
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


def test_campaign_over_verified_tls_delivers_one_signed_copy_each(pipeline_env):
    env = pipeline_env
    contacts = consenting_contacts(env.fixture, TLS_DOMAIN, 5)
    campaign = launch(env)
    result = run(env, campaign)
    assert result.claimed == 5
    assert result.counts["sent"] == 5
    assert status_counts(env, campaign) == {S.SENT: 5}
    got = env.tls.recorder.received
    assert len(got) == 5
    assert all(r.tls for r in got)
    assert all(tls for _, tls in env.tls.recorder.transactions)  # every command over TLS
    ids = message_ids(received(env.tls))
    expected = {
        message_id_for(tenant_id=env.tenant.pk, message_row_id=m.pk, domain=FROM_DOMAIN) for m in rows(env, campaign)
    }
    assert set(ids) == expected and set(ids.values()) == {1}
    assert sorted(r.rcpt_tos[0] for r in got) == sorted(c.email for c in contacts)
    for r in got:
        assert verify_message(r.content, dns_txt=env.dkim_dns())
        parsed = email.message_from_bytes(r.content)
        assert parsed["List-Unsubscribe"].startswith("<https://sealpost.test/")
        assert "mailto:" in parsed["List-Unsubscribe"]
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "list-unsubscribe" in parsed["DKIM-Signature"].lower()
    for m in rows(env, campaign):
        assert m.protection_action == "verified_tls"
        assert m.level == "phi"
        assert m.smtp_code == 250
        assert m.handed_off_at is not None
    # The next claim finds nothing.
    assert run(env, campaign).claimed == 0
    with tenant_context(env.tenant):
        assert BATCH_ACTION in actions(env.tenant)
    assert len(env.tls.recorder.received) == 5


def test_phi_to_a_domain_without_starttls_is_escrowed_and_only_a_phi_free_notice_goes(pipeline_env):
    from encryption.dlp import classify
    from encryption.models import EscrowedMessage, EscrowStatus

    env = pipeline_env
    contacts = consenting_contacts(env.fixture, PLAIN_DOMAIN, 3)
    campaign = launch(env)
    result = run(env, campaign)
    assert result.counts["escrowed"] == 3
    for m in rows(env, campaign):
        assert m.status == S.ESCROWED
        assert m.protection_action == "escrow"
        assert "phi_no_verified_tls" in m.reason_codes and ESCROW_NOTICE in m.reason_codes
        assert m.handed_off_at is not None
    with tenant_context(env.tenant):
        stored = {e.message_id: e for e in EscrowedMessage.objects.for_tenant(env.tenant)}
        assert sorted(stored) == sorted(m.pk for m in rows(env, campaign))
        for escrow in stored.values():
            assert escrow.status == EscrowStatus.ACTIVE and escrow.notice_sent_at is not None
            assert "your lab results from the cardiology clinic" in escrow.text
    # The server without STARTTLS got the notices only: signed, with the link, and none of the
    # message (no name, no health information: a scan finds nothing of the message's).
    notices = env.plain.recorder.received
    assert sorted(r.rcpt_tos[0] for r in notices) == sorted(c.email for c in contacts)
    for r in notices:
        assert verify_message(r.content, dns_txt=env.dkim_dns())
        parsed = email.message_from_bytes(r.content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",)).get_content()
        assert "https://sealpost.test/secure/" in body
        assert "To stop receiving these messages: https://sealpost.test/r/unsubscribe/" in body
        raw = r.content.decode()
        assert "cardiology" not in raw and "lab results" not in raw and "Avery" not in raw
        assert "Sealpost" not in str(parsed["Subject"]) and str(parsed["Subject"]) == "You have a secure message"
        assert classify(body).level != "phi"
    # Scanned against the message's own findings: not one of them is in any notice (but for
    # the recipient's own unsubscribe link, which every message of the campaign carries).
    for escrow in stored.values():
        found = [escrow.text[f.start : f.end] for f in classify(escrow.text).findings]
        found = [value for value in found if not value.startswith("https://sealpost.test/r/")]
        assert found and all(value not in r.content.decode() for value in found for r in notices)


def test_non_phi_to_a_domain_without_starttls_goes_by_standard_delivery(pipeline_env):
    env = pipeline_env
    consenting_contacts(env.fixture, PLAIN_DOMAIN, 2)
    campaign = launch(env, html=PLAIN_HTML)
    result = run(env, campaign)
    assert result.counts["sent"] == 2
    assert len(env.plain.recorder.received) == 2
    assert {m.protection_action for m in rows(env, campaign)} == {"standard"}


def test_quarantine_decision_holds_the_message_encrypted_and_sends_nothing(pipeline_env):
    from encryption.models import QuarantinedMessage, QuarantineStatus
    from encryption.services import protection_policy_update
    from tenants.roles import Role

    env = pipeline_env
    with tenant_context(env.tenant):
        protection_policy_update(
            tenant=env.tenant,
            actor=env.fixture.users[Role.ADMIN],
            rules=[{"kind": "purpose", "value": "appointment_reminders", "action": "quarantine"}],
        )
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    result = run(env, campaign)
    assert result.counts["quarantined"] == 2
    assert env.tls.recorder.commands == []
    messages = rows(env, campaign)
    assert {m.status for m in messages} == {S.QUARANTINED}
    assert all("rule_purpose" in m.reason_codes for m in messages)
    with tenant_context(env.tenant):
        items = list(QuarantinedMessage.objects.for_tenant(env.tenant).order_by("source_ref"))
        assert sorted(i.source_ref for i in items) == sorted(str(m.pk) for m in messages)
        assert {i.status for i in items} == {QuarantineStatus.HELD}
        assert "lab results" in items[0].text  # readable through the model: stored encrypted
        assert actions(env.tenant).count("quarantine.held") == 2


def test_revoked_consent_after_launch_stops_the_queued_message(pipeline_env):
    from campaigns.tests.support import grant

    env = pipeline_env
    keep, revoke = consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    grant(env.fixture, revoke, "appointment_reminders", status="revoked")
    result = run(env, campaign)
    assert result.counts == {"skipped": 1, "sent": 1}
    assert [r.rcpt_tos for r in env.tls.recorder.received] == [[keep.email]]
    by_contact = {m.contact_id: m.status for m in rows(env, campaign)}
    assert by_contact == {keep.pk: S.SENT, revoke.pk: S.SKIPPED}


def test_suppression_after_launch_stops_the_queued_message(pipeline_env):
    from consent.models import SuppressionReason
    from consent.services import suppression_add
    from delivery.pipeline import PIPELINE_ACTOR

    env = pipeline_env
    (contact,) = consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env)
    with tenant_context(env.tenant):
        suppression_add(tenant=env.tenant, actor=PIPELINE_ACTOR, email=contact.email, reason=SuppressionReason.MANUAL)
    run(env, campaign)
    assert env.tls.recorder.commands == []
    assert status_counts(env, campaign) == {S.SKIPPED: 1}


def test_a_baa_terminated_after_launch_stops_phi_sending(pipeline_env):
    from baa.models import Agreement
    from baa.tests.support import terminate

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    with tenant_context(env.tenant):
        agreement = Agreement.objects.for_tenant(env.tenant).get(status="active")
    terminate(env.fixture, agreement)
    result = run(env, campaign)
    assert result.counts["blocked"] == 2
    assert env.tls.recorder.commands == []
    assert {tuple(m.reason_codes) for m in rows(env, campaign)} == {("baa_terminated",)}


def test_a_task_with_another_tenants_id_does_nothing(pipeline_env, world):
    from delivery.pipeline import send_batch

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    result = send_batch(
        tenant_id=world.b.tenant.pk, campaign_id=str(campaign.pk), owner="intruder", transport=env.transport
    )
    assert not result.found and result.claimed == 0
    assert status_counts(env, campaign) == {S.QUEUED: 2}
    assert env.tls.recorder.commands == []
    # A campaign id that is not a UUID is "not found" too, not an error.
    assert not send_batch(tenant_id=env.tenant.pk, campaign_id="nope", owner="w", transport=env.transport).found


def test_a_contact_that_cannot_be_decrypted_fails_alone(pipeline_env):
    from django.db import connection

    from delivery.pipeline import PREPARE_FAILED

    env = pipeline_env
    broken, fine = consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    with tenant_context(env.tenant), connection.cursor() as cursor:
        # Another row's ciphertext: bound to that row, so it does not decrypt here.
        cursor.execute(
            "UPDATE segments_contact SET email = (SELECT email FROM segments_contact WHERE id = %s) WHERE id = %s",
            [fine.pk, broken.pk],
        )
    result = run(env, campaign)
    assert result.counts == {"failed": 1, "sent": 1}
    by_contact = {m.contact_id: m for m in rows(env, campaign)}
    assert by_contact[broken.pk].status == S.FAILED
    assert by_contact[broken.pk].reason_codes == [PREPARE_FAILED]
    assert [r.rcpt_tos for r in env.tls.recorder.received] == [[fine.email]]


def test_tasks_take_ids_fan_out_chain_and_complete_the_campaign(pipeline_env, world, monkeypatch, settings):
    from campaigns.models import Campaign, CampaignStatus
    from delivery import pipeline
    from delivery.tasks import campaign_dispatch_task, dispatch_due_task, send_batch_task

    env = pipeline_env
    settings.DELIVERY_DISPATCH_FANOUT = 3
    for task in (campaign_dispatch_task, send_batch_task):
        assert task.acks_late and task.reject_on_worker_lost
    queued: list[tuple] = []
    monkeypatch.setattr(send_batch_task, "delay", lambda *args: queued.append(args))
    monkeypatch.setattr(pipeline, "default_transport", lambda: env.transport)
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env)
    ids = (env.tenant.pk, str(campaign.pk))
    assert campaign_dispatch_task.run(*ids) == 3
    assert queued == [ids] * 3  # ids only, never PHI
    assert campaign_dispatch_task.run(world.b.tenant.pk, str(campaign.pk)) == 0
    assert dispatch_due_task.run() == 1  # due work, nobody holds it
    queued.clear()
    assert send_batch_task.apply(args=ids).get() == 2
    assert queued == []  # a short batch: the chain ends
    assert len(env.tls.recorder.received) == 2
    assert send_batch_task.apply(args=ids).get() == 0
    with tenant_context(env.tenant):
        assert Campaign.objects.for_tenant(env.tenant).get(pk=campaign.pk).status == CampaignStatus.COMPLETED
        assert "campaign.completed" in actions(env.tenant)


def test_the_envelope_sender_is_the_return_path_when_one_is_configured(pipeline_env, settings):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    settings.DELIVERY_RETURN_PATH = "bounces@bounce.sealpost.test"
    run(env, launch(env))
    assert [r.mail_from for r in env.tls.recorder.received] == ["bounces@bounce.sealpost.test"] * 2
    # Unset, the campaign's From address is the envelope sender.
    settings.DELIVERY_RETURN_PATH = ""
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    second = launch(env)
    run(env, second)
    assert env.tls.recorder.received[-1].mail_from == f"news@{FROM_DOMAIN}"


def test_a_domain_verified_by_dane_gets_its_phi_messages_over_tls_its_tlsa_records_vouch_for(
    pipeline_env, settings, tmp_path
):
    """A self-signed certificate that only DNSSEC-validated TLSA records vouch for (RFC 7672):
    WebPKI would refuse it, so without DANE in the transport nothing would ever be sent."""
    from delivery.posture import TlsaRecord, get_resolver
    from delivery.testing import self_signed, server_context
    from delivery.tests.smtp_servers import start_recording_server

    env = pipeline_env
    dane_domain, mx_host = "patients-dane.example", "mx.patients-dane.example"
    issued = self_signed(tmp_path, mx_host)
    server = start_recording_server(tls_context=server_context(issued))
    try:
        port = server.route().rpartition(":")[2]
        settings.DELIVERY_MX_OVERRIDES = {**settings.DELIVERY_MX_OVERRIDES, dane_domain: f"{mx_host}:{port}"}
        get_resolver().tlsa_records[f"_{port}._tcp.{mx_host}"] = ([TlsaRecord(3, 1, 1, issued.spki_sha256())], True)
        support.probe(dane_domain)
        contacts = consenting_contacts(env.fixture, dane_domain, 3)
        campaign = launch(env)
        run(env, campaign)
        assert status_counts(env, campaign) == {S.SENT: 3}
        assert sorted(r.rcpt_tos[0] for r in server.recorder.received) == sorted(c.email for c in contacts)
        assert all(r.tls for r in server.recorder.received)
    finally:
        server.stop()

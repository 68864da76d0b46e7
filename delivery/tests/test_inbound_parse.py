"""Parsing inbound DSNs (RFC 3464) and ARF reports (RFC 5965): realistic samples, several
recipients, delayed and permanent failures, Message-IDs that are not ours, and malformed input
that must never raise."""

from __future__ import annotations

import pytest

from delivery import inbound
from delivery.inbound import parse_report
from delivery.mime import MessageRef, message_id_for
from delivery.tests.test_inbound_support import FROM_DOMAIN, PATIENT, arf, dsn

MESSAGE_ID = message_id_for(tenant_id=7, message_row_id=4242, domain=FROM_DOMAIN)
REF = MessageRef(tenant_id=7, message_id=4242)


def test_a_5_1_1_dsn_names_the_recipient_status_and_our_message():
    report = parse_report(dsn(MESSAGE_ID, [(PATIENT, "failed", "5.1.1", "550 5.1.1 <patient@example.test>: unknown")]))
    assert report.kind == inbound.DSN and report.problem == ""
    (recipient,) = report.recipients
    assert recipient.final_recipient == PATIENT and recipient.original_recipient == PATIENT
    assert (recipient.action, recipient.status) == ("failed", "5.1.1")
    assert recipient.permanent and recipient.diagnostic_code.startswith("smtp; 550 5.1.1")
    assert report.message_ref == REF
    assert report.original_message_id == MESSAGE_ID and report.original_to == (PATIENT,)


def test_every_recipient_block_is_read_with_its_own_action_and_status():
    report = parse_report(
        dsn(
            MESSAGE_ID,
            [
                ("forwarded@example.test", "failed", "5.2.2", "552 5.2.2 mailbox full"),
                (PATIENT, "delayed", "4.4.1", "connect to mx.example.test: Connection timed out"),
                ("copy@example.test", "delivered", "2.0.0", ""),
            ],
        )
    )
    assert [(r.final_recipient, r.action, r.status) for r in report.recipients] == [
        ("forwarded@example.test", "failed", "5.2.2"),
        (PATIENT, "delayed", "4.4.1"),
        ("copy@example.test", "delivered", "2.0.0"),
    ]
    assert [r.permanent for r in report.recipients] == [True, False, False]
    assert report.recipient_addresses == ("forwarded@example.test", PATIENT, "copy@example.test")


def test_a_delayed_dsn_is_not_a_permanent_failure():
    report = parse_report(dsn(MESSAGE_ID, [(PATIENT, "delayed", "4.4.7", "")]))
    (recipient,) = report.recipients
    assert report.kind == inbound.DSN and not recipient.failed and not recipient.permanent


def test_the_returned_original_may_be_the_whole_message():
    report = parse_report(dsn(MESSAGE_ID, [(PATIENT, "failed", "5.1.1", "550 unknown")], original="message"))
    assert report.message_ref == REF and report.original_to == (PATIENT,)


def test_a_dsn_without_the_original_still_finds_our_message_in_its_references():
    raw = dsn(MESSAGE_ID, [(PATIENT, "failed", "5.1.1", "550 unknown")], original="none")
    assert parse_report(raw).message_ref is None
    with_references = raw.replace(b"Auto-Submitted:", b"References: " + MESSAGE_ID.encode() + b"\r\nAuto-Submitted:")
    assert parse_report(with_references).message_ref == REF


def test_message_ids_we_did_not_make_name_nothing():
    other = "<20261102.abc123@mail.example.test>"
    assert parse_report(dsn(other, [(PATIENT, "failed", "5.1.1", "")])).message_ref is None
    # Any one character changed in our token, the last included (whose low bits are unused by
    # base32): the seal no longer opens, or the encoding is not the one we made.
    local, _, domain = MESSAGE_ID.strip("<>").partition("@")
    for position in (0, len(local) // 2, len(local) - 1):
        for replacement in "a7":
            if local[position] == replacement:
                continue
            altered = f"<{local[:position]}{replacement}{local[position + 1 :]}@{domain}>"
            assert parse_report(dsn(altered, [(PATIENT, "failed", "5.1.1", "")])).message_ref is None


def test_an_arf_abuse_report_gives_the_feedback_type_and_recipients():
    report = parse_report(arf(MESSAGE_ID))
    assert report.kind == inbound.ARF and report.feedback_type == "abuse"
    assert report.original_rcpt_to == (PATIENT,) and report.original_to == (PATIENT,)
    assert report.message_ref == REF and report.recipient_addresses == (PATIENT,)


def test_a_redacted_arf_report_names_no_recipient():
    report = parse_report(arf(MESSAGE_ID, rcpt_to=None, to="redacted@redacted.invalid"))
    assert report.kind == inbound.ARF and report.original_rcpt_to == ()
    assert report.recipient_addresses == ("redacted@redacted.invalid",)


def test_a_reply_that_quotes_our_message_is_not_a_report_but_is_ours():
    raw = (
        f"From: {PATIENT}\r\nTo: news@{FROM_DOMAIN}\r\nSubject: Re: reminder\r\n"
        f"In-Reply-To: {MESSAGE_ID}\r\n\r\nThanks, see you Tuesday.\r\n"
    ).encode()
    report = parse_report(raw)
    assert (report.kind, report.problem) == (inbound.UNKNOWN, inbound.NOT_A_REPORT)
    assert report.message_ref == REF and report.recipient_addresses == ()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", inbound.NOT_A_REPORT),
        (b"\x00\xff\xfe garbage \x80\x81", inbound.NOT_A_REPORT),
        (b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x--\r\n", None),
        (
            b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n",
            inbound.UNKNOWN_REPORT_TYPE,
        ),
    ],
)
def test_malformed_input_is_unknown_never_an_exception(raw, problem):
    report = parse_report(raw)
    assert report.kind == inbound.UNKNOWN and report.recipients == ()
    if problem is not None:
        assert report.problem == problem


def test_a_status_part_without_recipients_or_with_junk_fields_is_unknown():
    raw = dsn(MESSAGE_ID, [(PATIENT, "failed", "5.1.1", "")])
    no_final = raw.replace(b"Final-Recipient: rfc822; patient@example.test", b"X-Other: 1")
    report = parse_report(no_final)
    assert (report.kind, report.problem) == (inbound.UNKNOWN, inbound.NO_RECIPIENTS)
    assert report.message_ref == REF  # still routed, so it is stored as unrecognised
    junk = parse_report(raw.replace(b"Status: 5.1.1", b"Status: five-one-one").replace(b"Action: failed", b"Action: "))
    (recipient,) = junk.recipients
    assert (recipient.status, recipient.action, recipient.permanent) == ("", "", False)


def test_no_truncation_or_corruption_of_a_report_raises():
    samples = [dsn(MESSAGE_ID, [(PATIENT, "failed", "5.1.1", "550 x")], original="message"), arf(MESSAGE_ID)]
    for raw in samples:
        for cut in range(0, len(raw), 7):
            parse_report(raw[:cut])
            parse_report(raw[:cut] + b"\xff\r\n--\r\n" + raw[cut:])

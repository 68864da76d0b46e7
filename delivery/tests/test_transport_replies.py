"""Classification of SMTP replies, scrubbing of server text, backoff and giving up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from delivery.smtp_replies import (
    Outcome,
    Status,
    classify_reply,
    expire_deferred,
    give_up_after,
    next_attempt_delay,
    parse_enhanced,
    scrub,
)


@pytest.mark.parametrize(
    ("code", "text", "status", "enhanced", "suppress"),
    [
        (250, "2.0.0 OK queued as ABC", Status.SENT, "2.0.0", False),
        (451, "4.3.0 Try again later", Status.DEFERRED, "4.3.0", False),
        (421, "4.7.0 closing", Status.DEFERRED, "4.7.0", False),
        (452, "Insufficient storage", Status.DEFERRED, None, False),
        (550, "5.1.1 <pat@patients.example>: user unknown", Status.BOUNCED, "5.1.1", True),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound", Status.BOUNCED, "5.1.10", True),
        (550, "5.2.1 mailbox disabled", Status.BOUNCED, "5.2.1", True),
        (552, "5.2.2 mailbox full", Status.BOUNCED, "5.2.2", False),
        (550, "5.7.1 rejected by policy", Status.BOUNCED, "5.7.1", False),
        (554, "5.7.26 DMARC", Status.BOUNCED, "5.7.26", False),
        (550, "Requested action not taken", Status.BOUNCED, None, False),
        (550, "4.1.1 mismatched class", Status.BOUNCED, None, False),
        (999, "weird", Status.DEFERRED, None, False),
    ],
)
def test_classification(code, text, status, enhanced, suppress):
    outcome = classify_reply(code, text)
    assert (outcome.status, outcome.code, outcome.enhanced, outcome.suppress) == (status, code, enhanced, suppress)
    assert "@" not in outcome.detail and "user unknown" not in outcome.detail


def test_enhanced_code_parsing():
    assert parse_enhanced(b"5.1.1 user unknown") == "5.1.1"
    assert parse_enhanced("  4.7.0") == "4.7.0"
    assert parse_enhanced("5.1.1x") is None
    assert parse_enhanced("Mailbox 5.1.1") is None


def test_scrub_removes_addresses():
    text = scrub("5.1.1 <pat@patients.example>: Recipient address rejected: pat@patients.example unknown, pat%40x")
    assert "pat" not in text and "@" not in text
    assert scrub("a" * 500) == "a" * 160


def test_backoff_grows_with_full_jitter_and_is_capped():
    rng = random.Random(1)
    for attempt in range(1, 30):
        ceiling = min(6 * 3600, 60 * 2 ** (attempt - 1))
        delays = [next_attempt_delay(attempt, rng=rng) for _ in range(200)]
        assert all(min(30, ceiling) <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not a fixed schedule
    assert next_attempt_delay(10_000, rng=rng) <= 6 * 3600


def test_a_deferred_message_past_the_give_up_period_bounces(settings):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    deferred = Outcome(Status.DEFERRED, 451, "4.3.0", "end of data: 451 4.3.0")
    assert give_up_after() == timedelta(days=4)
    assert expire_deferred(deferred, first_attempt_at=start, now=start + timedelta(days=3)) is deferred
    expired = expire_deferred(deferred, first_attempt_at=start, now=start + timedelta(days=4))
    assert (expired.status, expired.suppress) == (Status.BOUNCED, False)
    settings.DELIVERY_GIVE_UP_AFTER = 3600
    assert expire_deferred(deferred, first_attempt_at=start, now=start + timedelta(hours=1)).status == Status.BOUNCED
    sent = Outcome(Status.SENT, 250)
    assert expire_deferred(sent, first_attempt_at=start, now=start + timedelta(days=9)) is sent

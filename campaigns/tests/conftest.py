from __future__ import annotations

from datetime import UTC, datetime

import pytest


@pytest.fixture
def verified_domains(monkeypatch):
    """The sending domains treated as verified (``campaigns.checks.sending_domain_ok``)."""
    domains: set[str] = {"org-a.example.com", "org-b.example.com"}
    monkeypatch.setattr(
        "campaigns.checks.sending_domain_ok",
        lambda *, tenant, domain: domain in domains and domain.startswith(f"{tenant.slug}."),
    )
    return domains


@pytest.fixture
def sent_tasks(monkeypatch):
    """Celery tasks sent by name (the pipeline's kick-off): (name, args) in order."""
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(
        "campaigns.dispatch.current_app.send_task", lambda name, args=None, **kw: sent.append((name, args))
    )
    return sent


class Clock:
    """``timezone.now`` under the test's control."""

    def __init__(self, monkeypatch, start: datetime) -> None:
        from django.utils import timezone

        self.now = start
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def move_to(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock(monkeypatch):
    """A moved clock, starting 2027-03-01 12:00 UTC."""
    return Clock(monkeypatch, datetime(2027, 3, 1, 12, tzinfo=UTC))


@pytest.fixture
def sends(monkeypatch):
    """What journeys' send steps handed to campaigns.sending (its own tests cover the sending)."""
    calls = []

    def record(**kwargs):
        calls.append(kwargs)

    monkeypatch.setattr("campaigns.sending.message_enqueue", record)
    return calls

from __future__ import annotations

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

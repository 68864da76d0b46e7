"""Helpers for tests that need sending domains: a domain verified through a real check against a
FakeResolver publishing its records, rows for tests/test_rls.py, and tests/test_isolation.py's
object-route kwargs with their "still unchanged" checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from delivery.models import SendingDomain, SendingDomainStatus
from delivery.sending_domains import dkim_host, sending_domain_add, sending_domain_check
from delivery.testing import FakeResolver, use_resolver
from tenants.context import tenant_context
from tenants.roles import Role

GOOD_DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com"


def good_spf() -> str:
    return f"v=spf1 include:_spf.google.com {settings.DELIVERY_SPF_INCLUDE} -all"


def published_resolver(
    sending_domain: SendingDomain,
    *,
    dkim: list[str] | None = None,
    spf: list[str] | None = None,
    dmarc: list[str] | None = None,
) -> FakeResolver:
    """A resolver on which the domain publishes the records Sealpost asks for (or, per record,
    what the test says instead; [] for nothing)."""
    domain = sending_domain.domain
    tables: dict[str, list[str]] = {
        dkim_host(sending_domain): [sending_domain.dkim_public_txt] if dkim is None else dkim,
        domain: ["google-site-verification=abc", good_spf()] if spf is None else spf,
        f"_dmarc.{domain}": [GOOD_DMARC] if dmarc is None else dmarc,
    }
    return FakeResolver(txt_records={name: (records, False) for name, records in tables.items() if records})


def make_sending_domain(fixture: Any, domain: str) -> SendingDomain:
    with tenant_context(fixture.tenant):
        return sending_domain_add(tenant=fixture.tenant, actor=fixture.users[Role.ADMIN], domain=domain)


def make_verified_sending_domain(fixture: Any, domain: str) -> SendingDomain:
    """``domain`` added for the fixture's tenant and verified by a check (DNS answered by a fake)."""
    sending_domain = make_sending_domain(fixture, domain)
    with tenant_context(fixture.tenant), use_resolver(published_resolver(sending_domain)):
        checked = sending_domain_check(
            tenant=fixture.tenant, actor=fixture.users[Role.ADMIN], sending_domain=sending_domain
        )
    assert checked.status == SendingDomainStatus.VERIFIED, checked.dkim_explanation
    return checked


def sending_domain_rows(fixture: Any) -> None:
    """One sending domain in the tenant (tests/test_rls.py); call inside its tenant_context."""
    sending_domain_add(
        tenant=fixture.tenant, actor=fixture.users[Role.ADMIN], domain=f"{fixture.tenant.slug}.example.org"
    )


# --- tests/test_isolation.py ----------------------------------------------------------------------


def sending_domain_kwargs(world: Any) -> dict[str, Any]:
    return {"domain_id": make_sending_domain(world.a, f"isolation-{world.a.tenant.slug}.example.org").pk}


def sending_domain_unchanged(world: Any, kwargs: dict[str, Any]) -> bool:
    """Still there, never checked, still pending."""
    with tenant_context(world.a.tenant):
        row = SendingDomain.objects.for_tenant(world.a.tenant).filter(pk=kwargs["domain_id"]).first()
    return row is not None and row.status == SendingDomainStatus.PENDING and row.last_checked_at is None

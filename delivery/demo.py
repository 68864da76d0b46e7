"""Demo sending domain for ``seed_demo``: each demo organisation sends From ``<slug>.example.com``,
verified *for the local demo only* (the embedded default has no DNS to check), so a demo campaign
can launch. Refused in production, and never honoured there. Idempotent."""

from __future__ import annotations

from authn.models import User
from delivery.models import SendingDomain
from delivery.sending_domains import sending_domain_add, sending_domain_verify_for_demo
from tenants.models import Organisation


def demo_sending_domain(slug: str) -> str:
    """The From domain of a demo organisation's campaigns (example.com: reserved, never real mail)."""
    return f"{slug}.example.com"


def seed_demo_sending_domain(*, tenant: Organisation, slug: str, admin: User) -> bool:
    """Inside ``tenant_context(tenant)``. Returns whether anything was created or marked."""
    domain = demo_sending_domain(slug)
    sending_domain = SendingDomain.objects.for_tenant(tenant).filter(domain=domain).first()
    if sending_domain is not None and sending_domain.verified_for_demo:
        return False
    if sending_domain is None:
        sending_domain = sending_domain_add(tenant=tenant, actor=admin, domain=domain)
    sending_domain_verify_for_demo(tenant=tenant, sending_domain=sending_domain)
    return True

"""Delivery demo data for ``seed_demo``.

* Each demo organisation sends From ``<slug>.example.com``, verified *for the local demo only*
  (the embedded default has no DNS to check), so a demo campaign can launch. Refused in
  production, and never honoured there.
* The demo contacts live at two synthetic recipient domains (``delivery.demo_tls``):
  ``verified.example.test``, whose MX (the sink's STARTTLS listener) offers verified TLS, and
  ``plain.example.test``, whose MX offers no STARTTLS. Both are on each organisation's Recipient
  domains page from the start.
* In the organisation that has a marketer and a compliance officer: an approved template that
  carries PHI and a campaign to every demo patient, approved by the compliance officer, so the
  marketer can launch it. Its messages to the first domain arrive over verified TLS (dev
  mailbox); those to the second go to escrow, and only the PHI-free notice reaches its MX.

Everything is idempotent.
"""

from __future__ import annotations

from authn.models import User
from campaigns.models import Campaign
from campaigns.services import CampaignInput, campaign_approve, campaign_create
from delivery.demo_tls import DEMO_PLAIN_DOMAIN, DEMO_RECIPIENT_DOMAINS, DEMO_VERIFIED_DOMAIN
from delivery.models import SendingDomain
from delivery.posture import recipient_domain_touch
from delivery.sending_domains import sending_domain_add, sending_domain_verify_for_demo
from segments.models import Segment
from segments.segment_services import segment_create
from templates.models import EmailTemplate
from templates.services import ContentInput, template_create, version_approve, version_submit
from tenants.models import Organisation

DEMO_TEMPLATE_NAME = "Lab results ready (demo)"
DEMO_SEGMENT_NAME = "All demo patients"
DEMO_CAMPAIGN_NAME = "Lab results ready (demo)"
DEMO_PURPOSE = "care"
# PHI: a patient's name with health context (a lab result from a named clinic).
DEMO_SUBJECT = "Your results from {{ org.name }}"
DEMO_HTML = (
    "<p>Hello {{ contact.first_name }} {{ contact.last_name }},</p>"
    "<p>your lab results from the cardiology clinic are ready. Please book a call with your doctor "
    "to go through them.</p>"
    '<p><a href="{{ links.preferences }}">Email preferences</a> · '
    '<a href="{{ links.unsubscribe }}">Unsubscribe</a></p>'
)


def demo_sending_domain(slug: str) -> str:
    """The From domain of a demo organisation's campaigns (example.com: reserved, never real mail)."""
    return f"{slug}.example.com"


def demo_contact_email(number: int) -> str:
    """Demo patient ``number``'s address: odd numbers at the verified-TLS domain, even at the
    plaintext one, so any slice of the demo audience has both."""
    domain = DEMO_VERIFIED_DOMAIN if number % 2 else DEMO_PLAIN_DOMAIN
    return f"patient{number:04d}@{domain}"


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


def seed_demo_recipient_domains(*, tenant: Organisation) -> None:
    """Inside ``tenant_context(tenant)``: both demo domains on the Recipient domains page (their
    posture appears once probed: the embedded runner queues the probes when the sink is up)."""
    for domain in DEMO_RECIPIENT_DOMAINS:
        recipient_domain_touch(tenant=tenant, domain=domain)


def seed_demo_campaign(*, tenant: Organisation, slug: str, marketer: User, compliance: User) -> Campaign | None:
    """Inside ``tenant_context(tenant)``: the approved PHI template, a segment of every demo
    patient and a draft campaign the compliance officer approved, ready for the marketer to
    launch. Returns the campaign, or None when the template was already there."""
    from audit.services import actor_for_user

    if EmailTemplate.objects.for_tenant(tenant).filter(name=DEMO_TEMPLATE_NAME).exists():
        return None
    version = template_create(
        tenant=tenant,
        user=marketer,
        name=DEMO_TEMPLATE_NAME,
        purpose=DEMO_PURPOSE,
        description="Demo: carries PHI, so it goes only over verified TLS.",
        contents=[ContentInput(language="en", subject=DEMO_SUBJECT, html_body=DEMO_HTML)],
    )
    version = version_submit(tenant=tenant, user=marketer, version=version)
    version_approve(tenant=tenant, user=compliance, version=version)
    segment = Segment.objects.for_tenant(tenant).filter(name=DEMO_SEGMENT_NAME).first()
    if segment is None:
        segment = segment_create(
            tenant=tenant,
            actor=actor_for_user(marketer),
            created_by=marketer,
            name=DEMO_SEGMENT_NAME,
            rules={"all": []},
            description=f"Every demo patient ({DEMO_VERIFIED_DOMAIN} and {DEMO_PLAIN_DOMAIN}).",
        )
    campaign = campaign_create(
        tenant=tenant,
        user=marketer,
        data=CampaignInput(
            name=DEMO_CAMPAIGN_NAME,
            template_id=version.template_id,
            segment_id=segment.pk,
            from_name="Demo clinic",
            from_address=f"results@{demo_sending_domain(slug)}",
        ),
    )
    return campaign_approve(tenant=tenant, user=compliance, campaign=campaign)

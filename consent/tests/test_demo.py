"""The demo data gives the consent pages something to show, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent, ContactConsent, MarketingAuthorisation, Suppression
from consent.selectors import expiring_authorisations, sendable_contacts
from segments.models import Contact
from tenants.context import tenant_context
from tenants.models import Organisation

pytestmark = pytest.mark.django_db


def test_seed_demo_seeds_consent_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo")
    tenant = Organisation.objects.get(slug="sunrise-demo")
    with tenant_context(tenant):
        counts = (ContactConsent.objects.count(), ConsentEvent.objects.count(), MarketingAuthorisation.objects.count())
        assert all(counts)
        assert Suppression.objects.exists()
        assert expiring_authorisations(tenant=tenant, within_days=30).exists()
        marketable = sendable_contacts(tenant=tenant, purpose="marketing", contacts=Contact.objects.all()).count()
        assert 0 < marketable < Contact.objects.count()
    call_command("seed_demo")
    with tenant_context(tenant):
        again = (ContactConsent.objects.count(), ConsentEvent.objects.count(), MarketingAuthorisation.objects.count())
    assert again == counts

"""The contact page summarises consent per purpose and says when the address is suppressed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consent.models import ConsentSource, ConsentStatus, SuppressionReason
from consent.services import consent_set, suppression_add
from consent.tests.support import STAFF
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def test_contact_page_shows_consent_per_purpose_and_suppression(world, login):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    with tenant_context(tenant):
        consent_set(
            tenant=tenant,
            actor=STAFF,
            contact=contact,
            purpose="billing",
            status=ConsentStatus.GRANTED,
            source=ConsentSource.STAFF,
        )
    client = login(world.a.users[Role.MARKETER], tenant)
    url = reverse("segments:contact_detail", args=[contact.pk])
    page = client.get(url).content.decode()
    section = page[page.index('id="consent-heading"') :]
    assert "Billing and payment" in section and "Granted" in section
    assert "Appointment reminders" in section and "Never asked" in section
    assert "suppression list" not in section
    with tenant_context(tenant):
        suppression_add(tenant=tenant, actor=STAFF, email=contact.email, reason=SuppressionReason.HARD_BOUNCE)
    assert "on the suppression list" in client.get(url).content.decode()

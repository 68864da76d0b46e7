"""Segment conditions on consent status (``consent.<purpose>``): validated against the
organisation's purposes, compiled to one query that agrees with the Python reference."""

from __future__ import annotations

from datetime import date

import pytest

from consent.models import ConsentSource, ConsentStatus
from consent.services import consent_set, purpose_create
from consent.tests.support import STAFF
from segments.attributes import dictionary_for
from segments.models import ContactSearch
from segments.rules import compile_rules, evaluate_rules, purpose_keys, segment_count, validate_rules
from segments.segment_services import segment_fields
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 29)


def _consent(tenant, contact, purpose, status):
    with tenant_context(tenant):
        consent_set(
            tenant=tenant, actor=STAFF, contact=contact, purpose=purpose, status=status, source=ConsentSource.STAFF
        )


@pytest.fixture
def audience(world):
    tenant = world.a.tenant
    granted, revoked, pending, never = (make_contact(tenant) for _ in range(4))
    _consent(tenant, granted, "marketing", ConsentStatus.GRANTED)
    _consent(tenant, revoked, "marketing", ConsentStatus.GRANTED)
    _consent(tenant, revoked, "marketing", ConsentStatus.REVOKED)
    _consent(tenant, pending, "marketing", ConsentStatus.PENDING)
    _consent(tenant, never, "billing", ConsentStatus.GRANTED)
    return {"granted": granted, "revoked": revoked, "pending": pending, "never": never}


RULES = [
    ({"all": [{"field": "consent.marketing", "op": "eq", "value": "granted"}]}, {"granted"}),
    ({"all": [{"field": "consent.marketing", "op": "neq", "value": "granted"}]}, {"revoked", "pending", "never"}),
    ({"all": [{"field": "consent.marketing", "op": "eq", "value": "never_asked"}]}, {"never"}),
    ({"all": [{"field": "consent.marketing", "op": "in", "value": ["pending", "never_asked"]}]}, {"pending", "never"}),
    (
        {"all": [{"field": "consent.marketing", "op": "not_in", "value": ["revoked", "never_asked"]}]},
        {"granted", "pending"},
    ),
    ({"none": [{"field": "consent.billing", "op": "eq", "value": "granted"}]}, {"granted", "revoked", "pending"}),
]


@pytest.mark.parametrize(("rules", "expected"), RULES)
def test_consent_conditions_compile_like_the_reference(world, audience, rules, expected):
    tenant = world.a.tenant
    names = {contact.pk: name for name, contact in audience.items()}
    with tenant_context(tenant):
        purposes = purpose_keys(tenant=tenant)
        dictionary = dictionary_for(tenant=tenant)
        condition = compile_rules(tenant=tenant, rules=rules, dictionary=dictionary, today=TODAY, purposes=purposes)
        compiled = {names[pk] for pk in ContactSearch.objects.filter(condition).values_list("id", flat=True)}
        reference = {
            name
            for name, contact in audience.items()
            if evaluate_rules(contact=contact, rules=rules, dictionary=dictionary, today=TODAY, purposes=purposes)
        }
    assert compiled == reference == expected


def test_consent_conditions_name_unknown_purposes_and_statuses(world):
    tenant = world.a.tenant
    with tenant_context(tenant):
        purposes = purpose_keys(tenant=tenant)
    rules = {
        "all": [
            {"field": "consent.no_such_purpose", "op": "eq", "value": "granted"},
            {"field": "consent.marketing", "op": "eq", "value": "yes please"},
            {"field": "consent.marketing", "op": "gt", "value": "granted"},
        ]
    }
    errors = {error.path: error.message for error in validate_rules(rules, {}, purposes)}
    assert "Not a consent purpose" in errors["rules.all[0].field"]
    assert "consent status" in errors["rules.all[1].value"]
    assert "Not an operator" in errors["rules.all[2].op"]


def test_own_purposes_are_segment_fields_and_count(world):
    tenant = world.a.tenant
    contact = make_contact(tenant)
    with tenant_context(tenant):
        purpose_create(tenant=tenant, actor=STAFF, key="flu_clinics", name="Flu clinics", is_marketing=True)
        fields = {field["field"]: field for field in segment_fields(tenant=tenant)}
    assert fields["consent.flu_clinics"]["kind"] == "consent"
    assert fields["consent.flu_clinics"]["choices"] == list(ConsentStatus.values)
    _consent(tenant, contact, "flu_clinics", ConsentStatus.GRANTED)
    rules = {"all": [{"field": "consent.flu_clinics", "op": "eq", "value": "granted"}]}
    with tenant_context(tenant):
        assert segment_count(tenant=tenant, rules=rules) == 1
    with tenant_context(world.b.tenant):
        assert validate_rules(rules, {}, purpose_keys(tenant=world.b.tenant))

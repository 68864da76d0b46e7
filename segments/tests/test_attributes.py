"""The data dictionary types attribute values; PHI values are encrypted and leave only keyed
search terms, in no readable form in the database."""

from __future__ import annotations

import pytest
from django.db import connection

from segments.attributes import (
    AttributeValueError,
    coerce_value,
    contact_attribute_values,
    contact_attributes_apply,
    dictionary_for,
    normalise_tags,
)
from segments.models import AttributeDefinition, AttributeType, Contact, ContactIndex
from segments.search_index import TermMaker, attribute_term
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def _define(tenant, key, kind, *, phi=False, choices=()):
    with tenant_context(tenant):
        return AttributeDefinition.objects.create(
            tenant=tenant, key=key, label=key, type=kind, is_phi=phi, choices=list(choices)
        )


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (AttributeType.TEXT, "  Cardiology ", "Cardiology"),
        (AttributeType.NUMBER, "1,250", 1250),
        (AttributeType.NUMBER, "2.5", 2.5),
        (AttributeType.DATE, "2027-01-31", "2027-01-31"),
        (AttributeType.DATE, "2027-01-31T09:30:00", "2027-01-31"),
        (AttributeType.BOOLEAN, "Yes", True),
        (AttributeType.BOOLEAN, "0", False),
        (AttributeType.CHOICE, "gold", "Gold"),
        (AttributeType.TEXT, "   ", None),
    ],
)
def test_values_are_coerced_to_their_type(world, kind, raw, expected):
    definition = AttributeDefinition(key="k", type=kind, choices=["Gold", "Silver"])
    assert coerce_value(definition, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (AttributeType.NUMBER, "twelve"),
        (AttributeType.NUMBER, "NaN"),
        (AttributeType.DATE, "31/01/2027"),
        (AttributeType.BOOLEAN, "maybe"),
        (AttributeType.CHOICE, "Bronze"),
        (AttributeType.TEXT, "x" * 1001),
    ],
)
def test_bad_values_are_refused_without_quoting_them(kind, raw):
    definition = AttributeDefinition(key="k", type=kind, choices=["Gold"])
    with pytest.raises(AttributeValueError) as error:
        coerce_value(definition, raw)
    assert raw not in str(error.value) or len(raw) < 3


def test_tags_are_normalised_to_a_set():
    assert normalise_tags("Diabetes; flu-2027, diabetes") == {"diabetes": True, "flu-2027": True}
    with pytest.raises(AttributeValueError):
        normalise_tags(["<script>"])


def test_phi_attributes_are_encrypted_and_leave_only_tokens(world):
    tenant = world.a.tenant
    _define(tenant, "next_visit", AttributeType.DATE, phi=True)
    _define(tenant, "plan", AttributeType.CHOICE, choices=["Gold", "Silver"])
    contact = make_contact(tenant)
    with tenant_context(tenant):
        dictionary = dictionary_for(tenant=tenant)
        contact_attributes_apply(
            contact=contact, values={"next_visit": "2027-03-14", "plan": "gold"}, dictionary=dictionary
        )
        contact.save()
        stored = Contact.objects.for_tenant(tenant).get(pk=contact.pk)
        assert stored.attributes == {"plan": "Gold"}
        assert contact_attribute_values(stored) == {"plan": "Gold", "next_visit": "2027-03-14"}
        terms = ContactIndex.objects.for_tenant(tenant).get(contact=contact).terms
        maker = TermMaker(tenant)
        assert attribute_term(maker, "next_visit", "eq", "2027-03-14") in terms
        assert attribute_term(maker, "next_visit", "month", "03") in terms
        assert attribute_term(maker, "plan", "eq", "gold") in terms
        with connection.cursor() as cursor:
            cursor.execute("SELECT phi_attributes::text FROM segments_contact WHERE id = %s", [contact.pk])
            (raw_values,) = cursor.fetchone()
            cursor.execute(
                "SELECT terms::text, attributes::text FROM segments_contact_index WHERE contact_id = %s", [contact.pk]
            )
            raw_terms, raw_attributes = cursor.fetchone()
    assert "2027-03-14" not in raw_values
    # The terms are keyed hashes: every one is a bare integer, so no value can hide in them.
    # (A substring check would be flaky: a random 64-bit integer may contain "2027".)
    assert all(term.lstrip("-").isdigit() for term in raw_terms.strip("{}").split(","))
    assert "next_visit" not in raw_attributes and "2027" not in raw_attributes  # the index copies non-PHI only
    assert raw_attributes == '{"plan": "Gold"}'


def test_unsetting_a_phi_value_removes_its_terms(world):
    tenant = world.a.tenant
    _define(tenant, "mrn_note", AttributeType.TEXT, phi=True)
    contact = make_contact(tenant)
    with tenant_context(tenant):
        dictionary = dictionary_for(tenant=tenant)
        present = attribute_term(TermMaker(tenant), "mrn_note", "set", "1")
        contact_attributes_apply(contact=contact, values={"mrn_note": "synthetic"}, dictionary=dictionary)
        contact.save()
        assert present in ContactIndex.objects.for_tenant(tenant).get(contact=contact).terms
        contact_attributes_apply(contact=contact, values={"mrn_note": ""}, dictionary=dictionary)
        contact.save()
        assert contact.phi_attributes is None
        assert present not in ContactIndex.objects.for_tenant(tenant).get(contact=contact).terms


def test_every_saved_contact_has_an_index_row_and_deleting_removes_it(world):
    tenant = world.a.tenant
    contact = make_contact(tenant, tags={"vip": True}, language="pt-BR")
    with tenant_context(tenant):
        maker = TermMaker(tenant)
        row = ContactIndex.objects.for_tenant(tenant).get(contact=contact)
        from segments.search_index import code_term, tag_term

        assert tag_term(maker, "vip") in row.terms and code_term(maker, "language", "pt-br") in row.terms
        Contact.objects.for_tenant(tenant).filter(pk=contact.pk).delete()
        assert not ContactIndex.objects.for_tenant(tenant).filter(contact_id=contact.pk).exists()


def test_unknown_attributes_are_refused(world):
    contact = make_contact(world.a.tenant)
    with tenant_context(world.a.tenant), pytest.raises(AttributeValueError, match="not in the data dictionary"):
        contact_attributes_apply(contact=contact, values={"nope": "1"}, dictionary={})


def test_the_reindex_command_rebuilds_a_lost_index(world):
    from io import StringIO

    from django.core.management import call_command

    tenant = world.a.tenant
    contact = make_contact(tenant, tags={"rebuilt": True})
    with tenant_context(tenant):
        expected = ContactIndex.objects.for_tenant(tenant).get(contact=contact).terms
        ContactIndex.objects.for_tenant(tenant).all().delete()
    out = StringIO()
    call_command("segments_reindex", organisation=tenant.slug, stdout=out)
    assert f"{tenant.slug}: 1 contact(s) indexed." in out.getvalue()
    with tenant_context(tenant):
        assert ContactIndex.objects.for_tenant(tenant).get(contact=contact).terms == expected

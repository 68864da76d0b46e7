from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.http import Http404

from segments.models import Contact
from tenants.models import Organisation


def contact_list(*, tenant: Organisation, search: str = "") -> QuerySet[Contact]:
    contacts = Contact.objects.for_tenant(tenant)
    search = search.strip()
    if search:
        contacts = contacts.filter(
            Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(external_id=search)
        )
    return contacts.order_by("last_name", "first_name", "id")


def contact_get(*, tenant: Organisation, contact_id: uuid.UUID) -> Contact:
    """404 both when the contact does not exist and when it belongs to another tenant."""
    contact = Contact.objects.for_tenant(tenant).filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


def contact_count(*, tenant: Organisation) -> int:
    return Contact.objects.for_tenant(tenant).count()

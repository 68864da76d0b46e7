from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.http import Http404

from encryption.fields import blind_index_for
from segments.models import Contact
from tenants.models import Organisation


def contact_list(*, tenant: Organisation, search: str = "") -> QuerySet[Contact]:
    """Newest first. Identifying fields are encrypted, so search is an exact match on email
    address or external id, through their blind indexes."""
    contacts = Contact.objects.for_tenant(tenant)
    search = search.strip()
    if search:
        contacts = contacts.filter(
            Q(email_index=blind_index_for(Contact, "email_index", tenant, search))
            | Q(external_id_index=blind_index_for(Contact, "external_id_index", tenant, search))
        )
    return contacts.order_by("-id")


def contact_get(*, tenant: Organisation, contact_id: uuid.UUID) -> Contact:
    """404 both when the contact does not exist and when it belongs to another tenant."""
    contact = Contact.objects.for_tenant(tenant).filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


def contact_count(*, tenant: Organisation) -> int:
    return Contact.objects.for_tenant(tenant).count()

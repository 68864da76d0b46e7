from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import Http404

from encryption.fields import blind_index_for
from segments.models import Contact
from tenants.models import Organisation


@dataclass(frozen=True)
class ContactSearch:
    """An exact-match search on email address or external id, as the blind indexes of the
    searched text: what a session may keep, and a URL never carries, instead of the text."""

    email_index: str
    external_id_index: str

    def as_session_value(self) -> list[str]:
        return [self.email_index, self.external_id_index]

    @classmethod
    def from_session_value(cls, value: object) -> ContactSearch | None:
        if isinstance(value, list) and len(value) == 2 and all(isinstance(item, str) for item in value):
            return cls(value[0], value[1])
        return None


def contact_search_for(*, tenant: Organisation, text: str) -> ContactSearch | None:
    """None for empty text (no search)."""
    text = text.strip()
    if not text:
        return None
    return ContactSearch(
        email_index=blind_index_for(Contact, "email_index", tenant, text),
        external_id_index=blind_index_for(Contact, "external_id_index", tenant, text),
    )


def contact_list(*, tenant: Organisation, search: ContactSearch | None = None) -> QuerySet[Contact]:
    """Newest first. Identifying fields are encrypted, so search is an exact match on email
    address or external id, through their blind indexes."""
    contacts = Contact.objects.for_tenant(tenant)
    if search is not None:
        contacts = contacts.filter(Q(email_index=search.email_index) | Q(external_id_index=search.external_id_index))
    return contacts.order_by("-id")


def contact_get(*, tenant: Organisation, contact_id: uuid.UUID) -> Contact:
    """404 both when the contact does not exist and when it belongs to another tenant."""
    contact = Contact.objects.for_tenant(tenant).filter(pk=contact_id).first()
    if contact is None:
        raise Http404("No such contact.")
    return contact


def contact_count(*, tenant: Organisation) -> int:
    return Contact.objects.for_tenant(tenant).count()

"""Writing contacts one at a time (the API, and later the web form), filtering the contact list,
and auditing a reveal of a contact's PHI attributes.

Errors are ``ContactInputError`` naming the field; their messages never quote the value, which
may be PHI. Audit details hold the contact id and the NAMES of the fields that changed.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import Actor, Target, record
from encryption.fields import blind_index_for
from segments.attributes import (
    AttributeValueError,
    contact_attribute_values,
    contact_attributes_apply,
    dictionary_for,
    normalise_tags,
)
from segments.models import Contact
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

NAME_MAX_LENGTH = 200
EXTERNAL_ID_MAX_LENGTH = 128
LANGUAGE_MAX_LENGTH = 16
SIMPLE_FIELDS = ("first_name", "last_name", "language", "time_zone")
MATCH_KEYS = ("external_id", "email")


class ContactInputError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def normalise_email(raw: Any) -> str:
    """Trimmed, domain lower-cased, syntax checked (the local part keeps its case: RFC 5321)."""
    text = str(raw or "").strip()
    local, at, domain = text.rpartition("@")
    email = f"{local}@{domain.lower()}" if at else text
    if not is_valid_email(email):
        raise ContactInputError({"email": "Enter a valid email address."})
    return email


_EMAIL_USER = re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags)


@functools.lru_cache(maxsize=4096)
def _valid_email_domain(domain: str) -> bool:
    return domain in validate_email.domain_allowlist or bool(validate_email.validate_domain_part(domain))


def is_valid_email(value: str) -> bool:
    """Exactly Django's ``validate_email``, with each domain's verdict remembered: an import of a
    million addresses has a handful of domains, and the domain check is most of the cost."""
    if not value or "@" not in value or len(value) > 320:
        return False
    user, domain = value.rsplit("@", 1)
    return bool(_EMAIL_USER.match(user)) and _valid_email_domain(domain)


def _clean(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The cleaned contact fields in ``data``; every bad field is reported at once."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if "email" in data or creating:
        try:
            cleaned["email"] = normalise_email(data.get("email"))
        except ContactInputError as error:
            errors.update(error.errors)
    for name in ("first_name", "last_name"):
        if name in data:
            value = str(data[name] or "").strip()
            if len(value) > NAME_MAX_LENGTH:
                errors[name] = f"At most {NAME_MAX_LENGTH} characters."
            cleaned[name] = value
    if "external_id" in data:
        value = str(data["external_id"] or "").strip()
        if len(value) > EXTERNAL_ID_MAX_LENGTH:
            errors["external_id"] = f"At most {EXTERNAL_ID_MAX_LENGTH} characters."
        cleaned["external_id"] = value
    if "language" in data:
        value = str(data["language"] or "").strip()
        if not value or len(value) > LANGUAGE_MAX_LENGTH or not value.replace("-", "").replace("_", "").isalnum():
            errors["language"] = "Use a language tag such as en or pt-BR."
        cleaned["language"] = value
    if "time_zone" in data:
        value = str(data["time_zone"] or "").strip()
        if value not in zoneinfo.available_timezones():
            errors["time_zone"] = "Use an IANA time zone such as Europe/Lisbon."
        cleaned["time_zone"] = value
    if "tracking_opt_out" in data:
        if not isinstance(data["tracking_opt_out"], bool):
            errors["tracking_opt_out"] = "Give true or false."
        cleaned["tracking_opt_out"] = data["tracking_opt_out"] is True
    if "tags" in data:
        try:
            cleaned["tags"] = normalise_tags(data["tags"] or [])
        except AttributeValueError as error:
            errors["tags"] = str(error)
    if "attributes" in data:
        if not isinstance(data["attributes"], dict):
            errors["attributes"] = "Give attributes as an object of key: value."
        else:
            cleaned["attributes"] = data["attributes"]
    if errors:
        raise ContactInputError(errors)
    return cleaned


def _apply(contact: Contact, cleaned: dict[str, Any]) -> list[str]:
    """Sets the cleaned fields on ``contact`` in memory; returns the names of those that changed
    (attribute changes as ``attributes.<key>``)."""
    changed: list[str] = []
    for name in ("email", "first_name", "last_name", "external_id", *SIMPLE_FIELDS[2:], "tags", "tracking_opt_out"):
        if name in cleaned and getattr(contact, name) != cleaned[name]:
            setattr(contact, name, cleaned[name])
            changed.append(name)
    if "attributes" in cleaned:
        dictionary = dictionary_for(tenant=contact.tenant)
        before = contact_attribute_values(contact) if contact.pk is not None else {}
        try:
            contact_attributes_apply(contact=contact, values=cleaned["attributes"], dictionary=dictionary)
        except AttributeValueError as error:
            key = str(error).split(":", 1)[0]
            raise ContactInputError({f"attributes.{key}": str(error).split(": ", 1)[-1]}) from error
        after = contact_attribute_values(contact)
        changed += [
            f"attributes.{key}" for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)
        ]
    return changed


def _duplicate_email(tenant: Organisation, email: str, exclude: Any = None) -> bool:
    contacts = Contact.objects.for_tenant(tenant).filter(
        email_index=blind_index_for(Contact, "email_index", tenant, email)
    )
    if exclude is not None:
        contacts = contacts.exclude(pk=exclude)
    return contacts.exists()


def contact_create(*, tenant: Organisation, actor: Actor, data: dict[str, Any]) -> Contact:
    require_tenant_is_current(tenant)
    cleaned = _clean(data, creating=True)
    contact = Contact(tenant=tenant)
    with transaction.atomic():
        if _duplicate_email(tenant, cleaned["email"]):
            raise ContactInputError({"email": "A contact with this email address already exists."})
        changed = _apply(contact, cleaned)
        contact.last_activity_at = timezone.now()
        try:
            with transaction.atomic():
                contact.save()
        except IntegrityError as error:  # a concurrent create with the same email
            raise ContactInputError({"email": "A contact with this email address already exists."}) from error
        record(
            tenant=tenant,
            action="contact.created",
            actor=actor,
            target=Target.of(contact),
            details={"fields": sorted(changed)},
        )
    return contact


def contact_update(*, tenant: Organisation, actor: Actor, contact: Contact, data: dict[str, Any]) -> Contact:
    require_tenant_is_current(tenant)
    cleaned = _clean(data, creating=False)
    with transaction.atomic():
        contact = Contact.objects.for_tenant(tenant).select_for_update().get(pk=contact.pk)
        if "email" in cleaned and _duplicate_email(tenant, cleaned["email"], exclude=contact.pk):
            raise ContactInputError({"email": "Another contact has this email address."})
        changed = _apply(contact, cleaned)
        if changed:
            contact.last_activity_at = timezone.now()
            contact.save()
            record(
                tenant=tenant,
                action="contact.updated",
                actor=actor,
                target=Target.of(contact),
                details={"fields": sorted(changed)},
            )
    return contact


@dataclass(frozen=True)
class UpsertResult:
    contact: Contact
    created: bool


def contact_upsert(*, tenant: Organisation, actor: Actor, match_on: str, data: dict[str, Any]) -> UpsertResult:
    """Updates the contact whose external id (or email) matches ``data``'s, or creates one. The
    match key travels in the body, never in a URL: both are PHI."""
    require_tenant_is_current(tenant)
    if match_on not in MATCH_KEYS:
        raise ContactInputError({"match_on": "Use external_id or email."})
    raw = str(data.get(match_on) or "").strip()
    if not raw:
        raise ContactInputError({match_on: "Required to match a contact."})
    value = normalise_email(raw) if match_on == "email" else raw
    index_field = "email_index" if match_on == "email" else "external_id_index"
    with transaction.atomic():
        matches = list(
            Contact.objects.for_tenant(tenant)
            .filter(**{index_field: blind_index_for(Contact, index_field, tenant, value)})
            .order_by("pk")[:2]
        )
        if len(matches) > 1:
            raise ContactInputError({match_on: "More than one contact matches; update them by id."})
        if matches:
            return UpsertResult(contact_update(tenant=tenant, actor=actor, contact=matches[0], data=data), False)
        return UpsertResult(contact_create(tenant=tenant, actor=actor, data=data), True)


# --- Reads --------------------------------------------------------------------------------------


def contact_filter(contacts: QuerySet[Contact], *, tag: str = "", language: str = "") -> QuerySet[Contact]:
    """The list's filters: a tag (key test on the tags JSON, GIN-indexable) and a language."""
    tag = tag.strip().casefold()
    if tag:
        contacts = contacts.filter(tags__has_key=tag)
    language = language.strip()
    if language:
        contacts = contacts.filter(language=language)
    return contacts


def contact_phi_reveal_record(*, tenant: Organisation, actor: Actor, contact: Contact, fields: Sequence[str]) -> None:
    """PHI attribute values were shown in full (after a step-up): which keys, never the values."""
    require_tenant_is_current(tenant)
    record(
        tenant=tenant,
        action="contact.phi_viewed",
        actor=actor,
        target=Target.of(contact),
        details={"fields": sorted(fields)},
    )

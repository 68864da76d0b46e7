"""The segment search index: one narrow row per contact (``ContactIndex``) holding its search
terms and a copy of its non-PHI attributes, written in the same transaction as the contact.

A term is the first 64 bits of HMAC-SHA256, under the tenant's index key, of a namespace and a
normalised value (``tag|vip``, ``language|en``, ``attr.plan.eq|gold``, ``attr.next_visit.month|03``).
The same value gives different terms in different tenants, and a term reveals nothing without
the key, so PHI and non-PHI attributes are indexed alike. Sixty-four bits are enough: with a
million contacts of twenty terms each, the chance that a rule's term collides with any other
stored term is about one in 10^12.

Segment counts are answered from the GIN index on ``terms`` (docs/segments.md, "How rules are
answered"), which is why the terms live here and not on the wide, encrypted contact row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from encryption.blind_index import normalise
from encryption.keyring import index_key
from segments.models import Contact, ContactIndex
from tenants.models import Organisation

MEMO_LIMIT = 100_000  # memoised terms per TermMaker; most values repeat (dates, choices, tags)
REBUILD_BATCH = 1000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class TermMaker:
    """The terms of one tenant, memoised: an import computes the same few thousand (a day, a
    plan, a language) again and again. Holds the tenant's index key; keep it short-lived."""

    def __init__(self, tenant: Organisation) -> None:
        self.tenant = tenant
        self._key = index_key(tenant).material
        self._memo: dict[tuple[str, str], int] = {}

    def __call__(self, namespace: str, value: str) -> int:
        memo_key = (namespace, value)
        term = self._memo.get(memo_key)
        if term is None:
            message = f"segments.term|{namespace}|{normalise(value)}".encode()
            digest = hmac.new(self._key, message, hashlib.sha256).digest()
            term = int.from_bytes(digest[:8], "big", signed=True)
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = term
        return term


def term_text(value: Any) -> str:
    """How a value is written before hashing: the same for a stored value and a rule's value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def tag_term(maker: TermMaker, tag: str) -> int:
    return maker("tag", tag)


def code_term(maker: TermMaker, field: str, value: str) -> int:
    """``language`` or ``time_zone``."""
    return maker(field, value)


def attribute_term(maker: TermMaker, key: str, facet: str, value: str) -> int:
    """``facet`` is ``set`` (value "1"), ``eq``, ``month`` ("03") or ``monthday`` ("03-14")."""
    return maker(f"attr.{key}.{facet}", value)


def contact_terms(
    maker: TermMaker, *, tags: Iterable[str], language: str, time_zone: str, values: dict[str, Any]
) -> list[int]:
    """Every term of one contact, sorted. ``values`` holds all its attributes, PHI included."""
    terms = {tag_term(maker, tag) for tag in tags}
    terms.add(code_term(maker, "language", language))
    terms.add(code_term(maker, "time_zone", time_zone))
    for key, value in values.items():
        if value is None:
            continue
        text = term_text(value)
        terms.add(attribute_term(maker, key, "set", "1"))
        terms.add(attribute_term(maker, key, "eq", text))
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            terms.add(attribute_term(maker, key, "month", value[5:7]))
            terms.add(attribute_term(maker, key, "monthday", value[5:10]))
    return sorted(terms)


@dataclass(frozen=True)
class IndexRow:
    contact_id: Any
    terms: list[int]
    attributes: dict[str, Any]


def index_row(
    maker: TermMaker,
    *,
    contact_id: Any,
    tags: Iterable[str],
    language: str,
    time_zone: str,
    attributes: dict[str, Any],
    phi_attributes: dict[str, Any],
) -> IndexRow:
    terms = contact_terms(
        maker, tags=tags, language=language, time_zone=time_zone, values={**attributes, **phi_attributes}
    )
    return IndexRow(contact_id=contact_id, terms=terms, attributes=attributes)


def contact_index_write(*, tenant: Organisation, rows: list[IndexRow]) -> None:
    """Inserts or replaces the rows (the tenant must be the current one)."""
    if not rows:
        return
    ContactIndex.objects.for_tenant(tenant).bulk_create(
        [
            ContactIndex(tenant=tenant, contact_id=row.contact_id, terms=row.terms, attributes=row.attributes)
            for row in rows
        ],
        update_conflicts=True,
        unique_fields=["contact"],
        update_fields=["terms", "attributes"],
    )


def _phi_of(contact: Contact) -> dict[str, Any]:
    text = contact.phi_attributes
    if text is not None and not isinstance(text, str):
        raise TypeError("The contact's PHI attributes are not readable here; index it from its values.")
    return json.loads(text) if text else {}


def contact_index_refresh(contacts: list[Contact]) -> None:
    """Recomputes the index rows of saved contacts of one tenant (decrypts their PHI attributes
    in memory to hash them; nothing decrypted is stored)."""
    if not contacts:
        return
    tenant = contacts[0].tenant
    maker = TermMaker(tenant)
    rows = []
    for contact in contacts:
        if contact.tenant_id != tenant.pk:
            raise ValueError("contact_index_refresh takes the contacts of one tenant.")
        rows.append(
            index_row(
                maker,
                contact_id=contact.pk,
                tags=(contact.tags or {}).keys(),
                language=contact.language,
                time_zone=contact.time_zone,
                attributes=dict(contact.attributes or {}),
                phi_attributes=_phi_of(contact),
            )
        )
    contact_index_write(tenant=tenant, rows=rows)


def contact_index_rebuild(*, tenant: Organisation) -> int:
    """Recomputes every contact's row of the tenant (after restoring a backup, or when the way
    terms are made changes); returns how many."""
    done = 0
    last: Any = None
    base = Contact.objects.for_tenant(tenant).order_by("pk")
    while batch := list((base.filter(pk__gt=last) if last is not None else base)[:REBUILD_BATCH]):
        contact_index_refresh(batch)
        done += len(batch)
        last = batch[-1].pk
    return done

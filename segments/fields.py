"""``TermsField``: a contact's search terms (64-bit integers, see segments.search_index) and the
two lookups segment rules compile to.

On PostgreSQL the column is ``bigint[]`` under a GIN index: ``has`` is ``@>`` and ``has_any``
is ``&&``, which the index answers without rechecking rows. On SQLite (the embedded default)
it is a JSON array searched with ``json_each``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.models import Lookup


class TermsField(models.Field):  # type: ignore[type-arg]
    description = "Search terms (64-bit integers)"

    def db_type(self, connection: Any) -> str:
        return "bigint[]" if connection.vendor == "postgresql" else "text"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        terms = [int(term) for term in value]
        return terms if connection.vendor == "postgresql" else json.dumps(terms)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> list[int] | None:
        if value is None or isinstance(value, list):
            return value
        return [int(term) for term in json.loads(value)]

    def to_python(self, value: Any) -> list[int] | None:
        if value is None or isinstance(value, list):
            return value
        return [int(term) for term in json.loads(value)]


class _TermLookup(Lookup):  # type: ignore[type-arg]
    """The right-hand side is a list of ints, used as given (never prepared by the field, which
    would turn it into JSON text on SQLite)."""

    prepare_rhs = False
    postgresql_operator = ""
    sqlite_condition = ""

    def terms(self) -> list[int]:
        return [int(term) for term in self.rhs]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        terms = self.terms()
        if connection.vendor == "postgresql":
            return f"{lhs} {self.postgresql_operator} %s::bigint[]", [*lhs_params, terms]
        placeholders = ", ".join(["%s"] * len(terms))
        return self.sqlite_condition.format(lhs=lhs, placeholders=placeholders, count=len(terms)), [
            *lhs_params,
            *terms,
        ]


@TermsField.register_lookup
class HasAllTerms(_TermLookup):
    """Every term of the list is present."""

    lookup_name = "has_all"
    postgresql_operator = "@>"
    sqlite_condition = "(SELECT count(DISTINCT value) FROM json_each({lhs}) WHERE value IN ({placeholders})) = {count}"


@TermsField.register_lookup
class HasAnyTerm(_TermLookup):
    """At least one term of the list is present."""

    lookup_name = "has_any"
    postgresql_operator = "&&"
    sqlite_condition = "EXISTS (SELECT 1 FROM json_each({lhs}) WHERE value IN ({placeholders}))"

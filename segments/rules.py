"""Segment rules: a JSON rule tree, validated into structured errors and compiled to one query.

A group is ``{"all": [...]}``, ``{"any": [...]}`` or ``{"none": [...]}`` (no child matches); a
condition is ``{"field": ..., "op": ..., "value": ...}``. Fields are ``tag``, ``language``,
``time_zone``, ``created_at``, ``last_activity_at``, ``attr.<key>`` for the tenant's data
dictionary, ``consent.<purpose>`` for a contact's consent status for a purpose (granted,
revoked, pending, never_asked) and ``engagement.opened`` / ``engagement.clicked`` for a person's
last open or click of any campaign message (``within_last_days``; "not opened" is a ``none``
group). See docs/segments.md for the operators.

- Rules run against the search index (``ContactSearch``, see ``segments.search_index``): tags,
  language, time zone and every attribute's presence, equality and membership are tests on
  the contact's search terms (keyed hashes), PHI or not, so text compares case-insensitively;
  date windows of at most ``MAX_PHI_DAYS`` + 1 days are membership in day terms, months and
  birthdays use the month and month-day terms. PostgreSQL answers these from the GIN index.
- Ranges over non-PHI numbers, longer non-PHI date ranges and text search compare the index's
  JSON copy of the non-PHI attributes. Ranges over PHI numbers, unbounded PHI date ranges and
  substring search in PHI text cannot be answered from hashes and are refused with an
  explanation. Created and last-activity dates are compared on the contact itself; consent
  status on the contact's consent rows (no row: never asked); engagement on the contact's
  ``reporting.ContactEngagement`` row (last human open and click, indexed; no row: never), as an
  ``EXISTS`` inside the segment's one query.
- Every compiled condition is two-valued (never SQL NULL), so ``none`` and the negative
  operators are exactly the negation of their positive forms, as in ``evaluate_rules``.
- ``evaluate_rules`` is the reference: the same semantics in Python over one contact (it decrypts
  PHI attributes; tests compare it with the compiled query).
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Exists, JSONField, OuterRef, Q, QuerySet, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.utils import timezone

from consent.models import ConsentStatus, ContactConsent
from consent.purposes import purpose_keys as consent_purpose_keys
from encryption.blind_index import normalise
from reporting.models import ContactEngagement
from segments.attributes import (
    AttributeValueError,
    coerce_value,
    contact_phi_attributes,
    dictionary_for,
    normalise_tags,
)
from segments.models import AttributeDefinition, Contact, ContactSearch
from segments.search_index import TermMaker, attribute_term, code_term, tag_term, term_text
from tenants.models import Organisation

MAX_DEPTH = 5  # groups nested inside the root group
MAX_NODES = 100  # groups and conditions together
MAX_LIST_VALUES = 200  # values of one "in" / "not_in"
MAX_DAYS = 36_500  # relative-date windows on non-PHI dates
MAX_PHI_DAYS = 366  # PHI date windows: one token per day, so they must stay bounded
GROUP_KINDS = ("all", "any", "none")
BUILTIN_FIELDS = ("tag", "language", "time_zone", "created_at", "last_activity_at")
# Conditions that later issues make possible; refused until then with a clear message.
NOT_YET_AVAILABLE = ("delivered", "bounced", "unsubscribed")
# engagement.<what> → the ContactEngagement column holding the contact's last (human) one.
ENGAGEMENT_FIELDS = {"opened": "last_opened_at", "clicked": "last_clicked_at"}

# Value shapes, for the builder UI: none (no value), one, list, range ([low, high]), days
# (a whole number of days), month (1-12), month_day ("MM-DD"), tag.
_OPS: dict[str, tuple[str, str]] = {
    "eq": ("is", "one"),
    "neq": ("is not", "one"),
    "in": ("is one of", "list"),
    "not_in": ("is none of", "list"),
    "gt": ("is greater than / after", "one"),
    "gte": ("is at least / on or after", "one"),
    "lt": ("is less than / before", "one"),
    "lte": ("is at most / on or before", "one"),
    "between": ("is between (inclusive)", "range"),
    "is_set": ("has a value", "none"),
    "is_not_set": ("has no value", "none"),
    "contains": ("contains", "one"),
    "has_tag": ("has tag", "tag"),
    "lacks_tag": ("does not have tag", "tag"),
    "within_next_days": ("is within the next N days", "days"),
    "within_last_days": ("is within the last N days", "days"),
    "more_than_days_ago": ("is more than N days ago", "days"),
    "in_month": ("is in month", "month"),
    "this_month": ("is in this month (any year)", "none"),
    "on_month_day": ("is on day (any year)", "month_day"),
}
_EQUALITY = ("eq", "neq", "in", "not_in")
_PRESENCE = ("is_set", "is_not_set")
_RANGE = ("gt", "gte", "lt", "lte", "between")
_CALENDAR = ("in_month", "this_month", "on_month_day")
_RELATIVE = ("within_next_days", "within_last_days", "more_than_days_ago")

# Per field kind: which operators exist, and which of them work on PHI attributes.
_KIND_OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tag": (("has_tag", "lacks_tag"), ()),
    "code": (_EQUALITY, ()),  # language, time zone
    "text": ((*_EQUALITY, "contains", *_PRESENCE), (*_EQUALITY, *_PRESENCE)),
    "choice": ((*_EQUALITY, *_PRESENCE), (*_EQUALITY, *_PRESENCE)),
    "number": ((*_EQUALITY, *_RANGE, *_PRESENCE), (*_EQUALITY, *_PRESENCE)),
    "boolean": (("eq", "neq", *_PRESENCE), ("eq", "neq", *_PRESENCE)),
    "date": (
        (*_EQUALITY, *_RANGE, *_RELATIVE, *_CALENDAR, *_PRESENCE),
        (*_EQUALITY, "between", "within_next_days", "within_last_days", *_CALENDAR, *_PRESENCE),
    ),
    "datetime": ((*_RANGE, *_RELATIVE, *_CALENDAR), ()),  # created_at, last_activity_at: always set
    "consent": (_EQUALITY, ()),  # consent.<purpose>: the status, never_asked without a row
    "engagement": (("within_last_days",), ()),  # engagement.opened / .clicked: the last one's day
}
CONSENT_STATUSES = tuple(ConsentStatus.values)

OPERATORS: dict[str, dict[str, dict[str, Any]]] = {
    kind: {op: {"label": _OPS[op][0], "value": _OPS[op][1], "phi": op in phi_ops} for op in ops}
    for kind, (ops, phi_ops) in _KIND_OPS.items()
}
"""Per field kind (tag, code, text, choice, number, boolean, date, datetime): each operator's
label, value shape and whether it is available on PHI attributes."""

_PHI_REFUSALS = {
    "contains": "PHI text is stored encrypted with equality tokens only, so it cannot be searched "
    "for a part of its value; use is / is one of.",
    "gt": "PHI numbers are stored encrypted with equality tokens only, so they cannot be compared "
    "as ranges; use is / is one of, or make the attribute non-PHI if it is not health information.",
    "more_than_days_ago": f"PHI dates are matched through one token per day, so a window must be "
    f"bounded (at most {MAX_PHI_DAYS} days); use within the last N days or between.",
}


@dataclass(frozen=True)
class RuleError:
    path: str
    message: str


class InvalidRules(Exception):
    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the segment rules.")
        self.errors = errors


# --- Validation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    kind: str
    children: tuple[_Group | _Condition, ...]


@dataclass(frozen=True)
class _Condition:
    field: str
    kind: str
    op: str
    value: Any
    definition: AttributeDefinition | None  # for attr.<key>

    @property
    def is_phi(self) -> bool:
        return self.definition is not None and self.definition.is_phi


class _Checker:
    def __init__(self, dictionary: dict[str, AttributeDefinition], purposes: Collection[str]) -> None:
        self.dictionary = dictionary
        self.purposes = purposes
        self.errors: list[RuleError] = []
        self.nodes = 0

    def fail(self, path: str, message: str) -> None:
        self.errors.append(RuleError(path, message))

    def node(self, node: object, path: str, depth: int) -> _Group | _Condition | None:
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            self.fail(path, f"Too many rules: at most {MAX_NODES} groups and conditions.")
        if self.nodes > MAX_NODES:
            return None
        if not isinstance(node, dict):
            self.fail(path, 'Expected a group ({"all": [...]}, any, none) or a condition (field, op, value).')
            return None
        if "field" in node or "op" in node:
            return self.condition(node, path)
        kinds = [kind for kind in GROUP_KINDS if kind in node]
        if len(kinds) != 1 or len(node) != 1:
            self.fail(path, "A group has exactly one key: all, any or none.")
            return None
        kind = kinds[0]
        children = node[kind]
        if not isinstance(children, list):
            self.fail(f"{path}.{kind}", "A group holds a list of groups and conditions.")
            return None
        if depth >= MAX_DEPTH and children:
            self.fail(f"{path}.{kind}", f"Groups are nested too deeply (at most {MAX_DEPTH} levels).")
            return None
        checked = [self.node(child, f"{path}.{kind}[{n}]", depth + 1) for n, child in enumerate(children)]
        if any(child is None for child in checked):
            return None
        return _Group(kind, tuple(child for child in checked if child is not None))

    def condition(self, node: dict[str, Any], path: str) -> _Condition | None:
        unknown = set(node) - {"field", "op", "value"}
        if unknown:
            self.fail(path, "A condition has only field, op and value.")
            return None
        field, op = node.get("field"), node.get("op")
        if not isinstance(field, str) or not field:
            self.fail(f"{path}.field", "Choose a field.")
            return None
        definition = None
        if field.startswith("attr."):
            definition = self.dictionary.get(field[5:])
            if definition is None:
                self.fail(f"{path}.field", "Not an attribute in the data dictionary.")
                return None
            kind = str(definition.type)
        elif field.startswith("consent."):
            if field[8:] not in self.purposes:
                self.fail(f"{path}.field", "Not a consent purpose of this organisation.")
                return None
            kind = "consent"
        elif field.startswith("engagement."):
            if field[11:] not in ENGAGEMENT_FIELDS:
                self.fail(f"{path}.field", "Not an engagement condition: use engagement.opened or engagement.clicked.")
                return None
            kind = "engagement"
        elif field in ("opened", "clicked"):
            self.fail(f"{path}.field", f"Unknown field; did you mean engagement.{field}?")
            return None
        elif field in BUILTIN_FIELDS:
            kind = {"tag": "tag", "language": "code", "time_zone": "code"}.get(field, "datetime")
        elif field.split(".")[0] in NOT_YET_AVAILABLE:
            self.fail(f"{path}.field", "Delivery conditions are not available yet.")
            return None
        else:
            self.fail(f"{path}.field", "Unknown field.")
            return None
        ops, phi_ops = _KIND_OPS[kind]
        if not isinstance(op, str) or op not in ops:
            self.fail(f"{path}.op", f"Not an operator for this field; use one of: {', '.join(ops)}.")
            return None
        if definition is not None and definition.is_phi and op not in phi_ops:
            reason = _PHI_REFUSALS.get(op)
            if reason is None and op in _RANGE:
                reason = _PHI_REFUSALS["gt"] if kind == "number" else _PHI_REFUSALS["more_than_days_ago"]
            self.fail(f"{path}.op", reason or "Not available on PHI attributes.")
            return None
        value = self.value(node, path, op, kind, definition)
        if value is _INVALID:
            return None
        return _Condition(field, kind, op, value, definition)

    def value(self, node: dict[str, Any], path: str, op: str, kind: str, definition: Any) -> Any:
        shape = _OPS[op][1]
        where = f"{path}.value"
        raw = node.get("value")
        if shape == "none":
            return None
        if "value" not in node:
            self.fail(where, "This operator needs a value.")
            return _INVALID
        if shape == "tag":
            try:
                tags = normalise_tags([raw] if isinstance(raw, str) else None)
            except AttributeValueError as error:
                self.fail(where, str(error).removeprefix("tags: "))
                return _INVALID
            if len(tags) != 1:
                self.fail(where, "Give one tag.")
                return _INVALID
            return next(iter(tags))
        if shape == "days":
            limit = MAX_PHI_DAYS if definition is not None and definition.is_phi else MAX_DAYS
            if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= limit:
                extra = " (PHI dates are matched one day at a time)" if limit == MAX_PHI_DAYS else ""
                self.fail(where, f"A whole number of days from 0 to {limit}{extra}.")
                return _INVALID
            return raw
        if shape == "month":
            if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= 12:
                self.fail(where, "A month from 1 to 12.")
                return _INVALID
            return raw
        if shape == "month_day":
            parsed = _month_day(raw)
            if parsed is None:
                self.fail(where, "A day of the year as MM-DD, e.g. 03-14.")
            return parsed if parsed is not None else _INVALID
        if shape == "list":
            if not isinstance(raw, list) or not raw or len(raw) > MAX_LIST_VALUES:
                self.fail(where, f"A list of 1 to {MAX_LIST_VALUES} values.")
                return _INVALID
            items = [self.scalar(item, f"{where}[{n}]", kind, definition) for n, item in enumerate(raw)]
            return _INVALID if any(item is _INVALID for item in items) else tuple(dict.fromkeys(items))
        if shape == "range":
            if not isinstance(raw, list) or len(raw) != 2:
                self.fail(where, "A range as [low, high].")
                return _INVALID
            low, high = (self.scalar(item, f"{where}[{n}]", kind, definition) for n, item in enumerate(raw))
            if low is _INVALID or high is _INVALID:
                return _INVALID
            if low > high:
                self.fail(where, "The low end of the range is above the high end.")
                return _INVALID
            if kind == "date" and definition.is_phi and _days_between(low, high) > MAX_PHI_DAYS:
                self.fail(where, f"PHI date ranges span at most {MAX_PHI_DAYS} days (one token per day).")
                return _INVALID
            return (low, high)
        return self.scalar(raw, where, kind, definition)

    def scalar(self, raw: Any, where: str, kind: str, definition: AttributeDefinition | None) -> Any:
        if kind == "code":
            if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
                self.fail(where, "A text value of at most 64 characters.")
                return _INVALID
            return raw.strip()
        if kind == "consent":
            if raw not in CONSENT_STATUSES:
                self.fail(where, f"A consent status: one of {', '.join(CONSENT_STATUSES)}.")
                return _INVALID
            return raw
        if kind == "datetime":
            try:
                return date.fromisoformat(raw) if isinstance(raw, str) else _fail_date()
            except ValueError:
                self.fail(where, "A date as YYYY-MM-DD.")
                return _INVALID
        assert definition is not None  # noqa: S101 - every other kind is an attribute
        if isinstance(raw, dict | list):
            self.fail(where, "A single value.")
            return _INVALID
        try:
            value = coerce_value(definition, raw)
        except AttributeValueError as error:
            # The message names the attribute and the rule, never the value.
            self.fail(where, str(error).split(": ", 1)[-1])
            return _INVALID
        if value is None:
            self.fail(where, "A value is required.")
            return _INVALID
        return value


_INVALID = object()


def _fail_date() -> date:
    raise ValueError


def _month_day(raw: Any) -> str | None:
    if not isinstance(raw, str) or len(raw) != 5 or raw[2] != "-":
        return None
    try:
        month, day = int(raw[:2]), int(raw[3:])
    except ValueError:
        return None
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(2024, month)[1]:
        return None
    return f"{month:02d}-{day:02d}"


def _days_between(low: str, high: str) -> int:
    return (date.fromisoformat(high) - date.fromisoformat(low)).days + 1


def _check(
    rules: object, dictionary: dict[str, AttributeDefinition], purposes: Collection[str] = ()
) -> tuple[list[RuleError], _Group | None]:
    checker = _Checker(dictionary, purposes)
    if not isinstance(rules, dict) or not any(kind in rules for kind in GROUP_KINDS) or "field" in rules:
        checker.fail("rules", 'The rules are a group: {"all": [...]}, {"any": [...]} or {"none": [...]}.')
        return checker.errors, None
    root = checker.node(rules, "rules", 0)
    if checker.errors:
        return checker.errors, None
    assert isinstance(root, _Group)  # noqa: S101 - a dict with a group key checks as a group
    return [], root


def validate_rules(
    rules: object, dictionary: dict[str, AttributeDefinition], purposes: Collection[str] = ()
) -> list[RuleError]:
    """Every problem in ``rules``, each naming its node's path (``rules.any[2].value``).
    ``purposes``: the consent purpose keys ``consent.<purpose>`` may name."""
    return _check(rules, dictionary, purposes)[0]


# --- Shared semantics -------------------------------------------------------------------------


def _window(condition: _Condition, today: date) -> tuple[date | None, date | None]:
    """The inclusive day range a range or relative-date condition selects (None: open end)."""
    op, value = condition.op, condition.value
    if op == "within_next_days":
        return today, today + timedelta(days=value)
    if op == "within_last_days":
        return today - timedelta(days=value), today
    if op == "more_than_days_ago":
        return None, today - timedelta(days=value + 1)
    as_date = date.fromisoformat if condition.kind == "date" else (lambda day: day)
    if op == "between":
        return as_date(value[0]), as_date(value[1])
    day = as_date(value)
    one = timedelta(days=1)
    return {
        "gt": (day + one, None),
        "gte": (day, None),
        "lt": (None, day - one),
        "lte": (None, day),
    }[op]


def _target_month(condition: _Condition, today: date) -> int:
    return today.month if condition.op == "this_month" else int(condition.value)


# --- Compilation ------------------------------------------------------------------------------

_TRUE = Q(pk__isnull=False)
_FALSE = Q(pk__in=[])


def compile_rules(
    *,
    tenant: Organisation,
    rules: dict[str, Any],
    dictionary: dict[str, AttributeDefinition],
    today: date,
    purposes: Collection[str] = (),
) -> Q:
    """The rules as one ``Q`` over ``Contact`` (the caller scopes it to the tenant)."""
    errors, root = _check(rules, dictionary, purposes)
    if root is None:
        raise InvalidRules(errors)
    return _Compiler(tenant, today, connection.vendor == "postgresql").node(root)


class _Compiler:
    """Rules to a ``Q`` over ``ContactSearch``: every equality, membership, presence, tag,
    calendar and bounded day-window condition becomes a term test (``terms__has_all`` /
    ``terms__has_any``) that the GIN index answers; ranges over non-PHI numbers, long non-PHI
    date ranges and text search compare the JSON copy of the attributes; created and last
    activity dates are read from the contact itself."""

    def __init__(self, tenant: Organisation, today: date, postgresql: bool) -> None:
        self.tenant = tenant
        self.today = today
        self.postgresql = postgresql
        self.maker = TermMaker(tenant)

    def node(self, node: _Group | _Condition) -> Q:
        if isinstance(node, _Condition):
            return self.condition(node)
        parts = [self.node(child) for child in node.children]
        if node.kind == "all":
            return _and(parts)
        matched = _or(parts)
        return matched if node.kind == "any" else ~matched

    def condition(self, condition: _Condition) -> Q:
        op = condition.op
        negative = {"neq": "eq", "not_in": "in", "is_not_set": "is_set", "lacks_tag": "has_tag"}
        if op in negative:
            return ~self.positive(condition, negative[op])
        return self.positive(condition, op)

    def positive(self, condition: _Condition, op: str) -> Q:
        field, value = condition.field, condition.value
        if condition.kind == "tag":
            return _has(tag_term(self.maker, value))
        if condition.kind == "code":
            values = [value] if op == "eq" else list(value)
            return _has_any([code_term(self.maker, field, item) for item in values])
        if condition.kind == "datetime":
            return Q(pk__in=Contact.objects.for_tenant(self.tenant).filter(self.datetime(condition)).values("pk"))
        if condition.kind == "consent":
            return self.consent(condition, op)
        if condition.kind == "engagement":
            return self.engagement(condition)
        return self.attribute(condition, op)

    def engagement(self, condition: _Condition) -> Q:
        """EXISTS the contact's engagement row with its last open (click) in the window: the
        row by primary key, or the (tenant, last_*) index for a semi-join."""
        column = ENGAGEMENT_FIELDS[condition.field[11:]]
        low, high = _window(condition, self.today)
        assert low is not None and high is not None  # noqa: S101 - within_last_days is bounded
        rows = ContactEngagement.objects.for_tenant(self.tenant).filter(
            contact_id=OuterRef("pk"),
            **{f"{column}__gte": _start_of(low), f"{column}__lt": _start_of(high + timedelta(days=1))},
        )
        return Q(Exists(rows))

    def consent(self, condition: _Condition, op: str) -> Q:
        statuses = {condition.value} if op == "eq" else set(condition.value)
        rows = ContactConsent.objects.for_tenant(self.tenant).filter(
            contact_id=OuterRef("pk"), purpose=condition.field[8:]
        )
        stored = statuses - {ConsentStatus.NEVER_ASKED}
        parts = [Q(Exists(rows.filter(status__in=sorted(stored))))] if stored else []
        if ConsentStatus.NEVER_ASKED in statuses:
            parts.append(~Q(Exists(rows)))
        return _or(parts)

    def datetime(self, condition: _Condition) -> Q:
        field = condition.field
        if condition.op in _CALENDAR:
            if condition.op == "on_month_day":
                month, day = condition.value.split("-")
                return Q(**{f"{field}__month": int(month), f"{field}__day": int(day)})
            return Q(**{f"{field}__month": _target_month(condition, self.today)})
        # Day bounds as instants, so the column's own index can serve the range.
        low, high = _window(condition, self.today)
        parts = []
        if low is not None:
            parts.append(Q(**{f"{field}__gte": _start_of(low)}))
        if high is not None:
            parts.append(Q(**{f"{field}__lt": _start_of(high + timedelta(days=1))}))
        return _and(parts)

    def attribute(self, condition: _Condition, op: str) -> Q:
        assert condition.definition is not None  # noqa: S101
        key = condition.definition.key

        def term(facet: str, text: str) -> int:
            return attribute_term(self.maker, key, facet, text)

        if op == "is_set":
            return _has(term("set", "1"))
        if op in ("eq", "in"):
            values = [condition.value] if op == "eq" else list(condition.value)
            return _has_any([term("eq", term_text(item)) for item in values])
        if op == "on_month_day":
            return _has(term("monthday", condition.value))
        if op in _CALENDAR:
            return _has(term("month", f"{_target_month(condition, self.today):02d}"))
        if op == "contains":
            text = KeyTextTransform(key, "attributes")
            return Q(attributes__has_key=key) & _lookup(text, "icontains", condition.value)
        if condition.kind == "date":
            low, high = _window(condition, self.today)
            bounded = low is not None and high is not None and (high - low).days <= MAX_PHI_DAYS
            if condition.is_phi or bounded:
                assert low is not None and high is not None  # noqa: S101 - validation bounds PHI windows
                days = [(low + timedelta(days=n)).isoformat() for n in range((high - low).days + 1)]
                return _has_any([term("eq", day) for day in days])
            return self.json_range(key, low, high, strict=False)
        low, high = _number_bounds(condition)
        return self.json_range(key, low, high, strict=condition.op in ("gt", "lt"))

    def json_range(self, key: str, low: Any, high: Any, *, strict: bool) -> Q:
        """A range over a non-PHI attribute's JSON value: numbers compare as numbers, dates as
        ISO strings; never NULL once the key is present."""
        value_of = KeyTransform(key, "attributes")
        parts = [Q(attributes__has_key=key)]
        for bound, lookup in ((low, "gte"), (high, "lte")):
            if bound is None:
                continue
            item = bound.isoformat() if isinstance(bound, date) else bound
            # PostgreSQL compares jsonb with jsonb; SQLite's JSON_EXTRACT gives native values.
            rhs = Value(item, output_field=JSONField()) if self.postgresql else item
            parts.append(_lookup(value_of, lookup[:2] if strict else lookup, rhs))
        return _and(parts)


def _has(term: int) -> Q:
    return Q(terms__has_all=[term])


def _has_any(terms: list[int]) -> Q:
    return Q(terms__has_all=terms[:1]) if len(terms) == 1 else Q(terms__has_any=sorted(set(terms)))


def _lookup(expression: Any, name: str, rhs: Any) -> Q:
    lookup = expression.get_lookup(name)
    assert lookup is not None  # noqa: S101 - the lookups used here exist on every backend
    return Q(lookup(expression, rhs))


def _number_bounds(condition: _Condition) -> tuple[Any, Any]:
    value = condition.value
    return {
        "gt": (value, None),
        "gte": (value, None),
        "lt": (None, value),
        "lte": (None, value),
        "between": (value[0], value[1]) if isinstance(value, tuple) else (None, None),
    }[condition.op]


def _and(parts: list[Q]) -> Q:
    if not parts:
        return _TRUE
    result = parts[0]
    for part in parts[1:]:
        result &= part
    return result


def _or(parts: list[Q]) -> Q:
    if not parts:
        return _FALSE
    result = parts[0]
    for part in parts[1:]:
        result |= part
    return result


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


# --- Reference evaluation -------------------------------------------------------------------


def evaluate_rules(
    *,
    contact: Contact,
    rules: dict[str, Any],
    dictionary: dict[str, AttributeDefinition],
    today: date,
    purposes: Collection[str] = (),
) -> bool:
    """Whether ``contact`` matches ``rules``, in Python (decrypts PHI: the contact's tenant must be
    active). The reference the compiled query is tested against."""
    errors, root = _check(rules, dictionary, purposes)
    if root is None:
        raise InvalidRules(errors)
    return _Evaluator(contact, today).node(root)


class _Evaluator:
    def __init__(self, contact: Contact, today: date) -> None:
        self.contact = contact
        self.today = today
        self._phi: dict[str, Any] | None = None

    def node(self, node: _Group | _Condition) -> bool:
        if isinstance(node, _Condition):
            return self.condition(node)
        results = [self.node(child) for child in node.children]
        if node.kind == "all":
            return all(results)
        return any(results) if node.kind == "any" else not any(results)

    def condition(self, condition: _Condition) -> bool:
        op = condition.op
        negative = {"neq": "eq", "not_in": "in", "is_not_set": "is_set", "lacks_tag": "has_tag"}
        if op in negative:
            return not self.positive(condition, negative[op])
        return self.positive(condition, op)

    def stored(self, condition: _Condition) -> Any:
        if condition.kind == "tag":
            return self.contact.tags or {}
        if condition.kind == "code":
            return getattr(self.contact, condition.field)
        if condition.kind == "datetime":
            return timezone.localtime(getattr(self.contact, condition.field)).date()
        if condition.kind == "consent":
            row = ContactConsent.objects.filter(contact=self.contact, purpose=condition.field[8:]).first()
            return row.status if row else ConsentStatus.NEVER_ASKED
        if condition.kind == "engagement":
            column = ENGAGEMENT_FIELDS[condition.field[11:]]
            at = ContactEngagement.objects.filter(contact_id=self.contact.pk).values_list(column, flat=True).first()
            return None if at is None else timezone.localtime(at).date()
        assert condition.definition is not None  # noqa: S101
        if condition.is_phi:
            if self._phi is None:
                self._phi = contact_phi_attributes(self.contact)
            return self._phi.get(condition.definition.key)
        return (self.contact.attributes or {}).get(condition.definition.key)

    def positive(self, condition: _Condition, op: str) -> bool:
        stored, value = self.stored(condition), condition.value
        if condition.kind == "tag":
            return value in stored
        if condition.kind == "consent":
            return stored in ({value} if op == "eq" else set(value))
        if condition.kind == "engagement":  # never opened (clicked): not within any window
            low, high = _window(condition, self.today)
            return stored is not None and low is not None and high is not None and low <= stored <= high
        if op == "is_set":
            return stored is not None
        if stored is None:
            return False
        if condition.kind == "date":
            stored = date.fromisoformat(stored)
        if op in ("eq", "in"):
            values = [value] if op == "eq" else list(value)
            return any(_same(condition, stored, item) for item in values)
        if op == "contains":
            return str(value).upper() in str(stored).upper()
        if op in _CALENDAR:
            if op == "on_month_day":
                return f"{stored.month:02d}-{stored.day:02d}" == value
            return stored.month == _target_month(condition, self.today)
        low, high = _window(condition, self.today) if condition.kind != "number" else _number_bounds(condition)
        if condition.kind == "number" and op in ("gt", "lt"):
            return stored > value if op == "gt" else stored < value
        return (low is None or stored >= low) and (high is None or stored <= high)


def _same(condition: _Condition, stored: Any, value: Any) -> bool:
    """What a term compares: the normalised text of the value (dates as ISO days)."""
    if condition.kind == "date":
        return bool(stored == date.fromisoformat(value))
    return normalise(term_text(stored)) == normalise(term_text(value))


# --- Querying -------------------------------------------------------------------------------


def purpose_keys(*, tenant: Organisation) -> frozenset[str]:
    """The consent purposes rules may test (archived ones too: old consent stays queryable)."""
    return consent_purpose_keys(tenant=tenant, include_archived=True)


def segment_matches(
    *, tenant: Organisation, rules: dict[str, Any], today: date | None = None
) -> QuerySet[ContactSearch]:
    """The tenant's contacts matching ``rules`` (raises ``InvalidRules``), as rows of the search
    view, where PostgreSQL can answer the conditions from the indexes (see ``ContactSearch``)."""
    condition = compile_rules(
        tenant=tenant,
        rules=rules,
        dictionary=dictionary_for(tenant=tenant),
        today=today or timezone.localdate(),
        purposes=purpose_keys(tenant=tenant),
    )
    return ContactSearch.objects.for_tenant(tenant).filter(condition)


def segment_queryset(*, tenant: Organisation, rules: dict[str, Any], today: date | None = None) -> QuerySet[Contact]:
    """The tenant's contacts matching ``rules``, as contacts (raises ``InvalidRules``)."""
    matching = segment_matches(tenant=tenant, rules=rules, today=today)
    return Contact.objects.for_tenant(tenant).filter(pk__in=matching.values("pk"))


def segment_count(*, tenant: Organisation, rules: dict[str, Any], today: date | None = None) -> int:
    return segment_matches(tenant=tenant, rules=rules, today=today).count()


def iterate_segment_ids(
    *, tenant: Organisation, rules: dict[str, Any], batch_size: int = 1000, today: date | None = None
) -> Iterator[list[uuid.UUID]]:
    """The ids of the matching contacts in batches, by keyset on id: each batch is one indexed
    query, and contacts added or removed meanwhile neither repeat nor shift the others. Ids, not
    contacts: whoever works through a segment (a campaign's launch snapshot) loads each batch's
    contacts itself, and decrypting half a million rows here would be wasted."""
    matches = segment_matches(tenant=tenant, rules=rules, today=today or timezone.localdate())
    ids = matches.order_by("id").values_list("id", flat=True)
    last_id = None
    while True:
        page = ids if last_id is None else ids.filter(id__gt=last_id)
        batch = list(page[:batch_size])
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        last_id = batch[-1]

"""Segment rules: every operator against the reference evaluation, compiled queries equal to the
reference on random rule trees and contacts, structured validation errors, tenant isolation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting.models import ContactEngagement
from segments.attributes import contact_attributes_apply, dictionary_for
from segments.models import AttributeDefinition, AttributeType, Contact, ContactSearch
from segments.rules import (
    MAX_DEPTH,
    MAX_NODES,
    OPERATORS,
    InvalidRules,
    RuleError,
    compile_rules,
    evaluate_rules,
    iterate_segment_ids,
    segment_count,
    segment_queryset,
    validate_rules,
)
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

TODAY = date(2027, 3, 14)
ATTRIBUTES = [
    # key, type, is_phi, choices
    ("plan", AttributeType.CHOICE, False, ["Gold", "Silver", "Bronze"]),
    ("score", AttributeType.NUMBER, False, []),
    ("renewal", AttributeType.DATE, False, []),
    ("note", AttributeType.TEXT, False, []),
    ("vip", AttributeType.BOOLEAN, False, []),
    ("next_visit", AttributeType.DATE, True, []),
    ("diagnosis", AttributeType.TEXT, True, []),
    ("weight", AttributeType.NUMBER, True, []),
    ("smoker", AttributeType.BOOLEAN, True, []),
    ("clinic", AttributeType.CHOICE, True, ["North", "South"]),
]


def _define_dictionary(tenant) -> dict[str, AttributeDefinition]:
    with tenant_context(tenant):
        for key, kind, phi, choices in ATTRIBUTES:
            AttributeDefinition.objects.create(
                tenant=tenant, key=key, label=key, type=kind, is_phi=phi, choices=choices
            )
        return dictionary_for(tenant=tenant)


def _contact(
    tenant, dictionary, *, created=None, active=None, attributes=None, opened=None, clicked=None, **fields
) -> Contact:
    """A contact; ``opened`` / ``clicked``: its last human open / click (reporting's
    ContactEngagement row, as ``reporting.events`` keeps it)."""
    contact = make_contact(tenant, **fields)
    with tenant_context(tenant):
        if opened is not None or clicked is not None:
            ContactEngagement.objects.create(
                tenant=tenant, contact_id=contact.pk, last_opened_at=opened, last_clicked_at=clicked
            )
        if attributes:
            contact_attributes_apply(contact=contact, values=attributes, dictionary=dictionary)
            contact.save()
        changes = {}
        if created is not None:
            changes["created_at"] = datetime.combine(created, datetime.min.time(), tzinfo=UTC) + timedelta(hours=13)
        if active is not None:
            changes["last_activity_at"] = datetime.combine(active, datetime.min.time(), tzinfo=UTC)
        if changes:
            Contact.objects.for_tenant(tenant).filter(pk=contact.pk).update(**changes)
        return Contact.objects.for_tenant(tenant).get(pk=contact.pk)


def _matches(tenant, dictionary, rules, contacts) -> tuple[set, set]:
    """(ids the compiled query returns, ids the reference evaluation accepts)."""
    with tenant_context(tenant):
        condition = compile_rules(tenant=tenant, rules=rules, dictionary=dictionary, today=TODAY)
        compiled = set(ContactSearch.objects.for_tenant(tenant).filter(condition).values_list("id", flat=True))
        reference = {
            contact.id
            for contact in contacts
            if evaluate_rules(contact=contact, rules=rules, dictionary=dictionary, today=TODAY)
        }
    return compiled, reference


@pytest.fixture
def people(world):
    tenant = world.a.tenant
    dictionary = _define_dictionary(tenant)
    ann = _contact(
        tenant,
        dictionary,
        language="en",
        time_zone="UTC",
        tags={"vip": True, "newsletter": True},
        created=TODAY - timedelta(days=3),
        active=TODAY - timedelta(days=400),
        # Late on the first day of a 3-day window (days are UTC), and a click long ago.
        opened=datetime.combine(TODAY - timedelta(days=3), datetime.min.time(), tzinfo=UTC) + timedelta(hours=23),
        clicked=datetime.combine(TODAY - timedelta(days=40), datetime.min.time(), tzinfo=UTC),
        attributes={
            "plan": "Gold",
            "score": 10,
            "renewal": "2027-03-20",
            "note": "Prefers mornings",
            "vip": True,
            "next_visit": "2027-03-18",
            "diagnosis": "Asthma",
            "weight": 70,
            "smoker": False,
            "clinic": "North",
        },
    )
    bob = _contact(
        tenant,
        dictionary,
        language="es",
        time_zone="Europe/Madrid",
        tags={"newsletter": True},
        created=date(2026, 3, 2),
        active=TODAY - timedelta(days=2),
        # Just before the 3-day window opens; clicked only (an open blocked by the mail client).
        opened=datetime.combine(TODAY - timedelta(days=4), datetime.min.time(), tzinfo=UTC) + timedelta(hours=23),
        clicked=datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9),
        attributes={
            "plan": "Silver",
            "score": 2.5,
            "renewal": "2026-12-01",
            "note": "evenings",
            "vip": False,
            "next_visit": "2027-04-30",
            "diagnosis": "Flu",
            "weight": 82.5,
            "clinic": "South",
        },
    )
    cat = _contact(
        tenant,
        dictionary,
        language="fr",
        created=date(2025, 7, 14),
        active=TODAY,
        attributes={"next_visit": "1980-03-01"},
    )
    dan = _contact(tenant, dictionary, language="en", created=date(2026, 11, 30), active=TODAY - timedelta(days=30))
    return tenant, dictionary, {"ann": ann, "bob": bob, "cat": cat, "dan": dan}


def _all(condition):
    return {"all": [condition]}


OPERATOR_CASES = [
    # tags
    ({"field": "tag", "op": "has_tag", "value": "VIP"}, {"ann"}),
    ({"field": "tag", "op": "lacks_tag", "value": "newsletter"}, {"cat", "dan"}),
    # language and time zone
    ({"field": "language", "op": "eq", "value": "en"}, {"ann", "dan"}),
    ({"field": "language", "op": "neq", "value": "en"}, {"bob", "cat"}),
    ({"field": "language", "op": "in", "value": ["es", "fr"]}, {"bob", "cat"}),
    ({"field": "language", "op": "not_in", "value": ["es", "fr"]}, {"ann", "dan"}),
    ({"field": "time_zone", "op": "eq", "value": "Europe/Madrid"}, {"bob"}),
    # datetimes
    ({"field": "created_at", "op": "gt", "value": "2026-03-02"}, {"ann", "dan"}),
    ({"field": "created_at", "op": "gte", "value": "2026-03-02"}, {"ann", "bob", "dan"}),
    ({"field": "created_at", "op": "lt", "value": "2026-03-02"}, {"cat"}),
    ({"field": "created_at", "op": "lte", "value": "2026-03-02"}, {"bob", "cat"}),
    ({"field": "created_at", "op": "between", "value": ["2026-03-02", "2026-11-30"]}, {"bob", "dan"}),
    ({"field": "created_at", "op": "within_last_days", "value": 3}, {"ann"}),
    ({"field": "created_at", "op": "more_than_days_ago", "value": 365}, {"cat", "bob"}),
    ({"field": "created_at", "op": "in_month", "value": 7}, {"cat"}),
    ({"field": "created_at", "op": "this_month", "value": None}, {"ann", "bob"}),
    ({"field": "created_at", "op": "on_month_day", "value": "07-14"}, {"cat"}),
    ({"field": "last_activity_at", "op": "within_last_days", "value": 30}, {"bob", "cat", "dan"}),
    ({"field": "last_activity_at", "op": "within_next_days", "value": 5}, {"cat"}),
    # non-PHI choice / number / date / text / boolean
    ({"field": "attr.plan", "op": "eq", "value": "gold"}, {"ann"}),
    ({"field": "attr.plan", "op": "neq", "value": "Gold"}, {"bob", "cat", "dan"}),
    ({"field": "attr.plan", "op": "in", "value": ["Gold", "Silver"]}, {"ann", "bob"}),
    ({"field": "attr.plan", "op": "not_in", "value": ["Gold"]}, {"bob", "cat", "dan"}),
    ({"field": "attr.plan", "op": "is_set"}, {"ann", "bob"}),
    ({"field": "attr.plan", "op": "is_not_set"}, {"cat", "dan"}),
    ({"field": "attr.score", "op": "eq", "value": "10"}, {"ann"}),
    ({"field": "attr.score", "op": "gt", "value": 2.5}, {"ann"}),
    ({"field": "attr.score", "op": "gte", "value": 2.5}, {"ann", "bob"}),
    ({"field": "attr.score", "op": "lt", "value": 10}, {"bob"}),
    ({"field": "attr.score", "op": "lte", "value": 10}, {"ann", "bob"}),
    ({"field": "attr.score", "op": "between", "value": [3, 100]}, {"ann"}),
    ({"field": "attr.score", "op": "in", "value": [2.5, 7]}, {"bob"}),
    ({"field": "attr.renewal", "op": "eq", "value": "2027-03-20"}, {"ann"}),
    ({"field": "attr.renewal", "op": "gt", "value": "2026-12-01"}, {"ann"}),
    ({"field": "attr.renewal", "op": "lte", "value": "2026-12-01"}, {"bob"}),
    ({"field": "attr.renewal", "op": "within_next_days", "value": 7}, {"ann"}),
    ({"field": "attr.renewal", "op": "within_next_days", "value": 5}, set()),
    ({"field": "attr.renewal", "op": "within_last_days", "value": 120}, {"bob"}),
    ({"field": "attr.renewal", "op": "more_than_days_ago", "value": 10}, {"bob"}),
    ({"field": "attr.renewal", "op": "in_month", "value": 12}, {"bob"}),
    ({"field": "attr.renewal", "op": "this_month"}, {"ann"}),
    ({"field": "attr.renewal", "op": "on_month_day", "value": "12-01"}, {"bob"}),
    ({"field": "attr.note", "op": "contains", "value": "MORN"}, {"ann"}),
    ({"field": "attr.note", "op": "eq", "value": "evenings"}, {"bob"}),
    ({"field": "attr.vip", "op": "eq", "value": True}, {"ann"}),
    ({"field": "attr.vip", "op": "eq", "value": "no"}, {"bob"}),
    ({"field": "attr.vip", "op": "neq", "value": True}, {"bob", "cat", "dan"}),
    # PHI, through tokens
    ({"field": "attr.diagnosis", "op": "eq", "value": "asthma"}, {"ann"}),
    ({"field": "attr.diagnosis", "op": "neq", "value": "Asthma"}, {"bob", "cat", "dan"}),
    ({"field": "attr.diagnosis", "op": "in", "value": ["Flu", "Gout"]}, {"bob"}),
    ({"field": "attr.diagnosis", "op": "not_in", "value": ["Flu"]}, {"ann", "cat", "dan"}),
    ({"field": "attr.diagnosis", "op": "is_set"}, {"ann", "bob"}),
    ({"field": "attr.diagnosis", "op": "is_not_set"}, {"cat", "dan"}),
    ({"field": "attr.weight", "op": "eq", "value": 70}, {"ann"}),
    ({"field": "attr.weight", "op": "in", "value": ["82.5", 1]}, {"bob"}),
    ({"field": "attr.smoker", "op": "eq", "value": False}, {"ann"}),
    ({"field": "attr.smoker", "op": "is_set"}, {"ann"}),
    ({"field": "attr.clinic", "op": "eq", "value": "south"}, {"bob"}),
    ({"field": "attr.next_visit", "op": "eq", "value": "2027-03-18"}, {"ann"}),
    ({"field": "attr.next_visit", "op": "within_next_days", "value": 7}, {"ann"}),
    ({"field": "attr.next_visit", "op": "within_next_days", "value": 3}, set()),
    ({"field": "attr.next_visit", "op": "within_next_days", "value": 4}, {"ann"}),  # inclusive
    ({"field": "attr.next_visit", "op": "within_last_days", "value": 0}, set()),
    ({"field": "attr.renewal", "op": "within_next_days", "value": 6}, {"ann"}),
    ({"field": "attr.next_visit", "op": "within_last_days", "value": 366}, set()),
    ({"field": "attr.next_visit", "op": "between", "value": ["2027-04-01", "2027-04-30"]}, {"bob"}),
    ({"field": "attr.next_visit", "op": "this_month"}, {"ann", "cat"}),
    ({"field": "attr.next_visit", "op": "in_month", "value": 4}, {"bob"}),
    ({"field": "attr.next_visit", "op": "on_month_day", "value": "03-01"}, {"cat"}),
    ({"field": "attr.next_visit", "op": "is_not_set"}, {"dan"}),
    # engagement: the last human open / click (cat and dan never engaged)
    ({"field": "engagement.opened", "op": "within_last_days", "value": 3}, {"ann"}),
    ({"field": "engagement.opened", "op": "within_last_days", "value": 4}, {"ann", "bob"}),
    ({"field": "engagement.opened", "op": "within_last_days", "value": 2}, set()),
    ({"field": "engagement.clicked", "op": "within_last_days", "value": 0}, {"bob"}),
    ({"field": "engagement.clicked", "op": "within_last_days", "value": 40}, {"ann", "bob"}),
]


def _case_id(case: object) -> str:
    """A test id that is the same in every process (sets print in hash order): pytest-xdist
    workers must collect identical ids."""
    shown = sorted(case) if isinstance(case, set | frozenset) else case
    return str(shown)[:60]


@pytest.mark.parametrize(("condition", "expected"), OPERATOR_CASES, ids=lambda case: _case_id(case))
def test_operator_matches_reference_and_expected_contacts(people, condition, expected):
    tenant, dictionary, named = people
    rules = _all(condition)
    compiled, reference = _matches(tenant, dictionary, rules, named.values())
    expected_ids = {named[name].id for name in expected}
    assert reference == expected_ids
    assert compiled == expected_ids


def test_every_operator_is_covered_by_a_case():
    covered = {(condition["field"], condition["op"]) for condition, _ in OPERATOR_CASES}
    ops = {op for condition, _ in OPERATOR_CASES for op in [condition["op"]]}
    assert ops == {op for kind in OPERATORS.values() for op in kind}
    assert ("attr.next_visit", "within_next_days") in covered


def test_groups_any_all_none(people):
    tenant, dictionary, named = people
    rules = {
        "any": [
            {
                "all": [
                    {"field": "language", "op": "eq", "value": "en"},
                    {"field": "tag", "op": "has_tag", "value": "vip"},
                ]
            },
            {"none": [{"field": "language", "op": "in", "value": ["en", "es"]}]},
        ]
    }
    compiled, reference = _matches(tenant, dictionary, rules, named.values())
    assert compiled == reference == {named["ann"].id, named["cat"].id}
    empty_groups = {"any": [{"all": []}, {"none": [{"all": []}]}]}
    compiled, reference = _matches(tenant, dictionary, empty_groups, named.values())
    assert compiled == reference == {contact.id for contact in named.values()}
    compiled, reference = _matches(tenant, dictionary, {"any": []}, named.values())
    assert compiled == reference == set()


def test_not_opened_is_a_none_group_and_combines_with_others(people):
    tenant, dictionary, named = people
    opened_3 = {"field": "engagement.opened", "op": "within_last_days", "value": 3}
    not_opened = {"none": [opened_3]}
    compiled, reference = _matches(tenant, dictionary, not_opened, named.values())
    assert compiled == reference == {named[name].id for name in ("bob", "cat", "dan")}  # never opened counts
    clicked_not_opened = {"all": [{"field": "engagement.clicked", "op": "within_last_days", "value": 30}, not_opened]}
    compiled, reference = _matches(tenant, dictionary, clicked_not_opened, named.values())
    assert compiled == reference == {named["bob"].id}
    either = {"any": [opened_3, {"field": "language", "op": "eq", "value": "fr"}]}
    compiled, reference = _matches(tenant, dictionary, either, named.values())
    assert compiled == reference == {named["ann"].id, named["cat"].id}


def test_engagement_is_an_exists_inside_the_one_query(people, django_assert_num_queries):
    tenant, _dictionary, named = people
    rules = {
        "all": [
            {"field": "tag", "op": "has_tag", "value": "newsletter"},
            {"field": "engagement.opened", "op": "within_last_days", "value": 30},
            {"none": [{"field": "engagement.clicked", "op": "within_last_days", "value": 7}]},
        ]
    }
    with tenant_context(tenant):
        condition = compile_rules(tenant=tenant, rules=rules, dictionary=_dictionary, today=TODAY)
        matches = ContactSearch.objects.for_tenant(tenant).filter(condition)
        sql = str(matches.query)
        with django_assert_num_queries(1):
            assert list(matches.values_list("id", flat=True)) == [named["ann"].id]  # opened, no recent click
    assert sql.count("EXISTS") == 2 and "reporting_contactengagement" in sql


@pytest.mark.parametrize(
    ("condition", "path", "words"),
    [
        ({"field": "engagement.opened", "op": "within_last_days", "value": -1}, "value", "whole number of days"),
        ({"field": "engagement.opened", "op": "within_last_days", "value": 36_501}, "value", "0 to 36500"),
        ({"field": "engagement.clicked", "op": "within_last_days", "value": "7"}, "value", "whole number"),
        ({"field": "engagement.clicked", "op": "within_last_days", "value": True}, "value", "whole number"),
        ({"field": "engagement.clicked", "op": "within_last_days", "value": 2.5}, "value", "whole number"),
        ({"field": "engagement.clicked", "op": "within_last_days"}, "value", "needs a value"),
        ({"field": "engagement.opened", "op": "more_than_days_ago", "value": 3}, "op", "within_last_days"),
        ({"field": "engagement.bounced", "op": "within_last_days", "value": 3}, "field", "engagement.opened"),
        ({"field": "opened", "op": "within_last_days", "value": 3}, "field", "engagement.opened"),
    ],
)
def test_bad_engagement_conditions_name_their_node(world, condition, path, words):
    rules = {"all": [{"field": "language", "op": "eq", "value": "en"}, {"none": [condition]}]}
    errors = validate_rules(rules, {})
    assert [error.path for error in errors] == [f"rules.all[1].none[0].{path}"]
    assert words in errors[0].message


def test_validation_errors_name_the_node_path(world):
    dictionary = _define_dictionary(world.a.tenant)
    rules = {
        "all": [
            {"field": "language", "op": "eq", "value": "en"},
            {
                "any": [
                    {"field": "attr.nope", "op": "eq", "value": 1},
                    {"field": "attr.score", "op": "gt", "value": "lots"},
                    {"field": "attr.weight", "op": "gt", "value": 80},
                ]
            },
            {"field": "attr.diagnosis", "op": "contains", "value": "asth"},
            {"field": "attr.next_visit", "op": "within_next_days", "value": 400},
            {"field": "attr.next_visit", "op": "more_than_days_ago", "value": 3},
            {"field": "engagement.opened", "op": "eq", "value": "yes"},
            {"field": "tag", "op": "eq", "value": "vip"},
            {"field": "attr.plan", "op": "in", "value": []},
            {"field": "attr.score", "op": "between", "value": [5, 1]},
            {"bogus": []},
        ]
    }
    errors = validate_rules(rules, dictionary)
    paths = [error.path for error in errors]
    assert paths == [
        "rules.all[1].any[0].field",
        "rules.all[1].any[1].value",
        "rules.all[1].any[2].op",
        "rules.all[2].op",
        "rules.all[3].value",
        "rules.all[4].op",
        "rules.all[5].op",
        "rules.all[6].op",
        "rules.all[7].value",
        "rules.all[8].value",
        "rules.all[9]",
    ]
    by_path = {error.path: error.message for error in errors}
    assert "ranges" in by_path["rules.all[1].any[2].op"]
    assert "encrypted" in by_path["rules.all[2].op"]
    assert "within_last_days" in by_path["rules.all[5].op"]
    assert all(isinstance(error, RuleError) for error in errors)
    with pytest.raises(InvalidRules) as raised, tenant_context(world.a.tenant):
        compile_rules(tenant=world.a.tenant, rules=rules, dictionary=dictionary, today=TODAY)
    assert raised.value.errors == errors


@pytest.mark.parametrize(
    "rules", [None, [], "all", {"field": "tag", "op": "has_tag", "value": "x"}, {"all": [], "any": []}]
)
def test_the_root_must_be_a_group(world, rules):
    assert [error.path for error in validate_rules(rules, {})] == ["rules"]


def test_depth_and_size_are_limited(world):
    deep: dict = {"all": [{"field": "language", "op": "eq", "value": "en"}]}
    for _ in range(MAX_DEPTH):
        deep = {"all": [deep]}
    errors = validate_rules(deep, {})
    assert len(errors) == 1 and "deeply" in errors[0].message
    assert errors[0].path == "rules" + ".all[0]" * MAX_DEPTH + ".all"
    wide = {"any": [{"field": "language", "op": "eq", "value": "en"}] * MAX_NODES}
    errors = validate_rules(wide, {})
    assert [error.path for error in errors] == [f"rules.any[{MAX_NODES - 1}]"]
    assert validate_rules({"any": wide["any"][:-1]}, {}) == []


def test_segment_never_returns_another_tenants_contacts(world):
    dictionary_a = _define_dictionary(world.a.tenant)
    dictionary_b = _define_dictionary(world.b.tenant)
    now = timezone.now()
    mine = _contact(world.a.tenant, dictionary_a, tags={"vip": True}, attributes={"diagnosis": "Asthma"}, opened=now)
    _contact(
        world.b.tenant, dictionary_b, tags={"vip": True}, attributes={"diagnosis": "Asthma"}, opened=now, clicked=now
    )
    for rules in (
        {"all": []},
        {"all": [{"field": "tag", "op": "has_tag", "value": "vip"}]},
        {"all": [{"field": "attr.diagnosis", "op": "eq", "value": "Asthma"}]},
        {"none": [{"field": "attr.diagnosis", "op": "eq", "value": "Flu"}]},
        {"all": [{"field": "engagement.opened", "op": "within_last_days", "value": 1}]},
        {"none": [{"field": "engagement.clicked", "op": "within_last_days", "value": 1000}]},
    ):
        with tenant_context(world.a.tenant):
            assert list(segment_queryset(tenant=world.a.tenant, rules=rules).values_list("id", flat=True)) == [mine.id]
            assert segment_count(tenant=world.a.tenant, rules=rules) == 1
            assert list(iterate_segment_ids(tenant=world.a.tenant, rules=rules)) == [[mine.id]]


def test_iterate_segment_ids_walks_every_match_once_in_id_order(world):
    dictionary = _define_dictionary(world.a.tenant)
    contacts = [_contact(world.a.tenant, dictionary, language="en" if n % 3 else "fr") for n in range(11)]
    wanted = sorted(contact.id for contact in contacts if contact.language == "en")
    with tenant_context(world.a.tenant):
        batches = list(
            iterate_segment_ids(
                tenant=world.a.tenant, rules=_all({"field": "language", "op": "eq", "value": "en"}), batch_size=3
            )
        )
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [contact_id for batch in batches for contact_id in batch] == wanted


def test_phi_conditions_use_terms_not_values(people):
    tenant, dictionary, _ = people
    with tenant_context(tenant):
        condition = compile_rules(
            tenant=tenant,
            rules=_all({"field": "attr.diagnosis", "op": "eq", "value": "Asthma"}),
            dictionary=dictionary,
            today=TODAY,
        )
        sql, params = ContactSearch.objects.for_tenant(tenant).filter(condition).query.sql_with_params()
    assert not any("sthma" in str(param) for param in params)
    assert "terms" in sql and "sthma" not in sql


# --- Property test: compiled query == reference --------------------------------------------------

DAYS = st.integers(-12, 12).map(lambda n: TODAY + timedelta(days=n))
VALUES = {
    "tag": st.sampled_from(["a", "b", "c"]),
    "language": st.sampled_from(["en", "es", "fr"]),
    "time_zone": st.sampled_from(["UTC", "Europe/Paris"]),
    "created_at": DAYS.map(date.isoformat),
    "last_activity_at": DAYS.map(date.isoformat),
    "attr.plan": st.sampled_from(["Gold", "Silver", "Bronze"]),
    "attr.score": st.sampled_from([-2, 0, 1, 2.5, 3]),
    "attr.renewal": DAYS.map(date.isoformat),
    "attr.note": st.sampled_from(["alpha", "Beta", "alphabet", "ALP"]),
    "attr.vip": st.booleans(),
    "attr.next_visit": DAYS.map(date.isoformat),
    "attr.diagnosis": st.sampled_from(["Asthma", "asthma ", "Flu"]),
    "attr.weight": st.sampled_from([60, 70.5, 80]),
    "attr.smoker": st.booleans(),
    "attr.clinic": st.sampled_from(["North", "South"]),
    # Engagement takes a number of days only (drawn below); the value here is never used.
    "engagement.opened": st.none(),
    "engagement.clicked": st.none(),
}
# Last opens and clicks: any hour of the days around TODAY (window edges fall inside a day).
MOMENTS = st.builds(
    lambda day, minutes: datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=minutes),
    DAYS,
    st.integers(0, 24 * 60 - 1),
)
KINDS = {
    "tag": "tag",
    "language": "code",
    "time_zone": "code",
    "created_at": "datetime",
    "last_activity_at": "datetime",
    "engagement.opened": "engagement",
    "engagement.clicked": "engagement",
}
KINDS.update({f"attr.{key}": str(kind) for key, kind, _, _ in ATTRIBUTES})
PHI = {f"attr.{key}" for key, _, phi, _ in ATTRIBUTES if phi}


@st.composite
def conditions(draw):
    field = draw(st.sampled_from(sorted(VALUES)))
    ops = [op for op, spec in OPERATORS[KINDS[field]].items() if spec["phi"] or field not in PHI]
    op = draw(st.sampled_from(ops))
    shape = OPERATORS[KINDS[field]][op]["value"]
    value: object = None
    if shape in ("one", "tag"):
        value = draw(VALUES[field])
    elif shape == "list":
        value = draw(st.lists(VALUES[field], min_size=1, max_size=3))
    elif shape == "range":
        value = sorted(draw(st.lists(VALUES[field], min_size=2, max_size=2)))
    elif shape == "days":
        value = draw(st.integers(0, 8))
    elif shape == "month":
        value = draw(st.sampled_from([2, 3, 4]))
    elif shape == "month_day":
        value = draw(DAYS).strftime("%m-%d")
    return {"field": field, "op": op, **({} if shape == "none" else {"value": value})}


rule_trees = st.recursive(
    conditions(),
    lambda children: st.builds(
        lambda kind, items: {kind: items}, st.sampled_from(["all", "any", "none"]), st.lists(children, max_size=3)
    ),
    max_leaves=8,
).map(lambda tree: tree if any(kind in tree for kind in ("all", "any", "none")) else {"all": [tree]})


@st.composite
def synthetic_contacts(draw):
    attributes = {}
    for key, _kind, _phi, _ in ATTRIBUTES:
        if draw(st.booleans()):
            attributes[key] = draw(VALUES[f"attr.{key}"])
    return {
        "language": draw(VALUES["language"]),
        "time_zone": draw(VALUES["time_zone"]),
        "tags": dict.fromkeys(draw(st.lists(VALUES["tag"], max_size=3)), True),
        "created": draw(DAYS),
        "active": draw(DAYS),
        "attributes": attributes,
        "opened": draw(st.none() | MOMENTS),
        "clicked": draw(st.none() | MOMENTS),
    }


@pytest.fixture
def property_world(world):
    return world.a.tenant, _define_dictionary(world.a.tenant)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rules=st.lists(rule_trees, min_size=3, max_size=3),
    population=st.lists(synthetic_contacts(), min_size=10, max_size=40),
)
def test_compiled_query_equals_reference_evaluation(property_world, rules, population):
    tenant, dictionary = property_world
    with tenant_context(tenant):
        Contact.objects.for_tenant(tenant).delete()
    contacts = [_contact(tenant, dictionary, **fields) for fields in population]
    for tree in rules:
        assert validate_rules(tree, dictionary) == []
        compiled, reference = _matches(tenant, dictionary, tree, contacts)
        assert compiled == reference, tree

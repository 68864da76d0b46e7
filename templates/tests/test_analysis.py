"""Static analysis of merge fields: the listing is exact (a field is reported if and only if the
template reads it, and the PHI listing is exactly the PHI share of it), and what cannot be
followed is refused with a message naming the problem and its line."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.models import AttributeDefinition, AttributeType
from templates.analysis import analyse_parts, analyse_source
from templates.context import render_context
from templates.fields import BUILTIN_FIELDS, LIST_FIELDS, merge_fields
from templates.rendering import render_source
from tenants.context import tenant_context

BUILTIN = {field.name: field for field in BUILTIN_FIELDS}

# The organisation's data dictionary: PHI and non-PHI attributes of every type.
DICTIONARY = [
    ("diagnosis", AttributeType.CHOICE, True, ["code-1", "code-2"]),
    ("next_visit", AttributeType.DATE, True, []),
    ("care_note", AttributeType.TEXT, True, []),
    ("plan", AttributeType.CHOICE, False, ["Gold", "Silver"]),
    ("score", AttributeType.NUMBER, False, []),
    ("newsletter", AttributeType.BOOLEAN, False, []),
]


@pytest.fixture
def catalogue(world):
    tenant = world.a.tenant
    with tenant_context(tenant):
        for key, kind, phi, choices in DICTIONARY:
            AttributeDefinition.objects.create(
                tenant=tenant, key=key, label=key.title(), type=kind, is_phi=phi, choices=choices
            )
        return merge_fields(tenant=tenant)


def messages(source: str, catalogue=BUILTIN) -> list[str]:
    return [problem.message for problem in analyse_source("html_body", source, catalogue).problems]


# --- Generated templates: the listing is exact -----------------------------------------------------

_FILTERS = ["", "|upper", "|name", "|money", "|date", "|datetime", "|default('n/a')", "|e", "|trim", "|string"]
_WORDS = st.text(alphabet="abcdefghij KLMNOP.,:;!?-()<>/&'\"\n", max_size=12)


def _reference(name: str, style: int) -> str:
    """One field written in one of the syntaxes Jinja accepts for it."""
    root, _, rest = name.partition(".")
    return {0: name, 1: f"{root}['{rest}']", 2: f'{root}["{rest}"]', 3: f"({name})"}[style]


@st.composite
def _field_use(draw, names: list[str]) -> tuple[str, set[str]]:
    name = draw(st.sampled_from(names))
    ref = _reference(name, draw(st.integers(0, 3)))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return f"{{{{ {ref}{draw(st.sampled_from(_FILTERS))} }}}}", {name}
    if kind == 1:
        variable = f"v{draw(st.integers(0, 9))}"
        return f"{{% set {variable} = {ref} %}}{{{{ {variable}|string }}}}", {name}
    if kind == 2:
        return f"{{{{ 'x' if {ref} else 'y' }}}}", {name}
    return f"{{{{ {ref}|default('') ~ '!' }}}}", {name}


@st.composite
def _condition(draw, names: list[str]) -> tuple[str, set[str]]:
    name = draw(st.sampled_from(names))
    ref = _reference(name, draw(st.integers(0, 3)))
    form = draw(st.sampled_from(["{}", "not {}", "{} == 'x'", "{} is defined", "{}|string|length > 2"]))
    return form.format(ref), {name}


@st.composite
def _text(draw, names: list[str]) -> tuple[str, set[str]]:
    # Field names as plain text, or in comments and raw blocks, are not reads.
    word = draw(st.one_of(_WORDS, st.sampled_from(names)))
    wrapper = draw(st.sampled_from(["{}", "{{# {} #}}", "{{% raw %}}{{{{ {} }}}}{{% endraw %}}"]))
    return wrapper.format(word), set()


def _template(names: list[str]):
    leaf = st.one_of(_field_use(names), _text(names))

    def blocks(inner):
        sequence = st.lists(inner, max_size=4).map(
            lambda parts: ("".join(text for text, _ in parts), set().union(*(fields for _, fields in parts)))
        )

        @st.composite
        def if_block(draw):
            condition, used = draw(_condition(names))
            body, body_fields = draw(sequence)
            other, other_fields = draw(sequence)
            return (
                f"{{% if {condition} %}}{body}{{% else %}}{other}{{% endif %}}",
                used | body_fields | other_fields,
            )

        @st.composite
        def for_block(draw):
            body, body_fields = draw(sequence)
            items = _reference("event.items", draw(st.integers(0, 2)))
            return (
                f"{{% for item in {items} %}}{{{{ loop.index }}}}. {{{{ item.description }}}} "
                f"{{{{ item.amount|money }}}}{body}{{% if loop.last %}}.{{% endif %}}{{% endfor %}}",
                {"event.items"} | body_fields,
            )

        return st.one_of(sequence, if_block(), for_block())

    return st.recursive(leaf, blocks, max_leaves=12)


def test_generated_templates_list_exactly_their_fields(catalogue):
    names = sorted(name for name in catalogue if name not in LIST_FIELDS)
    assert {"attr.diagnosis", "attr.plan", "attr.care_note", "attr.score"} <= set(names)
    context = render_context(catalogue)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_template(names))
    def check(template):
        source, inserted = template
        analysis = analyse_source("html_body", source, catalogue)
        assert analysis.problems == [], source
        assert analysis.fields == inserted, source
        assert analysis.phi_fields(catalogue) == sorted(name for name in inserted if catalogue[name].phi)
        # What the analysis accepts renders (with the synthetic samples).
        render_source(source, context, html=True)

    check()


def test_dictionary_phi_flags_reach_the_listing(catalogue):
    source = "{{ attr.diagnosis }} {{ attr.plan }} {{ attr.score }} {{ attr.next_visit|date }} {{ org.name }}"
    analysis = analyse_source("html_body", source, catalogue)
    assert analysis.fields == {"attr.diagnosis", "attr.plan", "attr.score", "attr.next_visit", "org.name"}
    assert analysis.phi_fields(catalogue) == ["attr.diagnosis", "attr.next_visit"]


def test_parts_are_listed_together():
    analysis = analyse_parts(
        [("subject", "{{ org.name }}"), ("html_body", "{{ contact.email }}"), ("text_body", "{{ contact.ssn }}")],
        BUILTIN,
    )
    assert analysis.fields == {"org.name", "contact.email"}
    assert analysis.phi_fields(BUILTIN) == ["contact.email"]
    assert [(problem.part, problem.message) for problem in analysis.problems] == [
        ("text_body", "Unknown merge field “contact.ssn”.")
    ]


def test_a_field_read_through_an_alias_or_a_macro_is_listed():
    source = (
        "{% set who = contact.email %}{% macro greet(name=event.provider_name) %}{{ name }}{% endmacro %}"
        "{{ who }}{{ greet() }}{{ greet(contact.external_id) }}"
    )
    analysis = analyse_source("html_body", source, BUILTIN)
    assert analysis.problems == []
    assert analysis.fields == {"contact.email", "event.provider_name", "contact.external_id"}


# --- Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ contact.ssn }}", "Unknown merge field “contact.ssn”."),
        ("{{ patient.name }}", "Unknown merge field “patient.name”."),
        ("{{ contact.first_name.first }}", "Unknown merge field “contact.first_name.first”."),
        ("{{ item.description }}", "Unknown merge field “item.description”."),
    ],
)
def test_unknown_field_is_refused_with_its_name(source, message):
    assert messages(source) == [message]


def test_dictionary_attribute_of_another_catalogue_is_unknown(catalogue):
    assert messages("{{ attr.diagnosis }}") == ["Unknown merge field “attr.diagnosis”."]
    assert messages("{{ attr.diagnosis }}", catalogue) == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ contact }}", "“contact” on its own is not a field; use one such as contact.first_name."),
        ("{{ org|string }}", "“org” on its own is not a field; use one such as org.name."),
        ("{% set everything = event %}", "“event” on its own is not a field; use one such as event.appointment_at."),
        ("{{ [links][0].preferences }}", "“links” on its own is not a field; use one such as links.preferences."),
        ("{{ contact|attr('email') }}", "“contact” on its own is not a field; use one such as contact.first_name."),
    ],
)
def test_bare_root_is_refused(source, message):
    assert message in messages(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% set key = 'email' %}{{ contact[key] }}",
        "{{ contact['first' ~ '_name'] }}",
        "{{ event.items[0].description }}",
    ],
)
def test_computed_key_is_refused(source):
    assert "A field of “" in messages(source)[0]
    assert "is read with a computed key; name the field instead." in messages(source)[0]


@pytest.mark.parametrize(
    ("source", "root"),
    [
        ("{% set contact = 1 %}", "contact"),
        ("{% for org in event.items %}{% endfor %}", "org"),
        ("{% macro links() %}{% endmacro %}", "links"),
        ("{% with campaign = 1 %}{% endwith %}", "campaign"),
    ],
)
def test_reserved_name_assignment_is_refused(source, root):
    assert f"“{root}” is reserved for merge fields; use another name." in messages(source)


def test_syntax_error_names_its_line():
    problems = analyse_source("html_body", "line one\nline two\n{{ contact.first_name }\n", BUILTIN).problems
    assert [(problem.line, problem.message) for problem in problems] == [(3, "Template syntax error: unexpected '}'")]
    unclosed = analyse_source("subject", "a\n{% if contact.first_name %}\nb", BUILTIN).problems
    assert unclosed[0].part == "subject"
    assert unclosed[0].line == 3
    assert unclosed[0].message.startswith("Template syntax error: Unexpected end of template.")


def test_unknown_field_names_its_line():
    problems = analyse_source("html_body", "a\n\n{{ org.name }}\n{{ org.motto }}", BUILTIN).problems
    assert [(problem.line, problem.message) for problem in problems] == [(4, "Unknown merge field “org.motto”.")]


def test_loop_variables_and_loop_helpers_are_allowed():
    source = (
        "{% for item in event.items %}{{ loop.index }}/{{ loop.length }} {{ item.description }}"
        "{{ item.amount|money }}{{ loop.cycle('a', 'b') }}{% if loop.first %}first{% endif %}{% endfor %}"
        "{% for n in range(3) %}{{ n }}{% endfor %}"
    )
    analysis = analyse_source("html_body", source, BUILTIN)
    assert analysis.problems == []
    assert analysis.fields == {"event.items"}


@pytest.mark.parametrize(
    "source",
    [
        "{{ contact.first_name.upper() }}",
        "{{ contact['first_name'].replace('a', 'b') }}",
        "{{ org.name.format(contact.email) }}",
        "{{ event.items.append(1) }}",
        "{{ (contact.first_name ~ '').upper() }}",
    ],
)
def test_method_calls_on_fields_are_refused(source):
    assert "Only macros, range(), caller() and loop.cycle()/loop.changed() can be called." in messages(source)


def test_underscore_names_are_refused():
    assert "Names starting with “_” are not available (“__class__”)." in messages("{{ contact.email.__class__ }}")
    assert "Names starting with “_” are not available (“_secret”)." in messages("{% set _secret = 1 %}{{ _secret }}")


def test_trigger_payload_fields_are_merge_fields_with_their_phi_flags(world):
    """A journey's template reads its trigger's payload: every field of the organisation's
    trigger types is event.<key>, PHI as declared; another organisation's type is unknown."""
    from audit.services import actor_for_user
    from campaigns.triggers import trigger_type_create
    from tenants.roles import Role

    a = world.a
    with tenant_context(a.tenant):
        trigger_type_create(
            tenant=a.tenant,
            actor=actor_for_user(a.users[Role.ADMIN]),
            key="referral.received",
            label="Referral received",
            fields=[
                {"key": "referral_reason", "type": "text"},
                {"key": "clinic_code", "type": "choice", "choices": ["N1", "S2"], "is_phi": False},
                {"key": "seen_by", "type": "date"},
            ],
        )
        catalogue = merge_fields(tenant=a.tenant)
    source = "{{ event.referral_reason }} {{ event.clinic_code }} {{ event.seen_by|date }} {{ event.appointment_type }}"
    analysis = analyse_source("html_body", source, catalogue)
    assert analysis.problems == []
    assert analysis.phi_fields(catalogue) == ["event.appointment_type", "event.referral_reason", "event.seen_by"]
    render_source(source, render_context(catalogue), html=True)
    assert catalogue["event.appointment_at"].kind == "datetime"  # the built-in field keeps its definition
    with tenant_context(world.b.tenant):
        other = merge_fields(tenant=world.b.tenant)
    assert "event.referral_reason" not in other and "event.appointment_type" in other
    assert messages("{{ event.referral_reason }}", other) != []

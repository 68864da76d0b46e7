"""Rendering: the filters (recipient time zone with DST, money, names), the language a recipient
gets, the plain text generated from HTML, the compiled-template cache and rendering each
language of a saved version."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from templates import rendering
from templates.context import render_context
from templates.fields import BUILTIN_FIELDS, merge_fields
from templates.models import TemplateContent
from templates.rendering import compile_part, render_compiled, render_source
from templates.selectors import content_for_language, render_version, version_contents
from templates.services import ContentInput, template_create
from templates.tests.support import marketer
from templates.text import html_to_text
from tenants.context import tenant_context

CATALOGUE = {field.name: field for field in BUILTIN_FIELDS}


def render(source: str, *, zone: str | None = "UTC", **values) -> str:
    context = {"contact": {"time_zone": zone}, **values}
    return render_source(source, context, html=False)


# --- datetime: the recipient's time zone ---------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        # New York springs forward on 14 March 2027: 15:30 UTC is 10:30 EST the day before, 11:30 EDT after.
        (datetime(2027, 3, 13, 15, 30, tzinfo=UTC), "America/New_York", "Saturday 13 March 2027 at 10:30 AM"),
        (datetime(2027, 3, 14, 15, 30, tzinfo=UTC), "America/New_York", "Sunday 14 March 2027 at 11:30 AM"),
        # ... and falls back on 7 November.
        (datetime(2027, 11, 6, 15, 30, tzinfo=UTC), "America/New_York", "Saturday 6 November 2027 at 11:30 AM"),
        (datetime(2027, 11, 7, 15, 30, tzinfo=UTC), "America/New_York", "Sunday 7 November 2027 at 10:30 AM"),
        # Paris changes at 01:00 UTC on 28 March 2027.
        (datetime(2027, 3, 28, 0, 30, tzinfo=UTC), "Europe/Paris", "Sunday 28 March 2027 at 1:30 AM"),
        (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), "Europe/Paris", "Sunday 28 March 2027 at 3:30 AM"),
        # The local date can differ from the UTC one; midnight and noon are 12.
        (datetime(2027, 1, 1, 3, 0, tzinfo=UTC), "America/Los_Angeles", "Thursday 31 December 2026 at 7:00 PM"),
        (datetime(2027, 1, 1, 15, 0, tzinfo=UTC), "Asia/Tokyo", "Saturday 2 January 2027 at 12:00 AM"),
        (datetime(2027, 1, 1, 12, 5, tzinfo=UTC), "UTC", "Friday 1 January 2027 at 12:05 PM"),
    ],
)
def test_datetime_is_shown_in_the_contacts_time_zone(moment, zone, expected):
    assert render("{{ when|datetime }}", zone=zone, when=moment) == expected


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", None, "../../etc/passwd", "not a zone", 42])
def test_unknown_time_zone_falls_back_to_utc(zone):
    moment = datetime(2027, 3, 14, 15, 30, tzinfo=UTC)
    assert render("{{ when|datetime }}", zone=zone, when=moment) == "Sunday 14 March 2027 at 3:30 PM"


def test_datetime_without_a_contact_is_utc():
    moment = datetime(2027, 3, 14, 15, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert render_source("{{ when|datetime }}", {"when": moment}, html=False) == "Sunday 14 March 2027 at 2:30 PM"


def test_datetime_accepts_a_pattern_iso_text_and_dates():
    moment = datetime(2027, 7, 4, 18, 45, tzinfo=UTC)
    assert render("{{ when|datetime('%Y-%m-%d %H:%M %Z') }}", zone="America/Chicago", when=moment) == (
        "2027-07-04 13:45 CDT"
    )
    assert render("{{ when|datetime }}", zone="Europe/Paris", when="2027-07-04T18:45:00+00:00") == (
        "Sunday 4 July 2027 at 8:45 PM"
    )
    assert render("{{ when|datetime }}", when=date(2027, 7, 4)) == "Sunday 4 July 2027"
    assert render("{{ when|datetime }}", when="next Tuesday") == "next Tuesday"
    assert render("{{ when|datetime }}", when=None) == ""


_AWARE = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; values get UTC
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
_ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe"])


@given(_AWARE, _ZONES)
def test_default_datetime_pattern_matches_strftime(moment, zone):
    """The default patterns are formatted without strftime (for speed): same text."""
    expected = moment.astimezone(ZoneInfo(zone)).strftime("%A %-d %B %Y at %-I:%M %p")
    assert render("{{ when|datetime }}", zone=zone, when=moment) == expected


@given(st.dates(min_value=date(1, 1, 1)))
def test_default_date_pattern_matches_strftime(day):
    assert render("{{ day|date }}", day=day) == day.strftime("%A %-d %B %Y")


def test_date_filter():
    assert render("{{ day|date }}", day=date(2027, 2, 28)) == "Sunday 28 February 2027"
    assert render("{{ day|date('%d/%m/%Y') }}", day=date(2027, 2, 28)) == "28/02/2027"
    assert render("{{ day|date }}", day="2027-02-28T10:00:00") == "Sunday 28 February 2027"
    assert render("{{ day|date }}", day="soon") == "soon"
    assert render("{{ day|date }}", day=None) == ""


# --- money and name ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("42.5"), None, "$42.50"),
        (Decimal("1234567.891"), None, "$1,234,567.89"),
        (0, None, "$0.00"),
        (-3, None, "-$3.00"),
        (Decimal("-0.001"), None, "$0.00"),
        (12.1, None, "$12.10"),
        ("99.999", None, "$100.00"),
        ("7", "eur", "€7.00"),
        (Decimal("1500"), "GBP", "£1,500.00"),
        (Decimal("5"), "CAD", "CA$5.00"),
        (Decimal("5"), "CHF", "CHF 5.00"),
        ("n/a", None, "n/a"),
        (None, None, ""),
    ],
)
def test_money(value, currency, expected):
    source = "{{ amount|money }}" if currency is None else f"{{{{ amount|money('{currency}') }}}}"
    assert render(source, amount=value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("avery sampleton", "Avery Sampleton"),
        ("  mary   o'neil ", "Mary O'neil"),
        ("McDonald", "McDonald"),
        ("élodie de la tour", "Élodie De La Tour"),
        ("", ""),
        (None, ""),
    ],
)
def test_name(value, expected):
    assert render("{{ who|name }}", who=value) == expected


# --- language --------------------------------------------------------------------------------------


def _contents(*languages: str) -> dict[str, TemplateContent]:
    return {language: TemplateContent(language=language, subject=language) for language in languages}


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [
        ("pt-BR", "pt-BR"),
        ("pt-PT", "pt"),
        ("pt_BR", "pt"),
        ("pt", "pt"),
        (" es ", "es"),
        ("de", "en"),
        ("de-AT", "en"),
        ("", "en"),
    ],
)
def test_language_with_fallback(wanted, chosen):
    contents = _contents("en", "es", "pt", "pt-BR")
    assert content_for_language(contents, wanted, "en").language == chosen


def test_language_falls_back_to_the_base_language_then_the_default():
    contents = _contents("en", "pt")
    assert content_for_language(contents, "pt-BR", "en").language == "pt"
    assert content_for_language(_contents("en", "es"), "pt-BR", "en").language == "en"


# --- plain text from HTML --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<h1>Hello</h1><p>First   para\n graph</p><p>Second</p>", "Hello\n\nFirst para graph\n\nSecond\n"),
        ("<p>a<br>b<br/>c</p>", "a\nb\nc\n"),
        ("<ul><li>One</li><li>Two <b>bold</b></li></ul><p>after</p>", "- One\n- Two bold\n\nafter\n"),
        (
            '<p><a href="https://x.example/p">Preferences</a> and <a href="https://x.example">https://x.example</a>'
            ' <a href="mailto:a@b.example">mail</a> <a href="#top">top</a></p>',
            "Preferences (https://x.example/p) and https://x.example mail top\n",
        ),
        ('<p><img src="x.png" alt="Logo"> <img src="y.png"></p>', "Logo\n"),
        (
            "<html><head><title>T</title><style>p{color:red}</style></head>"
            "<body><script>alert(1)</script><p>Body &amp; soul &lt;3</p></body></html>",
            "Body & soul <3\n",
        ),
        (
            "<table><tr><td>Item</td><td>$1.00</td></tr><tr><td>Other</td><td>$2.00</td></tr></table>",
            "Item $1.00\n\nOther $2.00\n",
        ),
        ("", ""),
        ("  \n ", ""),
        ("plain text", "plain text\n"),
    ],
)
def test_generated_plain_text(html, text):
    assert html_to_text(html) == text


def test_generated_text_keeps_merge_tags_renderable():
    html = '<p>Hello {{ contact.first_name|name }},</p><p><a href="{{ links.preferences }}">Preferences</a></p>'
    text = html_to_text(html)
    assert text == "Hello {{ contact.first_name|name }},\n\nPreferences ({{ links.preferences }})\n"
    rendered = render_source(text, render_context(CATALOGUE), html=False)
    # (Jinja drops the one final newline of a template.)
    assert rendered == "Hello Avery,\n\nPreferences (https://sealpost.example/r/preferences/…)"


# --- compiled once ---------------------------------------------------------------------------------


def test_compiled_once_per_key_and_source():
    key = ("version-cache-test", "en", "html_body")
    first = compile_part(cache_key=key, source="<p>{{ org.name }}</p>", html=True)
    assert compile_part(cache_key=key, source="<p>{{ org.name }}</p>", html=True) is first
    # A draft edited in place (same key, new source) is compiled afresh, never served stale.
    edited = compile_part(cache_key=key, source="<p>{{ campaign.name }}</p>", html=True)
    assert edited is not first
    context = render_context(CATALOGUE)
    assert render_compiled(edited, context) == "<p>December reminders</p>"
    # HTML and text compilations of one source are distinct (autoescaping differs).
    text = compile_part(cache_key=key, source="<p>{{ org.name }}</p>", html=False)
    assert text is not first
    assert render_compiled(text, {"org": {"name": "A & B"}}) == "<p>A & B</p>"
    assert render_compiled(first, {"org": {"name": "A & B"}}) == "<p>A &amp; B</p>"


def test_compile_error_is_a_render_error():
    with pytest.raises(rendering.RenderError, match="The template does not compile"):
        compile_part(cache_key=("broken", "en", "subject"), source="{{ org.name }", html=False)


def test_one_compiled_template_renders_many_contexts():
    template = compile_part(cache_key=("many", "en", "html_body"), source="{{ contact.first_name|name }}", html=True)
    names = [f"person {n}" for n in range(50)]
    assert [render_compiled(template, {"contact": {"first_name": name}}) for name in names] == [
        name.title() for name in names
    ]


# --- rendering each language of a saved version ---------------------------------------------------


@pytest.mark.django_db
def test_render_each_language(world):
    tenant = world.a.tenant
    body = "<p>{greeting} {{{{ contact.first_name|name }}}}: {{{{ event.appointment_at|datetime }}}}</p>"
    contents = [
        ContentInput(language="en", subject="Reminder from {{ org.name }}", html_body=body.format(greeting="Hello")),
        ContentInput(language="es", subject="Recordatorio de {{ org.name }}", html_body=body.format(greeting="Hola")),
        ContentInput(
            language="pt",
            subject="Lembrete de {{ org.name }}",
            html_body=body.format(greeting="Olá"),
            text_body="Olá {{ contact.first_name|name }}",
        ),
    ]
    moment = datetime(2027, 3, 14, 15, 30, tzinfo=UTC)
    with tenant_context(tenant):
        version = template_create(
            tenant=tenant, user=marketer(world.a), name="Multi", purpose="appointment_reminders", contents=contents
        )
        stored = version_contents(tenant=tenant, version=version)
        context = render_context(
            merge_fields(tenant=tenant),
            values={
                "contact.first_name": "zoë",
                "contact.time_zone": "America/Sao_Paulo",
                "event.appointment_at": moment,
            },
        )
        rendered = {
            wanted: render_version(contents=stored, version=version, language=wanted, context=context)
            for wanted in ("en", "es", "pt-BR", "fr", "")
        }
    assert {wanted: message.language for wanted, message in rendered.items()} == {
        "en": "en",
        "es": "es",
        "pt-BR": "pt",
        "fr": "en",
        "": "en",
    }
    assert rendered["en"].subject == "Reminder from Sunrise Family Clinic"
    assert rendered["es"].subject == "Recordatorio de Sunrise Family Clinic"
    assert rendered["pt-BR"].subject == "Lembrete de Sunrise Family Clinic"
    # São Paulo has no DST: UTC-3.
    assert rendered["es"].html == "<p>Hola Zoë: Sunday 14 March 2027 at 12:30 PM</p>"
    # The text body was generated from the HTML where the author wrote none.
    assert rendered["en"].text == "Hello Zoë: Sunday 14 March 2027 at 12:30 PM"
    assert rendered["pt-BR"].text == "Olá Zoë"


@pytest.mark.django_db
def test_saved_version_is_compiled_once_per_part(world, monkeypatch):
    tenant = world.a.tenant
    with tenant_context(tenant):
        version = template_create(
            tenant=tenant,
            user=marketer(world.a),
            name="Cached",
            purpose="appointment_reminders",
            contents=[ContentInput(language="en", subject="Hi {{ org.name }}", html_body="<p>{{ org.name }}</p>")],
        )
        stored = version_contents(tenant=tenant, version=version)
        compiled: list[tuple] = []
        original = rendering.html_environment().from_string

        def counting_from_string(source, *args, **kwargs):
            compiled.append(source)
            return original(source, *args, **kwargs)

        monkeypatch.setattr(rendering.html_environment(), "from_string", counting_from_string)
        context = render_context(merge_fields(tenant=tenant))
        for n in range(5):
            context["org"]["name"] = f"Clinic {n}"
            message = render_version(contents=stored, version=version, language="en", context=context)
            assert message.html == f"<p>Clinic {n}</p>"
    assert compiled == ["<p>{{ org.name }}</p>"]


def test_render_is_fast_enough_for_a_loop_of_items():
    """Not a benchmark (``make bench`` measures): a sanity check that a line-item loop with the
    money filter renders correctly for many contexts."""
    template = compile_part(
        cache_key=("items", "en", "html_body"),
        source="{% for item in event.items %}{{ item.description }}={{ item.amount|money }};{% endfor %}",
        html=True,
    )
    start = datetime(2027, 1, 1, tzinfo=UTC)
    for n in range(200):
        items = [{"description": f"<{k}>", "amount": Decimal(n) + k} for k in range(5)]
        context = {"event": {"items": items, "appointment_at": start + timedelta(days=n)}}
        expected = "".join(f"&lt;{k}&gt;=${n + k}.00;" for k in range(5))
        assert render_compiled(template, context) == expected

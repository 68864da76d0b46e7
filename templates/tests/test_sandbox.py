"""The template sandbox under attack: every known escape and resource bomb ends in a
``RenderError`` whose message holds no value and no internals, quickly; the static analysis
refuses the same sources at save time; autoescaping and subject handling keep merge values from
changing the message's structure.

The renderer is tested directly (``render_source``), as if analysis had been bypassed: the
sandbox must hold on its own.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from templates import rendering
from templates.analysis import analyse_source
from templates.context import render_context
from templates.fields import BUILTIN_FIELDS
from templates.models import TemplateContent
from templates.preview import render_preview
from templates.rendering import RenderError, RenderLimitExceeded, render_source
from templates.selectors import render_content
from templates.services import ContentInput
from tenants.context import tenant_context

CATALOGUE = {field.name: field for field in BUILTIN_FIELDS}
SECRET = "Zebulon-PHI-7731"  # a recognisable PHI value: must never appear in an error
# A generous bound for "never a hang" on a busy 2-core CI machine; the limits themselves are
# asserted through their error messages, not through durations.
NO_HANG_SECONDS = 10


def _context() -> dict:
    return render_context(
        CATALOGUE,
        values={
            "contact.first_name": SECRET,
            "contact.email": f"{SECRET}@example.com",
            "event.items": [{"description": SECRET, "amount": Decimal("1.00")}],
        },
    )


@pytest.fixture
def short_time_limit(monkeypatch):
    """A 0.1-second render limit keeps the time-limit tests fast (the real one is 0.5 s)."""
    monkeypatch.setattr(rendering, "MAX_RENDER_SECONDS", 0.1)


SANDBOX = "Refused by the sandbox"
UNSAFE = "is unsafe"
NO_CALLS = "Only macros, range and the loop helpers may be called"
TOO_LONG_VALUE = "A value would be longer than"
REPEATED = "A repeated string or list would be too long"
OUTPUT = "The output is longer than 500,000 characters"
TIME = "Rendering took longer than"

# (source, a fragment the error message must contain)
ESCAPES = [
    # Python internals
    ("{{ ''.__class__.__mro__ }}", UNSAFE),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", UNSAFE),
    ("{{ x.__globals__ }}", "'x' is undefined"),
    ("{{ range.__globals__ }}", UNSAFE),
    ("{{ range.__closure__ }}", UNSAFE),
    ("{{ cycler.__init__.__globals__ }}", UNSAFE),
    ("{{ joiner.__init__.__globals__.os }}", UNSAFE),
    ("{{ lipsum.__globals__ }}", "'lipsum' is undefined"),
    ("{{ lipsum(10**6) }}", NO_CALLS),
    ("{{ namespace(a=1) }}", NO_CALLS),
    ("{{ dict(a=contact) }}", NO_CALLS),
    ("{{ self._TemplateReference__context }}", UNSAFE),
    ("{{ self.__init__.__globals__ }}", UNSAFE),
    ("{{ request }}", "'request' is undefined"),
    ("{{ config }}", "'config' is undefined"),
    ("{{ settings.SECRET_KEY }}", "'settings' is undefined"),
    ("{{ ''|attr('__class__') }}", UNSAFE),
    ("{{ contact|attr('__class__') }}", UNSAFE),
    ("{{ [contact]|selectattr('__class__')|list }}", UNSAFE),
    ("{{ [1, 2]|sort(attribute='__class__') }}", UNSAFE),
    # str.format and the format filter
    ("{{ '{0.__class__}'.format('') }}", NO_CALLS),
    ("{{ '{0.__class__.__init__.__globals__}'.format(contact) }}", NO_CALLS),
    ("{{ 'x'.format_map(contact) }}", NO_CALLS),
    ("{{ '%s'|format(''.__class__) }}", UNSAFE),
    ("{{ '%s'|format(range.__globals__) }}", UNSAFE),
    ("{{ '%s %s'|format(cycler) }}", "'cycler' is undefined"),
    ("{{ '%0999999999d'|format(1) }}", "The format filter would build more than"),
    ("{{ '%*d'|format(999999999, 1) }}", "The format filter would build more than"),
    ("{{ '%.*f'|format(999999999, 1.5) }}", "The format filter would build more than"),
    ("{{ '%c'|format(1114112) }}", "OverflowError"),
    # Method calls, which could build anything
    ("{{ 'x'.ljust(10**9) }}", NO_CALLS),
    ("{{ 'x'.center(10**9) }}", NO_CALLS),
    ("{{ 'x'.zfill(10**9) }}", NO_CALLS),
    ("{{ '\t'.expandtabs(10**9) }}", NO_CALLS),
    ("{{ '{:>999999999}'.format(1) }}", NO_CALLS),
    ("{{ contact.get('first_name') }}", NO_CALLS),
    ("{{ contact.items() }}", NO_CALLS),
    # Ranges, repetition, powers
    ("{{ range(10**9) }}", "A range has at most 10000 items"),
    ("{% for i in range(100000000) %}{% endfor %}", "A range has at most 10000 items"),
    ("{{ 'a' * 10**9 }}", REPEATED),
    ("{{ 10**9 * 'a' }}", REPEATED),
    ("{{ [1] * 10**9 }}", REPEATED),
    ("{{ (1,) * 10**9 }}", REPEATED),
    ("{{ ('a' * 1000) * 1000 }}", REPEATED),
    ("{{ 9**(9**9) }}", "The power is too large"),
    ("{{ (2**100)**100 }}", "more than 1024 bits"),
    ("{% set n = 2**100 %}{{ n * n * n * n * n * n * n * n * n * n * n }}", "more than 1024 bits"),
    ("{{ 1.5**99 ** 99 }}", "OverflowError"),
    # Values built by joining and filters
    ("{{ 'x' * 400000 ~ 'y' * 400000 }}", TOO_LONG_VALUE),
    ("{% set a = 'x' * 400000 %}{% set b = a ~ a %}{{ b|length }}", TOO_LONG_VALUE),
    ("{{ 'x' * 400000 + 'y' * 400000 }}", TOO_LONG_VALUE),
    ("{{ 'x'|center(10**9) }}", "The center filter would build more than"),
    ("{{ ('x\n' * 1000)|indent(10**6) }}", "The indent filter would build more than"),
    ("{{ 'a'|replace('a', 'a' * 100000)|replace('a', 'a' * 100000) }}", "The replace filter would build more than"),
    ("{{ range(10000)|join('x' * 1000) }}", "The join filter would build more than"),
    ("{{ ('x' * 100000)|wordwrap(1, true, 'y' * 1000) }}", "The wordwrap filter would build more than"),
    ("{{ [1]|batch(10**9, 0)|list }}", "The batch filter would build more than"),
    ("{{ [1]|slice(10**9, 0)|list }}", "The slice filter would build more than"),
    ("{{ range(10)|map('center', 10**9)|list }}", "The center filter would build more than"),
    # Output size
    ("{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}", OUTPUT),
    # (Chunks of 100 characters: the size limit comes in milliseconds, long before the time limit,
    # even on a slow machine.)
    ("{% for i in range(10000) %}{% for j in range(10000) %}{{ 'x' * 100 }}{% endfor %}{% endfor %}", OUTPUT),
    # Recursion
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "RecursionError"),
    # No loader: nothing outside the template can be reached
    ("{% include 'base.html' %}", "TypeError"),
    ("{% import 'macros.html' as m %}", "TypeError"),
    ("{% from 'macros.html' import m %}", "TypeError"),
    ("{% extends '/etc/passwd' %}", "TypeError"),
    # Mutation: the immutable sandbox refuses, and so do the call rules
    ("{% set x = [] %}{{ x.append(1) }}", NO_CALLS),
    ("{% set d = {} %}{% set _ = d.update({'a': 1}) %}", NO_CALLS),
    ("{{ contact.update(first_name='x') }}", NO_CALLS),
    ("{{ event['items'].append(1) }}", NO_CALLS),
    ("{{ event['items'].pop() }}", NO_CALLS),
    ("{{ event['items'].clear() }}", NO_CALLS),
]

# Loops and recursion that print nothing: only the time limit can stop them (read by every loop
# iteration and every call, not only when output is produced).
SLOW = [
    "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
    "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    # No call at all (only the loop guard reads the clock): 10**10 silent iterations.
    "{% for a in 'x' * 100000 %}{% for b in 'y' * 100000 %}{% endfor %}{% endfor %}",
    "{% for a in event['items'] * 100000 %}{% for b in event['items'] * 100000 %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% macro f(n) %}{% if n %}{% set a = f(n - 1) %}{% set b = f(n - 1) %}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% for a in range(10000) %}{% for b in range(10000) %}{{ '' }}{% endfor %}{% endfor %}",
]


def _assert_safe_error(error: RenderError) -> None:
    message = str(error)
    assert SECRET not in message
    assert not re.search(r"0x[0-9a-f]{6,}|<function|<class|\{'|Traceback", message), message
    # The Jinja/Python exception is not chained: nothing else reaches a log or a response.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize("html", [True, False], ids=["html", "text"])
@pytest.mark.parametrize(("source", "expected"), ESCAPES)
def test_escape_attempt_fails_safely(source, expected, html):
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_source(source, _context(), html=html)
    assert time.monotonic() - started < NO_HANG_SECONDS
    assert expected in str(caught.value)
    _assert_safe_error(caught.value)


_VALUES = [
    "contact.first_name",
    "event.items",
    "event.amount_due",
    "event.due_date",
    "event.appointment_at",
    "none",
    "3",
    "-1",
    "'<b>'",
    "[1, 'a', none]",
    "{'a': 1}",
    "range(5)",
    "1.5",
]
_ARGUMENTS = ["", "0", "-1", "10**6", "'x'", "none", "true", "'__class__'", "'upper'", "[1]", "'%s'", "2, 3"]
_FILTERS = sorted(name for name in rendering.html_environment().filters if not name.startswith("_"))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(_VALUES),
    st.lists(st.tuples(st.sampled_from(_FILTERS), st.sampled_from(_ARGUMENTS)), min_size=1, max_size=3),
    st.booleans(),
)
def test_any_filter_chain_renders_or_fails_with_a_render_error(value, chain, html):
    """Whatever a filter is given (``3|dictsort``, ``truncate(0)``...), the result is output or a
    ``RenderError``: never another exception, which would be a server error."""
    source = "{{ " + value + "".join(f"|{name}({arguments})" if arguments else f"|{name}" for name, arguments in chain)
    try:
        render_source(source + " }}", _context(), html=html)
    except RenderError as error:
        _assert_safe_error(error)


@pytest.mark.parametrize("source", ["{{ 3|dictsort }}", "{{ 'abc'|truncate(0) }}", "{{ none|list }}"])
def test_filter_misuse_is_a_render_error(source):
    with pytest.raises(RenderError, match=r"The template failed: \w+"):
        render_source(source, _context(), html=True)


@pytest.mark.parametrize("source", SLOW)
def test_long_running_template_stops_at_the_time_limit(source, short_time_limit):
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded, match=TIME):
        render_source(source, _context(), html=True)
    assert time.monotonic() - started < NO_HANG_SECONDS


def test_the_real_time_limit_stops_a_silent_loop():
    started = time.monotonic()
    with pytest.raises(RenderLimitExceeded, match=r"Rendering took longer than 0\.5 seconds"):
        render_source(SLOW[1], _context(), html=False)
    assert time.monotonic() - started < NO_HANG_SECONDS


def test_the_time_limit_is_per_render(short_time_limit):
    """The deadline belongs to one render: the next one starts afresh (nothing leaks across
    renders through the context variable)."""
    with pytest.raises(RenderLimitExceeded):
        render_source(SLOW[0], _context(), html=True)
    assert render_source("{% for i in range(100) %}{{ i }}{% endfor %}", _context(), html=True).startswith("0123")
    assert rendering._deadline.get() == float("inf")


def test_huge_output_stops_at_the_size_limit():
    source = "{% for i in range(5000) %}{{ contact.first_name }}{{ 'x' * 90 }}{% endfor %}"
    with pytest.raises(RenderLimitExceeded, match=OUTPUT) as caught:
        render_source(source, _context(), html=True)
    _assert_safe_error(caught.value)
    # Just under the limit renders.
    fits = "{% for i in range(4900) %}{{ 'x' * 100 }}{% endfor %}"
    assert len(render_source(fits, _context(), html=True)) == 490_000


def test_output_is_checked_every_few_values_not_after_building_it_all():
    """Output pieces are joined into chunks of at most ``OUTPUT_GROUP`` pieces: a long run of
    large values between two tags is stopped after a few, not built whole in memory first."""
    value = "<" * 300_000  # 1.2 million characters once escaped
    tracemalloc.start()
    try:
        with pytest.raises(RenderLimitExceeded, match=OUTPUT):
            render_source("{{ v }}" * 200, {"v": value}, html=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Built whole, 200 escaped copies would take 240 MB; a chunk of 8 takes about 10 MB.
    assert peak < 60_000_000


def test_left_associative_power_is_small_and_renders():
    # Jinja's ** is left-associative: 9**9**9 is (9**9)**9, a 78-digit number, not 9**(9**9).
    assert render_source("{{ 9**9**9 }}", {}, html=False) == str((9**9) ** 9)


def test_mutation_attempts_leave_the_merge_values_untouched():
    context = _context()
    for source in ("{{ event['items'].append(1) }}", "{{ contact.update(first_name='x') }}"):
        with pytest.raises(RenderError):
            render_source(source, context, html=True)
    assert context["event"]["items"] == [{"description": SECRET, "amount": Decimal("1.00")}]
    assert context["contact"]["first_name"] == SECRET


def test_allowed_helpers_still_work():
    source = (
        "{% macro row(text) %}<td>{{ text }}{{ caller() }}</td>{% endmacro %}"
        "{% for item in event.items %}{{ loop.index }}{{ loop.cycle('a', 'b') }}{{ loop.changed(item) }}"
        "{% call row(item.description) %}!{% endcall %}{% endfor %}"
        "{% block b %}B{% endblock %}{{ self.b() }}{{ range(3)|join(',') }}"
    )
    assert render_source(source, _context(), html=True) == f"1aTrue<td>{SECRET}!</td>BB0,1,2"


# What the analysis can see without running anything: names, underscores, calls and loaders.
# (Sizes, ranges and powers are only known when rendering: the sandbox alone stops those.)
STATICALLY_REFUSED = [
    source
    for source, expected in ESCAPES
    if expected in (NO_CALLS, "TypeError") or "is undefined" in expected or (expected == UNSAFE and "|" not in source)
]


def test_the_statically_refused_share_of_the_corpus_is_large():
    assert len(STATICALLY_REFUSED) >= 35


@pytest.mark.parametrize("source", STATICALLY_REFUSED)
def test_analysis_refuses_the_escape_corpus_at_save_time(source):
    """Defence in depth: what the sandbox refuses, saving refuses first, with a message."""
    analysis = analyse_source("html_body", source, CATALOGUE)
    assert analysis.problems, source
    assert not analysis.fields - set(CATALOGUE)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ ''.__class__ }}", "Names starting with “_” are not available (“__class__”)."),
        ("{{ event.items[0]['__len__'] }}", "Names starting with “_” are not available (“__len__”)."),
        ("{{ 'x'.upper() }}", "Only macros, range(), caller() and loop.cycle()/loop.changed() can be called."),
        ("{% include 'x' %}", "Templates stand alone: include, import and extends are not available."),
        ("{% extends 'x' %}", "Templates stand alone: include, import and extends are not available."),
        ("{% from 'x' import y %}", "Templates stand alone: include, import and extends are not available."),
        ("{{ request }}", "Unknown merge field “request”."),
        ("{{ cycler.__init__.__globals__ }}", "Unknown merge field “cycler.__init__.__globals__”."),
    ],
)
def test_analysis_names_the_problem(source, message):
    messages = [problem.message for problem in analyse_source("html_body", source, CATALOGUE).problems]
    assert message in messages


@pytest.mark.django_db
def test_preview_never_raises_for_the_corpus(world, short_time_limit):
    """The editor's preview (``render_preview``) turns every failure into a per-part error: a
    hostile template is a message in the editor, never a server error."""
    tenant = world.a.tenant
    sources = [source for source, _ in ESCAPES] + SLOW
    with tenant_context(tenant):
        for source in sources:
            content = ContentInput(language="en", subject="Hi", html_body=source, text_body="plain")
            result = render_preview(
                tenant=tenant,
                purpose="appointment_reminders",
                content=content,
                catalogue=CATALOGUE,
                values={"contact.first_name": SECRET},
            )
            assert "html_body" in result.errors, source
            assert SECRET not in result.errors["html_body"]
            assert not result.ok


# --- Autoescaping and headers ------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script> "onmouseover="steal()" </a><a href="https://evil.example">'


def _content(**parts) -> TemplateContent:
    values = {"language": "en", "subject": "Hi", "preheader": "", "html_body": "<p></p>", "text_body": "", **parts}
    return TemplateContent(**values)


def test_merge_values_are_escaped_in_html_but_not_in_text():
    context = render_context(CATALOGUE, values={"contact.first_name": HOSTILE, "event.provider_name": HOSTILE})
    content = _content(
        html_body='<p>{{ contact.first_name }}</p><a title="{{ event.provider_name }}" href="{{ links.preferences }}">x</a>',
        text_body="{{ contact.first_name }}",
    )
    message = render_content(content, context, version_key="escape-test")
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "&#34;onmouseover=&#34;steal()&#34;" in message.html
    assert "&lt;/a&gt;&lt;a href=&#34;https://evil.example&#34;&gt;" in message.html
    assert message.html.count("<a ") == 1 and message.html.count("</a>") == 1
    assert message.text == HOSTILE


def test_macro_output_is_not_escaped_twice_but_its_arguments_are():
    source = "{% macro bold(text) %}<b>{{ text }}</b>{% endmacro %}{{ bold(contact.first_name) }}"
    context = render_context(CATALOGUE, values={"contact.first_name": "<i>A & B</i>"})
    assert render_source(source, context, html=True) == "<b>&lt;i&gt;A &amp; B&lt;/i&gt;</b>"


def test_numbers_and_other_values_are_escaped_like_markupsafe():
    context = {"n": 5, "d": Decimal("2.50"), "b": True, "none": None, "l": ["<x>"]}
    html = render_source("{{ n }}|{{ d }}|{{ b }}|{{ none }}|{{ l }}", context, html=True)
    assert html == f"5|2.50|True|None|{escape(['<x>'])}"


@given(st.text())
def test_fast_output_escape_matches_markupsafe(value):
    assert rendering._output_escape(value) == str(escape(value))
    assert render_source("{{ v }}", {"v": value}, html=True) == str(escape(value))


@pytest.mark.parametrize(
    "injected",
    [
        "Avery\r\nBcc: everyone@example.com",
        "Avery\nContent-Type: text/html",
        "Avery\rX-Injected: 1",
        "Avery\u2028Bcc: a@example.com",
        "Avery\x85Bcc: a@example.com",
        "\n\nAvery\t\t",
    ],
)
def test_subject_and_preheader_never_contain_line_breaks(injected):
    context = render_context(CATALOGUE, values={"contact.first_name": injected})
    content = _content(
        subject="Hello {{ contact.first_name }}\n{% if true %}\nsoon{% endif %}",
        preheader="{{ contact.first_name }}\r\nsee you",
    )
    message = render_content(content, context, version_key="header-test")
    for header in (message.subject, message.preheader):
        assert not any(character in header for character in "\r\n\x0b\x0c\x85\u2028\u2029"), header
        assert "  " not in header
    assert message.subject.startswith("Hello Avery")
    assert message.subject.endswith("soon")


def test_subject_is_not_html_escaped():
    context = render_context(CATALOGUE, values={"contact.first_name": "Tom & <Jerry>"})
    message = render_content(_content(subject="Hi {{ contact.first_name }}"), context, version_key="subject-amp")
    assert message.subject == "Hi Tom & <Jerry>"

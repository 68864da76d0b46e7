"""The diff between versions: line diffs with context and gaps, per language and part, fields
and PHI fields added or removed, the default pair, and the page that shows it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from templates.diff import DiffLine, default_pair, line_diff, version_diff
from templates.services import ContentInput, draft_for_editing, draft_save, version_approve, version_submit
from templates.tests.support import REMINDER_HTML, make_template
from tenants.context import tenant_context
from tenants.roles import Role


def test_equal_texts_have_no_diff():
    assert line_diff("a\nb\n", "a\nb") == []


def test_changed_line_is_removed_then_added_with_numbers():
    assert line_diff("one\ntwo\nthree", "one\n2\nthree") == [
        DiffLine("context", "one", 1, 1),
        DiffLine("removed", "two", old_number=2),
        DiffLine("added", "2", new_number=2),
        DiffLine("context", "three", 3, 3),
    ]


def test_far_apart_changes_are_separated_by_gaps():
    old = [f"line {n}" for n in range(1, 21)]
    new = list(old)
    new[1], new[17] = "changed 2", "changed 18"
    lines = line_diff("\n".join(old), "\n".join(new), context=2)
    kinds = [line.kind for line in lines]
    # Lines 1-4 around the first change, a gap, lines 16-20 around the second.
    before, after = ["context", "removed", "added", "context", "context"], ["context", "context", "removed", "added"]
    assert kinds == [*before, "gap", *after, "context", "context"]
    assert [line.sign for line in lines if line.kind in ("added", "removed")] == ["-", "+", "-", "+"]
    assert lines[-1].new_number == 20 and lines[-1].old_number == 20


def test_a_trailing_gap_marks_unchanged_lines_left_out_at_the_end():
    old = "\n".join(f"line {n}" for n in range(1, 11))
    new = old.replace("line 1\n", "first\n", 1)
    lines = line_diff(old, new, context=1)
    assert [line.kind for line in lines] == ["removed", "added", "context", "gap"]


def test_added_text_from_nothing():
    assert line_diff("", "hello\nworld") == [
        DiffLine("added", "hello", new_number=1),
        DiffLine("added", "world", new_number=2),
    ]


@pytest.fixture
def versions(world):
    """v1 approved (English); v2 in review: subject and body changed, Spanish added, the provider
    (PHI) replaced by the location (PHI) and the preferences link dropped."""
    a = world.a
    marketer, officer = a.users[Role.MARKETER], a.users[Role.COMPLIANCE_OFFICER]
    v1 = make_template(a.tenant, marketer)
    html = REMINDER_HTML.replace("{{ event.provider_name }}", "{{ event.location }}").replace(
        '<p><a href="{{ links.preferences }}">Preferences</a></p>', ""
    )
    with tenant_context(a.tenant):
        version_submit(tenant=a.tenant, user=marketer, version=v1)
        version_approve(tenant=a.tenant, user=officer, version=v1)
        v2 = draft_for_editing(tenant=a.tenant, user=marketer, template=v1.template)
        v2 = draft_save(
            tenant=a.tenant,
            user=marketer,
            version=v2,
            default_language="en",
            contents=[
                ContentInput(language="en", subject="Reminder from {{ org.name }}", html_body=html),
                ContentInput(language="es", subject="Recordatorio", html_body="<p>Hola {{ contact.first_name }}</p>"),
            ],
        )
        v2 = version_submit(tenant=a.tenant, user=marketer, version=v2)
    return v1, v2


@pytest.mark.django_db
def test_version_diff_per_language_part_and_fields(world, versions):
    v1, v2 = versions
    with tenant_context(world.a.tenant):
        diff = version_diff(tenant=world.a.tenant, old=v1, new=v2)
    assert [(language.language, language.state) for language in diff.languages] == [("en", "changed"), ("es", "added")]
    english = {part.part: part for part in diff.languages[0].parts}
    assert [(line.kind, line.text) for line in english["subject"].lines] == [
        ("removed", "Your appointment at {{ org.name }}"),
        ("added", "Reminder from {{ org.name }}"),
    ]
    assert english["html_body"].changed and not english["preheader"].changed
    assert english["text_body"].changed  # generated from the HTML, so it follows the HTML
    assert diff.fields_added == ["event.location"]
    assert diff.fields_removed == ["event.provider_name", "links.preferences"]
    assert diff.phi_added == ["event.location"] and diff.phi_removed == ["event.provider_name"]
    assert diff.has_changes and not diff.default_language_changed


@pytest.mark.django_db
def test_default_pair_is_the_version_in_review_against_the_last_approved(world, versions):
    v1, v2 = versions
    with tenant_context(world.a.tenant):
        draft = draft_for_editing(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], template=v1.template)
    # v3 is a newer draft, but the version under review is what a reviewer compares.
    old, new = default_pair([draft, v2, v1])
    assert (old.number, new.number) == (1, 2)
    assert default_pair([v1]) == (None, v1)
    assert default_pair([]) == (None, None)


def _rows(body: str) -> list[str]:
    """Diff table rows as text: sign and line, tags stripped."""
    rows = re.findall(r'<tr class="diff-(added|removed|context)">(.*?)</tr>', body, re.S)
    return [f"{kind}:" + " ".join(re.sub(r"<[^>]+>", " ", cells).split()) for kind, cells in rows]


@pytest.mark.django_db
def test_diff_page_shows_signed_lines_and_field_changes(world, login, versions):
    v1, _ = versions
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    response = client.get(reverse("templates:template_diff", kwargs={"template_id": v1.template_id}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Version 1 → version 2" in body
    rows = _rows(body)
    # Line numbers, the sign, the hidden word for screen readers, then the text.
    assert "removed:1 − Removed: Your appointment at {{ org.name }}" in rows
    assert "added:1 + Added: Reminder from {{ org.name }}" in rows
    assert "Added: </span>Appointment location" not in body  # fields are listed with their label
    assert re.search(
        r"Added: </span><span class=\"pill pill-bad\">PHI</span> Location <code>event.location</code>", body
    )
    assert re.search(
        r"Removed: </span><span class=\"pill pill-bad\">PHI</span> Provider <code>event.provider_name", body
    )
    assert re.search(r"Removed: </span>Preference centre link <code>links.preferences</code>", body)
    assert 'Language: es\n    <span class="pill pill-ok">added</span>' in body


@pytest.mark.django_db
def test_diff_page_compares_the_versions_asked_for_and_refuses_others(world, login, versions):
    v1, _ = versions
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    url = reverse("templates:template_diff", kwargs={"template_id": v1.template_id})
    reverse_order = client.get(url, {"from": 2, "to": 1})
    assert reverse_order.status_code == 200
    assert "added:1 + Added: Your appointment at {{ org.name }}" in _rows(reverse_order.content.decode())
    same = client.get(url, {"from": 1, "to": 1})
    assert "The two versions are the same." in same.content.decode()
    for bad in ({"from": 1, "to": 9}, {"from": "x", "to": 1}, {"from": 1}):
        response = client.get(url, bad)
        assert response.status_code == 400, bad
        assert "Choose two versions of this template." in response.content.decode()
        assert "diff-added" not in response.content.decode()


@pytest.mark.django_db
def test_diff_page_with_a_single_version_says_there_is_nothing_to_compare(world, login):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = client.get(reverse("templates:template_diff", kwargs={"template_id": version.template_id}))
    assert response.status_code == 200
    assert "nothing to compare yet" in response.content.decode()

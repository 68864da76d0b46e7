"""Template-aware classification: the template once, then merge values only (issue 9, item 3)."""

from __future__ import annotations

import pytest

import encryption.dlp.template_aware as template_aware
from encryption.dlp import classify
from encryption.dlp.findings import LEVEL_NONE, LEVEL_PHI, LEVEL_PII, MEDICATION, NAME, OTHER_ID
from encryption.dlp.template_aware import classify_recipient, recipient_plan, template_profile
from templates.analysis import analyse_parts
from templates.context import render_context
from templates.fields import BUILTIN_FIELDS, MergeField
from templates.rendering import render_source
from templates.starters import STARTERS
from templates.text import html_to_text

STRICTNESS = {LEVEL_NONE: 0, LEVEL_PII: 1, LEVEL_PHI: 2}


def _catalogue(*attributes: MergeField) -> dict[str, MergeField]:
    return {field.name: field for field in (*BUILTIN_FIELDS, *attributes)}


def _attr(key: str, *, phi: bool, kind: str = "text") -> MergeField:
    return MergeField(f"attr.{key}", key, phi, kind, "Sample text")


def _profile(subject: str, html: str, catalogue: dict[str, MergeField], text: str = "", key: str = "v1"):
    parts = [("subject", subject), ("html_body", html), ("text_body", text)]
    fields = analyse_parts(parts, catalogue).fields
    return template_profile(
        version_key=key,
        language="en",
        subject=subject,
        preheader="",
        html_body=html,
        text_body=text,
        fields_used=fields,
    )


@pytest.fixture(autouse=True)
def _fresh_caches():
    template_aware._profile.cache_clear()
    template_aware._scan_short_value.cache_clear()
    yield
    template_aware._profile.cache_clear()
    template_aware._scan_short_value.cache_clear()


def test_a_version_is_scanned_once_however_many_recipients(monkeypatch):
    calls = []
    real_scan = template_aware.text_evidence
    monkeypatch.setattr(template_aware, "text_evidence", lambda text: calls.append(text) or real_scan(text))
    catalogue = _catalogue()
    source = "<p>Hello {{ contact.first_name }}, your colonoscopy is booked.</p>"
    profiles = {id(_profile("Reminder", source, catalogue)) for _ in range(50)}
    assert len(profiles) == 1
    assert len(calls) == 1
    # An edited source under the same version key is scanned afresh, never served stale.
    _profile("Reminder", source.replace("colonoscopy", "visit"), catalogue)
    assert len(calls) == 2


def test_literal_text_keeps_every_branch_and_drops_the_syntax():
    catalogue = _catalogue(_attr("due_soon", phi=False, kind="boolean"))
    html = (
        "<p>{% if attr.due_soon %}Your mammogram is due.{% else %}Stay well this winter.{% endif %}</p>"
        "{# a comment about insulin #}<p>{{ org.name }}</p>"
    )
    profile = _profile("News", html, catalogue)
    assert "Your mammogram is due." in profile.literal_text
    assert "Stay well this winter." in profile.literal_text
    assert "{%" not in profile.literal_text and "{{" not in profile.literal_text
    assert "<p>" not in profile.literal_text
    assert "insulin" not in profile.literal_text  # comments are never rendered, so never scanned


def test_an_appointment_reminder_to_a_named_patient_is_phi():
    catalogue = _catalogue()
    profile = _profile(
        "Your upcoming visit",
        "<p>Dear {{ contact.first_name }}, we look forward to seeing you on {{ event.appointment_at }}.</p>",
        catalogue,
    )
    plan = recipient_plan(profile, catalogue)
    result = classify_recipient(plan, {"contact.first_name": "Odalys", "event.appointment_at": "2027-01-12 09:30"})
    assert result.level == LEVEL_PHI
    assert {(f.type, f.rule) for f in result.findings} >= {(NAME, "merge:contact.first_name")}


def test_general_health_education_without_identifiers_is_none():
    catalogue = _catalogue()
    profile = _profile("Flu season", "<p>Flu shots are available at all of our locations this month.</p>", catalogue)
    result = classify_recipient(recipient_plan(profile, catalogue), {})
    assert result.level == LEVEL_NONE


def test_a_greeting_by_name_without_health_information_is_pii():
    catalogue = _catalogue()
    profile = _profile(
        "Our new opening hours", "<p>Hi {{ contact.first_name }}, we now open on Saturdays.</p>", catalogue
    )
    result = classify_recipient(recipient_plan(profile, catalogue), {"contact.first_name": "Odalys"})
    assert result.level == LEVEL_PII


def test_a_field_the_dictionary_tags_phi_counts_without_being_scanned(monkeypatch):
    catalogue = _catalogue(_attr("care_note", phi=True))
    profile = _profile("Update", "<p>Hi {{ contact.first_name }}. {{ attr.care_note }}</p>", catalogue)
    plan = recipient_plan(profile, catalogue)
    assert [name for name, _ in plan.counted] == ["attr.care_note", "contact.first_name"]
    assert plan.scanned == ()

    def refuse(text):
        raise AssertionError("a PHI-tagged value was scanned")

    monkeypatch.setattr(template_aware, "scan_value", refuse)
    result = classify_recipient(plan, {"contact.first_name": "Odalys", "attr.care_note": "plain words"})
    assert result.level == LEVEL_PHI
    assert (OTHER_ID, "merge:attr.care_note") in {(f.type, f.rule) for f in result.findings}


def test_an_empty_phi_field_counts_for_nothing():
    catalogue = _catalogue(_attr("care_note", phi=True))
    profile = _profile("Update", "<p>Hello. {{ attr.care_note }}</p>", catalogue)
    result = classify_recipient(recipient_plan(profile, catalogue), {"attr.care_note": ""})
    assert result.level == LEVEL_NONE


def test_values_of_non_phi_fields_are_scanned():
    # Someone put health information in a field the dictionary calls harmless: the scan finds it.
    catalogue = _catalogue(_attr("plan_note", phi=False))
    profile = _profile("Your plan", "<p>Hi {{ contact.first_name }}. {{ attr.plan_note }}</p>", catalogue)
    plan = recipient_plan(profile, catalogue)
    assert plan.scanned == ("attr.plan_note",)
    result = classify_recipient(plan, {"contact.first_name": "Odalys", "attr.plan_note": "Metformin 500 mg"})
    assert MEDICATION in result.types
    assert result.level == LEVEL_PHI


def test_fields_that_never_carry_phi_are_neither_counted_nor_scanned(monkeypatch):
    catalogue = _catalogue()
    profile = _profile(
        "News from {{ org.name }}",
        '<p>{{ campaign.name }} <a href="{{ links.unsubscribe }}">Unsubscribe</a> {{ contact.language }}</p>',
        catalogue,
    )
    plan = recipient_plan(profile, catalogue)
    assert plan.counted == () and plan.scanned == ()
    monkeypatch.setattr(template_aware, "scan_value", lambda text: pytest.fail("scanned a never-PHI value"))
    values = {"org.name": "Sunrise Family Clinic", "campaign.name": "Winter", "links.unsubscribe": "https://x.test/u"}
    classify_recipient(plan, values)


def test_a_change_to_the_dictionary_applies_to_the_next_plan():
    harmless = _catalogue(_attr("next_visit", phi=False, kind="date"))
    profile = _profile("Hello", "<p>Hi {{ contact.first_name }}, see you {{ attr.next_visit }}.</p>", harmless)
    assert recipient_plan(profile, harmless).scanned == ("attr.next_visit",)
    tagged = _catalogue(_attr("next_visit", phi=True, kind="date"))
    plan = recipient_plan(profile, tagged)
    assert ("attr.next_visit", template_aware.FieldRole("DATE", health=True)) in plan.counted
    assert (
        classify_recipient(plan, {"contact.first_name": "Odalys", "attr.next_visit": "2027-02-01"}).level == LEVEL_PHI
    )


def test_an_unknown_phi_field_is_counted_as_health_information():
    role = template_aware.field_role(MergeField("event.future_field", "Future", True, "text", ""))
    assert role == template_aware.FieldRole(OTHER_ID, health=True)


@pytest.mark.parametrize("starter_key", sorted(key for key in STARTERS if key != "blank"))
def test_template_aware_level_is_never_weaker_than_classifying_the_rendered_message(starter_key):
    """Over the starter templates rendered with the synthetic sample context: scanning the
    template once plus the values never yields a weaker level than scanning the whole message."""
    catalogue = _catalogue()
    starter = STARTERS[starter_key]
    context = render_context(catalogue)
    values = {name: field.sample for name, field in catalogue.items()}
    for content in starter.contents:
        parts = [("subject", content.subject), ("html_body", content.html_body), ("text_body", content.text_body)]
        fields = analyse_parts(parts, catalogue).fields
        profile = template_profile(
            version_key=f"starter-{starter_key}",
            language=content.language,
            subject=content.subject,
            preheader=content.preheader,
            html_body=content.html_body,
            text_body=content.text_body,
            fields_used=fields,
        )
        aware = classify_recipient(recipient_plan(profile, catalogue), values)
        rendered = "\n".join(
            [
                render_source(content.subject, context, html=False),
                html_to_text(render_source(content.html_body, context, html=True)),
                render_source(content.text_body, context, html=False) if content.text_body else "",
            ]
        )
        full = classify(rendered)
        assert STRICTNESS[aware.level] >= STRICTNESS[full.level], (starter_key, content.language)


@pytest.mark.parametrize(
    ("subject", "html", "level"),
    [
        # Implicit care: nothing names a condition, yet the shipment is a supply order for the patient.
        (
            "Your order has shipped",
            "<p>Hi {{ contact.first_name }}, your order from Sunrise Medical Supply has shipped.</p>",
            LEVEL_PHI,
        ),
        # Recognisably not about care: a newsletter and an account notice stay pii.
        (
            "Our spring newsletter",
            "<p>Hi {{ contact.first_name }}, read our spring newsletter: new parking, a community health fair "
            "and our volunteer awards.</p><p>Unsubscribe from newsletters at any time.</p>",
            LEVEL_PII,
        ),
        (
            "Password reset",
            "<p>Hi {{ contact.first_name }}, we received a request to reset the password of your patient portal "
            "account. If you did not ask for it, ignore this email.</p>",
            LEVEL_PII,
        ),
    ],
)
def test_the_template_text_decides_like_the_whole_message(subject, html, level):
    """The template-aware level uses the template text's non-care signals, so it agrees with
    classifying the rendered message whole (the structural level decision, docs/dlp.md)."""
    catalogue = _catalogue()
    profile = _profile(subject, html, catalogue)
    result = classify_recipient(recipient_plan(profile, catalogue), {"contact.first_name": "Odalys"})
    context = render_context(catalogue, values={"contact.first_name": "Odalys"})
    rendered = html_to_text(render_source(html, context, html=True))
    assert result.level == level
    assert classify(f"{subject}\n\n{rendered}").level == level

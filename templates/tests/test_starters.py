from __future__ import annotations

from html.parser import HTMLParser

import pytest

from consent.purposes import BUILTIN_PURPOSES
from templates.checks import checks_for
from templates.context import PHI_MASK, render_context
from templates.fields import merge_fields
from templates.selectors import render_version, version_contents
from templates.services import draft_save, template_create
from templates.starters import STARTERS
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

REAL_STARTERS = [key for key in STARTERS if key != "blank"]
# What each starter's sample rendering must show: the synthetic values of the fields it is about.
EXPECTED_SAMPLES = {
    "appointment_reminder": {
        "en": ["Avery", "Dr. Rowan Demoway", "Sunrise Clinic, Suite 4", "Thursday 3 December 2026"]
    },
    "bill_ready": {
        "en": ["Avery", "Office visit", "$30.00", "Lab panel", "$12.50", "$42.50", "Thursday 3 December 2026"]
    },
    "prescription_renewal": {"en": ["Avery", "Synthetamol 10 mg", "Dr. Rowan Demoway"]},
    "newsletter": {"en": ["Sunrise Family Clinic", "https://sealpost.example/r/unsubscribe/"]},
}


class _Structure(HTMLParser):
    """Collects what the mail-client rules are about."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.unbalanced = False
        self.html_lang: str | None = None
        self.layout_tables_without_role = 0
        self.tags: set[str] = set()
        self.images_without_alt = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.tags.add(tag)
        if tag == "html":
            self.html_lang = values.get("lang")
        if tag == "table" and values.get("role") != "presentation":
            self.layout_tables_without_role += 1
        if tag == "img" and "alt" not in values:
            self.images_without_alt += 1
        if tag not in ("meta", "br", "img", "hr", "link", "input"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.unbalanced = True


def _create(world, key, purpose=None):
    starter = STARTERS[key]
    tenant = world.a.tenant
    with tenant_context(tenant):
        return template_create(
            tenant=tenant,
            user=world.a.users[Role.MARKETER],
            name=starter.name,
            purpose=purpose or starter.purpose,
            default_language=starter.default_language,
            contents=starter.contents,
        )


@pytest.mark.parametrize("key", REAL_STARTERS)
def test_starter_passes_the_save_analysis_and_the_checks(world, key):
    starter = STARTERS[key]
    tenant = world.a.tenant
    version = _create(world, key)  # raises TemplateInvalid if the analysis refused it
    with tenant_context(tenant):
        saved = draft_save(
            tenant=tenant,
            user=world.a.users[Role.MARKETER],
            version=version,
            default_language=starter.default_language,
            contents=starter.contents,
        )
        findings = checks_for(tenant=tenant, purpose=starter.purpose, contents=starter.contents)
    assert findings == [], [(f.severity, f.where, f.message) for f in findings]
    assert saved.fields_used
    languages = [content.language for content in starter.contents]
    assert starter.default_language in languages


@pytest.mark.parametrize("key", REAL_STARTERS)
def test_starter_renders_with_samples_in_every_language(world, key):
    starter = STARTERS[key]
    tenant = world.a.tenant
    version = _create(world, key)
    with tenant_context(tenant):
        catalogue = merge_fields(tenant=tenant)
        contents = version_contents(tenant=tenant, version=version)
        assert sorted(contents) == sorted(content.language for content in starter.contents)
        for language in contents:
            rendered = render_version(
                contents=contents, version=version, language=language, context=render_context(catalogue)
            )
            assert rendered.language == language
            assert rendered.subject and "{{" not in rendered.subject
            assert rendered.preheader and rendered.preheader in rendered.html  # the hidden preheader
            for expected in EXPECTED_SAMPLES[key].get(language, []):
                assert expected in rendered.html, (language, expected)
                assert expected in rendered.text, (language, expected)
            assert "{{" not in rendered.html and "{%" not in rendered.html
            assert "{{" not in rendered.text and "{%" not in rendered.text
            assert not contents[language].text_generated  # a written plain-text version

            structure = _Structure()
            structure.feed(rendered.html)
            assert structure.html_lang == language
            assert not structure.unbalanced and structure.open == []
            assert structure.layout_tables_without_role == 0
            assert structure.images_without_alt == 0
            assert "script" not in structure.tags and "style" not in structure.tags  # inline CSS only
            assert "max-width:600px" in rendered.html


def test_the_appointment_reminder_has_a_spanish_version_chosen_by_language(world):
    tenant = world.a.tenant
    version = _create(world, "appointment_reminder")
    with tenant_context(tenant):
        contents = version_contents(tenant=tenant, version=version)
        context = render_context(merge_fields(tenant=tenant))
        spanish = render_version(contents=contents, version=version, language="es-MX", context=context)
        fallback = render_version(contents=contents, version=version, language="de", context=context)
    assert spanish.language == "es" and "Recordatorio" in spanish.subject and "03/12/2026" in spanish.html
    assert fallback.language == "en"


def test_the_newsletter_uses_no_phi_and_offers_unsubscribe_and_preferences(world):
    version = _create(world, "newsletter")
    assert version.phi_fields == []
    assert {"links.unsubscribe", "links.preferences"} <= set(version.fields_used)


def test_phi_starters_keep_phi_out_of_subject_and_preheader(world):
    tenant = world.a.tenant
    for key in REAL_STARTERS:
        version = _create(world, key)
        with tenant_context(tenant):
            catalogue = merge_fields(tenant=tenant)
            for content in version_contents(tenant=tenant, version=version).values():
                masked = render_version(
                    contents={content.language: content},
                    version=version,
                    language=content.language,
                    context=render_context(catalogue, mask_phi=True),
                )
                assert PHI_MASK not in masked.subject and PHI_MASK not in masked.preheader
                assert PHI_MASK in masked.html or key == "newsletter"


@pytest.mark.parametrize("purpose", [purpose.key for purpose in BUILTIN_PURPOSES])
def test_the_blank_starter_suits_every_purpose(world, purpose):
    version = _create(world, "blank", purpose=purpose)
    tenant = world.a.tenant
    with tenant_context(tenant):
        findings = checks_for(tenant=tenant, purpose=purpose, contents=STARTERS["blank"].contents)
    assert version.phi_fields == []
    assert [f.severity for f in findings] == ["warning"]  # only: write a preheader


def test_a_phi_starter_is_refused_for_marketing(world):
    from templates.services import TemplateInvalid

    with pytest.raises(TemplateInvalid, match="may not carry PHI"):
        _create(world, "appointment_reminder", purpose="marketing")

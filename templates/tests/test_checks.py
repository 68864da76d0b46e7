from __future__ import annotations

import pytest

from consent.purposes import BUILTIN_PURPOSES
from templates.checks import ERROR, WARNING, check_content, check_contents, checks_for, has_errors
from templates.services import ContentInput

PURPOSES = {purpose.key: purpose for purpose in BUILTIN_PURPOSES}
CARE = PURPOSES["care"]
MARKETING = PURPOSES["marketing"]
FOOTER = '<p><a href="{{ links.preferences }}">Preferences</a></p>'


def content(html: str, *, text: str = "", preheader: str = "Hello", language: str = "en") -> ContentInput:
    return ContentInput(language=language, subject="Hi", preheader=preheader, html_body=html, text_body=text)


def findings(html: str, *, purpose=CARE, **kwargs):
    return check_content(content(html, **kwargs), purpose=purpose)


def messages(html: str, **kwargs) -> list[tuple[str, str, int, str]]:
    return [(f.severity, f.part, f.line, f.message) for f in findings(html, **kwargs)]


def test_a_clean_care_message_has_no_findings():
    html = '<p>Your results are ready.</p><p><a href="https://clinic.example/portal">Portal</a></p>' + FOOTER
    assert findings(html) == []


def test_missing_plain_text_is_an_error_unless_written_by_hand():
    html = '<img src="https://clinic.example/logo.png" alt="">'
    found = findings(html)
    assert [(f.severity, f.part) for f in found] == [(ERROR, "text_body")]
    assert "no plain-text version" in found[0].message
    assert found[0].where == "[en] Text body"
    assert findings(html, text="Our news, in words.") == []


def test_missing_preheader_is_a_warning():
    found = findings("<p>Hello</p>", preheader="  ")
    assert [(f.severity, f.part) for f in found] == [(WARNING, "preheader")]
    assert not has_errors(found)


@pytest.mark.parametrize("field", ["links.unsubscribe", "links.preferences"])
def test_marketing_message_with_an_unsubscribe_or_preference_link_passes(field):
    assert findings(f'<p>News</p><a href="{{{{ {field} }}}}">Leave</a>', purpose=MARKETING) == []


def test_marketing_message_without_unsubscribe_link_is_an_error():
    found = findings('<p>News</p><a href="https://clinic.example/">Visit</a>', purpose=MARKETING)
    assert [(f.severity, f.part) for f in found] == [(ERROR, "html_body")]
    assert "unsubscribe link" in found[0].message
    # A care message needs none.
    assert findings('<p>News</p><a href="https://clinic.example/">Visit</a>', purpose=CARE) == []


def test_marketing_text_written_by_hand_needs_the_link_too():
    html = '<p>News</p><a href="{{ links.unsubscribe }}">Unsubscribe</a>'
    found = findings(html, purpose=MARKETING, text="News, without a way out.")
    assert [(f.severity, f.part) for f in found] == [(ERROR, "text_body")]
    assert findings(html, purpose=MARKETING, text="News.\nUnsubscribe: {{ links.unsubscribe }}") == []


def test_unsubscribe_field_mentioned_only_in_a_comment_does_not_count():
    html = "<p>News</p>{# {{ links.unsubscribe }} #}"
    assert [f.part for f in findings(html, purpose=MARKETING)] == ["html_body"]


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("", "empty address"),
        ("#", "placeholder"),
        ("#top", "placeholder"),
        ("javascript:alert(1)", "runs JavaScript"),
        ("JavaScript:void(0)", "runs JavaScript"),
        ("http://clinic.example/", "does not use https://"),
        ("/portal", "not a full https:// address"),
        ("www.clinic.example", "not a full https:// address"),
        ("https://", "no valid host name"),
        ("https://clinic example.com/", "contains spaces"),
        ("https://-bad-.example/", "no valid host name"),
        ("https://clinic.example:99999/", "malformed"),
        ("https://[::1", "malformed"),
        ("mailto:", "incomplete"),
    ],
)
def test_broken_links_are_errors_with_their_line(href, expected):
    html = f'<p>Hello</p>\n<p>\n<a href="{href}">Go</a></p>'
    found = [f for f in findings(html) if f.part == "html_body"]
    assert len(found) == 1, found
    assert found[0].severity == ERROR
    assert expected in found[0].message
    assert found[0].line == 3
    assert found[0].where == "[en] HTML body line 3"


@pytest.mark.parametrize(
    "href",
    [
        "https://clinic.example/portal?a=1#b",
        "mailto:front-desk@clinic.example",
        "tel:+15550100",
        "{{ links.unsubscribe }}",
        "{{links.preferences}}",
        "{% if campaign.name %}https://clinic.example/a{% else %}https://clinic.example/b{% endif %}",
        "https://clinic.example/news/{{ campaign.name|urlencode }}",
        "https://{{ org.name }}.example/",
    ],
)
def test_good_links_pass(href):
    assert findings(f'<p><a href="{href}">Go</a></p>') == []


def test_anchor_without_href_is_not_a_link():
    assert findings('<p><a name="top">Top</a></p>') == []


def test_phi_in_a_link_address_is_an_error():
    html = '<p><a href="https://clinic.example/pay?patient={{ contact.external_id }}">Pay</a></p>'
    found = findings(html)
    assert [(f.severity, f.line) for f in found] == [(ERROR, 1)]
    assert "PHI never goes into URLs" in found[0].message


@pytest.mark.parametrize(
    ("img", "severity", "expected"),
    [
        ('<img alt="Logo">', ERROR, "no src"),
        ('<img src="" alt="Logo">', ERROR, "empty address"),
        ('<img src="http://cdn.example/logo.png" alt="Logo">', ERROR, "does not use https://"),
        ('<img src="data:image/png;base64,AAAA" alt="Logo">', ERROR, "does not use https://"),
        ('<img src="#" alt="Logo">', ERROR, "placeholder"),
        ('<img src="mailto:x@example.com" alt="Logo">', ERROR, "not a full https:// address"),
        ('<img src="https://cdn.example/logo.png">', WARNING, "no alt text"),
        ('<img src="https://cdn.example/logo.png"/>', WARNING, "no alt text"),
    ],
)
def test_broken_images(img, severity, expected):
    found = findings(f"<p>Hello</p>{img}")
    assert [(f.severity, expected in f.message) for f in found] == [(severity, True)], found


def test_images_with_alt_pass_including_decorative_ones():
    html = '<p>Hi</p><img src="https://cdn.example/a.png" alt="Our clinic"><img src="https://cdn.example/b.png" alt="">'
    assert findings(html) == []


def test_every_language_is_checked_and_errors_come_first():
    english = content('<p>Hi</p><a href="#">x</a>', preheader="")
    spanish = content('<p>Hola</p><a href="{{ links.unsubscribe }}">Baja</a>', language="es")
    found = check_contents([english, spanish], purpose=MARKETING)
    assert [(f.severity, f.language, f.part) for f in found] == [
        (ERROR, "en", "html_body"),  # unsubscribe link missing
        (ERROR, "en", "html_body"),  # the "#" link
        (WARNING, "en", "preheader"),
    ]


@pytest.mark.django_db
def test_checks_for_uses_the_organisations_purpose_and_fields(world):
    from segments.models import AttributeDefinition
    from tenants.context import tenant_context

    tenant = world.a.tenant
    with tenant_context(tenant):
        AttributeDefinition.objects.create(tenant=tenant, key="mrn", label="MRN", type="text", is_phi=True)
        AttributeDefinition.objects.create(tenant=tenant, key="plan", label="Plan", type="text", is_phi=False)
        phi_link = content('<p><a href="https://clinic.example/?m={{ attr.mrn }}">x</a></p>' + FOOTER)
        plain_link = content('<p><a href="https://clinic.example/?p={{ attr.plan }}">x</a></p>' + FOOTER)
        assert [f.message for f in checks_for(tenant=tenant, purpose="care", contents=[phi_link])] == [
            "A link address contains a PHI field; PHI never goes into URLs."
        ]
        assert checks_for(tenant=tenant, purpose="care", contents=[plain_link]) == []
        marketing = checks_for(tenant=tenant, purpose="marketing", contents=[plain_link])
        assert [f.part for f in marketing] == []  # the footer's preference link counts
        unknown = checks_for(tenant=tenant, purpose="no-such-purpose", contents=[plain_link])
        assert has_errors(unknown) and "purpose" in unknown[0].message

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from audit.tests.helpers import actions, events, head_seq
from authn.tests.support import give_step_up
from templates.models import EmailTemplate, TemplateContent, TemplateVersion, VersionStatus
from templates.services import version_approve, version_submit
from templates.tests.support import REMINDER_HTML, make_template, marketer
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


def editor_data(version=None, **overrides):
    """What the editor posts for one English content (overridable field by field)."""
    data = {
        "version_id": str(version.pk) if version is not None else "",
        "languages": ["en"],
        "default_language": "en",
        "subject__en": "Your appointment at {{ org.name }}",
        "preheader__en": "Details inside",
        "html_body__en": REMINDER_HTML,
        "text_body__en": "",
    }
    data.update(overrides)
    return data


def _versions(tenant, template_id):
    with tenant_context(tenant):
        return list(
            TemplateVersion.objects.for_tenant(tenant).filter(template_id=template_id).values_list("number", "status")
        )


def _contents(tenant, version):
    with tenant_context(tenant):
        return {c.language: c for c in TemplateContent.objects.for_tenant(tenant).filter(version=version)}


def _frame_url(body: str) -> str:
    match = re.search(r'<iframe class="preview-frame" sandbox src="([^"]+)"', body)
    assert match, "no preview iframe"
    return unescape(match.group(1))


def _urls(version):
    template_id = version.template_id
    return {
        "edit": reverse("templates:template_edit", args=[template_id]),
        "preview": reverse("templates:template_preview", args=[template_id]),
        "reveal": reverse("templates:template_preview_reveal", args=[template_id]),
    }


# --- List and creation ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_everyone_sees_the_list_with_versions_and_statuses(world, login, role):
    tenant = world.a.tenant
    draft = make_template(tenant, marketer(world.a), name="Reminder")
    approved = make_template(tenant, marketer(world.a), name="Bill")
    with tenant_context(tenant):
        version_submit(tenant=tenant, user=marketer(world.a), version=approved)
        version_approve(tenant=tenant, user=world.a.users[Role.COMPLIANCE_OFFICER], version=approved)
    client = login(world.a.users[role], tenant)
    response = client.get(reverse("templates:template_list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Reminder" in body and "Bill" in body and "Appointment reminders" in body
    rows = {row.split("</td>")[0]: row for row in body.split("<tr>")[2:]}
    reminder_row = next(row for row in rows.values() if "Reminder" in row)
    bill_row = next(row for row in rows.values() if "Bill" in row)
    assert "Version 1" in reminder_row and "Draft" in reminder_row and "None yet" in reminder_row
    assert bill_row.count("Version 1") == 2 and "Approved" in bill_row
    can_edit = role != Role.COMPLIANCE_OFFICER
    assert ("New template" in body) is can_edit
    edit_url = reverse("templates:template_edit", args=[draft.template_id])
    assert (edit_url in body) is can_edit
    assert "Templates" in body  # the navigation item


def test_the_list_takes_a_fixed_number_of_queries(world, login, django_assert_max_num_queries):
    tenant = world.a.tenant
    client = login(marketer(world.a), tenant)
    make_template(tenant, marketer(world.a), name="One")
    client.get(reverse("templates:template_list"))  # warm the session and permissions
    with django_assert_max_num_queries(30) as few:
        client.get(reverse("templates:template_list"))
    for n in range(6):
        make_template(tenant, marketer(world.a), name=f"More {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("templates:template_list"))
    assert response.content.decode().count("More ") >= 6


def test_a_marketer_creates_a_template_from_a_starter(world, login):
    tenant = world.a.tenant
    client = login(marketer(world.a), tenant)
    assert client.get(reverse("templates:template_create")).status_code == 200
    since = head_seq(tenant)
    response = client.post(
        reverse("templates:template_create"), {"name": "March bills", "purpose": "billing", "starter": "bill_ready"}
    )
    assert response.status_code == 302
    with tenant_context(tenant):
        template = EmailTemplate.objects.for_tenant(tenant).get(name="March bills")
        version = TemplateVersion.objects.for_tenant(tenant).get(template=template)
    assert response["Location"] == reverse("templates:template_edit", args=[template.pk])
    assert template.purpose == "billing" and version.status == VersionStatus.DRAFT
    assert "event.items" in version.fields_used
    assert "{% for item in event.items %}" in _contents(tenant, version)["en"].html_body
    assert actions(tenant, since) == ["template.created"]


def test_a_phi_starter_for_a_marketing_purpose_is_refused_and_nothing_is_created(world, login):
    tenant = world.a.tenant
    client = login(marketer(world.a), tenant)
    response = client.post(
        reverse("templates:template_create"),
        {"name": "Promo", "purpose": "marketing", "starter": "appointment_reminder"},
    )
    assert response.status_code == 400
    assert "may not carry PHI" in response.content.decode()
    with tenant_context(tenant):
        assert not EmailTemplate.objects.for_tenant(tenant).exists()


def test_creation_form_problems_are_shown_beside_their_fields(world, login):
    tenant = world.a.tenant
    make_template(tenant, marketer(world.a), name="Taken")
    client = login(marketer(world.a), tenant)
    response = client.post(
        reverse("templates:template_create"), {"name": "Taken", "purpose": "care", "starter": "blank"}
    )
    assert response.status_code == 400
    assert 'id="name-error">There is already a template with this name.' in response.content.decode()
    response = client.post(reverse("templates:template_create"), {"name": "X", "purpose": "nope", "starter": "blank"})
    assert response.status_code == 400
    assert 'id="purpose-error"' in response.content.decode()


# --- Roles -----------------------------------------------------------------------------------------


def test_compliance_officers_may_view_and_preview_but_not_edit(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    urls = _urls(version)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], tenant)
    assert client.get(reverse("templates:template_list")).status_code == 200
    assert client.get(reverse("templates:template_create")).status_code == 403
    assert client.post(reverse("templates:template_create"), {"name": "x"}).status_code == 403
    assert client.get(urls["edit"]).status_code == 403
    assert client.post(urls["edit"], editor_data(version, action="save")).status_code == 403
    assert client.post(urls["edit"], {"action": "start_draft"}).status_code == 403
    response = client.post(urls["preview"], editor_data(version))
    assert response.status_code == 200
    assert "Your appointment at Sunrise Family Clinic" in response.content.decode()
    frame = client.get(_frame_url(response.content.decode()))
    assert frame.status_code == 200 and "Dr. Rowan Demoway" in frame.content.decode()
    assert _versions(tenant, version.template_id) == [(1, "draft")]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MARKETER])
def test_admins_and_marketers_edit(world, login, role):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(world.a.users[role], tenant)
    response = client.post(
        _urls(version)["edit"], editor_data(version, action="save", subject__en="Changed {{ org.name }}")
    )
    assert response.status_code == 302
    assert _contents(tenant, version)["en"].subject == "Changed {{ org.name }}"


# --- The editor ------------------------------------------------------------------------------------


def test_the_editor_shows_the_draft_with_merge_fields_by_name(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    response = login(marketer(world.a), tenant).get(_urls(version)["edit"])
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="html_body__en"' in body and "Hello {{ contact.first_name|name }}" in unescape(body)
    assert '<code class="merge-field-code">{{ contact.first_name }}</code>' in body
    assert 'data-insert="{{ links.unsubscribe }}"' in body
    assert "Save draft" in body
    # The PHI marker sits beside PHI fields and not beside others.
    first_name = body.split("{{ contact.first_name }}</code>")[1].split("</li>")[0]
    org_name = body.split("{{ org.name }}</code>")[1].split("</li>")[0]
    assert "pill-phi" in first_name and "pill-phi" not in org_name
    # Without JavaScript the preview is already there.
    assert "Your appointment at Sunrise Family Clinic" in body and 'sandbox src="' in body


def test_opening_a_submitted_version_writes_nothing_and_edit_starts_a_draft(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    with tenant_context(tenant):
        version_submit(tenant=tenant, user=marketer(world.a), version=version)
    client = login(marketer(world.a), tenant)
    since = head_seq(tenant)
    response = client.get(_urls(version)["edit"])
    body = response.content.decode()
    assert response.status_code == 200
    assert "Edit as a new draft" in body and "Save draft" not in body and "readonly" in body
    assert _versions(tenant, version.template_id) == [(1, "in_review")]
    assert "template.draft_started" not in actions(tenant, since)

    response = client.post(_urls(version)["edit"], {"action": "start_draft"})
    assert response.status_code == 302
    assert sorted(_versions(tenant, version.template_id)) == [(1, "in_review"), (2, "draft")]
    assert "template.draft_started" in actions(tenant, since)
    body = client.get(_urls(version)["edit"]).content.decode()
    assert "Save draft" in body and "Version 2" in body


def test_save_replaces_the_draft_and_is_audited(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    since = head_seq(tenant)
    data = editor_data(version, action="save", text_body__en="Hand written {{ org.name }}\r\nSecond line")
    response = client.post(_urls(version)["edit"], data)
    assert response.status_code == 302
    saved = _contents(tenant, version)["en"]
    assert saved.text_body == "Hand written {{ org.name }}\nSecond line" and not saved.text_generated
    assert saved.preheader == "Details inside"
    assert actions(tenant, since)[-1] == "template.draft_saved"
    # The editor shows a generated text body as empty, so it keeps following the HTML.
    response = client.post(_urls(version)["edit"], editor_data(version, action="save"))
    assert response.status_code == 302
    assert _contents(tenant, version)["en"].text_generated
    assert 'name="text_body__en"' in client.get(_urls(version)["edit"]).content.decode()
    assert (
        "Hello"
        not in client.get(_urls(version)["edit"])
        .content.decode()
        .split('name="text_body__en"')[1]
        .split("</textarea>")[0]
    )


def test_save_problems_are_shown_beside_the_field_with_their_line_and_nothing_changes(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    broken = "<p>Hi</p>\n<p>{{ contact.ssn }}</p>"
    since = head_seq(tenant)
    response = client.post(
        _urls(version)["edit"],
        editor_data(
            version,
            action="save",
            languages=["en", "es"],
            **{
                "subject__es": "",
                "html_body__es": broken,
                "preheader__es": "",
                "text_body__es": "",
            },
        ),
    )
    assert response.status_code == 400
    body = unescape(response.content.decode())
    problems = body.split('id="problems-html_body-es">')[1].split("</ul>")[0]
    assert "Line 2: Unknown merge field “contact.ssn”." in problems
    assert "The subject is empty." in body.split('id="problems-subject-es">')[1].split("</ul>")[0]
    assert 'id="problems-html_body-en"' not in body
    assert broken in body  # the author's text is kept
    assert _contents(tenant, version)["en"].html_body == REMINDER_HTML and "es" not in _contents(tenant, version)
    assert "template.draft_saved" not in actions(tenant, since)


def test_languages_are_added_removed_and_saved_with_a_default(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    url = _urls(version)["edit"]
    response = client.post(url, editor_data(version, action="add_language", new_language="ES"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="html_body__es"' in body and 'name="languages" value="es"' in body
    assert "es" not in _contents(tenant, version)  # adding a tab saves nothing
    assert (
        "Use a language tag"
        in client.post(url, editor_data(version, action="add_language", new_language="x y")).content.decode()
    )

    two = editor_data(
        version,
        languages=["en", "es"],
        default_language="es",
        subject__es="Su cita en {{ org.name }}",
        html_body__es="<p>Hola {{ contact.first_name }}</p>",
        preheader__es="",
        text_body__es="",
    )
    assert client.post(url, {**two, "action": "save"}).status_code == 302
    with tenant_context(tenant):
        version.refresh_from_db()
    assert version.default_language == "es" and sorted(_contents(tenant, version)) == ["en", "es"]

    refused = client.post(url, {**two, "remove_language": "es"}).content.decode()
    assert "Choose another default language" in refused
    removed = client.post(url, {**two, "default_language": "en", "remove_language": "es"}).content.decode()
    assert 'name="html_body__es"' not in removed
    assert sorted(_contents(tenant, version)) == ["en", "es"]  # removing a tab saves nothing either


def test_saving_into_a_version_submitted_meanwhile_is_refused(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    with tenant_context(tenant):
        version_submit(tenant=tenant, user=world.a.users[Role.ADMIN], version=version)
    response = client.post(_urls(version)["edit"], editor_data(version, action="save", subject__en="Late edit"))
    assert response.status_code == 409
    assert "Late edit" in response.content.decode()
    assert _contents(tenant, version)["en"].subject == "Your appointment at {{ org.name }}"
    assert _versions(tenant, version.template_id) == [(1, "in_review")]


# --- Preview ---------------------------------------------------------------------------------------


def test_preview_renders_posted_content_into_a_sandboxed_frame_with_its_own_csp(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    html = REMINDER_HTML.replace("Hello", "Greetings")
    response = client.post(_urls(version)["preview"], editor_data(version, html_body__en=html), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="template-preview"')
    assert "Your appointment at Sunrise Family Clinic" in body and "Details inside" in body
    assert "Greetings Avery" in body  # the generated text view
    assert "synthetic sample values" in body
    assert "<iframe" in body and " sandbox " in body and "allow-scripts" not in body
    frame = client.get(_frame_url(body))
    assert frame.status_code == 200
    assert "Greetings Avery" in frame.content.decode() and "Dr. Rowan Demoway" in frame.content.decode()
    csp = frame["Content-Security-Policy"]
    assert "script-src 'none'" in csp and "default-src 'none'" in csp and "sandbox" in csp
    assert "frame-ancestors 'self'" in csp
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    assert "no-store" in frame["Cache-Control"]
    assert _contents(tenant, version)["en"].html_body == REMINDER_HTML  # previewing saves nothing


def test_preview_frame_tokens_are_per_user_and_template(world, login, client):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    other = make_template(tenant, marketer(world.a), name="Other")
    frame = _frame_url(
        login(marketer(world.a), tenant).post(_urls(version)["preview"], editor_data(version)).content.decode()
    )
    assert "Dr. Rowan Demoway" in client.get(frame).content.decode()
    wrong_template = frame.replace(str(version.template_id), str(other.template_id))
    assert "expired" in client.get(wrong_template).content.decode()
    admin = login(world.a.users[Role.ADMIN], tenant)
    response = admin.get(frame)
    assert response.status_code == 200 and "expired" in response.content.decode()
    assert "Dr. Rowan Demoway" not in response.content.decode()


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>{% if %}</p>", "Template syntax error"),
        ("<p>{{ contact.ssn }}</p>", "Unknown merge field"),
        ("<p>{{ 1 / 0 }}</p>", "ZeroDivisionError"),
        ("<p>{{ 'x' * 100000000 }}</p>", "too long"),
        ("<p>{{ ''.__class__ }}</p>", "Refused by the sandbox"),
        ("<p>{% for i in range(100000000) %}x{% endfor %}</p>", "range"),
        ("<p>{{ contact }}</p>", "on its own is not a field"),
        ("{% for i in range(9000) %}{% for j in range(9000) %}{{ i }}{% endfor %}{% endfor %}", "longer than"),
        ("<p>{{ event.appointment_at|datetime(5) }}</p>", "The template failed"),
    ],
)
def test_preview_of_a_broken_template_explains_and_never_fails(world, login, html, expected):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    response = client.post(_urls(version)["preview"], editor_data(version, html_body__en=html))
    assert response.status_code == 200
    body = unescape(response.content.decode())
    assert "preview-problems" in body and expected in body, body[:2000]
    assert client.get(_frame_url(response.content.decode())).status_code == 200
    # The page itself (the no-JavaScript Preview button) shows the same, and saving is refused
    # or succeeds without a server error.
    page = client.post(_urls(version)["edit"], editor_data(version, html_body__en=html, action="preview"))
    assert page.status_code == 200 and expected in unescape(page.content.decode())
    assert client.post(_urls(version)["edit"], editor_data(version, html_body__en=html, action="save")).status_code in (
        302,
        400,
    )


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"languages": ["en"]},
        {"languages": ["../../etc"], "subject__../../etc": "x"},
        {"languages": ["en"], "preview_contact": "not-a-uuid", "preview_language": "zz"},
        {"languages": ["en"], "html_body__en": "x" * 300_000},
        {"version_id": "nonsense", "languages": ["en", "en"], "default_language": "fr"},
    ],
)
def test_preview_of_odd_input_is_never_a_server_error(world, login, data):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    assert client.post(_urls(version)["preview"], data).status_code == 200
    assert client.post(_urls(version)["edit"], {**data, "action": "preview"}).status_code == 200
    assert client.post(_urls(version)["edit"], {**data, "action": "save"}).status_code in (302, 400)


def test_an_empty_preview_post_shows_the_saved_version(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    response = login(world.a.users[Role.COMPLIANCE_OFFICER], tenant).post(_urls(version)["preview"], {})
    assert "Your appointment at Sunrise Family Clinic" in response.content.decode()


def test_checks_are_shown_in_the_editor(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    client = login(marketer(world.a), tenant)
    html = '<p>Hello</p>\n<a href="http://clinic.example/">Site</a>\n<img src="https://x.example/a.png">'
    body = unescape(client.post(_urls(version)["preview"], editor_data(version, html_body__en=html)).content.decode())
    assert "[en] HTML body line 2</strong>: The link “http://clinic.example/” does not use https://." in body
    assert "[en] HTML body line 3</strong>: An image has no alt text" in body
    clean = client.post(_urls(version)["preview"], editor_data(version)).content.decode()
    assert "No problems found" in clean


# --- PHI in previews -------------------------------------------------------------------------------


def _with_contact(world):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    contact = make_contact(tenant, first_name="Zelda", last_name="Quill", language="es")
    return tenant, version, contact


def test_a_real_contact_is_masked_until_revealed_with_a_fresh_step_up(world, login):
    tenant, version, contact = _with_contact(world)
    urls = _urls(version)
    client = login(marketer(world.a), tenant, step_up=False)
    page = client.get(urls["edit"]).content.decode()
    assert "Z. Q." in page and "Zelda" not in page  # the picker is masked

    data = editor_data(version, preview_contact=str(contact.pk))
    masked = client.post(urls["preview"], data).content.decode()
    assert "Zelda" not in masked and "•••" in masked
    frame = client.get(_frame_url(masked)).content.decode()
    assert "Zelda" not in frame and "•••" in frame

    since = head_seq(tenant)
    refused = client.post(urls["reveal"], {**data, "action": "reveal"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200
    assert "needs a fresh passkey confirmation" in refused.content.decode() and "Zelda" not in refused.content.decode()
    assert "template.preview_revealed" not in actions(tenant, since)
    redirected = client.post(
        urls["reveal"], {**data, "action": "reveal"}, HTTP_REFERER=f"http://testserver{urls['edit']}"
    )
    assert redirected.status_code == 302 and redirected["Location"].startswith(reverse("authn:step_up"))
    assert "template.preview_revealed" not in actions(tenant, since)

    give_step_up(client)
    revealed = client.post(urls["reveal"], {**data, "action": "reveal"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Zelda" in revealed and "PHI shown" in revealed
    assert "Zelda" in client.get(_frame_url(revealed)).content.decode()
    assert events(tenant, since) == [
        (
            "template.preview_revealed",
            {"template_id": str(version.template_id), "version": 1, "contact_id": str(contact.pk)},
        )
    ]
    # Later previews of the same contact stay revealed while the step-up is fresh...
    assert "Zelda" in client.post(urls["preview"], data).content.decode()
    # ...but not another contact's, nor after masking again.
    other = make_contact(tenant, first_name="Otto", last_name="Other")
    assert "Otto" not in client.post(urls["preview"], {**data, "preview_contact": str(other.pk)}).content.decode()
    client.post(urls["reveal"], {**data, "action": "hide"}, HTTP_HX_REQUEST="true")
    assert "Zelda" not in client.post(urls["preview"], data).content.decode()


def test_a_reveal_expires_with_the_step_up(world, login, settings):
    tenant, version, contact = _with_contact(world)
    urls = _urls(version)
    client = login(marketer(world.a), tenant, step_up=True)
    data = editor_data(version, preview_contact=str(contact.pk))
    assert "Zelda" in client.post(urls["reveal"], {**data, "action": "reveal"}, HTTP_HX_REQUEST="true").content.decode()
    settings.STEP_UP_SECONDS = 0
    import time

    time.sleep(1.1)
    assert "Zelda" not in client.post(urls["preview"], data).content.decode()


def test_the_reveal_without_javascript_returns_to_the_editor_revealed(world, login):
    tenant, version, contact = _with_contact(world)
    urls = _urls(version)
    client = login(marketer(world.a), tenant, step_up=True)
    response = client.post(urls["reveal"], editor_data(version, preview_contact=str(contact.pk), action="reveal"))
    assert response.status_code == 302 and response["Location"] == f"{urls['edit']}?contact={contact.pk}"
    page = client.get(response["Location"]).content.decode()
    assert "Zelda" in page and "PHI shown" in page
    # The contact's language picks the Spanish content if there is one, else the default.
    assert "data-preview-language>en<" in page


def test_compliance_officer_reveal_is_audited_too(world, login):
    tenant, version, contact = _with_contact(world)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], tenant, step_up=True)
    since = head_seq(tenant)
    response = client.post(
        _urls(version)["reveal"], {"preview_contact": str(contact.pk), "action": "reveal"}, HTTP_HX_REQUEST="true"
    )
    assert "Zelda" in response.content.decode()
    assert actions(tenant, since) == ["template.preview_revealed"]


def test_another_tenants_contact_cannot_be_previewed_or_revealed(world, login):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    foreign = make_contact(world.b.tenant, first_name="Bella")
    client = login(marketer(world.a), tenant, step_up=True)
    data = editor_data(version, preview_contact=str(foreign.pk))
    assert client.post(_urls(version)["preview"], data).status_code == 404
    since = head_seq(tenant)
    assert client.post(_urls(version)["reveal"], {**data, "action": "reveal"}).status_code == 404
    assert actions(tenant, since) == []


def test_phi_stays_out_of_urls(world, login):
    tenant, version, contact = _with_contact(world)
    client = login(marketer(world.a), tenant, step_up=True)
    data = editor_data(version, preview_contact=str(contact.pk))
    body = client.post(_urls(version)["reveal"], {**data, "action": "reveal"}, HTTP_HX_REQUEST="true").content.decode()
    frame = _frame_url(body)
    assert "Zelda" not in frame and "Quill" not in frame and contact.email not in frame
    assert re.fullmatch(r"/templates/[0-9a-f-]{36}/preview/frame/\?t=[A-Za-z0-9_-]+", frame)

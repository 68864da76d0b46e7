"""The templates API: lists with their version numbers (within a query budget), creation and
draft saves with structured problems, all or nothing, submission, rendering with synthetic or
non-PHI values, scopes, and no approval by API."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, resolve, reverse
from django.urls.exceptions import Resolver404

from audit.models import AuditEvent
from audit.tests.helpers import events, head_seq
from templates.models import EmailTemplate, TemplateVersion, VersionStatus
from templates.services import draft_for_editing, version_approve, version_submit
from templates.tests.support import REMINDER_HTML, make_template
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db

READ, WRITE = "templates:read", "templates:write"


@pytest.fixture
def api(world, client):
    """``api(method, url, body=None, scopes=(read, write), tenant=world.a)``: a call with a fresh
    token of that tenant's admin, approved for ``scopes``."""

    def call(method, url, body=None, *, scopes=(READ, WRITE), side=None):
        side = side or world.a
        issued = make_token(side.tenant, side.users[Role.ADMIN], scopes=list(scopes))
        headers = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
        if method == "get":
            return client.get(url, body or {}, **headers)
        return getattr(client, method)(
            url, body if body is not None else {}, content_type="application/json", **headers
        )

    return call


def _template_events(tenant, seq):
    return [(action, details) for action, details in events(tenant, seq) if action.startswith("template.")]


def _approve(world, version):
    with tenant_context(world.a.tenant):
        version_submit(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], version=version)
        version_approve(tenant=world.a.tenant, user=world.a.users[Role.COMPLIANCE_OFFICER], version=version)


def _new_template_body(**overrides):
    body = {
        "name": "Billing notice",
        "purpose": "billing",
        "description": "Monthly statement",
        "default_language": "en",
        "contents": [
            {
                "language": "en",
                "subject": "Your statement from {{ org.name }}",
                "html_body": "<p>Due: {{ event.amount_due|money }}</p>",
            },
            {
                "language": "es",
                "subject": "Su estado de cuenta",
                "html_body": "<p>{{ event.amount_due|money }}</p>",
                "text_body": "Pagar",
            },
        ],
    }
    body.update(overrides)
    return body


def test_list_shows_latest_and_approved_numbers_within_a_constant_query_count(world, api):
    marketer = world.a.users[Role.MARKETER]
    approved = make_template(world.a.tenant, marketer, name="A approved")
    _approve(world, approved)
    with tenant_context(world.a.tenant):
        draft_for_editing(tenant=world.a.tenant, user=marketer, template=approved.template)
    make_template(world.a.tenant, marketer, name="B draft")
    make_template(world.b.tenant, world.b.users[Role.MARKETER], name="Other tenant")
    url = reverse("api:templates_api:template_list")

    with CaptureQueriesContext(connection) as few:
        response = api("get", url, scopes=[READ])
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["results"]}
    assert list(rows) == ["A approved", "B draft"]
    assert (rows["A approved"]["latest_version"], rows["A approved"]["latest_status"]) == (2, "draft")
    assert rows["A approved"]["approved_version"] == 1
    assert (rows["B draft"]["latest_version"], rows["B draft"]["approved_version"]) == (1, None)

    for number in range(6):
        _approve(world, make_template(world.a.tenant, marketer, name=f"C{number}"))
    with CaptureQueriesContext(connection) as many:
        response = api("get", url, scopes=[READ])
    assert len(response.json()["results"]) == 8
    # make_token's own queries are the same both times; eight templates cost what two did.
    assert len(many) == len(few)


def test_list_query_budget(world, api, django_assert_max_num_queries):
    for number in range(5):
        make_template(world.a.tenant, world.a.users[Role.MARKETER], name=f"T{number}")
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=[READ])
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    # 23 are the token's, the tenant's and the audit of the call (api_token.used); one is the list.
    with django_assert_max_num_queries(24):
        response = client.get(reverse("api:templates_api:template_list"))
    assert response.status_code == 200 and len(response.json()["results"]) == 5


def test_create_with_contents_is_audited_as_the_token(world, api):
    seq = head_seq(world.a.tenant)
    response = api("post", reverse("api:templates_api:template_list"), _new_template_body())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["purpose"], body["latest_version"], body["approved_version"]) == (
        "Billing notice",
        "billing",
        1,
        None,
    )
    [version] = body["versions"]
    assert version["status"] == "draft"
    assert version["fields_used"] == ["event.amount_due", "org.name"]
    assert version["phi_fields"] == ["event.amount_due"]
    assert _template_events(world.a.tenant, seq) == [
        ("template.created", {"version": 1, "purpose": "billing", "fields": 2, "phi_fields": 1})
    ]
    with tenant_context(world.a.tenant):
        event = AuditEvent.objects.filter(chain_id=world.a.tenant.pk, action="template.created").get()
    assert event.actor_type == "api_token"

    detail = api(
        "get", reverse("api:templates_api:version_detail", kwargs={"version_id": version["id"]}), scopes=[READ]
    )
    contents = detail.json()["contents"]
    assert [(c["language"], c["text_generated"]) for c in contents] == [("en", True), ("es", False)]
    assert contents[0]["text_body"].startswith("Due:")
    assert contents[1]["text_body"] == "Pagar"


def test_create_refusals_list_problems_with_part_and_line_and_change_nothing(world, api):
    seq = head_seq(world.a.tenant)
    body = _new_template_body(
        purpose="marketing",
        contents=[
            {
                "language": "en",
                "subject": "Hi {{ contact.ssn }}",
                "html_body": "<p>Hello</p>\n<p>{{ contact.first_name }}</p>\n{% if %}",
            }
        ],
    )
    response = api("post", reverse("api:templates_api:template_list"), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_template"
    assert {"part": "subject", "line": 1, "message": "Unknown merge field “contact.ssn”."} in error["problems"]
    assert any(
        p["part"] == "html_body" and p["line"] == 3 and "syntax error" in p["message"] for p in error["problems"]
    )
    assert all(set(problem) == {"part", "line", "message"} for problem in error["problems"])
    with tenant_context(world.a.tenant):
        assert not EmailTemplate.objects.for_tenant(world.a.tenant).exists()
    assert _template_events(world.a.tenant, seq) == []


def test_phi_in_a_purpose_that_forbids_it_is_a_problem(world, api):
    body = _new_template_body(
        purpose="marketing",
        contents=[{"language": "en", "subject": "News", "html_body": "<p>{{ contact.first_name }}</p>"}],
    )
    response = api("post", reverse("api:templates_api:template_list"), body)
    assert response.status_code == 400
    [problem] = response.json()["error"]["problems"]
    assert problem["part"] == "html_body" and "may not carry PHI" in problem["message"]


def test_malformed_bodies_get_field_errors(world, api):
    url = reverse("api:templates_api:template_list")
    response = api("post", url, {"name": "X", "contents": []})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"purpose", "contents"}
    response = api("post", url, _new_template_body(contents=[{"language": "en"}]))
    assert response.json()["error"]["fields"]["contents"] == {
        "0": {"subject": ["This field is required."], "html_body": ["This field is required."]}
    }


def test_detail_and_versions(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    _approve(world, version)
    with tenant_context(world.a.tenant):
        draft = draft_for_editing(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], template=version.template)
    kwargs = {"template_id": version.template_id}
    detail = api("get", reverse("api:templates_api:template_detail", kwargs=kwargs), scopes=[READ]).json()
    assert (detail["latest_version"], detail["latest_status"], detail["approved_version"]) == (2, "draft", 1)
    assert [(v["number"], v["status"]) for v in detail["versions"]] == [(2, "draft"), (1, "approved")]
    listed = api("get", reverse("api:templates_api:template_versions", kwargs=kwargs), scopes=[READ]).json()
    assert [v["id"] for v in listed] == [str(draft.pk), str(version.pk)]
    one = api("get", reverse("api:templates_api:version_detail", kwargs={"version_id": version.pk}), scopes=[READ])
    body = one.json()
    assert body["status"] == "approved" and body["template_id"] == str(version.template_id)
    assert body["phi_fields"] == ["contact.first_name", "event.appointment_at", "event.provider_name"]
    assert body["contents"][0]["html_body"] == REMINDER_HTML
    assert [review["kind"] for review in body["reviews"]] == ["submitted", "approved"]
    assert body["submitted_by_id"] == world.a.users[Role.MARKETER].pk
    assert body["decided_by_id"] == world.a.users[Role.COMPLIANCE_OFFICER].pk


def _draft_body(subject="Updated {{ org.name }}", html="<p>Hi {{ contact.first_name }}</p>"):
    return {"default_language": "en", "contents": [{"language": "en", "subject": subject, "html_body": html}]}


def test_put_draft_saves_the_existing_draft(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    url = reverse("api:templates_api:template_draft", kwargs={"template_id": version.template_id})
    seq = head_seq(world.a.tenant)
    response = api("put", url, _draft_body())
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["id"], body["number"], body["status"]) == (str(version.pk), 1, "draft")
    assert body["contents"][0]["subject"] == "Updated {{ org.name }}"
    assert body["fields_used"] == ["contact.first_name", "org.name"]
    assert _template_events(world.a.tenant, seq) == [
        ("template.draft_saved", {"version": 1, "fields": 2, "phi_fields": 1})
    ]
    assert api("get", url, scopes=[READ]).json()["id"] == str(version.pk)


def test_put_draft_after_submission_starts_a_new_version(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    submitted = api("post", reverse("api:templates_api:version_submit", kwargs={"version_id": version.pk}))
    assert submitted.json()["status"] == "in_review"
    url = reverse("api:templates_api:template_draft", kwargs={"template_id": version.template_id})
    missing = api("get", url, scopes=[READ])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_draft"
    seq = head_seq(world.a.tenant)
    response = api("put", url, _draft_body())
    assert (response.json()["number"], response.json()["status"]) == (2, "draft")
    assert [action for action, _ in _template_events(world.a.tenant, seq)] == [
        "template.draft_started",
        "template.draft_saved",
    ]


def test_a_refused_draft_save_starts_no_draft(world, api):
    """All or nothing: with no draft, a PUT that is refused leaves no new version behind."""
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    with tenant_context(world.a.tenant):
        version_submit(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], version=version)
    url = reverse("api:templates_api:template_draft", kwargs={"template_id": version.template_id})
    seq = head_seq(world.a.tenant)
    response = api("put", url, _draft_body(html="<p>{{ contact.ssn }}</p>"))
    assert response.status_code == 400
    assert {"part": "html_body", "line": 1, "message": "Unknown merge field “contact.ssn”."} in (
        response.json()["error"]["problems"]
    )
    with tenant_context(world.a.tenant):
        numbers = list(TemplateVersion.objects.for_tenant(world.a.tenant).values_list("number", flat=True))
    assert numbers == [1]
    assert _template_events(world.a.tenant, seq) == []


def test_submit_and_submit_again(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    url = reverse("api:templates_api:version_submit", kwargs={"version_id": version.pk})
    seq = head_seq(world.a.tenant)
    response = api("post", url, {"comment": "From the EHR integration"})
    assert response.status_code == 200
    assert response.json()["status"] == "in_review"
    assert response.json()["reviews"][0]["comment"] == "From the EHR integration"
    again = api("post", url)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "workflow"
    assert _template_events(world.a.tenant, seq) == [("template.submitted", {"version": 1, "phi_fields": 3})]


def test_approval_is_not_an_api_operation(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    with pytest.raises(Resolver404):
        resolve(f"/api/templates/versions/{version.pk}/approve/")
    for name in ("version_approve", "version_request_changes"):
        with pytest.raises(NoReverseMatch):
            reverse(f"api:templates_api:{name}", kwargs={"version_id": version.pk})
    schema = api("get", reverse("api:schema"), scopes=[READ]).content.decode()
    assert "/api/templates/versions/{version_id}/submit/" in schema
    assert "approve" not in schema.lower().replace("approved", "")


def test_render_with_synthetic_samples_and_non_phi_values(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    url = reverse("api:templates_api:version_render", kwargs={"version_id": version.pk})
    response = api("post", url, scopes=[READ])
    assert response.status_code == 200
    body = response.json()
    assert body["language"] == "en"
    assert body["subject"] == "Your appointment at Sunrise Family Clinic"
    assert "Hello Avery" in body["html"] and "Dr. Rowan Demoway" in body["text"]
    custom = api("post", url, {"language": "pt-BR", "values": {"org.name": "Clínica <Norte>"}}, scopes=[READ]).json()
    assert custom["language"] == "en"  # falls back to the default language
    assert custom["subject"] == "Your appointment at Clínica <Norte>"


def test_render_refuses_phi_and_unknown_values_without_repeating_them(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    url = reverse("api:templates_api:version_render", kwargs={"version_id": version.pk})
    response = api(
        "post",
        url,
        {"values": {"contact.first_name": "Realname", "event.provider_name": "Dr Real", "x.secret": "Hidden"}},
        scopes=[READ],
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"]["values"] == [
        "contact.first_name is PHI: previews use its synthetic sample.",
        "event.provider_name is PHI: previews use its synthetic sample.",
        "1 value(s) name no merge field of the organisation.",
    ]
    text = response.content.decode()
    assert "Realname" not in text and "Dr Real" not in text and "x.secret" not in text and "Hidden" not in text


def test_render_error_is_structured(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER], html="<p>{{ 1 / 0 }}</p>")
    response = api(
        "post", reverse("api:templates_api:version_render", kwargs={"version_id": version.pk}), scopes=[READ]
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "render_failed"


def test_scopes_separate_reading_from_writing(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    list_url = reverse("api:templates_api:template_list")
    for method, url, body in (
        ("post", list_url, _new_template_body()),
        (
            "put",
            reverse("api:templates_api:template_draft", kwargs={"template_id": version.template_id}),
            _draft_body(),
        ),
        ("post", reverse("api:templates_api:version_submit", kwargs={"version_id": version.pk}), {}),
    ):
        response = api(method, url, body, scopes=[READ])
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "insufficient_scope"
    assert api("get", list_url, scopes=[WRITE]).status_code == 403
    with tenant_context(world.a.tenant):
        assert TemplateVersion.objects.for_tenant(world.a.tenant).get().status == VersionStatus.DRAFT


def test_members_with_a_session_act_by_role(world, login):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    submit = reverse("api:templates_api:version_submit", kwargs={"version_id": version.pk})
    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert officer.get(reverse("api:templates_api:template_list")).status_code == 200
    assert officer.post(submit, {}, content_type="application/json").status_code == 403
    draft = reverse("api:templates_api:template_draft", kwargs={"template_id": version.template_id})
    assert officer.put(draft, _draft_body(), content_type="application/json").status_code == 403
    assert (
        officer.post(
            reverse("api:templates_api:template_list"), _new_template_body(), content_type="application/json"
        ).status_code
        == 403
    )
    marketer = login(world.a.users[Role.MARKETER], world.a.tenant)
    response = marketer.post(submit, {}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["submitted_by_id"] == world.a.users[Role.MARKETER].pk


def test_another_tenants_token_gets_404_for_every_object(world, api):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    urls = [
        ("get", reverse("api:templates_api:template_detail", kwargs={"template_id": version.template_id})),
        ("get", reverse("api:templates_api:template_versions", kwargs={"template_id": version.template_id})),
        ("put", reverse("api:templates_api:template_draft", kwargs={"template_id": version.template_id})),
        ("get", reverse("api:templates_api:version_detail", kwargs={"version_id": version.pk})),
        ("post", reverse("api:templates_api:version_submit", kwargs={"version_id": version.pk})),
        ("post", reverse("api:templates_api:version_render", kwargs={"version_id": version.pk})),
    ]
    for method, url in urls:
        body = _draft_body() if method == "put" else None
        response = api(method, url, body, side=world.b)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    with tenant_context(world.a.tenant):
        assert TemplateVersion.objects.for_tenant(world.a.tenant).get().status == VersionStatus.DRAFT

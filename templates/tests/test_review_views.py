"""The version page, its actions per role, the sandboxed preview and the versions list."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.tests.helpers import events as all_events
from audit.tests.helpers import head_seq
from templates.models import TemplateVersion, VersionStatus
from templates.services import version_approve, version_submit
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _url(name: str, version) -> str:
    return reverse(f"templates:{name}", kwargs={"version_id": version.pk})


def _status(tenant, version) -> str:
    with tenant_context(tenant):
        return TemplateVersion.objects.for_tenant(tenant).get(pk=version.pk).status


def _submitted(world, user_role=Role.MARKETER):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    with tenant_context(world.a.tenant):
        version_submit(tenant=world.a.tenant, user=world.a.users[user_role], version=version)
    return version


def events(tenant, seq) -> list[tuple[str, dict]]:
    """The template events since ``seq`` (signing in writes its own events)."""
    return [(action, details) for action, details in all_events(tenant, seq) if action.startswith("template.")]


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_version_page_shows_status_phi_fields_preview_and_actions_for_a_draft(world, login):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    response = client.get(_url("version_detail", version))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Reminder: version 1" in body and ">Draft</span>" in body
    assert "No version is approved yet" in body
    # PHI fields for the reviewer, by label and name.
    assert "PHI fields (3)" in body
    for label, name in (("Provider", "event.provider_name"), ("First name", "contact.first_name")):
        assert f"{label} <code>{name}</code>" in body
    # Rendered with synthetic samples; the HTML only inside a sandboxed frame.
    assert "Your appointment at Sunrise Family Clinic" in body
    assert f'<iframe class="version-preview-frame" sandbox src="{_url("version_preview", version)}?language=en"' in body
    assert "Hello Avery" in body  # the plain-text body, from the synthetic sample
    # A marketer's actions on a draft: submit, comment, test send; never approve.
    assert _url("version_submit", version) in body
    assert _url("version_comment", version) in body
    assert _url("version_test_send", version) in body
    assert _url("version_approve", version) not in body


def test_preview_is_sandboxed_by_its_csp_and_frameable_only_by_sealpost(world, login):
    version = make_template(
        world.a.tenant,
        world.a.users[Role.MARKETER],
        html="<p>Hello {{ contact.first_name }}</p><script>alert(1)</script>",
        language="en",
    )
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    response = client.get(_url("version_preview", version), {"language": "en"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    csp = response["Content-Security-Policy"]
    for directive in ("default-src 'none'", "frame-ancestors 'self'", "form-action 'none'", "sandbox"):
        assert directive in csp.split("; "), directive
    assert "script-src" not in csp  # default-src 'none' forbids every script
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Cache-Control"] == "private, no-store"
    assert "Hello Avery" in response.content.decode()
    # The page around it keeps the site's policy: it may not be framed at all.
    page = client.get(_url("version_detail", version))
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_preview_in_another_language_and_a_missing_one(world, login):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    missing = client.get(_url("version_preview", version), {"language": "fr"})
    assert missing.status_code == 400
    assert "no content in that language" in missing.content.decode()


def test_marketer_submits_and_the_officer_approves_through_the_pages(world, login):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    seq = head_seq(world.a.tenant)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    response = client.post(_url("version_submit", version), {"comment": "Please check the date format."}, follow=True)
    assert response.redirect_chain[-1][0] == _url("version_detail", version) + "#review"
    assert "Version 1 was submitted for review." in _messages(response)
    assert _status(world.a.tenant, version) == VersionStatus.IN_REVIEW
    # The marketer now sees no submit button and no decision buttons.
    body = response.content.decode()
    assert _url("version_submit", version) not in body and _url("version_approve", version) not in body

    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    page = officer.get(_url("version_detail", version)).content.decode()
    assert _url("version_approve", version) in page and _url("version_request_changes", version) in page
    assert _url("version_test_send", version) not in page  # officers do not edit or test-send
    response = officer.post(_url("version_approve", version), {"comment": "Fine."}, follow=True)
    assert "Version 1 is approved: it may now be sent." in _messages(response)
    body = response.content.decode()
    assert "Please check the date format." in body and "Fine." in body
    assert "Sent from this version" in body
    assert [action for action, _ in events(world.a.tenant, seq)] == ["template.submitted", "template.approved"]


def test_request_changes_without_a_comment_is_refused_with_a_message(world, login):
    version = _submitted(world)
    seq = head_seq(world.a.tenant)
    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    response = officer.post(_url("version_request_changes", version), {"comment": " "}, follow=True)
    assert "Say what should change." in _messages(response)
    assert _status(world.a.tenant, version) == VersionStatus.IN_REVIEW
    response = officer.post(_url("version_request_changes", version), {"comment": "Remove the provider."}, follow=True)
    assert "Changes were requested on version 1." in _messages(response)
    assert _status(world.a.tenant, version) == VersionStatus.CHANGES_REQUESTED
    assert [action for action, _ in events(world.a.tenant, seq)] == ["template.changes_requested"]


def test_an_officer_who_submitted_cannot_decide_and_is_told_why(world, login):
    version = _submitted(world, user_role=Role.COMPLIANCE_OFFICER)
    officer = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    page = officer.get(_url("version_detail", version)).content.decode()
    assert "another compliance officer decides on it" in page
    assert _url("version_approve", version) not in page
    seq = head_seq(world.a.tenant)
    response = officer.post(_url("version_approve", version), follow=True)
    assert "A version is reviewed by someone other than the person who submitted it." in _messages(response)
    assert _status(world.a.tenant, version) == VersionStatus.IN_REVIEW
    assert events(world.a.tenant, seq) == []


@pytest.mark.parametrize("action", ["version_approve", "version_request_changes"])
@pytest.mark.parametrize("role", [Role.MARKETER, Role.ADMIN])
def test_only_compliance_officers_decide(world, login, role, action):
    version = _submitted(world)
    seq = head_seq(world.a.tenant)
    response = login(world.a.users[role], world.a.tenant).post(_url(action, version), {"comment": "Looks fine"})
    assert response.status_code == 403
    assert _status(world.a.tenant, version) == VersionStatus.IN_REVIEW
    assert events(world.a.tenant, seq) == []


@pytest.mark.parametrize("action", ["version_submit", "version_test_send"])
def test_compliance_officers_cannot_edit_submit_or_test_send(world, login, action):
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER])
    seq = head_seq(world.a.tenant)
    response = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant).post(_url(action, version))
    assert response.status_code == 403
    assert _status(world.a.tenant, version) == VersionStatus.DRAFT
    assert events(world.a.tenant, seq) == []


def test_submitting_a_version_already_in_review_is_refused(world, login):
    version = _submitted(world)
    response = login(world.a.users[Role.ADMIN], world.a.tenant).post(_url("version_submit", version), follow=True)
    assert "This version is in review; that step is not possible now." in _messages(response)


def test_submit_refusal_lists_each_problem(world, login):
    from segments.models import AttributeDefinition

    with tenant_context(world.a.tenant):
        definition = AttributeDefinition.objects.create(tenant=world.a.tenant, key="plan", label="Plan", type="text")
    version = make_template(world.a.tenant, world.a.users[Role.MARKETER], html="<p>\n{{ attr.plan }}</p>")
    with tenant_context(world.a.tenant):
        definition.delete()
    response = login(world.a.users[Role.MARKETER], world.a.tenant).post(_url("version_submit", version), follow=True)
    assert "Not submitted (html_body, line 2): Unknown merge field “attr.plan”." in _messages(response)
    assert _status(world.a.tenant, version) == VersionStatus.DRAFT


@pytest.mark.parametrize("role", list(Role))
def test_authors_and_reviewers_comment(world, login, role):
    version = _submitted(world)
    seq = head_seq(world.a.tenant)
    response = login(world.a.users[role], world.a.tenant).post(
        _url("version_comment", version), {"comment": f"Note from {role.value}"}, follow=True
    )
    assert "Comment added." in _messages(response)
    assert f"Note from {role.value}" in response.content.decode()
    assert events(world.a.tenant, seq) == [("template.commented", {"version": 1})]


def test_empty_comment_is_refused(world, login):
    version = _submitted(world)
    seq = head_seq(world.a.tenant)
    response = login(world.a.users[Role.MARKETER], world.a.tenant).post(
        _url("version_comment", version), {"comment": ""}, follow=True
    )
    assert "Write a comment first." in _messages(response)
    assert events(world.a.tenant, seq) == []


def test_versions_list_marks_the_approved_version_within_a_query_budget(world, login, django_assert_max_num_queries):
    from templates.services import draft_for_editing

    marketer, officer = world.a.users[Role.MARKETER], world.a.users[Role.COMPLIANCE_OFFICER]
    version = make_template(world.a.tenant, marketer)
    with tenant_context(world.a.tenant):
        for _ in range(4):
            version_submit(tenant=world.a.tenant, user=marketer, version=version)
            version_approve(tenant=world.a.tenant, user=officer, version=version)
            version = draft_for_editing(tenant=world.a.tenant, user=marketer, template=version.template)
    client = login(marketer, world.a.tenant)
    url = reverse("templates:template_versions", kwargs={"template_id": version.template_id})
    client.get(url)  # warm the session and caches
    # 14 are the middleware's (session, binding, tenant, access policy); the page adds two,
    # however many versions and people there are.
    with django_assert_max_num_queries(16):
        response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Version 4 is approved: it is the version that is sent." in body
    assert body.count("Sent from this version") == 1
    assert body.count(">Approved</span>") == 4 and body.count(">Draft</span>") == 1
    assert "?from=4&amp;to=5" in body

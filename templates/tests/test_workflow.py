"""The review workflow: draft → in review → approved / changes requested, every transition and
refusal with the audit events it writes (in order), and ``approved_version`` returning only
approved versions."""

from __future__ import annotations

import pytest

from audit.tests.helpers import events, head_seq
from templates.models import ReviewKind, TemplateContent, TemplateReview, TemplateVersion, VersionStatus
from templates.selectors import approved_version, version_reviews
from templates.services import (
    ContentInput,
    TemplateInvalid,
    WorkflowError,
    draft_for_editing,
    draft_save,
    version_approve,
    version_comment,
    version_request_changes,
    version_submit,
)
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def a(world):
    return world.a


def _marketer(a):
    return a.users[Role.MARKETER]


def _officer(a):
    return a.users[Role.COMPLIANCE_OFFICER]


def _reload(tenant, version) -> TemplateVersion:
    with tenant_context(tenant):
        return TemplateVersion.objects.for_tenant(tenant).get(pk=version.pk)


def _kinds(tenant, version) -> list[tuple[str, str]]:
    with tenant_context(tenant):
        return [(review.kind, review.comment) for review in version_reviews(tenant=tenant, version=version)]


def _submit(a, version, user=None, comment=""):
    with tenant_context(a.tenant):
        return version_submit(tenant=a.tenant, user=user or _marketer(a), version=version, comment=comment)


def test_submit_then_approve_is_audited_in_order_and_makes_the_version_sendable(a):
    version = make_template(a.tenant, _marketer(a))
    seq = head_seq(a.tenant)
    with tenant_context(a.tenant):
        assert approved_version(tenant=a.tenant, template=version.template) is None
    _submit(a, version, comment="Ready for review")
    with tenant_context(a.tenant):
        # In review is not approved: nothing can be sent yet.
        assert approved_version(tenant=a.tenant, template=version.template) is None
        approved = version_approve(tenant=a.tenant, user=_officer(a), version=version, comment="Minimum necessary.")
        assert approved_version(tenant=a.tenant, template=version.template).pk == version.pk
    assert events(a.tenant, seq) == [
        ("template.submitted", {"version": 1, "phi_fields": 3}),
        ("template.approved", {"version": 1}),
    ]
    stored = _reload(a.tenant, version)
    assert stored.status == VersionStatus.APPROVED == approved.status
    assert stored.submitted_by_id == _marketer(a).pk and stored.submitted_at is not None
    assert stored.decided_by_id == _officer(a).pk and stored.decided_at >= stored.submitted_at
    assert _kinds(a.tenant, version) == [
        (ReviewKind.SUBMITTED, "Ready for review"),
        (ReviewKind.APPROVED, "Minimum necessary."),
    ]


def test_request_changes_then_a_new_draft_is_reviewed_again(a):
    version = make_template(a.tenant, _marketer(a))
    _submit(a, version)
    seq = head_seq(a.tenant)
    with tenant_context(a.tenant):
        version_request_changes(tenant=a.tenant, user=_officer(a), version=version, comment="Drop the provider name.")
        draft = draft_for_editing(tenant=a.tenant, user=_marketer(a), template=version.template)
        draft_save(
            tenant=a.tenant,
            user=_marketer(a),
            version=draft,
            default_language="en",
            contents=[ContentInput(language="en", subject="Your visit", html_body="<p>{{ event.appointment_at }}</p>")],
        )
        version_submit(tenant=a.tenant, user=_marketer(a), version=draft)
        version_approve(tenant=a.tenant, user=_officer(a), version=draft)
        assert approved_version(tenant=a.tenant, template=version.template).pk == draft.pk
    assert [action for action, _ in events(a.tenant, seq)] == [
        "template.changes_requested",
        "template.draft_started",
        "template.draft_saved",
        "template.submitted",
        "template.approved",
    ]
    assert events(a.tenant, seq)[1][1] == {"version": 2, "from_version": 1}
    assert _reload(a.tenant, version).status == VersionStatus.CHANGES_REQUESTED
    assert draft.number == 2


def test_only_approved_versions_are_returned_the_newest_first(a):
    first = make_template(a.tenant, _marketer(a))
    _submit(a, first)
    with tenant_context(a.tenant):
        version_approve(tenant=a.tenant, user=_officer(a), version=first)
        second = draft_for_editing(tenant=a.tenant, user=_marketer(a), template=first.template)
        # A newer draft, then in review, then refused: the approved v1 stays the one sent.
        assert approved_version(tenant=a.tenant, template=first.template).pk == first.pk
        version_submit(tenant=a.tenant, user=_marketer(a), version=second)
        assert approved_version(tenant=a.tenant, template=first.template).pk == first.pk
        version_request_changes(tenant=a.tenant, user=_officer(a), version=second, comment="No.")
        assert approved_version(tenant=a.tenant, template=first.template).pk == first.pk
        third = draft_for_editing(tenant=a.tenant, user=_marketer(a), template=first.template)
        version_submit(tenant=a.tenant, user=_marketer(a), version=third)
        version_approve(tenant=a.tenant, user=_officer(a), version=third)
        assert approved_version(tenant=a.tenant, template=first.template).pk == third.pk


def test_the_submitter_cannot_decide_on_their_own_version(a):
    # An admin submits; even a compliance officer who is the submitter is refused.
    officer = _officer(a)
    version = make_template(a.tenant, _marketer(a))
    _submit(a, version, user=officer)
    seq = head_seq(a.tenant)
    with tenant_context(a.tenant):
        with pytest.raises(WorkflowError, match="someone other than the person who submitted"):
            version_approve(tenant=a.tenant, user=officer, version=version)
        with pytest.raises(WorkflowError, match="someone other than the person who submitted"):
            version_request_changes(tenant=a.tenant, user=officer, version=version, comment="Self-review")
    assert events(a.tenant, seq) == []
    assert _reload(a.tenant, version).status == VersionStatus.IN_REVIEW
    assert _kinds(a.tenant, version) == [(ReviewKind.SUBMITTED, "")]


@pytest.mark.parametrize("status", [VersionStatus.DRAFT, VersionStatus.APPROVED, VersionStatus.CHANGES_REQUESTED])
def test_deciding_outside_review_is_refused(a, status):
    version = make_template(a.tenant, _marketer(a))
    if status != VersionStatus.DRAFT:
        _submit(a, version)
        with tenant_context(a.tenant):
            if status == VersionStatus.APPROVED:
                version_approve(tenant=a.tenant, user=_officer(a), version=version)
            else:
                version_request_changes(tenant=a.tenant, user=_officer(a), version=version, comment="Fix")
    seq = head_seq(a.tenant)
    other_officer = a.users[Role.ADMIN]  # any other person: the state check comes first
    with tenant_context(a.tenant):
        with pytest.raises(WorkflowError, match="not possible now"):
            version_approve(tenant=a.tenant, user=other_officer, version=version)
        with pytest.raises(WorkflowError, match="not possible now"):
            version_request_changes(tenant=a.tenant, user=other_officer, version=version, comment="Again")
    assert events(a.tenant, seq) == []
    assert _reload(a.tenant, version).status == status


def test_submitting_twice_is_refused(a):
    version = make_template(a.tenant, _marketer(a))
    _submit(a, version)
    seq = head_seq(a.tenant)
    with pytest.raises(WorkflowError, match="in review; that step is not possible now"):
        _submit(a, version)
    assert events(a.tenant, seq) == []
    assert _kinds(a.tenant, version) == [(ReviewKind.SUBMITTED, "")]


def test_editing_after_submit_is_refused_and_leaves_the_content(a):
    version = make_template(a.tenant, _marketer(a))
    _submit(a, version)
    seq = head_seq(a.tenant)
    with tenant_context(a.tenant), pytest.raises(WorkflowError, match="can no longer change"):
        draft_save(
            tenant=a.tenant,
            user=_marketer(a),
            version=version,
            default_language="en",
            contents=[ContentInput(language="en", subject="Changed", html_body="<p>Changed</p>")],
        )
    assert events(a.tenant, seq) == []
    with tenant_context(a.tenant):
        content = TemplateContent.objects.for_tenant(a.tenant).get(version=version)
    assert content.subject == "Your appointment at {{ org.name }}"


def test_request_changes_needs_a_comment(a):
    version = make_template(a.tenant, _marketer(a))
    _submit(a, version)
    seq = head_seq(a.tenant)
    with tenant_context(a.tenant), pytest.raises(WorkflowError, match="Say what should change"):
        version_request_changes(tenant=a.tenant, user=_officer(a), version=version, comment="   ")
    assert events(a.tenant, seq) == []
    assert _reload(a.tenant, version).status == VersionStatus.IN_REVIEW


def test_comments_join_the_conversation_and_are_audited_without_their_text(a):
    version = make_template(a.tenant, _marketer(a))
    _submit(a, version)
    seq = head_seq(a.tenant)
    with tenant_context(a.tenant):
        version_comment(tenant=a.tenant, user=_officer(a), version=version, comment="Why the provider name?")
        version_comment(tenant=a.tenant, user=_marketer(a), version=version, comment="Patients asked for it.")
        with pytest.raises(WorkflowError, match="Write a comment first"):
            version_comment(tenant=a.tenant, user=_marketer(a), version=version, comment="")
    assert events(a.tenant, seq) == [("template.commented", {"version": 1}), ("template.commented", {"version": 1})]
    assert _kinds(a.tenant, version)[1:] == [
        (ReviewKind.COMMENT, "Why the provider name?"),
        (ReviewKind.COMMENT, "Patients asked for it."),
    ]
    with tenant_context(a.tenant):
        review = TemplateReview.objects.for_tenant(a.tenant).filter(version=version).last()
        review.comment = "Rewritten"
        with pytest.raises(TypeError, match="never changed"):
            review.save()


def test_submit_analyses_again_and_refuses_what_is_no_longer_allowed(a):
    """A data-dictionary attribute the draft uses is deleted before submission: refused, no
    state change, no audit event."""
    from segments.models import AttributeDefinition

    with tenant_context(a.tenant):
        definition = AttributeDefinition.objects.create(tenant=a.tenant, key="plan", label="Plan", type="text")
    version = make_template(a.tenant, _marketer(a), html="<p>Plan: {{ attr.plan }}</p>")
    with tenant_context(a.tenant):
        definition.delete()
    seq = head_seq(a.tenant)
    with pytest.raises(TemplateInvalid, match=r"Unknown merge field “attr\.plan”"):
        _submit(a, version)
    assert events(a.tenant, seq) == []
    assert _reload(a.tenant, version).status == VersionStatus.DRAFT


def test_submit_refuses_a_version_the_editor_checks_mark_as_broken(a):
    """A marketing version without an unsubscribe link saves as a draft (the editor shows the
    error) but cannot go to review: refused, no state change, no audit event."""
    version = make_template(a.tenant, _marketer(a), name="Winter news", purpose="marketing", html="<p>News.</p>")
    seq = head_seq(a.tenant)
    with pytest.raises(TemplateInvalid, match="unsubscribe"):
        _submit(a, version)
    assert events(a.tenant, seq) == []
    assert _reload(a.tenant, version).status == VersionStatus.DRAFT

"""Writes to templates: creating, saving drafts (analysed: unknown fields and PHI the purpose does
not permit are refused at save time), and the review workflow. Every step is audited with ids,
numbers and counts, never content."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, Target, actor_for_user, record
from authn.models import User
from consent.purposes import UnknownPurpose, purpose_get
from templates.analysis import Analysis, FieldProblem, analyse_parts
from templates.fields import merge_fields
from templates.models import (
    EmailTemplate,
    ReviewKind,
    TemplateContent,
    TemplateReview,
    TemplateVersion,
    VersionStatus,
)
from templates.text import html_to_text
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

MAX_SUBJECT = 300
MAX_BODY_CHARS = 200_000
MAX_LANGUAGES = 20


class TemplateInvalid(ValueError):
    """The template cannot be saved or moved on; ``problems`` say where and why."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = list(problems)


class WorkflowError(ValueError):
    """A review step that is not possible now (wrong state, wrong person)."""


@dataclass(frozen=True)
class ContentInput:
    language: str
    subject: str
    html_body: str
    preheader: str = ""
    text_body: str = ""  # empty: generated from the HTML


def _problem(part: str, message: str) -> FieldProblem:
    return FieldProblem(part, 0, message)


def _clean_contents(contents: Sequence[ContentInput], default_language: str) -> list[FieldProblem]:
    problems = []
    languages = [content.language.strip() for content in contents]
    if not contents:
        problems.append(_problem("html_body", "A template needs content in at least one language."))
    if len(contents) > MAX_LANGUAGES:
        problems.append(_problem("language", f"At most {MAX_LANGUAGES} languages."))
    if len(set(languages)) != len(languages):
        problems.append(_problem("language", "Each language appears once."))
    if default_language not in languages:
        problems.append(_problem("language", "The default language needs content."))
    for content in contents:
        if not content.language.strip() or len(content.language) > 16:
            problems.append(_problem("language", "Use a language tag such as en or es."))
        if not content.subject.strip():
            problems.append(_problem("subject", f"[{content.language}] The subject is empty."))
        if len(content.subject) > MAX_SUBJECT or len(content.preheader) > MAX_SUBJECT:
            problems.append(_problem("subject", f"[{content.language}] At most {MAX_SUBJECT} characters."))
        if not content.html_body.strip():
            problems.append(_problem("html_body", f"[{content.language}] The HTML body is empty."))
        if len(content.html_body) > MAX_BODY_CHARS or len(content.text_body) > MAX_BODY_CHARS:
            problems.append(_problem("html_body", f"[{content.language}] At most {MAX_BODY_CHARS:,} characters."))
    return problems


def analyse_version_contents(
    *, tenant: Organisation, purpose: str, contents: Sequence[ContentInput]
) -> tuple[Analysis, list[str]]:
    """The analysis of every part of every language, with the PHI rule applied: a purpose
    that does not allow PHI may not use PHI fields. Returns (analysis, PHI fields)."""
    catalogue = merge_fields(tenant=tenant)
    parts = []
    for content in contents:
        text = content.text_body if content.text_body.strip() else html_to_text(content.html_body)
        parts += [
            ("subject", content.subject),
            ("preheader", content.preheader),
            ("html_body", content.html_body),
            ("text_body", text),
        ]
    analysis = analyse_parts(parts, catalogue)
    phi = analysis.phi_fields(catalogue)
    try:
        info = purpose_get(tenant=tenant, key=purpose)
    except UnknownPurpose:
        analysis.problems.append(_problem("purpose", "Choose one of the organisation's consent purposes."))
        return analysis, phi
    if phi and not info.allows_phi:
        analysis.problems.append(
            _problem(
                "html_body",
                f"Messages for {info.name} may not carry PHI (minimum necessary); remove {', '.join(phi)}.",
            )
        )
    return analysis, phi


def _write_contents(tenant: Organisation, version: TemplateVersion, contents: Sequence[ContentInput]) -> None:
    TemplateContent.objects.for_tenant(tenant).filter(version=version).delete()
    for content in contents:
        written = content.text_body.strip()
        TemplateContent(
            tenant=tenant,
            version=version,
            language=content.language.strip(),
            subject=content.subject.strip(),
            preheader=content.preheader.strip(),
            html_body=content.html_body,
            text_body=content.text_body if written else html_to_text(content.html_body),
            text_generated=not written,
        ).save()


def template_create(
    *,
    tenant: Organisation,
    user: User,
    name: str,
    purpose: str,
    description: str = "",
    default_language: str = "en",
    contents: Sequence[ContentInput],
    actor: Actor | None = None,
) -> TemplateVersion:
    """A new template with its first draft version. ``actor``: who the audit log names when it
    is not ``user`` themself (an API token acting for the admin who registered it)."""
    require_tenant_is_current(tenant)
    name = name.strip()
    problems = [] if name else [_problem("name", "Give the template a name.")]
    if len(name) > 100:
        problems.append(_problem("name", "At most 100 characters."))
    if EmailTemplate.objects.for_tenant(tenant).filter(name=name).exists():
        problems.append(_problem("name", "There is already a template with this name."))
    problems += _clean_contents(contents, default_language)
    analysis, phi = analyse_version_contents(tenant=tenant, purpose=purpose, contents=contents)
    problems += analysis.problems
    if problems:
        raise TemplateInvalid(problems)
    with transaction.atomic():
        template = EmailTemplate(tenant=tenant, name=name, purpose=purpose, description=description, created_by=user)
        template.save()
        version = TemplateVersion(
            tenant=tenant,
            template=template,
            number=1,
            default_language=default_language,
            fields_used=sorted(analysis.fields),
            phi_fields=phi,
            created_by=user,
        )
        version.save()
        _write_contents(tenant, version, contents)
        record(
            tenant=tenant,
            action="template.created",
            actor=actor or actor_for_user(user),
            target=Target.of(template),
            details={"version": 1, "purpose": purpose, "fields": len(analysis.fields), "phi_fields": len(phi)},
        )
    return version


def draft_for_editing(
    *, tenant: Organisation, user: User, template: EmailTemplate, actor: Actor | None = None
) -> TemplateVersion:
    """The template's draft; if it has none (its latest version was submitted), a new draft
    copying the latest version. Submitted versions are never edited."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        versions = TemplateVersion.objects.for_tenant(tenant).select_for_update().filter(template=template)
        draft = versions.filter(status=VersionStatus.DRAFT).first()
        if draft is not None:
            return draft
        latest = versions.order_by("-number").first()
        if latest is None:
            raise WorkflowError("The template has no version to start from.")
        draft = TemplateVersion(
            tenant=tenant,
            template=template,
            number=latest.number + 1,
            default_language=latest.default_language,
            fields_used=latest.fields_used,
            phi_fields=latest.phi_fields,
            created_by=user,
        )
        try:
            with transaction.atomic():
                draft.save()
        except IntegrityError:
            raise WorkflowError("Someone else started a new draft at the same moment; reload.") from None
        for content in TemplateContent.objects.for_tenant(tenant).filter(version=latest):
            TemplateContent(
                tenant=tenant,
                version=draft,
                language=content.language,
                subject=content.subject,
                preheader=content.preheader,
                html_body=content.html_body,
                text_body=content.text_body,
                text_generated=content.text_generated,
            ).save()
        record(
            tenant=tenant,
            action="template.draft_started",
            actor=actor or actor_for_user(user),
            target=Target.of(template),
            details={"version": draft.number, "from_version": latest.number},
        )
    return draft


def draft_save(
    *,
    tenant: Organisation,
    user: User,
    version: TemplateVersion,
    default_language: str,
    contents: Sequence[ContentInput],
    actor: Actor | None = None,
) -> TemplateVersion:
    """Replace a draft's content; refused (``TemplateInvalid``) for unknown fields, syntax
    errors or PHI the purpose does not permit, and (``WorkflowError``) for a submitted version."""
    require_tenant_is_current(tenant)
    problems = _clean_contents(contents, default_language)
    analysis, phi = analyse_version_contents(tenant=tenant, purpose=version.template.purpose, contents=contents)
    problems += analysis.problems
    if problems:
        raise TemplateInvalid(problems)
    with transaction.atomic():
        locked = TemplateVersion.objects.for_tenant(tenant).select_for_update().get(pk=version.pk)
        if not locked.is_editable:
            raise WorkflowError("This version was submitted and can no longer change; edit a new draft.")
        locked.default_language = default_language
        locked.fields_used = sorted(analysis.fields)
        locked.phi_fields = phi
        locked.save(update_fields=["default_language", "fields_used", "phi_fields", "updated_at"])
        _write_contents(tenant, locked, contents)
        record(
            tenant=tenant,
            action="template.draft_saved",
            actor=actor or actor_for_user(user),
            target=Target.of(locked.template),
            details={"version": locked.number, "fields": len(analysis.fields), "phi_fields": len(phi)},
        )
    return locked


def _contents_of(tenant: Organisation, version: TemplateVersion) -> list[ContentInput]:
    return [
        ContentInput(
            language=content.language,
            subject=content.subject,
            preheader=content.preheader,
            html_body=content.html_body,
            text_body=content.text_body,
        )
        for content in TemplateContent.objects.for_tenant(tenant).filter(version=version)
    ]


def _review(tenant: Organisation, version: TemplateVersion, kind: str, user: User, comment: str) -> None:
    TemplateReview(tenant=tenant, version=version, kind=kind, author=user, comment=comment.strip()).save()


def _transition(tenant: Organisation, version: TemplateVersion, *, expected: set[str], new: str) -> TemplateVersion:
    locked = (
        TemplateVersion.objects.for_tenant(tenant).select_for_update().select_related("template").get(pk=version.pk)
    )
    if locked.status not in expected:
        raise WorkflowError(f"This version is {locked.get_status_display().lower()}; that step is not possible now.")
    locked.status = new
    return locked


def _check_errors(tenant: Organisation, purpose: str, contents: Sequence[ContentInput]) -> list[FieldProblem]:
    """The editor's checks that are errors (no unsubscribe link in marketing, PHI in a link,
    broken links, no text), as problems: a version with any of them cannot go to review."""
    # Imported here: templates.checks imports this module for ContentInput.
    from templates.checks import checks_for

    errors = [finding for finding in checks_for(tenant=tenant, purpose=purpose, contents=contents) if finding.is_error]
    return [FieldProblem(error.part, error.line, f"{error.where}: {error.message}".lstrip(": ")) for error in errors]


def version_submit(
    *, tenant: Organisation, user: User, version: TemplateVersion, comment: str = "", actor: Actor | None = None
) -> TemplateVersion:
    """Draft → in review. Analysed again first: the data dictionary may have changed since."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        locked = _transition(tenant, version, expected={VersionStatus.DRAFT}, new=VersionStatus.IN_REVIEW)
        contents = _contents_of(tenant, locked)
        analysis, phi = analyse_version_contents(tenant=tenant, purpose=locked.template.purpose, contents=contents)
        if analysis.problems:
            raise TemplateInvalid(analysis.problems)
        check_errors = _check_errors(tenant, locked.template.purpose, contents)
        if check_errors:
            raise TemplateInvalid(check_errors)
        locked.fields_used, locked.phi_fields = sorted(analysis.fields), phi
        locked.submitted_at, locked.submitted_by = timezone.now(), user
        locked.save(update_fields=["status", "fields_used", "phi_fields", "submitted_at", "submitted_by", "updated_at"])
        _review(tenant, locked, ReviewKind.SUBMITTED, user, comment)
        record(
            tenant=tenant,
            action="template.submitted",
            actor=actor or actor_for_user(user),
            target=Target.of(locked.template),
            details={"version": locked.number, "phi_fields": len(phi)},
        )
    return locked


def _decide(
    tenant: Organisation, user: User, version: TemplateVersion, *, new: str, kind: str, action: str, comment: str
) -> TemplateVersion:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        locked = _transition(tenant, version, expected={VersionStatus.IN_REVIEW}, new=new)
        if locked.submitted_by_id == user.pk:
            raise WorkflowError("A version is reviewed by someone other than the person who submitted it.")
        locked.decided_at, locked.decided_by = timezone.now(), user
        locked.save(update_fields=["status", "decided_at", "decided_by", "updated_at"])
        _review(tenant, locked, kind, user, comment)
        record(
            tenant=tenant,
            action=action,
            actor=actor_for_user(user),
            target=Target.of(locked.template),
            details={"version": locked.number},
        )
    return locked


def version_approve(
    *, tenant: Organisation, user: User, version: TemplateVersion, comment: str = ""
) -> TemplateVersion:
    """In review → approved: this version may now be sent (``approved_version``)."""
    return _decide(
        tenant,
        user,
        version,
        new=VersionStatus.APPROVED,
        kind=ReviewKind.APPROVED,
        action="template.approved",
        comment=comment,
    )


def version_request_changes(
    *, tenant: Organisation, user: User, version: TemplateVersion, comment: str
) -> TemplateVersion:
    """In review → changes requested, saying what to change."""
    if not comment.strip():
        raise WorkflowError("Say what should change.")
    return _decide(
        tenant,
        user,
        version,
        new=VersionStatus.CHANGES_REQUESTED,
        kind=ReviewKind.CHANGES_REQUESTED,
        action="template.changes_requested",
        comment=comment,
    )


def version_comment(*, tenant: Organisation, user: User, version: TemplateVersion, comment: str) -> None:
    require_tenant_is_current(tenant)
    if not comment.strip():
        raise WorkflowError("Write a comment first.")
    with transaction.atomic():
        _review(tenant, version, ReviewKind.COMMENT, user, comment)
        record(
            tenant=tenant,
            action="template.commented",
            actor=actor_for_user(user),
            target=Target.of(version.template),
            details={"version": version.number},
        )

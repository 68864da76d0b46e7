"""Reads of templates, and rendering a version for a recipient.

``approved_version`` is what campaigns and the send pipeline use: only an approved version is
ever sent. ``render_version`` picks the content in the contact's language (falling back to the
version's default language) and renders each part with the compiled, cached template.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from templates.models import EmailTemplate, TemplateContent, TemplateReview, TemplateVersion, VersionStatus
from templates.rendering import compile_part, render_compiled
from tenants.context import require_tenant_is_current
from tenants.models import Organisation


def template_list(*, tenant: Organisation) -> QuerySet[EmailTemplate]:
    require_tenant_is_current(tenant)
    return EmailTemplate.objects.for_tenant(tenant).filter(is_archived=False).order_by("name", "pk")


def template_get(*, tenant: Organisation, template_id: uuid.UUID | str) -> EmailTemplate:
    """404 both when the template does not exist and when it belongs to another tenant."""
    require_tenant_is_current(tenant)
    found = EmailTemplate.objects.for_tenant(tenant).filter(pk=template_id).first()
    if found is None:
        raise Http404("No such template.")
    return found


def version_get(*, tenant: Organisation, version_id: uuid.UUID | str) -> TemplateVersion:
    require_tenant_is_current(tenant)
    found = TemplateVersion.objects.for_tenant(tenant).select_related("template").filter(pk=version_id).first()
    if found is None:
        raise Http404("No such template version.")
    return found


def template_versions(*, tenant: Organisation, template: EmailTemplate) -> QuerySet[TemplateVersion]:
    require_tenant_is_current(tenant)
    return TemplateVersion.objects.for_tenant(tenant).filter(template=template).order_by("-number")


def approved_version(*, tenant: Organisation, template: EmailTemplate) -> TemplateVersion | None:
    """The newest approved version: the only one that may be sent."""
    require_tenant_is_current(tenant)
    return (
        TemplateVersion.objects.for_tenant(tenant)
        .filter(template=template, status=VersionStatus.APPROVED)
        .order_by("-number")
        .first()
    )


def version_contents(*, tenant: Organisation, version: TemplateVersion) -> dict[str, TemplateContent]:
    require_tenant_is_current(tenant)
    return {content.language: content for content in TemplateContent.objects.for_tenant(tenant).filter(version=version)}


def content_for_language(contents: dict[str, TemplateContent], language: str, default: str) -> TemplateContent:
    """The content in ``language`` ("pt-BR" also matches "pt"), else the default language's."""
    wanted = (language or "").strip()
    for candidate in (wanted, wanted.split("-")[0].split("_")[0]):
        if candidate in contents:
            return contents[candidate]
    return contents[default]


@dataclass(frozen=True)
class RenderedMessage:
    language: str
    subject: str
    preheader: str
    html: str
    text: str


def render_content(content: TemplateContent, context: dict[str, Any], *, version_key: str) -> RenderedMessage:
    """Render one language of a version (compiled once per version, language and part)."""

    def part(name: str, source: str, html: bool) -> str:
        template = compile_part(cache_key=(version_key, content.language, name), source=source, html=html)
        return render_compiled(template, context)

    subject = " ".join(part("subject", content.subject, False).split())
    preheader = " ".join(part("preheader", content.preheader, False).split()) if content.preheader else ""
    return RenderedMessage(
        language=content.language,
        subject=subject,
        preheader=preheader,
        html=part("html_body", content.html_body, True),
        text=part("text_body", content.text_body, False),
    )


def render_version(
    *, contents: dict[str, TemplateContent], version: TemplateVersion, language: str, context: dict[str, Any]
) -> RenderedMessage:
    content = content_for_language(contents, language, version.default_language)
    return render_content(content, context, version_key=str(version.pk))


def version_reviews(*, tenant: Organisation, version: TemplateVersion) -> QuerySet[TemplateReview]:
    """The review conversation on a version, oldest first, with each author."""
    require_tenant_is_current(tenant)
    return TemplateReview.objects.for_tenant(tenant).filter(version=version).select_related("author")


@dataclass(frozen=True)
class TemplateSummary:
    template: EmailTemplate
    latest: TemplateVersion | None
    approved: TemplateVersion | None


def template_summaries(*, tenant: Organisation) -> list[TemplateSummary]:
    """The template list's rows: each template with its latest and newest approved version, in
    two queries whatever the number of templates."""
    templates = list(template_list(tenant=tenant))
    latest: dict[Any, TemplateVersion] = {}
    approved: dict[Any, TemplateVersion] = {}
    versions = (
        TemplateVersion.objects.for_tenant(tenant)
        .filter(template__in=templates)
        .only("id", "template_id", "number", "status")
        .order_by("template_id", "-number")
    )
    for version in versions:
        latest.setdefault(version.template_id, version)
        if version.status == VersionStatus.APPROVED:
            approved.setdefault(version.template_id, version)
    return [TemplateSummary(t, latest.get(t.pk), approved.get(t.pk)) for t in templates]

"""Previews of unsaved editor content: rendered uncached (``render_source``) so keystrokes never
fill the compiled-template cache the send pipeline relies on, each part on its own so one broken
part does not hide the others, with problems and render errors collected instead of raised.

The editor's HTML preview is shown in a sandboxed iframe whose document comes from its own URL
(so it can carry its own CSP: no scripts, inline styles allowed, as email needs). What that URL
renders is held in the cache under a random token for ``PREVIEW_TOKEN_SECONDS``: the template
source and the choice of sample, never rendered output, so no PHI is stored.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import transaction

from audit.services import Actor, Target, record
from templates.analysis import FieldProblem
from templates.context import render_context
from templates.fields import MergeField
from templates.models import EmailTemplate
from templates.rendering import RenderError, render_source
from templates.services import ContentInput, analyse_version_contents
from templates.text import html_to_text
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

PREVIEW_TOKEN_SECONDS = 10 * 60
_CACHE_PREFIX = "templates:preview:"


@dataclass
class PreviewResult:
    language: str
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    text_generated: bool = True
    errors: dict[str, str] = field(default_factory=dict)  # part -> render error message
    problems: list[FieldProblem] = field(default_factory=list)  # static analysis of this language

    @property
    def ok(self) -> bool:
        return not self.errors and not self.problems


def pick_content(contents: Sequence[ContentInput], language: str, default: str) -> ContentInput | None:
    """The content in ``language`` ("pt-BR" also matches "pt"), else the default language's,
    else the first: the same fallback sending uses (``selectors.content_for_language``)."""
    by_language = {content.language: content for content in contents}
    wanted = (language or "").strip()
    for candidate in (wanted, wanted.split("-")[0].split("_")[0], default):
        if candidate in by_language:
            return by_language[candidate]
    return contents[0] if contents else None


def language_problems(*, tenant: Organisation, purpose: str, content: ContentInput) -> list[FieldProblem]:
    """What saving would refuse in this one language (unknown fields, syntax, PHI the purpose
    does not allow), so the editor can show it beside that language's fields."""
    analysis, _ = analyse_version_contents(tenant=tenant, purpose=purpose, contents=[content])
    return analysis.problems


def render_preview(
    *,
    tenant: Organisation,
    purpose: str,
    content: ContentInput,
    catalogue: Mapping[str, MergeField],
    values: Mapping[str, Any] | None = None,
    mask_phi: bool = False,
) -> PreviewResult:
    """Render one language of unsaved content; never raises for what the template does."""
    result = PreviewResult(language=content.language)
    result.problems = language_problems(tenant=tenant, purpose=purpose, content=content)
    context = render_context(catalogue, values=values, mask_phi=mask_phi)
    written = content.text_body.strip()
    result.text_generated = not written
    text_source = content.text_body if written else html_to_text(content.html_body)
    parts = (
        ("subject", content.subject, False),
        ("preheader", content.preheader, False),
        ("html_body", content.html_body, True),
        ("text_body", text_source, False),
    )
    for name, source, html in parts:
        try:
            rendered = render_source(source, context, html=html)
        except RenderError as error:
            result.errors[name] = str(error)
            continue
        if name == "subject":
            result.subject = " ".join(rendered.split())
        elif name == "preheader":
            result.preheader = " ".join(rendered.split())
        elif name == "html_body":
            result.html = rendered
        else:
            result.text = rendered
    return result


@dataclass(frozen=True)
class PreviewRequest:
    """What the preview iframe's URL renders: held in the cache under a token."""

    user_id: str
    tenant_id: int
    template_id: str
    purpose: str
    content: ContentInput
    contact_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["content"] = asdict(self.content)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreviewRequest:
        return cls(**{**data, "content": ContentInput(**data["content"])})


def preview_token_store(request: PreviewRequest) -> str:
    token = secrets.token_urlsafe(24)
    cache.set(_CACHE_PREFIX + token, request.as_dict(), PREVIEW_TOKEN_SECONDS)
    return token


def preview_token_load(token: str, *, user_id: str, tenant_id: int, template_id: uuid.UUID) -> PreviewRequest | None:
    """The stored request if the token is this user's, in this tenant, for this template."""
    if not token or len(token) > 64:
        return None
    data = cache.get(_CACHE_PREFIX + token)
    if not isinstance(data, dict):
        return None
    try:
        stored = PreviewRequest.from_dict(data)
    except (TypeError, KeyError):
        return None
    if stored.user_id != user_id or stored.tenant_id != tenant_id or stored.template_id != str(template_id):
        return None
    return stored


def preview_reveal_record(
    *, tenant: Organisation, actor: Actor, template: EmailTemplate, version_number: int, contact_id: uuid.UUID
) -> None:
    """Audit that a preview is about to show a real contact's PHI: ids and the version number only."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        record(
            tenant=tenant,
            action="template.preview_revealed",
            actor=actor,
            target=Target.of(template),
            details={"template_id": str(template.pk), "version": version_number, "contact_id": str(contact_id)},
        )

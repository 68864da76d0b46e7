"""The templates API: list and create templates, read versions with their contents and review
status, save a template's draft, submit a draft for review, and render a version with synthetic
sample values.

Scopes: ``templates:read`` to read and render, ``templates:write`` to create, save drafts and
submit (API tokens). Members signed in with a session need ``templates.view`` /
``templates.edit``. Approving a version, or requesting changes, is a compliance officer's step
in the web UI: no API token can do it. A template that cannot be saved gets a 400 with code
``invalid_template`` and ``error.problems``, each ``{part, line, message}``; a step the
workflow does not allow now gets a 409 with code ``workflow``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request, actor_for_token
from sealpost.api_errors import error_body
from segments.api.access import WriteScopeMixin
from templates.analysis import FieldProblem
from templates.api.serializers import (
    DraftInput,
    ProblemOutput,
    RenderInput,
    RenderOutput,
    SubmitInput,
    TemplateCreateInput,
    TemplateDetailOutput,
    TemplateOutput,
    VersionOutput,
    VersionSummaryOutput,
    contents_from,
)
from templates.context import render_context
from templates.fields import merge_fields
from templates.models import EmailTemplate, TemplateVersion, VersionStatus
from templates.rendering import RenderError
from templates.selectors import (
    render_version,
    template_get,
    template_list,
    template_versions,
    version_contents,
    version_get,
    version_reviews,
)
from templates.services import (
    TemplateInvalid,
    WorkflowError,
    draft_for_editing,
    draft_save,
    template_create,
    version_submit,
)
from tenants.api import request_tenant
from tenants.models import Organisation

INVALID_TEMPLATE = OpenApiResponse(
    description=(
        "The template cannot be saved: `error.code` is `invalid_template` and `error.problems` lists "
        "each problem as `{part, line, message}` (or `invalid` with `error.fields` for a malformed body)."
    )
)
WORKFLOW_CONFLICT = OpenApiResponse(description="The step is not possible in the version's state (code `workflow`).")


def _problems_response(problems: list[FieldProblem]) -> Response:
    body = error_body("invalid_template", "The template cannot be saved as it is; see the problems.")
    body["error"]["problems"] = ProblemOutput(problems, many=True).data
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _workflow_response(error: WorkflowError) -> Response:
    return Response(error_body("workflow", str(error)), status=status.HTTP_409_CONFLICT)


def _acting(request: Request) -> dict[str, Any]:
    """``user`` and ``actor`` for the services. A member with a session is both. For an API
    token, ``created_by``/``submitted_by`` name the admin who registered its application (the
    person accountable for the integration) and the audit log names the token itself."""
    token = getattr(request._request, "api_token", None)
    if token is not None:
        return {"user": token.application.created_by, "actor": actor_for_token(token)}
    return {"user": request.user, "actor": actor_for_request(request._request)}


def _with_version_numbers(queryset: QuerySet[EmailTemplate]) -> QuerySet[EmailTemplate]:
    """Annotate the newest version's number and status and the newest approved number (one
    query for the whole list)."""
    newest = TemplateVersion.objects.filter(template=OuterRef("pk")).order_by("-number")
    return queryset.annotate(
        latest_number=Subquery(newest.values("number")[:1]),
        latest_status=Subquery(newest.values("status")[:1]),
        approved_number=Subquery(newest.filter(status=VersionStatus.APPROVED).values("number")[:1]),
    )


def _template_body(tenant: Organisation, template_id: uuid.UUID) -> dict[str, Any]:
    template = template_get(tenant=tenant, template_id=template_id)
    versions = list(template_versions(tenant=tenant, template=template))
    approved = next((version for version in versions if version.status == VersionStatus.APPROVED), None)
    template.latest_number = versions[0].number if versions else None  # type: ignore[attr-defined]
    template.latest_status = versions[0].status if versions else None  # type: ignore[attr-defined]
    template.approved_number = approved.number if approved else None  # type: ignore[attr-defined]
    return {**TemplateOutput(template).data, "versions": VersionSummaryOutput(versions, many=True).data}


def _version_body(tenant: Organisation, version: TemplateVersion) -> dict[str, Any]:
    contents = version_contents(tenant=tenant, version=version)
    body = {
        **VersionSummaryOutput(version).data,
        "template_id": version.template_id,
        "created_by_id": version.created_by_id,
        "submitted_by_id": version.submitted_by_id,
        "decided_by_id": version.decided_by_id,
        "contents": [contents[language] for language in sorted(contents)],
        "reviews": list(version_reviews(tenant=tenant, version=version)),
    }
    return dict(VersionOutput(body).data)


class TemplatePagination(CursorPagination):
    ordering = ("name", "id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class TemplateListApi(WriteScopeMixin, ListAPIView[EmailTemplate]):
    """GET: the organisation's templates by name, each with its newest version's number and
    status and the number of the approved version that is sent (null when none is).
    POST: create a template with its first draft version (version 1) in one or more languages."""

    required_permission = "templates.view"
    required_scope = "templates:read"
    write_permission = "templates.edit"
    write_scope = "templates:write"
    serializer_class = TemplateOutput
    pagination_class = TemplatePagination

    def get_queryset(self) -> QuerySet[EmailTemplate]:
        return _with_version_numbers(template_list(tenant=request_tenant(self.request)))

    @extend_schema(request=TemplateCreateInput, responses={201: TemplateDetailOutput, 400: INVALID_TEMPLATE})
    def post(self, request: Request) -> Response:
        tenant = request_tenant(request)
        data = TemplateCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            version = template_create(
                tenant=tenant,
                **_acting(request),
                name=values["name"],
                purpose=values["purpose"],
                description=values["description"],
                default_language=values["default_language"],
                contents=contents_from(values["contents"]),
            )
        except TemplateInvalid as invalid:
            return _problems_response(invalid.problems)
        return Response(_template_body(tenant, version.template_id), status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    """One template with the summary of each of its versions, newest first."""

    required_permission = "templates.view"
    required_scope = "templates:read"

    @extend_schema(responses=TemplateDetailOutput)
    def get(self, request: Request, template_id: uuid.UUID) -> Response:
        return Response(_template_body(request_tenant(request), template_id))


class TemplateVersionListApi(APIView):
    """A template's versions, newest first (their contents are on each version)."""

    required_permission = "templates.view"
    required_scope = "templates:read"

    @extend_schema(responses=VersionSummaryOutput(many=True))
    def get(self, request: Request, template_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        template = template_get(tenant=tenant, template_id=template_id)
        versions = template_versions(tenant=tenant, template=template)
        return Response(VersionSummaryOutput(versions, many=True).data)


class VersionDetailApi(APIView):
    """One version: its status, contents per language, the fields it uses and which of them are
    PHI, and the review conversation (authors by user id)."""

    required_permission = "templates.view"
    required_scope = "templates:read"

    @extend_schema(responses=VersionOutput)
    def get(self, request: Request, version_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        return Response(_version_body(tenant, version_get(tenant=tenant, version_id=version_id)))


class TemplateDraftApi(WriteScopeMixin, APIView):
    """GET: the template's current draft (404 with code ``no_draft`` when its newest version was
    submitted). PUT: save the draft, replacing its contents; when there is no draft, a new one
    copying the newest version is started first. All or nothing: a refused save starts no draft."""

    required_permission = "templates.view"
    required_scope = "templates:read"
    write_permission = "templates.edit"
    write_scope = "templates:write"

    @extend_schema(responses=VersionOutput)
    def get(self, request: Request, template_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        template = template_get(tenant=tenant, template_id=template_id)
        draft = template_versions(tenant=tenant, template=template).filter(status=VersionStatus.DRAFT).first()
        if draft is None:
            body = error_body("no_draft", "The template has no draft; PUT one to start it.")
            return Response(body, status=status.HTTP_404_NOT_FOUND)
        return Response(_version_body(tenant, draft))

    @extend_schema(request=DraftInput, responses={200: VersionOutput, 400: INVALID_TEMPLATE, 409: WORKFLOW_CONFLICT})
    def put(self, request: Request, template_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        template = template_get(tenant=tenant, template_id=template_id)
        data = DraftInput(data=request.data)
        data.is_valid(raise_exception=True)
        acting = _acting(request)
        try:
            with transaction.atomic():
                draft = draft_for_editing(tenant=tenant, template=template, **acting)
                saved = draft_save(
                    tenant=tenant,
                    version=draft,
                    default_language=data.validated_data["default_language"],
                    contents=contents_from(data.validated_data["contents"]),
                    **acting,
                )
        except TemplateInvalid as invalid:
            return _problems_response(invalid.problems)
        except WorkflowError as error:
            return _workflow_response(error)
        return Response(_version_body(tenant, saved))


class VersionSubmitApi(APIView):
    """Submit a draft for review (draft → in review). It is analysed again first: a field the
    data dictionary no longer has, or PHI the purpose no longer permits, is refused with the
    problems. Approval is a compliance officer's step in the web UI."""

    required_permission = "templates.edit"
    required_scope = "templates:write"

    @extend_schema(request=SubmitInput, responses={200: VersionOutput, 400: INVALID_TEMPLATE, 409: WORKFLOW_CONFLICT})
    def post(self, request: Request, version_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        version = version_get(tenant=tenant, version_id=version_id)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            submitted = version_submit(
                tenant=tenant, version=version, comment=data.validated_data["comment"], **_acting(request)
            )
        except TemplateInvalid as invalid:
            return _problems_response(invalid.problems)
        except WorkflowError as error:
            return _workflow_response(error)
        return Response(_version_body(tenant, submitted))


class VersionRenderApi(APIView):
    """Render a version in a language (default: the version's default language; a language it
    lacks falls back to it) with synthetic sample values, overlaid with the non-PHI sample
    values given. Values for PHI fields are refused: previews never carry patients' data."""

    required_permission = "templates.view"
    required_scope = "templates:read"

    @extend_schema(
        request=RenderInput,
        responses={
            200: RenderOutput,
            400: OpenApiResponse(description="Refused values or a render error (code `render_failed`)."),
        },
    )
    def post(self, request: Request, version_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        version = version_get(tenant=tenant, version_id=version_id)
        data = RenderInput(data=request.data)
        data.is_valid(raise_exception=True)
        catalogue = merge_fields(tenant=tenant)
        values: dict[str, Any] = data.validated_data["values"]
        phi = sorted(name for name in values if name in catalogue and catalogue[name].phi)
        unknown = [name for name in values if name not in catalogue]
        problems: dict[str, list[str]] = {}
        if phi:
            problems["values"] = [f"{name} is PHI: previews use its synthetic sample." for name in phi]
        if unknown:
            # The unknown names are not repeated: they came from the request.
            problems.setdefault("values", []).append(
                f"{len(unknown)} value(s) name no merge field of the organisation."
            )
        if problems:
            raise serializers.ValidationError(problems)
        try:
            rendered = render_version(
                contents=version_contents(tenant=tenant, version=version),
                version=version,
                language=data.validated_data["language"],
                context=render_context(catalogue, values=values),
            )
        except RenderError as error:
            return Response(error_body("render_failed", str(error)), status=status.HTTP_400_BAD_REQUEST)
        return Response(RenderOutput(rendered).data)

"""The compliance reports in the API (``compliance:read`` for tokens; ``reports.compliance`` for
members with a session): the PHI exposure summary over a period, and the report's exports —
request one (202 with its status URL), poll its status and progress, download it when done.
Downloads and requests are audited like the web's. Errors: 400 ``invalid`` (a bad period or
format), 409 ``not_ready`` (still generating, or failed), 410 ``expired``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request
from reporting.compliance import ReportPeriodError, compliance_period, phi_exposure_summary
from reporting.compliance_exports import (
    ExportNotReady,
    report_export_download,
    report_export_get,
    report_export_list,
    report_export_request,
)
from reporting.models import ExportFormat, ReportExport
from sealpost.api_errors import error_body
from tenants.api import request_tenant

PERMISSION = "reports.compliance"
SCOPE = "compliance:read"
CONTENT_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.HTML: "text/html; charset=utf-8"}


class PeriodInput(serializers.Serializer[Any]):
    start = serializers.DateField(required=False, help_text="First UTC day (default: 29 days before end).")
    end = serializers.DateField(required=False, help_text="Last UTC day, inclusive (default: today).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["period"] = compliance_period(start=attrs.get("start"), end=attrs.get("end"))
        except ReportPeriodError as error:
            raise serializers.ValidationError({"start": [str(error)]}) from None
        return attrs


class ExportInput(PeriodInput):
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.CSV)


class PhiExposureOutput(serializers.Serializer[Any]):
    start = serializers.DateField()
    end = serializers.DateField()
    total = serializers.IntegerField(help_text="PHI-bearing campaign messages whose last change fell in the period.")
    by_protection = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="verified_tls, standard, escrow, blocked, quarantined, pending, not_delivered, unknown.",
    )
    tls_versions = serializers.DictField(
        child=serializers.IntegerField(), help_text="Messages accepted over TLS, by negotiated protocol."
    )
    by_status = serializers.DictField(child=serializers.IntegerField())


class ExportOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    format = serializers.CharField()
    start = serializers.DateField(source="period_start")
    end = serializers.DateField(source="period_end")
    status = serializers.CharField(help_text="queued, running, done, failed or expired.")
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    percent = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def get_status_url(self, instance: ReportExport) -> str:
        return reverse("api:reporting_compliance_api:export_detail", kwargs={"export_id": instance.pk})

    def get_download_url(self, instance: ReportExport) -> str | None:
        if instance.status != "done":
            return None
        return reverse("api:reporting_compliance_api:export_download", kwargs={"export_id": instance.pk})


def _requesting_user(request: Request) -> Any:
    """Who an export is recorded under: the admin who registered a token's application."""
    token = getattr(request._request, "api_token", None)
    return token.application.created_by if token is not None else request.user


class PhiExposureApi(APIView):
    required_permission = PERMISSION
    required_scope = SCOPE

    @extend_schema(parameters=[PeriodInput], responses=PhiExposureOutput)
    def get(self, request: Request) -> Response:
        params = PeriodInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        summary = phi_exposure_summary(tenant=request_tenant(request), period=params.validated_data["period"])
        data = summary.as_dict()
        data["start"], data["end"] = data.pop("from"), data.pop("to")
        return Response(PhiExposureOutput(data).data)


class ExportPagination(CursorPagination):
    ordering = ("-created_at", "id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class ExportListApi(ListAPIView[ReportExport]):
    """GET: the organisation's report exports, newest first. POST: request one (202)."""

    required_permission = PERMISSION
    required_scope = SCOPE
    serializer_class = ExportOutput
    pagination_class = ExportPagination

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return report_export_list(tenant=request_tenant(self.request))

    @extend_schema(request=ExportInput, responses={202: ExportOutput})
    def post(self, request: Request) -> Response:
        data = ExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        export = report_export_request(
            tenant=request_tenant(request),
            actor=actor_for_request(request._request),
            user=_requesting_user(request),
            period=data.validated_data["period"],
            export_format=data.validated_data["format"],
        )
        return Response(ExportOutput(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    required_permission = PERMISSION
    required_scope = SCOPE

    @extend_schema(responses=ExportOutput)
    def get(self, request: Request, export_id: uuid.UUID) -> Response:
        export = report_export_get(tenant=request_tenant(request), export_id=export_id)
        return Response(ExportOutput(export).data)


class ExportDownloadApi(APIView):
    required_permission = PERMISSION
    required_scope = SCOPE

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "text/html"): OpenApiTypes.BINARY,
            409: OpenApiResponse(description="Not generated (yet): code `not_ready`."),
            410: OpenApiResponse(description="Expired, or its file is gone: code `expired` or `missing`."),
        }
    )
    def get(self, request: Request, export_id: uuid.UUID) -> Any:
        tenant = request_tenant(request)
        export = report_export_get(tenant=tenant, export_id=export_id)
        try:
            chunks = report_export_download(tenant=tenant, actor=actor_for_request(request._request), export=export)
        except ExportNotReady as error:
            code = status.HTTP_409_CONFLICT if error.code == "not_ready" else status.HTTP_410_GONE
            return Response(error_body(error.code, str(error)), status=code)
        response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[ExportFormat(export.format)])
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["Cache-Control"] = "no-store"
        return response

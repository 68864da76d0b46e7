from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEvent
from audit.selectors import AuditFilters, audit_event_get, audit_event_list, audit_latest_checkpoint
from audit.services import actor_for_request, record
from audit.verify import verify_chain
from tenants.api import request_tenant


class AuditEventOutput(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id", "seq", "occurred_at", "action", "actor_type", "actor_id", "actor_label", "target_type",
            "target_id", "request_id", "ip", "user_agent", "details", "prev_hash", "hash",
        ]  # fmt: skip
        read_only_fields = fields


class AuditFilterInput(serializers.Serializer[Any]):
    actor = serializers.CharField(required=False, max_length=254)
    action = serializers.CharField(required=False, max_length=80)
    target_type = serializers.CharField(required=False, max_length=64)
    target_id = serializers.CharField(required=False, max_length=64)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_from": ["Must be on or before date_to."]})
        return attrs


class AuditPagination(CursorPagination):
    ordering = "-seq"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class AuditEventListApi(ListAPIView[AuditEvent]):
    required_permission = "audit.view"
    required_scope = "audit:read"
    serializer_class = AuditEventOutput
    pagination_class = AuditPagination

    @extend_schema(parameters=[AuditFilterInput])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        params = AuditFilterInput(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        filters = AuditFilters(**params.validated_data)
        tenant = request_tenant(self.request)
        record(
            tenant=tenant,
            action="audit.viewed",
            actor=actor_for_request(self.request._request),
            details={"filters": filters.used(), "via": "api"},
        )
        return audit_event_list(tenant=tenant, filters=filters)


class AuditEventDetailApi(APIView):
    required_permission = "audit.view"
    required_scope = "audit:read"

    @extend_schema(responses=AuditEventOutput)
    def get(self, request: Request, event_id: int) -> Response:
        tenant = request_tenant(request)
        event = audit_event_get(tenant=tenant, event_id=event_id)
        record(
            tenant=tenant,
            action="audit.viewed",
            actor=actor_for_request(request._request),
            details={"event_id": event.pk, "via": "api"},
        )
        return Response(AuditEventOutput(event).data)


class VerificationOutput(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    events = serializers.IntegerField()
    head_hash = serializers.CharField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(allow_blank=True)
    checkpoint_seq = serializers.IntegerField(allow_null=True)
    latest_checkpoint_at = serializers.DateTimeField(allow_null=True)


class AuditVerificationApi(APIView):
    required_permission = "audit.view"
    required_scope = "audit:read"

    @extend_schema(responses=VerificationOutput)
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        report = verify_chain(tenant)
        checkpoint = audit_latest_checkpoint(tenant=tenant)
        data = {
            "ok": report.ok,
            "events": report.events,
            "head_hash": report.head_hash,
            "first_broken_seq": report.first_broken_seq,
            "problem": report.problem,
            "checkpoint_seq": report.checkpoint_seq,
            "latest_checkpoint_at": checkpoint.created_at if checkpoint else None,
        }
        return Response(VerificationOutput(data).data)

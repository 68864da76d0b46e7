"""The BAA in the API (scope ``baa:read``; ``baa.view`` for members signed in with a session):
the agreement's status and history (``/api/baa/``), the gate's decision (``/api/baa/gate/``,
``?phi=false`` for a message without PHI) and the sub-processors (``/api/baa/subprocessors/``).
Read-only: signing needs a person and a fresh passkey step-up, so it has no API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from baa.gate import GateDecision, phi_sending_decision
from baa.models import Agreement, SubProcessor
from baa.selectors import agreement_in_force, agreement_list, subprocessor_list
from tenants.api import request_tenant

AGREEMENTS_LISTED = 100  # an organisation signs a handful over the years; the newest 100 suffice


class GateOutput(serializers.Serializer[GateDecision]):
    allowed = serializers.BooleanField(read_only=True)
    code = serializers.CharField(
        read_only=True,
        help_text="not_phi, active, no_agreement, unsigned, awaiting_countersignature, not_yet_effective, "
        "expired or terminated.",
    )
    reason = serializers.CharField(read_only=True, help_text="Why, for people.")
    sign_url = serializers.SerializerMethodField(help_text="The page where an admin signs the agreement.")
    agreement_id = serializers.UUIDField(read_only=True, allow_null=True)
    expiry_date = serializers.DateField(read_only=True, allow_null=True)

    def get_sign_url(self, decision: GateDecision) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(decision.sign_url) if request is not None else decision.sign_url


class AgreementOutput(serializers.Serializer[Agreement]):
    id = serializers.UUIDField(read_only=True)
    status = serializers.CharField(read_only=True)
    document_version = serializers.IntegerField(source="document.version", read_only=True)
    document_sha256 = serializers.CharField(source="document.sha256", read_only=True)
    signer_name = serializers.CharField(read_only=True)
    signer_title = serializers.CharField(read_only=True)
    signer_organisation = serializers.CharField(read_only=True)
    signed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    countersigner_name = serializers.CharField(read_only=True)
    countersigner_title = serializers.CharField(read_only=True)
    countersigned_at = serializers.DateTimeField(read_only=True, allow_null=True)
    effective_date = serializers.DateField(read_only=True, allow_null=True)
    expiry_date = serializers.DateField(read_only=True, allow_null=True)
    termination_date = serializers.DateField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)


class BaaStatusOutput(serializers.Serializer[Any]):
    gate = GateOutput(help_text="May PHI be sent now?")
    current = AgreementOutput(allow_null=True, help_text="The agreement in force, or null.")
    agreements = AgreementOutput(many=True, help_text="Every agreement, newest first (up to 100).")


class SubProcessorOutput(serializers.Serializer[SubProcessor]):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    purpose = serializers.CharField(read_only=True)
    handles_phi = serializers.BooleanField(read_only=True)
    baa_status = serializers.CharField(read_only=True, help_text="signed, pending, not_required or none.")
    baa_date = serializers.DateField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True)


class BaaStatusApi(APIView):
    required_permission = "baa.view"
    required_scope = "baa:read"

    @extend_schema(responses=BaaStatusOutput)
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        context = {"request": request}
        agreements = agreement_list(tenant=tenant)[:AGREEMENTS_LISTED]
        body = {
            "gate": GateOutput(phi_sending_decision(tenant=tenant, phi=True), context=context).data,
            "current": None,
            "agreements": AgreementOutput(agreements, many=True).data,  # type: ignore[arg-type]
        }
        in_force = agreement_in_force(tenant=tenant)
        if in_force is not None:
            body["current"] = AgreementOutput(in_force).data
        return Response(body)


class GateInput(serializers.Serializer[Any]):
    phi = serializers.BooleanField(required=False, default=True, help_text="Whether the message carries PHI.")


class BaaGateApi(APIView):
    """What launch and sending will decide: PHI needs an agreement in force, other mail does not."""

    required_permission = "baa.view"
    required_scope = "baa:read"

    @extend_schema(
        parameters=[OpenApiParameter("phi", OpenApiTypes.BOOL, description="Default true.")],
        responses=GateOutput,
    )
    def get(self, request: Request) -> Response:
        data = GateInput(data=request.query_params.dict())  # a plain dict: a missing "phi" stays true
        data.is_valid(raise_exception=True)
        decision = phi_sending_decision(tenant=request_tenant(request), phi=data.validated_data["phi"])
        return Response(GateOutput(decision, context={"request": request}).data)


class SubProcessorListApi(APIView):
    required_permission = "baa.view"
    required_scope = "baa:read"

    @extend_schema(responses=SubProcessorOutput(many=True))
    def get(self, request: Request) -> Response:
        subprocessors = subprocessor_list(tenant=request_tenant(request))
        return Response(SubProcessorOutput(subprocessors, many=True).data)  # type: ignore[arg-type]

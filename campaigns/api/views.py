"""The campaigns API: list and create campaigns, read one, launch, pause, resume, cancel, and
read its delivery progress.

Scopes: ``campaigns:read`` to read, ``campaigns:write`` for everything else (API tokens).
Members with a session need ``campaigns.view`` / ``campaigns.manage``. Compliance approval is a
compliance officer's step in the web UI: no token can approve. Errors: 400 ``invalid`` with
``error.fields``; 409 ``launch_refused`` with ``error.check`` (the failed pre-launch check's
code: state, template, approval, baa, sending_domain, segment, schedule) and nothing written;
409 ``state`` for a step the campaign's state does not allow.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request, actor_for_token
from campaigns.api.serializers import CampaignInputSerializer, CampaignOutput, ProgressOutput
from campaigns.models import Campaign
from campaigns.selectors import campaign_get, campaign_list, campaign_progress
from campaigns.services import (
    CampaignInput,
    CampaignInvalid,
    CampaignStateError,
    LaunchRefused,
    campaign_cancel,
    campaign_create,
    campaign_launch,
    campaign_pause,
    campaign_resume,
)
from sealpost.api_errors import error_body
from segments.api.access import WriteScopeMixin
from tenants.api import request_tenant

STATE_CONFLICT = OpenApiResponse(description="Not possible in the campaign's state (code `state`).")
LAUNCH_REFUSED = OpenApiResponse(
    description="A pre-launch check failed (code `launch_refused`, `error.check` names it); nothing was written."
)


def _acting(request: Request) -> dict[str, Any]:
    """``user`` (accountable: for a token, the admin who registered its application) and
    ``actor`` (who the audit log names: the token itself)."""
    token = getattr(request._request, "api_token", None)
    if token is not None:
        return {"user": token.application.created_by, "actor": actor_for_token(token)}
    return {"user": request.user, "actor": actor_for_request(request._request)}


def _state_response(error: CampaignStateError) -> Response:
    return Response(error_body("state", str(error)), status=status.HTTP_409_CONFLICT)


class CampaignPagination(CursorPagination):
    ordering = ("-created_at", "id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class CampaignListApi(WriteScopeMixin, ListAPIView[Campaign]):
    """GET: the organisation's campaigns, newest first. POST: create a draft campaign (its
    purpose is the template's)."""

    required_permission = "campaigns.view"
    required_scope = "campaigns:read"
    write_permission = "campaigns.manage"
    write_scope = "campaigns:write"
    serializer_class = CampaignOutput
    pagination_class = CampaignPagination

    def get_queryset(self) -> QuerySet[Campaign]:
        return campaign_list(tenant=request_tenant(self.request)).select_related("template_version")

    @extend_schema(request=CampaignInputSerializer, responses={201: CampaignOutput})
    def post(self, request: Request) -> Response:
        tenant = request_tenant(request)
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            campaign = campaign_create(tenant=tenant, data=CampaignInput(**data.validated_data), **_acting(request))
        except CampaignInvalid as invalid:
            raise serializers.ValidationError({name: [message] for name, message in invalid.errors.items()}) from None
        return Response(CampaignOutput(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    required_permission = "campaigns.view"
    required_scope = "campaigns:read"

    @extend_schema(responses=CampaignOutput)
    def get(self, request: Request, campaign_id: uuid.UUID) -> Response:
        return Response(CampaignOutput(campaign_get(tenant=request_tenant(request), campaign_id=campaign_id)).data)


class CampaignLaunchApi(APIView):
    """Launch: run the pre-launch checks, pin the approved template version and freeze the
    audience (one message per recipient). The campaign becomes `sending` or `scheduled`."""

    required_permission = "campaigns.manage"
    required_scope = "campaigns:write"

    @extend_schema(request=None, responses={200: CampaignOutput, 409: LAUNCH_REFUSED})
    def post(self, request: Request, campaign_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        campaign = campaign_get(tenant=tenant, campaign_id=campaign_id)
        try:
            launched = campaign_launch(tenant=tenant, campaign=campaign, **_acting(request))
        except LaunchRefused as refused:
            body = error_body("launch_refused", str(refused))
            body["error"]["check"] = refused.code
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(CampaignOutput(launched).data)


class _StepApi(APIView):
    required_permission = "campaigns.manage"
    required_scope = "campaigns:write"
    service: Any = None

    @extend_schema(request=None, responses={200: CampaignOutput, 409: STATE_CONFLICT})
    def post(self, request: Request, campaign_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        campaign = campaign_get(tenant=tenant, campaign_id=campaign_id)
        try:
            changed = type(self).service(tenant=tenant, campaign=campaign, **_acting(request))
        except CampaignStateError as error:
            return _state_response(error)
        return Response(CampaignOutput(changed).data)


class CampaignPauseApi(_StepApi):
    """Pause a scheduled or sending campaign: no more messages are claimed."""

    service = staticmethod(campaign_pause)


class CampaignResumeApi(_StepApi):
    """Resume a paused campaign."""

    service = staticmethod(campaign_resume)


class CampaignCancelApi(_StepApi):
    """Cancel the campaign and every message still waiting."""

    service = staticmethod(campaign_cancel)


class CampaignProgressApi(APIView):
    """Messages per state (one grouped count)."""

    required_permission = "campaigns.view"
    required_scope = "campaigns:read"

    @extend_schema(responses=ProgressOutput)
    def get(self, request: Request, campaign_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        campaign = campaign_get(tenant=tenant, campaign_id=campaign_id)
        progress = campaign_progress(tenant=tenant, campaign=campaign)
        body = {
            "campaign_id": campaign.pk,
            "status": campaign.status,
            "total": progress.total,
            "settled": progress.settled,
            "percent": progress.percent,
            "counts": progress.as_dict(),
        }
        return Response(ProgressOutput(body).data)

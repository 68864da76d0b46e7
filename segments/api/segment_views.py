"""Saved segments in the API: list and create (``/api/segments/``), read, update and delete one
(``/api/segments/<id>/``), and count the contacts matching a rule tree
(``/api/segments/count/``).

Scopes: the contacts' ones, ``contacts:read`` to read and count, ``contacts:write`` to change.
Decision: no scopes of their own, because a rule tree may name PHI values ("diagnosis is ...")
and a count tells how many patients match, so they are exactly as sensitive as contacts.
Members signed in with a session need ``segments.view`` / ``segments.manage``. A rule tree that does not validate gets
a 400 whose ``error.fields.rules`` lists ``{"path", "message"}`` for each bad node.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request
from authn.models import User
from sealpost.api_errors import error_body
from segments.api.access import WriteScopeMixin
from segments.models import Segment
from segments.rules import InvalidRules
from segments.segment_services import (
    SegmentError,
    segment_count_for,
    segment_create,
    segment_delete,
    segment_get,
    segment_list,
    segment_update,
)
from tenants.api import request_tenant

ALL_CONTACTS: dict[str, Any] = {"all": []}


class SegmentOutput(serializers.Serializer[Segment]):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    rules = serializers.JSONField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class SegmentCreateInput(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    rules = serializers.JSONField(help_text='A rule tree: {"all"|"any"|"none": [groups and conditions]}.')


class SegmentUpdateInput(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    rules = serializers.JSONField(required=False)


class CountInput(serializers.Serializer[Any]):
    rules = serializers.JSONField()


class CountOutput(serializers.Serializer[Any]):
    count = serializers.IntegerField()


def invalid_rules_response(error: InvalidRules) -> Response:
    problems = [{"path": problem.path, "message": problem.message} for problem in error.errors]
    message = "The segment rules are invalid; each problem names its node."
    body = error_body("invalid_rules", message, {"rules": problems})
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _invalid(error: SegmentError) -> serializers.ValidationError:
    return serializers.ValidationError({error.field: [error.message]})


def _created_by(request: Request) -> User:
    """A member, or for a token the admin who registered its application."""
    token = getattr(request._request, "api_token", None)
    if token is not None:
        return token.application.created_by  # type: ignore[no-any-return]
    return request.user  # type: ignore[return-value]


class SegmentListApi(WriteScopeMixin, APIView):
    required_permission = "segments.view"
    required_scope = "contacts:read"
    write_permission = "segments.manage"

    @extend_schema(responses=SegmentOutput(many=True))
    def get(self, request: Request) -> Response:
        segments = segment_list(tenant=request_tenant(request))
        return Response(SegmentOutput(segments, many=True).data)  # type: ignore[arg-type]

    @extend_schema(request=SegmentCreateInput, responses={201: SegmentOutput})
    def post(self, request: Request) -> Response:
        data = SegmentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            segment = segment_create(
                tenant=request_tenant(request),
                actor=actor_for_request(request._request),
                created_by=_created_by(request),
                **data.validated_data,
            )
        except InvalidRules as error:
            return invalid_rules_response(error)
        except SegmentError as error:
            raise _invalid(error) from error
        return Response(SegmentOutput(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailApi(WriteScopeMixin, APIView):
    required_permission = "segments.view"
    required_scope = "contacts:read"
    write_permission = "segments.manage"

    @extend_schema(responses=SegmentOutput)
    def get(self, request: Request, segment_id: uuid.UUID) -> Response:
        segment = segment_get(tenant=request_tenant(request), segment_id=segment_id)
        return Response(SegmentOutput(segment).data)

    @extend_schema(request=SegmentUpdateInput, responses=SegmentOutput)
    def patch(self, request: Request, segment_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        segment = segment_get(tenant=tenant, segment_id=segment_id)
        data = SegmentUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            segment = segment_update(
                tenant=tenant, actor=actor_for_request(request._request), segment=segment, **data.validated_data
            )
        except InvalidRules as error:
            return invalid_rules_response(error)
        except SegmentError as error:
            raise _invalid(error) from error
        return Response(SegmentOutput(segment).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, segment_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        segment = segment_get(tenant=tenant, segment_id=segment_id)
        segment_delete(tenant=tenant, actor=actor_for_request(request._request), segment=segment)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentCountApi(APIView):
    """POST a rule tree, get ``{"count": n}``; GET counts every contact (the empty tree).
    Counting reads only: contacts:read, also for POST."""

    required_permission = "segments.view"
    required_scope = "contacts:read"

    @extend_schema(responses=CountOutput)
    def get(self, request: Request) -> Response:
        return Response({"count": segment_count_for(tenant=request_tenant(request), rules=ALL_CONTACTS)})

    @extend_schema(request=CountInput, responses={200: CountOutput})
    def post(self, request: Request) -> Response:
        data = CountInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            count = segment_count_for(tenant=request_tenant(request), rules=data.validated_data["rules"])
        except InvalidRules as error:
            return invalid_rules_response(error)
        return Response({"count": count})

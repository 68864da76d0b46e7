"""The data dictionary in the API: list and define (``/api/v1/attributes/``), read and update
one (``/api/v1/attributes/<id>/``). Reading needs contacts:read, changing contacts:write and the
``dictionary.manage`` permission for members signed in with a session."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request
from segments.api.access import WriteScopeMixin
from segments.dictionary import DictionaryError, attribute_define, attribute_get, attribute_list, attribute_update
from segments.models import AttributeDefinition, AttributeType
from tenants.api import request_tenant


class AttributeOutput(serializers.Serializer[AttributeDefinition]):
    id = serializers.UUIDField(read_only=True)
    key = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    type = serializers.CharField(read_only=True)
    is_phi = serializers.BooleanField(read_only=True)
    choices = serializers.ListField(child=serializers.CharField(), read_only=True)
    description = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class AttributeCreateInput(serializers.Serializer[Any]):
    key = serializers.CharField(max_length=64)
    type = serializers.ChoiceField(choices=AttributeType.values)
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")  # type: ignore[assignment]
    is_phi = serializers.BooleanField(required=False, default=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    choices = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=200)


class AttributeUpdateInput(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=100, required=False, allow_blank=True)  # type: ignore[assignment]
    type = serializers.ChoiceField(choices=AttributeType.values, required=False)
    is_phi = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    choices = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=200)


def _invalid(error: DictionaryError) -> serializers.ValidationError:
    return serializers.ValidationError({error.field: [error.message]})


class AttributeListApi(WriteScopeMixin, APIView):
    required_permission = "dictionary.view"
    required_scope = "contacts:read"
    write_permission = "dictionary.manage"

    @extend_schema(responses=AttributeOutput(many=True))
    def get(self, request: Request) -> Response:
        attributes = attribute_list(tenant=request_tenant(request))
        return Response(AttributeOutput(attributes, many=True).data)  # type: ignore[arg-type]

    @extend_schema(request=AttributeCreateInput, responses={201: AttributeOutput})
    def post(self, request: Request) -> Response:
        data = AttributeCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            definition = attribute_define(
                tenant=request_tenant(request), actor=actor_for_request(request._request), **data.validated_data
            )
        except DictionaryError as error:
            raise _invalid(error) from error
        return Response(AttributeOutput(definition).data, status=status.HTTP_201_CREATED)


class AttributeDetailApi(WriteScopeMixin, APIView):
    required_permission = "dictionary.view"
    required_scope = "contacts:read"
    write_permission = "dictionary.manage"

    @extend_schema(responses=AttributeOutput)
    def get(self, request: Request, attribute_id: uuid.UUID) -> Response:
        definition = attribute_get(tenant=request_tenant(request), attribute_id=attribute_id)
        return Response(AttributeOutput(definition).data)

    @extend_schema(request=AttributeUpdateInput, responses=AttributeOutput)
    def patch(self, request: Request, attribute_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        definition = attribute_get(tenant=tenant, attribute_id=attribute_id)
        data = AttributeUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            definition = attribute_update(
                tenant=tenant, actor=actor_for_request(request._request), definition=definition, **data.validated_data
            )
        except DictionaryError as error:
            raise _invalid(error) from error
        return Response(AttributeOutput(definition).data)

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request
from encryption.selectors import keys_destroyed
from segments.models import Contact
from segments.selectors import contact_get, contact_list
from segments.services import contact_list_view_record, contact_view_record
from tenants.api import request_tenant


class ContactOutput(serializers.Serializer[Contact]):
    id = serializers.UUIDField(read_only=True)
    email = serializers.CharField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    external_id = serializers.CharField(read_only=True)
    language = serializers.CharField(read_only=True)
    time_zone = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    readable = serializers.BooleanField(read_only=True, help_text="False once the contact's key was destroyed.")

    def to_representation(self, instance: Contact) -> dict[str, Any]:
        if instance.readable:
            return dict(super().to_representation(instance))
        # Crypto-shredded: only what was never encrypted remains.
        encrypted = ("email", "first_name", "last_name", "external_id")
        return {
            "id": str(instance.pk),
            **dict.fromkeys(encrypted),
            "language": instance.language,
            "time_zone": instance.time_zone,
            "created_at": serializers.DateTimeField().to_representation(instance.created_at),
            "readable": False,
        }


class ContactPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


class KeysDestroyed(APIException):
    status_code = 410
    default_code = "keys_destroyed"
    default_detail = "This organisation's encryption keys were destroyed; contact details are unreadable."


def _refuse_if_keys_destroyed(request: Request) -> None:
    if keys_destroyed(tenant=request_tenant(request)):
        raise KeysDestroyed()


class ContactListApi(ListAPIView[Contact]):
    required_permission = "contacts.view"
    required_scope = "contacts:read"
    serializer_class = ContactOutput
    pagination_class = ContactPagination

    def get_queryset(self) -> QuerySet[Contact]:
        _refuse_if_keys_destroyed(self.request)
        return contact_list(tenant=request_tenant(self.request), search=self.request.query_params.get("q", "")[:100])

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        contact_list_view_record(
            tenant=request_tenant(self.request), actor=actor_for_request(self.request._request), contacts=page or []
        )
        return page


class ContactDetailApi(APIView):
    required_permission = "contacts.view"
    required_scope = "contacts:read"

    @extend_schema(responses=ContactOutput)
    def get(self, request: Request, contact_id: uuid.UUID) -> Response:
        _refuse_if_keys_destroyed(request)
        tenant = request_tenant(request)
        contact = contact_get(tenant=tenant, contact_id=contact_id)
        contact_view_record(tenant=tenant, actor=actor_for_request(request._request), contact=contact)
        return Response(ContactOutput(contact).data)

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request
from encryption.selectors import keys_destroyed
from segments.api.access import WriteScopeMixin
from segments.attributes import attribute_keys_being_deleted
from segments.contacts import ContactInputError, contact_create, contact_update, contact_upsert
from segments.csv_io import CsvFormatError, body_too_large, max_upload_bytes, too_large_message, upload_delete
from segments.imports import ImportInputError, contact_import_get, import_create, import_progress, import_start
from segments.models import Contact, ContactImport
from segments.selectors import contact_get, contact_list, contact_search_for
from segments.services import contact_list_view_record, contact_view_record
from segments.upload_handlers import EncryptingUploadHandler, StoredUpload, discard_stored_upload, use_encrypting_upload
from tenants.api import request_tenant
from tenants.context import require_current_tenant


class ContactOutput(serializers.Serializer[Contact]):
    id = serializers.UUIDField(read_only=True)
    email = serializers.CharField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    external_id = serializers.CharField(read_only=True)
    language = serializers.CharField(read_only=True)
    time_zone = serializers.CharField(read_only=True)
    tracking_opt_out = serializers.BooleanField(
        read_only=True, help_text="The contact asked not to be tracked: no open pixel, no tracked links."
    )
    tags = serializers.SerializerMethodField()
    attributes = serializers.JSONField(read_only=True, help_text="Non-PHI attributes; PHI ones are write-only here.")
    created_at = serializers.DateTimeField(read_only=True)
    readable = serializers.BooleanField(read_only=True, help_text="False once the contact's key was destroyed.")

    def get_tags(self, instance: Contact) -> list[str]:
        return sorted(instance.tags or {})

    def to_representation(self, instance: Contact) -> dict[str, Any]:
        if instance.readable:
            data = dict(super().to_representation(instance))
            data["attributes"] = self._visible_attributes(instance)
            return data
        # Crypto-shredded: only what was never encrypted remains.
        encrypted = ("email", "first_name", "last_name", "external_id")
        return {
            "id": str(instance.pk),
            **dict.fromkeys(encrypted),
            "language": instance.language,
            "time_zone": instance.time_zone,
            "tracking_opt_out": instance.tracking_opt_out,
            "tags": self.get_tags(instance),
            "attributes": self._visible_attributes(instance),
            "created_at": serializers.DateTimeField().to_representation(instance.created_at),
            "readable": False,
        }

    def _visible_attributes(self, instance: Contact) -> dict[str, Any]:
        """The stored attributes without those being deleted (asked once per response)."""
        attributes = instance.attributes or {}
        if not attributes:
            return {}
        hidden = getattr(self, "_hidden_keys", None)
        if hidden is None:
            hidden = self._hidden_keys = attribute_keys_being_deleted(tenant=require_current_tenant())
        return {key: value for key, value in attributes.items() if key not in hidden}


SEARCH_LIMIT = 50  # an exact match finds one contact, or a few sharing an address


class ContactPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


class KeysDestroyed(APIException):
    status_code = 410
    default_code = "keys_destroyed"
    default_detail = "This organisation's encryption keys were destroyed; contact details are unreadable."


class SearchInUrl(APIException):
    status_code = 400
    default_code = "search_in_url"
    default_detail = (
        "Searched email addresses and external ids are PHI and never go in a URL: "
        'POST {"q": "..."} to /api/contacts/search/ instead.'
    )


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
        if "q" in self.request.query_params:
            raise SearchInUrl()
        return contact_list(tenant=request_tenant(self.request))

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


class ContactSearchInput(serializers.Serializer[Any]):
    q = serializers.CharField(max_length=320, help_text="An exact email address or external id.")


class ContactSearchOutput(serializers.Serializer[Any]):
    results = ContactOutput(many=True)


class ContactSearchApi(APIView):
    """Exact-match search on email address or external id. A POST, because the searched value
    is PHI: in a URL it would reach browser history, proxies and access logs."""

    required_permission = "contacts.view"
    required_scope = "contacts:read"

    @extend_schema(request=ContactSearchInput, responses=ContactSearchOutput)
    def post(self, request: Request) -> Response:
        _refuse_if_keys_destroyed(request)
        tenant = request_tenant(request)
        data = ContactSearchInput(data=request.data)
        data.is_valid(raise_exception=True)
        search = contact_search_for(tenant=tenant, text=data.validated_data["q"])
        contacts = list(contact_list(tenant=tenant, search=search)[:SEARCH_LIMIT]) if search else []
        contact_list_view_record(tenant=tenant, actor=actor_for_request(request._request), contacts=contacts)
        results = ContactOutput(contacts, many=True).data  # type: ignore[arg-type]
        return Response({"results": results})


class ContactInput(serializers.Serializer[Any]):
    """Shapes only; the contact services validate and normalise the values (errors name the
    field, never the value)."""

    email = serializers.CharField(required=False, allow_blank=True, max_length=320)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    language = serializers.CharField(required=False, max_length=16)
    time_zone = serializers.CharField(required=False, max_length=64)
    tracking_opt_out = serializers.BooleanField(
        required=False, help_text="True: never track this contact's opens or clicks."
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)
    attributes = serializers.DictField(required=False, help_text="Attribute key -> value (null unsets).")


class ContactCreateInput(ContactInput):
    match_on = serializers.ChoiceField(
        choices=["external_id", "email"],
        required=False,
        help_text="Upsert: update the contact whose external_id (or email) in this body matches, else create.",
    )


def _contact_input_invalid(error: ContactInputError) -> serializers.ValidationError:
    return serializers.ValidationError({field: [message] for field, message in error.errors.items()})


class ContactWriteListApi(WriteScopeMixin, ContactListApi):
    """GET lists contacts; POST creates one, or upserts with ``match_on`` (the match key is in
    the body: external ids and emails are PHI and never go in a URL)."""

    write_permission = "contacts.write"

    @extend_schema(request=ContactCreateInput, responses={200: ContactOutput, 201: ContactOutput})
    def post(self, request: Request) -> Response:
        _refuse_if_keys_destroyed(request)
        tenant = request_tenant(request)
        data = ContactCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        match_on = values.pop("match_on", None)
        actor = actor_for_request(request._request)
        try:
            if match_on:
                result = contact_upsert(tenant=tenant, actor=actor, match_on=match_on, data=values)
                contact, created = result.contact, result.created
            else:
                contact, created = contact_create(tenant=tenant, actor=actor, data=values), True
        except ContactInputError as error:
            raise _contact_input_invalid(error) from error
        return Response(ContactOutput(contact).data, status=201 if created else 200)


class ContactWriteDetailApi(WriteScopeMixin, ContactDetailApi):
    write_permission = "contacts.write"

    @extend_schema(request=ContactInput, responses=ContactOutput)
    def patch(self, request: Request, contact_id: uuid.UUID) -> Response:
        _refuse_if_keys_destroyed(request)
        tenant = request_tenant(request)
        contact = contact_get(tenant=tenant, contact_id=contact_id)
        data = ContactInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            contact = contact_update(
                tenant=tenant,
                actor=actor_for_request(request._request),
                contact=contact,
                data=dict(data.validated_data),
            )
        except ContactInputError as error:
            raise _contact_input_invalid(error) from error
        return Response(ContactOutput(contact).data)


# --- Contact imports (segments.imports) ---------------------------------------------------------


class ContactImportOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField(read_only=True)
    status = serializers.CharField(read_only=True)
    match_on = serializers.CharField(read_only=True)
    mapping = serializers.JSONField(read_only=True, help_text="CSV column -> contact field or attribute key.")
    total_rows = serializers.IntegerField(read_only=True)
    processed_rows = serializers.IntegerField(read_only=True)
    created_count = serializers.IntegerField(read_only=True)
    updated_count = serializers.IntegerField(read_only=True)
    error_count = serializers.IntegerField(read_only=True)
    errors = serializers.JSONField(  # type: ignore[assignment]
        read_only=True, help_text="[{row, column, message}], the first 1000."
    )
    cancel_requested = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True)
    status_url = serializers.SerializerMethodField()

    def get_status_url(self, instance: Any) -> str:
        return reverse("api:segments_api:contact_import_detail", kwargs={"import_id": instance.pk})

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = dict(super().to_representation(instance))
        data["processed_rows"] = import_progress(instance)[0]
        return data


class ContactImportInput(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="CSV, UTF-8, header row first.")
    mapping = serializers.JSONField(
        required=False, help_text="Object: CSV column -> contact field or attribute key (omit to use suggestions)."
    )
    match_on = serializers.ChoiceField(choices=["external_id", "email"], default="external_id")


def _importing_user(request: Request) -> Any:
    """The person an import is recorded under: the token's creator for an API application."""
    token = getattr(request._request, "api_token", None)
    return token.created_by if token is not None else request.user


class ContactImportListApi(WriteScopeMixin, APIView):
    """GET lists recent imports; POST (multipart: file, mapping JSON, match_on) uploads a CSV and
    queues it: 202 with the import and its status URL. Needs contacts:write to import."""

    required_permission = "contacts.view"
    required_scope = "contacts:read"
    write_permission = "contacts.import"
    write_scope = "contacts:write"
    parser_classes = [MultiPartParser]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Before anything parses the body (a session's CSRF check would): the file is encrypted
        # as it arrives, never written to disk in plaintext (segments.upload_handlers).
        if request.method == "POST":
            use_encrypting_upload(request)
        return super().initialize_request(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method == "POST" and response.status_code != 202:
            discard_stored_upload(request._request)  # a refused request keeps nothing
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(responses=ContactImportOutput(many=True))
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        imports = ContactImport.objects.for_tenant(tenant)[:50]
        return Response(ContactImportOutput(imports, many=True).data)

    @extend_schema(request=ContactImportInput, responses={202: ContactImportOutput})
    def post(self, request: Request) -> Response:
        _refuse_if_keys_destroyed(request)
        if body_too_large(request.META):
            raise serializers.ValidationError({"file": [too_large_message(max_upload_bytes())]})
        data = ContactImportInput(data=request.data)
        handler = next(h for h in request._request.upload_handlers if isinstance(h, EncryptingUploadHandler))
        if handler.error is not None:
            raise serializers.ValidationError({"file": [str(handler.error)]})
        data.is_valid(raise_exception=True)
        mapping = data.validated_data.get("mapping")
        if mapping is not None and (
            not isinstance(mapping, dict) or not all(isinstance(value, str) for value in mapping.values())
        ):
            raise serializers.ValidationError({"mapping": ["Give an object of column name -> field or key."]})
        tenant = request_tenant(request)
        actor = actor_for_request(request._request)
        upload = data.validated_data["file"]
        if not isinstance(upload, StoredUpload):  # the encrypting handler stores every upload
            raise serializers.ValidationError({"file": ["Send the CSV as the multipart field 'file'."]})
        created: ContactImport | None = None
        try:
            with transaction.atomic():
                created = import_create(tenant=tenant, actor=actor, user=_importing_user(request), stored=upload)
                started = import_start(
                    tenant=tenant,
                    actor=actor,
                    contact_import=created,
                    mapping=mapping if mapping is not None else dict(created.mapping),
                    match_on=data.validated_data["match_on"],
                )
        except CsvFormatError as error:
            raise serializers.ValidationError({"file": [str(error)]}) from error
        except ImportInputError as error:
            if created is not None:
                upload_delete(tenant=tenant, import_id=created.pk)
            raise serializers.ValidationError({"mapping": [str(error)]}) from error
        return Response(ContactImportOutput(started).data, status=202)


class ContactImportDetailApi(APIView):
    """An import's status, progress and error report (no PHI: messages never quote values)."""

    required_permission = "contacts.view"
    required_scope = "contacts:read"

    @extend_schema(responses=ContactImportOutput)
    def get(self, request: Request, import_id: uuid.UUID) -> Response:
        contact_import = contact_import_get(tenant=request_tenant(request), import_id=import_id)
        return Response(ContactImportOutput(contact_import).data)

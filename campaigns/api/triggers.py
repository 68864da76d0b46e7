"""Trigger events API (scope ``events:write``; members with a session need ``campaigns.manage``).

- ``POST /api/events/``: one event ``{"id", "type", "contact": {"external_id" | "email" | "id"},
  "occurred_at", "data": {...}}``. 201 with the stored event; 200 with ``"replayed": true`` when
  the same id came before with the same content (a retry is harmless); 409
  ``idempotency_conflict`` when the id came before with different content; 400 ``invalid`` with
  ``error.fields`` naming each bad field by its path (``data.starts_at``). Nothing is written on
  an error.
- ``POST /api/events/batch/``: ``{"events": [...]}``, 1 to 500 events, all or nothing; paths
  start with ``events.<n>.``; the response lists each event's result in order.
- ``GET /api/event-types/``: the types this organisation receives, built-in and its own, with
  each field's type and whether it is PHI.

Responses never repeat a payload value or the caller's id (either may be PHI).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.api.views import _acting
from campaigns.triggers import (
    MAX_BATCH,
    Received,
    TriggerConflict,
    TriggerInputError,
    trigger_events_receive,
    trigger_types_for,
)
from sealpost.api_errors import error_body
from tenants.api import request_tenant

INVALID = OpenApiResponse(description="Invalid fields (code `invalid`, `error.fields` by path); nothing stored.")
CONFLICT = OpenApiResponse(
    description="An id already used for a different event (code `idempotency_conflict`); nothing stored."
)


class ContactReference(serializers.Serializer[Any]):
    id = serializers.UUIDField(required=False, help_text="The contact's Sealpost id.")
    external_id = serializers.CharField(required=False, help_text="Your system's patient id.")
    email = serializers.EmailField(required=False)


# For the schema only (the service validates, with paths): built inline because a serializer
# cannot declare a field called ``data``.
TriggerEventInput = inline_serializer(
    "TriggerEventInput",
    {
        "id": serializers.CharField(
            max_length=200, help_text="Your own unique id for this event: retries are harmless."
        ),
        "type": serializers.CharField(help_text="An event type key, see /api/event-types/."),
        "contact": ContactReference(help_text="Exactly one of id, external_id or email."),
        "occurred_at": serializers.DateTimeField(required=False, help_text="ISO 8601 with a UTC offset; default now."),
        "data": serializers.DictField(required=False, help_text="The type's fields."),
    },
)


class TriggerEventOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    type = serializers.CharField()
    contact_id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    replayed = serializers.BooleanField(help_text="True when this id had been received before with the same content.")


def _output(received: Received) -> dict[str, Any]:
    event = received.event
    return {
        "id": str(event.pk),
        "type": event.type_key,
        "contact_id": str(event.contact_id),
        "occurred_at": event.occurred_at.isoformat(),
        "received_at": event.received_at.isoformat(),
        "replayed": received.replayed,
    }


def _receive(request: Request, items: Any, *, batch: bool) -> list[Received] | Response:
    try:
        return trigger_events_receive(
            tenant=request_tenant(request), actor=_acting(request)["actor"], items=items, batch=batch
        )
    except TriggerInputError as invalid:
        return Response(error_body("invalid", str(invalid), invalid.fields), status=status.HTTP_400_BAD_REQUEST)
    except TriggerConflict as conflict:
        body = error_body("idempotency_conflict", str(conflict), conflict.fields)
        return Response(body, status=status.HTTP_409_CONFLICT)


class TriggerEventApi(APIView):
    """Receive one trigger event."""

    required_permission = "campaigns.manage"
    required_scope = "events:write"

    @extend_schema(
        request=TriggerEventInput,
        responses={201: TriggerEventOutput, 200: TriggerEventOutput, 400: INVALID, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        result = _receive(request, [request.data], batch=False)
        if isinstance(result, Response):
            return result
        code = status.HTTP_200_OK if result[0].replayed else status.HTTP_201_CREATED
        return Response(_output(result[0]), status=code)


class TriggerEventBatchApi(APIView):
    """Receive up to 500 trigger events at once, all or nothing."""

    required_permission = "campaigns.manage"
    required_scope = "events:write"

    @extend_schema(
        request=inline_serializer("TriggerEventBatchInput", {"events": serializers.ListField(child=TriggerEventInput)}),
        responses={
            200: inline_serializer("TriggerEventBatchOutput", {"results": TriggerEventOutput(many=True)}),
            400: INVALID,
            409: CONFLICT,
        },
    )
    def post(self, request: Request) -> Response:
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
            fields = {"events": [f"Send a list of 1 to {MAX_BATCH} events."]}
            return Response(error_body("invalid", "The request has invalid fields.", fields), status=400)
        result = _receive(request, events, batch=True)
        if isinstance(result, Response):
            return result
        return Response({"results": [_output(one) for one in result]})


class TriggerTypeListApi(APIView):
    """The event types this organisation receives and their payload fields."""

    required_permission = "campaigns.view"
    required_scope = "events:write"

    @extend_schema(
        responses=inline_serializer(
            "TriggerTypeList",
            {
                "results": inline_serializer(
                    "TriggerType",
                    {
                        "key": serializers.CharField(),
                        "label": serializers.CharField(),
                        "description": serializers.CharField(),
                        "builtin": serializers.BooleanField(),
                        "correlation_field": serializers.CharField(),
                        "fields": serializers.ListField(child=serializers.DictField()),
                    },
                    many=True,
                )
            },
        )
    )
    def get(self, request: Request) -> Response:
        types = trigger_types_for(tenant=request_tenant(request))
        return Response(
            {
                "results": [
                    {
                        "key": spec.key,
                        "label": spec.label,
                        "description": spec.description,
                        "builtin": spec.builtin,
                        "correlation_field": spec.correlation_field,
                        "fields": [item.as_dict() for item in spec.fields],
                    }
                    for spec in types.values()
                ]
            }
        )

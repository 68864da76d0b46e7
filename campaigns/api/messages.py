"""Transactional messages API (scope ``messages:send``; members with a session need
``campaigns.manage`` to send, ``campaigns.view`` to read a status).

- ``POST /api/messages/``: ``{"id": your idempotency key, "template": template id, "purpose":
  the template's purpose, "contact": {"id" | "external_id" | "email"}, "data": {event.* values}}``.
  201 ``{"id", "status", "outcome", "reason_codes", "replayed": false, "status_url"}``; 200 with
  ``"replayed": true`` for a retry with the same id and content. ``outcome`` is queued, capped,
  no_consent or suppressed: a refused or capped send is recorded (status ``skipped``), not an
  error. 400 ``invalid`` (``error.fields`` by path, never quoting a value); 409
  ``idempotency_conflict`` (the id was used for a different message), ``no_approved_version``,
  ``no_sending_domain`` or ``baa_required`` (nothing written).
- ``GET /api/messages/<id>/``: ``{"id", "status", "outcome", "reason_codes", "created_at",
  "updated_at"}``: no PHI. Another organisation's message, or one that is not a transactional
  send, is 404.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.api.triggers import ContactReference
from campaigns.api.views import _acting
from campaigns.models import Message
from campaigns.sending import OUTCOMES, enqueue_outcome
from campaigns.transactional import (
    TransactionalConflict,
    TransactionalInvalid,
    TransactionalRefused,
    TransactionalRequest,
    transactional_message_get,
    transactional_send,
)
from sealpost.api_errors import error_body
from tenants.api import request_tenant

INVALID = OpenApiResponse(description="Invalid fields (code `invalid`, `error.fields` by path); nothing written.")
REFUSED = OpenApiResponse(
    description="Code `idempotency_conflict`, `no_approved_version`, `no_sending_domain` or `baa_required`; "
    "nothing written."
)

# For the schema only (the service validates, with paths): inline because a serializer cannot
# declare a field called ``data``.
MessageSendInput = inline_serializer(
    "TransactionalMessageInput",
    {
        "id": serializers.CharField(
            max_length=200, help_text="Your own unique id for this message: retries are harmless."
        ),
        "template": serializers.UUIDField(help_text="The template to send (its approved version is used)."),
        "purpose": serializers.CharField(help_text="The consent purpose: must be the template's."),
        "contact": ContactReference(help_text="Exactly one of id, external_id or email."),
        "data": serializers.DictField(required=False, help_text="event.* merge values, by field name."),
    },
)


class MessageStatusOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    reason_codes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MessageSendOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    reason_codes = serializers.ListField(child=serializers.CharField())
    replayed = serializers.BooleanField()
    status_url = serializers.CharField()


def _status_url(message: Message) -> str:
    return reverse("api:campaigns_api:message_detail", kwargs={"message_id": message.pk})


class MessageSendApi(APIView):
    """Send one transactional message."""

    required_permission = "campaigns.manage"
    required_scope = "messages:send"

    @extend_schema(
        request=MessageSendInput,
        responses={201: MessageSendOutput, 200: MessageSendOutput, 400: INVALID, 409: REFUSED},
    )
    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        acting = _acting(request)
        try:
            enqueued = transactional_send(
                tenant=request_tenant(request),
                user=acting["user"],
                actor=acting["actor"],
                request=TransactionalRequest(
                    id=body.get("id"),
                    template=body.get("template"),
                    purpose=body.get("purpose"),
                    contact=body.get("contact"),
                    data=body.get("data"),
                ),
            )
        except TransactionalInvalid as invalid:
            return Response(error_body("invalid", str(invalid), invalid.fields), status=status.HTTP_400_BAD_REQUEST)
        except TransactionalConflict as conflict:
            return Response(error_body("idempotency_conflict", str(conflict)), status=status.HTTP_409_CONFLICT)
        except TransactionalRefused as refused:
            return Response(error_body(refused.code, str(refused)), status=status.HTTP_409_CONFLICT)
        message = enqueued.message
        assert message is not None  # noqa: S101 - every enqueue records a message
        output = {
            "id": message.pk,
            "status": message.status,
            "outcome": enqueued.outcome,
            "reason_codes": list(message.reason_codes),
            "replayed": enqueued.replayed,
            "status_url": _status_url(message),
        }
        return Response(output, status=status.HTTP_200_OK if enqueued.replayed else status.HTTP_201_CREATED)


class MessageDetailApi(APIView):
    """A transactional message's status (no PHI)."""

    required_permission = "campaigns.view"
    required_scope = "messages:send"

    @extend_schema(responses={200: MessageStatusOutput})
    def get(self, request: Request, message_id: int) -> Response:
        message = transactional_message_get(tenant=request_tenant(request), message_id=message_id)
        return Response(
            {
                "id": message.pk,
                "status": message.status,
                "outcome": enqueue_outcome(message),
                "reason_codes": list(message.reason_codes),
                "created_at": message.created_at.isoformat(),
                "updated_at": message.updated_at.isoformat(),
            }
        )

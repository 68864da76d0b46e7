"""The consent API: a contact's consent (read and set), its history, marketing authorisations,
the suppression list, the purposes and the consent report.

Scopes: ``consent:read`` to read, ``consent:write`` to change (API tokens). Members signed in with
a session need ``consent.view`` / ``consent.manage``, and ``suppression.manage`` or
``consent.report`` for those. Every change goes through ``consent.services`` with source "api"
and is audited there. Errors have the API's one shape (``sealpost.api_errors``); a refused
authorisation names each missing element under ``error.fields``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import actor_for_request
from consent.api.serializers import (
    AuthorisationInput,
    AuthorisationOutput,
    AuthorisationRevokeInput,
    ConsentEventOutput,
    ContactConsentInput,
    ContactConsentOutput,
    PurposeOutput,
    ReportInput,
    ReportOutput,
    SuppressionInput,
    SuppressionOutput,
)
from consent.forms import authorisation_error_field
from consent.models import ConsentEvent, ConsentSource, MarketingAuthorisation, Suppression
from consent.purposes import UnknownPurpose, purpose_get, purposes_for
from consent.reports import (
    DEFAULT_EXPIRING_WITHIN_DAYS,
    ReportPeriodError,
    consent_change_counts,
    consent_counts,
    consent_history_view_record,
    report_period,
)
from consent.selectors import (
    accepts_unencrypted_phi,
    authorisation_get,
    authorisation_text_get,
    authorisation_texts_current,
    contact_authorisations,
    contact_consent_history,
    contact_consent_statuses,
    expiring_authorisations,
    is_suppressed,
    suppression_get,
    suppression_list,
)
from consent.services import (
    ConsentError,
    Evidence,
    SignedAuthorisation,
    consent_set_many,
    marketing_authorisation_record,
    marketing_authorisation_revoke,
    suppression_add,
    suppression_remove,
)
from sealpost.api_errors import error_body
from segments.api.access import WriteScopeMixin
from segments.models import Contact
from segments.selectors import contact_get
from tenants.api import request_tenant
from tenants.models import Organisation

# The report lists at most this many expiring authorisations (``expiring_truncated`` says so).
REPORT_EXPIRING_LIMIT = 500


def _evidence(data: dict[str, Any] | None) -> Evidence:
    data = data or {}
    return Evidence(
        ip_address=data.get("ip_address") or "",
        user_agent=data.get("user_agent") or "",
        form_version=data.get("form_version") or "",
    )


def _consent_body(tenant: Organisation, contact: Contact, changed: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contact_id": contact.pk,
        "statuses": contact_consent_statuses(tenant=tenant, contact=contact),
        "suppressed": is_suppressed(tenant=tenant, contact=contact),
        "accepts_unencrypted_phi": accepts_unencrypted_phi(tenant=tenant, contact=contact),
    }
    if changed is not None:
        body["changed"] = changed
    return dict(ContactConsentOutput(body).data)


class ContactConsentApi(WriteScopeMixin, APIView):
    """GET: the contact's status for every purpose ("never_asked" where nothing was recorded).
    PUT or PATCH: set the statuses named in ``statuses`` (both leave the others as they are:
    consent cannot go back to "never asked", so there is nothing to replace them with), all or
    nothing, source "api", with the evidence the integration holds."""

    required_permission = "consent.view"
    required_scope = "consent:read"
    write_permission = "consent.manage"
    write_scope = "consent:write"

    @extend_schema(responses=ContactConsentOutput)
    def get(self, request: Request, contact_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        contact = contact_get(tenant=tenant, contact_id=contact_id)
        return Response(_consent_body(tenant, contact))

    @extend_schema(request=ContactConsentInput, responses=ContactConsentOutput)
    def put(self, request: Request, contact_id: uuid.UUID) -> Response:
        return self._write(request, contact_id)

    @extend_schema(request=ContactConsentInput, responses=ContactConsentOutput)
    def patch(self, request: Request, contact_id: uuid.UUID) -> Response:
        return self._write(request, contact_id)

    def _write(self, request: Request, contact_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        contact = contact_get(tenant=tenant, contact_id=contact_id)
        data = ContactConsentInput(data=request.data)
        data.is_valid(raise_exception=True)
        statuses: dict[str, str] = data.validated_data["statuses"]
        unknown = {}
        for key in statuses:
            try:
                purpose_get(tenant=tenant, key=key, allow_archived=True)
            except UnknownPurpose:
                unknown[key] = ["Unknown purpose."]
        if unknown:
            raise serializers.ValidationError({"statuses": unknown})
        try:
            changes = consent_set_many(
                tenant=tenant,
                actor=actor_for_request(request._request),
                contact=contact,
                statuses=statuses,
                source=ConsentSource.API,
                evidence=_evidence(data.validated_data.get("evidence")),
            )
        except ConsentError as error:
            raise serializers.ValidationError({"statuses": error.messages}) from error
        changed = [change.purpose for change in changes if change.changed]
        return Response(_consent_body(tenant, contact, changed))


class HistoryPagination(CursorPagination):
    ordering = ("occurred_at", "id")
    page_size = 100
    max_page_size = 500
    page_size_query_param = "page_size"


EVIDENCE_PARAMETER = OpenApiParameter(
    "evidence",
    OpenApiTypes.BOOL,
    description="Also return each change's IP address and user agent (consent evidence). Audited.",
)


class ContactConsentHistoryApi(ListAPIView[ConsentEvent]):
    """The contact's consent history, oldest first (``consent.history_viewed`` is audited).
    The IP address and user agent of each change only with ``?evidence=true``."""

    required_permission = "consent.view"
    required_scope = "consent:read"
    serializer_class = ConsentEventOutput
    pagination_class = HistoryPagination

    def _wants_evidence(self) -> bool:
        return self.request.query_params.get("evidence", "").lower() in ("1", "true", "yes")

    def get_queryset(self) -> QuerySet[ConsentEvent]:
        tenant = request_tenant(self.request)
        contact = contact_get(tenant=tenant, contact_id=self.kwargs["contact_id"])
        consent_history_view_record(
            tenant=tenant,
            actor=actor_for_request(self.request._request),
            contact_id=contact.pk,
            evidence=self._wants_evidence(),
        )
        return contact_consent_history(tenant=tenant, contact_id=contact.pk)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "evidence": self._wants_evidence()}

    @extend_schema(parameters=[EVIDENCE_PARAMETER])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _authorisation_invalid(error: ConsentError) -> serializers.ValidationError:
    fields: dict[str, list[str]] = {}
    for message in error.messages:
        name = authorisation_error_field(message) or "non_field_errors"
        fields.setdefault({"text": "text_id"}.get(name, name), []).append(message)
    return serializers.ValidationError(fields)


class ContactAuthorisationsApi(WriteScopeMixin, APIView):
    """GET: the contact's HIPAA marketing authorisations (without the signature name, which is
    PHI). POST: record one signed on the current version of a text; a refusal names each missing
    element of the authorisation."""

    required_permission = "consent.view"
    required_scope = "consent:read"
    write_permission = "consent.manage"
    write_scope = "consent:write"

    @extend_schema(responses=AuthorisationOutput(many=True))
    def get(self, request: Request, contact_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        contact = contact_get(tenant=tenant, contact_id=contact_id)
        authorisations = contact_authorisations(tenant=tenant, contact=contact)
        return Response(AuthorisationOutput(authorisations, many=True).data)  # type: ignore[arg-type]

    @extend_schema(request=AuthorisationInput, responses={201: AuthorisationOutput})
    def post(self, request: Request, contact_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        contact = contact_get(tenant=tenant, contact_id=contact_id)
        data = AuthorisationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        current = {text.pk: text for text in authorisation_texts_current(tenant=tenant)}
        if values["text_id"] not in current:
            # A field error of this request (another organisation's text is as unknown), not a 404.
            try:
                authorisation_text_get(tenant=tenant, text_id=values["text_id"])
            except Http404:
                message = "No such authorisation text."
            else:
                message = "Not the current version of its text: record authorisations on the current version."
            raise serializers.ValidationError({"text_id": [message]})
        try:
            purpose_get(tenant=tenant, key=values["purpose"])
        except UnknownPurpose as error:
            raise serializers.ValidationError({"purpose": ["Unknown purpose."]}) from error
        try:
            authorisation = marketing_authorisation_record(
                tenant=tenant,
                actor=actor_for_request(request._request),
                contact=contact,
                text=current[values["text_id"]],
                purpose=values["purpose"],
                signed=SignedAuthorisation(
                    signature_name=values["signature_name"],
                    signed_on=values["signed_on"],
                    signature_method=values["signature_method"],
                    expires_on=values["expires_on"],
                    expiry_event=values["expiry_event"],
                ),
                source=ConsentSource.API,
                evidence=_evidence(values.get("evidence")),
            )
        except ConsentError as error:
            raise _authorisation_invalid(error) from error
        return Response(AuthorisationOutput(authorisation).data, status=status.HTTP_201_CREATED)


class AuthorisationRevokeApi(APIView):
    """Revoke an authorisation (the individual's written revocation reached the integration, or
    its expiry event happened). Revoking twice changes nothing."""

    required_permission = "consent.manage"
    required_scope = "consent:write"

    @extend_schema(request=AuthorisationRevokeInput, responses=AuthorisationOutput)
    def post(self, request: Request, authorisation_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        authorisation = authorisation_get(tenant=tenant, authorisation_id=authorisation_id)
        data = AuthorisationRevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        revoked = marketing_authorisation_revoke(
            tenant=tenant,
            actor=actor_for_request(request._request),
            authorisation=authorisation,
            source=ConsentSource.API,
            evidence=_evidence(data.validated_data.get("evidence")),
        )
        return Response(AuthorisationOutput(revoked).data)


class SuppressionPagination(CursorPagination):
    ordering = ("-created_at", "id")
    page_size = 100
    max_page_size = 500
    page_size_query_param = "page_size"


class SuppressionListApi(WriteScopeMixin, ListAPIView[Suppression]):
    """GET: the suppression list, addresses masked, newest first. POST: suppress an address
    (reason "manual" unless the integration knows better: unsubscribed, hard_bounce,
    complaint). The address is sent in the body and never returned unmasked."""

    required_permission = "suppression.manage"
    required_scope = "consent:read"
    write_permission = "suppression.manage"
    write_scope = "consent:write"
    serializer_class = SuppressionOutput
    pagination_class = SuppressionPagination

    def get_queryset(self) -> QuerySet[Suppression]:
        return suppression_list(tenant=request_tenant(self.request))

    @extend_schema(request=SuppressionInput, responses={201: SuppressionOutput})
    def post(self, request: Request) -> Response:
        data = SuppressionInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            suppression = suppression_add(
                tenant=request_tenant(request),
                actor=actor_for_request(request._request),
                email=data.validated_data["email"],
                reason=data.validated_data["reason"],
                source=ConsentSource.API,
            )
        except ConsentError as error:
            raise serializers.ValidationError({"email": error.messages}) from error
        return Response(SuppressionOutput(suppression).data, status=status.HTTP_201_CREATED)


class SuppressionDetailApi(WriteScopeMixin, APIView):
    """GET one suppression (masked); DELETE lifts it. A spam complaint cannot be lifted: 409
    with code ``complaint_not_liftable``."""

    required_permission = "suppression.manage"
    required_scope = "consent:read"
    write_permission = "suppression.manage"
    write_scope = "consent:write"

    @extend_schema(responses=SuppressionOutput)
    def get(self, request: Request, suppression_id: uuid.UUID) -> Response:
        suppression = suppression_get(tenant=request_tenant(request), suppression_id=suppression_id)
        return Response(SuppressionOutput(suppression).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, suppression_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        suppression = suppression_get(tenant=tenant, suppression_id=suppression_id)
        try:
            suppression_remove(tenant=tenant, actor=actor_for_request(request._request), suppression=suppression)
        except ConsentError as error:
            body = error_body("complaint_not_liftable", " ".join(error.messages))
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PurposeListApi(APIView):
    """The built-in purposes, then the organisation's own (archived ones included, marked)."""

    required_permission = "consent.view"
    required_scope = "consent:read"

    @extend_schema(responses=PurposeOutput(many=True))
    def get(self, request: Request) -> Response:
        purposes = purposes_for(tenant=request_tenant(request), include_archived=True)
        return Response(PurposeOutput(purposes, many=True).data)


class ConsentReportApi(APIView):
    """Counts by purpose and status ("never_asked": contacts with nothing recorded), changes in
    the period grouped by kind, purpose and new status, and the authorisations expiring within
    ``expiring_within`` days (contacts by id only)."""

    required_permission = "consent.report"
    required_scope = "consent:read"

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 30 days before `to`)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (default: today)."),
            OpenApiParameter(
                "expiring_within",
                OpenApiTypes.INT,
                description=f"Days ahead for expiring authorisations (default {DEFAULT_EXPIRING_WITHIN_DAYS}).",
            ),
        ],
        responses=ReportOutput,
    )
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        data = ReportInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        try:
            period = report_period(start=data.validated_data.get("from"), end=data.validated_data.get("to"))
        except ReportPeriodError as error:
            raise serializers.ValidationError({"from": [str(error)]}) from error
        within = data.validated_data.get("expiring_within") or DEFAULT_EXPIRING_WITHIN_DAYS
        expiring: list[MarketingAuthorisation] = list(
            expiring_authorisations(tenant=tenant, within_days=within).select_related(None)[: REPORT_EXPIRING_LIMIT + 1]
        )
        body = {
            "period": period,
            "counts": consent_counts(tenant=tenant),
            "changes": consent_change_counts(tenant=tenant, period=period),
            "expiring_within": within,
            "expiring": expiring[:REPORT_EXPIRING_LIMIT],
            "expiring_truncated": len(expiring) > REPORT_EXPIRING_LIMIT,
        }
        return Response(ReportOutput(body).data)

"""The tenant-isolation harness: for every route that takes an object id, tenant B's users (and
B's API tokens) get 404 for tenant A's object, while A's own users reach it.

Adding a route with an id without registering it in ``OBJECT_ROUTES`` (or ``NOT_TENANT_DATA``,
with a reason) fails ``test_every_object_route_is_covered``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse

from authn.models import ApiApplication, ApiToken
from campaigns.tests import isolation as campaigns_isolation
from consent.tests import isolation as consent_isolation
from consent.tests import public_support as consent_public
from delivery.tests import support as delivery_support
from encryption.tests import escrow_support
from encryption.tests import support as encryption_support
from reporting.tests import compliance_support as reporting_compliance
from reporting.tests import tracking_support as reporting_tracking
from templates.tests import isolation as templates_isolation
from tenants.context import tenant_context
from tenants.models import Membership
from tenants.permissions import role_has_permission
from tenants.roles import Role
from tests.factories import make_contact, make_token
from tests.urlwalk import is_api, view_marker, walk


@dataclass(frozen=True)
class ObjectRoute:
    make: Callable[[Any], dict[str, Any]]  # world -> URL kwargs of an object in tenant A
    unchanged: Callable[[Any, dict[str, Any]], bool] | None = None  # state check after B's attempts


def _application_kwargs(world) -> dict[str, Any]:
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["contacts:read"])
    return {"application_id": issued.application.pk}


def _application_unchanged(world, kwargs) -> bool:
    """Not revoked, same scopes, its one token still live (not rotated)."""
    with tenant_context(world.a.tenant):
        application = ApiApplication.objects.for_tenant(world.a.tenant).get(pk=kwargs["application_id"])
        tokens = list(ApiToken.objects.for_tenant(world.a.tenant).filter(application=application))
    return (
        application.revoked_at is None
        and application.scopes == ["contacts:read"]
        and [token.revoked_at for token in tokens] == [None]
    )


def _membership_kwargs(world) -> dict[str, Any]:
    return {"membership_id": world.a.memberships[Role.MARKETER].pk}


def _membership_unchanged(world, kwargs) -> bool:
    with tenant_context(world.a.tenant):
        membership = Membership.objects.for_tenant(world.a.tenant).get(pk=kwargs["membership_id"])
    return membership.role == Role.MARKETER and membership.is_active


def _audit_event_kwargs(world) -> dict[str, Any]:
    from audit.models import AuditEvent

    with tenant_context(world.a.tenant):
        event = AuditEvent.objects.filter(chain_id=world.a.tenant.pk).order_by("-seq").first()
    assert event is not None
    return {"event_id": event.pk}


def _member_session_kwargs(world) -> dict[str, Any]:
    from authn.models import Factor, UserSession

    session = UserSession.objects.create(
        user=world.a.users[Role.MARKETER], device_hash="0" * 64, network="127.0.0.0/24", factor=Factor.PASSKEY
    )
    return {"session_id": session.pk}


def _member_session_open(world, kwargs) -> bool:
    from authn.models import UserSession

    return UserSession.objects.get(pk=kwargs["session_id"]).ended_at is None


def _break_glass_kwargs(world) -> dict[str, Any]:
    from authn.break_glass import break_glass_grant

    with tenant_context(world.a.tenant):
        grant = break_glass_grant(
            tenant=world.a.tenant,
            actor=world.a.users[Role.ADMIN],
            user=world.a.users[Role.MARKETER],
            role=Role.COMPLIANCE_OFFICER,
            reason="Synthetic isolation test emergency",
            minutes=30,
        )
    return {"grant_id": grant.pk}


def _break_glass_not_revoked(world, kwargs) -> bool:
    from authn.models import BreakGlassGrant

    with tenant_context(world.a.tenant):
        return BreakGlassGrant.objects.for_tenant(world.a.tenant).get(pk=kwargs["grant_id"]).revoked_at is None


def _attribute_kwargs(world) -> dict[str, Any]:
    from segments.models import AttributeDefinition

    with tenant_context(world.a.tenant):
        definition = AttributeDefinition.objects.create(
            tenant=world.a.tenant, key="isolation_plan", label="Plan", type="text"
        )
    return {"attribute_id": definition.pk}


def _import_kwargs(world) -> dict[str, Any]:
    from audit.services import actor_for_user
    from segments.imports import import_create

    admin = world.a.users[Role.ADMIN]
    with tenant_context(world.a.tenant):
        contact_import = import_create(
            tenant=world.a.tenant, actor=actor_for_user(admin), user=admin, chunks=[b"email\nx@example.com\n"]
        )
    return {"import_id": contact_import.pk}


def _import_not_cancelled(world, kwargs) -> bool:
    from segments.models import ContactImport, ImportStatus

    with tenant_context(world.a.tenant):
        contact_import = ContactImport.objects.for_tenant(world.a.tenant).get(pk=kwargs["import_id"])
    return contact_import.status == ImportStatus.UPLOADED and not contact_import.cancel_requested


def _attribute_unchanged(world, kwargs) -> bool:
    from segments.models import AttributeDefinition

    with tenant_context(world.a.tenant):
        definition = AttributeDefinition.objects.for_tenant(world.a.tenant).filter(pk=kwargs["attribute_id"]).first()
    return definition is not None and definition.label == "Plan"


def _segment_kwargs(world) -> dict[str, Any]:
    from segments.models import Segment

    with tenant_context(world.a.tenant):
        segment = Segment.objects.create(
            tenant=world.a.tenant, name="Isolation", rules={"all": []}, created_by=world.a.users[Role.ADMIN]
        )
    return {"segment_id": segment.pk}


def _segment_unchanged(world, kwargs) -> bool:
    from segments.models import Segment

    with tenant_context(world.a.tenant):
        segment = Segment.objects.for_tenant(world.a.tenant).filter(pk=kwargs["segment_id"]).first()
    return segment is not None and segment.name == "Isolation" and segment.rules == {"all": []}


def _baa_draft_kwargs(world) -> dict[str, Any]:
    from baa.tests.support import make_draft

    return {"agreement_id": make_draft(world.a).pk}


def _baa_active_kwargs(world) -> dict[str, Any]:
    from baa.tests.support import make_active

    return {"agreement_id": make_active(world.a).pk}


def _baa_status_unchanged(status: str) -> Callable[[Any, dict[str, Any]], bool]:
    def check(world, kwargs) -> bool:
        from baa.tests.support import status_of

        return status_of(world.a, kwargs["agreement_id"]) == status

    return check


def _subprocessor_kwargs(world) -> dict[str, Any]:
    from baa.tests.support import make_subprocessor

    return {"subprocessor_id": make_subprocessor(world.a, name="Isolation SES").pk}


def _subprocessor_unchanged(world, kwargs) -> bool:
    from baa.tests.support import reload_subprocessor

    subprocessor = reload_subprocessor(world.a, kwargs["subprocessor_id"])
    return subprocessor is not None and subprocessor.name == "Isolation SES"


OBJECT_ROUTES: dict[str, ObjectRoute] = {
    "audit:event_detail": ObjectRoute(_audit_event_kwargs),
    "api:audit_api:event_detail": ObjectRoute(_audit_event_kwargs),
    "tenants:member_edit": ObjectRoute(_membership_kwargs, _membership_unchanged),
    "segments:contact_detail": ObjectRoute(lambda world: {"contact_id": make_contact(world.a.tenant).pk}),
    "authn:api_application_detail": ObjectRoute(_application_kwargs, _application_unchanged),
    "authn:api_application_scopes": ObjectRoute(_application_kwargs, _application_unchanged),
    "authn:api_token_rotate": ObjectRoute(_application_kwargs, _application_unchanged),
    "authn:api_application_revoke": ObjectRoute(_application_kwargs, _application_unchanged),
    "api:segments_api:contact_detail": ObjectRoute(lambda world: {"contact_id": make_contact(world.a.tenant).pk}),
    "authn:member_session_end": ObjectRoute(_member_session_kwargs, _member_session_open),
    "authn:break_glass_revoke": ObjectRoute(_break_glass_kwargs, _break_glass_not_revoked),
    "segments:attribute_edit": ObjectRoute(_attribute_kwargs, _attribute_unchanged),
    "segments:attribute_delete": ObjectRoute(_attribute_kwargs, _attribute_unchanged),
    "api:segments_api:attribute_detail": ObjectRoute(_attribute_kwargs, _attribute_unchanged),
    "segments:import_detail": ObjectRoute(_import_kwargs, _import_not_cancelled),
    "segments:import_progress": ObjectRoute(_import_kwargs, _import_not_cancelled),
    "segments:import_cancel": ObjectRoute(_import_kwargs, _import_not_cancelled),
    "api:segments_api:contact_import_detail": ObjectRoute(_import_kwargs, _import_not_cancelled),
    "segments:segment_detail": ObjectRoute(_segment_kwargs, _segment_unchanged),
    "segments:segment_delete": ObjectRoute(_segment_kwargs, _segment_unchanged),
    "api:segments_api:segment_detail": ObjectRoute(_segment_kwargs, _segment_unchanged),
    "baa:agreement_sign": ObjectRoute(_baa_draft_kwargs, _baa_status_unchanged("draft")),
    "baa:agreement_terminate": ObjectRoute(_baa_active_kwargs, _baa_status_unchanged("active")),
    "baa:agreement_download": ObjectRoute(_baa_active_kwargs, _baa_status_unchanged("active")),
    "baa:subprocessor_edit": ObjectRoute(_subprocessor_kwargs, _subprocessor_unchanged),
    "baa:subprocessor_delete": ObjectRoute(_subprocessor_kwargs, _subprocessor_unchanged),
    "consent:contact_consent": ObjectRoute(
        consent_isolation.contact_kwargs, consent_isolation.contact_consent_unchanged
    ),
    "consent:contact_consent_set": ObjectRoute(
        consent_isolation.contact_kwargs, consent_isolation.contact_consent_unchanged
    ),
    "consent:authorisation_record": ObjectRoute(
        consent_isolation.contact_kwargs, consent_isolation.contact_consent_unchanged
    ),
    "consent:unencrypted_email": ObjectRoute(
        consent_isolation.contact_kwargs, consent_isolation.contact_consent_unchanged
    ),
    "consent:authorisation_revoke": ObjectRoute(
        consent_isolation.authorisation_kwargs, consent_isolation.authorisation_unrevoked
    ),
    "consent:purpose_archive": ObjectRoute(consent_isolation.purpose_kwargs, consent_isolation.purpose_unarchived),
    "consent:authorisation_text": ObjectRoute(consent_isolation.text_kwargs, consent_isolation.text_unrevised),
    "consent:authorisation_text_revise": ObjectRoute(consent_isolation.text_kwargs, consent_isolation.text_unrevised),
    "consent:suppression_lift": ObjectRoute(consent_isolation.suppression_kwargs, consent_isolation.suppression_kept),
    "api:consent_api:contact_consent": ObjectRoute(
        consent_isolation.contact_kwargs, consent_isolation.contact_consent_unchanged
    ),
    "api:consent_api:contact_consent_history": ObjectRoute(consent_isolation.contact_kwargs),
    "api:consent_api:contact_authorisations": ObjectRoute(
        consent_isolation.contact_kwargs, consent_isolation.contact_consent_unchanged
    ),
    "api:consent_api:authorisation_revoke": ObjectRoute(
        consent_isolation.authorisation_kwargs, consent_isolation.authorisation_unrevoked
    ),
    "api:consent_api:suppression_detail": ObjectRoute(
        consent_isolation.suppression_kwargs, consent_isolation.suppression_kept
    ),
    "consent:optin_form_detail": ObjectRoute(consent_public.optin_form_kwargs, consent_public.optin_form_unchanged),
    "consent:optin_form_edit": ObjectRoute(consent_public.optin_form_kwargs, consent_public.optin_form_unchanged),
    # Quarantine review (encryption)
    **{
        f"encryption:{name}": ObjectRoute(encryption_support.held_kwargs, encryption_support.still_held)
        for name in ("quarantine_detail", "quarantine_release", "quarantine_reject")
    },
    # Escrow (encryption): retraction and secure replies
    "encryption:escrow_retract": ObjectRoute(escrow_support.escrow_kwargs, escrow_support.escrow_still_active),
    "encryption:escrow_reply": ObjectRoute(escrow_support.reply_kwargs, escrow_support.reply_unread),
    # Templates: review workflow, diff, test sends and the API
    **{
        f"templates:{name}": ObjectRoute(templates_isolation.template_kwargs, templates_isolation.template_unchanged)
        for name in ("template_versions", "template_diff")
    },
    **{
        f"templates:{name}": ObjectRoute(templates_isolation.template_kwargs, templates_isolation.template_unchanged)
        for name in ("template_edit", "template_preview", "template_preview_frame", "template_preview_reveal")
    },
    **{
        f"templates:{name}": ObjectRoute(templates_isolation.version_kwargs, templates_isolation.draft_unchanged)
        for name in (
            "version_detail",
            "version_preview",
            "version_submit",
            "version_comment",
            "version_test_send",
            "version_test_sends",
        )
    },
    **{
        f"templates:{name}": ObjectRoute(templates_isolation.in_review_kwargs, templates_isolation.in_review_unchanged)
        for name in ("version_approve", "version_request_changes")
    },
    "templates:test_address_remove": ObjectRoute(
        templates_isolation.listed_address_kwargs, templates_isolation.listed_address_kept
    ),
    **{
        f"api:templates_api:{name}": ObjectRoute(
            templates_isolation.template_kwargs, templates_isolation.template_unchanged
        )
        for name in ("template_detail", "template_versions", "template_draft")
    },
    **{
        f"api:templates_api:{name}": ObjectRoute(
            templates_isolation.version_kwargs, templates_isolation.draft_unchanged
        )
        for name in ("version_detail", "version_submit", "version_render")
    },
    # Campaigns: the web UI and the API
    **{
        f"campaigns:{name}": ObjectRoute(campaigns_isolation.draft_kwargs, campaigns_isolation.draft_unchanged)
        for name in (
            "campaign_detail",
            "campaign_edit",
            "campaign_progress",
            "campaign_approve",
            "campaign_launch",
            "campaign_cancel",
            "campaign_test_send",
        )
    },
    **{
        f"campaigns:{name}": ObjectRoute(campaigns_isolation.journey_kwargs, campaigns_isolation.journey_unchanged)
        for name in ("journey_detail", "journey_steps", "journey_pause", "journey_resume")
    },
    **{
        f"campaigns:{name}": ObjectRoute(
            campaigns_isolation.journey_version_kwargs, campaigns_isolation.journey_unchanged
        )
        for name in ("journey_submit", "journey_review", "journey_activate")
    },
    "campaigns:campaign_pause": ObjectRoute(campaigns_isolation.sending_kwargs, campaigns_isolation.sending_unchanged),
    "campaigns:campaign_resume": ObjectRoute(campaigns_isolation.paused_kwargs, campaigns_isolation.paused_unchanged),
    **{
        f"api:campaigns_api:{name}": ObjectRoute(campaigns_isolation.draft_kwargs, campaigns_isolation.draft_unchanged)
        for name in ("campaign_detail", "campaign_progress", "campaign_cancel")
    },
    "api:campaigns_api:campaign_launch": ObjectRoute(
        campaigns_isolation.launchable_kwargs, campaigns_isolation.draft_unchanged
    ),
    "api:campaigns_api:campaign_pause": ObjectRoute(
        campaigns_isolation.sending_kwargs, campaigns_isolation.sending_unchanged
    ),
    "api:campaigns_api:campaign_resume": ObjectRoute(
        campaigns_isolation.paused_kwargs, campaigns_isolation.paused_unchanged
    ),
    # Transactional sends' status (GET only: no change to check).
    "api:campaigns_api:message_detail": ObjectRoute(campaigns_isolation.transactional_message_kwargs),
    # Reporting: the tracking switches of a campaign and of a contact
    "reporting:campaign_tracking": ObjectRoute(
        campaigns_isolation.draft_kwargs, reporting_tracking.campaign_still_tracked
    ),
    "reporting:contact_tracking": ObjectRoute(
        reporting_tracking.opted_out_contact_kwargs, reporting_tracking.contact_still_opted_out
    ),
    # Reporting: a campaign's dashboard (web and API)
    "reporting:campaign_dashboard": ObjectRoute(campaigns_isolation.draft_kwargs, campaigns_isolation.draft_unchanged),
    "api:reporting_api:campaign_dashboard": ObjectRoute(
        campaigns_isolation.draft_kwargs, campaigns_isolation.draft_unchanged
    ),
    # Reporting: compliance report exports (web and API)
    **{
        f"reporting_compliance:{name}": ObjectRoute(
            reporting_compliance.export_kwargs, reporting_compliance.export_unchanged
        )
        for name in ("export_detail", "export_progress", "export_download")
    },
    **{
        f"api:reporting_compliance_api:{name}": ObjectRoute(
            reporting_compliance.export_kwargs, reporting_compliance.export_unchanged
        )
        for name in ("export_detail", "export_download")
    },
    # Sending domains (delivery)
    **{
        f"delivery:{name}": ObjectRoute(
            delivery_support.sending_domain_kwargs, delivery_support.sending_domain_unchanged
        )
        for name in ("sending_domain_detail", "sending_domain_check", "sending_domain_remove")
    },
}

ESCROW_PORTAL_ROUTES = (
    "start", "send_code", "code", "secret", "message", "reply", "link", "logo",
    "passkey_options", "passkey_verify", "passkey_register_options", "passkey_register",
)  # fmt: skip

# Routes with a path parameter that do not address tenant data.
NOT_TENANT_DATA: dict[str, str] = {
    "delivery:mailbox_message": "the local SMTP sink's dev mailbox; exists only in the embedded default",
    # No sign-in and no id in the URL: an SNS-signed POST from an allowed topic; the sealed Message-ID
    # it carries names the organisation (delivery/tests/test_ses_notifications.py).
    "delivery:ses_notifications": "Amazon SNS posts SES bounces/complaints; signed, topic-checked, sealed Message-ID",
    "authn:passkey_rename": "a user's own passkey, looked up with the signed-in user (test_passkeys: others' get 404)",
    "authn:passkey_remove": "a user's own passkey, looked up with the signed-in user (test_passkeys: others' get 404)",
    "authn:session_end": "a user's own session, looked up with the signed-in user (test_session_binding: others' 404)",
    # Recipients' pages: no sign-in; the signed token (or the form's public id and organisation slug)
    # names the organisation. Altered and foreign tokens: consent/tests/test_public_*.py.
    "consent_public:optin_form": "a hosted opt-in form, public by design (an organisation slug and a random public id)",
    "consent_public:confirm": "a recipient's confirmation secret; only its hash is stored, looked up in its organisation",
    "consent_public:preferences": "a recipient's sealed preference-centre token (names nobody), opened before any lookup",
    "consent_public:unsubscribe": "a recipient's sealed unsubscribe token (names nobody), opened before any lookup",
    # Open and click tracking: no sign-in; the sealed, HMAC-checked token names the organisation and is
    # answered inside it. Altered and foreign tokens: reporting/tests/test_tracking_pipeline.py.
    "tracking:click": "a click's sealed, signed token (ids only); checked before any lookup, looked up in its org",
    "tracking:open": "an open pixel's sealed, signed token (ids only); checked before any lookup, looked up in its org",
    # The escrow pickup portal: the link token names the organisation; only its hash is stored and
    # it is looked up in that organisation. Forged and foreign tokens: encryption/tests/test_portal.py.
    **{
        f"escrow_portal:{name}": "an escrowed message's link token (random, stored hashed), looked up in its organisation"
        for name in ESCROW_PORTAL_ROUTES
    },
}


@pytest.fixture(autouse=True)
def _no_real_dns():
    """Sending-domain checks look up DNS: here a resolver on which nothing is published answers."""
    from delivery.testing import FakeResolver, use_resolver

    with use_resolver(FakeResolver()):
        yield


def test_every_object_route_is_covered():
    object_routes = {route.name for route in walk() if route.takes_object_id}
    missing = object_routes - set(OBJECT_ROUTES) - set(NOT_TENANT_DATA)
    assert missing == set(), f"Register these routes in tests/test_isolation.py: {sorted(missing)}"
    stale = set(OBJECT_ROUTES) - object_routes
    assert stale == set(), f"Registered routes that no longer exist: {sorted(stale)}"


def _route(name: str):
    return next(route for route in walk() if route.name == name)


def _api_scope(route) -> str:
    view_class = getattr(route.callback, "view_class", None) or getattr(route.callback, "cls", None)
    assert view_class is not None, route.name
    return str(view_class.required_scope)


def _attempt(client, url: str, **extra) -> int:
    status = client.get(url, **extra).status_code
    if status == 405:
        status = client.post(url, {"role": Role.ADMIN, "is_active": ""}, **extra).status_code
    return status


@pytest.mark.django_db
@pytest.mark.parametrize("route_name", sorted(OBJECT_ROUTES))
@pytest.mark.parametrize("role", list(Role))
def test_other_tenants_users_get_404(world, client, login, route_name, role):
    spec = OBJECT_ROUTES[route_name]
    route = _route(route_name)
    _, code = view_marker(route.callback)
    kwargs = spec.make(world)
    url = reverse(route_name, kwargs=kwargs)
    if is_api(route):
        # Tokens act by scope, not role: B's token is approved for the route's scope, so only
        # the tenant can stop it (scopes themselves are tested in tests/test_roles.py).
        issued = make_token(world.b.tenant, world.b.users[Role.ADMIN], scopes=[_api_scope(route)])
        status = _attempt(client, url, HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
        expected = 404
    else:
        status = _attempt(login(world.b.users[role], world.b.tenant, step_up=True), url)
        # A role without the permission is stopped before the lookup (403); one with it gets 404.
        expected = 404 if role_has_permission(role, code) else 403
    assert status == expected, (route_name, role, status)
    if spec.unchanged is not None:
        assert spec.unchanged(world, kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize("route_name", sorted(OBJECT_ROUTES))
def test_own_tenants_users_reach_the_object(world, client, login, route_name):
    """The positive control: the 404s above are about the tenant, not a broken route."""
    route = _route(route_name)
    _, code = view_marker(route.callback)
    role = next(role for role in Role if role_has_permission(role, code))
    url = reverse(route_name, kwargs=OBJECT_ROUTES[route_name].make(world))
    if is_api(route):
        issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=[_api_scope(route)])
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
        if response.status_code == 405:  # a POST-only action (e.g. revoke) with an empty body
            response = client.post(
                url, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {issued.secret}"
            )
        assert response.status_code == 200, (route_name, response.status_code)
    else:
        client = login(world.a.users[role], world.a.tenant, step_up=True)
        status = client.get(url).status_code
        if status == 405:
            status = client.post(url).status_code
        assert status in (200, 302), (route_name, status)


@pytest.mark.django_db
def test_a_user_of_both_tenants_sees_only_the_active_one(world, login):
    """Membership in A does not leak A's objects while working in B."""
    user = world.b.users[Role.MARKETER]
    with tenant_context(world.a.tenant):
        Membership(tenant=world.a.tenant, user=user, role=Role.MARKETER).save()
    contact = make_contact(world.a.tenant)
    client = login(user, world.b.tenant)
    assert client.get(reverse("segments:contact_detail", kwargs={"contact_id": contact.pk})).status_code == 404
    client = login(user, world.a.tenant)
    assert client.get(reverse("segments:contact_detail", kwargs={"contact_id": contact.pk})).status_code == 200

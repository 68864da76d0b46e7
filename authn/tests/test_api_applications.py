"""API applications: admins register them with approved scopes, change the scopes, rotate and
revoke their tokens (each behind a fresh step-up, each audited); every API call is checked
against the scopes, never a role."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import resolve, reverse
from django.utils.html import escape

from audit.models import AuditEvent
from audit.tests.helpers import actions, events, head_seq
from authn.models import ApiApplication, ApiToken
from authn.scopes import SCOPES
from authn.services import (
    api_application_create,
    api_application_revoke,
    api_application_update_scopes,
    api_token_rotate,
)
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token
from tests.test_isolation import OBJECT_ROUTES
from tests.urlwalk import is_api, view_marker, walk

pytestmark = pytest.mark.django_db

CONTACTS = "api:segments_api:contact_list"
AUDIT = "api:audit_api:event_list"


# Read endpoints that take their input in the body (a search value is PHI: never in a URL).
POST_READS = {"api:segments_api:contact_search": {"q": "nobody.synthetic@example.com"}}


def _trigger_event(world) -> dict:
    contact = make_contact(world.a.tenant)
    return {
        "id": "scope-check-1",
        "type": "bill.issued",
        "contact": {"id": str(contact.pk)},
        "data": {"bill_id": "B-1", "amount_due": 10, "due_date": "2027-01-31"},
    }


# Actions that need a body to be served: a valid one, and the status that means served.
POST_BODIES = {
    "api:campaigns_api:trigger_event": (_trigger_event, 201),
    "api:campaigns_api:trigger_event_batch": (lambda world: {"events": [_trigger_event(world)]}, 200),
}
# Served, but succeeding needs set-up this test does not make (a verified sending domain, an
# approved template, a consenting contact): the view ran and refused the empty body as invalid.
SERVED_AS_INVALID = {"api:campaigns_api:message_send"}


def _call(client, name, secret, body=None, **kwargs):
    url = reverse(name, kwargs=kwargs or None)
    if name in POST_READS or body is not None:
        body = json.dumps(body if body is not None else POST_READS[name])
        return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    view_class = getattr(resolve(url).func, "cls", None)
    if view_class is not None and not hasattr(view_class, "get"):  # a POST-only action, with its defaults
        return client.post(url, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")


def _application(tenant, application_id) -> ApiApplication:
    with tenant_context(tenant):
        return ApiApplication.objects.for_tenant(tenant).get(pk=application_id)


def _tokens(tenant, application_id) -> list[ApiToken]:
    with tenant_context(tenant):
        return list(ApiToken.objects.for_tenant(tenant).filter(application_id=application_id).order_by("created_at"))


def _url(name, application) -> str:
    return reverse(name, kwargs={"application_id": application.pk})


# --- every endpoint is checked against the scopes -------------------------------------------


def _api_routes():
    return [route for route in walk() if is_api(route) and view_marker(route.callback)[0] == "permission"]


@pytest.mark.parametrize("route_name", sorted(route.name for route in _api_routes()))
def test_each_endpoint_refuses_a_token_without_its_scope_and_serves_one_with_it(world, client, route_name):
    route = next(route for route in _api_routes() if route.name == route_name)
    view_class = getattr(route.callback, "view_class", None) or getattr(route.callback, "cls", None)
    scope = view_class.required_scope
    kwargs = OBJECT_ROUTES[route_name].make(world) if route.takes_object_id else {}
    admin = world.a.users[Role.ADMIN]
    start = head_seq(world.a.tenant)

    make_body, served = POST_BODIES.get(route_name, (None, 200))
    body = make_body(world) if make_body else None
    without = make_token(world.a.tenant, admin, scopes=[code for code in SCOPES if code != scope])
    refused = _call(client, route_name, without.secret, body, **kwargs)
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "insufficient_scope"

    with_scope = make_token(world.a.tenant, admin, scopes=[scope])
    response = _call(client, route_name, with_scope.secret, body, **kwargs)
    if route_name in SERVED_AS_INVALID:
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid", response.content
    else:
        assert response.status_code == served, response.content

    recorded = [
        (action, details) for action, details in events(world.a.tenant, start) if action.startswith("api_token.")
    ]
    assert [action for action, _ in recorded] == [
        "api_token.created",
        "api_token.scope_refused",
        "api_token.created",
        "api_token.used",
    ]
    refusal = recorded[1][1]
    assert refusal["scope"] == scope and refusal["route"] == route_name and refusal["status"] == 403
    assert refusal["application_id"] == str(without.application.pk)


def test_a_scope_refusal_is_recorded_against_the_token_once(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["contacts:read"])
    start = head_seq(world.a.tenant)
    assert _call(client, AUDIT, issued.secret).status_code == 403
    assert actions(world.a.tenant, start) == ["api_token.scope_refused"]  # no audit.viewed: nothing was shown
    with tenant_context(world.a.tenant):
        event = AuditEvent.objects.get(chain_id=world.a.tenant.pk, seq__gt=start)
    assert event.actor_type == "api_token" and event.actor_id == str(issued.token.pk)


def test_a_token_never_falls_back_to_the_role_of_the_admin_who_made_it(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["events:write"])
    assert _call(client, CONTACTS, issued.secret).status_code == 403
    assert _call(client, AUDIT, issued.secret).status_code == 403


def test_a_view_without_a_scope_declaration_is_closed(world, rf):
    from rest_framework.request import Request

    from authn.api.authentication import ApiTokenPrincipal
    from tenants.api import HasTenantPermission

    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=list(SCOPES))
    issued.token.application = issued.application
    django_request = rf.get("/api/anything/")
    django_request.api_token = issued.token
    django_request.tenant = world.a.tenant
    request = Request(django_request)
    request.user, request.auth = ApiTokenPrincipal(issued.token), issued.token

    class Undeclared:
        required_permission = "contacts.view"

    class UnknownScope:
        required_permission = "contacts.view"
        required_scope = "contacts:everything"

    class Declared:
        required_permission = "contacts.view"
        required_scope = "contacts:read"

    permission = HasTenantPermission()
    assert permission.has_permission(request, Undeclared()) is False
    assert permission.has_permission(request, UnknownScope()) is False
    assert permission.has_permission(request, Declared()) is True


# --- registering ------------------------------------------------------------------------------


def test_admin_registers_an_application_and_sees_its_token_once(world, login, client):
    admin = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    page = admin.get(reverse("authn:api_application_create"))
    assert page.status_code == 200
    body = page.content.decode()
    for scope in SCOPES.values():
        assert scope.code in body and escape(scope.description) in body
    start = head_seq(world.a.tenant)

    response = admin.post(
        reverse("authn:api_application_create"),
        {"name": "EHR sync", "description": "Appointment feed", "scopes": ["contacts:read"], "lifetime_days": "30"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    issued = response.context["issued"]
    assert issued.secret.startswith("sp_") and issued.secret in response.content.decode()
    application = _application(world.a.tenant, issued.application.pk)
    assert (application.name, application.scopes) == ("EHR sync", ["contacts:read"])
    [token] = _tokens(world.a.tenant, application.pk)
    assert timedelta(days=29) < token.expires_at - token.created_at <= timedelta(days=30)
    assert events(world.a.tenant, start) == [
        ("api_application.created", {"scopes": ["contacts:read"]}),
        (
            "api_token.created",
            {"application_id": str(application.pk), "prefix": token.prefix, "expires_at": token.expires_at.isoformat()},
        ),
    ]

    listing = admin.get(reverse("authn:api_application_list")).content.decode()
    assert issued.secret not in listing
    assert "EHR sync" in listing and "contacts:read" in listing and f"{token.prefix}…" in listing
    detail = admin.get(_url("authn:api_application_detail", application)).content.decode()
    assert issued.secret not in detail and "Appointment feed" in detail

    admin.logout()
    assert _call(client, CONTACTS, issued.secret).status_code == 200
    assert _call(client, AUDIT, issued.secret).status_code == 403


def test_registering_needs_a_fresh_step_up(world, login):
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    start = head_seq(world.a.tenant)
    response = admin.get(reverse("authn:api_application_create"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    response = admin.post(
        reverse("authn:api_application_create"), {"name": "Sneaky", "scopes": ["contacts:read"], "lifetime_days": "30"}
    )
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    assert actions(world.a.tenant, start) == []
    with tenant_context(world.a.tenant):
        assert not ApiApplication.objects.for_tenant(world.a.tenant).exists()
    # The list itself is readable without one, and offers the way in.
    listing = admin.get(reverse("authn:api_application_list"))
    assert listing.status_code == 200
    assert reverse("authn:api_application_create") in listing.content.decode()


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"name": "", "scopes": ["contacts:read"], "lifetime_days": "30"}, {"name"}),
        ({"name": "No scopes", "lifetime_days": "30"}, {"scopes"}),
        ({"name": "Greedy", "scopes": ["contacts:read", "admin:everything"], "lifetime_days": "30"}, {"scopes"}),
        ({"name": "Forever", "scopes": ["contacts:read"], "lifetime_days": "9999"}, {"lifetime_days"}),
    ],
)
def test_register_form_errors_are_shown_and_nothing_is_created(world, login, data, fields):
    admin = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    start = head_seq(world.a.tenant)
    response = admin.post(reverse("authn:api_application_create"), data)
    assert response.status_code == 400
    assert set(response.context["form"].errors) == fields
    assert actions(world.a.tenant, start) == []


def test_services_accept_only_registered_scopes_and_bounded_lifetimes(world):
    tenant, admin = world.a.tenant, world.a.users[Role.ADMIN]
    with tenant_context(tenant):
        for scopes, lifetime in [
            (["contacts:read", "contacts:admin"], timedelta(days=30)),
            ([], timedelta(days=30)),
            (["contacts:read"], timedelta(0)),
            (["contacts:read"], timedelta(days=400)),
        ]:
            with pytest.raises(ValidationError):
                api_application_create(tenant=tenant, actor=admin, name="X", scopes=scopes, lifetime=lifetime)
        issued = api_application_create(
            tenant=tenant,
            actor=admin,
            name="Ordered",
            scopes=["audit:read", "contacts:read", "audit:read"],
            lifetime=timedelta(days=1),
        )
        assert issued.application.scopes == ["contacts:read", "audit:read"]  # registry order, no duplicates
        with pytest.raises(ValidationError):
            api_application_update_scopes(
                tenant=tenant, actor=admin, application=issued.application, scopes=["campaigns:delete"]
            )
        assert not ApiApplication.objects.for_tenant(tenant).exclude(pk=issued.application.pk).exists()


# --- changing scopes, rotating, revoking ------------------------------------------------------


def test_admin_changes_scopes_and_the_next_call_follows_them(world, login, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["contacts:read"])
    assert _call(client, AUDIT, issued.secret).status_code == 403
    admin = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    page = admin.get(_url("authn:api_application_scopes", issued.application))
    assert page.status_code == 200
    assert 'value="contacts:read" id="scope-0" aria-describedby="scope-0-help" checked' in page.content.decode()
    start = head_seq(world.a.tenant)
    response = admin.post(_url("authn:api_application_scopes", issued.application), {"scopes": ["audit:read"]})
    assert response.status_code == 302
    assert events(world.a.tenant, start) == [
        (
            "api_application.scopes_changed",
            {"added": ["audit:read"], "removed": ["contacts:read"], "scopes": ["audit:read"]},
        )
    ]
    admin.logout()
    assert _call(client, AUDIT, issued.secret).status_code == 200
    assert _call(client, CONTACTS, issued.secret).status_code == 403


def test_changing_scopes_needs_a_fresh_step_up_and_at_least_one_scope(world, login):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["contacts:read"])
    url = _url("authn:api_application_scopes", issued.application)
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = admin.post(url, {"scopes": list(SCOPES)})
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    assert _application(world.a.tenant, issued.application.pk).scopes == ["contacts:read"]
    admin = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    start = head_seq(world.a.tenant)
    assert admin.post(url, {}).status_code == 400
    assert admin.post(url, {"scopes": ["contacts:read", "root"]}).status_code == 400
    assert _application(world.a.tenant, issued.application.pk).scopes == ["contacts:read"]
    assert actions(world.a.tenant, start) == []


def test_a_token_cannot_widen_its_own_scopes(world, client):
    """No API endpoint changes applications; the web pages do not accept a token."""
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=list(SCOPES))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    url = _url("authn:api_application_scopes", issued.application)
    assert client.post(url, {"scopes": list(SCOPES)}, **auth).status_code in (302, 401, 403)
    assert client.post(reverse("authn:api_application_create"), {"name": "Mine"}, **auth).status_code in (
        302,
        401,
        403,
    )
    with tenant_context(world.a.tenant):
        assert ApiApplication.objects.for_tenant(world.a.tenant).count() == 1


def test_rotation_makes_the_old_secret_fail_and_the_new_one_work(world, login, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    assert _call(client, CONTACTS, issued.secret).status_code == 200
    admin = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    start = head_seq(world.a.tenant)
    response = admin.post(_url("authn:api_token_rotate", issued.application), {"lifetime_days": "365"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    rotated = response.context["issued"]
    assert rotated.secret != issued.secret and rotated.secret in response.content.decode()
    old, new = _tokens(world.a.tenant, issued.application.pk)
    assert old.pk == issued.token.pk and old.revoked_at is not None and new.revoked_at is None
    assert events(world.a.tenant, start) == [
        (
            "api_token.rotated",
            {
                "application_id": str(issued.application.pk),
                "prefix": new.prefix,
                "expires_at": new.expires_at.isoformat(),
                "revoked_token_ids": [str(old.pk)],
            },
        )
    ]
    admin.logout()
    assert _call(client, CONTACTS, issued.secret).status_code == 401
    assert _call(client, CONTACTS, rotated.secret).status_code == 200


def test_rotating_needs_a_fresh_step_up(world, login, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    admin = login(world.a.users[Role.ADMIN], world.a.tenant)
    response = admin.post(_url("authn:api_token_rotate", issued.application), {"lifetime_days": "30"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    assert len(_tokens(world.a.tenant, issued.application.pk)) == 1
    assert _call(client, CONTACTS, issued.secret).status_code == 200


def test_revoking_an_application_ends_all_its_tokens(world, login, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    tenant, actor = world.a.tenant, world.a.users[Role.ADMIN]
    with tenant_context(tenant):
        rotated = api_token_rotate(tenant=tenant, actor=actor, application=issued.application, lifetime=timedelta(1))
    admin = login(actor, tenant)
    revoke = _url("authn:api_application_revoke", issued.application)
    assert admin.post(revoke)["Location"].startswith(reverse("authn:step_up"))
    assert _application(tenant, issued.application.pk).revoked_at is None

    admin = login(actor, tenant, step_up=True)
    start = head_seq(tenant)
    response = admin.post(revoke)
    assert response.status_code == 302 and response["Location"] == reverse("authn:api_application_list")
    assert _application(tenant, issued.application.pk).revoked_at is not None
    assert all(token.revoked_at is not None for token in _tokens(tenant, issued.application.pk))
    assert events(tenant, start) == [
        ("api_application.revoked", {"revoked_token_ids": [str(rotated.token.pk)]}),
    ]
    # Nothing more can be done with it.
    assert admin.post(_url("authn:api_token_rotate", issued.application)).status_code == 302
    assert admin.get(_url("authn:api_application_scopes", issued.application)).status_code == 302
    assert admin.post(revoke).status_code == 302
    assert actions(tenant, start) == ["api_application.revoked"]
    assert len(_tokens(tenant, issued.application.pk)) == 2
    page = admin.get(_url("authn:api_application_detail", issued.application)).content.decode()
    assert "Revoked" in page and "Rotate token" not in page
    admin.logout()
    assert _call(client, CONTACTS, rotated.secret).status_code == 401
    assert _call(client, CONTACTS, issued.secret).status_code == 401


def test_the_whole_lifecycle_is_audited_in_order(world, client):
    tenant, actor = world.a.tenant, world.a.users[Role.ADMIN]
    start = head_seq(tenant)
    with tenant_context(tenant):
        issued = api_application_create(
            tenant=tenant, actor=actor, name="Billing", scopes=["contacts:read"], lifetime=timedelta(days=30)
        )
    _call(client, CONTACTS, issued.secret)
    _call(client, AUDIT, issued.secret)
    with tenant_context(tenant):
        api_application_update_scopes(tenant=tenant, actor=actor, application=issued.application, scopes=["audit:read"])
        # Saving the same scopes again changes nothing and records nothing.
        api_application_update_scopes(tenant=tenant, actor=actor, application=issued.application, scopes=["audit:read"])
        rotated = api_token_rotate(tenant=tenant, actor=actor, application=issued.application, lifetime=timedelta(1))
    _call(client, AUDIT, rotated.secret)
    with tenant_context(tenant):
        api_application_revoke(tenant=tenant, actor=actor, application=issued.application)
        with pytest.raises(ValidationError):
            api_token_rotate(tenant=tenant, actor=actor, application=issued.application, lifetime=timedelta(1))
        with pytest.raises(ValidationError):
            api_application_update_scopes(
                tenant=tenant, actor=actor, application=issued.application, scopes=["contacts:read"]
            )
    assert actions(tenant, start) == [
        "api_application.created",
        "api_token.created",
        "api_token.used",
        "api_token.scope_refused",
        "api_application.scopes_changed",
        "api_token.rotated",
        "audit.viewed",
        "api_token.used",
        "api_application.revoked",
    ]


# --- pages ------------------------------------------------------------------------------------


def test_the_list_shows_scopes_prefix_expiry_and_last_use_in_few_queries(
    world, login, client, django_assert_max_num_queries
):
    admin_user = world.a.users[Role.ADMIN]
    issued = [make_token(world.a.tenant, admin_user, name=f"App {n}", scopes=["contacts:read"]) for n in range(5)]
    _call(client, CONTACTS, issued[0].secret)
    expired = make_token(
        world.a.tenant, admin_user, name="Old app", scopes=["audit:read"], expires_at=issued[0].token.created_at
    )
    admin = login(admin_user, world.a.tenant)
    admin.get(reverse("authn:api_application_list"))  # warm the session and caches
    with django_assert_max_num_queries(20):
        response = admin.get(reverse("authn:api_application_list"))
    body = response.content.decode()
    for item in [*issued, expired]:
        assert item.application.name in body and f"{item.token.prefix}…" in body
    assert "Expired" in body and "audit:read" in body
    assert response.context["applications"][len(issued)].live_tokens[0].last_used_at is not None


def test_other_tenants_admin_gets_404_for_an_application(world, login):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["contacts:read"])
    other = login(world.b.users[Role.ADMIN], world.b.tenant, step_up=True)
    for name in ("authn:api_application_detail", "authn:api_application_scopes"):
        assert other.get(_url(name, issued.application)).status_code == 404
    for name in ("authn:api_application_scopes", "authn:api_token_rotate", "authn:api_application_revoke"):
        assert other.post(_url(name, issued.application), {"scopes": list(SCOPES)}).status_code == 404
    application = _application(world.a.tenant, issued.application.pk)
    assert application.revoked_at is None and application.scopes == ["contacts:read"]
    assert [token.revoked_at for token in _tokens(world.a.tenant, application.pk)] == [None]
    assert "Test integration" not in other.get(reverse("authn:api_application_list")).content.decode()


def test_only_admins_reach_the_pages(world, login):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    for role in (Role.MARKETER, Role.COMPLIANCE_OFFICER):
        client = login(world.a.users[role], world.a.tenant, step_up=True)
        assert client.get(reverse("authn:api_application_list")).status_code == 403
        assert client.get(_url("authn:api_application_detail", issued.application)).status_code == 403
        assert client.post(_url("authn:api_application_revoke", issued.application)).status_code == 403
    assert _application(world.a.tenant, issued.application.pk).revoked_at is None

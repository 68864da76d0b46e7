"""The conditional-access policy: the service that validates and audits changes (and refuses a
silent self-lockout), and the Access policy page admins edit it on, behind a fresh step-up."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import actions, events, head_seq
from authn.models import AccessPolicy, RequiredFactor, RuleAction
from authn.policies import SelfLockout, access_policy_for, access_policy_update
from authn.tests.geoip import (
    NEW_YORK_IP,
    TOKYO_IP,
    geoip_db,  # noqa: F401 - fixture
    no_geoip,  # noqa: F401 - fixture
)
from tenants.context import TenantMismatch, tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db

URL = "/accounts/access-policy/"
CLIENT_IP = "127.0.0.1"  # what Django's test client sends


def stored_policy(tenant) -> AccessPolicy | None:
    with tenant_context(tenant):
        return AccessPolicy.objects.for_tenant(tenant).first()


def update(tenant, actor, **fields):
    with tenant_context(tenant):
        return access_policy_update(tenant=tenant, actor=actor, **fields)


def form_data(**overrides) -> dict[str, str]:
    data = {
        "allowed_networks": "",
        "allowed_countries": "",
        "marketer_factor": RequiredFactor.SECOND_FACTOR.value,
        "allow_fallback_factors": "on",
        "new_device_action": RuleAction.STEP_UP.value,
        "new_country_action": RuleAction.STEP_UP.value,
        "max_travel_kmh": "1000",
        "impossible_travel_action": RuleAction.BLOCK.value,
        "sign_in_hours_start": "",
        "sign_in_hours_end": "",
        "timezone": "UTC",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- Selector and service -----------------------------------------------------------------------


def test_without_a_saved_policy_the_defaults_apply(world):
    with tenant_context(world.a.tenant):
        policy = access_policy_for(tenant=world.a.tenant)
    assert policy._state.adding and policy.tenant_id == world.a.tenant.pk
    assert policy.allowed_networks == [] and policy.marketer_factor == RequiredFactor.SECOND_FACTOR
    assert stored_policy(world.a.tenant) is None


def test_a_change_is_saved_normalised_and_audited_with_the_changed_fields(world, geoip_db):  # noqa: F811
    tenant, admin = world.a.tenant, world.a.users[Role.ADMIN]
    since = head_seq(tenant)
    policy = update(
        tenant, admin,
        allowed_networks=["198.51.100.7/24", "203.0.113.5", "198.51.100.0/24", "2001:DB8::/32"],
        allowed_countries=["us", "DE", "US"],
        marketer_factor=RequiredFactor.PASSKEY,
        sign_in_hours_start=22,
        sign_in_hours_end=6,
        timezone="Europe/Berlin",
    )  # fmt: skip
    stored = stored_policy(tenant)
    assert stored is not None and stored.pk == policy.pk and stored.updated_by_id == admin.pk
    assert stored.allowed_networks == ["198.51.100.0/24", "203.0.113.5/32", "2001:db8::/32"]
    assert stored.allowed_countries == ["US", "DE"]
    assert (stored.marketer_factor, stored.sign_in_hours_start, stored.sign_in_hours_end) == ("passkey", 22, 6)
    [(action, details)] = events(tenant, since)
    assert action == "access_policy.changed"
    assert details == {
        "changed": [
            "allowed_networks", "allowed_countries", "marketer_factor", "sign_in_hours_start", "sign_in_hours_end",
            "timezone",
        ],
        "allowed_networks": ["198.51.100.0/24", "203.0.113.5/32", "2001:db8::/32"],
        "allowed_countries": ["US", "DE"],
        "marketer_factor": "passkey",
        "sign_in_hours_start": 22,
        "sign_in_hours_end": 6,
        "timezone": "Europe/Berlin",
    }  # fmt: skip


def test_a_second_change_updates_the_same_row_and_names_only_what_changed(world):
    tenant, admin = world.a.tenant, world.a.users[Role.ADMIN]
    first = update(tenant, admin, new_device_action=RuleAction.BLOCK)
    since = head_seq(tenant)
    second = update(tenant, admin, new_device_action=RuleAction.BLOCK, max_travel_kmh=None)
    assert first.pk == second.pk
    assert events(tenant, since) == [("access_policy.changed", {"changed": ["max_travel_kmh"], "max_travel_kmh": None})]


def test_nothing_changed_writes_nothing(world):
    tenant, admin = world.a.tenant, world.a.users[Role.ADMIN]
    since = head_seq(tenant)
    update(tenant, admin, marketer_factor=RequiredFactor.SECOND_FACTOR, timezone="UTC")
    assert stored_policy(tenant) is None
    assert actions(tenant, since) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"allowed_networks": ["198.51.100.0/33"]}, "allowed_networks", "CIDR"),
        ({"allowed_networks": ["not-a-network"]}, "allowed_networks", "not-a-network"),
        ({"allowed_countries": ["USA"]}, "allowed_countries", "two-letter"),
        ({"allowed_countries": ["U1"]}, "allowed_countries", "two-letter"),
        ({"allowed_countries": ["UK"]}, "allowed_countries", "did you mean GB"),
        ({"sign_in_hours_start": 24, "sign_in_hours_end": 6}, "sign_in_hours_start", "0 to 23"),
        ({"sign_in_hours_start": 8, "sign_in_hours_end": -1}, "sign_in_hours_end", "0 to 23"),
        ({"sign_in_hours_start": 8}, "sign_in_hours_end", "both"),
        ({"sign_in_hours_start": 8, "sign_in_hours_end": 8}, "sign_in_hours_end", "must differ"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "IANA"),
        ({"timezone": "../../etc/passwd"}, "timezone", "IANA"),
        ({"max_travel_kmh": 5}, "max_travel_kmh", "km/h"),
        ({"new_device_action": "shrug"}, "new_device_action", "listed options"),
        ({"marketer_factor": "carrier_pigeon"}, "marketer_factor", "listed options"),
    ],
)
def test_bad_values_are_refused_per_field_and_change_nothing(world, geoip_db, fields, field, message):  # noqa: F811
    tenant = world.a.tenant
    since = head_seq(tenant)
    with pytest.raises(ValidationError) as caught:
        update(tenant, world.a.users[Role.ADMIN], allow_fallback_factors=False, **fields)
    assert field in caught.value.message_dict
    assert any(message in text for text in caught.value.message_dict[field])
    assert stored_policy(tenant) is None
    assert actions(tenant, since) == []


def test_unknown_fields_are_a_programming_error(world):
    with pytest.raises(TypeError):
        update(world.a.tenant, world.a.users[Role.ADMIN], updated_by=None)


def test_countries_cannot_be_restricted_without_geoip(world, no_geoip):  # noqa: F811
    with pytest.raises(ValidationError) as caught:
        update(world.a.tenant, world.a.users[Role.ADMIN], allowed_countries=["US"])
    assert "GeoIP" in caught.value.message_dict["allowed_countries"][0]
    update(world.a.tenant, world.a.users[Role.ADMIN], allowed_countries=[])  # an empty list is fine


def test_countries_cannot_be_restricted_with_a_broken_geoip_file(world, settings, tmp_path):
    from authn.geo import forget_reader

    forget_reader()
    settings.GEOIP_DATABASE = str(tmp_path / "missing.mmdb")
    try:
        with pytest.raises(ValidationError):
            update(world.a.tenant, world.a.users[Role.ADMIN], allowed_countries=["US"])
    finally:
        forget_reader()


def test_a_service_call_for_another_tenant_is_refused(world):
    with tenant_context(world.b.tenant), pytest.raises(TenantMismatch):
        access_policy_update(tenant=world.a.tenant, actor=world.b.users[Role.ADMIN], max_travel_kmh=None)
    assert stored_policy(world.a.tenant) is None


# --- Self-lockout -------------------------------------------------------------------------------


def test_a_network_list_without_the_admins_address_needs_confirmation(world):
    tenant, admin = world.a.tenant, world.a.users[Role.ADMIN]
    since = head_seq(tenant)
    with pytest.raises(SelfLockout) as caught:
        update(tenant, admin, actor_ip=CLIENT_IP, allowed_networks=["198.51.100.0/24"])
    assert "lock you out" in caught.value.message_dict["allowed_networks"][0]
    assert stored_policy(tenant) is None and actions(tenant, since) == []
    update(tenant, admin, actor_ip=CLIENT_IP, allowed_networks=["198.51.100.0/24"], confirm_lockout=True)
    assert stored_policy(tenant).allowed_networks == ["198.51.100.0/24"]  # type: ignore[union-attr]
    assert actions(tenant, since) == ["access_policy.changed"]


def test_a_network_list_with_the_admins_address_saves_at_once(world):
    update(world.a.tenant, world.a.users[Role.ADMIN], actor_ip=CLIENT_IP, allowed_networks=["127.0.0.0/8"])
    assert stored_policy(world.a.tenant).allowed_networks == ["127.0.0.0/8"]  # type: ignore[union-attr]


def test_a_country_list_without_the_admins_country_needs_confirmation(world, geoip_db):  # noqa: F811
    tenant, admin = world.a.tenant, world.a.users[Role.ADMIN]
    with pytest.raises(SelfLockout) as caught:
        update(tenant, admin, actor_ip=TOKYO_IP, allowed_countries=["US"])
    assert "(JP)" in caught.value.message_dict["allowed_countries"][0]
    update(tenant, admin, actor_ip=NEW_YORK_IP, allowed_countries=["US"])
    assert stored_policy(tenant).allowed_countries == ["US"]  # type: ignore[union-attr]


def test_hours_that_exclude_now_need_confirmation(world):
    hour = timezone.now().hour
    window = {"sign_in_hours_start": (hour + 2) % 24, "sign_in_hours_end": (hour + 4) % 24}
    with pytest.raises(SelfLockout) as caught:
        update(world.a.tenant, world.a.users[Role.ADMIN], actor_ip=CLIENT_IP, **window)
    assert "sign_in_hours_start" in caught.value.message_dict


# --- The page -----------------------------------------------------------------------------------


def test_the_admin_sees_the_policy_with_help(world, login, no_geoip):  # noqa: F811
    update(world.a.tenant, world.a.users[Role.ADMIN], allowed_networks=["127.0.0.0/8", "203.0.113.0/24"])
    response = login(world.a.users[Role.ADMIN], world.a.tenant).get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "127.0.0.0/8\n203.0.113.0/24" in body
    assert body.count("Passkey (always)") == 2  # admins and compliance officers
    assert "Not configured" in body and "GEOIP_DATABASE" in body
    assert "Confirm with your passkey" in body  # no fresh step-up yet
    assert f'href="{URL}"' in body  # the navigation item


def test_the_page_shows_a_configured_geoip_database(world, login, geoip_db):  # noqa: F811
    body = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True).get(URL).content.decode()
    assert "GeoLite2-City" in body and "Configured" in body
    assert "Confirm with your passkey" not in body


@pytest.mark.parametrize("role", [Role.MARKETER, Role.COMPLIANCE_OFFICER])
def test_other_roles_get_403_and_no_navigation_item(world, login, role):
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    assert client.get(URL).status_code == 403
    assert client.post(URL, form_data(max_travel_kmh="")).status_code == 403
    assert stored_policy(world.a.tenant) is None
    assert URL not in client.get(reverse("tenants:dashboard")).content.decode()


def test_saving_needs_a_fresh_step_up(world, login):
    tenant = world.a.tenant
    client = login(world.a.users[Role.ADMIN], tenant)
    since = head_seq(tenant)
    response = client.post(URL, form_data(max_travel_kmh=""), HTTP_REFERER=f"http://testserver{URL}")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('authn:step_up')}?next=%2Faccounts%2Faccess-policy%2F"
    assert stored_policy(tenant) is None
    assert "access_policy.changed" not in actions(tenant, since)


def test_the_admin_saves_with_a_fresh_step_up(world, login):
    tenant, admin = world.a.tenant, world.a.users[Role.ADMIN]
    client = login(admin, tenant, step_up=True)
    since = head_seq(tenant)
    response = client.post(
        URL,
        form_data(
            allowed_networks="127.0.0.0/8, 203.0.113.0/24\n2001:db8::/32",
            marketer_factor=RequiredFactor.PASSKEY.value,
            allow_fallback_factors=None,
            new_device_action=RuleAction.BLOCK.value,
            max_travel_kmh="900",
            sign_in_hours_start="0",
            sign_in_hours_end="0" if timezone.now().hour == 23 else "23",
        )
        | ({"sign_in_hours_start": "1", "sign_in_hours_end": "0"} if timezone.now().hour == 0 else {}),
    )
    assert response.status_code == 302 and response["Location"] == URL
    stored = stored_policy(tenant)
    assert stored is not None
    assert stored.allowed_networks == ["127.0.0.0/8", "203.0.113.0/24", "2001:db8::/32"]
    assert (stored.marketer_factor, stored.allow_fallback_factors, stored.new_device_action) == (
        "passkey", False, "block",
    )  # fmt: skip
    assert stored.max_travel_kmh == 900 and stored.updated_by_id == admin.pk
    changed = [(action, details) for action, details in events(tenant, since) if action == "access_policy.changed"]
    assert len(changed) == 1
    assert changed[0][1]["changed"] == [
        "allowed_networks", "marketer_factor", "allow_fallback_factors", "new_device_action", "max_travel_kmh",
        "sign_in_hours_start", "sign_in_hours_end",
    ]  # fmt: skip
    assert "Access policy saved" in client.get(URL).content.decode()


def test_saving_the_same_values_says_nothing_changed(world, login):
    tenant = world.a.tenant
    client = login(world.a.users[Role.ADMIN], tenant, step_up=True)
    since = head_seq(tenant)
    response = client.post(URL, form_data(), follow=True)
    assert "Nothing changed." in response.content.decode()
    assert "access_policy.changed" not in actions(tenant, since)
    assert stored_policy(tenant) is None


def test_bad_input_shows_errors_per_field_and_saves_nothing(world, login, no_geoip):  # noqa: F811
    tenant = world.a.tenant
    client = login(world.a.users[Role.ADMIN], tenant, step_up=True)
    response = client.post(
        URL, form_data(allowed_networks="127.0.0.0/8\n10.0.0.0/40", allowed_countries="US", sign_in_hours_start="8")
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "“10.0.0.0/40” is not an address or a network in CIDR notation" in body
    assert "no working GeoIP database is configured" in body
    assert "Give both the first and the end hour" in body
    assert "Nothing was saved" in body
    assert stored_policy(tenant) is None


def test_the_form_refuses_out_of_range_numbers(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    response = client.post(URL, form_data(max_travel_kmh="12", sign_in_hours_start="25", timezone="Nowhere/City"))
    assert response.status_code == 400
    assert stored_policy(world.a.tenant) is None


def test_countries_save_when_geoip_is_configured(world, login, geoip_db):  # noqa: F811
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    # The test client's 127.0.0.1 has no country: restricting countries would lock the admin out.
    response = client.post(URL, form_data(allowed_countries="us de"))
    assert response.status_code == 400
    assert "its country is unknown" in response.content.decode()
    response = client.post(URL, form_data(allowed_countries="us de", confirm_lockout="on"))
    assert response.status_code == 302
    assert stored_policy(world.a.tenant).allowed_countries == ["US", "DE"]  # type: ignore[union-attr]


def test_a_self_lockout_is_refused_until_confirmed(world, login):
    tenant = world.a.tenant
    client = login(world.a.users[Role.ADMIN], tenant, step_up=True)
    response = client.post(URL, form_data(allowed_networks="198.51.100.0/24"))
    assert response.status_code == 400
    body = response.content.decode()
    assert "Your current address is in none of these networks" in body
    assert 'name="confirm_lockout"' in body
    assert stored_policy(tenant) is None
    since = head_seq(tenant)
    response = client.post(URL, form_data(allowed_networks="198.51.100.0/24", confirm_lockout="on"))
    assert response.status_code == 302
    assert stored_policy(tenant).allowed_networks == ["198.51.100.0/24"]  # type: ignore[union-attr]
    assert "access_policy.changed" in actions(tenant, since)


def test_the_confirmation_box_is_not_offered_without_a_lockout(world, login):
    body = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True).get(URL).content.decode()
    assert 'name="confirm_lockout"' not in body


# --- Tenants ------------------------------------------------------------------------------------


def test_another_tenants_admin_never_sees_or_changes_this_policy(world, login, client):
    a, b = world.a, world.b
    update(a.tenant, a.users[Role.ADMIN], allowed_networks=["127.0.0.0/8", "198.18.0.0/15"], max_travel_kmh=4321)
    a_policy = stored_policy(a.tenant)
    a_since = head_seq(a.tenant)

    b_client = login(b.users[Role.ADMIN], b.tenant, step_up=True)
    body = b_client.get(URL).content.decode()
    assert "198.18.0.0/15" not in body and "4321" not in body

    response = b_client.post(URL, form_data(allowed_networks="127.0.0.1/32", max_travel_kmh="2000"))
    assert response.status_code == 302
    b_policy = stored_policy(b.tenant)
    assert b_policy is not None and b_policy.pk != a_policy.pk  # type: ignore[union-attr]
    assert b_policy.allowed_networks == ["127.0.0.1/32"] and b_policy.max_travel_kmh == 2000

    after = stored_policy(a.tenant)
    assert after is not None and after.pk == a_policy.pk  # type: ignore[union-attr]
    assert after.allowed_networks == ["127.0.0.0/8", "198.18.0.0/15"] and after.max_travel_kmh == 4321
    assert actions(a.tenant, a_since) == []
    assert "access_policy.changed" in actions(b.tenant)

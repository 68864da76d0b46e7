"""PHI never reaches the audit log: drive every PHI-bearing action with synthetic PHI and scan
what was stored."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

SYNTHETIC_PHI = {
    "first_name": "Zebulon",
    "last_name": "Quixotepatient",
    "email": "zebulon.quixotepatient@example.com",
    "external_id": "MRN-99887766",
}


def test_phi_bearing_actions_store_no_phi_in_the_audit_log(world, login, client):
    contact = make_contact(world.a.tenant, **SYNTHETIC_PHI)
    web = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    web.get(reverse("segments:contact_list"))
    web.get(reverse("segments:contact_list"), {"q": SYNTHETIC_PHI["email"]})
    web.get(reverse("segments:contact_detail", kwargs={"contact_id": contact.pk}))
    web.get(reverse("audit:event_list"), {"actor": SYNTHETIC_PHI["email"], "target_id": SYNTHETIC_PHI["external_id"]})
    web.get(reverse("audit:export_csv"), {"actor": SYNTHETIC_PHI["last_name"]})
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    client.get(reverse("api:segments_api:contact_list"), {"q": SYNTHETIC_PHI["email"]}, **auth)
    client.get(reverse("api:segments_api:contact_detail", kwargs={"contact_id": contact.pk}), **auth)
    client.post(reverse("authn:login"), {"username": SYNTHETIC_PHI["email"], "password": "wrong-password-1"})

    # Every column of every event in A's chain and the global chain, as stored.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL sealpost.tenant_id = %s", [str(world.a.tenant.pk)])
        cursor.execute("SELECT row_to_json(e)::text FROM audit_auditevent e")
        stored = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL sealpost.tenant_id = ''")
        cursor.execute("SET LOCAL sealpost.audit_global = 'on'")
        cursor.execute("SELECT row_to_json(e)::text FROM audit_auditevent e")
        stored += "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL sealpost.audit_global = ''")
    assert "contact.phi_viewed" in stored and "contact.list_viewed" in stored
    for value in SYNTHETIC_PHI.values():
        assert value.lower() not in stored.lower(), value

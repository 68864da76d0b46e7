from __future__ import annotations

import csv
import io
import json

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit.exports import spreadsheet_safe
from audit.services import SYSTEM, Target, record
from audit.tasks import verify_chains_task, write_all_checkpoints
from audit.verify import verify_export
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx"])
def test_csv_cells_cannot_start_a_formula(value):
    assert spreadsheet_safe(value).startswith("'")


def test_the_audit_page_lists_filters_and_shows_integrity(world, login):
    with tenant_context(world.a.tenant):
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM, target=Target("contact", "=cmd"))
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    page = client.get(reverse("audit:event_list"), {"action": "membership"})
    assert page.status_code == 200
    actions = {event.action for event in page.context["page"]}
    assert actions and all(action.startswith("membership.") for action in actions)
    verified = client.post(reverse("audit:verify"), HTTP_HX_REQUEST="true")
    assert verified.status_code == 200 and "Verified" in verified.content.decode()
    bad = client.get(reverse("audit:event_list"), {"date_from": "2026-02-02", "date_to": "2026-01-01"})
    assert "must be on or before" in bad.content.decode()


def test_csv_export_is_spreadsheet_safe(world, login):
    with tenant_context(world.a.tenant):
        record(tenant=world.a.tenant, action="audit.viewed", actor=SYSTEM, target=Target("contact", "=cmd"))
    response = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True).get(reverse("audit:export_csv"))
    assert response["Content-Type"] == "text/csv" and response["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert any(row["target_id"] == "'=cmd" for row in rows)
    assert {"prev_hash", "hash", "seq"} <= set(rows[0])


def test_json_export_verifies_offline_and_detects_edits(world, login, tmp_path):
    write_all_checkpoints()
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    response = client.get(reverse("audit:export_json"))
    document = json.loads(response.content)
    report = verify_export(document)
    assert report.ok and report.events > 0 and report.checkpoints_verified == 1

    path = tmp_path / "export.json"
    path.write_text(json.dumps(document))
    call_command("audit_verify", "--export", str(path), "--public-key", document["checkpoint_public_key"])

    document["events"][0]["target_id"] = "edited"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError):
        call_command("audit_verify", "--export", str(path))
    assert verify_export(document, trusted_public_key_hex="00" * 32).problems


def test_the_api_lists_and_verifies(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], role=Role.COMPLIANCE_OFFICER)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    listing = client.get(reverse("api:audit_api:event_list"), {"action": "api_token"}, **auth)
    assert listing.status_code == 200
    assert [row["action"] for row in listing.json()["results"]][-1] == "api_token.created"
    verification = client.get(reverse("api:audit_api:verification"), **auth)
    assert verification.json()["ok"] is True
    invalid = client.get(reverse("api:audit_api:event_list"), {"date_from": "yesterday"}, **auth)
    assert invalid.status_code == 400
    assert invalid.json()["error"]["fields"]["date_from"]


def test_marketers_cannot_read_the_audit_log(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    assert client.get(reverse("audit:event_list")).status_code == 403
    assert client.get(reverse("audit:export_json")).status_code == 403


def test_periodic_verification_alerts_admins_when_broken(world, settings):
    assert verify_chains_task() == 0
    assert mail.outbox == []
    # Break A's chain through a forged checkpoint in the external log (no superuser needed).
    write_all_checkpoints()
    lines = settings.AUDIT_CHECKPOINT_LOG.read_text().splitlines()
    forged = [json.loads(line) for line in lines]
    for entry in forged:
        entry["seq"] += 1
    settings.AUDIT_CHECKPOINT_LOG.write_text("\n".join(json.dumps(entry) for entry in forged) + "\n")
    assert verify_chains_task() >= 1
    alert = next(message for message in mail.outbox if world.a.tenant.name in message.subject)
    assert alert.to == [world.a.users[Role.ADMIN].email]
    assert "#" in alert.body

"""The campaigns API: scopes, create, launch (refusals are 409 with the check's code), pause,
resume, cancel, progress, and another tenant's token getting 404."""

from __future__ import annotations

import pytest

from campaigns.models import CampaignStatus
from campaigns.tests.support import approved_template, consenting, make_campaign, segment
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db


def bearer(fixture, scopes):
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=scopes)
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def test_read_scope_reads_but_cannot_write(world, client):
    campaign = make_campaign(world.a)
    read = bearer(world.a, ["campaigns:read"])
    listed = client.get("/api/campaigns/", **read)
    assert listed.status_code == 200 and [row["id"] for row in listed.json()["results"]] == [str(campaign.pk)]
    assert client.get(f"/api/campaigns/{campaign.pk}/", **read).json()["status"] == "draft"
    for action in ("launch", "pause", "resume", "cancel"):
        response = client.post(f"/api/campaigns/{campaign.pk}/{action}/", **read)
        assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
    assert client.post("/api/campaigns/", {}, content_type="application/json", **read).status_code == 403
    # And the write scope alone does not read.
    assert client.get("/api/campaigns/", **bearer(world.a, ["campaigns:write"])).status_code == 403


def test_create_launch_progress_pause_resume_cancel(world, client, verified_domains, sent_tasks):
    a = world.a
    for _ in range(2):
        consenting(a)
    version, seg = approved_template(a), segment(a)
    write, read = bearer(a, ["campaigns:write"]), bearer(a, ["campaigns:read"])
    body = {
        "name": "API reminders",
        "template_id": str(version.template_id),
        "segment_id": str(seg.pk),
        "from_name": "Synthetic Clinic",
        "from_address": "news@org-a.example.com",
    }
    bad = client.post(
        "/api/campaigns/",
        {**body, "from_address": "x@y\r\nBcc: z@example.com"},
        content_type="application/json",
        **write,
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    created = client.post("/api/campaigns/", body, content_type="application/json", **write)
    assert created.status_code == 201, created.json()
    campaign_id = created.json()["id"]
    assert created.json()["purpose"] == "appointment_reminders"
    launched = client.post(f"/api/campaigns/{campaign_id}/launch/", **write)
    assert launched.status_code == 200 and launched.json()["audience_size"] == 2
    assert launched.json()["template_version_number"] == 1
    progress = client.get(f"/api/campaigns/{campaign_id}/progress/", **read).json()
    assert progress["total"] == 2 and progress["counts"]["queued"] == 2 and progress["percent"] == 0
    again = client.post(f"/api/campaigns/{campaign_id}/launch/", **write)
    assert again.status_code == 409 and again.json()["error"]["check"] == "state"
    assert client.post(f"/api/campaigns/{campaign_id}/pause/", **write).json()["status"] == CampaignStatus.PAUSED
    assert client.post(f"/api/campaigns/{campaign_id}/resume/", **write).json()["status"] == CampaignStatus.SENDING
    assert client.post(f"/api/campaigns/{campaign_id}/cancel/", **write).json()["status"] == CampaignStatus.CANCELLED
    refused = client.post(f"/api/campaigns/{campaign_id}/pause/", **write)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "state"
    assert client.get(f"/api/campaigns/{campaign_id}/progress/", **read).json()["counts"]["cancelled"] == 2


def test_launch_refusal_names_the_check_and_writes_nothing(world, client, verified_domains):
    a = world.a
    consenting(a)
    campaign = make_campaign(a, version=approved_template(a, phi=True))
    write = bearer(a, ["campaigns:write"])
    response = client.post(f"/api/campaigns/{campaign.pk}/launch/", **write)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "launch_refused" and response.json()["error"]["check"] == "approval"
    detail = client.get(f"/api/campaigns/{campaign.pk}/", **bearer(a, ["campaigns:read"])).json()
    assert detail["status"] == "draft" and detail["audience_size"] is None


def test_another_tenants_token_gets_404(world, client, verified_domains):
    campaign = make_campaign(world.a)
    b_both = bearer(world.b, ["campaigns:read", "campaigns:write"])
    for path in ("", "progress/"):
        assert client.get(f"/api/campaigns/{campaign.pk}/{path}", **b_both).status_code == 404
    for action in ("launch", "pause", "resume", "cancel"):
        assert client.post(f"/api/campaigns/{campaign.pk}/{action}/", **b_both).status_code == 404
    assert client.get("/api/campaigns/", **b_both).json()["results"] == []
    # Creating in B with A's template is refused as an unknown template.
    version = approved_template(world.a)
    body = {
        "name": "Cross",
        "template_id": str(version.template_id),
        "from_name": "X",
        "from_address": "news@org-b.example.com",
    }
    response = client.post("/api/campaigns/", body, content_type="application/json", **b_both)
    assert response.status_code == 400 and "template" in response.json()["error"]["fields"]

"""Transactional sends (POST /api/messages/, GET /api/messages/<id>/, issue 13): end to end
through the real send pipeline to the suite's SMTP server over STARTTLS with the event.* values
rendered; validation that never quotes a value; idempotency by the caller's id; the 409
refusals; consent and cap outcomes; scopes, roles and another organisation's token."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.tests.helpers import events as audit_events
from campaigns.models import Campaign, CampaignKind, CampaignStatus, Message, MessageStatus
from campaigns.tests.support import approved_template, consenting, from_domain, make_campaign
from delivery.tests.support import make_verified_sending_domain

# Fixtures: the aiosmtpd servers (STARTTLS from a test CA), tenant A's verified domain and BAA.
from templates.tests.pipeline_mail import TLS_DOMAIN, ca, mx_cert, servers, test_mail  # noqa: F401
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

SEND = "/api/messages/"
PROVIDER = "Dr. Synthetica Quill"
APPOINTMENT_AT = "2027-03-15T09:30:00-04:00"


def bearer(fixture, scopes=("messages:send",)):
    issued = make_token(fixture.tenant, fixture.users[Role.ADMIN], scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}


def body(version, who, *, request_id="order-1001", **overrides):
    values = {
        "id": request_id,
        "template": str(version.template_id),
        "purpose": "appointment_reminders",
        "contact": {"external_id": who.external_id},
        "data": {"provider_name": PROVIDER, "appointment_at": APPOINTMENT_AT},
    }
    values.update(overrides)
    return values


def post(client, payload, headers):
    return client.post(SEND, payload, content_type="application/json", **headers)


def phi_ready(fixture):
    """A verified sending domain and an active BAA (what test_mail gives tenant A)."""
    from baa.tests.support import make_active

    make_verified_sending_domain(fixture, from_domain(fixture))
    make_active(fixture)


def messages_of(fixture):
    with tenant_context(fixture.tenant):
        return list(Message.objects.for_tenant(fixture.tenant).order_by("id"))


def test_a_transactional_send_goes_end_to_end_with_its_event_values(
    world,
    client,
    test_mail,  # noqa: F811
    sent_tasks,
    django_capture_on_commit_callbacks,
):
    from delivery.posture import domain_posture
    from delivery.tasks import campaign_dispatch_task

    a = world.a
    version = approved_template(a, phi=True)
    contact = consenting(a, email=f"pat.synthetic@{TLS_DOMAIN}", first_name="Avery", time_zone="America/New_York")
    domain_posture(TLS_DOMAIN, refresh=True)  # the recipient domain's TLS posture, probed for real
    headers = bearer(a)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body(version, contact), headers)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["outcome"] == "queued" and created["replayed"] is False
    assert created["status_url"] == f"/api/messages/{created['id']}/"
    # The kick names the pipeline's task with ids only; the real task runs it (Celery eager).
    [(task, args)] = sent_tasks
    assert task == "delivery.campaign_dispatch" and args[0] == a.tenant.pk
    campaign_dispatch_task(*args)
    [received] = test_mail.received
    assert received.rcpt_tos == [contact.email] and received.tls
    assert PROVIDER in received.html
    assert "9:30 AM" in received.html  # event.appointment_at in the contact's zone
    assert "Avery" in received.html
    status = client.get(created["status_url"], **headers)
    assert status.status_code == 200
    assert set(status.json()) == {"id", "status", "outcome", "reason_codes", "created_at", "updated_at"}
    assert status.json()["status"] == MessageStatus.SENT
    assert PROVIDER not in status.content.decode() and contact.email not in status.content.decode()
    # The container: a transactional campaign for the approved version, still sending.
    with tenant_context(a.tenant):
        container = Campaign.objects.for_tenant(a.tenant).get(kind=CampaignKind.TRANSACTIONAL)
    assert container.status == CampaignStatus.SENDING and container.template_version_id == version.pk
    assert container.from_address.startswith("no-reply@")
    actions = [name for name, _ in audit_events(a.tenant)]
    assert actions.index("campaign.transactional_created") < actions.index("message.enqueued")


def test_a_retry_replays_and_different_content_under_the_same_id_is_refused(
    world, client, sent_tasks, django_capture_on_commit_callbacks
):
    a = world.a
    phi_ready(a)
    version, contact = approved_template(a, phi=True), consenting(a)
    headers = bearer(a)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, body(version, contact), headers)
        again = post(client, body(version, contact), headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["replayed"] is True and again.json()["id"] == first.json()["id"]
    other = body(version, contact, data={"provider_name": "Dr. Other Synthetic"})
    conflict = post(client, other, headers)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    [message] = messages_of(a)
    # The caller's id is kept only as a keyed digest.
    assert "order-1001" not in message.source_key and message.source_key.startswith("api:")
    assert len(sent_tasks) == 1  # the pipeline was kicked for the first request only


def test_bad_fields_are_named_and_never_quoted(world, client, sent_tasks):
    a = world.a
    phi_ready(a)
    version, contact = approved_template(a, phi=True), consenting(a)
    secret = "SYNTHETIC-DIAGNOSIS-7731"
    payload = body(
        version,
        contact,
        data={"diagnosis": secret, "appointment_at": secret, "amount_due": secret, "items": [{"amount": secret}]},
    )
    response = post(client, payload, bearer(a))
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"data.diagnosis", "data.appointment_at", "data.amount_due", "data.items"}
    assert secret not in response.content.decode()
    missing = post(client, {"template": "nope", "contact": {}}, bearer(a)).json()["error"]["fields"]
    assert set(missing) == {"id", "template", "purpose", "contact"}
    unknown = post(client, body(version, contact, contact={"email": f"nobody@{TLS_DOMAIN}"}), bearer(a))
    assert unknown.status_code == 400 and f"nobody@{TLS_DOMAIN}" not in unknown.content.decode()
    assert messages_of(a) == []


def test_the_purpose_must_be_the_templates(world, client, sent_tasks):
    a = world.a
    phi_ready(a)
    version, contact = approved_template(a, phi=True), consenting(a)
    response = post(client, body(version, contact, purpose="marketing"), bearer(a))
    assert response.status_code == 400
    assert "appointment_reminders" in response.json()["error"]["fields"]["purpose"][0]
    assert messages_of(a) == []


def test_what_the_organisation_cannot_send_is_a_409_and_writes_nothing(world, client, sent_tasks):
    a, b = world.a, world.b
    contact = consenting(a)
    # No verified sending domain (a template without PHI and no event data: no BAA needed).
    response = post(client, body(approved_template(a), contact, data={}), bearer(a))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "no_sending_domain")
    make_verified_sending_domain(a, from_domain(a))
    # PHI without an active BAA: a PHI template, or event data (PHI by the catalogue).
    response = post(client, body(approved_template(a, phi=True), contact), bearer(a))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "baa_required")
    response = post(client, body(approved_template(a), contact), bearer(a))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "baa_required")
    # No approved version (a draft only).
    draft = make_template(a.tenant, a.users[Role.MARKETER], name="Draft only", purpose="appointment_reminders")
    response = post(client, body(draft, contact, data={}), bearer(a))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "no_approved_version")
    assert messages_of(a) == []
    with tenant_context(a.tenant):
        assert not Campaign.objects.for_tenant(a.tenant).filter(kind=CampaignKind.TRANSACTIONAL).exists()
    assert messages_of(b) == []


def test_refusals_are_recorded_and_answered_with_their_outcome(
    world, client, sent_tasks, django_capture_on_commit_callbacks
):
    a = world.a
    phi_ready(a)
    version = approved_template(a, phi=True)
    never_asked = make_contact(a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body(version, never_asked), bearer(a))
    assert response.status_code == 201
    assert (response.json()["outcome"], response.json()["status"]) == ("no_consent", MessageStatus.SKIPPED)
    status = client.get(response.json()["status_url"], **bearer(a)).json()
    assert (status["outcome"], status["reason_codes"]) == ("no_consent", ["no_consent"])
    assert sent_tasks == []


def test_the_container_is_reused_and_not_listed_with_campaigns(world, client, sent_tasks, login):
    a = world.a
    phi_ready(a)
    version = approved_template(a, phi=True)
    for n in range(2):
        assert post(client, body(version, consenting(a), request_id=f"r{n}"), bearer(a)).status_code == 201
    with tenant_context(a.tenant):
        containers = list(Campaign.objects.for_tenant(a.tenant).filter(kind=CampaignKind.TRANSACTIONAL))
    assert len(containers) == 1
    make_campaign(a, name="A real broadcast")
    listed = client.get("/api/campaigns/", **bearer(a, scopes=("campaigns:read",))).json()
    names = [item["name"] for item in listed["results"]]
    assert names == ["A real broadcast"]
    page = login(a.users[Role.MARKETER], a.tenant).get(reverse("campaigns:campaign_list")).content.decode()
    assert containers[0].name not in page


def test_the_scope_and_the_role_are_required(world, client, login, sent_tasks):
    a = world.a
    phi_ready(a)
    version, contact = approved_template(a, phi=True), consenting(a)
    response = post(client, body(version, contact), bearer(a, scopes=("events:write",)))
    assert response.status_code == 403
    officer = login(a.users[Role.COMPLIANCE_OFFICER], a.tenant)
    assert officer.post(SEND, json.dumps(body(version, contact)), content_type="application/json").status_code == 403
    marketer = login(a.users[Role.MARKETER], a.tenant)
    sent = marketer.post(SEND, json.dumps(body(version, contact)), content_type="application/json")
    assert sent.status_code == 201
    assert officer.get(sent.json()["status_url"]).status_code == 200  # campaigns.view reads a status


def test_another_organisations_token_gets_404_and_cannot_send_with_its_template(world, client, sent_tasks):
    a, b = world.a, world.b
    phi_ready(a)
    version, contact = approved_template(a, phi=True), consenting(a)
    created = post(client, body(version, contact), bearer(a)).json()
    assert client.get(created["status_url"], **bearer(b)).status_code == 404
    theirs = post(client, body(version, contact), bearer(b))
    assert theirs.status_code == 400 and set(theirs.json()["error"]["fields"]) == {"template", "contact"}
    # A broadcast's message is not a transactional send: 404 even for its own organisation.
    broadcast = make_campaign(a)
    with tenant_context(a.tenant):
        other = Message.objects.create(
            tenant=a.tenant, campaign=broadcast, contact=contact, send_after=broadcast.created_at
        )
    assert client.get(f"/api/messages/{other.pk}/", **bearer(a)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_first_requests_make_one_container_and_one_message(world, sent_tasks):
    """Same id at the same moment, before any container exists: one creates, the other replays."""
    import threading

    from django.db import connections
    from django.test import Client

    a = world.a
    # No PHI (a plain template, no event data): no BAA, whose seeded text a flushing test removes.
    make_verified_sending_domain(a, from_domain(a))
    version, contact = approved_template(a), consenting(a)
    headers = bearer(a)
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def send() -> None:
        try:
            barrier.wait()
            codes.append(post(Client(), body(version, contact, data={}), headers).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 201]
    assert len(messages_of(a)) == 1
    with tenant_context(a.tenant):
        assert Campaign.objects.for_tenant(a.tenant).filter(kind=CampaignKind.TRANSACTIONAL).count() == 1

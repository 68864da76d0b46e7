"""Test sends through the real delivery pipeline to real SMTP servers (aiosmtpd on loopback,
``templates.tests.pipeline_mail``) with Celery eager: to the member's own address, marked as a
test, synthetic data only, From a verified sending domain and DKIM-signed, with the TLS the
protection policy requires; held (not delivered) where a real message would be; retried after
4xx; audited without the address; rate-limited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from delivery.dkim_signing import verify_message
from delivery.sending_domains import dkim_host
from templates import models as template_models
from templates.models import AllowedTestAddress, TemplateVersion
from templates.services import ContentInput, draft_save
from templates.test_sends import (
    TEST_HEADER,
    SendTestRefused,
    allowed_address_add,
    allowed_address_remove,
    version_send_test,
)
from templates.tests.pipeline_mail import FROM_DOMAIN, PLAIN_DOMAIN, ca, mx_cert, servers, test_mail  # noqa: F401
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

# Fixtures imported above are redefined as arguments below.
# ruff: noqa: F811


def _url(version) -> str:
    return reverse("templates:version_test_send", kwargs={"version_id": version.pk})


def _template_events(tenant, seq):
    return [(action, details) for action, details in events(tenant, seq) if action.startswith("template.")]


def _bilingual(world) -> TemplateVersion:
    marketer = world.a.users[Role.MARKETER]
    version = make_template(world.a.tenant, marketer)
    with tenant_context(world.a.tenant):
        return draft_save(
            tenant=world.a.tenant,
            user=marketer,
            version=version,
            default_language="en",
            contents=[
                ContentInput(
                    language="en",
                    subject="Your appointment at {{ org.name }}",
                    html_body="<p>Hello {{ contact.first_name }}, see {{ event.provider_name }}.</p>",
                ),
                ContentInput(language="es", subject="Su cita", html_body="<p>Hola {{ contact.first_name }}</p>"),
            ],
        )


def _statuses(tenant):
    with tenant_context(tenant):
        rows = template_models.TestSend.objects.for_tenant(tenant).order_by("created_at")
        return list(rows.values_list("status", "codes"))


def _dkim_dns(mail):
    return {dkim_host(mail.sending_domain): mail.sending_domain.dkim_public_txt}


def test_test_send_goes_through_the_pipeline_to_the_members_own_inbox_marked_and_with_sample_data_only(
    world, login, test_mail, django_capture_on_commit_callbacks
):
    # A real patient exists in the organisation: nothing of theirs may appear in a test.
    patient = make_contact(world.a.tenant, first_name="Quentinella", last_name="Realpatient")
    version = _bilingual(world)
    marketer = world.a.users[Role.MARKETER]
    seq = head_seq(world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(marketer, world.a.tenant).post(_url(version), {"language": "en"}, follow=True)
    assert "A test message is on its way to your own address; its outcome shows below." in [
        str(m) for m in response.context["messages"]
    ]
    assert test_mail.recipients() == [marketer.email]
    received = test_mail.received[0]
    # The pipeline's path: verified TLS (the content has PHI fields), DKIM with the tenant's key.
    assert received.tls is True
    assert verify_message(received.raw, dns_txt=_dkim_dns(test_mail))
    assert str(received.message["From"]) == f"Org A <no-reply@{FROM_DOMAIN}>"
    assert received.message["List-Unsubscribe"] is None  # a test unsubscribes no one
    assert received.subject == "[TEST] Your appointment at Sunrise Family Clinic"
    assert received.message[TEST_HEADER] == "1"
    assert received.body.startswith("TEST MESSAGE: rendered with sample data")
    assert "Hello Avery, see Dr. Rowan Demoway." in received.body
    assert "<p>Hello Avery, see Dr. Rowan Demoway.</p>" in received.html
    raw = received.raw.decode()
    for real in (patient.first_name, patient.last_name, patient.email, patient.external_id):
        assert real not in raw
    # Recorded and audited with the version, language and outcome only: never the address.
    with tenant_context(world.a.tenant):
        sent = template_models.TestSend.objects.for_tenant(world.a.tenant).get()
    assert (sent.status, sent.protection, sent.attempts) == (template_models.TestSendStatus.SENT, "verified_tls", 1)
    assert sent.tls_version.startswith("TLSv1.")
    assert _template_events(world.a.tenant, seq) == [
        ("template.test_sent", {"version": 1, "language": "en", "to": "self"}),
        (
            "template.test_delivered",
            {
                "version": 1,
                "test_send": str(sent.pk),
                "status": "sent",
                "codes": ["phi_verified_tls"],
                "tls": sent.tls_version,
            },
        ),
    ]
    assert marketer.email not in str(events(world.a.tenant, seq))
    # The version page shows the outcome.
    page = login(marketer, world.a.tenant).get(reverse("templates:version_detail", kwargs={"version_id": version.pk}))
    assert f"Delivered over {sent.tls_version}." in page.content.decode()


def test_test_send_goes_once_the_request_commits_in_another_language(
    world, test_mail, django_capture_on_commit_callbacks
):
    version = _bilingual(world)
    admin = world.a.users[Role.ADMIN]
    with django_capture_on_commit_callbacks() as callbacks, tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=admin, version=version, language="es")
    assert test_mail.received == [] and len(callbacks) == 1  # nothing leaves before the commit
    assert _statuses(world.a.tenant) == [("queued", [])]
    callbacks[0]()
    assert test_mail.recipients() == [admin.email]
    assert test_mail.received[0].subject == "[TEST] Su cita"
    assert "Hola Avery" in test_mail.received[0].body


def test_a_phi_test_to_a_domain_without_verified_tls_is_held_never_sent_in_plaintext(
    world, login, test_mail, django_capture_on_commit_callbacks
):
    address = _add(world, email=f"qa@{PLAIN_DOMAIN}", label="Plain QA")
    version = _bilingual(world)
    marketer = world.a.users[Role.MARKETER]
    seq = head_seq(world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        login(marketer, world.a.tenant).post(_url(version), {"recipient": str(address.pk)})
    assert test_mail.received == []
    assert test_mail.plain_server.recorder.commands == []  # not even a MAIL FROM
    [(status, codes)] = _statuses(world.a.tenant)
    assert status == "held" and codes[-1] == "would_be_escrowed"
    actions = [action for action, _ in _template_events(world.a.tenant, seq)]
    assert actions == ["template.test_sent", "template.test_not_delivered"]
    page = login(marketer, world.a.tenant).get(
        reverse("templates:version_test_sends", kwargs={"version_id": version.pk})
    )
    body = page.content.decode()
    assert "did not prove verified TLS" in body and "hx-trigger" not in body  # decided: no more polling


def test_a_test_without_phi_goes_to_a_domain_without_tls_as_the_policy_allows(
    world, test_mail, django_capture_on_commit_callbacks
):
    from templates.tests.support import make_template

    address = _add(world, email=f"qa@{PLAIN_DOMAIN}", label="Plain QA")
    version = make_template(
        world.a.tenant,
        world.a.users[Role.MARKETER],
        name="Newsletter",
        purpose="marketing",
        html='<p>News from {{ org.name }}.</p><p><a href="{{ links.unsubscribe }}">Unsubscribe</a></p>',
        subject="News",
    )
    with django_capture_on_commit_callbacks(execute=True), tenant_context(world.a.tenant):
        version_send_test(
            tenant=world.a.tenant, user=world.a.users[Role.ADMIN], version=version, address_id=str(address.pk)
        )
    assert test_mail.recipients() == [f"qa@{PLAIN_DOMAIN}"]
    assert test_mail.received[0].tls is False
    assert [status for status, _ in _statuses(world.a.tenant)] == ["sent"]


def test_a_451_is_retried_with_backoff_and_delivered_once(world, test_mail, django_capture_on_commit_callbacks):
    test_mail.tls_server.recorder.data_replies = ["451 4.3.0 Try again later"]
    version = _bilingual(world)
    admin = world.a.users[Role.ADMIN]
    with django_capture_on_commit_callbacks(execute=True), tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=admin, version=version)
    # The server saw the message twice (451, then 250): the same message, not a new one.
    assert test_mail.recipients() == [admin.email, admin.email]
    first, second = test_mail.received
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert test_mail.tls_server.recorder.data_replies == []
    with tenant_context(world.a.tenant):
        sent = template_models.TestSend.objects.for_tenant(world.a.tenant).get()
    assert (sent.status, sent.attempts) == (template_models.TestSendStatus.SENT, 2)


def test_a_hard_bounce_is_recorded_and_not_retried(world, test_mail, django_capture_on_commit_callbacks):
    admin = world.a.users[Role.ADMIN]
    test_mail.tls_server.recorder.rcpt_replies = {admin.email: "550 5.1.1 No such user"}
    version = _bilingual(world)
    with django_capture_on_commit_callbacks(execute=True), tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=admin, version=version)
    assert test_mail.received == []
    with tenant_context(world.a.tenant):
        sent = template_models.TestSend.objects.for_tenant(world.a.tenant).get()
    assert (sent.status, sent.codes, sent.smtp_code, sent.attempts) == (
        "failed",
        ["phi_verified_tls", "bounced"],
        550,
        1,
    )


def test_without_a_verified_sending_domain_a_test_is_refused_at_once(world, login, test_mail):
    from delivery.models import SendingDomain

    with tenant_context(world.a.tenant):
        SendingDomain.objects.for_tenant(world.a.tenant).update(status="failing")
    version = _bilingual(world)
    response = login(world.a.users[Role.MARKETER], world.a.tenant).post(_url(version), {}, follow=True)
    assert any("verify a sending domain first" in str(m) for m in response.context["messages"])
    assert _statuses(world.a.tenant) == []


def test_a_sending_domain_that_lost_verification_before_the_task_runs_sends_nothing(
    world, test_mail, django_capture_on_commit_callbacks
):
    from delivery.models import SendingDomain

    version = _bilingual(world)
    with django_capture_on_commit_callbacks() as callbacks, tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], version=version)
        SendingDomain.objects.for_tenant(world.a.tenant).update(status="failing")
    callbacks[0]()
    assert test_mail.received == []
    assert _statuses(world.a.tenant) == [("failed", ["sending_domain_unverified"])]


def test_phi_content_without_an_active_baa_is_held(world, test_mail, django_capture_on_commit_callbacks):
    from baa.models import Agreement

    with tenant_context(world.a.tenant):
        Agreement.objects.for_tenant(world.a.tenant).delete()
    version = _bilingual(world)
    with django_capture_on_commit_callbacks(execute=True), tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], version=version)
    assert test_mail.received == []
    [(status, codes)] = _statuses(world.a.tenant)
    assert status == "held" and codes[0].startswith("baa_")


def test_a_language_the_version_lacks_is_refused_and_nothing_is_sent(
    world, login, test_mail, django_capture_on_commit_callbacks
):
    version = _bilingual(world)
    seq = head_seq(world.a.tenant)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(version), {"language": "fr"}, follow=True)
    assert "This version has no content in that language." in [str(m) for m in response.context["messages"]]
    assert test_mail.received == []
    assert _template_events(world.a.tenant, seq) == []


def test_test_sends_are_rate_limited_per_member(world, settings, test_mail, django_capture_on_commit_callbacks):
    settings.TEMPLATES_TEST_SENDS_PER_WINDOW = 2
    version = _bilingual(world)
    marketer, admin = world.a.users[Role.MARKETER], world.a.users[Role.ADMIN]
    with django_capture_on_commit_callbacks(execute=True), tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=marketer, version=version)
        version_send_test(tenant=world.a.tenant, user=marketer, version=version)
    seq = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant), pytest.raises(SendTestRefused, match="at most 2 test messages an hour"):
        version_send_test(tenant=world.a.tenant, user=marketer, version=version)
    assert _template_events(world.a.tenant, seq) == []
    # Another member has their own allowance.
    with django_capture_on_commit_callbacks(execute=True), tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=admin, version=version)
    assert test_mail.recipients() == sorted([marketer.email, marketer.email, admin.email])


def test_a_member_who_lost_the_right_to_edit_gets_no_queued_test(world, test_mail, django_capture_on_commit_callbacks):
    """The task checks again when it runs: a member demoted to compliance officer meanwhile
    gets nothing."""
    from tenants.models import Membership

    version = _bilingual(world)
    marketer = world.a.users[Role.MARKETER]
    with django_capture_on_commit_callbacks() as callbacks, tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=marketer, version=version)
        Membership.objects.for_tenant(world.a.tenant).filter(user=marketer).update(role=Role.COMPLIANCE_OFFICER)
    callbacks[0]()
    assert test_mail.received == []
    assert _statuses(world.a.tenant) == [("failed", ["no_longer_allowed"])]


def test_another_tenants_test_send_id_sends_nothing(world, test_mail, django_capture_on_commit_callbacks):
    from templates.tasks import send_test_message_task

    version = _bilingual(world)
    with django_capture_on_commit_callbacks() as callbacks, tenant_context(world.a.tenant):
        sent = version_send_test(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], version=version)
    assert send_test_message_task.delay(world.b.tenant.pk, str(sent.pk)).get() == "gone"
    assert test_mail.received == []
    assert _statuses(world.a.tenant) == [("queued", [])]
    callbacks[0]()
    assert _statuses(world.a.tenant) == [("sent", ["phi_verified_tls"])]


# --- The organisation's test list ---------------------------------------------------------------


def _add(world, email="QA-Inbox@Example.com", label="Shared QA"):
    with tenant_context(world.a.tenant):
        return allowed_address_add(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], email=email, label=label)


def test_admins_keep_the_test_list_and_it_is_audited(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    url = reverse("templates:test_addresses")
    seq = head_seq(world.a.tenant)
    response = client.post(url, {"email": " QA-Inbox@Example.com ", "label": "Shared QA"}, follow=True)
    assert "Address added to the test list." in [str(m) for m in response.context["messages"]]
    assert "qa-inbox@example.com" in response.content.decode()
    duplicate = client.post(url, {"email": "qa-inbox@example.com"})
    assert duplicate.status_code == 400 and "already on the list" in duplicate.content.decode()
    invalid = client.post(url, {"email": "not an address"})
    assert invalid.status_code == 400 and "Enter a valid email address." in invalid.content.decode()
    with tenant_context(world.a.tenant):
        address = AllowedTestAddress.objects.for_tenant(world.a.tenant).get()
    response = client.post(reverse("templates:test_address_remove", kwargs={"address_id": address.pk}))
    assert response.status_code == 302
    assert _template_events(world.a.tenant, seq) == [
        ("template.test_address_added", {}),
        ("template.test_address_removed", {}),
    ]
    with tenant_context(world.a.tenant):
        assert not AllowedTestAddress.objects.for_tenant(world.a.tenant).exists()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.COMPLIANCE_OFFICER])
def test_only_admins_change_the_test_list(world, login, role):
    address = _add(world)
    client = login(world.a.users[role], world.a.tenant)
    assert client.get(reverse("templates:test_addresses")).status_code == 403
    assert client.post(reverse("templates:test_addresses"), {"email": "mine@example.com"}).status_code == 403
    remove = reverse("templates:test_address_remove", kwargs={"address_id": address.pk})
    assert client.post(remove).status_code == 403
    with tenant_context(world.a.tenant):
        assert list(AllowedTestAddress.objects.for_tenant(world.a.tenant).values_list("email", flat=True)) == [
            "qa-inbox@example.com"
        ]


def test_a_listed_address_receives_the_test_and_the_audit_says_which_kind(
    world,
    login,
    test_mail,
    django_capture_on_commit_callbacks,
):
    address = _add(world)
    version = _bilingual(world)
    marketer = world.a.users[Role.MARKETER]
    client = login(marketer, world.a.tenant)
    page = client.get(reverse("templates:version_detail", kwargs={"version_id": version.pk})).content.decode()
    assert f'<option value="{address.pk}">qa-inbox@example.com (Shared QA)</option>' in page
    seq = head_seq(world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(version), {"language": "es", "recipient": str(address.pk)}, follow=True)
    assert "A test message is on its way to the listed test address; its outcome shows below." in [
        str(m) for m in response.context["messages"]
    ]
    assert test_mail.recipients() == ["qa-inbox@example.com"]
    received = test_mail.received[0]
    assert received.subject == "[TEST] Su cita" and received.message[TEST_HEADER] == "1"
    sent_event, delivered_event = _template_events(world.a.tenant, seq)
    assert sent_event == (
        "template.test_sent",
        {"version": 1, "language": "es", "to": "test_list", "address_id": str(address.pk)},
    )
    assert delivered_event[0] == "template.test_delivered"


def test_an_address_not_on_this_organisations_list_is_refused(
    world,
    login,
    test_mail,
    django_capture_on_commit_callbacks,
):
    version = _bilingual(world)
    with tenant_context(world.b.tenant):
        other = allowed_address_add(
            tenant=world.b.tenant, user=world.b.users[Role.ADMIN], email="b-qa@example.com", label=""
        )
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    seq = head_seq(world.a.tenant)
    for recipient in (str(other.pk), "not-a-uuid"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(_url(version), {"recipient": recipient}, follow=True)
        assert "Choose your own address or one on the organisation's test list." in [
            str(m) for m in response.context["messages"]
        ]
    assert test_mail.received == []
    assert _template_events(world.a.tenant, seq) == []


def test_an_address_removed_before_the_task_runs_gets_nothing(
    world,
    test_mail,
    django_capture_on_commit_callbacks,
):
    address = _add(world)
    version = _bilingual(world)
    with django_capture_on_commit_callbacks() as callbacks, tenant_context(world.a.tenant):
        version_send_test(
            tenant=world.a.tenant, user=world.a.users[Role.ADMIN], version=version, address_id=str(address.pk)
        )
    with tenant_context(world.a.tenant):
        allowed_address_remove(tenant=world.a.tenant, user=world.a.users[Role.ADMIN], address=address)
    callbacks[0]()
    assert test_mail.received == []

"""Test sends through a real SMTP server (aiosmtpd, ``authn.tests.mail.inbox``) with Celery
eager: to the member's own address, marked as a test, synthetic data only, audited without the
address, rate-limited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.tests.helpers import events, head_seq
from authn.tests.mail import inbox  # noqa: F401 - fixture
from templates.models import AllowedTestAddress, TemplateVersion
from templates.services import ContentInput, draft_save
from templates.test_sends import (
    TEST_HEADER,
    SendTestRefused,
    allowed_address_add,
    allowed_address_remove,
    version_send_test,
)
from templates.tests.support import make_template
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


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


def test_test_send_reaches_the_members_own_inbox_marked_and_with_sample_data_only(
    world,
    login,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    # A real patient exists in the organisation: nothing of theirs may appear in a test.
    patient = make_contact(world.a.tenant, first_name="Quentinella", last_name="Realpatient")
    version = _bilingual(world)
    marketer = world.a.users[Role.MARKETER]
    seq = head_seq(world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(marketer, world.a.tenant).post(_url(version), {"language": "en"}, follow=True)
    assert "A test message is on its way to your own address." in [str(m) for m in response.context["messages"]]
    assert inbox.recipients() == [marketer.email]
    received = inbox.received[0]
    assert received.subject == "[TEST] Your appointment at Sunrise Family Clinic"
    assert received.message[TEST_HEADER] == "1"
    assert received.body.startswith("TEST MESSAGE: rendered with sample data")
    assert "Hello Avery, see Dr. Rowan Demoway." in received.body
    html = received.message.get_body(preferencelist=("html",)).get_content()
    assert "<p>Hello Avery, see Dr. Rowan Demoway.</p>" in html
    raw = received.message.as_string()
    for real in (patient.first_name, patient.last_name, patient.email, patient.external_id):
        assert real not in raw
    # Audited with the version and language only: never the address.
    assert _template_events(world.a.tenant, seq) == [
        ("template.test_sent", {"version": 1, "language": "en", "to": "self"})
    ]
    assert marketer.email not in str(events(world.a.tenant, seq))


def test_test_send_goes_once_the_request_commits_in_another_language(
    world,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    version = _bilingual(world)
    admin = world.a.users[Role.ADMIN]
    with django_capture_on_commit_callbacks() as callbacks, tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=admin, version=version, language="es")
    assert inbox.received == [] and len(callbacks) == 1  # nothing leaves before the commit
    callbacks[0]()
    assert inbox.recipients() == [admin.email]
    assert inbox.received[0].subject == "[TEST] Su cita"
    assert "Hola Avery" in inbox.received[0].body


def test_a_language_the_version_lacks_is_refused_and_nothing_is_sent(
    world,
    login,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    version = _bilingual(world)
    seq = head_seq(world.a.tenant)
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(version), {"language": "fr"}, follow=True)
    assert "This version has no content in that language." in [str(m) for m in response.context["messages"]]
    assert inbox.received == []
    assert _template_events(world.a.tenant, seq) == []


def test_test_sends_are_rate_limited_per_member(
    world,
    settings,
    inbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
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
    assert inbox.recipients() == sorted([marketer.email, marketer.email, admin.email])


def test_a_member_who_lost_the_right_to_edit_gets_no_queued_test(world, inbox):  # noqa: F811
    """The task checks again when it runs: a member demoted to compliance officer meanwhile
    gets nothing."""
    from templates.tasks import send_test_message_task
    from tenants.models import Membership

    version = _bilingual(world)
    marketer = world.a.users[Role.MARKETER]
    with tenant_context(world.a.tenant):
        Membership.objects.for_tenant(world.a.tenant).filter(user=marketer).update(role=Role.COMPLIANCE_OFFICER)
    assert send_test_message_task.delay(world.a.tenant.pk, str(version.pk), marketer.pk, "en").get() is False
    assert inbox.received == []
    # The same task for a member who may edit sends.
    admin = world.a.users[Role.ADMIN]
    assert send_test_message_task.delay(world.a.tenant.pk, str(version.pk), admin.pk, "en").get() is True
    assert inbox.recipients() == [admin.email]


def test_another_tenants_version_id_sends_nothing(world, inbox):  # noqa: F811
    from templates.tasks import send_test_message_task

    version = _bilingual(world)
    b_admin = world.b.users[Role.ADMIN]
    assert send_test_message_task.delay(world.b.tenant.pk, str(version.pk), b_admin.pk, "en").get() is False
    assert inbox.received == []


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
    inbox,  # noqa: F811
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
    assert "A test message is on its way to the listed test address." in [str(m) for m in response.context["messages"]]
    assert inbox.recipients() == ["qa-inbox@example.com"]
    received = inbox.received[0]
    assert received.subject == "[TEST] Su cita" and received.message[TEST_HEADER] == "1"
    assert _template_events(world.a.tenant, seq) == [
        ("template.test_sent", {"version": 1, "language": "es", "to": "test_list", "address_id": str(address.pk)})
    ]


def test_an_address_not_on_this_organisations_list_is_refused(
    world,
    login,
    inbox,  # noqa: F811
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
    assert inbox.received == []
    assert _template_events(world.a.tenant, seq) == []


def test_an_address_removed_before_the_task_runs_gets_nothing(
    world,
    inbox,  # noqa: F811
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
    assert inbox.received == []

"""Helpers for template tests."""

from __future__ import annotations

from templates.services import ContentInput, template_create
from tenants.context import tenant_context
from tenants.roles import Role

REMINDER_HTML = (
    "<html><body><h1>Hello {{ contact.first_name|name }}</h1>"
    "<p>Your appointment with {{ event.provider_name }} is on {{ event.appointment_at|datetime }}.</p>"
    '<p><a href="{{ links.preferences }}">Preferences</a></p></body></html>'
)


def make_template(
    world_tenant, user, *, name="Reminder", purpose="appointment_reminders", html=REMINDER_HTML, **content
):
    values = {"language": "en", "subject": "Your appointment at {{ org.name }}", "html_body": html, **content}
    with tenant_context(world_tenant):
        return template_create(
            tenant=world_tenant, user=user, name=name, purpose=purpose, contents=[ContentInput(**values)]
        )


def marketer(fixture):
    return fixture.users[Role.MARKETER]


def template_rows_in_every_table(fixture) -> None:
    """A row in each templates table for the fixture's tenant (row-level security tests)."""
    from templates.models import TestSend, TestSendRecipient
    from templates.services import version_submit
    from templates.test_sends import allowed_address_add

    version = make_template(fixture.tenant, marketer(fixture), name="RLS reminder")
    with tenant_context(fixture.tenant):
        version_submit(tenant=fixture.tenant, user=marketer(fixture), version=version)
        address = allowed_address_add(tenant=fixture.tenant, user=fixture.users[Role.ADMIN], email="qa@rls.example.com")
        TestSend.objects.create(
            tenant=fixture.tenant,
            version=version,
            requested_by=marketer(fixture),
            recipient=TestSendRecipient.TEST_LIST,
            address=address,
            language="en",
            from_name="RLS",
            from_address="no-reply@rls.example.com",
        )

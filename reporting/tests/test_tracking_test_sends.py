"""Test sends (templates.test_sends, through delivery.single_send) are never tracked: no pixel, no
rewritten link, whatever the organisation's switches, even for an approved version whose links
are already tracked by a campaign."""

from __future__ import annotations

import pytest

from delivery.tests.test_pipeline_support import approved_version
from reporting.tracking import tracked_links_ensure
from templates.test_sends import version_send_test
from templates.tests.pipeline_mail import ca, mx_cert, servers, test_mail  # noqa: F401
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db
# ruff: noqa: F811

LINK = "https://clinic.example/book"


def test_a_test_send_carries_no_tracking(world, test_mail, django_capture_on_commit_callbacks):
    version = approved_version(
        world.a, html=f'<p>News from {{{{ org.name }}}}. <a href="{LINK}">Book</a></p>', purpose="appointment_reminders"
    )
    admin = world.a.users[Role.ADMIN]
    with tenant_context(world.a.tenant):
        assert [link.url for link in tracked_links_ensure(tenant=world.a.tenant, version=version).values()] == [LINK]
    with django_capture_on_commit_callbacks(execute=True), tenant_context(world.a.tenant):
        version_send_test(tenant=world.a.tenant, user=admin, version=version)
    (received,) = test_mail.received
    assert f'href="{LINK}"' in received.html
    assert "/t/c/" not in received.html and "/t/o/" not in received.html
    assert "sealpost.test/t/" not in received.raw.decode()

from __future__ import annotations

import pytest

from templates.context import render_context
from templates.fields import merge_fields
from templates.selectors import render_version, version_contents
from templates.services import TemplateInvalid
from templates.tests.support import make_template, marketer
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db


def test_create_analyse_and_render(world):
    tenant = world.a.tenant
    version = make_template(tenant, marketer(world.a))
    assert version.fields_used == [
        "contact.first_name",
        "event.appointment_at",
        "event.provider_name",
        "links.preferences",
        "org.name",
    ]
    assert version.phi_fields == ["contact.first_name", "event.appointment_at", "event.provider_name"]
    with tenant_context(tenant):
        catalogue = merge_fields(tenant=tenant)
        rendered = render_version(
            contents=version_contents(tenant=tenant, version=version),
            version=version,
            language="es",
            context=render_context(catalogue, values={"contact.first_name": "<b>avery</b>"}),
        )
    assert "&lt;B&gt;avery&lt;/b&gt;" in rendered.html or "&lt;b&gt;avery" in rendered.html.lower()
    assert rendered.subject == "Your appointment at Sunrise Family Clinic"
    assert "Hello" in rendered.text


def test_marketing_template_may_not_use_phi(world):
    with pytest.raises(TemplateInvalid, match="may not carry PHI"):
        make_template(world.a.tenant, marketer(world.a), purpose="marketing")


def test_unknown_field_is_refused_at_save(world):
    with pytest.raises(TemplateInvalid, match=r"Unknown merge field “contact\.ssn”"):
        make_template(world.a.tenant, marketer(world.a), html="<p>{{ contact.ssn }}</p>")

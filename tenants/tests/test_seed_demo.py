from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from authn.models import User
from segments.models import Contact
from tenants.context import tenant_context
from tenants.demo import DEMO_CONTACTS, DEMO_PASSWORD, DEMO_USERS
from tenants.models import Organisation

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_prints_logins(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert DEMO_PASSWORD in out and all(user.email in out for user in DEMO_USERS)
    assert User.objects.filter(email__endswith="@demo.sealpost.test").count() == len(DEMO_USERS)
    for tenant in Organisation.objects.filter(slug__endswith="-demo"):
        with tenant_context(tenant):
            assert Contact.objects.for_tenant(tenant).count() == DEMO_CONTACTS
            domains = {contact.email.rpartition("@")[2] for contact in Contact.objects.for_tenant(tenant)}
            assert domains == {"verified.example.test", "plain.example.test"}
    logins = json.loads((tmp_path / "demo_logins.json").read_text())
    assert logins["password"] == DEMO_PASSWORD


def test_seed_demo_refuses_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="never created in production"):
        call_command("seed_demo")

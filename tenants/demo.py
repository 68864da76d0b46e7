"""The demo organisations for ``make run``: obviously synthetic people at example domains (the
demo's two recipient domains, one with verified TLS and one without: ``delivery.demo``)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from authn.models import User
from baa.demo import seed_demo_baa
from consent.demo import seed_demo_consent
from delivery.demo import (
    demo_contact_email,
    seed_demo_campaign,
    seed_demo_recipient_domains,
    seed_demo_sending_domain,
)
from encryption.fields import blind_index_for
from segments.models import Contact
from segments.search_index import contact_index_refresh
from tenants.context import tenant_context
from tenants.models import Membership, Organisation
from tenants.roles import Role
from tenants.services import membership_create

DEMO_PASSWORD = "sealpost-demo-2026"  # noqa: S105 - printed for the local demo, refused in production
DEMO_CONTACTS = 300
_FIRST = ["Avery", "Jordan", "Riley", "Casey", "Morgan", "Quinn", "Rowan", "Sage", "Emerson", "Harper", "Kai", "Logan"]
_LAST = ["Testpatient", "Sampleton", "Demoway", "Fakely", "Placeholder", "Mockridge", "Synthwood", "Exampleby"]
_LANGUAGES = ["en", "en", "en", "es", "fr"]
_ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    role: Role


DEMO_ORGANISATIONS = [
    ("Sunrise Family Clinic (demo)", "sunrise-demo"),
    ("Lakeside Pharmacy (demo)", "lakeside-demo"),
]
DEMO_USERS = [
    DemoUser("admin@demo.sealpost.test", "Dana Admin (demo)", Role.ADMIN),
    DemoUser("marketer@demo.sealpost.test", "Mo Marketer (demo)", Role.MARKETER),
    DemoUser("compliance@demo.sealpost.test", "Casey Compliance (demo)", Role.COMPLIANCE_OFFICER),
]


class DemoRefused(RuntimeError):
    pass


def _user(demo: DemoUser) -> User:
    user = User.objects.filter(email=demo.email).first()
    if user is None:
        user = User.objects.create_user(email=demo.email, password=DEMO_PASSWORD, full_name=demo.full_name)
    return user


def _contacts(tenant: Organisation, slug: str) -> int:
    rng = random.Random(slug)  # noqa: S311 - the same synthetic demo data every time; not security
    existing = set(Contact.objects.for_tenant(tenant).values_list("email_index", flat=True))
    new = []
    for number in range(1, DEMO_CONTACTS + 1):
        email = demo_contact_email(number)
        if blind_index_for(Contact, "email_index", tenant, email) in existing:
            continue
        new.append(
            Contact(
                tenant=tenant,
                email=email,
                first_name=rng.choice(_FIRST),
                last_name=rng.choice(_LAST),
                external_id=f"DEMO-{number:05d}",
                language=rng.choice(_LANGUAGES),
                time_zone=rng.choice(_ZONES),
            )
        )
    Contact.objects.bulk_create(new)
    contact_index_refresh(new)  # bulk_create does not call save(), which indexes a contact
    return len(new)


@transaction.atomic
def seed_demo() -> dict[str, object]:
    if settings.PRODUCTION:
        raise DemoRefused("Demo data is never created in production.")
    users = [(_user(demo), demo.role) for demo in DEMO_USERS]
    created_contacts = 0
    for index, (name, slug) in enumerate(DEMO_ORGANISATIONS):
        tenant, _ = Organisation.objects.get_or_create(slug=slug, defaults={"name": name})
        with tenant_context(tenant):
            for user, role in users:
                # The second organisation has only the admin, so the organisation switcher shows.
                if index > 0 and role != Role.ADMIN:
                    continue
                if not Membership.objects.for_tenant(tenant).filter(user=user).exists():
                    membership_create(tenant=tenant, actor=None, user=user, role=role)
            created_contacts += _contacts(tenant, slug)
            # A signed, active BAA and two sub-processors, so the demo can send PHI.
            seed_demo_baa(tenant=tenant, admin=next(user for user, role in users if role == Role.ADMIN))
            # A sending domain verified for the local demo only (no DNS here), so a campaign can launch.
            seed_demo_sending_domain(
                tenant=tenant, slug=slug, admin=next(user for user, role in users if role == Role.ADMIN)
            )
            seed_demo_consent(tenant=tenant, slug=slug)
            seed_demo_recipient_domains(tenant=tenant)
            if index == 0:  # the organisation with a marketer and a compliance officer
                roles = {role: user for user, role in users}
                seed_demo_campaign(
                    tenant=tenant,
                    slug=slug,
                    marketer=roles[Role.MARKETER],
                    compliance=roles[Role.COMPLIANCE_OFFICER],
                )
    return {
        "password": DEMO_PASSWORD,
        "users": [{"email": demo.email, "role": demo.role.label} for demo in DEMO_USERS],
        "organisations": [name for name, _ in DEMO_ORGANISATIONS],
        "contacts_created": created_contacts,
    }


def write_demo_logins(summary: dict[str, object], path: Path | None = None) -> Path:
    path = path or settings.VAR_DIR / "demo_logins.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    logins = {"password": summary["password"], "users": summary["users"]}
    path.write_text(json.dumps(logins, indent=2), encoding="utf-8")
    return path

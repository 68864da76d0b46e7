from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from audit.tests.helpers import actions, head_seq
from encryption import services
from encryption.aead import key_version_of
from encryption.keyring import forget_cached_keys
from encryption.models import KeyPurpose, KeyRotation, KeyStatus, RotationStatus, TenantKey
from encryption.providers import KeyUnavailable
from encryption.services import data_key_rotate, rotation_step, tenant_keys_destroy
from segments.models import Contact
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact


def _run_rotation(tenant, rotation) -> int:
    steps = 0
    with tenant_context(tenant):
        while not rotation_step(tenant=tenant, rotation=rotation):
            steps += 1
    return steps


def _stored_versions(tenant) -> set[int]:
    with tenant_context(tenant):
        return {
            key_version_of(bytes(value)) for value in Contact.objects.for_tenant(tenant).values_list("email", flat=True)
        }


@pytest.mark.django_db
def test_rotation_reencrypts_everything_in_batches_and_erases_the_old_key(world, monkeypatch):
    monkeypatch.setattr(services, "ROTATION_BATCH_SIZE", 4)
    monkeypatch.setattr("encryption.keyring.RESERVATION_SECONDS", -1)  # reservations already expired
    monkeypatch.setattr("encryption.tasks.rotate_task.delay", lambda *args: None)
    contacts = [make_contact(world.a.tenant, last_name=f"Rotated{n}") for n in range(10)]
    assert _stored_versions(world.a.tenant) == {1}
    start = head_seq(world.a.tenant)
    with tenant_context(world.a.tenant):
        rotation = data_key_rotate(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN])
    assert (rotation.from_version, rotation.to_version, rotation.rows_total) == (1, 2, 10)
    assert _run_rotation(world.a.tenant, rotation) >= 3  # progress is made batch by batch
    with tenant_context(world.a.tenant):
        rotation.refresh_from_db()
        assert (rotation.status, rotation.rows_done, rotation.rows_reencrypted, rotation.percent) == (
            "done",
            10,
            10,
            100,
        )
        forget_cached_keys()
        names = {c.last_name for c in Contact.objects.for_tenant(world.a.tenant)}
        statuses = dict(
            TenantKey.objects.for_tenant(world.a.tenant)
            .filter(purpose=KeyPurpose.DATA)
            .values_list("version", "status")
        )
        old_material = TenantKey.objects.for_tenant(world.a.tenant).get(purpose=KeyPurpose.DATA, version=1).wrapped_key
    assert names == {contact.last_name for contact in contacts}
    assert _stored_versions(world.a.tenant) == {2}
    assert statuses == {1: KeyStatus.SUPERSEDED, 2: KeyStatus.ACTIVE}
    assert bytes(old_material) == b""
    assert actions(world.a.tenant, start) == [
        "encryption.key_created",
        "encryption.key_rotation_started",
        "encryption.key_rotation_finished",
    ]


@pytest.mark.django_db(transaction=True)
def test_rotation_under_concurrent_writes_loses_nothing(world, monkeypatch):
    monkeypatch.setattr(services, "ROTATION_BATCH_SIZE", 5)
    monkeypatch.setattr("encryption.tasks.rotate_task.delay", lambda *args: None)
    tenant = world.a.tenant
    contacts = [make_contact(tenant, last_name="Before") for _ in range(40)]
    with tenant_context(tenant):
        rotation = data_key_rotate(tenant=tenant, actor=world.a.users[Role.ADMIN])
    written: dict[str, str] = {}
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for round_number in range(3):
                for contact in contacts:
                    with tenant_context(tenant):
                        row = Contact.objects.for_tenant(tenant).select_for_update().get(pk=contact.pk)
                        row.last_name = f"Written{round_number}"
                        row.save(update_fields=["last_name"])
                        written[str(contact.pk)] = row.last_name
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    _run_rotation(tenant, rotation)
    thread.join(timeout=120)
    assert errors == []
    # Whatever the interleaving, every row keeps its last written value and decrypts.
    with tenant_context(tenant):
        forget_cached_keys()
        final = {str(c.pk): c.last_name for c in Contact.objects.for_tenant(tenant)}
    assert final == written


@pytest.mark.django_db
def test_shredding_one_tenant_leaves_the_other_readable(world, login):
    a_contact = make_contact(world.a.tenant, last_name="ShreddedSynthetic")
    b_contact = make_contact(world.b.tenant, last_name="KeptSynthetic")
    with tenant_context(world.a.tenant):
        with pytest.raises(Exception, match="identifier exactly"):
            tenant_keys_destroy(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], confirmation="wrong")
        assert (
            tenant_keys_destroy(
                tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], confirmation=world.a.tenant.slug
            )
            == 2
        )
        forget_cached_keys()
        with pytest.raises(KeyUnavailable, match="destroyed"):
            _ = Contact.objects.for_tenant(world.a.tenant).get(pk=a_contact.pk).last_name
        assert set(TenantKey.objects.for_tenant(world.a.tenant).values_list("wrapped_key", flat=True)) == {b""}
    with tenant_context(world.b.tenant):
        assert Contact.objects.for_tenant(world.b.tenant).get(pk=b_contact.pk).last_name == "KeptSynthetic"
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    page = client.get(reverse("segments:contact_list"))
    assert page.status_code == 410 and "can no longer be read" in page.content.decode()
    assert "encryption.keys_destroyed" in actions(world.a.tenant)


@pytest.mark.django_db
def test_the_keys_page_rotates_and_shreds_for_admins_only(world, login, monkeypatch):
    monkeypatch.setattr("encryption.tasks.rotate_task.delay", lambda *args: None)
    make_contact(world.a.tenant)
    assert login(world.a.users[Role.MARKETER], world.a.tenant).get(reverse("encryption:keys")).status_code == 403
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    page = client.get(reverse("encryption:keys"))
    assert page.status_code == 200 and "local" in page.content.decode()
    client.post(reverse("encryption:rotate"))
    again = client.post(reverse("encryption:rotate"), follow=True)
    assert "already running" in again.content.decode()
    progress = client.get(reverse("encryption:rotation_progress"))
    assert 'hx-trigger="every 2s"' in progress.content.decode()
    with tenant_context(world.a.tenant):
        assert KeyRotation.objects.for_tenant(world.a.tenant).filter(status=RotationStatus.RUNNING).count() == 1


@pytest.mark.django_db
def test_a_stale_reservation_elsewhere_neither_defeats_rotation_nor_loses_data(world, monkeypatch):
    """Another process may still hold a reservation of the old version when a rotation starts."""
    from encryption import keyring

    monkeypatch.setattr("encryption.tasks.rotate_task.delay", lambda *args: None)
    tenant = world.a.tenant
    make_contact(tenant, last_name="Early")
    with tenant_context(tenant):
        old_key = keyring.key_version(tenant, KeyPurpose.DATA, 1)
        rotation = data_key_rotate(tenant=tenant, actor=world.a.users[Role.ADMIN])
        stale = (1, old_key, 1000, keyring.time.monotonic() + 3600)
        keyring._reservations[tenant.pk] = stale  # as a worker that encrypted just before
    _run_rotation(tenant, rotation)  # each step drops this process's reservation first
    assert _stored_versions(tenant) == {2}
    with tenant_context(tenant):
        # No row uses v1 now, but it was retired moments ago: it is kept until reservations expire.
        assert services.erase_unused_versions(tenant=tenant) == []
        assert TenantKey.objects.for_tenant(tenant).get(purpose=KeyPurpose.DATA, version=1).status == KeyStatus.RETIRED
    with tenant_context(tenant):
        keyring._reservations[tenant.pk] = stale  # a web process still holding v1 writes a row
        make_contact(tenant, last_name="Late")
        forget_cached_keys()
        # v1 was retired moments ago, so it is not erased while reservations may still use it.
        assert services.erase_unused_versions(tenant=tenant) == []
        assert {c.last_name for c in Contact.objects.for_tenant(tenant)} == {"Early", "Late"}


@pytest.mark.django_db
def test_an_expired_reservation_asks_for_the_active_version(world, monkeypatch):
    from encryption import keyring

    monkeypatch.setattr("encryption.tasks.rotate_task.delay", lambda *args: None)
    tenant = world.a.tenant
    make_contact(tenant)
    with tenant_context(tenant):
        old_key = keyring.key_version(tenant, KeyPurpose.DATA, 1)
        data_key_rotate(tenant=tenant, actor=world.a.users[Role.ADMIN])
        keyring._reservations[tenant.pk] = (1, old_key, 1000, keyring.time.monotonic() - 1)
        assert keyring.data_key_for_encryption(tenant).version == 2


@pytest.mark.django_db
def test_after_shredding_new_contacts_are_readable_and_old_ones_say_why_not(world, login, client):
    from tests.factories import make_token

    old = make_contact(world.a.tenant, last_name="BeforeShredding")
    with tenant_context(world.a.tenant):
        tenant_keys_destroy(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], confirmation=world.a.tenant.slug)
    new = make_contact(world.a.tenant, last_name="AfterShredding")  # new keys are made
    web = login(world.a.users[Role.MARKETER], world.a.tenant, step_up=True)
    page = web.get(reverse("segments:contact_list"), {"show": "phi"}).content.decode()
    assert "AfterShredding" in page and "the key that encrypted this contact was destroyed" in page
    assert web.get(reverse("segments:contact_detail", kwargs={"contact_id": old.pk})).status_code == 410
    assert web.get(reverse("segments:contact_detail", kwargs={"contact_id": new.pk})).status_code == 200
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    rows = client.get(reverse("api:segments_api:contact_list"), HTTP_AUTHORIZATION=f"Bearer {issued.secret}").json()[
        "results"
    ]
    by_id = {row["id"]: row for row in rows}
    assert by_id[str(old.pk)]["readable"] is False and by_id[str(old.pk)]["last_name"] is None
    assert by_id[str(new.pk)]["last_name"] == "AfterShredding"


@pytest.mark.django_db
def test_the_api_answers_410_when_every_key_is_destroyed(world, client):
    from tests.factories import make_token

    make_contact(world.a.tenant)
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN])
    with tenant_context(world.a.tenant):
        tenant_keys_destroy(tenant=world.a.tenant, actor=world.a.users[Role.ADMIN], confirmation=world.a.tenant.slug)
    response = client.get(reverse("api:segments_api:contact_list"), HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 410 and response.json()["error"]["code"] == "keys_destroyed"

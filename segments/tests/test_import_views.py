"""The import pages (upload, mapping, progress, cancel) and the imports API."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.tests.helpers import actions, head_seq
from segments.csv_io import upload_path
from segments.models import Contact, ContactImport, ImportStatus
from segments.tasks import contact_import_task
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db

CSV = b"Email,First name,Patient ID\nann@example.com,Ann,P-1\nbob@example.com,Bob,P-2\n"


def _imports(tenant):
    with tenant_context(tenant):
        return list(ContactImport.objects.for_tenant(tenant))


def _contact_count(tenant):
    with tenant_context(tenant):
        return Contact.objects.for_tenant(tenant).count()


def test_upload_map_and_import_through_the_pages(world, login, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    client = login(world.a.users[Role.MARKETER], tenant)
    assert client.get(reverse("segments:import_list")).status_code == 200
    response = client.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", CSV)})
    (contact_import,) = _imports(tenant)
    assert response.status_code == 302
    assert response["Location"] == reverse("segments:import_detail", args=[contact_import.pk])
    page = client.get(response["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="map-0"' in body and "ann@example.com" not in body
    since = head_seq(tenant)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("segments:import_detail", args=[contact_import.pk]),
            {"map-0": "email", "map-1": "first_name", "map-2": "external_id", "match_on": "external_id"},
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    progress = client.get(reverse("segments:import_progress", args=[contact_import.pk]))
    assert b'hx-trigger="every 2s"' in progress.content and b"Cancel import" in progress.content
    contact_import_task(tenant.pk, str(contact_import.pk))  # what the queued task runs
    assert _contact_count(tenant) == 2
    done = client.get(reverse("segments:import_detail", args=[contact_import.pk])).content.decode()
    assert "2 contacts created" in done and "hx-trigger" not in done
    assert [action for action in actions(tenant, since) if action.startswith("contact.")] == [
        "contact.import_started",
        "contact.import_finished",
    ]
    listing = client.get(reverse("segments:import_list")).content.decode()
    assert "Imported" in listing and "Marketer A" in listing


def test_a_bad_mapping_is_shown_and_nothing_starts(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    client.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", CSV)})
    (contact_import,) = _imports(world.a.tenant)
    response = client.post(
        reverse("segments:import_detail", args=[contact_import.pk]),
        {"map-0": "email", "map-1": "email", "match_on": "email"},
    )
    assert response.status_code == 400
    assert b"Two columns are mapped to email" in response.content
    assert _imports(world.a.tenant)[0].status == ImportStatus.UPLOADED


def test_a_file_that_is_not_utf8_gets_a_clear_message(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    data = "email\nj\xe9r\xf4me@example.com\n".encode("cp1252")
    response = client.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", data)})
    assert response.status_code == 400
    assert "not UTF-8" in response.content.decode()
    assert _imports(world.a.tenant) == []


def test_an_oversized_upload_is_refused_before_it_is_read(world, login, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1024
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    big = b"email\n" + b"someone@example.com\n" * 10_000
    response = client.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", big)})
    assert response.status_code == 413
    assert "larger than the 0 MB limit" in response.content.decode() or "limit" in response.content.decode()
    assert _imports(world.a.tenant) == []


def test_cancel_from_the_page(world, login):
    client = login(world.a.users[Role.MARKETER], world.a.tenant)
    client.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", CSV)})
    (contact_import,) = _imports(world.a.tenant)
    since = head_seq(world.a.tenant)
    response = client.post(reverse("segments:import_cancel", args=[contact_import.pk]))
    assert response.status_code == 302
    assert _imports(world.a.tenant)[0].status == ImportStatus.CANCELLED
    assert actions(world.a.tenant, since) == ["contact.import_cancelled"]


def test_compliance_officers_cannot_import(world, login):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    assert client.get(reverse("segments:import_list")).status_code == 403
    response = client.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", CSV)})
    assert response.status_code == 403
    assert _imports(world.a.tenant) == []


def test_another_tenants_import_is_not_found(world, login):
    login(world.a.users[Role.ADMIN], world.a.tenant).post(
        reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", CSV)}
    )
    (contact_import,) = _imports(world.a.tenant)
    client = login(world.b.users[Role.ADMIN], world.b.tenant)
    assert client.get(reverse("segments:import_detail", args=[contact_import.pk])).status_code == 404
    assert client.post(reverse("segments:import_cancel", args=[contact_import.pk])).status_code == 404
    assert _imports(world.a.tenant)[0].status == ImportStatus.UPLOADED


# --- API ----------------------------------------------------------------------------------------


def test_api_import_returns_202_and_a_status_url(world, client, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    issued = make_token(tenant, world.a.users[Role.ADMIN], scopes=["contacts:read", "contacts:write"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    mapping = {"Email": "email", "First name": "first_name", "Patient ID": "external_id"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("api:segments_api:contact_import_list"),
            {"file": SimpleUploadedFile("c.csv", CSV), "mapping": json.dumps(mapping), "match_on": "external_id"},
            **auth,
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == ImportStatus.VALIDATING and len(callbacks) == 1
    contact_import_task(tenant.pk, body["id"])
    status = client.get(body["status_url"], **auth)
    assert status.status_code == 200
    assert status.json()["status"] == "done" and status.json()["created_count"] == 2
    assert not upload_path(tenant, body["id"]).exists()


def test_api_import_needs_the_write_scope(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["contacts:read"])
    response = client.post(
        reverse("api:segments_api:contact_import_list"),
        {"file": SimpleUploadedFile("c.csv", CSV), "match_on": "email"},
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    assert response.status_code == 403
    assert _imports(world.a.tenant) == []


def test_api_bad_mapping_is_a_400_and_keeps_nothing(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["contacts:write"])
    response = client.post(
        reverse("api:segments_api:contact_import_list"),
        {"file": SimpleUploadedFile("c.csv", CSV), "mapping": json.dumps({"Email": "shoe"}), "match_on": "email"},
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    assert response.status_code == 400
    assert "mapping" in response.content.decode()
    assert _imports(world.a.tenant) == []


def _no_plaintext_spool(monkeypatch, settings, tmp_path):
    """Make Django spool any upload over 10 bytes to ``tmp_path``, and fail if it ever does."""
    from django.core.files import uploadhandler

    spool = tmp_path / "spool"
    spool.mkdir()
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was spooled to disk in plaintext")

    monkeypatch.setattr(uploadhandler.TemporaryFileUploadHandler, "new_file", refuse)
    monkeypatch.setattr(uploadhandler.MemoryFileUploadHandler, "new_file", refuse)


def _tenant_files(tenant) -> set:
    folder = upload_path(tenant, "00000000-0000-0000-0000-000000000000").parent
    return set(folder.iterdir()) if folder.exists() else set()


def test_the_page_encrypts_the_upload_as_it_arrives(world, login, monkeypatch, settings, tmp_path):
    _no_plaintext_spool(monkeypatch, settings, tmp_path)
    tenant = world.a.tenant
    client = login(world.a.users[Role.MARKETER], tenant)
    rows = b"".join(b"p%d@example.com,Synthetic,P-%d\n" % (n, n) for n in range(3000))  # ~100 KB
    response = client.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", CSV + rows)})
    assert response.status_code == 302
    (contact_import,) = _imports(tenant)
    stored = upload_path(tenant, contact_import.pk).read_bytes()
    assert b"example.com" not in stored and b"Synthetic" not in stored
    assert list((tmp_path / "spool").iterdir()) == []


def test_the_api_encrypts_the_upload_as_it_arrives(world, client, monkeypatch, settings, tmp_path):
    _no_plaintext_spool(monkeypatch, settings, tmp_path)
    tenant = world.a.tenant
    issued = make_token(tenant, world.a.users[Role.ADMIN], scopes=["contacts:write"])
    response = client.post(
        reverse("api:segments_api:contact_import_list"),
        {"file": SimpleUploadedFile("c.csv", CSV), "match_on": "email"},
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    assert response.status_code == 202, response.content
    assert b"ann@example.com" not in upload_path(tenant, response.json()["id"]).read_bytes()


def test_a_refused_upload_keeps_no_file(world, login, client):
    tenant = world.a.tenant
    before = _tenant_files(tenant)
    # Without the CSRF token: refused, and the file the handler stored while parsing is gone.
    member = login(world.a.users[Role.MARKETER], tenant)
    member.handler.enforce_csrf_checks = True
    response = member.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", CSV)})
    assert response.status_code == 403
    # An empty file, and an API request whose other fields are invalid.
    member.handler.enforce_csrf_checks = False
    response = member.post(reverse("segments:import_list"), {"file": SimpleUploadedFile("c.csv", b"")})
    assert response.status_code == 400 and "empty" in response.content.decode()
    issued = make_token(tenant, world.a.users[Role.ADMIN], scopes=["contacts:write"])
    response = client.post(
        reverse("api:segments_api:contact_import_list"),
        {"file": SimpleUploadedFile("c.csv", CSV), "match_on": "shoe size"},
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    assert response.status_code == 400
    assert _imports(tenant) == [] and _tenant_files(tenant) == before

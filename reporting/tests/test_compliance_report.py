"""The compliance reports: the PHI exposure figures match the messages, the pages (paged,
bounded queries, compliance officers and admins only, another organisation's exports 404), the
exports (generated in chunks with progress, encrypted at rest, formula-injection safe CSV,
printable HTML, audited in order) and the API."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from encryption.keyring import data_key_for_encryption
from reporting import compliance_exports
from reporting.compliance import (
    NOT_DELIVERED,
    PENDING,
    compliance_period,
    phi_exposure_rows,
    phi_exposure_summary,
    protection_of,
)
from reporting.compliance_exports import report_export_request, report_export_run, report_exports_expire
from reporting.compliance_tasks import compliance_export_task
from reporting.export_files import export_path
from reporting.models import ExportFormat, ExportStatus, ReportExport
from reporting.tests.compliance_support import MIX, Spec, campaign_for, finished_export, phi_messages
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_token

pytestmark = pytest.mark.django_db

IN_PERIOD = [spec for spec in MIX if spec.level == "phi" and spec.ago < timedelta(days=29)]
REPORT_URL = "reporting_compliance:report"


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    """Export files of each test in a directory of its own."""
    settings.VAR_DIR = tmp_path


def _period():
    return compliance_period(start=None, end=None)


def _expected(specs) -> Counter:
    return Counter(protection_of(spec.status, spec.action) for spec in specs)


def _request(fixture, export_format=ExportFormat.CSV, role=Role.COMPLIANCE_OFFICER) -> ReportExport:
    user = fixture.users[role]
    with tenant_context(fixture.tenant):
        return report_export_request(
            tenant=fixture.tenant,
            actor=actor_for_user(user),
            user=user,
            period=_period(),
            export_format=export_format,
        )


def _reload(fixture, export) -> ReportExport:
    with tenant_context(fixture.tenant):
        return ReportExport.objects.for_tenant(fixture.tenant).get(pk=export.pk)


def _download(client, export) -> bytes:
    response = client.get(reverse("reporting_compliance:export_download", kwargs={"export_id": export.pk}))
    assert response.status_code == 200, response.status_code
    assert response["Cache-Control"] == "no-store"
    return b"".join(response.streaming_content)


# --- Figures ------------------------------------------------------------------------------------


def test_phi_exposure_summary_and_rows_match_the_messages(world):
    campaign = campaign_for(world.a, "Flu clinic reminders")
    made = phi_messages(world.a, campaign, MIX)
    phi_messages(world.b, campaign_for(world.b), MIX)  # another organisation's: never counted
    with tenant_context(world.a.tenant):
        summary = phi_exposure_summary(tenant=world.a.tenant, period=_period())
        rows = list(phi_exposure_rows(tenant=world.a.tenant, period=_period()))
    expected = _expected(IN_PERIOD)
    assert summary.total == len(IN_PERIOD) == 11
    assert {row.code: row.count for row in summary.by_protection if row.count} == dict(expected)
    assert expected["verified_tls"] == 3 and expected["escrow"] == 2 and expected[PENDING] == 1
    assert expected[NOT_DELIVERED] == 1 and expected["unknown"] == 1 and expected["standard"] == 1
    # Accepted over TLS (verified or by the patient's choice), by protocol.
    assert summary.tls_versions == {"TLSv1.2": 1, "TLSv1.3": 3}
    assert sum(summary.by_status.values()) == summary.total
    # The rows are exactly the PHI-bearing messages of the period, newest first, and carry
    # nothing of a recipient but the domain.
    in_period_ids = {m.pk for m, spec in zip(made, MIX, strict=True) if spec in IN_PERIOD}
    assert {row["id"] for row in rows} == in_period_ids
    assert [row["updated_at"] for row in rows] == sorted((row["updated_at"] for row in rows), reverse=True)
    assert {row["campaign__name"] for row in rows} == {"Flu clinic reminders"}
    assert set(rows[0]) == {
        "id", "updated_at", "status", "level", "reason_codes", "protection_action", "tls_version",
        "recipient_domain", "campaign_id", "campaign__name",
    }  # fmt: skip


def test_the_report_queries_use_the_partial_index(world):
    with tenant_context(world.a.tenant), connection.cursor() as cursor:
        query = phi_exposure_rows(tenant=world.a.tenant, period=_period()).values("status").query  # any PHI range query
        sql, params = query.sql_with_params()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "campaigns_message_phi_time" in plan


# --- Pages --------------------------------------------------------------------------------------


def test_compliance_officer_sees_the_report_with_bounded_queries(world, login, django_assert_max_num_queries):
    campaign = campaign_for(world.a, "Lab results")
    phi_messages(world.a, campaign, MIX)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    url = reverse(REPORT_URL)
    with CaptureQueriesContext(connection) as few:
        response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-count="total">11<' in body
    assert 'data-count="verified_tls">3<' in body and 'data-count="escrow">2<' in body
    assert "Minimum necessary" in body
    assert "TLSv1.3" in body and "clinic-patients.example" in body
    assert body.count("data-message=") == 11
    # Many more messages: the same number of queries (paged, counted once).
    phi_messages(world.a, campaign, [Spec("sent", "verified_tls", "TLSv1.3")] * 120)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    body = response.content.decode()
    assert 'data-count="total">131<' in body
    assert body.count("data-message=") == 50 and "Page 1 of 3" in body
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url, {"page": 3}).content.decode().count("data-message=") == 31


def test_report_links_consent_baa_and_audit(world, login):
    client = login(world.a.users[Role.ADMIN], world.a.tenant)
    body = client.get(reverse(REPORT_URL)).content.decode()
    assert reverse("consent:report") in body
    assert 'data-baa="no_agreement"' in body and "PHI cannot be sent" in body
    assert 'data-action="membership.created"' in body  # the fixture's own audit events
    assert reverse("audit:verify") in body


def test_a_bad_period_falls_back_to_the_default_with_an_error(world, login):
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)
    response = client.get(reverse(REPORT_URL), {"start": "2026-05-01", "end": "2026-04-01"})
    assert response.status_code == 200
    assert "The start of the period is after its end." in response.content.decode()


@pytest.mark.parametrize("role", [Role.MARKETER])
def test_a_marketer_cannot_see_compliance_reports(world, login, role):
    export = finished_export(world.a)
    client = login(world.a.users[role], world.a.tenant, step_up=True)
    assert client.get(reverse(REPORT_URL)).status_code == 403
    kwargs = {"export_id": export.pk}
    for name in ("export_detail", "export_progress", "export_download"):
        assert client.get(reverse(f"reporting_compliance:{name}", kwargs=kwargs)).status_code == 403
    assert client.post(reverse("reporting_compliance:export_request"), {"format": "csv"}).status_code == 403
    # Nor through the API with a session, and the navigation does not offer it.
    assert client.get(reverse("api:reporting_compliance_api:phi_exposure")).status_code == 403
    assert reverse(REPORT_URL) not in client.get(reverse("tenants:dashboard")).content.decode()
    assert _reload(world.a, export).download_count == 0


def test_another_organisations_export_is_not_found(world, login):
    export = finished_export(world.a)
    client = login(world.b.users[Role.COMPLIANCE_OFFICER], world.b.tenant, step_up=True)
    for name in ("export_detail", "export_progress", "export_download"):
        url = reverse(f"reporting_compliance:{name}", kwargs={"export_id": export.pk})
        assert client.get(url).status_code == 404, name
    # B's report counts none of A's messages.
    phi_messages(world.a, campaign_for(world.a), MIX)
    assert 'data-count="total">0<' in client.get(reverse(REPORT_URL)).content.decode()
    assert _reload(world.a, export).download_count == 0


# --- Exports ------------------------------------------------------------------------------------


def test_export_request_runs_in_chunks_with_progress_and_is_audited_in_order(
    world, login, monkeypatch, django_capture_on_commit_callbacks
):
    campaign = campaign_for(world.a, "Cardiology follow-up")
    phi_messages(world.a, campaign, MIX)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    with tenant_context(world.a.tenant):
        data_key_for_encryption(world.a.tenant)  # the organisation's keys exist (their creation is audited)
    seq = head_seq(world.a.tenant)  # after signing in (itself audited)
    queued: list[tuple] = []
    monkeypatch.setattr(compliance_export_task, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reporting_compliance:export_request"), {"format": "csv"})
    with tenant_context(world.a.tenant):
        export = ReportExport.objects.for_tenant(world.a.tenant).get()
    assert response.status_code == 302 and response["Location"].endswith(f"/exports/{export.pk}/")
    assert queued == [(world.a.tenant.pk, str(export.pk))]  # ids only
    # Before a worker takes it: queued, and the page polls.
    page = client.get(reverse("reporting_compliance:export_detail", kwargs={"export_id": export.pk}))
    assert 'data-status="queued"' in page.content.decode() and 'hx-trigger="every 1s"' in page.content.decode()

    seen: list[tuple[int, int]] = []
    real_progress = compliance_exports._progress

    def watching(tenant, export_row, **fields):
        real_progress(tenant, export_row, **fields)
        current = _reload(world.a, export_row)
        seen.append((current.processed_rows, current.total_rows))
        fragment = client.get(reverse("reporting_compliance:export_progress", kwargs={"export_id": export.pk}))
        assert 'data-status="running"' in fragment.content.decode()
        assert f'value="{current.percent}"' in fragment.content.decode()

    monkeypatch.setattr(compliance_exports, "CHUNK_ROWS", 3)
    monkeypatch.setattr(compliance_exports, "_progress", watching)
    assert compliance_export_task.apply(args=queued[0]).get() == "done"

    assert seen[0] == (0, 11)  # the total, counted first
    assert [processed for processed, _ in seen[1:]] == [3, 6, 9, 11]  # one step per chunk
    export = _reload(world.a, export)
    assert export.status == ExportStatus.DONE and export.processed_rows == export.total_rows == 11
    assert export.expires_at is not None and export.size_bytes > 0
    fragment = client.get(reverse("reporting_compliance:export_progress", kwargs={"export_id": export.pk}))
    assert "hx-trigger" not in fragment.content.decode() and "data-download" in fragment.content.decode()
    # Encrypted at rest: nothing of the report readable in the stored file.
    stored = export_path(world.a.tenant, export.pk).read_bytes()
    assert b"Cardiology" not in stored and b"phi_message" not in stored and b"TLSv1.3" not in stored

    body = _download(client, export).decode()
    rows = list(csv.reader(io.StringIO(body)))
    messages_rows = [row for row in rows if row[0] == "phi_message"]
    assert len(messages_rows) == 11
    totals = {row[1]: int(row[2]) for row in rows if row[0] == "phi_summary"}
    assert totals["total"] == 11 and totals["verified_tls"] == 3 and totals["escrow"] == 2
    assert Counter(row[10] for row in messages_rows) == _expected(IN_PERIOD)
    assert {row[7] for row in messages_rows} == {"clinic-patients.example", "other-patients.example"}
    assert not any("@" in cell for row in rows for cell in row)  # no address anywhere
    assert [action for action, _ in events(world.a.tenant, seq)] == [
        "report.export_requested",
        "report.export_generated",
        "report.export_downloaded",
    ]
    _, requested = events(world.a.tenant, seq)[0]
    assert requested == {
        "report": "compliance",
        "format": "csv",
        "from": _period().start.isoformat(),
        "to": _period().end.isoformat(),
    }
    assert events(world.a.tenant, seq)[1][1] == {"format": "csv", "rows": 11, "bytes": export.size_bytes}
    assert _reload(world.a, export).download_count == 1


def test_csv_export_is_safe_from_formula_injection(world, login):
    campaign = campaign_for(world.a, '=HYPERLINK("https://evil.example","x")')
    phi_messages(world.a, campaign, [Spec("sent", "verified_tls", "TLSv1.3", domain="+cmd.example")])
    export = finished_export(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    rows = list(csv.reader(io.StringIO(_download(client, export).decode())))
    (row,) = [row for row in rows if row[0] == "phi_message"]
    assert row[6] == '\'=HYPERLINK("https://evil.example","x")'
    assert row[7] == "'+cmd.example"
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    assert not any(cell.startswith(dangerous) for row in rows for cell in row)


def test_html_export_is_printable_and_escaped(world, login):
    campaign = campaign_for(world.a, "<script>alert(1)</script> Reminders")
    phi_messages(world.a, campaign, IN_PERIOD)
    export = finished_export(world.a, ExportFormat.HTML)
    client = login(world.a.users[Role.ADMIN], world.a.tenant, step_up=True)
    response = client.get(reverse("reporting_compliance:export_download", kwargs={"export_id": export.pk}))
    assert response["Content-Type"].startswith("text/html")
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("<!doctype html>") and body.rstrip().endswith("</html>")
    assert "@media print" in body and "@page" in body
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt; Reminders" in body
    assert body.count('<tr class="m">') == 11  # one row per message
    assert "Minimum necessary" in body and 'Chain verification at generation: <span class="ok">verified' in body


def test_download_needs_a_fresh_step_up(world, login):
    export = finished_export(world.a)
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant)  # no step-up
    response = client.get(reverse("reporting_compliance:export_download", kwargs={"export_id": export.pk}))
    assert response.status_code == 302 and response["Location"].startswith(reverse("authn:step_up"))
    assert _reload(world.a, export).download_count == 0


def test_a_failed_generation_keeps_nothing_and_is_audited(world, monkeypatch):
    phi_messages(world.a, campaign_for(world.a), IN_PERIOD)
    export = _request(world.a)
    seq = head_seq(world.a.tenant)

    def broken(*args, **kwargs):
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(compliance_exports, "_write_rows", broken)
    assert report_export_run(tenant=world.a.tenant, export_id=str(export.pk)) == "failed"
    export = _reload(world.a, export)
    assert export.status == ExportStatus.FAILED and export.error == "generation_failed"
    assert not export_path(world.a.tenant, export.pk).exists()
    assert not export_path(world.a.tenant, export.pk).with_suffix(".part").exists()
    assert events(world.a.tenant, seq) == [("report.export_failed", {"format": "csv", "error": "generation_failed"})]
    # A second run (a redelivered task) does not take a finished export again.
    assert report_export_run(tenant=world.a.tenant, export_id=str(export.pk)) == "skipped"


def test_expired_exports_lose_their_file_and_cannot_be_downloaded(world, client):
    export = finished_export(world.a)
    path = export_path(world.a.tenant, export.pk)
    assert path.exists()
    with tenant_context(world.a.tenant):
        assert report_exports_expire(tenant=world.a.tenant, now=export.expires_at - timedelta(seconds=1)) == 0
        assert report_exports_expire(tenant=world.a.tenant, now=export.expires_at) == 1
    assert not path.exists() and _reload(world.a, export).status == ExportStatus.EXPIRED
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["compliance:read"])
    url = reverse("api:reporting_compliance_api:export_download", kwargs={"export_id": export.pk})
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 410 and response.json()["error"]["code"] == "expired"


def test_an_altered_file_is_refused_not_served(world, login):
    export = finished_export(world.a)
    path = export_path(world.a.tenant, export.pk)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    client = login(world.a.users[Role.COMPLIANCE_OFFICER], world.a.tenant, step_up=True)
    seq = head_seq(world.a.tenant)
    response = client.get(reverse("reporting_compliance:export_download", kwargs={"export_id": export.pk}))
    assert response.status_code == 302  # back to the export's page, with the error
    assert events(world.a.tenant, seq) == []  # nothing was downloaded


# --- API ------------------------------------------------------------------------------------------


def test_api_exports_request_poll_and_download(world, client, django_capture_on_commit_callbacks, monkeypatch):
    phi_messages(world.a, campaign_for(world.a), MIX)
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["compliance:read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    summary = client.get(reverse("api:reporting_compliance_api:phi_exposure"), **auth).json()
    assert summary["total"] == 11 and summary["by_protection"]["verified_tls"] == 3
    assert summary["tls_versions"] == {"TLSv1.2": 1, "TLSv1.3": 3}

    queued: list[tuple] = []
    monkeypatch.setattr(compliance_export_task, "delay", lambda *args: queued.append(args))
    seq = head_seq(world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api:reporting_compliance_api:export_list"),
            json.dumps({"format": "html"}),
            content_type="application/json",
            **auth,
        )
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "queued" and created["download_url"] is None
    status_url = created["status_url"]
    download = reverse("api:reporting_compliance_api:export_download", kwargs={"export_id": created["id"]})
    refused = client.get(download, **auth)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_ready"

    assert compliance_export_task.apply(args=queued[0]).get() == "done"
    polled = client.get(status_url, **auth).json()
    assert polled["status"] == "done" and polled["percent"] == 100 and polled["total_rows"] == 11
    assert polled["download_url"] == download
    got = client.get(download, **auth)
    assert got.status_code == 200 and b"@media print" in b"".join(got.streaming_content)
    listed = client.get(reverse("api:reporting_compliance_api:export_list"), **auth).json()
    assert [item["id"] for item in listed["results"]] == [created["id"]]
    actions = [action for action, _ in events(world.a.tenant, seq) if action.startswith("report.")]
    assert actions == ["report.export_requested", "report.export_generated", "report.export_downloaded"]


def test_api_rejects_a_bad_period(world, client):
    issued = make_token(world.a.tenant, world.a.users[Role.ADMIN], scopes=["compliance:read"])
    response = client.post(
        reverse("api:reporting_compliance_api:export_list"),
        json.dumps({"start": "2026-05-02", "end": "2026-05-01", "format": "csv"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    assert response.status_code == 400 and "start" in response.json()["error"]["fields"]


def test_api_other_tenants_export_is_404(world, client):
    export = finished_export(world.a)
    issued = make_token(world.b.tenant, world.b.users[Role.ADMIN], scopes=["compliance:read"])
    for name in ("export_detail", "export_download"):
        url = reverse(f"api:reporting_compliance_api:{name}", kwargs={"export_id": export.pk})
        assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {issued.secret}").status_code == 404

"""The compliance reports in a real browser: a compliance officer opens them from the navigation,
reads the PHI exposure figures, verifies the audit chain (htmx), requests an export and watches
its progress bar move until the download is offered; no console error (a CSP violation
included) and no failed request."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from playwright.sync_api import expect

from reporting import compliance_exports
from reporting.compliance_tasks import compliance_export_task
from reporting.tests.compliance_support import MIX, Spec, campaign_for, phi_messages
from tenants.roles import Role
from tests.browser.conftest import ARTIFACTS
from tests.browser.flows import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_compliance_officer_reads_the_report_and_exports_it(
    world, page, relying_party, authenticator, monkeypatch, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    campaign = campaign_for(world.a, "Flu shot reminders")
    phi_messages(world.a, campaign, [*MIX, *[Spec("sent", "verified_tls", "TLSv1.3")] * 40])
    # A worker in a thread, slowed per chunk so the page sees the export run.
    monkeypatch.setattr(compliance_exports, "CHUNK_ROWS", 10)
    real_progress = compliance_exports._progress

    def slow_progress(*args, **kwargs):
        real_progress(*args, **kwargs)
        time.sleep(0.4)

    monkeypatch.setattr(compliance_exports, "_progress", slow_progress)
    workers: list[threading.Thread] = []

    def work(*args):
        try:
            compliance_export_task(*args)
        finally:
            connections.close_all()  # this thread's own connection

    def delay(*args):
        workers.append(threading.Thread(target=work, args=args))
        workers[-1].start()

    monkeypatch.setattr(compliance_export_task, "delay", delay)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    sign_in(page, relying_party.url, world.a.users[Role.COMPLIANCE_OFFICER].email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Compliance reports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compliance reports")
    expect(page.locator('[data-count="total"]')).to_have_text("51")
    expect(page.locator('[data-count="verified_tls"]')).to_have_text("43")
    expect(page.locator("[data-phi-rows] tbody tr")).to_have_count(50)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator("#verification")).to_contain_text("Verified")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compliance_report.png"), full_page=True)

    page.get_by_label("Format").select_option("html")
    page.get_by_role("button", name="Export").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compliance report export")
    expect(page.locator("#export-progress progress")).to_be_visible()
    expect(page.locator('#export-progress[data-status="running"]')).to_be_visible(timeout=10_000)
    expect(page.get_by_role("link", name="Download Printable HTML")).to_be_visible(timeout=20_000)
    expect(page.locator("#export-progress")).to_contain_text("51 PHI-bearing messages")
    page.screenshot(path=str(ARTIFACTS / "compliance_export_done.png"), full_page=True)
    assert errors == []
    for worker in workers:
        worker.join(timeout=10)

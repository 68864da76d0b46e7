"""Structured logs without PHI or secrets, and one request id from request to Celery task."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from celery.contrib.testing.worker import start_worker

from sealpost.celery import app as celery_app
from sealpost.logging import JsonFormatter, RequestIdFilter, ScrubFilter, scrub
from sealpost.request_id import reset_request_id, set_request_id
from segments.models import Contact
from tenants.tasks import runs_as_tenant
from tests.factories import make_contact

SYNTHETIC_PHI = [
    "jane.testpatient@example.com",
    "123-45-6789",
    "(555) 010-2334",
    "555.010.2334",
    "1984-02-29",
    "02/29/1984",
    "MRN12345678",
    "4111111111111111",
    "192.0.2.44",
]


@pytest.mark.parametrize("value", SYNTHETIC_PHI)
def test_scrub_masks_identifiers(value):
    assert value not in scrub(f"looked up {value} for the reminder")


@pytest.mark.parametrize(
    "text",
    [
        "password=hunter2-synthetic",
        'token: "sp_abcdefSYNTHETIC"',
        "Authorization: Bearer sp_SYNTHETIC123",
        "api_key=SYNTHETICKEY",
    ],
)
def test_scrub_masks_secrets(text):
    secret = text.split("=")[-1].split(":")[-1].strip().strip('"').split()[-1]
    assert secret not in scrub(text)


def test_scrub_keeps_ordinary_words_and_ids():
    text = "campaign 42 launched for tenant 7 with status_code=200"
    assert scrub(text) == text


def _render(record: logging.LogRecord) -> dict:
    for log_filter in (RequestIdFilter(), ScrubFilter()):
        log_filter.filter(record)
    return json.loads(JsonFormatter().format(record))


def test_log_lines_are_json_without_phi_in_message_args_extras_or_exceptions():
    try:
        raise ValueError("bad email jane.testpatient@example.com")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "sealpost.test", logging.ERROR, __file__, 1, "contact %s failed", ("123-45-6789",), exc_info
    )
    record.contact_email = "jane.testpatient@example.com"
    token = set_request_id("req-abcdef123")
    try:
        line = _render(record)
    finally:
        reset_request_id(token)
    dumped = json.dumps(line)
    assert "123-45-6789" not in dumped and "jane.testpatient@example.com" not in dumped
    assert line["request_id"] == "req-abcdef123"
    assert line["level"] == "ERROR" and "ValueError" in line["exception"]


@pytest.mark.django_db
def test_requests_get_a_request_id_and_keep_a_safe_incoming_one(client):
    generated = client.get("/healthz")
    assert len(generated["X-Request-ID"]) == 32
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="edge-proxy-1234")
    assert kept["X-Request-ID"] == "edge-proxy-1234"
    injected = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert injected["X-Request-ID"] != "bad id\nwith newline"


_seen: dict[str, object] = {}
_done = threading.Event()


@runs_as_tenant
def _count_contacts(tenant) -> None:
    from sealpost.request_id import get_request_id

    _seen["request_id"] = get_request_id()
    _seen["contacts"] = Contact.objects.for_tenant(tenant).count()
    _done.set()


count_contacts_task = celery_app.task(name="tests.count_contacts")(_count_contacts)


@pytest.mark.django_db(transaction=True)
def test_a_task_runs_as_its_tenant_and_carries_the_request_id(world, settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "the suite runs Celery on Redis"
    make_contact(world.a.tenant)
    make_contact(world.a.tenant)
    make_contact(world.b.tenant)
    _done.clear()
    celery_app.control.purge()  # nothing left over from an interrupted earlier run
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        token = set_request_id("req-from-the-web-1")
        try:
            count_contacts_task.delay(world.a.tenant.pk)
        finally:
            reset_request_id(token)
        assert _done.wait(timeout=30), "the worker did not run the task"
    assert _seen == {"request_id": "req-from-the-web-1", "contacts": 2}


def test_celery_keeps_the_scrubbing_json_logger(tmp_path):
    """Celery replaces the root logger's handlers unless told not to; worker logs must stay
    scrubbed JSON like the web's."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import logging, django; django.setup()\n"
        "from sealpost.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        "logging.getLogger('sealpost.test').warning('patient jane.testpatient@example.com ssn 123-45-6789')\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "DJANGO_SETTINGS_MODULE": "sealpost.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert "123-45-6789" not in output and "jane.testpatient@example.com" not in output
    line = json.loads(output.strip().splitlines()[-1])
    assert line["message"] == "patient [email] ssn [ssn]"

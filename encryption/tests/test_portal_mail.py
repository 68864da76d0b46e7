"""One-time codes through the delivery pipeline's single-message path, to real SMTP servers on
loopback (``templates.tests.pipeline_mail``): the recipient reads the code from the email and
opens the message with it."""

from __future__ import annotations

import re

import pytest

from audit.tests.helpers import events, head_seq
from encryption.tests.escrow_support import PHI_HTML, PHI_SUBJECT, PHI_TEXT, make_escrowed
from templates.tests.pipeline_mail import PLAIN_DOMAIN, TLS_DOMAIN, ca, mx_cert, servers, test_mail  # noqa: F401

pytestmark = pytest.mark.django_db


def _code_from(delivered) -> str:
    found = re.search(r"\b(\d{6})\b", delivered.body)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("domain", [TLS_DOMAIN, PLAIN_DOMAIN])
def test_the_code_is_mailed_through_single_send_and_opens_the_message(
    world,
    client,
    test_mail,  # noqa: F811
    django_capture_on_commit_callbacks,
    domain,
):
    stored = make_escrowed(world.a, email=f"quilla@{domain}")
    client.get(f"/secure/{stored.token}/")
    seq = head_seq(world.a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/secure/{stored.token}/send-code/")
    assert response.status_code == 303
    assert test_mail.recipients() == [f"quilla@{domain}"]
    [delivered] = test_mail.received
    assert delivered.tls is (domain == TLS_DOMAIN)
    assert delivered.message["From"].addresses[0].addr_spec == "news@org-a.example.com"
    assert world.a.tenant.name in delivered.subject
    raw = delivered.raw.decode("utf-8", "replace")
    for phi in ("Quilla", "Synthetica", "HbA1c", "metformin", PHI_SUBJECT, "Demoway"):
        assert phi not in raw
    assert "DKIM-Signature" in raw
    code = _code_from(delivered)
    assert [action for action, _ in events(world.a.tenant, seq)] == ["escrow.code_sent"]
    response = client.post(f"/secure/{stored.token}/code/", {"code": code})
    assert response.status_code == 303 and response["Location"].endswith("/message/")
    page = client.get(response["Location"]).content.decode()
    assert "HbA1c was 7.9%" in page
    assert PHI_HTML and PHI_TEXT

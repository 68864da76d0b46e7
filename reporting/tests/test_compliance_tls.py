"""The TLS protocol each accepted message went over, recorded by the send pipeline from the real
SMTP session (aiosmtpd with STARTTLS from a test CA), and shown by the PHI exposure report."""

from __future__ import annotations

import pytest

from campaigns.models import MessageStatus
from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import PLAIN_DOMAIN, TLS_DOMAIN, consenting_contacts, launch, rows, run
from reporting.compliance import compliance_period, phi_exposure_rows, phi_exposure_summary
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db
ca, mx_cert, servers, pipeline_env, needs_baa = (
    support.ca,
    support.mx_cert,
    support.servers,
    support.pipeline_env,
    support.needs_baa,
)


def test_accepted_messages_record_the_negotiated_tls_protocol(pipeline_env):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 3)
    consenting_contacts(env.fixture, PLAIN_DOMAIN, 2, start=100)
    campaign = launch(env)
    result = run(env, campaign)
    assert result.counts["sent"] == 3 and result.counts["escrowed"] == 2
    by_domain: dict[str, list] = {}
    for message in rows(env, campaign):
        by_domain.setdefault(message.recipient_domain, []).append(message)
    tls_messages = by_domain[TLS_DOMAIN]
    # What the server's sessions negotiated (Python's ssl names it "TLSv1.3" or "TLSv1.2").
    assert {m.status for m in tls_messages} == {MessageStatus.SENT}
    assert {m.tls_version for m in tls_messages} == {"TLSv1.3"}
    assert all(r.tls for r in env.tls.recorder.received)
    # The escrow notices went to a server without STARTTLS: no protocol to record.
    assert {(m.status, m.tls_version) for m in by_domain[PLAIN_DOMAIN]} == {(MessageStatus.ESCROWED, "")}

    with tenant_context(env.tenant):
        period = compliance_period(start=None, end=None)
        summary = phi_exposure_summary(tenant=env.tenant, period=period)
        report_rows = list(phi_exposure_rows(tenant=env.tenant, period=period))
    assert summary.total == 5
    assert summary.count("verified_tls") == 3 and summary.count("escrow") == 2
    assert summary.tls_versions == {"TLSv1.3": 3}
    assert {row["tls_version"] for row in report_rows if row["recipient_domain"] == TLS_DOMAIN} == {"TLSv1.3"}

"""Test sends through the real delivery pipeline: real aiosmtpd servers on loopback stand for
the members' mail domains (STARTTLS with a certificate from a throwaway CA, trusted through
``DELIVERY_TLS_CA_FILE``) and for a domain without STARTTLS, routed by
``DELIVERY_MX_OVERRIDES``; tenant A has a verified sending domain and an active BAA; Celery runs
eagerly. ``test_mail.received`` are the messages as the servers received them."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from authn.tests.mail import Received
from delivery.tests.test_pipeline_support import FROM_DOMAIN, PLAIN_DOMAIN, TLS_DOMAIN, ca, mx_cert, servers
from sealpost.celery import app as celery_app

__all__ = ["FROM_DOMAIN", "PLAIN_DOMAIN", "TLS_DOMAIN", "ca", "mx_cert", "servers", "test_mail"]

# conftest's world (<role>@a.example.com) and the test lists' addresses (@example.com)
MEMBER_DOMAINS = ("a.example.com", "b.example.com", "example.com")


@dataclass
class Delivered(Received):
    """A message as the server received it, with its bytes and whether it came over TLS."""

    raw: bytes = b""
    tls: bool = False

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())


@dataclass
class TestMail:
    __test__ = False

    tls_server: Any
    plain_server: Any
    sending_domain: Any

    @property
    def received(self) -> list[Delivered]:
        out = []
        for server in (self.tls_server, self.plain_server):
            for item in server.recorder.received:
                parsed = email.message_from_bytes(item.content, policy=email.policy.default)
                out.append(Delivered(list(item.rcpt_tos), parsed, item.content, item.tls))  # type: ignore[arg-type]
        return out

    def recipients(self) -> list[str]:
        return sorted(address for delivered in self.received for address in delivered.rcpt_tos)


@pytest.fixture
def test_mail(world: Any, settings: Any, ca: Any, servers: Any, monkeypatch: Any) -> Iterator[TestMail]:
    from baa.tests.support import make_active
    from delivery.testing import FakeResolver, use_resolver
    from delivery.tests.support import make_verified_sending_domain
    from delivery.transport import SmtpTransport

    tls, plain = servers
    settings.SITE_URL = "https://sealpost.test"
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 5
    settings.DELIVERY_MX_OVERRIDES = {
        **{domain: tls.route() for domain in (*MEMBER_DOMAINS, TLS_DOMAIN)},
        PLAIN_DOMAIN: plain.route(),
    }
    settings.DELIVERY_MTA_STS_OVERRIDES = {}
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    sending_domain = make_verified_sending_domain(world.a, FROM_DOMAIN)
    make_active(world.a)
    transport = SmtpTransport(timeout=5, data_timeout=3)
    monkeypatch.setattr("delivery.pipeline._transport", transport)
    with use_resolver(FakeResolver()):
        yield TestMail(tls, plain, sending_domain)
    transport.close()

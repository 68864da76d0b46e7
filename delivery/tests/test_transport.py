"""SmtpTransport against real aiosmtpd servers on loopback, STARTTLS from a test CA.

"Nothing was sent" is proven by what the server recorded: not a MAIL, RCPT or DATA command,
let alone the message, reached a server that could not give verified TLS."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from delivery import transport as transport_module
from delivery.dkim_signing import DkimKey, generate_dkim_key, verify_message
from delivery.mime import build_message, message_id_for
from delivery.smtp_replies import Status
from delivery.testing import (
    CertificateAuthority,
    FakeResolver,
    self_signed,
    server_context,
    tls10_only_context,
    use_resolver,
)
from delivery.tests.smtp_servers import MX_NAME, recording_server, wait_for
from delivery.transport import Envelope, SmtpTransport

DOMAIN = "patients.example"
SECRET = "test-secret"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def good_cert(ca):
    return ca.issue(MX_NAME)


@pytest.fixture(scope="module")
def dkim_key():
    private_pem, txt = generate_dkim_key()
    return DkimKey("clinic.example", "sp1", private_pem), txt


@pytest.fixture(autouse=True)
def resolver():
    with use_resolver(FakeResolver(mx_records={"nullmx.example": ([(0, ".")], False)})) as fake:
        yield fake


@pytest.fixture
def route(settings, ca):
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_MX_OVERRIDES = {}

    def send_here(server, domain=DOMAIN, host=MX_NAME):
        settings.DELIVERY_MX_OVERRIDES = {**settings.DELIVERY_MX_OVERRIDES, domain: server.route(host)}

    return send_here


@pytest.fixture
def transport():
    smtp = SmtpTransport(timeout=5, data_timeout=5)
    yield smtp
    smtp.close()


def message(dkim_key, n=0, to="pat@patients.example", subject="Your appointment"):
    key, _ = dkim_key
    raw = build_message(
        from_name="Clinic",
        from_address="news@clinic.example",
        to_address=to,
        subject=subject,
        html=f"<p>Reminder {n}</p>\n.leading dot line\n",
        text=f"Reminder {n}\n.leading dot line\n",
        message_id=message_id_for(tenant_id=1, message_row_id=n, domain="clinic.example", secret=SECRET),
        list_unsubscribe_url=f"https://sealpost.example/u/{n}",
    )
    return key.sign(raw)


def envelope(dkim_key, n=0, tls="verified", to="pat@patients.example", domain=DOMAIN):
    return Envelope(
        mail_from="bounces@clinic.example", rcpt_to=to, data=message(dkim_key, n, to), tls=tls, domain=domain, ref=n
    )


# --- verified TLS -------------------------------------------------------------------------------


def test_verified_tls_delivers_over_tls_and_the_signature_survives(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        [outcome] = transport.send_batch([envelope(dkim_key)])
        assert outcome.status == Status.SENT
        assert outcome.code == 250
        assert outcome.tls_version in ("TLSv1.2", "TLSv1.3")
        [received] = server.recorder.received
    assert received.tls is True
    assert all(tls for _, tls in server.recorder.commands)
    assert received.rcpt_tos == ["pat@patients.example"]
    assert b"\r\n.leading dot line\r\n" in received.content  # dot-stuffed on the wire, unstuffed here
    key, txt = dkim_key
    assert verify_message(received.content, dns_txt={f"sp1._domainkey.{key.domain}": txt})


def _assert_nothing_sent(server, outcomes):
    assert [o.status for o in outcomes] == [Status.TLS_FAILED] * len(outcomes)
    assert server.recorder.commands == []  # no MAIL, RCPT, DATA or AUTH
    assert server.recorder.received == []
    assert server.recorder.connections == 1  # one attempt per batch, not one per message


def test_server_without_starttls_gets_nothing(route, transport, dkim_key):
    with recording_server() as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key, n) for n in range(3)])
        _assert_nothing_sent(server, outcomes)
    assert "does not offer STARTTLS" in outcomes[0].detail


def test_expired_certificate_gets_nothing(route, transport, ca, dkim_key):
    now = datetime.now(UTC)
    expired = ca.issue(MX_NAME, not_before=now - timedelta(days=100), not_after=now - timedelta(days=10))
    with recording_server(tls_context=server_context(expired)) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key, n) for n in range(2)])
        _assert_nothing_sent(server, outcomes)
    assert "expired" in outcomes[0].detail


def test_wrong_name_certificate_gets_nothing(route, transport, ca, dkim_key):
    wrong = ca.issue("mx.somebody-else.example")
    with recording_server(tls_context=server_context(wrong)) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key)])
        _assert_nothing_sent(server, outcomes)
    assert "certificate not valid" in outcomes[0].detail


def test_untrusted_certificate_gets_nothing(route, transport, tmp_path, dkim_key):
    with recording_server(tls_context=server_context(self_signed(tmp_path, MX_NAME))) as server:
        route(server)
        _assert_nothing_sent(server, transport.send_batch([envelope(dkim_key)]))


def test_tls_1_0_only_server_gets_nothing(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=tls10_only_context(good_cert)) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key)])
        _assert_nothing_sent(server, outcomes)
    assert "handshake failed" in outcomes[0].detail


def test_starttls_stripping_server_gets_nothing(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert), refuse_starttls=True) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key)])
        _assert_nothing_sent(server, outcomes)
    assert outcomes[0].code == 454


def test_mta_sts_patterns_exclude_other_mx_hosts(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        env = envelope(dkim_key)
        outcome = transport.send(Envelope(**{**_fields(env), "mx_patterns": ("*.other.example",)}))
        assert outcome.status == Status.TLS_FAILED
        assert server.recorder.connections == 0


def _fields(env):
    return {name: getattr(env, name) for name in Envelope.__dataclass_fields__}


# --- opportunistic ------------------------------------------------------------------------------


def test_opportunistic_sends_plaintext_only_when_there_is_no_tls(route, transport, dkim_key):
    with recording_server() as server:
        route(server)
        [outcome] = transport.send_batch([envelope(dkim_key, tls="opportunistic")])
        assert outcome.status == Status.SENT
        assert outcome.tls_version is None
        assert server.recorder.received[0].tls is False


def test_opportunistic_uses_tls_with_any_certificate(route, transport, ca, dkim_key):
    now = datetime.now(UTC)
    expired = ca.issue(MX_NAME, not_before=now - timedelta(days=100), not_after=now - timedelta(days=10))
    with recording_server(tls_context=server_context(expired)) as server:
        route(server)
        [outcome] = transport.send_batch([envelope(dkim_key, tls="opportunistic")])
        assert outcome.status == Status.SENT
        assert outcome.tls_version is not None
        assert server.recorder.received[0].tls is True


# --- replies, retries, unknown ------------------------------------------------------------------


def test_451_then_250_delivers_once(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert), data_replies=["451 4.3.0 Try again later"]) as server:
        route(server)
        env = envelope(dkim_key)
        [first] = transport.send_batch([env])
        assert (first.status, first.code, first.enhanced) == (Status.DEFERRED, 451, "4.3.0")
        assert first.retryable
        [second] = transport.send_batch([env])  # the pipeline's retry, after its backoff
        assert second.status == Status.SENT
        accepted = [r for r in server.recorder.received]
        assert len(accepted) == 2  # the server saw it twice and accepted it once:
        assert server.recorder.data_replies == []  # the 451 was used up by the first
        assert server.recorder.connections == 1  # and the retry reused the connection


def test_550_5_1_1_is_a_hard_bounce_that_suppresses_and_is_not_retried(route, transport, good_cert, dkim_key):
    gone = "gone@patients.example"
    with recording_server(
        tls_context=server_context(good_cert), rcpt_replies={gone: f"550 5.1.1 <{gone}>: user unknown"}
    ) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key, 0, to=gone), envelope(dkim_key, 1)])
        assert [o.status for o in outcomes] == [Status.BOUNCED, Status.SENT]
        bounced = outcomes[0]
        assert (bounced.code, bounced.enhanced, bounced.suppress) == (550, "5.1.1", True)
        assert "gone" not in bounced.detail and "@" not in bounced.detail  # no server text kept
        assert [c for c, _ in server.recorder.commands].count("RCPT") == 2  # tried once, never again
        assert len(server.recorder.received) == 1
        assert server.recorder.connections == 1  # RSET, then the next message on the same session


def test_policy_rejection_bounces_without_suppression(route, transport, good_cert, dkim_key):
    with recording_server(
        tls_context=server_context(good_cert), data_replies=["550 5.7.1 Message rejected as spam"]
    ) as server:
        route(server)
        [outcome] = transport.send_batch([envelope(dkim_key)])
    assert (outcome.status, outcome.enhanced, outcome.suppress) == (Status.BOUNCED, "5.7.1", False)


def test_stall_after_data_is_unknown_within_the_timeout(route, good_cert, dkim_key):
    handed_off = []
    smtp = SmtpTransport(timeout=5, data_timeout=0.5)
    with recording_server(tls_context=server_context(good_cert), stall_after_data=3) as server:
        route(server)
        started = time.monotonic()
        [outcome] = smtp.send_batch([envelope(dkim_key)], on_handed_off=handed_off.append)
        elapsed = time.monotonic() - started
        smtp.close()
    assert outcome.status == Status.UNKNOWN
    assert elapsed < 2.5
    assert [e.ref for e in handed_off] == [0]


def test_connection_lost_after_the_dot_is_unknown(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert), hang_up_after_data=True) as server:
        route(server)
        [outcome] = transport.send_batch([envelope(dkim_key)])
        assert len(server.recorder.received) == 1  # it did arrive: resending blindly would duplicate
    assert outcome.status == Status.UNKNOWN


def test_hand_off_runs_before_the_final_dot(route, transport, good_cert, dkim_key):
    seen_by_server_at_hand_off = []
    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)

        def hand_off(env):
            time.sleep(0.2)  # give the server every chance to have completed the message
            seen_by_server_at_hand_off.append(len(server.recorder.received))

        [outcome] = transport.send_batch([envelope(dkim_key)], on_handed_off=hand_off)
        assert outcome.status == Status.SENT
        assert seen_by_server_at_hand_off == [0]
        assert len(server.recorder.received) == 1


def test_failing_hand_off_sends_nothing(route, transport, good_cert, dkim_key):
    def hand_off(env):
        if env.ref == 0:
            raise RuntimeError("database unavailable")

    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key, 0), envelope(dkim_key, 1)], on_handed_off=hand_off)
        assert [o.status for o in outcomes] == [Status.DEFERRED, Status.SENT]
        assert wait_for(lambda: server.recorder.connections == 2)
        assert [len(r.content) > 0 for r in server.recorder.received] == [True]
        assert b"Reminder 1" in server.recorder.received[0].content


def test_421_closes_the_session_and_the_next_message_reconnects(route, transport, good_cert, dkim_key):
    with recording_server(
        tls_context=server_context(good_cert), data_replies=["421 4.7.0 Too many messages, closing"]
    ) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key, 0), envelope(dkim_key, 1)])
        assert [o.status for o in outcomes] == [Status.DEFERRED, Status.SENT]
        assert server.recorder.connections == 2


def test_null_mx_bounces_and_suppresses(route, transport, dkim_key):
    outcome = transport.send(envelope(dkim_key, to="x@nullmx.example", domain="nullmx.example"))
    assert (outcome.status, outcome.suppress) == (Status.BOUNCED, True)


def test_unreachable_host_is_deferred(route, transport, settings, dkim_key):
    from tests.free_port import free_port

    settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX_NAME}:{free_port()}"}
    outcomes = transport.send_batch([envelope(dkim_key, 0), envelope(dkim_key, 1)])
    assert [o.status for o in outcomes] == [Status.DEFERRED, Status.DEFERRED]


def test_smtp_command_injection_in_envelope_addresses_is_refused(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        env = envelope(dkim_key)
        evil = Envelope(**{**_fields(env), "rcpt_to": "pat@patients.example>\r\nRCPT TO:<x@evil.example"})
        outcome = transport.send(evil)
        assert outcome.status == Status.BOUNCED and not outcome.suppress
        assert server.recorder.commands == []


# --- connection reuse and pipelining ------------------------------------------------------------


def test_one_connection_carries_many_messages(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key, n) for n in range(20)])
        outcomes += transport.send_batch([envelope(dkim_key, n) for n in range(20, 25)])  # across batches too
        assert {o.status for o in outcomes} == {Status.SENT}
        assert len(server.recorder.received) == 25
        assert server.recorder.connections == 1
    assert transport.connections_opened == 1


def test_messages_per_connection_are_capped(route, good_cert, dkim_key):
    smtp = SmtpTransport(timeout=5, max_messages_per_connection=3)
    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        outcomes = smtp.send_batch([envelope(dkim_key, n) for n in range(7)])
        smtp.close()
        assert {o.status for o in outcomes} == {Status.SENT}
        assert server.recorder.connections == 3


def test_a_connection_the_server_dropped_while_idle_is_replaced(route, transport, good_cert, dkim_key):
    with recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        assert transport.send(envelope(dkim_key, 0)).status == Status.SENT
        for connections in transport._idle.values():
            for connection in connections:
                connection.sock.shutdown(2)  # as if the server had timed the idle session out
        assert transport.send(envelope(dkim_key, 1)).status == Status.SENT
        assert server.recorder.connections == 2


def test_pipelining_sends_the_envelope_commands_in_one_write(route, transport, good_cert, dkim_key, monkeypatch):
    writes = []
    original = transport_module.SmtpConnection.send

    def spy(self, payload):
        writes.append(payload)
        return original(self, payload)

    monkeypatch.setattr(transport_module.SmtpConnection, "send", spy)
    gone = "gone@patients.example"
    with recording_server(
        tls_context=server_context(good_cert), pipelining=True, rcpt_replies={gone: "550 5.1.1 unknown"}
    ) as server:
        route(server)
        outcomes = transport.send_batch([envelope(dkim_key, 0), envelope(dkim_key, 1, to=gone), envelope(dkim_key, 2)])
        assert [o.status for o in outcomes] == [Status.SENT, Status.BOUNCED, Status.SENT]
        assert outcomes[1].suppress
        assert len(server.recorder.received) == 2
    batched = [w for w in writes if isinstance(w, bytes) and b"MAIL FROM" in w]
    assert len(batched) == 3
    assert all(b"RCPT TO" in w and w.endswith(b"DATA\r\n") for w in batched)
    assert [w.startswith(b"RSET\r\n") for w in batched] == [False, False, True]  # only after the failed one


# --- several messages in flight, one hand-off call for them -------------------------------------


def test_group_hand_off_runs_after_every_body_and_before_any_final_dot(route, good_cert, dkim_key):
    calls = []
    with SmtpTransport(timeout=5, data_timeout=5, lanes=3) as smtp:
        with recording_server(tls_context=server_context(good_cert)) as server:
            route(server)

            def hand_off_many(envs):
                time.sleep(0.2)  # give the server every chance to have completed a message
                calls.append(([e.ref for e in envs], len(server.recorder.received)))
                return [True] * len(envs)

            outcomes = smtp.send_batch([envelope(dkim_key, n) for n in range(7)], on_handed_off_many=hand_off_many)
            assert [o.status for o in outcomes] == [Status.SENT] * 7
            assert wait_for(lambda: len(server.recorder.received) == 7)
            assert sorted(int(r.content.split(b"Reminder ")[1][:1]) for r in server.recorder.received) == list(range(7))
        # Three at a time, each group recorded while none of its messages was complete.
        assert calls == [([0, 1, 2], 0), ([3, 4, 5], 3), ([6], 6)]
        assert smtp.connections_opened == 3  # one connection per lane, reused by the next group


def test_group_hand_off_refusal_sends_no_dot_for_the_refused(route, good_cert, dkim_key):
    smtp = SmtpTransport(timeout=5, data_timeout=5, lanes=4)
    with smtp, recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        outcomes = smtp.send_batch(
            [envelope(dkim_key, n) for n in range(4)],
            on_handed_off_many=lambda envs: [e.ref % 2 == 0 for e in envs],  # 1 and 3: lease lost
        )
        assert [o.status for o in outcomes] == [Status.SENT, Status.DEFERRED, Status.SENT, Status.DEFERRED]
        time.sleep(0.3)
        assert sorted(b"Reminder 0" in r.content for r in server.recorder.received) == [False, True]
        assert len(server.recorder.received) == 2


def test_failing_group_hand_off_sends_nothing(route, good_cert, dkim_key):
    def hand_off_many(envs):
        raise RuntimeError("database unavailable")

    smtp = SmtpTransport(timeout=5, data_timeout=5, lanes=2)
    with smtp, recording_server(tls_context=server_context(good_cert)) as server:
        route(server)
        outcomes = smtp.send_batch([envelope(dkim_key, n) for n in range(3)], on_handed_off_many=hand_off_many)
        assert [o.status for o in outcomes] == [Status.DEFERRED] * 3
        time.sleep(0.3)
        assert server.recorder.received == []


def test_group_hand_off_keeps_per_message_outcomes_in_order(route, good_cert, dkim_key):
    with (
        SmtpTransport(timeout=5, data_timeout=5, lanes=4) as smtp,
        recording_server(
            tls_context=server_context(good_cert), rcpt_replies={"bad@patients.example": "550 5.1.1 No such user"}
        ) as server,
    ):
        route(server)
        envs = [envelope(dkim_key, 0), envelope(dkim_key, 1, to="bad@patients.example"), envelope(dkim_key, 2)]
        handed = []
        outcomes = smtp.send_batch(
            envs, on_handed_off_many=lambda group: handed.extend(e.ref for e in group) or [True] * len(group)
        )
        assert [o.status for o in outcomes] == [Status.SENT, Status.BOUNCED, Status.SENT]
        assert handed == [0, 2]  # the refused recipient never got as far as its body
        assert wait_for(lambda: len(server.recorder.received) == 2)


def test_smtp_data_normalises_only_what_needs_it():
    from delivery.transport import _smtp_data

    assert _smtp_data(b"a\r\nb\r\n") == b"a\r\nb\r\n"
    assert _smtp_data(b".a\nb\r.c\r\n..d\n") == b"..a\r\nb\r\n..c\r\n...d\r\n"
    assert _smtp_data(b"x\r\n.y\r\n") == b"x\r\n..y\r\n"

"""Transport throughput on one core (``make bench``): MIME build + DKIM sign (RSA 2048) + SMTP
send over verified STARTTLS (test CA) on reused connections, to a local aiosmtpd sink that only
counts, running in a process of its own. For comparison: the same prebuilt bytes through a bare
smtplib loop on one STARTTLS connection, the transport without pipelining, and the per-message
costs of each step. Every figure is the median of RUNS runs. Loopback figures on a shared
machine are noisy: compare within one run.
"""

from __future__ import annotations

import multiprocessing
import os
import smtplib
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django

MESSAGES = 5_000
BATCH = 100
RUNS = 3
STEP_SAMPLES = 2_000
MX_NAME = "mx1.sealpost-bench.localhost"
DOMAIN = "patients.example"
TEXT = (
    "Dear patient,\n\nThis is a reminder of your appointment at Riverside Clinic on Tuesday at "
    "9:30 with Dr. Example. Please arrive ten minutes early and bring your insurance card.\n\n"
    "If you need to reschedule, call us or use the patient portal.\n\nRiverside Clinic\n"
)
HTML = "<html><body>" + "".join(f"<p>{line}</p>\n" for line in TEXT.split("\n") if line) + "</body></html>\n"


# --- the sink (its own process) -----------------------------------------------------------------


def _sink(cert_file: str, key_file: str, ports: Any, stop: Any, counts: Any) -> None:
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.CRITICAL)

    class Count:
        received = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Count.received += 1
            return "250 2.0.0 OK"

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    from tests.free_port import free_port

    port = free_port()
    controller = Controller(
        Count(), hostname="127.0.0.1", port=port, server_hostname=MX_NAME, tls_context=context, require_starttls=False
    )
    controller.start()
    ports.put(port)
    stop.wait()
    counts.put(Count.received)
    controller.stop()


# --- measurements -------------------------------------------------------------------------------


def _per_call_us(function: Callable[[int], object], samples: int = STEP_SAMPLES) -> float:
    function(0)
    started = time.perf_counter()
    for n in range(samples):
        function(n)
    return (time.perf_counter() - started) / samples * 1e6


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from django.conf import settings

    from delivery import posture
    from delivery.dkim_signing import DkimKey, generate_dkim_key, sign_message
    from delivery.mime import build_message, build_message_stdlib, message_id_for
    from delivery.smtp_replies import Status
    from delivery.testing import CertificateAuthority, FakeResolver
    from delivery.transport import Envelope, SmtpTransport

    workdir = Path(tempfile.mkdtemp(prefix="bench-transport-"))
    ca = CertificateAuthority(workdir)
    issued = ca.issue(MX_NAME)
    rsa_pem, _ = generate_dkim_key()
    ed_pem, _ = generate_dkim_key("ed25519-sha256")
    key = DkimKey("clinic.example", "sp1", rsa_pem)

    def build(n: int, builder: Callable[..., bytes] = build_message) -> bytes:
        return builder(
            from_name="Riverside Clinic",
            from_address="news@clinic.example",
            to_address=f"patient{n}@{DOMAIN}",
            subject=f"Your appointment on Tuesday (ref {n})",
            html=HTML,
            text=TEXT,
            message_id=message_id_for(tenant_id=1, message_row_id=n, domain="clinic.example", secret="bench"),
            list_unsubscribe_url=f"https://sealpost.example/u/{n:08d}abcdefghijklmnop",
            list_unsubscribe_mailto="mailto:unsubscribe@sealpost.example",
        )

    unsigned = build(0)
    sample = key.sign(unsigned)
    results: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    context = multiprocessing.get_context("spawn")
    ports, counts, stop = context.Queue(), context.Queue(), context.Event()
    sink = context.Process(target=_sink, args=(str(issued.cert_file), str(issued.key_file), ports, stop, counts))
    sink.start()
    port = ports.get(timeout=30)
    settings.DELIVERY_TLS_CA_FILE = str(ca.ca_file)
    settings.DELIVERY_MX_OVERRIDES = {DOMAIN: f"{MX_NAME}:{port}"}
    posture.set_resolver(FakeResolver())
    sent = 0
    try:
        for _ in range(RUNS):
            record("mime_build_us", _per_call_us(build))
            record("mime_build_stdlib_us", _per_call_us(lambda n: build(n, build_message_stdlib), 500))
            record("dkim_sign_us", _per_call_us(lambda n: key.sign(unsigned)))
            record(
                "dkim_sign_dkimpy_us",
                _per_call_us(
                    lambda n: sign_message(
                        unsigned, domain="clinic.example", selector="sp1", private_pem=rsa_pem, engine="dkimpy"
                    ),
                    100,
                ),
            )
            record(
                "dkim_sign_ed25519_us",
                _per_call_us(
                    lambda n: sign_message(unsigned, domain="clinic.example", selector="sp1", private_pem=ed_pem)
                ),
            )

            for name, pipelining, prebuilt in (
                ("transport_messages_per_s", True, False),
                ("transport_send_only_messages_per_s", True, True),
                ("transport_no_pipelining_messages_per_s", False, True),
            ):
                transport = SmtpTransport(pipelining=pipelining)
                started, cpu_started = time.perf_counter(), time.process_time()
                for first in range(0, MESSAGES, BATCH):
                    envelopes = [
                        Envelope(
                            "bounces@clinic.example",
                            f"patient{n}@{DOMAIN}",
                            sample if prebuilt else key.sign(build(n)),
                            "verified",
                            DOMAIN,
                        )
                        for n in range(first, first + BATCH)
                    ]
                    outcomes = transport.send_batch(envelopes)
                    if any(o.status != Status.SENT for o in outcomes):
                        raise RuntimeError(f"not sent: {[o for o in outcomes if o.status != Status.SENT][:1]}")
                record(name, MESSAGES / (time.perf_counter() - started))
                # this process's CPU per message: what one core could do if the sink were instant
                record(name.replace("_messages_per_s", "_cpu_us"), (time.process_time() - cpu_started) / MESSAGES * 1e6)
                sent += MESSAGES
                # reused: a new connection only after max_messages_per_connection (default 1,000)
                if transport.connections_opened > -(-MESSAGES // transport.max_messages_per_connection):
                    raise RuntimeError("the transport did not reuse its connections")
                transport.close()

            client = smtplib.SMTP(timeout=30)
            client._host = MX_NAME  # type: ignore[attr-defined]
            client.connect("127.0.0.1", port)
            client.ehlo("bench.localhost")
            client.starttls(context=posture.verifying_context())
            client.ehlo("bench.localhost")
            started, cpu_started = time.perf_counter(), time.process_time()
            for n in range(MESSAGES):
                client.sendmail("bounces@clinic.example", [f"patient{n}@{DOMAIN}"], sample)
            record("smtplib_loop_messages_per_s", MESSAGES / (time.perf_counter() - started))
            record("smtplib_loop_cpu_us", (time.process_time() - cpu_started) / MESSAGES * 1e6)
            sent += MESSAGES
            client.quit()
    finally:
        stop.set()
        received = counts.get(timeout=30)
        sink.join(timeout=30)
    if received != sent:
        raise RuntimeError(f"the sink counted {received} messages, {sent} were sent")
    print(f"RESULT message_bytes {len(sample)} bytes", flush=True)
    units = {"us": "us", "per_s": "msg/s"}
    for name, values in results.items():
        unit = units["us"] if name.endswith("_us") else units["per_s"]
        print(f"RESULT {name} {statistics.median(values):.1f} {unit}", flush=True)


if __name__ == "__main__":
    main()

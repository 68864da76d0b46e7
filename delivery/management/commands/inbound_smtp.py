"""``python manage.py inbound_smtp``: the SMTP listener for bounce reports (DSN) and complaints
(ARF), ``delivery.inbound_smtp``. Configuration: docs/configuration.md, "Inbound reports"."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from delivery.inbound_smtp import DEFAULT_MAX_BYTES, start_inbound_listener, tls_context_from_files
from sealpost.env import EnvError, env_int, env_list, env_str


class Command(BaseCommand):
    help = "Run the SMTP listener that receives bounce reports (DSN) and complaints (ARF)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default=None, help="Address to listen on (default $INBOUND_SMTP_HOST, else 127.0.0.1)."
        )
        parser.add_argument(
            "--port", type=int, default=None, help="Port to listen on (default $INBOUND_SMTP_PORT, else 2525)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            host: str = options["host"] or env_str("INBOUND_SMTP_HOST", "127.0.0.1") or "127.0.0.1"
            port: int = (
                options["port"] if options["port"] is not None else env_int("INBOUND_SMTP_PORT", 2525, minimum=1)
            )
            domains = env_list("INBOUND_SMTP_DOMAINS", [])
            max_bytes = env_int("INBOUND_SMTP_MAX_BYTES", DEFAULT_MAX_BYTES, minimum=1024)
            cert_file = env_str("INBOUND_SMTP_TLS_CERT_FILE")
            key_file = env_str("INBOUND_SMTP_TLS_KEY_FILE")
        except EnvError as exc:
            raise CommandError(str(exc)) from None
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        if bool(cert_file) != bool(key_file):
            raise CommandError("Set both INBOUND_SMTP_TLS_CERT_FILE and INBOUND_SMTP_TLS_KEY_FILE, or neither.")
        try:
            tls_context = tls_context_from_files(cert_file, key_file) if cert_file and key_file else None
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot load the TLS certificate or key: {exc}") from None
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            controller = start_inbound_listener(
                host, port, domains=domains, max_bytes=max_bytes, tls_context=tls_context
            )
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from None
        scope = ", ".join(domains) if domains else "every domain"
        starttls = "STARTTLS offered" if tls_context else "no STARTTLS"
        self.stdout.write(f"Inbound report listener on {host}:{port} for {scope} ({starttls})")
        self.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            controller.stop()
        counts = dict(sorted(controller.handler.counts.items()))
        self.stdout.write(f"Inbound report listener stopped ({counts or 'nothing received'}).")

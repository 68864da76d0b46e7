"""``python manage.py smtp_sink``: the local SMTP server of the embedded default.

With ``--starttls-port`` (and ``--cert``/``--key``) a second listener offers STARTTLS, into the
same Maildir: the demo's recipient domain with verified TLS (``delivery.demo``)."""

from __future__ import annotations

import signal
import ssl
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from delivery.sink import start_sink, starttls_context
from sealpost.env import env_int


class Command(BaseCommand):
    help = "Run an SMTP server that accepts every message and stores it in the dev Maildir."
    # The sink touches neither the database nor the URLconf; it should come up even while
    # another part of the project fails its checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        # EMAIL_PORT is the port the app sends to (see settings), so by default the sink listens there.
        parser.add_argument(
            "--port",
            type=int,
            default=env_int("EMAIL_PORT", 8025, minimum=1),
            help="Port to listen on (default $EMAIL_PORT, else 8025).",
        )
        parser.add_argument("--starttls-port", type=int, help="Also listen here, offering STARTTLS.")
        parser.add_argument("--cert", type=Path, help="PEM certificate (chain) for --starttls-port.")
        parser.add_argument("--key", type=Path, help="PEM private key for --starttls-port.")

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        starttls_port: int | None = options["starttls_port"]
        for name, value in (("--port", port), ("--starttls-port", starttls_port)):
            if value is not None and not 0 < value < 65536:
                raise CommandError(f"{name} must be between 1 and 65535, not {value}.")
        if starttls_port is not None and (options["cert"] is None or options["key"] is None):
            raise CommandError("--starttls-port needs --cert and --key.")
        maildir = settings.SMTP_SINK_MAILDIR
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        controllers = []
        try:
            controllers.append(self._start(host, port, maildir))
            if starttls_port is not None:
                try:
                    context = starttls_context(options["cert"], options["key"])
                except (OSError, ssl.SSLError) as exc:
                    raise CommandError(f"Cannot load the STARTTLS certificate: {exc}") from None
                controllers.append(self._start(host, starttls_port, maildir, tls_context=context))
            self.stdout.flush()
            # A timed wait keeps the main thread responsive to signals on every platform.
            while not stop.wait(0.5):
                pass
        finally:
            for controller in controllers:
                controller.stop()
        stored = sum(getattr(controller.handler, "stored_count", 0) for controller in controllers)
        self.stdout.write(f"SMTP sink stopped ({stored} message(s) stored this run).")

    def _start(self, host: str, port: int, maildir: Path, tls_context: ssl.SSLContext | None = None) -> Controller:
        try:
            controller = start_sink(host, port, maildir, tls_context=tls_context)
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from None
        offers = "offering STARTTLS" if tls_context is not None else "without STARTTLS"
        self.stdout.write(f"SMTP sink listening on {host}:{port} ({offers}), storing messages in {maildir}")
        return controller

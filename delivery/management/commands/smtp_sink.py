"""``python manage.py smtp_sink``: the local SMTP server of the embedded default."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from delivery.sink import start_sink
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

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        maildir = settings.SMTP_SINK_MAILDIR
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            controller = start_sink(host, port, maildir)
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from None
        self.stdout.write(f"SMTP sink listening on {host}:{port}, storing messages in {maildir}")
        self.stdout.flush()
        try:
            # A timed wait keeps the main thread responsive to signals on every platform.
            while not stop.wait(0.5):
                pass
        finally:
            controller.stop()
        stored = getattr(controller.handler, "stored_count", 0)
        self.stdout.write(f"SMTP sink stopped ({stored} message(s) stored this run).")

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from encryption.keyfile import KeyFileError, ensure_key_file


class Command(BaseCommand):
    help = (
        "Create the local key files (SEALPOST_MASTER_KEY_FILE, AUDIT_CHECKPOINT_KEY_FILE) if they do not exist, "
        "and check their permissions."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for path in (settings.MASTER_KEY_FILE, settings.AUDIT_CHECKPOINT_KEY_FILE):
            try:
                created = ensure_key_file(path)
            except KeyFileError as exc:
                raise CommandError(str(exc)) from None
            if options["verbosity"]:
                self.stdout.write(f"{'Created' if created else 'Found'} key file {path}")

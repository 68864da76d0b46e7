from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from encryption.keyfile import MasterKeyError, ensure_master_key_file


class Command(BaseCommand):
    help = "Create the local master-key file (SEALPOST_MASTER_KEY_FILE) if it does not exist, and check it."

    def handle(self, *args: Any, **options: Any) -> None:
        path = settings.MASTER_KEY_FILE
        try:
            created = ensure_master_key_file(path)
        except MasterKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{'Created' if created else 'Found'} master key file {path}")

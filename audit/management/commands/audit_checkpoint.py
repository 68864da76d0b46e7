"""``python manage.py audit_checkpoint``: sign the head of every chain now (beat does this
periodically) and append the checkpoints to AUDIT_CHECKPOINT_LOG."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from audit.tasks import write_all_checkpoints


class Command(BaseCommand):
    help = "Write signed checkpoints of every audit chain's head."

    def handle(self, *args: Any, **options: Any) -> None:
        written = write_all_checkpoints()
        self.stdout.write(f"Wrote {written} checkpoint(s).")

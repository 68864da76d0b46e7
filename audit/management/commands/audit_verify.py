"""``python manage.py audit_verify [--tenant SLUG] [--engine sql|python] [--checkpoints FILE]``

Recomputes every chain and holds it to its signed checkpoints (those stored in the database and
those in the checkpoint log outside it). Exits 1 naming the first broken sequence number of each
broken chain, 0 when all verify.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verify import verify_all, verify_export
from tenants.models import Organisation


class Command(BaseCommand):
    help = "Verify the audit log's hash chains and signed checkpoints."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Verify only this organisation's chain (its slug).")
        parser.add_argument("--engine", choices=["sql", "python"], help="Where hashes are recomputed.")
        parser.add_argument(
            "--export",
            type=Path,
            help="Verify a JSON export offline instead of the database.",
        )
        parser.add_argument("--public-key", help="With --export: the checkpoint public key (hex) you trust.")
        parser.add_argument(
            "--checkpoints",
            type=Path,
            help="A checkpoint log (JSON lines) to hold the chains to; default: AUDIT_CHECKPOINT_LOG.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export"]:
            self._verify_export(options["export"], options["public_key"])
            return
        tenant = None
        if options["tenant"]:
            tenant = Organisation.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No organisation with slug {options['tenant']!r}.")
        checkpoint_log = options["checkpoints"] or settings.AUDIT_CHECKPOINT_LOG
        if options["checkpoints"] and not checkpoint_log.exists():
            raise CommandError(f"{checkpoint_log} does not exist.")
        reports = verify_all(tenant=tenant, engine=options["engine"], checkpoint_log=checkpoint_log)
        broken = [report for report in reports if not report.ok]
        for report in reports:
            self.stdout.write(report.describe())
        if broken:
            raise CommandError(f"{len(broken)} audit chain(s) broken.", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"All {len(reports)} audit chain(s) verified."))

    def _verify_export(self, path: Path, public_key: str | None) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        report = verify_export(document, trusted_public_key_hex=public_key)
        for problem in report.problems:
            self.stdout.write(f"BROKEN: {problem}")
        if not report.ok:
            raise CommandError(f"The export does not verify ({len(report.problems)} problem(s)).", returncode=1)
        self.stdout.write(
            self.style.SUCCESS(
                f"Export verified: {report.events} events, {report.checkpoints_verified} signed checkpoint(s)."
            )
        )

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from encryption.dlp.evaluate import evaluate, format_report, load_records

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "dlp" / "corpus" / "healthcare_emails.jsonl"


class Command(BaseCommand):
    help = (
        "Score the PHI/DLP classifier against a labelled corpus (JSON lines: id, kind, text, level, findings): "
        "identifier and health recall/precision by overlap, message-level accuracy, phi recall, and the errors. "
        "Error listings quote the corpus text: point --corpus only at synthetic data."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="labelled corpus (JSON lines)")
        parser.add_argument("--show-errors", type=int, default=10, metavar="N", help="errors listed per category")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from encryption.dlp import classify
        except ImportError as exc:
            raise CommandError(f"the classifier is not available: {exc}") from None
        path: Path = options["corpus"]
        try:
            records = load_records(path)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the corpus {path}: {exc}") from None
        report = evaluate(classify, records)
        show = max(0, options["show_errors"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(show_errors=show), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(format_report(report, show_errors=show, source=str(path)))

"""``python manage.py segments_reindex [--organisation SLUG]``: rebuild the segment search index
(``segments.search_index``) from the contacts, e.g. after restoring a backup of the contacts
table alone. Decrypts each contact's PHI attributes in memory to hash them; writes only terms."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from segments.search_index import contact_index_rebuild
from tenants.context import tenant_context
from tenants.models import Organisation


class Command(BaseCommand):
    help = "Rebuild the segment search index of every organisation (or of one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organisation", help="The slug of one organisation.")

    def handle(self, *args: Any, **options: Any) -> None:
        organisations = Organisation.objects.order_by("pk")
        if options["organisation"]:
            organisations = organisations.filter(slug=options["organisation"])
            if not organisations.exists():
                raise CommandError("No organisation has that slug.")
        for organisation in organisations:
            with tenant_context(organisation):
                done = contact_index_rebuild(tenant=organisation)
            self.stdout.write(f"{organisation.slug}: {done} contact(s) indexed.")

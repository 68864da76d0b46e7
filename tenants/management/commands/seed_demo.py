"""``python manage.py seed_demo``: the demo organisations, one user per role, synthetic contacts.
Idempotent: running it again adds nothing that is already there."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.demo import DemoRefused, seed_demo, write_demo_logins


class Command(BaseCommand):
    help = "Create the demo organisations, users and synthetic contacts (never in production)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = seed_demo()
        except DemoRefused as exc:
            raise CommandError(str(exc)) from None
        write_demo_logins(summary)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Organisations: {', '.join(summary['organisations'])}")  # type: ignore[arg-type]
        self.stdout.write(f"  New synthetic contacts: {summary['contacts_created']}")
        self.stdout.write("  Sign in at /accounts/login/ with any of:")
        for user in summary["users"]:  # type: ignore[attr-defined]
            self.stdout.write(f"    {user['email']:<34} {user['role']}")
        self.stdout.write(f"  Password (all demo users): {summary['password']}")

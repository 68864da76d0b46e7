"""``manage.py consent_unsubscribe_mail``: process one email sent to a List-Unsubscribe mailto
address (``u-<token>@CONSENT_UNSUBSCRIBE_MAIL_DOMAIN``, see consent.links).

Made for a mail server's pipe transport, e.g. Postfix ``master.cf``::

    unsubscribe unix - n n - - pipe
      flags=Rq user=sealpost argv=/app/manage.py consent_unsubscribe_mail --recipient ${recipient}

The message is read from stdin. The addresses processed are the ``--recipient`` arguments (the
envelope recipients, which is what the token was made for) or, without any, the message's own
``X-Sealpost-Envelope-To`` / ``X-Original-To`` / ``Delivered-To`` / ``To`` headers. The body is
not read: whatever the person wrote, an email to that address means "unsubscribe". Exit status
67 (EX_NOUSER, "no such user") when no address was one of ours, so the mail server bounces it.
Nothing about the message or the address is printed or logged.
"""

from __future__ import annotations

import sys
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.recipients import MailUnsubscribeResult, unsubscribe_by_mail

EX_NOUSER = 67
HEADERS = ("X-Sealpost-Envelope-To", "X-Original-To", "Delivered-To", "To")
MAX_HEADER_BYTES = 256 * 1024


class Command(BaseCommand):
    help = "Process an email sent to a List-Unsubscribe mailto address (the message on stdin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recipient",
            action="append",
            default=[],
            help="An envelope recipient of the message (repeatable); otherwise taken from its headers.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        raw = sys.stdin.buffer.read(MAX_HEADER_BYTES)
        recipients: list[str] = list(options["recipient"])
        if not recipients:
            message = BytesHeaderParser(policy=policy.default).parsebytes(raw)
            for header in HEADERS:
                values = [str(value) for value in message.get_all(header) or []]
                recipients += [address for _, address in getaddresses(values) if address]
        done = sum(
            1
            for address in dict.fromkeys(recipients)
            if unsubscribe_by_mail(to_address=address) == MailUnsubscribeResult.DONE
        )
        if not done:
            raise CommandError("No unsubscribe address of ours in this message.", returncode=EX_NOUSER)
        self.stdout.write(f"Processed {done} unsubscribe request(s).")

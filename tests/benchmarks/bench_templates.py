"""Template rendering rate on one core (``make bench``; alone: ``python -m tests.benchmarks
templates``): a typical ~10 KB HTML reminder with a dozen merge fields (``name``, ``datetime`` in
the recipient's zone, ``date``, ``money``) and a loop over five line items formatted with
``money``, compiled once (``compile_part``), then rendered with a different recipient's context
each time through ``render_compiled``, with every limit in force. A second figure renders the
same template with zebra rows from ``loop.cycle`` (a ``LoopContext`` and a sandboxed call per
row).

The rate is the median of ``ROUNDS`` rounds (the machine is shared; the median resists a busy
neighbour); the best round is printed too, the nearest to what one uncontended core does. Needs no database: the contexts are built with ``templates.context.render_context``
from the built-in merge fields.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import django

RENDERS = int(os.environ.get("TEMPLATE_BENCH_RENDERS", "5000"))  # per round
ROUNDS = 10
CONTEXTS = 1000  # distinct recipients, cycled
ZONES = ("America/New_York", "Europe/Paris", "UTC", "America/Los_Angeles", "Asia/Tokyo")
GOAL = 20_000  # renders per second per core

_PARAGRAPH = (
    '<tr><td style="padding:12px 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;'
    'line-height:22px;color:#1f2933">Please arrive fifteen minutes early and bring a photo ID, your '
    "insurance card and a list of the medicines you take. If you need to cancel, let us know at least "
    "one day ahead so that another patient can have the time.</td></tr>\n"
)

HTML = "".join(
    [
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>{{ campaign.name }}</title>\n',
        "<style>body{margin:0;background:#f4f5f7}.btn{background:#1769aa;color:#fff;padding:10px 18px;",
        "border-radius:4px;text-decoration:none}td{vertical-align:top}</style></head>\n",
        '<body><table role="presentation" width="100%" cellpadding="0" cellspacing="0">\n',
        '<tr><td style="padding:24px"><h1 style="font-size:22px">{{ org.name }}</h1></td></tr>\n',
        "<tr><td><p>Dear {{ contact.first_name|name }} {{ contact.last_name|name }},</p>\n",
        "<p>This is a reminder of your appointment with {{ event.provider_name }} on ",
        "{{ event.appointment_at|datetime }} at {{ event.location }}.</p>\n",
        "<p>Your patient id is {{ contact.external_id }}.</p></td></tr>\n",
        _PARAGRAPH * 15,
        '<tr><td><table role="presentation" width="100%">\n',
        "<tr><th>Item</th><th>Amount</th></tr>\n",
        "{% for item in event.items %}",
        '<tr class="row"><td>{{ item.description }}</td>',
        '<td style="text-align:right">{{ item.amount|money }}</td></tr>\n',
        "{% endfor %}",
        "<tr><td>Total due by {{ event.due_date|date }}</td>",
        '<td style="text-align:right">{{ event.amount_due|money }}</td></tr>\n',
        "</table></td></tr>\n",
        _PARAGRAPH * 10,
        '<tr><td><a class="btn" href="{{ links.preferences }}">Your preferences</a> · ',
        '<a href="{{ links.unsubscribe }}">Unsubscribe</a></td></tr>\n',
        "<tr><td><small>Sent to {{ contact.email }} by {{ org.name }}.</small></td></tr>\n",
        "</table></body></html>\n",
    ]
)


def _contexts() -> list[dict[str, Any]]:
    from templates.context import render_context
    from templates.fields import BUILTIN_FIELDS

    catalogue = {field.name: field for field in BUILTIN_FIELDS}
    start = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    contexts = []
    for n in range(CONTEXTS):
        amounts = [Decimal(n % 97 * 3 + k) + Decimal("0.25") for k in range(5)]
        items = [{"description": f"Service <{n}-{k}> & co", "amount": amount} for k, amount in enumerate(amounts)]
        values = {
            "contact.first_name": f"avery{n}",
            "contact.last_name": f"o'sample{n}",
            "contact.email": f"patient{n}@example.com",
            "contact.external_id": f"EXT-{n:06d}",
            "contact.time_zone": ZONES[n % len(ZONES)],
            "event.appointment_at": start + timedelta(hours=7 * n),
            "event.provider_name": f"Dr. Demo {n % 13}",
            "event.location": f"Suite {n % 9}",
            "event.amount_due": sum(amounts, Decimal(0)),
            "event.items": items,
        }
        contexts.append(render_context(catalogue, values=values))
    return contexts


def _rates(template: Any, contexts: list[dict[str, Any]]) -> tuple[float, float]:
    """(median, best) renders per second over the rounds."""
    from templates.rendering import render_compiled

    for context in contexts:  # warm up
        render_compiled(template, context)
    rates = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for n in range(RENDERS):
            render_compiled(template, contexts[n % CONTEXTS])
        rates.append(RENDERS / (time.perf_counter() - started))
    return statistics.median(rates), max(rates)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    django.setup()
    from templates.rendering import compile_part, render_compiled

    contexts = _contexts()
    template = compile_part(cache_key=("bench", "en", "html_body"), source=HTML, html=True)
    sample = render_compiled(template, contexts[0])
    print(f"template: {len(HTML):,} characters of source, {len(sample):,} rendered", flush=True)
    rate, best = _rates(template, contexts)
    print(f"RESULT template_renders_per_second {rate:.0f} renders/s", flush=True)
    print(f"RESULT template_render_us {1e6 / rate:.1f} us", flush=True)
    print(f"RESULT template_renders_per_second_best_round {best:.0f} renders/s", flush=True)
    print(f"template_renders_per_second goal {GOAL:,}: {'met' if rate >= GOAL else 'NOT met'}", flush=True)
    zebra = HTML.replace('<tr class="row">', "<tr class=\"{{ loop.cycle('odd', 'even') }}\">")
    template = compile_part(cache_key=("bench", "en", "html_body_zebra"), source=zebra, html=True)
    rate, best = _rates(template, contexts)
    print(f"RESULT template_renders_per_second_loop_cycle {rate:.0f} renders/s", flush=True)
    print(f"RESULT template_renders_per_second_loop_cycle_best_round {best:.0f} renders/s", flush=True)


if __name__ == "__main__":
    main()

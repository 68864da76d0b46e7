"""Starter templates a new template may begin from: appointment reminder, bill ready,
prescription renewal and newsletter, plus a blank skeleton.

Each is built the way email has to be for the clients people actually use (Outlook's Word
engine, Gmail's style stripping): nested tables with ``role="presentation"`` for layout, inline
CSS only, a 600px content column that shrinks on phones, a hidden preheader mirroring the
preheader field, ``lang`` on ``<html>``, system fonts, and a hand-written plain-text version.
PHI stays out of subjects and preheaders (they show on lock screens), and the newsletter, for a
marketing purpose, uses no PHI field at all and carries the unsubscribe and preference links.

``templates/tests/test_starters.py`` saves each one through ``draft_save``'s analysis, runs the
editor's checks on it and renders every language with the synthetic sample context.
"""

from __future__ import annotations

from dataclasses import dataclass

from templates.services import ContentInput

_FONT = "font-family:Arial,Helvetica,sans-serif;"
_TEXT = _FONT + "font-size:16px;line-height:24px;color:#12201f;"
_SMALL = _FONT + "font-size:12px;line-height:18px;color:#5b6d6b;"
_CELL = "padding:8px 0;border-bottom:1px solid #d7e2e0;" + _TEXT


@dataclass(frozen=True)
class Starter:
    key: str
    name: str
    description: str
    purpose: str  # the consent purpose it is written for (the form offers it first)
    default_language: str
    contents: tuple[ContentInput, ...]


def _email(*, lang: str, title: str, preheader: str, rows: str, footer: str) -> str:
    """The shared layout: outer background table, 600px card, header band, rows, footer."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="x-apple-disable-message-reformatting">\n'
        f"<title>{title}</title>\n"
        "</head>\n"
        '<body style="margin:0;padding:0;background-color:#f4f7f6;">\n'
        '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;'
        f'overflow:hidden;mso-hide:all;">{preheader}</div>\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;background-color:#f4f7f6;">\n'
        '<tr><td align="center" style="padding:24px 12px;">\n'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:600px;background-color:#ffffff;border:1px solid #d7e2e0;">\n'
        '<tr><td style="padding:20px 32px;background-color:#0f5c55;' + _FONT + "font-size:20px;"
        'line-height:28px;font-weight:bold;color:#ffffff;">{{ org.name }}</td></tr>\n'
        f"{rows}"
        '<tr><td style="padding:20px 32px;border-top:1px solid #d7e2e0;' + _SMALL + f'">{footer}</td></tr>\n'
        "</table>\n"
        "</td></tr>\n"
        "</table>\n"
        "</body>\n"
        "</html>\n"
    )


def _row(html: str, padding: str = "8px 32px") -> str:
    return f'<tr><td style="padding:{padding};{_TEXT}">{html}</td></tr>\n'


def _button(label: str, href: str) -> str:
    """A link styled as a button that survives Outlook (a padded, coloured table cell)."""
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr>'
        '<td style="background-color:#0f5c55;border-radius:6px;">'
        f'<a href="{href}" style="display:inline-block;padding:12px 22px;{_FONT}font-size:16px;'
        f'font-weight:bold;color:#ffffff;text-decoration:none;">{label}</a>'
        "</td></tr></table>"
    )


def _details(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><th scope="row" align="left" style="{_CELL}width:35%;font-weight:bold;">{label}</th>'
        f'<td style="{_CELL}">{value}</td></tr>'
        for label, value in rows
    )
    return f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">{cells}</table>'


def _link(label: str, href: str) -> str:
    return f'<a href="{href}" style="color:#0f5c55;text-decoration:underline;">{label}</a>'


# --- Appointment reminder ------------------------------------------------------------------------

_REMINDER_PREHEADER_EN = "Your appointment details, and how to reach us if you cannot come."
_REMINDER_PREHEADER_ES = "Los detalles de su cita y cómo contactarnos si no puede asistir."

APPOINTMENT_REMINDER = Starter(
    key="appointment_reminder",
    name="Appointment reminder",
    description="Date, time, provider and place of an upcoming appointment (English and Spanish).",
    purpose="appointment_reminders",
    default_language="en",
    contents=(
        ContentInput(
            language="en",
            subject="Reminder: your upcoming appointment at {{ org.name }}",
            preheader=_REMINDER_PREHEADER_EN,
            html_body=_email(
                lang="en",
                title="Your upcoming appointment",
                preheader=_REMINDER_PREHEADER_EN,
                rows=(
                    _row(
                        '<h1 style="margin:0 0 8px;' + _FONT + 'font-size:24px;line-height:32px;color:#12201f;">'
                        "Your appointment is coming up</h1>",
                        "28px 32px 8px",
                    )
                    + _row('<p style="margin:0;">Hello {{ contact.first_name|name }},</p>')
                    + _row('<p style="margin:0;">This is a reminder of your appointment with us:</p>')
                    + _row(
                        _details(
                            [
                                ("When", "{{ event.appointment_at|datetime }}"),
                                ("With", "{{ event.provider_name }}"),
                                ("Where", "{{ event.location }}"),
                            ]
                        ),
                        "8px 32px 16px",
                    )
                    + _row(
                        '<p style="margin:0;">Please arrive ten minutes early and bring a list of the '
                        "medicines you take. If you cannot come, call us so we can offer the time to "
                        "someone else.</p>"
                    )
                    + _row('<p style="margin:0;">See you soon,<br>{{ org.name }}</p>', "8px 32px 28px")
                ),
                footer=(
                    "You receive this email because you have an appointment with {{ org.name }}. "
                    + _link("Email preferences", "{{ links.preferences }}")
                ),
            ),
            text_body=(
                "Hello {{ contact.first_name|name }},\n\n"
                "This is a reminder of your appointment with us:\n\n"
                "When: {{ event.appointment_at|datetime }}\n"
                "With: {{ event.provider_name }}\n"
                "Where: {{ event.location }}\n\n"
                "Please arrive ten minutes early and bring a list of the medicines you take. "
                "If you cannot come, call us so we can offer the time to someone else.\n\n"
                "See you soon,\n{{ org.name }}\n\n"
                "Email preferences: {{ links.preferences }}\n"
            ),
        ),
        ContentInput(
            language="es",
            subject="Recordatorio: su próxima cita en {{ org.name }}",
            preheader=_REMINDER_PREHEADER_ES,
            html_body=_email(
                lang="es",
                title="Su próxima cita",
                preheader=_REMINDER_PREHEADER_ES,
                rows=(
                    _row(
                        '<h1 style="margin:0 0 8px;' + _FONT + 'font-size:24px;line-height:32px;color:#12201f;">'
                        "Su cita se acerca</h1>",
                        "28px 32px 8px",
                    )
                    + _row('<p style="margin:0;">Hola {{ contact.first_name|name }}:</p>')
                    + _row('<p style="margin:0;">Le recordamos su cita con nosotros:</p>')
                    + _row(
                        _details(
                            [
                                ("Cuándo", "{{ event.appointment_at|datetime('%d/%m/%Y, %H:%M') }}"),
                                ("Con", "{{ event.provider_name }}"),
                                ("Dónde", "{{ event.location }}"),
                            ]
                        ),
                        "8px 32px 16px",
                    )
                    + _row(
                        '<p style="margin:0;">Llegue diez minutos antes y traiga la lista de los '
                        "medicamentos que toma. Si no puede asistir, llámenos para ofrecer la hora a otra "
                        "persona.</p>"
                    )
                    + _row('<p style="margin:0;">Hasta pronto,<br>{{ org.name }}</p>', "8px 32px 28px")
                ),
                footer=(
                    "Recibe este correo porque tiene una cita con {{ org.name }}. "
                    + _link("Preferencias de correo", "{{ links.preferences }}")
                ),
            ),
            text_body=(
                "Hola {{ contact.first_name|name }}:\n\n"
                "Le recordamos su cita con nosotros:\n\n"
                "Cuándo: {{ event.appointment_at|datetime('%d/%m/%Y, %H:%M') }}\n"
                "Con: {{ event.provider_name }}\n"
                "Dónde: {{ event.location }}\n\n"
                "Llegue diez minutos antes y traiga la lista de los medicamentos que toma. "
                "Si no puede asistir, llámenos para ofrecer la hora a otra persona.\n\n"
                "Hasta pronto,\n{{ org.name }}\n\n"
                "Preferencias de correo: {{ links.preferences }}\n"
            ),
        ),
    ),
)

# --- Bill ready ----------------------------------------------------------------------------------

_BILL_PREHEADER = "Your latest statement is ready to view."

_BILL_ITEMS = (
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">\n'
    "{% for item in event.items %}\n"
    f'<tr><td style="{_CELL}">{{{{ item.description }}}}</td>'
    f'<td align="right" style="{_CELL}text-align:right;white-space:nowrap;">{{{{ item.amount|money }}}}</td></tr>\n'
    "{% endfor %}\n"
    f'<tr><td style="{_CELL}font-weight:bold;border-bottom:0;">Amount due</td>'
    f'<td align="right" style="{_CELL}font-weight:bold;border-bottom:0;text-align:right;white-space:nowrap;">'
    "{{ event.amount_due|money }}</td></tr>\n"
    "</table>"
)

BILL_READY = Starter(
    key="bill_ready",
    name="Bill ready",
    description="A statement with its line items, the amount due and the due date.",
    purpose="billing",
    default_language="en",
    contents=(
        ContentInput(
            language="en",
            subject="Your statement from {{ org.name }} is ready",
            preheader=_BILL_PREHEADER,
            html_body=_email(
                lang="en",
                title="Your statement is ready",
                preheader=_BILL_PREHEADER,
                rows=(
                    _row(
                        '<h1 style="margin:0 0 8px;' + _FONT + 'font-size:24px;line-height:32px;color:#12201f;">'
                        "Your statement is ready</h1>",
                        "28px 32px 8px",
                    )
                    + _row('<p style="margin:0;">Hello {{ contact.first_name|name }},</p>')
                    + _row('<p style="margin:0;">Here is a summary of your latest statement:</p>')
                    + _row(_BILL_ITEMS, "8px 32px 16px")
                    + _row('<p style="margin:0;">Please pay by <strong>{{ event.due_date|date }}</strong>.</p>')
                    + _row(
                        '<p style="margin:0;">Questions about your bill? Reply to this email or call our '
                        "billing team; we are glad to help.</p>"
                    )
                    + _row('<p style="margin:0;">Thank you,<br>{{ org.name }}</p>', "8px 32px 28px")
                ),
                footer=(
                    "You receive this email because you have an account with {{ org.name }}. "
                    + _link("Email preferences", "{{ links.preferences }}")
                ),
            ),
            text_body=(
                "Hello {{ contact.first_name|name }},\n\n"
                "Here is a summary of your latest statement:\n\n"
                "{% for item in event.items %}\n"
                "- {{ item.description }}: {{ item.amount|money }}\n"
                "{% endfor %}\n"
                "Amount due: {{ event.amount_due|money }}\n\n"
                "Please pay by {{ event.due_date|date }}.\n\n"
                "Questions about your bill? Reply to this email or call our billing team; we are glad to help.\n\n"
                "Thank you,\n{{ org.name }}\n\n"
                "Email preferences: {{ links.preferences }}\n"
            ),
        ),
    ),
)

# --- Prescription renewal ------------------------------------------------------------------------

_RENEWAL_PREHEADER = "A prescription of yours is due for renewal."

PRESCRIPTION_RENEWAL = Starter(
    key="prescription_renewal",
    name="Prescription renewal",
    description="Tells a patient a prescription is due for renewal and who to contact.",
    purpose="care",
    default_language="en",
    contents=(
        ContentInput(
            language="en",
            subject="A prescription renewal reminder from {{ org.name }}",
            preheader=_RENEWAL_PREHEADER,
            html_body=_email(
                lang="en",
                title="Prescription renewal",
                preheader=_RENEWAL_PREHEADER,
                rows=(
                    _row(
                        '<h1 style="margin:0 0 8px;' + _FONT + 'font-size:24px;line-height:32px;color:#12201f;">'
                        "Time to renew your prescription</h1>",
                        "28px 32px 8px",
                    )
                    + _row('<p style="margin:0;">Hello {{ contact.first_name|name }},</p>')
                    + _row(
                        '<p style="margin:0;">Your prescription for <strong>{{ event.prescription_name }}</strong> '
                        "is due for renewal. To keep taking it without a gap, please contact "
                        "{{ event.provider_name }} before you run out.</p>"
                    )
                    + _row(
                        '<p style="margin:0;">If your treatment has changed or you no longer need this '
                        "medicine, you can ignore this message.</p>"
                    )
                    + _row('<p style="margin:0;">Take care,<br>{{ org.name }}</p>', "8px 32px 28px")
                ),
                footer=(
                    "You receive this email because {{ org.name }} looks after your care. "
                    + _link("Email preferences", "{{ links.preferences }}")
                ),
            ),
            text_body=(
                "Hello {{ contact.first_name|name }},\n\n"
                "Your prescription for {{ event.prescription_name }} is due for renewal. To keep taking it "
                "without a gap, please contact {{ event.provider_name }} before you run out.\n\n"
                "If your treatment has changed or you no longer need this medicine, you can ignore this message.\n\n"
                "Take care,\n{{ org.name }}\n\n"
                "Email preferences: {{ links.preferences }}\n"
            ),
        ),
    ),
)

# --- Newsletter ----------------------------------------------------------------------------------

_NEWSLETTER_PREHEADER = "Seasonal health tips and news from your clinic."


def _story(title: str, body: str) -> str:
    return _row(
        f'<h2 style="margin:0 0 6px;{_FONT}font-size:19px;line-height:26px;color:#0f5c55;">{title}</h2>'
        f'<p style="margin:0;">{body}</p>',
        "12px 32px",
    )


NEWSLETTER = Starter(
    key="newsletter",
    name="Newsletter",
    description="News and seasonal tips for everyone who opted in; no PHI, with unsubscribe links.",
    purpose="marketing",
    default_language="en",
    contents=(
        ContentInput(
            language="en",
            subject="News from {{ org.name }}",
            preheader=_NEWSLETTER_PREHEADER,
            html_body=_email(
                lang="en",
                title="News from your clinic",
                preheader=_NEWSLETTER_PREHEADER,
                rows=(
                    _row(
                        '<h1 style="margin:0 0 8px;' + _FONT + 'font-size:24px;line-height:32px;color:#12201f;">'
                        "This season at {{ org.name }}</h1>",
                        "28px 32px 8px",
                    )
                    + _row('<p style="margin:0;">Hello,</p>')
                    + _story(
                        "Flu vaccines are here",
                        "Vaccination is the best protection for you and the people around you. "
                        "Ask at your next visit or call us to book a short appointment.",
                    )
                    + _story(
                        "Longer opening hours",
                        "We now open early on Tuesdays and Thursdays, so you can see us before work.",
                    )
                    + _story(
                        "Staying well in winter",
                        "Keep moving, sleep well and wash your hands often. Small habits add up.",
                    )
                    + _row(_button("Choose what we send you", "{{ links.preferences }}"), "16px 32px 28px")
                ),
                footer=(
                    "You receive this newsletter because you asked for news from {{ org.name }}. "
                    + _link("Email preferences", "{{ links.preferences }}")
                    + " · "
                    + _link("Unsubscribe", "{{ links.unsubscribe }}")
                ),
            ),
            text_body=(
                "Hello,\n\n"
                "This season at {{ org.name }}\n\n"
                "Flu vaccines are here\n"
                "Vaccination is the best protection for you and the people around you. "
                "Ask at your next visit or call us to book a short appointment.\n\n"
                "Longer opening hours\n"
                "We now open early on Tuesdays and Thursdays, so you can see us before work.\n\n"
                "Staying well in winter\n"
                "Keep moving, sleep well and wash your hands often. Small habits add up.\n\n"
                "Choose what we send you: {{ links.preferences }}\n"
                "Unsubscribe: {{ links.unsubscribe }}\n"
            ),
        ),
    ),
)

# --- Blank ---------------------------------------------------------------------------------------

BLANK = Starter(
    key="blank",
    name="Blank",
    description="The shared layout with one paragraph to replace.",
    purpose="",
    default_language="en",
    contents=(
        ContentInput(
            language="en",
            subject="A message from {{ org.name }}",
            preheader="",
            html_body=_email(
                lang="en",
                title="A message from {{ org.name }}",
                preheader="",
                rows=_row('<p style="margin:0;">Write your message here.</p>', "28px 32px"),
                footer=(
                    _link("Email preferences", "{{ links.preferences }}")
                    + " · "
                    + _link("Unsubscribe", "{{ links.unsubscribe }}")
                ),
            ),
        ),
    ),
)

STARTERS: dict[str, Starter] = {
    starter.key: starter for starter in (BLANK, APPOINTMENT_REMINDER, BILL_READY, PRESCRIPTION_RENEWAL, NEWSLETTER)
}

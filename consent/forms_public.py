"""Forms of the recipients' pages: the hosted opt-in form and the preference centre, plus the
guards of the opt-in form (its signed ticket, the origin check and the rate limits)."""

from __future__ import annotations

import hashlib
from typing import cast
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core import signing
from django.http import HttpRequest

from consent.models import ConsentStatus, ContactPreferences, OptInForm
from consent.recipients import PreferenceCentre
from sealpost.window_counter import count_in_window
from segments.contacts import ContactInputError, normalise_email

TICKET_SALT = "sealpost.consent.optin-form-ticket"
TICKET_MAX_AGE = 24 * 3600
# Named so that browsers' autofill leaves it alone (autofill fills "website", "url", "name"...).
HONEYPOT_FIELD = "leave_blank"
EMAIL_MAX = 320


# --- The opt-in form ------------------------------------------------------------------------------


def form_ticket(form: OptInForm) -> str:
    """Signed (public id, version) of the form as shown: a submission is checked against the
    version the person read, which is what their consent is recorded against."""
    return signing.TimestampSigner(salt=TICKET_SALT).sign_object([form.public_id, form.version])


def ticket_matches(ticket: str, form: OptInForm) -> bool:
    try:
        value = signing.TimestampSigner(salt=TICKET_SALT).unsign_object(ticket, max_age=TICKET_MAX_AGE)
    except (signing.BadSignature, ValueError):
        return False
    return value == [form.public_id, form.version]


class OptInSubmissionForm(forms.Form):
    email = forms.CharField(
        label="Email address",
        max_length=EMAIL_MAX,
        error_messages={"required": "Enter your email address."},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    purposes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Tick at least one of the options."},
    )
    # The honeypot (HONEYPOT_FIELD): hidden from people and from assistive technology, filled
    # by naive bots.
    leave_blank = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: object, choices: list[tuple[str, str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        cast(forms.MultipleChoiceField, self.fields["purposes"]).choices = [(key, name) for key, name, _ in choices]
        self._purpose_rows = choices

    def purpose_rows(self) -> list[dict[str, object]]:
        """The purposes to tick, for the template (which writes its own accessible markup)."""
        selected = set(self.data.getlist("purposes")) if self.is_bound else set()  # type: ignore[attr-defined]
        return [
            {"key": key, "name": name, "description": description, "checked": key in selected, "number": number}
            for number, (key, name, description) in enumerate(self._purpose_rows, start=1)
        ]

    def clean_email(self) -> str:
        try:
            return normalise_email(self.cleaned_data["email"])
        except ContactInputError:
            raise forms.ValidationError("Enter a valid email address, like name@example.com.") from None

    @property
    def is_bot(self) -> bool:
        return bool(str(self.data.get(HONEYPOT_FIELD, "")).strip())


def same_origin(request: HttpRequest) -> bool:
    """The opt-in form's CSRF defence: it must work inside another site's iframe, where the
    browser sends no SameSite=Lax cookies, so Django's cookie-based check cannot apply. Every
    current browser sends ``Origin`` on a cross-origin POST; only our own pages may post here."""
    good = {f"{request.scheme}://{request.get_host()}", _origin(settings.SITE_URL)}
    good.update(_origin(origin) for origin in settings.CSRF_TRUSTED_ORIGINS)
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin in good
    referer = request.headers.get("Referer")
    return referer is None or _origin(referer) in good


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _count(key: str) -> int:
    return count_in_window(key, settings.CONSENT_OPTIN_RATE_WINDOW)


def submission_allowed(*, ip: str, form: OptInForm) -> bool:
    """Count one submission for the client's IP and for the form; False once either is over its
    limit for the window (CONSENT_OPTIN_RATE_PER_IP, CONSENT_OPTIN_RATE_PER_FORM)."""
    # Hashed, as authn.throttle does: the cache holds no client addresses.
    ip_key = hashlib.sha256((ip or "unknown").encode()).hexdigest()[:32]
    per_ip = _count(f"sealpost:optin:ip:{ip_key}")
    per_form = _count(f"sealpost:optin:form:{form.pk}")
    return per_ip <= settings.CONSENT_OPTIN_RATE_PER_IP and per_form <= settings.CONSENT_OPTIN_RATE_PER_FORM


# --- The preference centre ------------------------------------------------------------------------

# How a status reads to the recipient, and its colour.
STATUS_FOR_RECIPIENTS: dict[str, tuple[str, str]] = {
    ConsentStatus.GRANTED: ("Subscribed", "pill-ok"),
    ConsentStatus.PENDING: ("Waiting for your confirmation", "pill-muted"),
    ConsentStatus.REVOKED: ("Unsubscribed", "pill-muted"),
    ConsentStatus.NEVER_ASKED: ("Not subscribed", "pill-muted"),
}
SECURE_ONLY = "secure"
ORDINARY_EMAIL = "ordinary"


TRACKING_ALLOW = "allow"
TRACKING_OFF = "off"


class PreferenceForm(forms.Form):
    purposes = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    topics = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    frequency = forms.ChoiceField(choices=ContactPreferences.Frequency.choices, widget=forms.RadioSelect)
    delivery = forms.ChoiceField(
        choices=[
            (SECURE_ONLY, "Only over a verified encrypted connection, or through the secure portal (recommended)"),
            (ORDINARY_EMAIL, "By ordinary email, even when it is not encrypted"),
        ],
        widget=forms.RadioSelect,
    )
    warning_accepted = forms.BooleanField(
        required=False, label="I have read the warning above and accept the risk of ordinary email."
    )
    tracking = forms.ChoiceField(
        choices=[
            (TRACKING_ALLOW, "Yes: count when I open a message or follow one of its links"),
            (TRACKING_OFF, "No: do not track when I open messages or follow their links"),
        ],
        widget=forms.RadioSelect,
        required=False,
    )

    def __init__(self, *args: object, centre: PreferenceCentre, **kwargs: object) -> None:
        kwargs.setdefault(
            "initial",
            {
                "purposes": sorted(centre.granted),
                "topics": [t.key for t in centre.topics if t.key not in centre.preferences.topics_declined],
                "frequency": centre.preferences.frequency,
                "delivery": ORDINARY_EMAIL if centre.preferences.accepts_unencrypted_phi else SECURE_ONLY,
                "tracking": TRACKING_OFF if centre.tracking_opt_out else TRACKING_ALLOW,
            },
        )
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.centre = centre
        cast(forms.MultipleChoiceField, self.fields["purposes"]).choices = [
            (row.purpose.key, row.purpose.name) for row in centre.purposes if not row.purpose.is_archived
        ]
        cast(forms.MultipleChoiceField, self.fields["topics"]).choices = [
            (topic.key, topic.name) for topic in centre.topics
        ]

    def _selected(self, name: str) -> set[str]:
        if self.is_bound:
            return set(self.data.getlist(name))  # type: ignore[attr-defined]
        return set(self.initial.get(name, []))

    def purpose_rows(self) -> list[dict[str, object]]:
        selected = self._selected("purposes")
        rows = [row for row in self.centre.purposes if not row.purpose.is_archived]
        return [
            {
                "number": number,
                "key": row.purpose.key,
                "name": row.purpose.name,
                "description": row.purpose.description,
                "checked": row.purpose.key in selected,
                "status_label": STATUS_FOR_RECIPIENTS[row.status][0],
                "pill": STATUS_FOR_RECIPIENTS[row.status][1],
            }
            for number, row in enumerate(rows, start=1)
        ]

    def topic_rows(self) -> list[dict[str, object]]:
        selected = self._selected("topics")
        return [
            {"number": number, "key": topic.key, "name": topic.name, "checked": topic.key in selected}
            for number, topic in enumerate(self.centre.topics, start=1)
        ]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        already = self.centre.preferences.accepts_unencrypted_phi
        if cleaned.get("delivery") == ORDINARY_EMAIL and not already and not cleaned.get("warning_accepted"):
            self.add_error(
                "warning_accepted", "To choose ordinary email, tick the box to confirm you have read the warning."
            )
        return cleaned

"""Forms of the consent staff pages. They shape input only; the consent services decide what is
allowed and name what is missing (``attach_service_errors`` puts each of their messages on the
field it is about)."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms

from consent.models import AuthorisationText, MarketingAuthorisation
from consent.purposes import PurposeInfo
from consent.reports import DEFAULT_EXPIRING_WITHIN_DAYS, MAX_EXPIRING_WITHIN_DAYS
from consent.services import REMUNERATION_ELEMENT, REQUIRED_ELEMENTS, UNENCRYPTED_WARNING

STAFF_STATUSES = (("granted", "Granted"), ("revoked", "Revoked"))

# Which field a service refusal of an authorisation is about, by a phrase of its message
# (consent.services.marketing_authorisation_record); anything else goes above the form.
_AUTHORISATION_ERROR_FIELDS = (
    ("not a marketing purpose", "purpose"),
    ("authorisation text lacks", "text"),
    ("signature of the individual", "signature_name"),
    ("date it was signed", "signed_on"),
    ("signature date is in the future", "signed_on"),
    ("expiration date or event", "expires_on"),
    ("expiration date is before", "expires_on"),
    ("how the authorisation was signed", "signature_method"),
)


def authorisation_error_field(message: str) -> str | None:
    for phrase, name in _AUTHORISATION_ERROR_FIELDS:
        if phrase in message:
            return name
    return None


def attach_service_errors(form: forms.Form, messages: Iterable[str], field_of: dict[str, str] | None = None) -> None:
    """Add each service message to the form field it names (``field_of``: phrase -> field),
    else to the form as a whole."""
    for message in messages:
        name = None
        for phrase, candidate in (field_of or {}).items():
            if phrase in message and candidate in form.fields:
                name = candidate
                break
        form.add_error(name, message)


class ConsentStatusForm(forms.Form):
    purpose = forms.ChoiceField()
    status = forms.ChoiceField(choices=STAFF_STATUSES)

    def __init__(self, *args: object, purposes: list[PurposeInfo], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["purpose"].choices = [(p.key, p.name) for p in purposes]  # type: ignore[attr-defined]


class AuthorisationRecordForm(forms.Form):
    """Every field is optional here so that the service can name each missing element of the
    authorisation, as the regulation lists them, rather than "This field is required"."""

    text = forms.ChoiceField(label="Authorisation text (current version)", required=False)
    purpose = forms.ChoiceField(label="Marketing purpose", required=False)
    signature_name = forms.CharField(
        label="Name the individual signed with", max_length=200, required=False, widget=forms.TextInput()
    )
    signed_on = forms.DateField(label="Date signed", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    signature_method = forms.ChoiceField(
        label="How it was signed",
        choices=MarketingAuthorisation.SignatureMethod.choices,
        initial=MarketingAuthorisation.SignatureMethod.PAPER,
    )
    expires_on = forms.DateField(label="Expiry date", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    expiry_event = forms.CharField(
        label="…or expiry event",
        max_length=200,
        required=False,
        help_text="An event that ends the authorisation, such as the end of a programme. Give a date or an event.",
    )

    def __init__(
        self, *args: object, texts: list[AuthorisationText], purposes: list[PurposeInfo], **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["text"].choices = [("", "Choose a text")] + [  # type: ignore[attr-defined]
            (str(text.pk), f"{text.name} (version {text.version})") for text in texts
        ]
        self.fields["purpose"].choices = [("", "Choose a purpose")] + [  # type: ignore[attr-defined]
            (p.key, p.name) for p in purposes if p.is_marketing and not p.is_archived
        ]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("text"):
            self.add_error("text", "Choose the authorisation text the individual signed.")
        if not data.get("purpose"):
            self.add_error("purpose", "Choose the marketing purpose the authorisation is for.")
        return data


class UnencryptedEmailForm(forms.Form):
    accepts = forms.TypedChoiceField(
        label="The patient's choice",
        choices=(("yes", "Send PHI to them by ordinary email"), ("no", "Only encrypted delivery or the portal")),
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    warning_given = forms.BooleanField(
        required=False,
        label="I read the warning above to the patient (or gave it to them) and they accepted it",
    )
    warning = UNENCRYPTED_WARNING


class PurposeForm(forms.Form):
    key = forms.SlugField(
        max_length=64, help_text="Lower-case letters, digits, hyphens or underscores; it can never be reused."
    )
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_marketing = forms.BooleanField(
        required=False,
        label="Marketing under HIPAA",
        help_text="Sending for it needs a signed authorisation as well as consent.",
    )
    allows_phi = forms.BooleanField(
        required=False,
        label="Messages may carry PHI",
        help_text="Minimum necessary: templates for a purpose without it cannot use PHI merge fields.",
    )


class TopicForm(forms.Form):
    key = forms.SlugField(max_length=64, label="Topic key")
    name = forms.CharField(max_length=100, label="Topic name")
    purpose = forms.ChoiceField()

    def __init__(self, *args: object, purposes: list[PurposeInfo], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["purpose"].choices = [  # type: ignore[attr-defined]
            (p.key, p.name) for p in purposes if not p.is_archived
        ]


def _element_field(label: str) -> forms.CharField:
    return forms.CharField(
        required=False, label=label[:1].upper() + label[1:], widget=forms.Textarea(attrs={"rows": 3})
    )


class AuthorisationTextForm(forms.Form):
    """The required elements of 45 CFR 164.508(c), one field each. None is marked required
    here: the service refuses a text naming every missing element."""

    name = forms.CharField(max_length=100, required=False, help_text="A new name starts a new text at version 1.")
    information_description = _element_field(REQUIRED_ELEMENTS[0][1])
    disclosing_party = _element_field(REQUIRED_ELEMENTS[1][1])
    recipient_party = _element_field(REQUIRED_ELEMENTS[2][1])
    purpose_description = _element_field(REQUIRED_ELEMENTS[3][1])
    expiry_statement = _element_field(REQUIRED_ELEMENTS[4][1])
    revocation_statement = _element_field(REQUIRED_ELEMENTS[5][1])
    conditioning_statement = _element_field(REQUIRED_ELEMENTS[6][1])
    redisclosure_statement = _element_field(REQUIRED_ELEMENTS[7][1])
    involves_remuneration = forms.BooleanField(
        required=False,
        label="Involves remuneration",
        help_text="The organisation receives financial remuneration from a third party for this marketing.",
    )
    remuneration_statement = forms.CharField(
        required=False,
        label="Remuneration statement",
        help_text="Required when remuneration is involved: " + REMUNERATION_ELEMENT[1] + ".",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    # Each service message "The authorisation lacks <label>." -> the field holding that element.
    ERROR_FIELDS = {label: name for name, label in (*REQUIRED_ELEMENTS, REMUNERATION_ELEMENT)} | {"a name": "name"}


class SuppressionAddForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=320)


class ReportForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    expiring_within = forms.IntegerField(
        label="Authorisations expiring within (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRING_WITHIN_DAYS,
        widget=forms.NumberInput(attrs={"placeholder": str(DEFAULT_EXPIRING_WITHIN_DAYS)}),
    )

    def expiring_days(self) -> int:
        """The window asked for, if it was valid (whatever the other fields), else the default."""
        self.is_valid()
        value = self.cleaned_data.get("expiring_within") if hasattr(self, "cleaned_data") else None
        return int(value or DEFAULT_EXPIRING_WITHIN_DAYS)

"""Double opt-in from the hosted form: submission, the confirmation email, one-click
confirmation (single use, expiring), and what the form refuses (bots, floods, other sites)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.tests.helpers import events, head_seq
from authn.tests.mail import inbox  # noqa: F401 - fixture, used through ``mail``
from consent import optin as optin_module
from consent.forms_public import form_ticket
from consent.models import ConsentEvent, ConsentStatus, OptInRequest, Suppression
from consent.optin import Outcome, confirmation_secret, optin_confirm
from consent.services import Evidence, suppression_add
from consent.tests.public_support import grant, links_in, make_form, status_of
from consent.tests.support import STAFF
from segments.models import Contact
from tenants.context import tenant_context
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

ADDRESS = "new.person@patients.example.net"


@pytest.fixture
def mail(request):
    """The in-process SMTP server (``authn.tests.mail.inbox``), with Celery eager."""
    return request.getfixturevalue("inbox")


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://sealpost.example.org"


def _form_url(tenant, form):
    return reverse("consent_public:optin_form", args=[tenant.slug, form.public_id])


def _submit(client, tenant, form, email=ADDRESS, purposes=("appointment_reminders",), **extra):
    data = {"email": email, "purposes": list(purposes), "leave_blank": "", "ticket": form_ticket(form)}
    data.update(extra.pop("data", {}))
    return client.post(_form_url(tenant, form), data, **extra)


def _contact_by_email(tenant, email):
    from encryption.fields import blind_index_for

    with tenant_context(tenant):
        return Contact.objects.filter(email_index=blind_index_for(Contact, "email_index", tenant, email)).first()


def _requests(tenant):
    with tenant_context(tenant):
        return list(OptInRequest.objects.order_by("created_at"))


def _confirm_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_the_hosted_form_is_accessible_and_may_be_framed_by_https_sites(world):
    form = make_form(world.a.tenant)
    response = Client().get(_form_url(world.a.tenant, form))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<legend>What would you like to receive?</legend>" in body
    assert '<label for="optin-email">Email address</label>' in body
    assert 'aria-describedby="optin-purpose-1-help"' in body
    assert 'name="leave_blank"' in body and 'tabindex="-1"' in body
    assert "X-Frame-Options" not in response
    assert "frame-ancestors 'self' https:" in response["Content-Security-Policy"]
    # Other recipient pages stay unframeable.
    other = Client().get(reverse("consent_public:confirm", args=["1.nonsense-token-nonsense-token"]))
    assert "frame-ancestors 'none'" in other["Content-Security-Policy"]


def test_submitting_creates_a_pending_contact_and_emails_the_link(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    form = make_form(tenant)
    make_contact(tenant)  # the organisation's keys exist already
    seq = head_seq(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = _submit(
            Client(), tenant, form, purposes=["appointment_reminders", "marketing"], REMOTE_ADDR="203.0.113.9"
        )
    assert response.status_code == 200
    assert b"Check your email" in response.content
    contact = _contact_by_email(tenant, ADDRESS)
    assert contact is not None
    assert status_of(tenant, contact, "appointment_reminders") == ConsentStatus.PENDING
    assert status_of(tenant, contact, "marketing") == ConsentStatus.PENDING
    (request,) = _requests(tenant)
    assert request.purposes == ["appointment_reminders", "marketing"]
    assert request.form_version == f"{form.public_id}:v1"
    assert abs(request.expires_at - request.created_at - timedelta(hours=48)) < timedelta(seconds=5)
    secret = confirmation_secret(request)
    assert request.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in request.token_hash
    assert [action for action, _ in events(tenant, seq)] == [
        "contact.created",
        "consent.changed",
        "consent.changed",
        "consent.confirmation_requested",
    ]
    assert events(tenant, seq)[-1][1] == {
        "form_version": request.form_version,
        "purposes": ["appointment_reminders", "marketing"],
    }
    (message,) = mail.to(ADDRESS)
    assert message.to == ADDRESS
    links = links_in(message.body)
    assert links == [f"https://sealpost.example.org/r/confirm/{tenant.pk}.{secret}/"]
    with tenant_context(tenant):
        evidence = ConsentEvent.objects.filter(contact_id=contact.pk).first()
        assert (evidence.ip_address, evidence.form_version) == ("203.0.113.9", request.form_version)


def test_the_email_holds_nothing_beyond_what_the_recipient_typed(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    form = make_form(tenant)
    known = make_contact(tenant, email="Known.Patient@patients.example.net", first_name="Zelda", last_name="Quill")
    with django_capture_on_commit_callbacks(execute=True):
        _submit(Client(), tenant, form, email="Known.Patient@PATIENTS.example.net")
    (message,) = mail.to("Known.Patient@patients.example.net")
    text = message.message.as_string()
    for phi in ("Zelda", "Quill", known.external_id):
        assert phi not in text
    assert "Appointment reminders" in message.body
    assert tenant.name in message.subject
    assert "List-Unsubscribe" not in message.message
    assert len(links_in(message.body)) == 1


def test_the_response_is_the_same_for_new_known_and_subscribed_addresses(
    world, mail, django_capture_on_commit_callbacks
):
    tenant = world.a.tenant
    form = make_form(tenant)
    known = make_contact(tenant, email="known@patients.example.net")
    subscribed = make_contact(tenant, email="subscribed@patients.example.net")
    grant(tenant, subscribed, "appointment_reminders")
    responses = []
    with django_capture_on_commit_callbacks(execute=True):
        for email in (ADDRESS, known.email, subscribed.email):
            response = _submit(Client(), tenant, form, email=email)
            responses.append((response.status_code, response.content, sorted(response.cookies)))
    assert responses[0] == responses[1] == responses[2]
    # The already subscribed address gets no link and stays granted.
    assert mail.recipients() == sorted([ADDRESS, known.email])
    assert status_of(tenant, subscribed, "appointment_reminders") == ConsentStatus.GRANTED


def test_honeypot_submissions_look_accepted_and_store_nothing(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    form = make_form(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        human = _submit(Client(), tenant, form, email="human@patients.example.net")
        bot = _submit(Client(), tenant, form, data={"leave_blank": "http://spam.example"})
    assert (bot.status_code, bot.content) == (human.status_code, human.content)
    assert _contact_by_email(tenant, ADDRESS) is None
    assert mail.recipients() == ["human@patients.example.net"]


def test_submissions_are_rate_limited_per_ip_and_per_form(world, settings):
    tenant = world.a.tenant
    form = make_form(tenant)
    settings.CONSENT_OPTIN_RATE_PER_IP = 2
    settings.CONSENT_OPTIN_RATE_PER_FORM = 3
    client = Client()
    assert _submit(client, tenant, form, email="a1@patients.example.net", REMOTE_ADDR="192.0.2.1").status_code == 200
    assert _submit(client, tenant, form, email="a2@patients.example.net", REMOTE_ADDR="192.0.2.1").status_code == 200
    refused = _submit(client, tenant, form, email="a3@patients.example.net", REMOTE_ADDR="192.0.2.1")
    assert refused.status_code == 429
    assert _contact_by_email(tenant, "a3@patients.example.net") is None
    # Another IP may still send, until the form's own limit.
    assert _submit(client, tenant, form, email="b1@patients.example.net", REMOTE_ADDR="192.0.2.2").status_code == 429
    assert _contact_by_email(tenant, "b1@patients.example.net") is None


def test_one_address_gets_a_limited_number_of_links(world, settings, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    form = make_form(tenant)
    settings.CONSENT_OPTIN_EMAILS_PER_ADDRESS = 2
    with django_capture_on_commit_callbacks(execute=True):
        pages = {_submit(Client(), tenant, form, REMOTE_ADDR=f"192.0.2.{n}").content for n in range(4)}
    assert len(pages) == 1
    assert len(mail.to(ADDRESS)) == 2


def test_posts_from_other_sites_are_refused(world):
    tenant = world.a.tenant
    form = make_form(tenant)
    response = _submit(Client(), tenant, form, HTTP_ORIGIN="https://evil.example.com")
    assert response.status_code == 403
    response = _submit(Client(), tenant, form, HTTP_ORIGIN="null")
    assert response.status_code == 403
    response = _submit(Client(), tenant, form, HTTP_REFERER="https://evil.example.com/page")
    assert response.status_code == 403
    assert _contact_by_email(tenant, ADDRESS) is None
    ok = _submit(Client(), tenant, form, HTTP_ORIGIN="http://testserver")
    assert ok.status_code == 200


def test_a_form_changed_since_it_was_opened_is_shown_again(world):
    tenant = world.a.tenant
    form = make_form(tenant)
    old_ticket = form_ticket(form)
    from consent.optin import OptInFormInput, optin_form_update

    with tenant_context(tenant):
        form = optin_form_update(
            tenant=tenant,
            actor=STAFF,
            form=form,
            data=OptInFormInput("Website sign-up", "New heading", "", ["appointment_reminders"]),
        )
    response = _submit(Client(), tenant, form, data={"ticket": old_ticket})
    assert response.status_code == 400
    assert b"This form has changed since you opened it" in response.content
    assert b"New heading" in response.content
    assert _contact_by_email(tenant, ADDRESS) is None


def test_bad_input_is_explained_next_to_the_field(world):
    tenant = world.a.tenant
    form = make_form(tenant)
    response = _submit(Client(), tenant, form, email="not-an-address", purposes=[])
    assert response.status_code == 400
    body = response.content.decode()
    assert 'aria-describedby="optin-email-error"' in body and 'id="optin-email-error"' in body
    assert 'aria-describedby="optin-purposes-error"' in body and "Tick at least one" in body
    other = _submit(Client(), tenant, form, purposes=["billing"])  # not offered by this form
    assert other.status_code == 400
    assert _contact_by_email(tenant, ADDRESS) is None


def test_unknown_or_inactive_forms_and_organisations_are_not_found(world):
    tenant = world.a.tenant
    form = make_form(tenant, is_active=False)
    assert Client().get(_form_url(tenant, form)).status_code == 404
    active = make_form(tenant)
    assert (
        Client().get(reverse("consent_public:optin_form", args=[world.b.tenant.slug, active.public_id])).status_code
        == 404
    )
    assert Client().get(reverse("consent_public:optin_form", args=["no-such-org", active.public_id])).status_code == 404


# --- Confirmation ---------------------------------------------------------------------------------


def _submitted(tenant, mail, capture, **kwargs):
    form = make_form(tenant)
    with capture(execute=True):
        _submit(Client(), tenant, form, **kwargs)
    (message,) = mail.to(kwargs.get("email", ADDRESS))
    (link,) = links_in(message.body)
    return form, _confirm_path(link)


def test_get_shows_a_self_submitting_page_and_changes_nothing(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    _, path = _submitted(tenant, mail, django_capture_on_commit_callbacks)
    seq = head_seq(tenant)
    response = Client().get(path)
    assert response.status_code == 200
    body = response.content.decode()
    assert "data-autosubmit-confirm" in body and 'method="post"' in body
    assert "/static/consent/js/confirm.js" in body
    assert "<script>" not in body  # no inline script: the CSP allows only our own files
    assert status_of(tenant, _contact_by_email(tenant, ADDRESS), "appointment_reminders") == ConsentStatus.PENDING
    assert events(tenant, seq) == []
    assert response["Referrer-Policy"] == "same-origin"  # the token never goes to another site


def test_post_confirms_once_with_evidence(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    form, path = _submitted(tenant, mail, django_capture_on_commit_callbacks)
    contact = _contact_by_email(tenant, ADDRESS)
    seq = head_seq(tenant)
    client = Client(enforce_csrf_checks=True)
    response = client.post(path, HTTP_USER_AGENT="PatientBrowser/2.0", REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 200
    assert b"Subscription confirmed" in response.content
    assert b"/r/preferences/" in response.content
    assert status_of(tenant, contact, "appointment_reminders") == ConsentStatus.GRANTED
    assert events(tenant, seq) == [
        (
            "consent.changed",
            {"purpose": "appointment_reminders", "from": "pending", "to": "granted", "source": "form"},
        ),
        ("consent.optin_confirmed", {"form_version": form.form_version, "purposes": ["appointment_reminders"]}),
    ]
    with tenant_context(tenant):
        granted = ConsentEvent.objects.filter(contact_id=contact.pk, to_status="granted").get()
        assert (granted.ip_address, granted.user_agent, granted.form_version) == (
            "203.0.113.50",
            "PatientBrowser/2.0",
            form.form_version,
        )
        assert OptInRequest.objects.get().confirmed_at is not None
    # Used again: a clear page, and nothing changes.
    seq = head_seq(tenant)
    again = client.post(path)
    assert again.status_code == 200
    assert b"Already confirmed" in again.content
    assert b"<h1>Already confirmed</h1>" in Client().get(path).content
    assert events(tenant, seq) == []


def test_confirming_concurrently_grants_once(world, mail, django_capture_on_commit_callbacks, monkeypatch):
    """The claim is a compare-and-set on confirmed_at: a second click that passed the first
    check before the first click wrote confirmed_at still finds the request taken."""
    tenant = world.a.tenant
    _, path = _submitted(tenant, mail, django_capture_on_commit_callbacks)
    token = path.rstrip("/").rsplit("/", 1)[1]
    with tenant_context(tenant):
        first = optin_confirm(tenant=tenant, token=token, evidence=Evidence())
        assert first.outcome == Outcome.CONFIRMED
        stale = optin_module.ConfirmResult(Outcome.PENDING, first.request)
        real_state = optin_module.optin_request_state
        calls = iter([stale])
        monkeypatch.setattr(optin_module, "optin_request_state", lambda **kw: next(calls, None) or real_state(**kw))
        seq = head_seq(tenant)
        second = optin_confirm(tenant=tenant, token=token, evidence=Evidence())
    assert second.outcome == Outcome.ALREADY_CONFIRMED
    assert events(tenant, seq) == []


def test_an_expired_link_changes_nothing_and_offers_the_form_again(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    form, path = _submitted(tenant, mail, django_capture_on_commit_callbacks)
    with tenant_context(tenant):
        OptInRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    seq = head_seq(tenant)
    response = Client().post(path)
    assert response.status_code == 410
    assert b"This confirmation link has expired" in response.content
    assert f"https://sealpost.example.org{_form_url(tenant, form)}".encode() in response.content
    assert status_of(tenant, _contact_by_email(tenant, ADDRESS), "appointment_reminders") == ConsentStatus.PENDING
    assert events(tenant, seq) == []


def test_tampered_and_foreign_confirmation_tokens_are_refused(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    _, path = _submitted(tenant, mail, django_capture_on_commit_callbacks)
    token = path.rstrip("/").rsplit("/", 1)[1]
    tenant_id, secret = token.split(".")
    altered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in (f"{tenant_id}.{altered}", f"{world.b.tenant.pk}.{secret}", f"999999.{secret}", secret, "x"):
        response = Client().post(reverse("consent_public:confirm", args=[bad]))
        assert response.status_code == 404, bad
    assert status_of(tenant, _contact_by_email(tenant, ADDRESS), "appointment_reminders") == ConsentStatus.PENDING


def test_confirming_lifts_an_earlier_unsubscribe_from_everything(world, mail, django_capture_on_commit_callbacks):
    tenant = world.a.tenant
    contact = make_contact(tenant, email=ADDRESS)
    with tenant_context(tenant):
        suppression_add(tenant=tenant, actor=STAFF, email=ADDRESS, reason="unsubscribed")
        suppression_add(tenant=tenant, actor=STAFF, email=ADDRESS, reason="hard_bounce")
    _, path = _submitted(tenant, mail, django_capture_on_commit_callbacks)
    seq = head_seq(tenant)
    assert Client().post(path).status_code == 200
    with tenant_context(tenant):
        assert list(Suppression.objects.filter(email_index=contact.email_index).values_list("reason", flat=True)) == [
            "hard_bounce"
        ]
    assert events(tenant, seq)[-1] == ("suppression.removed", {"reason": "unsubscribed", "source": "form"})


def test_the_email_task_is_queued_after_commit_with_ids_only(world, monkeypatch, django_capture_on_commit_callbacks):
    from consent.tasks import optin_confirmation_email_task

    tenant = world.a.tenant
    form = make_form(tenant)
    queued = []
    monkeypatch.setattr(optin_confirmation_email_task, "delay", lambda *args, **kwargs: queued.append((args, kwargs)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _submit(Client(), tenant, form)
    assert queued == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()
    (request,) = _requests(tenant)
    assert queued == [((tenant.pk, str(request.pk)), {})]

"""The recipient portal's pages and services: state pages, one-time codes (single use, expiry,
lock), the browser binding, the shared secret, reading, links and replies, and tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.tests.helpers import actions, events, head_seq
from encryption import portal
from encryption.escrow import escrow_retract, escrow_settings_for, new_token
from encryption.models import EscrowAccess, EscrowCode, EscrowedMessage, EscrowReply
from encryption.tests.escrow_support import PHI_TEXT, make_escrowed
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db


# --- Helpers --------------------------------------------------------------------------------------


def start_url(token: str) -> str:
    return f"/secure/{token}/"


def code_for(fixture, escrow) -> str:
    """A code as the task would mail it (the task itself runs in test_portal_mail)."""
    with tenant_context(fixture.tenant):
        slot = portal.code_request(tenant=fixture.tenant, escrow=escrow)
        issued = portal.code_issue(tenant=fixture.tenant, escrow_id=escrow.pk, code_id=slot.pk)
    assert issued is not None
    return issued[1]


def opened(client, token: str):
    """The start page, as a recipient's browser first loads it (it gets the portal cookie)."""
    response = client.get(start_url(token))
    assert response.status_code == 200
    return response


def verify(client, fixture, stored) -> None:
    opened(client, stored.token)
    code = code_for(fixture, stored.escrow)
    response = client.post(f"{start_url(stored.token)}code/", {"code": code})
    assert response.status_code == 303, response.content
    assert response["Location"] == f"{start_url(stored.token)}message/"


def reload(fixture, escrow) -> EscrowedMessage:
    with tenant_context(fixture.tenant):
        return EscrowedMessage.objects.for_tenant(fixture.tenant).get(pk=escrow.pk)


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# --- State pages ----------------------------------------------------------------------------------


def test_unknown_and_malformed_tokens_show_the_not_valid_page(world, client):
    stored = make_escrowed(world.a)
    for token in (
        "nope",
        new_token(world.a.tenant),  # well formed, never issued
        stored.token[:-1] + ("A" if stored.token[-1] != "A" else "B"),  # one character off
        stored.token + "x",
    ):
        response = client.get(start_url(token))
        assert response.status_code == 404, token
        assert b"This link is not valid" in response.content
        assert b"Sunrise" not in response.content


def test_the_start_page_names_the_organisation_and_a_masked_address_only(world, client):
    stored = make_escrowed(world.a, email="quilla@patients-plain.example")
    seq = head_seq(world.a.tenant)
    response = opened(client, stored.token)
    page = response.content.decode()
    assert world.a.tenant.name in page and "Sunrise Family Clinic" in page
    assert "q•••@p•••.example" in page
    assert "quilla@" not in page and "patients-plain" not in page
    assert "Lab results" not in page and "Quilla" not in page and "HbA1c" not in page
    assert "We'll send a one-time code to the address this message was sent to" in page
    assert "Use your passkey" not in page
    assert response["Cache-Control"] == "no-store"
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "img-src 'self' data:" in csp
    cookie = response.cookies[portal.PORTAL_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/secure/"
    assert actions(world.a.tenant, seq) == ["escrow.portal_opened"]
    assert reload(world.a, stored.escrow).first_opened_at is not None
    opened(client, stored.token)  # only the first opening is recorded
    assert actions(world.a.tenant, seq) == ["escrow.portal_opened"]


def test_expired_messages_show_a_clear_page_and_no_content(world, client):
    stored = make_escrowed(world.a)
    with tenant_context(world.a.tenant):
        EscrowedMessage.objects.for_tenant(world.a.tenant).filter(pk=stored.escrow.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    for path in ("", "code/", "message/"):
        response = client.get(f"{start_url(stored.token)}{path}")
        assert response.status_code == 410
        assert b"This message has expired" in response.content
        assert b"HbA1c" not in response.content


def test_a_retracted_message_old_token_shows_the_withdrawn_page(world, client):
    stored = make_escrowed(world.a)
    verify(client, world.a, stored)
    with tenant_context(world.a.tenant):
        escrow_retract(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], escrow=stored.escrow)
    response = client.get(f"{start_url(stored.token)}message/")
    assert response.status_code == 410
    assert b"This message was withdrawn" in response.content and b"HbA1c" not in response.content


def test_a_locked_message_says_so_and_sends_no_code(world, client, django_capture_on_commit_callbacks):
    stored = make_escrowed(world.a)
    with tenant_context(world.a.tenant):
        EscrowedMessage.objects.for_tenant(world.a.tenant).filter(pk=stored.escrow.pk).update(locked_at=timezone.now())
    response = client.get(start_url(stored.token))
    assert response.status_code == 403 and b"This message is locked" in response.content
    assert b"contact" in response.content
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"{start_url(stored.token)}send-code/")
    assert response.status_code == 403 and callbacks == []


# --- Codes ----------------------------------------------------------------------------------------


def test_send_code_queues_a_task_with_ids_only(world, client, monkeypatch, django_capture_on_commit_callbacks):
    stored = make_escrowed(world.a)
    sent = []
    monkeypatch.setattr("encryption.portal_tasks.send_portal_code_task.delay", lambda *args: sent.append(args))
    opened(client, stored.token)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{start_url(stored.token)}send-code/")
    assert response.status_code == 303 and response["Location"] == f"{start_url(stored.token)}code/"
    with tenant_context(world.a.tenant):
        slot = EscrowCode.objects.for_tenant(world.a.tenant).get(escrow_id=stored.escrow.pk)
    assert sent == [(world.a.tenant.pk, str(stored.escrow.pk), str(slot.pk))]
    assert slot.code_hash == "" and slot.expires_at - slot.created_at <= portal.CODE_TTL + timedelta(seconds=1)


def test_the_code_is_stored_only_as_a_keyed_hash(world):
    stored = make_escrowed(world.a)
    code = code_for(world.a, stored.escrow)
    assert len(code) == portal.CODE_DIGITS and code.isdigit()
    with tenant_context(world.a.tenant):
        row = EscrowCode.objects.for_tenant(world.a.tenant).get(escrow_id=stored.escrow.pk)
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.code_hash == portal.code_hash(stored.escrow, code)
    other = make_escrowed(world.a, email="other@patients-plain.example")
    assert portal.code_hash(other.escrow, code) != row.code_hash  # bound to its message


def test_a_right_code_opens_the_message_and_is_audited(world, client):
    stored = make_escrowed(world.a)
    seq = head_seq(world.a.tenant)
    verify(client, world.a, stored)
    response = client.get(f"{start_url(stored.token)}message/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your lab results from Dr. Rowan Demoway" in page and "HbA1c was 7.9%" in page
    assert [a for a in actions(world.a.tenant, seq) if a != "escrow.code_sent"] == [
        "escrow.portal_opened",
        "escrow.verified",
        "escrow.read",
    ]
    escrow = reload(world.a, stored.escrow)
    assert escrow.read_at is not None and escrow.failed_attempts == 0
    with tenant_context(world.a.tenant):
        access = EscrowAccess.objects.for_tenant(world.a.tenant).get(escrow_id=stored.escrow.pk)
    cookie = client.cookies[portal.PORTAL_COOKIE].value
    assert access.browser_hash == portal.browser_hash(cookie) and cookie not in access.browser_hash
    assert access.method == "code" and access.secret_confirmed
    client.get(f"{start_url(stored.token)}message/")
    assert actions(world.a.tenant, seq).count("escrow.read") == 1
    # The start page now leads straight to the message.
    assert client.get(start_url(stored.token))["Location"] == f"{start_url(stored.token)}message/"


def test_the_message_page_needs_proof_in_this_browser(world, client):
    stored = make_escrowed(world.a)
    opened(client, stored.token)
    response = client.get(f"{start_url(stored.token)}message/")
    assert response.status_code == 303 and response["Location"] == start_url(stored.token)
    assert reload(world.a, stored.escrow).read_at is None


def test_access_is_bound_to_the_browser_that_proved_it(world, client, django_user_model):
    from django.test import Client

    stored = make_escrowed(world.a)
    verify(client, world.a, stored)
    other_browser = Client()
    opened(other_browser, stored.token)
    response = other_browser.get(f"{start_url(stored.token)}message/")
    assert response.status_code == 303 and response["Location"] == start_url(stored.token)
    # A copied cookie value that was never granted opens nothing either.
    other_browser.cookies[portal.PORTAL_COOKIE] = portal.new_browser_token()
    assert other_browser.get(f"{start_url(stored.token)}message/").status_code == 303


def test_access_expires(world, client):
    stored = make_escrowed(world.a)
    verify(client, world.a, stored)
    with tenant_context(world.a.tenant):
        EscrowAccess.objects.for_tenant(world.a.tenant).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"{start_url(stored.token)}message/").status_code == 303


def test_a_code_is_single_use(world, client):
    from django.test import Client

    stored = make_escrowed(world.a)
    opened(client, stored.token)
    code = code_for(world.a, stored.escrow)
    assert client.post(f"{start_url(stored.token)}code/", {"code": code}).status_code == 303
    second = Client()
    opened(second, stored.token)
    response = second.post(f"{start_url(stored.token)}code/", {"code": code})
    assert response.status_code == 400 and portal.WRONG_CODE.encode() in response.content.replace(b"&#x27;", b"'")
    assert reload(world.a, stored.escrow).failed_attempts == 1


def test_an_expired_code_is_refused(world, client):
    stored = make_escrowed(world.a)
    opened(client, stored.token)
    code = code_for(world.a, stored.escrow)
    with tenant_context(world.a.tenant):
        EscrowCode.objects.for_tenant(world.a.tenant).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post(f"{start_url(stored.token)}code/", {"code": code})
    assert response.status_code == 400
    assert client.get(f"{start_url(stored.token)}message/").status_code == 303


def test_codes_are_accepted_with_spaces(world, client):
    stored = make_escrowed(world.a)
    opened(client, stored.token)
    code = code_for(world.a, stored.escrow)
    response = client.post(f"{start_url(stored.token)}code/", {"code": f" {code[:3]} {code[3:]} "})
    assert response.status_code == 303


def test_wrong_codes_lock_the_message_at_the_limit(world, client):
    stored = make_escrowed(world.a)
    opened(client, stored.token)
    code = code_for(world.a, stored.escrow)
    seq = head_seq(world.a.tenant)
    for attempt in range(1, portal.MAX_FAILED_ATTEMPTS):
        response = client.post(f"{start_url(stored.token)}code/", {"code": wrong_code(code)})
        assert response.status_code == 400
        assert reload(world.a, stored.escrow).failed_attempts == attempt
    response = client.post(f"{start_url(stored.token)}code/", {"code": "not a code"})
    assert response.status_code == 403 and b"This message is locked" in response.content
    assert reload(world.a, stored.escrow).locked_at is not None
    recorded = events(world.a.tenant, seq)
    assert [a for a, _ in recorded] == ["escrow.code_failed"] * portal.MAX_FAILED_ATTEMPTS + ["escrow.locked"]
    assert recorded[0][1] == {"kind": "code", "attempt": 1}
    # The right code no longer helps; nothing is shown.
    response = client.post(f"{start_url(stored.token)}code/", {"code": code})
    assert response.status_code == 403
    assert client.get(f"{start_url(stored.token)}message/").status_code == 403


def test_every_wrong_code_gets_the_same_answer(world, client):
    stored = make_escrowed(world.a)
    opened(client, stored.token)
    code = code_for(world.a, stored.escrow)
    expired_code = code_for(world.a, stored.escrow)
    with tenant_context(world.a.tenant):
        EscrowCode.objects.for_tenant(world.a.tenant).filter(
            code_hash=portal.code_hash(stored.escrow, expired_code)
        ).update(expires_at=timezone.now() - timedelta(seconds=1))
    answers = set()
    for value in (wrong_code(code), expired_code, "12"):
        response = client.post(f"{start_url(stored.token)}code/", {"code": value})
        page = response.content.decode()
        alert = page[page.index('role="alert"') : page.index("</p>", page.index('role="alert"'))]
        answers.add((response.status_code, alert))
    assert len(answers) == 1, answers


def test_codes_are_rate_limited(world, client, monkeypatch):
    stored = make_escrowed(world.a)
    monkeypatch.setattr("encryption.portal_tasks.send_portal_code_task.delay", lambda *args: None)
    opened(client, stored.token)
    for _ in range(portal.CODES_PER_HOUR):
        assert client.post(f"{start_url(stored.token)}send-code/").status_code == 303
    response = client.post(f"{start_url(stored.token)}send-code/")
    assert response.status_code == 429 and b"several codes in the last hour" in response.content
    with tenant_context(world.a.tenant):
        assert EscrowCode.objects.for_tenant(world.a.tenant).count() == portal.CODES_PER_HOUR


def test_a_code_needs_the_portal_cookie(world, client):
    stored = make_escrowed(world.a)
    code = code_for(world.a, stored.escrow)
    response = client.post(f"{start_url(stored.token)}code/", {"code": code})  # no start page: no cookie
    assert response.status_code == 400 and b"cookie" in response.content
    assert reload(world.a, stored.escrow).failed_attempts == 0


# --- The shared secret ----------------------------------------------------------------------------


def _with_secret(fixture, stored, field="attributes.birth_date", value="1980-04-23"):
    with tenant_context(fixture.tenant):
        row = escrow_settings_for(tenant=fixture.tenant)
        row.shared_secret_field = field
        row.shared_secret_prompt = "Your date of birth"
        row.save()
        contact = stored.escrow.contact
        contact.attributes = {**(contact.attributes or {}), "birth_date": value}
        contact.save()


def test_the_shared_secret_is_asked_after_the_code(world, client):
    stored = make_escrowed(world.a)
    _with_secret(world.a, stored)
    opened(client, stored.token)
    seq = head_seq(world.a.tenant)
    response = client.post(f"{start_url(stored.token)}code/", {"code": code_for(world.a, stored.escrow)})
    assert response["Location"] == f"{start_url(stored.token)}check/"
    assert "escrow.verified" not in actions(world.a.tenant, seq)
    # Not yet readable, and the start page leads back to the question.
    assert client.get(f"{start_url(stored.token)}message/").status_code == 303
    assert client.get(start_url(stored.token))["Location"] == f"{start_url(stored.token)}check/"
    page = client.get(f"{start_url(stored.token)}check/").content.decode()
    assert '<label for="answer">Your date of birth</label>' in page and "1980" not in page
    response = client.post(f"{start_url(stored.token)}check/", {"answer": "23 April 1980"})
    assert response.status_code == 303 and response["Location"] == f"{start_url(stored.token)}message/"
    assert client.get(f"{start_url(stored.token)}message/").status_code == 200
    assert actions(world.a.tenant, seq)[-2:] == ["escrow.verified", "escrow.read"]


@pytest.mark.parametrize(
    "answer", ["1980-04-23", "04/23/1980", "23/04/1980", "23.04.1980", "April 23, 1980", " 1980-04-23 "]
)
def test_dates_match_in_common_formats(answer):
    assert portal.answers_match("1980-04-23", answer)


@pytest.mark.parametrize(("expected", "given", "match"), [
    ("EXT-00042", "ext-00042", True),
    ("EXT-00042", " EXT - 00042 ", True),
    ("EXT-00042", "EXT-00043", False),
    ("1980-04-23", "1980-04-24", False),
    ("", "", False),
    ("1980-04-23", "", False),
])  # fmt: skip
def test_answers_are_compared_case_and_space_insensitively(expected, given, match):
    assert portal.answers_match(expected, given) is match


def test_wrong_answers_count_toward_the_same_lock(world, client):
    stored = make_escrowed(world.a)
    _with_secret(world.a, stored)
    opened(client, stored.token)
    first_code = code_for(world.a, stored.escrow)
    client.post(f"{start_url(stored.token)}code/", {"code": wrong_code(first_code)})  # 1
    client.post(f"{start_url(stored.token)}code/", {"code": first_code})  # right: no reset before the secret
    for _ in range(3):  # 2, 3, 4
        response = client.post(f"{start_url(stored.token)}check/", {"answer": "1 January 1990"})
        assert response.status_code == 400 and b"does not match our records" in response.content
    assert reload(world.a, stored.escrow).failed_attempts == 4
    response = client.post(f"{start_url(stored.token)}check/", {"answer": "1990-01-01"})  # 5
    assert response.status_code == 403 and b"This message is locked" in response.content
    assert client.post(f"{start_url(stored.token)}check/", {"answer": "1980-04-23"}).status_code == 403
    assert client.get(f"{start_url(stored.token)}message/").status_code == 403


def test_the_secret_step_needs_a_code_first(world, client):
    stored = make_escrowed(world.a)
    _with_secret(world.a, stored)
    opened(client, stored.token)
    response = client.post(f"{start_url(stored.token)}check/", {"answer": "1980-04-23"})
    assert response.status_code == 303 and response["Location"] == start_url(stored.token)
    assert reload(world.a, stored.escrow).failed_attempts == 0


def test_a_contact_field_can_be_the_secret(world, client):
    stored = make_escrowed(world.a)
    with tenant_context(world.a.tenant):
        external_id = stored.escrow.contact.external_id
    _with_secret(world.a, stored, field="contact.external_id")
    opened(client, stored.token)
    client.post(f"{start_url(stored.token)}code/", {"code": code_for(world.a, stored.escrow)})
    verify_response = client.post(f"{start_url(stored.token)}check/", {"answer": external_id.lower()})
    assert verify_response.status_code == 303
    assert client.get(f"{start_url(stored.token)}message/").status_code == 200


# --- The message page, links, replies -------------------------------------------------------------


def test_the_message_is_sanitised_with_no_remote_content(world, client):
    html = (
        "<p>Hello</p><script>document.title='x'</script>"
        '<img src="https://tracker.example.net/p.gif" alt="pixel"><img src="data:image/png;base64,iVBORw0KGgo=" alt="ok">'
        '<p style="color: red; background: url(https://tracker.example.net/bg.png)">Styled</p>'
        '<a href="https://clinic.example.org/labs" onclick="steal()">Lab guide</a>'
        '<a href="javascript:alert(1)">bad</a><link rel="stylesheet" href="https://cdn.example.net/x.css">'
    )
    stored = make_escrowed(world.a, html=html)
    verify(client, world.a, stored)
    response = client.get(f"{start_url(stored.token)}message/")
    page = response.content.decode()
    assert "tracker.example.net" not in page and "cdn.example.net" not in page
    assert "<script>document" not in page and "onclick" not in page and "javascript:" not in page
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in page and "color: red" in page
    assert "clinic.example.org" not in page  # the target is never in our page or URL
    assert f'href="{start_url(stored.token)}link/0/"' in page and "Lab guide" in page
    csp = response["Content-Security-Policy"]
    assert "img-src 'self' data:" in csp and "style-src-attr 'unsafe-inline'" in csp
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "Print this message" in page and "Reply securely" in page


def test_the_interstitial_looks_the_link_up_by_position(world, client):
    stored = make_escrowed(world.a)  # PHI_HTML: one link, to clinic.example.org/labs
    verify(client, world.a, stored)
    response = client.get(f"{start_url(stored.token)}link/0/")
    page = response.content.decode()
    assert response.status_code == 200 and response["Referrer-Policy"] == "no-referrer"
    assert "You are leaving the secure message centre" in page and "clinic.example.org" in page
    assert 'href="https://clinic.example.org/labs"' in page
    assert client.get(f"{start_url(stored.token)}link/1/").status_code == 404
    # Without proof in this browser, no link is resolved.
    from django.test import Client

    stranger = Client()
    assert stranger.get(f"{start_url(stored.token)}link/0/").status_code == 303


def test_a_text_only_message_is_shown(world, client):
    stored = make_escrowed(world.a, html="")
    verify(client, world.a, stored)
    page = client.get(f"{start_url(stored.token)}message/").content.decode()
    assert "HbA1c was 7.9%" in page and "metformin" in page


def test_a_reply_is_stored_encrypted_and_the_staff_are_told_without_phi(
    world, client, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    from sealpost.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    stored = make_escrowed(world.a)
    verify(client, world.a, stored)
    seq = head_seq(world.a.tenant)
    reply_text = "Thank you, Dr. Demoway. Can I lower my metformin dose? My HbA1c worries me."
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{start_url(stored.token)}reply/", {"body": reply_text})
    assert response.status_code == 303 and response["Location"].endswith("message/?sent=1#reply")
    with tenant_context(world.a.tenant):
        reply = EscrowReply.objects.for_tenant(world.a.tenant).get(escrow_id=stored.escrow.pk)
        assert reply.body == reply_text and reply.contact_id == stored.escrow.contact_id
        with connection.cursor() as cursor:
            cursor.execute("SELECT body FROM encryption_escrowreply WHERE id = %s", [reply.pk])
            raw = bytes(cursor.fetchone()[0])
    assert b"metformin" not in raw and b"Demoway" not in raw
    assert events(world.a.tenant, seq) == [("escrow.reply_sent", {"reply": str(reply.pk)})]
    staff = sorted(mail.to[0] for mail in mailoutbox)
    assert staff == sorted([world.a.users[Role.ADMIN].email, world.a.users[Role.COMPLIANCE_OFFICER].email])
    for mail in mailoutbox:
        text = f"{mail.subject}\n{mail.body}"
        for phi in ("metformin", "HbA1c", "Quilla", "Synthetica", "quilla@", "lab results", "Demoway"):
            assert phi.lower() not in text.lower()
        assert "/encryption/escrow/replies/" in mail.body
    page = client.get(response["Location"]).content.decode()
    assert "Your reply was sent securely" in page


def test_an_empty_reply_is_refused(world, client):
    stored = make_escrowed(world.a)
    verify(client, world.a, stored)
    response = client.post(f"{start_url(stored.token)}reply/", {"body": "   "})
    assert response.status_code == 400 and b"Write your reply" in response.content
    with tenant_context(world.a.tenant):
        assert not EscrowReply.objects.for_tenant(world.a.tenant).exists()


def test_a_reply_needs_proof_in_this_browser(world, client):
    stored = make_escrowed(world.a)
    opened(client, stored.token)
    response = client.post(f"{start_url(stored.token)}reply/", {"body": "Hello"})
    assert response.status_code == 303
    with tenant_context(world.a.tenant):
        assert not EscrowReply.objects.for_tenant(world.a.tenant).exists()


# --- Tokens and tenants ---------------------------------------------------------------------------


def test_a_token_naming_another_tenant_with_this_random_part_opens_nothing(world, client):
    import base64

    from sealpost.leb128 import encode as _leb128

    a_stored = make_escrowed(world.a)
    make_escrowed(world.b)
    raw = base64.urlsafe_b64decode(a_stored.token + "=" * (-len(a_stored.token) % 4))
    random_part = raw[len(_leb128(world.a.tenant.pk)) :]
    forged = base64.urlsafe_b64encode(_leb128(world.b.tenant.pk) + random_part).decode().rstrip("=")
    response = client.get(start_url(forged))
    assert response.status_code == 404 and b"This link is not valid" in response.content
    assert world.b.tenant.name.encode() not in response.content


def test_a_verified_browser_of_one_message_cannot_read_another(world, client):
    first = make_escrowed(world.a)
    second = make_escrowed(world.a, email="second@patients-plain.example")
    verify(client, world.a, first)
    assert client.get(f"{start_url(second.token)}message/").status_code == 303
    b_stored = make_escrowed(world.b)
    assert client.get(f"{start_url(b_stored.token)}message/").status_code == 303


def test_a_code_of_one_message_does_not_open_another(world, client):
    first = make_escrowed(world.a)
    second = make_escrowed(world.a, email="second@patients-plain.example")
    code = code_for(world.a, first.escrow)
    opened(client, second.token)
    code_for(world.a, second.escrow)
    assert client.post(f"{start_url(second.token)}code/", {"code": code}).status_code in (400,)


def test_the_logo_is_served_from_the_settings(world, client):
    stored = make_escrowed(world.a)
    assert client.get(f"{start_url(stored.token)}logo/").status_code == 404
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    with tenant_context(world.a.tenant):
        row = escrow_settings_for(tenant=world.a.tenant)
        row.logo, row.logo_type, row.brand_colour = png, "image/png", "#f2b441"
        row.save()
    response = client.get(f"{start_url(stored.token)}logo/")
    assert response.status_code == 200 and response.content == png and response["Content-Type"] == "image/png"
    page = opened(client, stored.token).content.decode()
    assert f'src="{start_url(stored.token)}logo/"' in page
    assert "--portal-brand: #f2b441; --portal-brand-ink: #12201f;" in page  # dark text on a light colour
    assert client.get(f"{start_url('nope-nope-nope-nope-nope')}logo/").status_code == 404


def test_a_bad_brand_colour_is_not_put_into_the_page(world, client):
    stored = make_escrowed(world.a)
    with tenant_context(world.a.tenant):
        EscrowSettingsModel = type(escrow_settings_for(tenant=world.a.tenant))
        EscrowSettingsModel.objects.for_tenant(world.a.tenant).update(brand_colour="red;}</")
    page = opened(client, stored.token).content.decode()
    assert "red;}" not in page and "--portal-brand: #0b6e69" in page


def test_the_masked_hint_hides_the_address():
    assert portal.masked_address("quilla@patients-plain.example") == "q•••@p•••.example"
    assert portal.masked_address("a.b@mail.example.co.uk") == "a•••@m•••.example.co.uk"
    assert PHI_TEXT  # the support module's content is synthetic


def test_services_refuse_a_message_that_can_no_longer_be_opened(world):
    stored = make_escrowed(world.a)
    code = code_for(world.a, stored.escrow)
    with tenant_context(world.a.tenant):
        escrow_retract(tenant=world.a.tenant, user=world.a.users[Role.MARKETER], escrow=stored.escrow)
        escrow = EscrowedMessage.objects.for_tenant(world.a.tenant).get(pk=stored.escrow.pk)
        for call in (
            lambda: portal.code_request(tenant=world.a.tenant, escrow=escrow),
            lambda: portal.code_verify(tenant=world.a.tenant, escrow=escrow, code=code, browser_token="b" * 43),
            lambda: portal.reply_send(tenant=world.a.tenant, escrow=escrow, body="Hello"),
        ):
            with pytest.raises(portal.PortalRefused):
                call()
        assert portal.code_issue(tenant=world.a.tenant, escrow_id=escrow.pk, code_id=None) is None
        assert not EscrowAccess.objects.for_tenant(world.a.tenant).exists()

"""Deleting a data-dictionary attribute: hidden at once in the request, values removed by a
batched, resumable Celery task (segments.dictionary)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.services import actor_for_user
from audit.tests.helpers import events, head_seq
from segments import dictionary
from segments.attributes import contact_attributes_apply, contact_phi_attributes, dictionary_for
from segments.contacts import ContactInputError, contact_update
from segments.dictionary import DeleteStep, DictionaryError, attribute_define, attribute_delete, attribute_delete_step
from segments.imports import ImportInputError, contact_export_csv, import_create, import_start
from segments.models import AttributeDefinition, Contact, ContactImport, ContactIndex, ImportStatus
from segments.rules import validate_rules
from segments.search_index import TermMaker, attribute_term
from segments.segment_services import segment_counts, segment_create, segment_rule_errors
from segments.tasks import attribute_delete_task
from tenants.context import tenant_context
from tenants.roles import Role
from tests.factories import make_contact, make_token

pytestmark = pytest.mark.django_db

PLAN_RULES = {"all": [{"field": "attr.plan", "op": "eq", "value": "Gold"}]}


@pytest.fixture
def queued(monkeypatch):
    """The (tenant id, definition id) of every deletion task queued, instead of a broker. Tests
    run in a transaction that never commits: on-commit callbacks run only where captured."""
    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(attribute_delete_task, "delay", lambda *args: calls.append(args))
    return calls


def _admin(world, key="a"):
    return actor_for_user(getattr(world, key).users[Role.ADMIN])


def _define(world, key, type="text", **fields):
    tenant = world.a.tenant
    with tenant_context(tenant):
        return attribute_define(tenant=tenant, actor=_admin(world), key=key, type=type, **fields)


def _set(tenant, contact, values, dictionary=None):
    with tenant_context(tenant):
        contact = Contact.objects.for_tenant(tenant).get(pk=contact.pk)
        contact_attributes_apply(contact=contact, values=values, dictionary=dictionary or dictionary_for(tenant=tenant))
        contact.save()
    return contact


def _hide(world, definition):
    tenant = world.a.tenant
    with tenant_context(tenant):
        return attribute_delete(tenant=tenant, actor=_admin(world), definition=definition, confirm=True)


def _state(tenant, definition_id):
    with tenant_context(tenant):
        return AttributeDefinition.objects.for_tenant(tenant).filter(pk=definition_id).first()


def _finish(tenant, definition_id, limit=100) -> int:
    """Runs the task's steps until the deletion is done; returns how many batches it took."""
    for steps in range(1, limit):
        if attribute_delete_step(tenant=tenant, definition_id=definition_id) == DeleteStep.DONE:
            return steps
    raise AssertionError("The deletion did not finish.")


def _stored(tenant, contact):
    """(plain attributes, PHI attributes, search terms) as stored."""
    with tenant_context(tenant):
        fresh = Contact.objects.for_tenant(tenant).get(pk=contact.pk)
        terms = set(ContactIndex.objects.for_tenant(tenant).get(contact=fresh).terms)
        return dict(fresh.attributes), contact_phi_attributes(fresh), terms


def _presence(tenant, key):
    with tenant_context(tenant):
        return attribute_term(TermMaker(tenant), key, "set", "1")


def _audience(world, contacts=6):
    """plan (non-PHI), diagnosis (PHI, to delete), kept (PHI, stays) on a few contacts."""
    tenant = world.a.tenant
    plan = _define(world, "plan", type="choice", label="Plan tier", choices=["Gold", "Silver"])
    diagnosis = _define(world, "diagnosis", is_phi=True)
    _define(world, "kept", is_phi=True)
    people = []
    for number in range(contacts):
        values = {"diagnosis": f"Synthcond{number}", "kept": f"k{number}"}
        if number % 2 == 0:
            values["plan"] = "Gold"
        people.append(_set(tenant, make_contact(tenant), values))
    people.append(_set(tenant, make_contact(tenant), {"kept": "only-kept"}))  # PHI, but not the deleted key
    make_contact(tenant)  # no attributes at all
    return plan, diagnosis, people


# --- Hiding -------------------------------------------------------------------------------------


def test_hiding_is_immediate_for_segments_imports_api_pages_and_merge_fields(
    world, login, queued, django_capture_on_commit_callbacks
):
    from templates.fields import merge_fields

    tenant = world.a.tenant
    plan, _diagnosis, people = _audience(world, contacts=2)
    marketer = world.a.users[Role.MARKETER]
    with tenant_context(tenant):
        segment = segment_create(
            tenant=tenant, actor=actor_for_user(marketer), created_by=marketer, name="Gold", rules=PLAN_RULES
        )
        assert segment_counts(tenant=tenant, segments=[segment]) == {segment.pk: 1}
    seq = head_seq(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        _hide(world, plan)

    assert queued == [(tenant.pk, str(plan.pk))]
    assert events(tenant, seq) == [("attribute.delete_started", {"key": "plan", "is_phi": False})]
    assert _stored(tenant, people[0])[0] == {"plan": "Gold"}  # nothing removed yet: that is the task's
    with tenant_context(tenant):
        # Segments: invalid, with the error a deleted attribute gives.
        hidden_errors = segment_rule_errors(tenant=tenant, rules=PLAN_RULES)
        assert [error.message for error in hidden_errors] == ["Not an attribute in the data dictionary."]
        assert segment_counts(tenant=tenant, segments=[segment]) == {segment.pk: None}
        # Merge fields (templates/fields.py reads dictionary_for) and the CSV export leave it out.
        assert "attr.plan" not in merge_fields(tenant=tenant) and "attr.kept" in merge_fields(tenant=tenant)
        header = next(iter(contact_export_csv(tenant=tenant))).splitlines()[0]
        assert "plan" not in header.split(",") and "kept" in header.split(",")
        # Contact API writes refuse it, naming the attribute.
        with pytest.raises(ContactInputError) as refused:
            contact_update(tenant=tenant, actor=_admin(world), contact=people[0], data={"attributes": {"plan": "Gold"}})
        assert "attributes.plan" in refused.value.errors
        # Its key cannot be defined again while the values are being removed.
        with pytest.raises(DictionaryError, match="being deleted") as again:
            attribute_define(tenant=tenant, actor=_admin(world), key="plan", type="text")
        assert again.value.field == "key"

    # Imports: the column is no longer suggested, and mapping it is refused.
    user = world.a.users[Role.MARKETER]
    data = b"Email,Plan\nsomeone@example.com,Gold\n"
    with tenant_context(tenant):
        contact_import = import_create(tenant=tenant, actor=_admin(world), user=user, chunks=[data], size=len(data))
        assert contact_import.mapping == {"Email": "email", "Plan": ""}
        with pytest.raises(ImportInputError, match="neither a contact field nor an attribute"):
            import_start(
                tenant=tenant,
                actor=_admin(world),
                contact_import=contact_import,
                mapping={"Email": "email", "Plan": "plan"},
                match_on="email",
            )

    # Contact page: not shown, even with PHI revealed; the others still are.
    page = login(world.a.users[Role.ADMIN], tenant, step_up=True)
    body = page.get(reverse("segments:contact_detail", args=[people[0].pk]), {"show": "phi"}).content.decode()
    assert "Synthcond0" in body and "Gold" not in body and "Plan tier" not in body

    # API: the contact shows no value for it, a write with it is a 400, the dictionary omits it
    # and re-defining the key is a 400 saying why.
    issued = make_token(tenant, world.a.users[Role.ADMIN], scopes=["contacts:read", "contacts:write"])
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    client = Client()
    detail = reverse("api:segments_api:contact_detail", args=[people[0].pk])
    shown = client.get(detail, **bearer)
    assert shown.status_code == 200 and "plan" not in shown.json()["attributes"]
    refused = client.patch(detail, {"attributes": {"plan": "Gold"}}, content_type="application/json", **bearer)
    assert refused.status_code == 400 and "attributes.plan" in refused.json()["error"]["fields"]
    listing = client.get(reverse("api:segments_api:attribute_list"), **bearer).json()
    assert "plan" not in [row["key"] for row in listing]
    assert client.get(reverse("api:segments_api:attribute_detail", args=[plan.pk]), **bearer).status_code == 404
    redefine = client.post(
        reverse("api:segments_api:attribute_list"),
        {"key": "plan", "type": "text"},
        content_type="application/json",
        **bearer,
    )
    assert redefine.status_code == 400 and "being deleted" in json.dumps(redefine.json())

    # Once the task is done, the segment reports exactly what it reported while hidden, and the
    # key is free again.
    _finish(tenant, plan.pk)
    with tenant_context(tenant):
        assert segment_rule_errors(tenant=tenant, rules=PLAN_RULES) == hidden_errors
        assert validate_rules(PLAN_RULES, dictionary_for(tenant=tenant)) == hidden_errors
        assert attribute_define(tenant=tenant, actor=_admin(world), key="plan", type="text").key == "plan"


def test_the_dictionary_page_shows_progress_and_polls_until_done(
    world, login, queued, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(dictionary, "DELETE_BATCH_SIZE", 2)
    tenant = world.a.tenant
    _plan, diagnosis, _people = _audience(world, contacts=3)
    client = login(world.a.users[Role.ADMIN], tenant)
    delete = reverse("segments:attribute_delete", args=[diagnosis.pk])
    confirm_page = client.get(delete).content.decode()
    assert "3 contacts have a value" in confirm_page and "(PHI)" in confirm_page
    with django_capture_on_commit_callbacks(execute=True):
        unconfirmed = client.post(delete)
    assert unconfirmed.status_code == 200 and "confirm" in unconfirmed.content.decode()
    assert queued == [] and not _state(tenant, diagnosis.pk).is_deleting

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == reverse("segments:attribute_list")
    assert queued == [(tenant.pk, str(diagnosis.pk))]
    listing = client.get(reverse("segments:attribute_list")).content.decode()
    assert "Being deleted, 0% done" in listing and 'hx-trigger="every 2s"' in listing
    assert reverse("segments:attribute_edit", args=[diagnosis.pk]) not in listing
    assert client.get(reverse("segments:attribute_edit", args=[diagnosis.pk])).status_code == 404

    attribute_delete_step(tenant=tenant, definition_id=diagnosis.pk)  # 2 of the 4 contacts with PHI
    fragment = client.get(reverse("segments:attribute_list"), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="attribute-table"') and "<html" not in fragment
    assert "Being deleted, 50% done" in fragment and "2 of 4 contacts checked" in fragment
    status = client.get(delete).content.decode()
    assert "Being deleted, 50% done" in status and "Resume" not in status
    # A second POST while it runs queues nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(delete, {"confirm": "yes"}).status_code == 302
    assert len(queued) == 1

    _finish(tenant, diagnosis.pk)
    done = client.get(reverse("segments:attribute_list")).content.decode()
    assert "diagnosis" not in done and "hx-trigger" not in done and "kept" in done
    assert client.get(delete).status_code == 404


def test_a_stalled_deletion_can_be_resumed_from_its_page_without_a_second_audit_event(
    world, login, queued, django_capture_on_commit_callbacks
):
    tenant = world.a.tenant
    _plan, diagnosis, _people = _audience(world, contacts=1)
    with django_capture_on_commit_callbacks(execute=True):
        _hide(world, diagnosis)
    seq = head_seq(tenant)
    with tenant_context(tenant):
        AttributeDefinition.objects.for_tenant(tenant).filter(pk=diagnosis.pk).update(
            updated_at=timezone.now() - timedelta(hours=1)
        )
    client = login(world.a.users[Role.ADMIN], tenant)
    listing = client.get(reverse("segments:attribute_list")).content.decode()
    assert "Stalled: resume" in listing
    delete = reverse("segments:attribute_delete", args=[diagnosis.pk])
    assert "Resume deleting" in client.get(delete).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(delete).status_code == 302
    assert queued == [(tenant.pk, str(diagnosis.pk))] * 2
    assert [action for action, _details in events(tenant, seq) if action.startswith("attribute.")] == []


def test_other_tenants_admin_gets_404_and_never_sees_it(world, login, queued):
    tenant = world.a.tenant
    _plan, diagnosis, _people = _audience(world, contacts=1)
    other = login(world.b.users[Role.ADMIN], world.b.tenant, step_up=True)
    delete = reverse("segments:attribute_delete", args=[diagnosis.pk])
    assert other.get(delete).status_code == 404
    assert other.post(delete, {"confirm": "yes"}).status_code == 404
    assert queued == [] and not _state(tenant, diagnosis.pk).is_deleting
    _hide(world, diagnosis)
    assert other.get(delete).status_code == 404 and other.post(delete).status_code == 404
    assert "diagnosis" not in other.get(reverse("segments:attribute_list")).content.decode()
    # A task given tenant B and tenant A's attribute finds nothing to do (row-level security).
    assert attribute_delete_step(tenant=world.b.tenant, definition_id=diagnosis.pk) == DeleteStep.DONE
    assert _state(tenant, diagnosis.pk).is_deleting and _state(tenant, diagnosis.pk).delete_total is None


# --- The task -----------------------------------------------------------------------------------


def test_the_task_removes_phi_and_plain_values_and_terms_in_batches_then_audits(world, monkeypatch):
    from sealpost.celery import app as celery_app

    # Run as queued (as the retention task test does): each batch queues the next in-process.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setattr(dictionary, "DELETE_BATCH_SIZE", 2)
    tenant = world.a.tenant
    plan, diagnosis, people = _audience(world, contacts=6)
    seq = head_seq(tenant)
    _hide(world, diagnosis)
    _hide(world, plan)
    batches: list[str] = []
    step = dictionary.attribute_delete_step

    def counted(**kwargs):
        batches.append(str(kwargs["definition_id"]))
        return step(**kwargs)

    monkeypatch.setattr(dictionary, "attribute_delete_step", counted)
    for definition in (diagnosis, plan):
        attribute_delete_task(tenant.pk, str(definition.pk))
    # diagnosis: 7 contacts hold PHI: 4 batches, then a sweep that finds nothing left and the
    # end; plan: 3 contacts have it: 2 batches, then the end. Only ids travel.
    assert batches == [str(diagnosis.pk)] * 5 + [str(plan.pk)] * 3

    gone = {_presence(tenant, "diagnosis"), _presence(tenant, "plan")}
    for number, person in enumerate(people[:6]):
        plain, secret, terms = _stored(tenant, person)
        assert plain == {} and secret == {"kept": f"k{number}"}
        assert not gone & terms and _presence(tenant, "kept") in terms
    assert _stored(tenant, people[6])[1] == {"kept": "only-kept"}
    with tenant_context(tenant):
        assert set(AttributeDefinition.objects.for_tenant(tenant).values_list("key", flat=True)) == {"kept"}
    assert events(tenant, seq) == [
        ("attribute.delete_started", {"key": "diagnosis", "is_phi": True}),
        ("attribute.delete_started", {"key": "plan", "is_phi": False}),
        ("attribute.deleted", {"key": "diagnosis", "is_phi": True, "values_removed": 6}),
        ("attribute.deleted", {"key": "plan", "is_phi": False, "values_removed": 3}),
    ]


def test_progress_is_recorded_on_the_definition_batch_by_batch(world, monkeypatch):
    monkeypatch.setattr(dictionary, "DELETE_BATCH_SIZE", 3)
    tenant = world.a.tenant
    plan, _diagnosis, _people = _audience(world, contacts=8)  # plan on 4 contacts
    _hide(world, plan)
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.MORE
    state = _state(tenant, plan.pk)
    assert (state.delete_total, state.delete_done, state.delete_removed, state.delete_percent) == (4, 3, 3, 75)
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.MORE
    state = _state(tenant, plan.pk)
    assert (state.delete_done, state.delete_removed, state.delete_percent) == (4, 4, 99)
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.DONE
    assert _state(tenant, plan.pk) is None
    # A task delivered again after the end does nothing.
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.DONE


def _holding(tenant, people, key):
    return sum(key in _stored(tenant, person)[1] for person in people)


def test_a_crash_mid_batch_rolls_the_batch_back_and_running_again_finishes_the_same(world, monkeypatch):
    monkeypatch.setattr(dictionary, "DELETE_BATCH_SIZE", 2)
    tenant = world.a.tenant
    _plan, diagnosis, people = _audience(world, contacts=5)
    seq = head_seq(tenant)
    _hide(world, diagnosis)
    assert attribute_delete_step(tenant=tenant, definition_id=diagnosis.pk) == DeleteStep.MORE
    first = _state(tenant, diagnosis.pk)
    assert first.delete_done == 2 and _holding(tenant, people, "diagnosis") == 5 - first.delete_removed

    # The worker dies in the second batch, after writing its contacts, before committing.
    strip = dictionary._strip

    def dies(*args, **kwargs):
        strip(*args, **kwargs)
        raise SystemExit("worker lost")

    monkeypatch.setattr(dictionary, "_strip", dies)
    with pytest.raises(SystemExit):
        attribute_delete_step(tenant=tenant, definition_id=diagnosis.pk)
    after_crash = _state(tenant, diagnosis.pk)
    assert (after_crash.delete_cursor, after_crash.delete_done, after_crash.delete_removed) == (
        first.delete_cursor,
        first.delete_done,
        first.delete_removed,
    )
    assert _holding(tenant, people, "diagnosis") == 5 - first.delete_removed  # the batch left no trace

    monkeypatch.setattr(dictionary, "_strip", strip)  # the task is delivered again
    _finish(tenant, diagnosis.pk)
    for number, person in enumerate(people[:5]):
        _plain, secret, terms = _stored(tenant, person)
        assert secret == {"kept": f"k{number}"} and _presence(tenant, "diagnosis") not in terms
    assert events(tenant, seq) == [
        ("attribute.delete_started", {"key": "diagnosis", "is_phi": True}),
        ("attribute.deleted", {"key": "diagnosis", "is_phi": True, "values_removed": 5}),
    ]


def test_a_value_written_through_a_dictionary_read_before_the_hide_is_swept(world):
    tenant = world.a.tenant
    plan, diagnosis, people = _audience(world, contacts=2)
    with tenant_context(tenant):
        stale = dictionary_for(tenant=tenant)  # a request that read the dictionary before the hide
    seq = head_seq(tenant)
    _hide(world, diagnosis)
    _hide(world, plan)
    for definition in (diagnosis, plan):  # one batch walks past every contact
        assert attribute_delete_step(tenant=tenant, definition_id=definition.pk) == DeleteStep.MORE
    # The slow writer now commits values for both keys on a contact the walks are past.
    late = _set(tenant, people[0], {"diagnosis": "Synthlate", "plan": "Silver"}, dictionary=stale)
    assert _stored(tenant, late)[0] == {"plan": "Silver"}
    for definition in (diagnosis, plan):
        _finish(tenant, definition.pk)
    plain, secret, terms = _stored(tenant, late)
    assert plain == {} and secret == {"kept": "k0"}
    assert not {_presence(tenant, "diagnosis"), _presence(tenant, "plan")} & terms
    assert [details["values_removed"] for action, details in events(tenant, seq) if action == "attribute.deleted"] == [
        3,
        2,
    ]


def test_the_task_waits_for_imports_being_applied_or_mapping_the_key(world):
    tenant = world.a.tenant
    plan, _diagnosis, _people = _audience(world, contacts=2)
    user = world.a.users[Role.MARKETER]
    with tenant_context(tenant):
        applying = ContactImport.objects.create(tenant=tenant, created_by=user, status=ImportStatus.IMPORTING)
    _hide(world, plan)
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.WAIT
    assert _state(tenant, plan.pk).delete_done == 0
    with tenant_context(tenant):
        ContactImport.objects.for_tenant(tenant).filter(pk=applying.pk).update(status=ImportStatus.DONE)
        # Checked against the dictionary before the hide, still validating: it may write the key.
        checking = ContactImport.objects.create(
            tenant=tenant, created_by=user, status=ImportStatus.VALIDATING, mapping={"Plan": "plan", "Email": "email"}
        )
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.MORE
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.WAIT
    assert _state(tenant, plan.pk) is not None
    with tenant_context(tenant):
        ContactImport.objects.for_tenant(tenant).filter(pk=checking.pk).update(status=ImportStatus.INVALID)
    assert attribute_delete_step(tenant=tenant, definition_id=plan.pk) == DeleteStep.DONE


def test_a_contact_update_between_batches_is_kept(world, monkeypatch):
    monkeypatch.setattr(dictionary, "DELETE_BATCH_SIZE", 1)
    tenant = world.a.tenant
    _plan, diagnosis, people = _audience(world, contacts=3)
    _hide(world, diagnosis)
    attribute_delete_step(tenant=tenant, definition_id=diagnosis.pk)
    with tenant_context(tenant):
        contact_update(
            tenant=tenant,
            actor=_admin(world),
            contact=people[2],
            data={"first_name": "Synthchanged", "attributes": {"kept": "k-new", "plan": "Silver"}},
        )
    _finish(tenant, diagnosis.pk)
    plain, secret, _terms = _stored(tenant, people[2])
    assert plain == {"plan": "Silver"} and secret == {"kept": "k-new"}
    with tenant_context(tenant):
        assert Contact.objects.for_tenant(tenant).get(pk=people[2].pk).first_name == "Synthchanged"


# --- A real concurrent edit ---------------------------------------------------------------------


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("is_phi", [True, False])
def test_a_contact_edit_committed_while_a_batch_waits_for_its_lock_is_not_lost(world, queued, monkeypatch, is_phi):
    """A writer holds the contact's row lock with an uncommitted edit; the batch, which already
    read the old row, waits for the lock, then works on the edited row."""
    monkeypatch.setattr(dictionary, "DELETE_LOCK_TIMEOUT", "20s")
    tenant = world.a.tenant
    doomed = _define(world, "doomed", is_phi=is_phi)
    _define(world, "kept", is_phi=is_phi)
    contact = _set(tenant, make_contact(tenant), {"doomed": "Synthdoomed", "kept": "k-old"})
    _hide(world, doomed)
    locked, proceed, results = threading.Event(), threading.Event(), {}

    def writer():
        try:
            with tenant_context(tenant):
                contact_update(
                    tenant=tenant,
                    actor=_admin(world),
                    contact=contact,
                    data={"first_name": "Synthedited", "attributes": {"kept": "k-new"}},
                )
                locked.set()
                proceed.wait(20)
        finally:
            connection.close()

    def deleter():
        try:
            results["step"] = attribute_delete_step(tenant=tenant, definition_id=doomed.pk)
        except Exception as error:  # reported by the assertion below
            results["error"] = error
        finally:
            connection.close()

    writing = threading.Thread(target=writer)
    writing.start()
    assert locked.wait(20)
    deleting = threading.Thread(target=deleter)
    deleting.start()
    deadline = time.monotonic() + 20
    while not _waiting_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _waiting_on_a_lock(), "the batch never waited for the writer's lock"
    proceed.set()
    writing.join(20)
    deleting.join(20)
    assert results == {"step": DeleteStep.MORE}
    _finish(tenant, doomed.pk)
    plain, secret, terms = _stored(tenant, contact)
    assert {**plain, **secret} == {"kept": "k-new"}
    with tenant_context(tenant):
        assert Contact.objects.for_tenant(tenant).get(pk=contact.pk).first_name == "Synthedited"
        assert attribute_term(TermMaker(tenant), "kept", "eq", "k-new") in terms
    assert _presence(tenant, "doomed") not in terms


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("is_phi", [True, False])
def test_a_batch_that_waits_too_long_for_a_locked_contact_rolls_back_and_tries_later(
    world, queued, monkeypatch, is_phi
):
    monkeypatch.setattr(dictionary, "DELETE_LOCK_TIMEOUT", "200ms")
    tenant = world.a.tenant
    doomed = _define(world, "doomed", is_phi=is_phi)
    free = _set(tenant, make_contact(tenant), {"doomed": "Synthfree"})
    held = _set(tenant, make_contact(tenant), {"doomed": "Synthheld"})
    _hide(world, doomed)
    with tenant_context(tenant):
        AttributeDefinition.objects.for_tenant(tenant).filter(pk=doomed.pk).update(
            updated_at=timezone.now() - timedelta(hours=1)
        )
    locked, release = threading.Event(), threading.Event()

    def holder():
        try:
            with tenant_context(tenant):
                Contact.objects.for_tenant(tenant).select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(20)
        finally:
            connection.close()

    holding = threading.Thread(target=holder)
    holding.start()
    try:
        assert locked.wait(20)
        assert attribute_delete_step(tenant=tenant, definition_id=doomed.pk) == DeleteStep.WAIT
        state = _state(tenant, doomed.pk)
        assert (state.delete_cursor, state.delete_done, state.delete_removed) == (None, 0, 0)
        assert state.updated_at > timezone.now() - timedelta(minutes=1)  # alive, not "stalled"
        assert "doomed" in {**_stored(tenant, free)[0], **_stored(tenant, free)[1]}  # the whole batch rolled back
    finally:
        release.set()
        holding.join(20)
    _finish(tenant, doomed.pk)
    for contact in (free, held):
        plain, secret, _terms = _stored(tenant, contact)
        assert "doomed" not in plain and "doomed" not in secret

"""Test sends: a version rendered with synthetic sample data only (``templates.fields`` samples,
never a real contact's values) and mailed to the member's own account address or to an address
on the organisation's test list (``AllowedTestAddress``, kept by admins), marked as a test
(subject prefix, ``X-Sealpost-Test: 1`` header).

``version_send_test`` checks, audits ``template.test_sent`` (version number, language and which
kind of recipient, never the address) and queues ``templates.tasks.send_test_message_task`` with
ids once the request commits; the task builds the message (``build_test_message``), checking
again that the member may still edit templates and the address is still listed, and hands it to
Django's email backend. The delivery pipeline (TLS enforcement, DKIM; issue 10) does not exist yet: when it
does, the task hands the message to it instead, marked as a test, and nothing here changes.

(This module's name matches pytest's ``test_*.py`` pattern, so nothing in it is named
``test*``/``Test*``: pytest would collect it.)
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404

from audit.services import Target, actor_for_user, record
from authn.models import User
from templates.context import render_context
from templates.fields import merge_fields
from templates.models import AllowedTestAddress, TemplateVersion
from templates.rendering import RenderError
from templates.selectors import RenderedMessage, render_version, version_contents, version_get
from tenants.context import require_tenant_is_current
from tenants.models import Membership, Organisation
from tenants.permissions import role_has_permission

TEST_SUBJECT_PREFIX = "[TEST] "
TEST_HEADER = "X-Sealpost-Test"
# Per member, per window: enough to check a template in each language, not enough to mail-bomb.
TEST_SENDS_PER_WINDOW = 10
TEST_SEND_WINDOW_SECONDS = 3600
TEST_TEXT_BANNER = "TEST MESSAGE: rendered with sample data, not a real patient's.\n\n"


class SendTestRefused(ValueError):
    """The test send cannot happen; the message is safe to show."""


def _limit() -> int:
    return int(getattr(settings, "TEMPLATES_TEST_SENDS_PER_WINDOW", TEST_SENDS_PER_WINDOW))


def _rate_key(tenant: Organisation, user: User) -> str:
    return f"sealpost:templates:test_send:{tenant.pk}:{user.pk}"


def _take_allowance(tenant: Organisation, user: User) -> bool:
    key = _rate_key(tenant, user)
    cache.add(key, 0, timeout=TEST_SEND_WINDOW_SECONDS)
    try:
        count = int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=TEST_SEND_WINDOW_SECONDS)
        count = 1
    return count <= _limit()


def render_sample(*, tenant: Organisation, version: TemplateVersion, language: str) -> RenderedMessage:
    """The version in ``language`` rendered with the organisation's synthetic sample values."""
    contents = version_contents(tenant=tenant, version=version)
    if language not in contents:
        raise SendTestRefused("This version has no content in that language.")
    context = render_context(merge_fields(tenant=tenant))
    return render_version(contents=contents, version=version, language=language, context=context)


class AddressInvalid(ValueError):
    """The address cannot be added to the test list; the message is safe to show."""


def allowed_addresses(*, tenant: Organisation) -> QuerySet[AllowedTestAddress]:
    require_tenant_is_current(tenant)
    return AllowedTestAddress.objects.for_tenant(tenant).select_related("added_by").order_by("email")


def allowed_address_get(*, tenant: Organisation, address_id: str) -> AllowedTestAddress:
    """404 both for an unknown id and for another organisation's address."""
    require_tenant_is_current(tenant)
    try:
        found = AllowedTestAddress.objects.for_tenant(tenant).filter(pk=address_id).first()
    except ValidationError:  # not a UUID
        found = None
    if found is None:
        raise Http404("No such test address.")
    return found


def allowed_address_add(*, tenant: Organisation, user: User, email: str, label: str = "") -> AllowedTestAddress:
    require_tenant_is_current(tenant)
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise AddressInvalid("Enter a valid email address.") from None
    address = AllowedTestAddress(tenant=tenant, email=email, label=label.strip()[:100], added_by=user)
    try:
        with transaction.atomic():
            address.save()
            record(
                tenant=tenant,
                action="template.test_address_added",
                actor=actor_for_user(user),
                target=Target.of(address),
            )
    except IntegrityError:
        raise AddressInvalid("This address is already on the list.") from None
    return address


def allowed_address_remove(*, tenant: Organisation, user: User, address: AllowedTestAddress) -> None:
    require_tenant_is_current(tenant)
    with transaction.atomic():
        record(
            tenant=tenant,
            action="template.test_address_removed",
            actor=actor_for_user(user),
            target=Target.of(address),
        )
        address.delete()


def version_send_test(
    *, tenant: Organisation, user: User, version: TemplateVersion, language: str = "", address_id: str = ""
) -> None:
    """Queue a test message of ``version`` in ``language`` (default: the version's default
    language) to ``user``'s own address, or to the listed address ``address_id``. Refused
    (``SendTestRefused``) for an address not on the organisation's list, a language the version
    lacks, a version that does not render, or over the per-member limit."""
    require_tenant_is_current(tenant)
    language = language or version.default_language
    if address_id:
        try:
            address_id = str(allowed_address_get(tenant=tenant, address_id=address_id).pk)
        except Http404:
            raise SendTestRefused("Choose your own address or one on the organisation's test list.") from None
    try:
        render_sample(tenant=tenant, version=version, language=language)
    except RenderError as error:
        raise SendTestRefused(f"The template does not render: {error}") from None
    if not _take_allowance(tenant, user):
        raise SendTestRefused(f"You can send at most {_limit()} test messages an hour; try again later.")
    from templates.tasks import send_test_message_task

    with transaction.atomic():
        record(
            tenant=tenant,
            action="template.test_sent",
            actor=actor_for_user(user),
            target=Target.of(version.template),
            details={
                "version": version.number,
                "language": language,
                "to": "test_list" if address_id else "self",
                **({"address_id": address_id} if address_id else {}),
            },
        )
        transaction.on_commit(
            partial(send_test_message_task.delay, tenant.pk, str(version.pk), user.pk, language, address_id)
        )


def build_test_message(
    *, tenant: Organisation, version_id: str, user_id: int, language: str, address_id: str = ""
) -> EmailMultiAlternatives | None:
    """The test message, or None when it should no longer go (the version is gone, the member
    left or lost the right to edit templates, the address left the list). Runs inside
    ``tenant_context(tenant)``."""
    try:
        version = version_get(tenant=tenant, version_id=version_id)
    except Http404:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    membership = Membership.objects.for_tenant(tenant).filter(user_id=user_id, is_active=True).first()
    if user is None or membership is None or not role_has_permission(membership.role, "templates.edit"):
        return None
    recipient = user.email
    if address_id:
        try:
            recipient = allowed_address_get(tenant=tenant, address_id=address_id).email
        except Http404:
            return None
    try:
        rendered = render_sample(tenant=tenant, version=version, language=language)
    except (RenderError, SendTestRefused):
        return None
    message = EmailMultiAlternatives(
        subject=f"{TEST_SUBJECT_PREFIX}{rendered.subject}",
        body=f"{TEST_TEXT_BANNER}{rendered.text}",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        headers={TEST_HEADER: "1"},
    )
    message.attach_alternative(rendered.html, "text/html")
    return message

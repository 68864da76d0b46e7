"""The scopes an admin can approve for an API application, one per kind of access.

A token acts with exactly its application's approved scopes: never with a role, never with more
than an admin ticked. Every API view names the one scope it needs in ``required_scope``
(``tenants.api.HasTenantPermission`` checks it; ``tests/test_roles.py`` fails for an API view
without one). Adding a scope here is how a new kind of API access becomes grantable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Scope:
    code: str
    description: str  # shown to the admin deciding whether to approve it


_SCOPES = [
    Scope("contacts:read", "Read contacts, including their names, email addresses and identifiers (PHI)."),
    Scope("contacts:write", "Create and update contacts and their attributes (PHI)."),
    Scope("consent:read", "Read contacts' consent, authorisations and history, suppressions and the consent report."),
    Scope("consent:write", "Record consent, authorisations and unsubscribes for contacts; add suppressions."),
    Scope("templates:read", "Read email templates, their versions, review status and rendered previews."),
    Scope("templates:write", "Create email templates and edit and submit their drafts."),
    Scope("events:write", "Send trigger events, such as an appointment booked, that start messages to contacts."),
    Scope(
        "messages:send",
        "Send transactional messages (a receipt, an appointment confirmation) to one contact with event data "
        "(PHI) merged into an approved template, and read their delivery status.",
    ),
    Scope("campaigns:read", "Read campaigns, their schedules and delivery status."),
    Scope("campaigns:write", "Create, change, schedule and launch campaigns."),
    Scope("audit:read", "Read the organisation's audit log and its verification status."),
    Scope(
        "compliance:read",
        "Read the compliance reports (PHI exposure summary: campaign names and recipient domains, never "
        "addresses) and request, follow and download their exports.",
    ),
    Scope(
        "reports:read",
        "Read campaign dashboards and the organisation's sending overview: counts and rates by day, recipient "
        "domain and clicked link (never a contact).",
    ),
    Scope("baa:read", "Read the business associate agreement's status, whether PHI may be sent, and sub-processors."),
]

SCOPES: dict[str, Scope] = {scope.code: scope for scope in _SCOPES}


def all_scopes() -> list[Scope]:
    return list(_SCOPES)


def clean_scopes(codes: Iterable[str]) -> list[str]:
    """The given scope codes, de-duplicated, in registry order; an unknown code is an error (it
    is not repeated in the message: it came from the request)."""
    wanted = set(codes)
    unknown = wanted - set(SCOPES)
    if unknown:
        raise ValidationError("Only the listed scopes can be approved.", code="unknown_scope")
    return [scope.code for scope in _SCOPES if scope.code in wanted]

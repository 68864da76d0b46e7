"""Who may do what: one declarative map from permission to the roles that hold it.

Every view and API endpoint names exactly one permission (or is declared public); the test
``tests/test_roles.py`` walks the URL conf and fails for a route that does neither, and checks
each role against this map. Admins read the map on the Roles page.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenants.roles import Role

ADMIN = Role.ADMIN
MARKETER = Role.MARKETER
COMPLIANCE = Role.COMPLIANCE_OFFICER
EVERYONE = frozenset(Role)


@dataclass(frozen=True)
class Permission:
    code: str
    description: str
    roles: frozenset[Role]


_PERMISSIONS = [
    Permission("dashboard.view", "See the organisation's dashboard", EVERYONE),
    Permission("account.view", "Manage your own passkeys, authenticator app and sessions; see your sign-ins", EVERYONE),
    Permission(
        "contacts.view",
        "List contacts (names and emails masked; in full after a passkey step-up) and open one",
        frozenset({ADMIN, MARKETER, COMPLIANCE}),
    ),
    Permission(
        "contacts.write",
        "Create and update contacts and their attributes (web and API)",
        frozenset({ADMIN, MARKETER}),
    ),
    Permission(
        "contacts.import",
        "Import contacts from CSV files (web and API) and follow or cancel imports",
        frozenset({ADMIN, MARKETER}),
    ),
    Permission(
        "contacts.export",
        "Export all contacts with their PHI as CSV, after a passkey step-up",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission("segments.view", "See saved segments, their live counts and a masked sample of who matches", EVERYONE),
    Permission(
        "segments.manage", "Create, change and delete saved segments (web and API)", frozenset({ADMIN, MARKETER})
    ),
    Permission("dictionary.view", "Read the data dictionary: each contact attribute, its type and PHI flag", EVERYONE),
    Permission(
        "dictionary.manage", "Add, change and delete contact attributes in the data dictionary", frozenset({ADMIN})
    ),
    Permission(
        "retention.manage",
        "Set the data-retention policy, preview and remove inactive contacts",
        frozenset({ADMIN}),
    ),
    Permission(
        "consent.view",
        "See each contact's consent per purpose, authorisations and history; the purposes and topics",
        frozenset({ADMIN, MARKETER, COMPLIANCE}),
    ),
    Permission(
        "consent.manage",
        "Record consent and HIPAA marketing authorisations given to staff; add purposes and topics",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "authorisations.manage",
        "Publish new versions of HIPAA marketing authorisation texts",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "consent.report",
        "Read and export the consent report: statuses by purpose, changes, expiring authorisations",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "suppression.manage",
        "See the suppression list, add addresses to it and lift suppressions",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "optin_forms.manage",
        "Create and change hosted double opt-in forms",
        frozenset({ADMIN, MARKETER}),
    ),
    Permission("templates.view", "See email templates, their versions, reviews and previews", EVERYONE),
    Permission(
        "templates.edit",
        "Create email templates, edit drafts, preview them and submit them for review",
        frozenset({ADMIN, MARKETER}),
    ),
    Permission(
        "templates.review",
        "Approve template versions or request changes (never one you submitted yourself)",
        frozenset({COMPLIANCE}),
    ),
    Permission(
        "templates.test_addresses",
        "Keep the list of addresses, besides members' own, that template test messages may be sent to",
        frozenset({ADMIN}),
    ),
    Permission("campaigns.view", "See campaigns, their pre-launch checklist and live delivery progress", EVERYONE),
    Permission(
        "campaigns.manage",
        "Create and edit campaigns, send tests, launch, pause, resume and cancel them (web and API)",
        frozenset({ADMIN, MARKETER}),
    ),
    Permission(
        "campaigns.approve",
        "Approve campaigns that carry PHI or are marketing, before they can be launched",
        frozenset({COMPLIANCE}),
    ),
    Permission("members.view", "See who belongs to the organisation and their roles", frozenset({ADMIN, COMPLIANCE})),
    Permission("members.manage", "Change members' roles and deactivate members", frozenset({ADMIN})),
    Permission("roles.view", "Read this map of roles and permissions", frozenset({ADMIN})),
    Permission(
        "api_tokens.manage",
        "Register API applications, approve their scopes, rotate and revoke tokens",
        frozenset({ADMIN}),
    ),
    Permission("access_policy.manage", "Edit the conditional-access policy", frozenset({ADMIN})),
    Permission("sessions.manage", "See members' sessions and end them", frozenset({ADMIN})),
    Permission("break_glass.manage", "Grant and end time-boxed emergency access", frozenset({ADMIN})),
    Permission(
        "encryption.manage", "See encryption keys, rotate them, destroy them (crypto-shredding)", frozenset({ADMIN})
    ),
    Permission(
        "protection.view",
        "Read the protection policy (TLS, escrow, quarantine) and try it in the simulator",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission("protection.manage", "Change the protection policy, after a passkey step-up", frozenset({ADMIN})),
    Permission(
        "quarantine.review",
        "Review messages the protection policy held (PHI shown after a passkey step-up) and release or reject them",
        frozenset({COMPLIANCE}),
    ),
    Permission(
        "escrow.view",
        "See the messages held in escrow for pickup (recipient masked, dates, status; never the content)",
        frozenset({ADMIN, MARKETER, COMPLIANCE}),
    ),
    Permission(
        "escrow.retract", "Retract an escrowed message (its content is deleted)", frozenset({ADMIN, COMPLIANCE})
    ),
    Permission(
        "escrow.replies",
        "Read recipients' secure replies from the portal (each after a passkey step-up, audited)",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "escrow.settings",
        "Change escrow settings: expiry, the notice subject, a shared secret, passkeys, branding",
        frozenset({ADMIN}),
    ),
    Permission(
        "baa.view",
        "See the business associate agreement, its history and signed copies, and the sub-processors",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "baa.sign", "Sign and terminate the business associate agreement, after a passkey step-up", frozenset({ADMIN})
    ),
    Permission("subprocessors.manage", "Add, change and remove sub-processors", frozenset({ADMIN})),
    Permission(
        "delivery.domains.view",
        "See the TLS posture of the organisation's recipient domains (STARTTLS, certificate, MTA-STS, DANE) "
        "and check a domain now",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "sending_domains.view",
        "See the organisation's sending domains, the DNS records to publish and whether each is verified",
        frozenset({ADMIN, MARKETER, COMPLIANCE}),
    ),
    Permission(
        "sending_domains.manage",
        "Add and remove sending domains (each gets a DKIM key) and check their DNS records now",
        frozenset({ADMIN}),
    ),
    Permission(
        "tracking.settings",
        "Change open and click tracking: opens, clicks, and whether PHI-bearing messages are tracked",
        frozenset({ADMIN}),
    ),
    Permission("audit.view", "Read the audit log and its verification status", frozenset({ADMIN, COMPLIANCE})),
    Permission(
        "reports.view",
        "See campaign dashboards and the organisation's sending overview: delivery, engagement and complaint "
        "figures, recipient domains and clicked links (counts and rates, never a contact)",
        frozenset({ADMIN, MARKETER, COMPLIANCE}),
    ),
    Permission(
        "reports.compliance",
        "Read the compliance reports (PHI exposure, consent, BAA status, audit summary); request, follow "
        "and download their exports",
        frozenset({ADMIN, COMPLIANCE}),
    ),
    Permission(
        "audit.export", "Export the audit log (CSV, or JSON for offline verification)", frozenset({ADMIN, COMPLIANCE})
    ),
]

PERMISSIONS: dict[str, Permission] = {permission.code: permission for permission in _PERMISSIONS}


def role_has_permission(role: str | None, code: str) -> bool:
    permission = PERMISSIONS.get(code)
    if permission is None:
        raise KeyError(f"Unknown permission {code!r}; add it to tenants.permissions.")
    return role is not None and role in permission.roles


def all_permissions() -> list[Permission]:
    return list(_PERMISSIONS)

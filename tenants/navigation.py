"""The main navigation, shown per role: an item appears only if the role holds its permission."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from tenants.permissions import role_has_permission


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str


NAVIGATION = [
    NavItem("Dashboard", "tenants:dashboard", "dashboard.view"),
    NavItem("Contacts", "segments:contact_list", "contacts.view"),
    NavItem("Segments", "segments:segment_list", "segments.view"),
    NavItem("Templates", "templates:template_list", "templates.view"),
    NavItem("Campaigns", "campaigns:campaign_list", "campaigns.view"),
    NavItem("Journeys", "campaigns:journey_list", "campaigns.view"),
    NavItem("Calendar", "campaigns:calendar", "campaigns.view"),
    NavItem("Trigger events", "campaigns:trigger_list", "campaigns.view"),
    NavItem("Reports", "reporting:overview", "reports.view"),
    NavItem("Data dictionary", "segments:attribute_list", "dictionary.view"),
    NavItem("Data retention", "segments:retention", "retention.manage"),
    NavItem("Consent", "consent:report", "consent.report"),
    NavItem("Consent purposes", "consent:purpose_list", "consent.view"),
    NavItem("Authorisation texts", "consent:authorisation_text_list", "consent.view"),
    NavItem("Suppression list", "consent:suppression_list", "suppression.manage"),
    NavItem("Opt-in forms", "consent:optin_form_list", "optin_forms.manage"),
    NavItem("Members", "tenants:member_list", "members.view"),
    NavItem("Audit log", "audit:event_list", "audit.view"),
    NavItem("Compliance reports", "reporting_compliance:report", "reports.compliance"),
    NavItem("BAA", "baa:status", "baa.view"),
    NavItem("Sub-processors", "baa:subprocessor_list", "baa.view"),
    NavItem("API applications", "authn:api_application_list", "api_tokens.manage"),
    NavItem("Sessions", "authn:member_session_list", "sessions.manage"),
    NavItem("Access policy", "authn:access_policy", "access_policy.manage"),
    NavItem("Emergency access", "authn:break_glass_list", "break_glass.manage"),
    NavItem("Encryption", "encryption:keys", "encryption.manage"),
    NavItem("Recipient domains", "delivery:domain_list", "delivery.domains.view"),
    NavItem("Sending domains", "delivery:sending_domain_list", "sending_domains.view"),
    NavItem("Protection policy", "encryption:protection_policy", "protection.view"),
    NavItem("Quarantine", "encryption:quarantine_list", "quarantine.review"),
    NavItem("Escrow", "encryption:escrow_list", "escrow.view"),
    NavItem("Secure replies", "encryption:escrow_replies", "escrow.replies"),
    NavItem("Escrow settings", "encryption:escrow_settings", "escrow.settings"),
    NavItem("Tracking", "reporting:tracking_settings", "tracking.settings"),
    NavItem("Roles", "tenants:roles", "roles.view"),
]


def navigation_for(role: str | None, current_path: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for item in NAVIGATION:
        if not role_has_permission(role, item.permission):
            continue
        url = reverse(item.url_name)
        active = current_path == url or (url != "/" and current_path.startswith(url))
        items.append({"label": item.label, "url": url, "active": active})
    # Several pages live under /contacts/: only the most specific matching item is current.
    current = max((i for i in items if i["active"]), key=lambda i: len(str(i["url"])), default=None)
    for entry in items:
        entry["active"] = entry is current
    if role is not None and settings.DEV_MAILBOX_ENABLED:
        url = reverse("delivery:mailbox")
        items.append({"label": "Dev mailbox", "url": url, "active": current_path.startswith(url), "dev": True})
    return items

"""Every audit action has a stable dotted name registered here; ``audit.record`` refuses names
that are not. Later work adds its actions to this registry."""

from __future__ import annotations

ACTIONS: dict[str, str] = {
    # Sign-in
    "auth.login_succeeded": "A user signed in with a password.",
    "auth.login_failed": "A sign-in attempt failed.",
    "auth.logout": "A user signed out.",
    "auth.locked_out": "Sign-in was locked for an address or IP after repeated failures.",
    "auth.session_expired": "A session ended on its own: idle too long, or at its maximum length.",
    "auth.organisation_switched": "A user switched the organisation they work in.",
    # Members and roles
    "membership.created": "A user was added to the organisation.",
    "membership.role_changed": "A member's role changed.",
    "membership.deactivated": "A member was deactivated.",
    "membership.reactivated": "A member was reactivated.",
    # API access
    "api_token.created": "An admin created an API token.",
    "api_token.revoked": "An admin revoked an API token.",
    "api_token.used": "An API call was made with a token.",
    "api_token.rejected": "An API call presented an invalid, expired or revoked token.",
    # PHI access
    "contact.phi_viewed": "A contact's details were shown.",
    "contact.list_viewed": "A list of contacts was shown.",
    # Encryption keys
    "encryption.key_created": "A new version of a tenant's encryption or blind-index key was created.",
    "encryption.key_rotation_started": "An admin started re-encrypting the organisation's data under a new key.",
    "encryption.key_rotation_finished": "Re-encryption under the new key finished.",
    "encryption.keys_destroyed": "An admin destroyed all of the organisation's keys (crypto-shredding).",
    # The audit log itself
    "audit.viewed": "The audit log was viewed.",
    "audit.exported": "The audit log was exported.",
    "audit.verification_failed": "Verification found the audit chain broken.",
}


class UnknownAction(ValueError):
    pass


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise UnknownAction(f"{action!r} is not a registered audit action (audit/actions.py).")

"""Every audit action has a stable dotted name registered here; ``audit.record`` refuses names
that are not. Later work adds its actions to this registry."""

from __future__ import annotations

ACTIONS: dict[str, str] = {
    # Sign-in
    "auth.login_succeeded": "A user signed in (the factor used is in the details).",
    "auth.login_failed": "A sign-in attempt failed.",
    "auth.logout": "A user signed out.",
    "auth.locked_out": "Sign-in was locked for an address or IP after repeated failures.",
    "auth.session_expired": "A session ended on its own: idle too long, or at its maximum length.",
    "auth.organisation_switched": "A user switched the organisation they work in.",
    "auth.second_factor_failed": "A wrong authenticator code, recovery code or passkey was presented at sign-in.",
    "auth.passkey_added": "A user registered a passkey.",
    "auth.passkey_removed": "A user removed one of their passkeys.",
    "auth.passkey_renamed": "A user renamed one of their passkeys.",
    "auth.passkey_refused": "A passkey assertion was refused (bad signature, no user verification, replay, ...).",
    "auth.passkey_counter_regressed": "A passkey's signature counter went backwards: it may have been cloned.",
    "auth.totp_enrolled": "A user set up an authenticator app.",
    "auth.totp_removed": "A user removed their authenticator app.",
    "auth.recovery_codes_generated": "A user generated a new set of recovery codes (older ones stopped working).",
    "auth.recovery_code_used": "A recovery code was used to sign in.",
    "auth.reauthentication_failed": "A wrong password was given to confirm a change of sign-in factors.",
    "auth.step_up_succeeded": "A user confirmed a sensitive action with a fresh passkey assertion.",
    "auth.step_up_failed": "A step-up passkey assertion failed.",
    "auth.access_decision": "Conditional access decided to allow, step up or block, with the signals and rule.",
    "auth.session_refused": "A session was presented from another device or network and refused.",
    "auth.session_ended": "A session was ended by its user, an admin, or a change of factors.",
    "auth.suspicious_sign_in": "A sign-in looked suspicious (new country, impossible travel, many failures).",
    # Members and roles
    "membership.created": "A user was added to the organisation.",
    "membership.role_changed": "A member's role changed.",
    "membership.deactivated": "A member was deactivated.",
    "membership.reactivated": "A member was reactivated.",
    # Conditional access and emergency access
    "access_policy.changed": "An admin changed the organisation's conditional-access policy.",
    "break_glass.granted": "An admin granted time-boxed emergency (break-glass) access.",
    "break_glass.revoked": "An admin ended emergency access before it expired.",
    "break_glass.expired": "Emergency access reached its end time.",
    "break_glass.used": "A member signed in or acted under emergency access.",
    # API access
    "api_application.created": "An admin registered an API application and approved its scopes.",
    "api_application.scopes_changed": "An admin changed the scopes approved for an API application.",
    "api_application.revoked": "An admin revoked an API application and all its tokens.",
    "api_token.rotated": "An admin replaced an application's token with a new one.",
    "api_token.scope_refused": "An API call was refused because its token lacks the scope.",
    "api_token.created": "A token was issued for a newly registered API application.",
    "api_token.revoked": "An admin revoked an API token (before API applications; kept for older events).",
    "api_token.used": "An API call was made with a token.",
    "api_token.rejected": "An API call presented an invalid, expired or revoked token.",
    # PHI access
    "contact.phi_viewed": "A contact's details were shown.",
    "contact.list_viewed": "A list of contacts was shown.",
    "contact.created": "A contact was created (web or API).",
    "contact.updated": "A contact was changed; the details name the fields, never their values.",
    "contact.import_uploaded": "A CSV of contacts was uploaded (stored encrypted) for import.",
    "contact.import_started": "A contact import's column mapping was confirmed and the import queued.",
    "contact.import_finished": "A contact import was applied; the details count the rows created and updated.",
    "contact.import_failed": "A contact import ended with nothing imported (invalid rows, an error or a cancel).",
    "contact.import_cancelled": "Someone asked to cancel a contact import.",
    "contact.exported": "Contacts were exported as CSV (PHI included); the details count them.",
    # Data dictionary and retention
    "attribute.defined": "An attribute was added to the data dictionary.",
    "attribute.updated": "An attribute of the data dictionary was changed.",
    "attribute.deleted": "An attribute was deleted from the data dictionary, with its values on every contact.",
    "segment.created": "A saved segment was created (the details count its conditions, never their values).",
    "segment.updated": "A saved segment was changed; the details name the changed fields.",
    "segment.deleted": "A saved segment was deleted.",
    "retention.policy_changed": "An admin changed the data-retention policy.",
    "retention.contacts_removed": "Contacts inactive beyond the retention policy were removed.",
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

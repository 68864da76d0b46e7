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
    "attribute.delete_started": "An attribute was hidden for deletion; its values are removed in the background.",
    "segment.created": "A saved segment was created (the details count its conditions, never their values).",
    "segment.updated": "A saved segment was changed; the details name the changed fields.",
    "segment.deleted": "A saved segment was deleted.",
    "retention.policy_changed": "An admin changed the data-retention policy.",
    "retention.contacts_removed": "Contacts inactive beyond the retention policy were removed.",
    # Consent, authorisations and suppression
    "consent.changed": "A contact's consent for a purpose changed (the details give the purpose, statuses and source).",
    "consent.imported": "A contact import set consent from its consent columns; the details count the changes.",
    "consent.confirmation_requested": "An opt-in form was submitted and a confirmation link emailed.",
    "consent.preferences_changed": "A recipient or staff member changed a contact's topics or frequency.",
    "consent.unencrypted_email_changed": "A contact chose, or stopped choosing, PHI by plain email after the warning.",
    "consent.purpose_created": "An organisation added a consent purpose of its own.",
    "consent.purpose_archived": "A consent purpose was archived: it can be granted no more.",
    "consent.topic_created": "A preference-centre topic was added.",
    "consent.authorisation_text_published": "A new version of a HIPAA marketing authorisation text was published.",
    "consent.authorisation_recorded": "A contact's signed HIPAA marketing authorisation was recorded.",
    "consent.authorisation_revoked": "A HIPAA marketing authorisation was revoked.",
    "consent.optin_form_saved": "An opt-in form was created or changed (a new form version).",
    "consent.report_exported": "The consent report was exported as CSV.",
    "consent.history_viewed": "A contact's consent history was shown.",
    "consent.optin_confirmed": "A recipient followed a double opt-in confirmation link; the purposes were granted.",
    "consent.unsubscribed": "A recipient unsubscribed by link, one-click POST (RFC 8058) or mailto address.",
    "suppression.added": "An address was added to the suppression list (unsubscribe, bounce, complaint or staff).",
    "suppression.removed": "An address was taken off the suppression list.",
    # Email templates
    # Campaigns
    "campaign.created": "A campaign was created as a draft.",
    "campaign.updated": "A draft campaign was changed; the details name the fields and whether approval was withdrawn.",
    "campaign.approved": "A compliance officer approved a campaign with a template version.",
    "campaign.launched": "A campaign was launched: its audience frozen into messages (the count is in the details).",
    "campaign.started": "A scheduled campaign's time came: it started sending.",
    "campaign.paused": "A campaign was paused: no more messages are claimed for sending.",
    "campaign.resumed": "A paused campaign was resumed.",
    "campaign.cancelled": "A campaign was cancelled with the messages still waiting (their count is in the details).",
    "campaign.completed": "A campaign finished: no message is left to try (counts per state in the details).",
    "journey.created": "A journey was created with its first draft version.",
    "journey.version_saved": "A journey's draft steps were saved (the version number in the details).",
    "journey.version_submitted": "A journey version was submitted for compliance review.",
    "journey.version_approved": "A compliance officer approved a journey version, pinning its templates' versions.",
    "journey.version_changes_requested": "A compliance officer asked for changes to a journey version.",
    "journey.activated": "A journey version was activated: new trigger events start walks on it.",
    "journey.paused": "A journey was paused: its walks keep their place and no step runs.",
    "journey.resumed": "A paused journey was resumed: each walk's next step is due again.",
    "trigger_type.created": "An organisation defined a trigger event type (key and field counts in the details).",
    "trigger_events.received": "Trigger events came in through the API (counts stored, replayed, per type; no values).",
    "campaign.transactional_created": "A transactional container (a campaign per approved template version and "
    "purpose) was created on the first transactional send through the API.",
    "message.enqueued": "A transactional message was requested through the API (its outcome: queued, capped, "
    "no_consent or suppressed; reason codes, no values).",
    "campaign.settings_changed": "The organisation's campaign settings (frequency caps, quiet hours, fallback time "
    "zone) changed.",
    "template.created": "An email template was created with its first draft version.",
    "template.draft_started": "A new draft version of a template was started from its latest version.",
    "template.draft_saved": "A template's draft was saved; the details count its merge fields and PHI fields.",
    "template.submitted": "A template version was submitted for compliance review.",
    "template.approved": "A compliance officer approved a template version: it may now be sent.",
    "template.changes_requested": "A compliance officer asked for changes to a template version.",
    "template.commented": "Someone commented on a template version under review.",
    "template.preview_revealed": "A template preview was rendered with a real contact's PHI shown.",
    "template.test_sent": (
        "A test message of a template version was sent to a member's own address or an address on the "
        "organisation's test list (details say which, never the address)."
    ),
    "template.test_delivered": "A template test message was accepted by the recipient's mail server (details: TLS).",
    "template.test_not_delivered": (
        "A template test message was not delivered: held by the protection policy or the BAA gate, refused, "
        "or given up (details give the pipeline's reason codes)."
    ),
    "template.test_address_added": "An admin added an address to the organisation's list for template tests.",
    "template.test_address_removed": "An admin removed an address from the organisation's list for template tests.",
    # Encryption keys
    "encryption.key_created": "A new version of a tenant's encryption or blind-index key was created.",
    "encryption.key_rotation_started": "An admin started re-encrypting the organisation's data under a new key.",
    "encryption.key_rotation_finished": "Re-encryption under the new key finished.",
    "encryption.keys_destroyed": "An admin destroyed all of the organisation's keys (crypto-shredding).",
    # Protection policy and quarantine
    "protection.policy_changed": "An admin changed the protection policy; the details name the settings and values.",
    "protection.simulated": "The protection simulator was run (level, action and finding count only; never the text).",
    "escrow.stored": "A message was held encrypted in escrow for pickup in the recipient portal (details: expiry).",
    "escrow.notice_sent": "The PHI-free notice of an escrowed message was handed to the recipient's mail server.",
    "escrow.retracted": "The sender retracted an escrowed message: its content was deleted.",
    "escrow.expired": "An escrowed message reached its expiry: its content was deleted.",
    "escrow.portal_opened": "A recipient opened the link to an escrowed message in the portal.",
    "escrow.code_sent": "A one-time code for an escrowed message was sent to the recipient's address.",
    "escrow.code_failed": "A wrong one-time code or shared-secret answer was entered for an escrowed message.",
    "escrow.locked": "An escrowed message locked after too many wrong codes or answers.",
    "escrow.verified": "A recipient proved their address (code or passkey) for an escrowed message in one browser.",
    "escrow.read": "A recipient read an escrowed message in the portal.",
    "escrow.reply_sent": "A recipient sent a secure reply from the portal (stored encrypted).",
    "escrow.reply_read": "A member read a recipient's secure reply.",
    "escrow.passkey_registered": "A recipient registered a passkey in the portal to skip codes next time.",
    "escrow.settings_changed": "An admin changed the escrow settings (expiry, shared secret, passkeys, branding).",
    "quarantine.held": "The protection policy held a message for compliance review (finding types and reason codes).",
    "quarantine.viewed": "A compliance officer opened a held message (its subject and body, with PHI).",
    "quarantine.released": "A compliance officer released a held message: it may now be sent.",
    "quarantine.rejected": "A compliance officer rejected a held message: it will not be sent.",
    # BAA
    "baa.drafted": "An admin prepared a business associate agreement on a published version, for signature.",
    "baa.signed": "An admin signed the business associate agreement (the details hold the text's SHA-256).",
    "baa.activated": "Sealpost countersigned the business associate agreement; it is in force.",
    "baa.terminated": "A business associate agreement was terminated (by an admin, or superseded by a newer one).",
    "baa.expired": "A business associate agreement reached its expiry date.",
    "baa.downloaded": "The signed copy of a business associate agreement was downloaded.",
    "subprocessor.added": "A sub-processor was added to the register.",
    "subprocessor.updated": "A sub-processor was changed; the details name the changed fields.",
    "subprocessor.removed": "A sub-processor was removed from the register.",
    # Delivery
    "delivery.batch_processed": "The send pipeline processed a batch of a campaign's messages (counts, reason codes).",
    "delivery.domain_checked": "A member checked a recipient domain's TLS posture now (the details give the outcome).",
    "delivery.inbound_report_received": "An inbound bounce report (DSN) or complaint (ARF) was stored encrypted.",
    "delivery.inbound_report_processed": "An inbound report was checked against its message (outcome, codes).",
    "delivery.bounce_recorded": "A bounce after sending (DSN or SES) was recorded on its message (codes only).",
    "delivery.complaint_recorded": "A spam complaint (ARF or SES) about a message was recorded (feedback type).",
    "sending_domain.added": "An admin added a sending domain; a new DKIM key was generated for it.",
    "sending_domain.checked": "A sending domain's DKIM, SPF and DMARC records were checked (details: each result).",
    "sending_domain.removed": "An admin removed a sending domain and its DKIM key.",
    "sending_domain.verified_for_demo": "seed_demo marked a demo sending domain verified without DNS (demo only).",
    # Compliance reports (reporting.compliance)
    "report.export_requested": "A compliance report export was requested (the details give the format and period).",
    "report.export_generated": "A compliance report export was generated and stored encrypted (rows, size).",
    "report.export_failed": "A compliance report export could not be generated (an error code, never data).",
    "report.export_downloaded": "A generated compliance report export was downloaded.",
    # Tracking (reporting.tracking)
    "tracking.settings_changed": "An admin changed the organisation's open/click tracking switches.",
    "campaign.tracking_changed": "Open and click tracking was turned on or off for a campaign.",
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

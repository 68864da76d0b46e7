"""The pre-launch checklist: every condition launch requires, in the order launch checks them,
each with a stable code and a reason that says what to do. The campaign page shows them all
(green or red); ``campaign_launch`` refuses at the first that fails.

Approval rule: a campaign needs a compliance officer's approval when its template version
carries PHI fields or its purpose is marketing (HIPAA marketing needs an authorisation per
recipient, and compliance owns that). The approval is for one template version: if a newer
version is approved afterwards, launch (which pins the newest) asks for approval again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from baa.gate import phi_sending_decision
from campaigns.models import Campaign, CampaignStatus, ScheduleKind
from consent.purposes import PurposeInfo, UnknownPurpose, purpose_get
from segments.segment_services import segment_rule_errors
from templates.models import TemplateVersion
from templates.selectors import approved_version
from tenants.models import Organisation


class Code:
    STATE = "state"
    TEMPLATE = "template"
    APPROVAL = "approval"
    BAA = "baa"
    SENDING_DOMAIN = "sending_domain"
    SEGMENT = "segment"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class Check:
    code: str
    label: str
    ok: bool
    reason: str


@dataclass
class LaunchPlan:
    checks: list[Check] = field(default_factory=list)
    version: TemplateVersion | None = None
    needs_approval: bool = False

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)


def approval_required(*, purpose: PurposeInfo | None, version: TemplateVersion | None) -> bool:
    if purpose is not None and purpose.is_marketing:
        return True
    return bool(version is not None and version.phi_fields)


def sending_domain_ok(*, tenant: Organisation, domain: str) -> bool:
    """Whether ``domain`` is a verified sending domain of ``tenant`` (delivery owns the answer).
    Until delivery provides the check, no domain counts as verified: launch fails closed."""
    try:
        from delivery.sending_domains import sending_domain_verified  # type: ignore[import-not-found]
    except ImportError:
        return False
    return bool(sending_domain_verified(tenant=tenant, domain=domain))


def _state(campaign: Campaign) -> Check:
    ok = campaign.status == CampaignStatus.DRAFT
    reason = "The campaign is a draft." if ok else f"The campaign is {campaign.get_status_display().lower()}."
    if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED):
        reason = "The campaign was already launched."
    return Check(Code.STATE, "Not launched yet", ok, reason)


def _template(
    tenant: Organisation, campaign: Campaign, purpose: PurposeInfo | None
) -> tuple[Check, TemplateVersion | None]:
    label = "Template version approved"
    if campaign.template.is_archived:
        return Check(Code.TEMPLATE, label, False, "The template is archived."), None
    if purpose is None:
        return Check(Code.TEMPLATE, label, False, "The campaign's consent purpose no longer exists."), None
    if campaign.template.purpose != campaign.purpose:
        return Check(Code.TEMPLATE, label, False, "The template was written for another consent purpose."), None
    version = approved_version(tenant=tenant, template=campaign.template)
    if version is None:
        reason = "No version of the template is approved: submit it for compliance review."
        return Check(Code.TEMPLATE, label, False, reason), None
    return Check(Code.TEMPLATE, label, True, f"Version {version.number} is approved and will be sent."), version


def _approval(campaign: Campaign, version: TemplateVersion | None, needed: bool) -> Check:
    label = "Compliance approval"
    if not needed:
        return Check(Code.APPROVAL, label, True, "Not needed: no PHI fields and not marketing.")
    if version is None:
        return Check(Code.APPROVAL, label, False, "Needed, once a template version is approved.")
    if campaign.approved_at is None:
        return Check(Code.APPROVAL, label, False, "Needed (PHI or marketing): a compliance officer must approve.")
    if campaign.approved_version_id != version.pk:
        return Check(Code.APPROVAL, label, False, "The approval was for an older template version: approve again.")
    return Check(Code.APPROVAL, label, True, "Approved by a compliance officer.")


def _baa(tenant: Organisation, version: TemplateVersion | None, now: datetime) -> Check:
    label = "Business associate agreement"
    if version is None:
        return Check(Code.BAA, label, False, "Checked once a template version is approved.")
    decision = phi_sending_decision(tenant=tenant, phi=bool(version.phi_fields), at=now)
    return Check(Code.BAA, label, decision.allowed, decision.reason)


def _domain(tenant: Organisation, campaign: Campaign) -> Check:
    label = "Sending domain verified"
    domain = campaign.from_domain
    if sending_domain_ok(tenant=tenant, domain=domain):
        return Check(Code.SENDING_DOMAIN, label, True, f"{domain} is verified (DKIM, SPF, DMARC).")
    reason = f"{domain} is not a verified sending domain of the organisation: an admin must verify it."
    return Check(Code.SENDING_DOMAIN, label, False, reason)


def _segment(tenant: Organisation, campaign: Campaign) -> Check:
    label = "Audience segment"
    if campaign.segment is None:
        return Check(Code.SEGMENT, label, False, "Choose a segment.")
    if segment_rule_errors(tenant=tenant, rules=campaign.segment.rules):
        reason = "The segment's rules no longer validate (an attribute changed): fix the segment."
        return Check(Code.SEGMENT, label, False, reason)
    return Check(Code.SEGMENT, label, True, f"Segment “{campaign.segment.name}”.")


def schedule_problem(campaign: Campaign) -> str:
    if campaign.schedule_kind == ScheduleKind.AT and campaign.scheduled_at is None:
        return "Choose the date and time to send at."
    if campaign.schedule_kind == ScheduleKind.LOCAL_TIME and (
        campaign.local_send_date is None or campaign.local_send_time is None
    ):
        return "Choose the local date and time to send at."
    return ""


def _schedule(campaign: Campaign) -> Check:
    problem = schedule_problem(campaign)
    return Check(Code.SCHEDULE, "Schedule", not problem, problem or campaign.get_schedule_kind_display() + ".")


def launch_plan(*, tenant: Organisation, campaign: Campaign, now: datetime | None = None) -> LaunchPlan:
    now = now or timezone.now()
    try:
        purpose: PurposeInfo | None = purpose_get(tenant=tenant, key=campaign.purpose)
    except UnknownPurpose:
        purpose = None
    template_check, version = _template(tenant, campaign, purpose)
    needed = approval_required(purpose=purpose, version=version)
    checks = [
        _state(campaign),
        template_check,
        _approval(campaign, version, needed),
        _baa(tenant, version, now),
        _domain(tenant, campaign),
        _segment(tenant, campaign),
        _schedule(campaign),
    ]
    return LaunchPlan(checks=checks, version=version, needs_approval=needed)

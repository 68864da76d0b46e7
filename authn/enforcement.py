"""Conditional access on every request of a session, in the organisation the request acts for.

- Network, country and sign-in-hour rules of the active organisation's policy: a request that
  breaks one is refused (403 page with the reason, audited); the user may switch organisation or
  sign out.
- The factor the role requires: admins and compliance officers always need a passkey; marketers
  what the policy says. A session opened with a weaker factor can only reach the pages that let
  the user enroll the missing factor (or confirm with a passkey they already have) and sign out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from authn.auth_state import auth_state
from authn.conditional_access import Outcome, Signals, evaluate, required_factor
from authn.geo import locate
from authn.models import Factor, RequiredFactor
from authn.policies import access_decision_record, access_policy_for
from sealpost.api_errors import error_body
from sealpost.request_id import client_ip

# Pages a session may reach while it lacks the factor its role requires.
ENROLLMENT_VIEWS = frozenset(
    {
        "authn:enroll",
        "authn:step_up",
        "authn:step_up_options",
        "authn:step_up_verify",
        "authn:passkey_list",
        "authn:passkey_options",
        "authn:passkey_register",
        "authn:totp_setup",
        "authn:recovery_codes",
        "authn:logout",
        "authn:security",
        "authn:sign_in_history",
        "authn:session_list",
        "authn:session_end",
        "authn:session_end_others",
        "tenants:switch",
    }
)
# Pages that stay reachable when the policy blocks the organisation.
BLOCKED_VIEWS = frozenset({"authn:logout", "tenants:switch"})


@dataclass(frozen=True)
class FactorRequirement:
    required: RequiredFactor
    have: Factor
    role: str

    @property
    def satisfied(self) -> bool:
        return self.have.strength >= self.required.strength


def factor_requirement(request: HttpRequest) -> FactorRequirement | None:
    membership = getattr(request, "membership", None)
    state = auth_state(request)
    tenant = getattr(request, "tenant", None)
    if membership is None or state is None or tenant is None:
        return None
    # The middleware already read the policy for this request.
    policy = getattr(request, "access_policy", None) or access_policy_for(tenant=tenant)
    return FactorRequirement(required=required_factor(policy, membership.role), have=state.factor, role=membership.role)


def _view_name(request: HttpRequest) -> str:
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return ""


class ConditionalAccessMiddleware:
    """Runs inside the tenant context (after ``TenantMiddleware``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = getattr(request, "membership", None)
        tenant = getattr(request, "tenant", None)
        state = auth_state(request)
        if not request.user.is_authenticated or membership is None or tenant is None or state is None:
            return self.get_response(request)
        view_name = _view_name(request)
        policy = access_policy_for(tenant=tenant)
        request.access_policy = policy  # type: ignore[attr-defined]
        ip = client_ip(request)
        signals = Signals(
            now=timezone.now(),
            ip=ip,
            location=locate(ip),
            role=str(membership.role),
            factor=state.factor,
            device_known=True,
            known_countries=frozenset(),
            previous=None,
            break_glass=getattr(request, "break_glass", None) is not None,
        )
        decision = evaluate(policy, signals, at_sign_in=False)
        if decision.outcome == Outcome.BLOCK and view_name not in BLOCKED_VIEWS:
            access_decision_record(tenant=tenant, user=request.user, decision=decision, stage="request")  # type: ignore[arg-type]
            if request.path.startswith("/api/"):
                return JsonResponse(error_body("access_blocked", decision.reason), status=403)
            return render(request, "authn/access_blocked.html", {"reason": decision.reason}, status=403)
        if decision.outcome == Outcome.STEP_UP and view_name not in ENROLLMENT_VIEWS:
            if request.path.startswith("/api/"):
                return JsonResponse(error_body("factor_required", decision.reason), status=403)
            return redirect(self._factor_page(request))
        return self.get_response(request)

    @staticmethod
    def _factor_page(request: HttpRequest) -> str:
        from authn.passkeys import user_has_passkey
        from authn.stepup import step_up_url

        if user_has_passkey(request.user):  # type: ignore[arg-type]
            return step_up_url(request)
        return reverse("authn:enroll")

"""``{% baa_gate_notice %}``: on the dashboard, says why PHI cannot be sent and where to sign."""

from __future__ import annotations

from typing import Any

from django import template

from baa.gate import phi_sending_decision
from tenants.permissions import role_has_permission

register = template.Library()


@register.inclusion_tag("baa/_gate_notice.html", takes_context=True)
def baa_gate_notice(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    tenant = getattr(request, "tenant", None)
    membership = getattr(request, "membership", None)
    if tenant is None or membership is None:
        return {"decision": None}
    decision = phi_sending_decision(tenant=tenant, phi=True)
    return {
        "decision": None if decision.allowed else decision,
        "can_view": role_has_permission(membership.role, "baa.view"),
    }

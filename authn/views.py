from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.selectors import sign_in_history
from tenants.access import login_only, require_permission
from tenants.http import TenantRequest

logout = login_only(auth_views.LogoutView.as_view())


@require_GET
@require_permission("account.view")
def sign_in_history_view(request: TenantRequest) -> HttpResponse:
    events = sign_in_history(tenant=request.tenant, user_id=request.user.pk)
    return render(request, "authn/sign_in_history.html", {"events": events})

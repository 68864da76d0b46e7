from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.selectors import sign_in_history
from authn.forms import ApiTokenForm, EmailAuthenticationForm
from authn.models import Factor
from authn.selectors import api_token_get, api_token_list
from authn.services import api_token_create, api_token_revoke
from authn.signin import open_user_session
from tenants.access import login_only, public_view, require_permission
from tenants.http import TenantRequest


class PasswordLoginView(auth_views.LoginView):
    template_name = "authn/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: EmailAuthenticationForm) -> HttpResponse:  # type: ignore[override]
        open_user_session(self.request, form.get_user(), factor=Factor.PASSWORD)
        return HttpResponseRedirect(self.get_success_url())


login = public_view(PasswordLoginView.as_view())
logout = login_only(auth_views.LogoutView.as_view())


@require_GET
@require_permission("account.view")
def sign_in_history_view(request: TenantRequest) -> HttpResponse:
    events = sign_in_history(tenant=request.tenant, user_id=request.user.pk)
    return render(request, "authn/sign_in_history.html", {"events": events})


@require_http_methods(["GET", "POST"])
@require_permission("api_tokens.manage")
def api_token_list_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    form = ApiTokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        issued = api_token_create(
            tenant=tenant,
            actor=request.user,
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            expires_at=form.expires_at(),
        )
        form = ApiTokenForm()
    status = 400 if form.errors else 200
    context = {"tokens": api_token_list(tenant=tenant), "form": form, "issued": issued}
    response = render(request, "authn/api_tokens.html", context, status=status)
    if issued is not None:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@require_permission("api_tokens.manage")
def api_token_revoke_view(request: TenantRequest, token_id: uuid.UUID) -> HttpResponse:
    tenant = request.tenant
    token = api_token_get(tenant=tenant, token_id=token_id)
    api_token_revoke(tenant=tenant, actor=request.user, token=token)
    messages.success(request, f"Revoked “{token.name}”. Calls with it now fail.")
    return redirect("authn:api_token_list")

"""The dev mailbox: what the local SMTP sink received, for development and demos only.

Off (404) whenever ``DEV_MAILBOX_ENABLED`` is False, which production forces. The check runs
before the sign-in check, so a production deployment does not even reveal the pages exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from delivery.mailbox import MessageNotFound, is_valid_message_id, mailbox_get, mailbox_list
from tenants.access import login_only


def dev_mailbox_only[View: Callable[..., HttpResponse]](view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DEV_MAILBOX_ENABLED:
            raise Http404("The dev mailbox is disabled.")
        return view(request, *args, **kwargs)

    return wrapped  # type: ignore[return-value]


@dev_mailbox_only
@login_only
@require_GET
def mailbox(request: HttpRequest) -> HttpResponse:
    return render(request, "delivery/mailbox.html", {"mail": mailbox_list()})


@dev_mailbox_only
@login_only
@require_GET
def mailbox_message(request: HttpRequest, message_id: str) -> HttpResponse:
    if not is_valid_message_id(message_id):
        raise Http404("No such message.")
    try:
        message = mailbox_get(message_id=message_id)
    except MessageNotFound:
        raise Http404("No such message.") from None
    return render(request, "delivery/mailbox_message.html", {"message": message})

"""The Celery application.

Tasks take ids and the tenant id, never model instances or PHI. The request id of whatever
enqueued a task travels as a message header and is restored around the task, so a request and
all the work it causes share one id in the logs.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")

app = Celery("sealpost")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "sealpost_request_id"
_tokens: dict[str, Any] = {}


@before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from sealpost.request_id import get_request_id

    if headers is not None:
        request_id = get_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect
def _restore_request_id(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    from sealpost.request_id import clean_request_id, set_request_id

    incoming = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    if incoming is None and task is not None:
        incoming = (getattr(task.request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    if task_id is not None:
        _tokens[task_id] = set_request_id(clean_request_id(incoming))


@task_postrun.connect
def _clear_request_id(task_id: str | None = None, **_: Any) -> None:
    from sealpost.request_id import reset_request_id

    token = _tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        reset_request_id(token)

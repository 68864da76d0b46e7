"""Due-work handlers for the scheduler's tests, registered on import (the in-process tests
import this module; the real worker of the restart test gets it with ``--include``).

- ``test.record``: records its run as a ``DueWork`` row of kind ``test.ran`` for the same
  subject, in the handler's transaction: a committed run leaves exactly one such row. With
  ``SCHEDULING_PROBE_FILE`` set it first appends the subject to that file (outside the
  transaction: every *start* is there, including runs that never committed) and then sleeps
  ``SCHEDULING_PROBE_SLEEP`` seconds, so a test can kill a worker in the middle of one.
- ``test.fail``: always raises (its run is rolled back).
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.utils import timezone

from campaigns.scheduling import register_due_work_handler
from campaigns.scheduling_models import DueWork, DueWorkStatus

RECORD = "test.record"
RAN = "test.ran"
FAIL = "test.fail"


class ProbeFailure(RuntimeError):
    pass


def record(*, tenant: Any, work: DueWork) -> None:
    started = os.environ.get("SCHEDULING_PROBE_FILE")
    if started:
        with open(started, "a", encoding="utf-8") as out:
            out.write(f"{work.subject_id}\n")
        time.sleep(float(os.environ.get("SCHEDULING_PROBE_SLEEP", "0")))
    now = timezone.now()
    DueWork(
        tenant=tenant, kind=RAN, subject_id=work.subject_id, due_at=now, status=DueWorkStatus.DONE, done_at=now
    ).save()


def fail(*, tenant: Any, work: DueWork) -> None:
    DueWork(tenant=tenant, kind=RAN, subject_id=work.subject_id, due_at=timezone.now(), status="done").save()
    raise ProbeFailure("synthetic failure")


register_due_work_handler(RECORD, record)
register_due_work_handler(FAIL, fail)

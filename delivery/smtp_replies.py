"""What an SMTP attempt came to, and when to try again.

Outcomes (``Status``):

==============  ==============================================================================
sent            2xx to the final "." (or SES accepted the message)
deferred        4xx at any step, connection refused/reset/timed out before the final "." was
                sent, 421 (the server is closing), DNS failure: try again after
                ``next_attempt_delay``; a message deferred for longer than ``give_up_after()``
                becomes ``bounced`` (``expire_deferred``)
bounced         5xx (hard). ``suppress`` is set for 5.1.x (bad mailbox/domain/address) and
                5.2.1 (mailbox disabled), and for domains that take no mail; not for 5.7.x
                (policy, reputation, authentication: the address is fine, our mail was refused),
                5.2.2 (mailbox full), 5.3.x/5.4.x/5.5.x/5.6.x (message or system problems), nor
                for a 5xx without an enhanced code
unknown         the final "." was written and then the connection was lost or timed out before a
                reply: the server may have accepted it; never resend blindly
tls_failed      a "verified" envelope could not get verified TLS (no STARTTLS, STARTTLS refused,
                handshake failed, certificate invalid, TLS < 1.2); nothing of the message was sent.
                The protection policy decides: retry later or escrow
==============  ==============================================================================

Server reply text is never kept raw (it often repeats the recipient address): ``scrub``
removes anything that looks like an address and truncates.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

BACKOFF_BASE_SECONDS = 60.0
BACKOFF_CAP_SECONDS = 6 * 3600.0
DEFAULT_GIVE_UP_AFTER = timedelta(days=4)
DETAIL_MAX = 160

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_ADDRESSY = re.compile(r"<[^>]*>|[^\s<>()\[\]\"',;]+@[^\s<>()\[\]\"',;]*|\S*%40\S*", re.IGNORECASE)
_UNSAFE = re.compile(r"[^\x20-\x7e]")
_SUPPRESS_EXACT = frozenset({"5.2.1"})


class Status(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    UNKNOWN = "unknown"
    TLS_FAILED = "tls_failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One envelope's result. ``detail`` is PHI-free (no addresses, no raw server text);
    ``tls_version`` is the protocol the message went over (``None``: plaintext or not sent);
    ``mx_host`` the host that answered."""

    status: Status
    code: int | None = None
    enhanced: str | None = None
    detail: str = ""
    suppress: bool = False
    tls_version: str | None = None
    mx_host: str | None = None
    provider_message_id: str | None = None  # SES MessageId

    @property
    def retryable(self) -> bool:
        return self.status in (Status.DEFERRED, Status.TLS_FAILED)


def parse_enhanced(text: str | bytes) -> str | None:
    """The RFC 3463 enhanced status code at the start of a reply text (``"5.1.1"``), if any."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    match = _ENHANCED.match(text)
    return ".".join(match.groups()) if match else None


def scrub(text: str | bytes, limit: int = DETAIL_MAX) -> str:
    """Server text made safe to store: no address-like tokens, printable ASCII, truncated."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _ADDRESSY.sub("[address]", text)
    text = _UNSAFE.sub(" ", text)
    return " ".join(text.split())[:limit]


def suppresses(enhanced: str | None) -> bool:
    """Whether a permanent failure with this enhanced code means the address is dead."""
    if enhanced is None or not enhanced.startswith("5."):
        return False
    return enhanced.startswith("5.1.") or enhanced in _SUPPRESS_EXACT


def classify_reply(code: int, text: str | bytes = b"", *, step: str = "reply") -> Outcome:
    """The outcome of an SMTP reply ``code`` (to the final "." or to an earlier command that
    ended the attempt). ``step`` names the command in ``detail``."""
    enhanced = parse_enhanced(text)
    if enhanced is not None and enhanced[0] != str(code)[0]:
        enhanced = None  # RFC 3463: the class must agree with the reply code
    detail = f"{step}: {code}" + (f" {enhanced}" if enhanced else "")
    if 200 <= code < 300:
        return Outcome(Status.SENT, code, enhanced, detail)
    if 500 <= code < 600:
        return Outcome(Status.BOUNCED, code, enhanced, detail, suppress=suppresses(enhanced))
    return Outcome(Status.DEFERRED, code, enhanced, detail)  # 4xx, and anything unexpected


# --- Retries ------------------------------------------------------------------------------------


def next_attempt_delay(
    attempt: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` after ``attempt`` (1-based) failed:
    exponential backoff with full jitter, uniform in [base/2, min(cap, base·2^(attempt-1))]
    (half the base as a floor, so a retry never comes immediately)."""
    ceiling = min(cap, base * 2 ** max(0, min(attempt - 1, 40)))
    return (rng or random).uniform(min(base / 2, ceiling), ceiling)


def give_up_after() -> timedelta:
    """``DELIVERY_GIVE_UP_AFTER`` (seconds, or a timedelta), default 4 days."""
    from django.conf import settings

    value = getattr(settings, "DELIVERY_GIVE_UP_AFTER", None)
    if value is None:
        return DEFAULT_GIVE_UP_AFTER
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def expire_deferred(outcome: Outcome, *, first_attempt_at: datetime, now: datetime) -> Outcome:
    """A deferred (or TLS-failed) outcome past ``give_up_after()`` since the first attempt is a
    bounce (not suppressing: the address may be fine, the domain just never took it)."""
    if outcome.status in (Status.DEFERRED, Status.TLS_FAILED) and now - first_attempt_at >= give_up_after():
        return Outcome(
            Status.BOUNCED,
            outcome.code,
            outcome.enhanced,
            f"gave up after {give_up_after()} (last: {outcome.detail})",
            suppress=False,
            mx_host=outcome.mx_host,
        )
    return outcome

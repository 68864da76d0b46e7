"""Is an open or a click a person's, or a machine's? Flagged, never dropped: a machine's open or
click is stored (``Event.machine``, with a reason code in ``detail``) and counts under
``opened_machine`` / ``clicked_machine``, never as a person's (``reporting.events``).

The heuristics (docs/tracking.md, "Machine opens and clicks"), first match wins:

1. ``head`` — a HEAD request. Browsers and mail clients GET; link checkers and security
   scanners often ask for the headers only.
2. ``too_soon`` — within ``SCAN_WINDOW_SECONDS`` of the message's hand-off to the recipient's
   server. Secure email gateways (Microsoft Defender Safe Links, Mimecast, Proofpoint,
   Barracuda) fetch every link and image while the message is being delivered, before any
   person could have read it.
3. ``proxy`` — a mail provider's image proxy, which fetches images for the mailbox (Gmail's
   ``GoogleImageProxy``, Yahoo's ``YahooMailProxy``): the open says the message was delivered
   to the mailbox, not that anyone looked at it.
4. ``apple_mpp`` — Apple Mail Privacy Protection: Apple's relays prefetch every remote image of
   every message with a bare ``Mozilla/5.0`` user agent (no platform, no engine); an empty user
   agent is treated the same way (no mail client sends none).
5. ``scanner`` — a user agent naming a security scanner, link-preview bot or HTTP library
   (``SCANNER_MARKERS``).

User agents are matched case-insensitively by substring. Nothing here is stored: the request's
user agent and address never reach the database, only the reason code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SCAN_WINDOW_SECONDS = 10

PROXY_MARKERS = ("googleimageproxy", "ggpht.com", "yahoomailproxy", "ymailproxy")
APPLE_MPP_AGENTS = frozenset({"", "mozilla/5.0"})
SCANNER_MARKERS = (
    # Secure email gateways and link protection
    "barracuda",
    "mimecast",
    "proofpoint",
    "ppops",
    "safelinks",
    "microsoft office existence discovery",
    "bingpreview",
    "forcepoint",
    "trendmicro",
    "messagelabs",
    "symantec",
    "ironport",
    "cisco",
    "fireeye",
    "sophos",
    "zscaler",
    # Link previews, crawlers and HTTP libraries
    "bot",
    "crawler",
    "spider",
    "slurp",
    "facebookexternalhit",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "curl/",
    "wget/",
    "libwww",
    "okhttp",
    "java/",
    "apache-httpclient",
)


@dataclass(frozen=True)
class Verdict:
    machine: bool
    reason: str = ""  # a code (Event.detail), never the user agent


HUMAN = Verdict(False)


def machine_verdict(*, method: str, user_agent: str, at: datetime, handed_off_at: datetime | None) -> Verdict:
    """Whether a request for a tracking URL came from a machine, and which heuristic said so."""
    if method.upper() == "HEAD":
        return Verdict(True, "head")
    if handed_off_at is not None and 0 <= (at - handed_off_at).total_seconds() < SCAN_WINDOW_SECONDS:
        return Verdict(True, "too_soon")
    agent = " ".join(user_agent.split()).lower()
    if any(marker in agent for marker in PROXY_MARKERS):
        return Verdict(True, "proxy")
    if agent in APPLE_MPP_AGENTS:
        return Verdict(True, "apple_mpp")
    if any(marker in agent for marker in SCANNER_MARKERS):
        return Verdict(True, "scanner")
    return HUMAN

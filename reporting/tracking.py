"""Privacy-safe open and click tracking (docs/tracking.md).

**Tokens.** A tracking URL is ``SITE_URL/t/c/<token>`` (a click) or ``SITE_URL/t/o/<token>.gif``
(the open pixel). The token is the base64url (unpadded) of::

    organisation pk (unsigned LEB128)
    | AES-SIV( (message row id, link id) as two big-endian 64-bit integers,
               associated data: label, kind, the LEB128 prefix )       32 bytes
    | HMAC-SHA256(prefix | sealed)[:16]                                16 bytes

under keys derived from SECRET_KEY with labels of their own (the same derivation as the sealed
Message-ID of ``delivery.mime.message_id_for``). The organisation comes first so the request is
answered inside its tenant; the message and link are sealed, so the URL shows no row id, no
contact id, no address and nothing about the person. The HMAC is checked (constant time) before
anything is decrypted; SIV's own tag checks again. The kind (click or open) is bound in the
associated data: an open token is no click token. SECRET_KEY_FALLBACKS still open tokens made
before a key rotation. Deterministic: the same message and link always give the same URL.

**Links.** ``tracked_links_ensure`` turns the absolute http(s) URLs literally present in an
approved template version's HTML (``<a href>`` / ``<area href>`` values without template
syntax) into ``TrackedLink`` rows, idempotently. A click redirects only to the row's URL, and
only when the row belongs to the version pinned by the message's campaign: no open redirect.
Sealpost's own links (preference centre, unsubscribe, escrow portal: anything under SITE_URL)
and merge-field hrefs are never tracked.

**Switches.** Tracking applies to a message only when the organisation's ``TrackingSettings``
track opens (clicks), the campaign's ``tracking_enabled`` is on, the contact has not opted out
(``tracking_opt_out``), and the message is not PHI-bearing (unless ``track_phi_messages``).
Escrowed content, escrow notices and test sends are never tracked (the pipeline calls
``TrackingPlan.apply`` only for messages it sends itself). The same switches are checked again
when a request arrives: a switch turned off later stops recording at once (the click still
redirects).

**Text parts** are left as they are: a plain-text URL is the reader's to see and copy, so it
stays the real URL (clicks in text parts are not counted).
"""

from __future__ import annotations

import base64
import functools
import hmac
import html as html_lib
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from audit.services import Target, actor_for_user, record
from authn.models import User
from encryption.dlp.findings import LEVEL_PHI
from reporting.events import NewEvent, events_record
from reporting.machine import machine_verdict
from reporting.models import EventKind, TrackedLink, TrackingSettings
from sealpost import derived_keys, leb128
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

CLICK = b"c"
OPEN = b"o"
OPEN_LINK_ID = 0  # the pixel names no link
_LABEL = b"sealpost-tracking/v1"
_SEALED_BYTES = 32  # 16 bytes of ids + SIV's 16-byte tag
MAC_BYTES = 16
_IDS = struct.Struct(">QQ")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{40,100}")
MAX_URL_LENGTH = 2000

CLICK_PATH = "/t/c/"
OPEN_PATH = "/t/o/"

# The open pixel: a 1x1 transparent GIF.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# --- Tokens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingRef:
    """What a valid token names."""

    tenant_id: int
    message_id: int
    link_id: int


def _secrets() -> list[str]:
    return derived_keys.secrets()


def _cipher(secret: str) -> AESSIV:
    return derived_keys.siv_cipher(b"sealpost-tracking-seal", secret)


@functools.lru_cache(maxsize=8)
def _mac_key(secret: str) -> bytes:
    return derived_keys.derived_key(b"sealpost-tracking-mac", secret, size=32)


def _mac(body: bytes, secret: str) -> bytes:
    return hmac.digest(_mac_key(secret), body, "sha256")[:MAC_BYTES]


class TokenMaker:
    """Tokens of one organisation under the current key, with everything but the per-token work
    (seal, MAC, encode) done once: the pipeline makes one per tracked link per message."""

    def __init__(self, tenant_id: int, secret: str | None = None) -> None:
        secret = _secrets()[0] if secret is None else secret
        self._prefix = leb128.encode(int(tenant_id))
        self._cipher = _cipher(secret)
        self._mac_key = _mac_key(secret)
        self._site = _site()

    def token(self, message_id: int, link_id: int, kind: bytes) -> str:
        sealed = self._cipher.encrypt(_IDS.pack(message_id, link_id), [_LABEL, kind, self._prefix])
        body = self._prefix + sealed
        mac = hmac.digest(self._mac_key, body, "sha256")[:MAC_BYTES]
        return base64.urlsafe_b64encode(body + mac).decode("ascii").rstrip("=")

    def click_url(self, message_id: int, link_id: int) -> str:
        return f"{self._site}{CLICK_PATH}{self.token(message_id, link_id, CLICK)}"

    def open_url(self, message_id: int) -> str:
        return f"{self._site}{OPEN_PATH}{self.token(message_id, OPEN_LINK_ID, OPEN)}.gif"


def make_token(*, tenant_id: int, message_id: int, link_id: int, kind: bytes, secret: str | None = None) -> str:
    return TokenMaker(tenant_id, secret).token(int(message_id), int(link_id), kind)


def read_token(token: str, *, kind: bytes) -> TrackingRef | None:
    """What ``token`` names, or None for anything we did not make for ``kind`` (garbled,
    altered, another kind's, made with a key we no longer hold)."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != token:
        return None  # unused trailing bits changed: not a token we made
    read = leb128.decode(raw)
    if read is None:
        return None
    tenant_id, offset = read
    if len(raw) != offset + _SEALED_BYTES + MAC_BYTES:
        return None
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    prefix, sealed = body[:offset], body[offset:]
    for secret in _secrets():
        if not constant_time_compare(mac, _mac(body, secret)):
            continue
        try:
            plain = _cipher(secret).decrypt(sealed, [_LABEL, kind, prefix])
        except InvalidTag:
            return None
        message_id, link_id = _IDS.unpack(plain)
        return TrackingRef(tenant_id=tenant_id, message_id=message_id, link_id=link_id)
    return None


def _site() -> str:
    return str(settings.SITE_URL).rstrip("/")


def click_url(*, tenant_id: int, message_id: int, link_id: int) -> str:
    return TokenMaker(tenant_id).click_url(message_id, link_id)


def open_url(*, tenant_id: int, message_id: int) -> str:
    return TokenMaker(tenant_id).open_url(message_id)


# --- Links of a template version -------------------------------------------------------------------

_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_ANCHOR_HREF = re.compile(
    r"""(<(?:a|area)\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""",
    re.I | re.S,
)
_TEMPLATE_SYNTAX = ("{{", "}}", "{%", "%}", "{#", "#}")


def trackable_url(raw: str) -> str | None:
    """The URL a literal href value stands for, if it may be tracked: absolute http(s), no
    template syntax, no whitespace or control characters, not one of Sealpost's own pages."""
    if any(mark in raw for mark in _TEMPLATE_SYNTAX):
        return None
    url = html_lib.unescape(raw).strip()
    if not url or len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    site = _site().lower()
    if url.lower().startswith(site + "/") or url.lower() == site:
        return None  # Sealpost's own links: preference centre, unsubscribe, escrow portal
    return url


def literal_links(html_sources: Sequence[str]) -> dict[str, str]:
    """Each trackable href value as written in the sources (raw, possibly with entities) → the
    URL it stands for, in order of first appearance."""
    found: dict[str, str] = {}
    for source in html_sources:
        for match in _ANCHOR_HREF.finditer(_JINJA_COMMENT.sub("", source)):
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            if raw in found:
                continue
            url = trackable_url(raw)
            if url is not None:
                found[raw] = url
    return found


def _contents_of(tenant: Organisation, version: Any) -> list[Any]:
    from templates.selectors import version_contents

    return list(version_contents(tenant=tenant, version=version).values())


def tracked_links_ensure(
    *, tenant: Organisation, version: Any, contents: Mapping[str, Any] | None = None
) -> dict[str, TrackedLink]:
    """The version's ``TrackedLink`` rows by URL, created for every trackable URL of its HTML
    (all languages) that has none yet. Idempotent and safe under concurrency (the unique
    constraint decides). Only an approved version gets links."""
    from templates.models import VersionStatus

    require_tenant_is_current(tenant)
    rows = {link.url: link for link in TrackedLink.objects.for_tenant(tenant).filter(version=version)}
    if version.status != VersionStatus.APPROVED:
        return rows
    items = list(contents.values()) if contents is not None else _contents_of(tenant, version)
    urls = list(dict.fromkeys(literal_links([c.html_body for c in items]).values()))
    missing = [url for url in urls if url not in rows]
    if missing:
        with transaction.atomic():
            TrackedLink.objects.bulk_create(
                [TrackedLink(tenant=tenant, version=version, url=url, position=urls.index(url)) for url in missing],
                ignore_conflicts=True,
            )
        rows = {link.url: link for link in TrackedLink.objects.for_tenant(tenant).filter(version=version)}
    return rows


# --- Settings --------------------------------------------------------------------------------------


class TrackingSettingsInvalid(ValueError):
    pass


def tracking_settings_for(*, tenant: Organisation) -> TrackingSettings:
    """The organisation's switches (the defaults, unsaved, until an admin saves them)."""
    require_tenant_is_current(tenant)
    found = TrackingSettings.objects.for_tenant(tenant).first()
    return found if found is not None else TrackingSettings(tenant=tenant)


def tracking_settings_update(
    *, tenant: Organisation, user: User, track_opens: bool, track_clicks: bool, track_phi_messages: bool
) -> TrackingSettings:
    """Save the switches; audited with the names of those that changed."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        row, _ = TrackingSettings.objects.for_tenant(tenant).select_for_update().get_or_create(tenant=tenant)
        wanted = {
            "track_opens": bool(track_opens),
            "track_clicks": bool(track_clicks),
            "track_phi_messages": bool(track_phi_messages),
        }
        changed = sorted(name for name, value in wanted.items() if getattr(row, name) != value)
        for name, value in wanted.items():
            setattr(row, name, value)
        row.save()
        record(
            tenant=tenant,
            action="tracking.settings_changed",
            actor=actor_for_user(user),
            target=Target.of(row),
            details={"changed": changed, **wanted},
        )
    return row


def campaign_tracking_set(*, tenant: Organisation, user: User, campaign: Any, enabled: bool) -> Any:
    """Turn a campaign's tracking on or off, in any state: off takes effect for the messages
    not yet sent and for every later open or click. Audited."""
    from campaigns.models import Campaign

    require_tenant_is_current(tenant)
    with transaction.atomic():
        locked = Campaign.objects.for_tenant(tenant).select_for_update().get(pk=campaign.pk)
        if locked.tracking_enabled != bool(enabled):
            locked.tracking_enabled = bool(enabled)
            locked.save(update_fields=["tracking_enabled", "updated_at"])
            record(
                tenant=tenant,
                action="campaign.tracking_changed",
                actor=actor_for_user(user),
                target=Target.of(locked),
                details={"tracking_enabled": locked.tracking_enabled},
            )
    return locked


def message_trackable(*, settings_row: TrackingSettings, campaign: Any, contact: Any, level: str) -> bool:
    """Whether anything may be tracked for this message at all (opens and clicks then each
    need their own switch)."""
    if not campaign.tracking_enabled or contact is None or contact.tracking_opt_out:
        return False
    if level == LEVEL_PHI and not settings_row.track_phi_messages:
        return False
    return settings_row.track_opens or settings_row.track_clicks


# --- Rewriting a message (the send pipeline) ------------------------------------------------------


@dataclass
class TrackingPlan:
    """What tracking does to one campaign's messages, worked out once per batch: the switches and
    the version's links by their raw href value. ``apply`` is per message: one regex pass over
    the anchors (only when the version has links) and the pixel before ``</body>``."""

    tenant_id: int
    settings_row: TrackingSettings | None = None
    campaign: Any = None
    links_by_raw: dict[str, int] = field(default_factory=dict)
    maker: TokenMaker | None = None

    def _maker(self) -> TokenMaker:
        if self.maker is None:
            self.maker = TokenMaker(self.tenant_id)
        return self.maker

    @property
    def active(self) -> bool:
        return self.settings_row is not None

    def applies(self, *, contact: Any, level: str) -> bool:
        return self.settings_row is not None and message_trackable(
            settings_row=self.settings_row, campaign=self.campaign, contact=contact, level=level
        )

    def apply(self, html: str, *, message_id: int, contact: Any, level: str) -> str:
        settings_row = self.settings_row
        if settings_row is None or not self.applies(contact=contact, level=level):
            return html
        if settings_row.track_clicks and self.links_by_raw:
            html = self._rewrite_links(html, message_id)
        if settings_row.track_opens:
            html = _with_pixel(html, self._maker().open_url(message_id))
        return html

    def _rewrite_links(self, html: str, message_id: int) -> str:
        made: dict[int, str] = {}
        maker = self._maker()

        def replace(match: re.Match[str]) -> str:
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            link_id = self.links_by_raw.get(raw)
            if link_id is None:
                return match.group(0)
            url = made.get(link_id)
            if url is None:
                url = made[link_id] = maker.click_url(message_id, link_id)
            return f'{match.group(1)}"{url}"'

        return _ANCHOR_HREF.sub(replace, html)


def _with_pixel(html: str, url: str) -> str:
    pixel = (
        f'<img src="{url}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )
    at = html.rfind("</body>")
    if at < 0:
        at = html.lower().rfind("</body>")
    return html + pixel if at < 0 else html[:at] + pixel + html[at:]


def tracking_plan(*, tenant: Organisation, campaign: Any, version: Any, contents: Mapping[str, Any]) -> TrackingPlan:
    """The batch's plan (two queries at most, plus the links' creation the first time): an
    inactive plan when the campaign or the organisation tracks nothing."""
    require_tenant_is_current(tenant)
    plan = TrackingPlan(tenant_id=tenant.pk, campaign=campaign)
    if not campaign.tracking_enabled:
        return plan
    settings_row = tracking_settings_for(tenant=tenant)
    if not (settings_row.track_opens or settings_row.track_clicks):
        return plan
    plan.settings_row = settings_row
    if settings_row.track_clicks:
        rows = tracked_links_ensure(tenant=tenant, version=version, contents=contents)
        raw_to_url = literal_links([c.html_body for c in contents.values()])
        plan.links_by_raw = {raw: rows[url].pk for raw, url in raw_to_url.items() if url in rows}
    return plan


# --- Requests (the public views) -------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    method: str
    user_agent: str
    at: datetime


def _message_and_campaign(tenant: Organisation, message_id: int) -> tuple[Any, Any] | None:
    from campaigns.models import Message

    # The contact's opt-out comes with the message (a join), not the contact row (its PHI).
    message = (
        Message.objects.for_tenant(tenant)
        .select_related("campaign")
        .annotate(contact_opts_out=F("contact__tracking_opt_out"))
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        return None
    return message, message.campaign


def _recording_allowed(tenant: Organisation, message: Any, campaign: Any, *, kind: str) -> bool:
    """The switches, as they are now, for recording an open or a click of ``message``."""
    from encryption.protection import ESCROW

    if message.protection_action == ESCROW:
        return False  # escrow notices carry no tracking; nothing of theirs is recorded
    settings_row = tracking_settings_for(tenant=tenant)
    if kind == EventKind.OPENED and not settings_row.track_opens:
        return False
    if kind == EventKind.CLICKED and not settings_row.track_clicks:
        return False
    if message.contact_id is None or message.contact_opts_out is None:
        return False  # the contact was removed: nothing more is recorded about them
    contact = SimpleNamespace(tracking_opt_out=bool(message.contact_opts_out))
    return message_trackable(settings_row=settings_row, campaign=campaign, contact=contact, level=message.level)


def _record(tenant: Organisation, message: Any, *, kind: str, hit: Hit, link_id: int | None) -> None:
    verdict = machine_verdict(
        method=hit.method, user_agent=hit.user_agent, at=hit.at, handed_off_at=message.handed_off_at
    )
    events_record(
        tenant=tenant,
        events=[
            NewEvent(
                kind=kind,
                occurred_at=hit.at,
                campaign_id=message.campaign_id,
                message_id=message.pk,
                contact_id=message.contact_id,
                recipient_domain=message.recipient_domain,
                machine=verdict.machine,
                link_id=link_id,
                detail=verdict.reason,
            )
        ],
    )


def tracking_click(*, tenant: Organisation, ref: TrackingRef, hit: Hit) -> str | None:
    """The URL a click token leads to, recording the click when tracking allows; None when the
    token names no link of the message's campaign's pinned version (the view answers 400)."""
    require_tenant_is_current(tenant)
    if ref.tenant_id != tenant.pk or ref.link_id == OPEN_LINK_ID:
        return None
    found = _message_and_campaign(tenant, ref.message_id)
    if found is None:
        return None
    message, campaign = found
    if campaign.template_version_id is None:
        return None
    link = (
        TrackedLink.objects.for_tenant(tenant)
        .filter(pk=ref.link_id, version_id=campaign.template_version_id)
        .only("id", "url")
        .first()
    )
    if link is None or trackable_url(link.url) != link.url:
        return None
    if _recording_allowed(tenant, message, campaign, kind=EventKind.CLICKED):
        _record(tenant, message, kind=EventKind.CLICKED, hit=hit, link_id=link.pk)
    return link.url


def tracking_open(*, tenant: Organisation, ref: TrackingRef, hit: Hit) -> bool:
    """Record an open of the message a pixel token names, when tracking allows. Whether one was
    recorded (the view answers the same GIF either way)."""
    require_tenant_is_current(tenant)
    if ref.tenant_id != tenant.pk or ref.link_id != OPEN_LINK_ID:
        return False
    found = _message_and_campaign(tenant, ref.message_id)
    if found is None:
        return False
    message, campaign = found
    if not _recording_allowed(tenant, message, campaign, kind=EventKind.OPENED):
        return False
    _record(tenant, message, kind=EventKind.OPENED, hit=hit, link_id=None)
    return True


def now() -> datetime:
    return timezone.now()

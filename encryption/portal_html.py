"""The escrowed message's HTML as the recipient portal shows it: sanitised with nh3 (the Ammonia
sanitiser), with nothing that loads remote content and every link sent through the portal's
warning page.

* Scripts, styles sheets, forms, frames, event handlers and unknown tags are removed by nh3's
  allow-list; ``<style>`` and ``<script>`` lose their content too.
* Images stay only when their source is inline (``data:image/...``): a remote image is a
  tracking pixel or a leak of the reading time and address, so it is dropped.
* Inline ``style`` attributes keep their declarations except those that could fetch something
  (``url(``, ``image-set(``, ``@import``, ``expression(``) or hide it behind CSS escapes.
* Each link's ``href`` becomes ``/secure/<token>/link/<n>/``: ``n`` is the link's position in the
  sanitised document, so the target is looked up again from the stored HTML and never carried
  in our URL. Only ``http``, ``https``, ``mailto`` and ``tel`` targets are kept.

The page's Content-Security-Policy (``encryption.portal_views``) is the second wall: even a
mistake here could not load a remote image, font or style sheet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import nh3

LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
INLINE_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$", re.IGNORECASE)
# CSS that could fetch something or smuggle it past this check.
_UNSAFE_CSS = re.compile(r"url\s*\(|image-set|@import|expression\s*\(|\\|behavior|-moz-binding", re.IGNORECASE)
_ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "dir", "lang", "title"},
    "img": {"alt", "height", "src", "width"},
    "a": {"href"},
}


@dataclass(frozen=True)
class SanitisedHtml:
    html: str
    links: tuple[str, ...]  # the targets, in the order of the rewritten links


def _safe_style(value: str) -> str | None:
    kept = [part.strip() for part in value.split(";") if part.strip() and not _UNSAFE_CSS.search(part)]
    return "; ".join(kept) if kept else None


def _link_target(value: str) -> str | None:
    target = value.strip()
    scheme = urlsplit(target).scheme.lower()
    if scheme not in LINK_SCHEMES:
        return None
    if scheme in {"http", "https"} and not urlsplit(target).hostname:
        return None
    return target


def sanitise_message_html(html: str, *, link_prefix: str) -> SanitisedHtml:
    """``html`` made safe to show; link ``n`` points at ``f"{link_prefix}{n}/"``."""
    links: list[str] = []

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return _safe_style(value)
        if tag == "img" and attribute == "src":
            return value if INLINE_IMAGE.match(value.strip()) else None
        if tag == "a" and attribute == "href":
            target = _link_target(value)
            if target is None:
                return None
            links.append(target)
            return f"{link_prefix}{len(links) - 1}/"
        return value

    cleaned = nh3.clean(
        html or "",
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=keep,
        url_schemes=set(LINK_SCHEMES) | {"data"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return SanitisedHtml(cleaned, tuple(links))


def link_description(target: str) -> str:
    """What the warning page names: the host of a web link, else the address or number."""
    parts = urlsplit(target)
    if parts.scheme in {"http", "https"}:
        return parts.hostname or target
    return target.partition(":")[2]

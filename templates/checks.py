"""Checks of a template's content beyond what saving refuses: the things that make an email
arrive broken or unlawful rather than fail to render.

- no plain text: the text body is empty even after generating it from the HTML;
- no unsubscribe link in a marketing message (``links.unsubscribe`` or ``links.preferences``);
- broken links and images: an empty address, ``#``, ``javascript:``, anything but ``https://``
  (links may also be ``mailto:`` or ``tel:``), a malformed address, an image without ``alt``;
- a PHI merge field inside a link or image address (PHI never goes into URLs);
- no preheader (a warning: mail clients then show the first words of the body instead).

The functions are pure: they read the content, the purpose and the merge-field catalogue and
return findings; the editor shows them and the review workflow may refuse a version with errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urlsplit

from consent.purposes import PurposeInfo, purpose_get
from templates.analysis import analyse_source
from templates.fields import BUILTIN_FIELDS, MergeField, merge_fields
from templates.services import ContentInput
from templates.text import html_to_text
from tenants.models import Organisation

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"

UNSUBSCRIBE_FIELDS = frozenset({"links.unsubscribe", "links.preferences"})
# A Jinja expression or statement inside an attribute value.
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
# Letters, digits, hyphens and dots, at least one dot, no leading or trailing dot or hyphen.
_HOST = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    message: str
    language: str = ""
    part: str = ""  # subject, preheader, html_body, text_body; "" for the whole content
    line: int = 0

    @property
    def where(self) -> str:
        pieces = [f"[{self.language}]" if self.language else "", _PART_LABELS.get(self.part, self.part)]
        if self.line:
            pieces.append(f"line {self.line}")
        return " ".join(piece for piece in pieces if piece)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


_PART_LABELS = {"subject": "Subject", "preheader": "Preheader", "html_body": "HTML body", "text_body": "Text body"}


def _builtin_catalogue() -> dict[str, MergeField]:
    return {field.name: field for field in BUILTIN_FIELDS}


@dataclass(frozen=True)
class _Address:
    tag: str  # a or img
    attribute: str  # href or src
    value: str | None  # None: the attribute is missing
    line: int
    alt: str | None = None  # images only; None: no alt attribute


class _AddressCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[_Address] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        line = self.getpos()[0]
        if tag == "a" and "href" in values:
            self.found.append(_Address("a", "href", values["href"] or "", line))
        elif tag == "img":
            src = values.get("src") if "src" in values else None
            alt = (values.get("alt") or "") if "alt" in values else None
            self.found.append(_Address("img", "src", None if src is None else src or "", line, alt))

    handle_startendtag = handle_starttag


def _addresses(html: str) -> list[_Address]:
    collector = _AddressCollector()
    collector.feed(html)
    collector.close()
    return collector.found


def _fields_in(source: str, catalogue: Mapping[str, MergeField]) -> set[str]:
    """The merge fields an expression reads (unknown ones are the save's problem, not ours)."""
    return analyse_source("html_body", source, dict(catalogue)).fields


def _address_problem(address: _Address) -> str | None:
    """Why a link or image address is broken, or None."""
    noun = "link" if address.tag == "a" else "image"
    value = (address.value or "").strip()
    if address.value is None:
        return "An image has no src."
    if not value:
        return f"A {noun} has an empty address."
    if value.startswith(("{{", "{%")):
        # A merge field such as {{ links.unsubscribe }} (its value is a full URL), or an address
        # chosen by the template's logic: only rendering knows it.
        return None
    if value.startswith("#"):
        return f"A {noun} points to “{value[:40]}”, a placeholder, not an address."
    lowered = value.lower()
    if lowered.startswith("javascript:"):
        return f"A {noun} runs JavaScript; mail clients block it."
    if noun == "link" and lowered.startswith(("mailto:", "tel:")):
        return None if len(value) > len(lowered.split(":", 1)[0]) + 1 else f"The {noun} “{value[:40]}” is incomplete."
    if not lowered.startswith("https://"):
        scheme = lowered.split(":", 1)[0] if ":" in lowered else ""
        if scheme in ("http", "data", "cid", "file", "ftp"):
            return f"The {noun} “{value[:60]}” does not use https://."
        return f"The {noun} “{value[:60]}” is not a full https:// address."
    probe = _JINJA.sub("x", value)
    if any(character.isspace() for character in probe):
        return f"The {noun} “{value[:60]}” contains spaces."
    try:
        parts = urlsplit(probe)
        host = parts.hostname or ""
        _ = parts.port  # raises for a malformed port
    except ValueError:
        return f"The {noun} “{value[:60]}” is malformed."
    host_source = value[len("https://") :].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if _JINJA.search(host_source):
        return None  # the host itself comes from a merge field
    if not _HOST.match(host):
        return f"The {noun} “{value[:60]}” has no valid host name."
    return None


def check_content(
    content: ContentInput,
    *,
    purpose: PurposeInfo,
    catalogue: Mapping[str, MergeField] | None = None,
) -> list[Finding]:
    """The findings for one language of a template."""
    catalogue = catalogue if catalogue is not None else _builtin_catalogue()
    language = content.language
    findings: list[Finding] = []

    written = content.text_body.strip()
    text = content.text_body if written else html_to_text(content.html_body)
    if not text.strip():
        findings.append(
            Finding(
                ERROR,
                "There is no plain-text version: write one, or put text in the HTML body to generate it from.",
                language,
                "text_body",
            )
        )

    if not content.preheader.strip():
        findings.append(
            Finding(
                WARNING,
                "No preheader: inboxes will show the first words of the body beside the subject.",
                language,
                "preheader",
            )
        )

    if purpose.is_marketing:
        if not _fields_in(content.html_body, catalogue) & UNSUBSCRIBE_FIELDS:
            findings.append(
                Finding(
                    ERROR,
                    "Marketing messages need an unsubscribe link: add {{ links.unsubscribe }} "
                    "(or {{ links.preferences }}).",
                    language,
                    "html_body",
                )
            )
        if written and not _fields_in(content.text_body, catalogue) & UNSUBSCRIBE_FIELDS:
            findings.append(
                Finding(
                    ERROR,
                    "The plain-text version of a marketing message needs the unsubscribe link too.",
                    language,
                    "text_body",
                )
            )

    phi_names = {name for name, field in catalogue.items() if field.phi}
    for address in _addresses(content.html_body):
        problem = _address_problem(address)
        if problem:
            findings.append(Finding(ERROR, problem, language, "html_body", address.line))
        if address.value and phi_names & _fields_in(address.value, catalogue):
            findings.append(
                Finding(
                    ERROR,
                    f"A {'link' if address.tag == 'a' else 'image'} address contains a PHI field; "
                    "PHI never goes into URLs.",
                    language,
                    "html_body",
                    address.line,
                )
            )
        if address.tag == "img" and address.alt is None:
            findings.append(
                Finding(
                    WARNING,
                    'An image has no alt text (use alt="" for a decorative one).',
                    language,
                    "html_body",
                    address.line,
                )
            )
    return findings


def check_contents(
    contents: Iterable[ContentInput],
    *,
    purpose: PurposeInfo,
    catalogue: Mapping[str, MergeField] | None = None,
) -> list[Finding]:
    """The findings for every language, errors first, then in document order."""
    findings = [
        finding for content in contents for finding in check_content(content, purpose=purpose, catalogue=catalogue)
    ]
    return sorted(findings, key=lambda finding: (not finding.is_error,))


def checks_for(*, tenant: Organisation, purpose: str, contents: Sequence[ContentInput]) -> list[Finding]:
    """``check_contents`` with the organisation's purpose and merge fields (its own attributes'
    PHI flags included). An unknown purpose is itself an error."""
    try:
        info = purpose_get(tenant=tenant, key=purpose, allow_archived=True)
    except LookupError:
        return [Finding(ERROR, "The template's purpose is not one of the organisation's consent purposes.")]
    return check_contents(contents, purpose=info, catalogue=merge_fields(tenant=tenant))


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(finding.is_error for finding in findings)

"""The difference between two versions of a template, for reviewers: per language and part
(subject, preheader, HTML, text) a line diff with a few lines of context, and the merge fields
and PHI fields one version uses that the other does not.

Lines are compared as written (template source, never rendered values), so the diff shows
exactly what the reviewer approves. Each line carries its sign (``+``, ``-`` or blank) so the
page marks changes with more than colour.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from templates.models import TemplateContent, TemplateVersion, VersionStatus
from templates.selectors import version_contents
from tenants.models import Organisation

CONTEXT_LINES = 3
PART_LABELS = {
    "subject": "Subject",
    "preheader": "Preheader",
    "html_body": "HTML body",
    "text_body": "Plain-text body",
}


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "context" or "gap" (unchanged lines left out)
    text: str = ""
    old_number: int | None = None
    new_number: int | None = None

    @property
    def sign(self) -> str:
        return {"added": "+", "removed": "-"}.get(self.kind, "")


@dataclass(frozen=True)
class PartDiff:
    part: str
    lines: list[DiffLine]

    @property
    def label(self) -> str:
        return PART_LABELS[self.part]

    @property
    def changed(self) -> bool:
        return any(line.kind in ("added", "removed") for line in self.lines)

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.kind == "added")

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.kind == "removed")


@dataclass(frozen=True)
class LanguageDiff:
    language: str
    state: str  # "added", "removed", "changed" or "unchanged"
    parts: list[PartDiff]

    @property
    def changed_parts(self) -> list[PartDiff]:
        return [part for part in self.parts if part.changed]


@dataclass(frozen=True)
class VersionDiff:
    old: TemplateVersion
    new: TemplateVersion
    languages: list[LanguageDiff]
    fields_added: list[str] = field(default_factory=list)
    fields_removed: list[str] = field(default_factory=list)
    phi_added: list[str] = field(default_factory=list)
    phi_removed: list[str] = field(default_factory=list)

    @property
    def default_language_changed(self) -> bool:
        return self.old.default_language != self.new.default_language

    @property
    def has_changes(self) -> bool:
        return (
            any(language.state != "unchanged" for language in self.languages)
            or bool(self.fields_added or self.fields_removed or self.phi_added or self.phi_removed)
            or self.default_language_changed
        )


def line_diff(old: str, new: str, *, context: int = CONTEXT_LINES) -> list[DiffLine]:
    """The lines of ``new`` against ``old``: changed lines with ``context`` unchanged lines
    around them; runs of unchanged lines left out are one "gap" line. Empty when equal."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if old_lines == new_lines:
        return []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    # Before grouping: get_grouped_opcodes trims the matcher's cached opcodes in place.
    last_tag, last_start, last_end, _, _ = matcher.get_opcodes()[-1]
    trailing_gap = last_tag == "equal" and last_end - last_start > context
    lines: list[DiffLine] = []
    for number, group in enumerate(matcher.get_grouped_opcodes(context)):
        first = group[0]
        if number > 0 or first[1] > 0 or first[3] > 0:
            lines.append(DiffLine("gap"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [
                    DiffLine("context", old_lines[i], i + 1, j + 1)
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            if tag in ("replace", "delete"):
                lines += [DiffLine("removed", old_lines[i], old_number=i + 1) for i in range(i1, i2)]
            if tag in ("replace", "insert"):
                lines += [DiffLine("added", new_lines[j], new_number=j + 1) for j in range(j1, j2)]
    if trailing_gap:
        lines.append(DiffLine("gap"))
    return lines


def _parts(content: TemplateContent | None) -> dict[str, str]:
    return dict(content.parts()) if content is not None else dict.fromkeys(PART_LABELS, "")


def version_diff(*, tenant: Organisation, old: TemplateVersion, new: TemplateVersion) -> VersionDiff:
    """``new`` against ``old`` (two versions of the same template)."""
    if old.template_id != new.template_id:
        raise ValueError("Only versions of the same template are compared.")
    old_contents = version_contents(tenant=tenant, version=old)
    new_contents = version_contents(tenant=tenant, version=new)
    languages = []
    for language in sorted(set(old_contents) | set(new_contents)):
        before, after = _parts(old_contents.get(language)), _parts(new_contents.get(language))
        parts = [PartDiff(part, line_diff(before[part], after[part])) for part in PART_LABELS]
        if language not in old_contents:
            state = "added"
        elif language not in new_contents:
            state = "removed"
        else:
            state = "changed" if any(part.changed for part in parts) else "unchanged"
        languages.append(LanguageDiff(language, state, parts))
    old_fields, new_fields = set(old.fields_used), set(new.fields_used)
    old_phi, new_phi = set(old.phi_fields), set(new.phi_fields)
    return VersionDiff(
        old=old,
        new=new,
        languages=languages,
        fields_added=sorted(new_fields - old_fields),
        fields_removed=sorted(old_fields - new_fields),
        phi_added=sorted(new_phi - old_phi),
        phi_removed=sorted(old_phi - new_phi),
    )


def default_pair(versions: list[TemplateVersion]) -> tuple[TemplateVersion | None, TemplateVersion | None]:
    """What a reviewer compares when they ask for no versions: the newest version under review
    (else the newest version) against the newest approved version before it (else the version
    just before it). ``versions`` are one template's, in any order."""
    ordered = sorted(versions, key=lambda version: version.number, reverse=True)
    if not ordered:
        return None, None
    new = next((version for version in ordered if version.status == VersionStatus.IN_REVIEW), ordered[0])
    earlier = [version for version in ordered if version.number < new.number]
    old = next((version for version in earlier if version.status == VersionStatus.APPROVED), None)
    if old is None and earlier:
        old = earlier[0]
    return old, new

"""Forms of the template pages: creating a template, and reading the editor's posted content.

The editor posts one set of fields per language (``subject__en``, ``html_body__en``, ...) with
the list of languages in ``languages``; ``editor_state_from`` turns that into ``ContentInput``s
in the order the author arranged them. Language tags are checked here because they become part
of field names and element ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from django import forms
from django.http import QueryDict

from consent.purposes import PurposeInfo
from templates.services import MAX_BODY_CHARS, MAX_LANGUAGES, ContentInput
from templates.starters import STARTERS

LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,2}$")
PARTS = ("subject", "preheader", "html_body", "text_body")


class TemplateCreateForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    purpose = forms.ChoiceField(help_text="The consent purpose messages from this template are sent for.")
    starter = forms.ChoiceField(initial="blank", widget=forms.RadioSelect)
    description = forms.CharField(max_length=1000, required=False, strip=True)

    def __init__(self, *args: object, purposes: Iterable[PurposeInfo], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["purpose"].choices = [("", "Choose a purpose…")] + [  # type: ignore[attr-defined]
            (purpose.key, purpose.name + (" (marketing)" if purpose.is_marketing else "")) for purpose in purposes
        ]
        self.fields["starter"].choices = [  # type: ignore[attr-defined]
            (starter.key, starter.name) for starter in STARTERS.values()
        ]


def clean_language(raw: str) -> str | None:
    """A language tag in its usual spelling ("pt-BR"), or None if it is not one."""
    tag = raw.strip().replace("_", "-")
    if not tag or len(tag) > 16:
        return None
    head, *rest = tag.split("-")
    tag = "-".join([head.lower(), *(part.upper() if len(part) == 2 else part for part in rest)])
    return tag if LANGUAGE_TAG.match(tag) else None


@dataclass
class EditorState:
    """The editor's content as posted (or as loaded from a version)."""

    default_language: str
    contents: list[ContentInput]
    errors: list[str] = field(default_factory=list)  # about the form itself (languages)

    @property
    def languages(self) -> list[str]:
        return [content.language for content in self.contents]

    def content(self, language: str) -> ContentInput | None:
        return next((content for content in self.contents if content.language == language), None)

    def with_language(self, raw: str) -> EditorState:
        language = clean_language(raw)
        if language is None:
            return replace(self, errors=[*self.errors, "Use a language tag such as es, fr or pt-BR."])
        if language in self.languages:
            return replace(self, errors=[*self.errors, f"There is already a {language} version."])
        if len(self.contents) >= MAX_LANGUAGES:
            return replace(self, errors=[*self.errors, f"At most {MAX_LANGUAGES} languages."])
        # A new language starts as a copy of the default one, ready to translate.
        source = self.content(self.default_language) or (self.contents[0] if self.contents else None)
        new = (
            replace(source, language=language) if source else ContentInput(language=language, subject="", html_body="")
        )
        return replace(self, contents=[*self.contents, new])

    def without_language(self, raw: str) -> EditorState:
        if raw == self.default_language:
            return replace(self, errors=[*self.errors, "Choose another default language before removing this one."])
        return replace(self, contents=[content for content in self.contents if content.language != raw])


def _field(data: Mapping[str, str], name: str) -> str:
    # Browsers post textarea line breaks as CRLF; store what the author sees.
    return str(data.get(name, ""))[: MAX_BODY_CHARS + 1].replace("\r\n", "\n")


def editor_state_from(data: QueryDict) -> EditorState:
    """The posted editor content. Unknown or repeated language tags are dropped with an error."""
    errors: list[str] = []
    contents: list[ContentInput] = []
    for raw in data.getlist("languages")[: MAX_LANGUAGES + 1]:
        language = clean_language(raw)
        if language is None or language != raw:
            errors.append("A language tag was not recognised and was left out.")
            continue
        if any(content.language == language for content in contents):
            continue
        contents.append(
            ContentInput(
                language=language,
                subject=_field(data, f"subject__{language}"),
                preheader=_field(data, f"preheader__{language}"),
                html_body=_field(data, f"html_body__{language}"),
                text_body=_field(data, f"text_body__{language}"),
            )
        )
    default = str(data.get("default_language", ""))
    if default not in {content.language for content in contents}:
        default = contents[0].language if contents else "en"
    return EditorState(default_language=default, contents=contents, errors=errors)


def editor_state_of(default_language: str, contents: Iterable[object]) -> EditorState:
    """The editor's state for saved contents (``TemplateContent`` rows); a generated text body
    shows as empty, so it keeps following the HTML."""
    inputs = [
        ContentInput(
            language=row.language,  # type: ignore[attr-defined]
            subject=row.subject,  # type: ignore[attr-defined]
            preheader=row.preheader,  # type: ignore[attr-defined]
            html_body=row.html_body,  # type: ignore[attr-defined]
            text_body="" if row.text_generated else row.text_body,  # type: ignore[attr-defined]
        )
        for row in contents
    ]
    ordered = sorted(inputs, key=lambda content: (content.language != default_language, content.language))
    return EditorState(default_language=default_language, contents=ordered)

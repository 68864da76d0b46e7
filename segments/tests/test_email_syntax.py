"""``is_valid_email`` is Django's ``validate_email`` with remembered domain verdicts: the two
must agree on every input."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from segments.contacts import is_valid_email

_PARTS = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        ".",
        "..",
        "-",
        "_",
        "+",
        "@",
        "@@",
        " ",
        '"',
        "\\",
        "é",
        "[",
        "]",
        "1.2.3.4",
        "::1",
        "xn--",
        "localhost",
    ]
)
_LOCAL = st.text(alphabet="abcXYZ019.!#$%&'*+/=?^_`{|}~-\"\\ é", max_size=12)
_DOMAIN = st.one_of(
    st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
    st.sampled_from(
        ["localhost", "[127.0.0.1]", "[::1]", "[300.1.1.1]", "example.com.", "ex_ample.com", "b\u00fccher.de"]
    ),
    st.text(max_size=10),
)


def _django_says(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


@settings(max_examples=600, deadline=None)
@given(local=_LOCAL, domain=_DOMAIN)
def test_agrees_with_django_on_addresses(local, domain):
    value = f"{local}@{domain}"
    assert is_valid_email(value) == _django_says(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PARTS, max_size=8).map("".join))
def test_agrees_with_django_on_odd_strings(value):
    assert is_valid_email(value) == _django_says(value)


def test_long_addresses_are_refused_like_django():
    value = "a" * 310 + "@example.com"
    assert is_valid_email(value) is _django_says(value) is False

"""build_message: structure, encodings, header injection, and equivalence with the stdlib
EmailMessage path on random input (hypothesis)."""

from __future__ import annotations

import base64
import email
import itertools
import string
from datetime import UTC, datetime
from email import policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.mime import (
    InvalidHeader,
    MessageRef,
    build_message,
    build_message_stdlib,
    message_id_for,
    message_ref_from_message_id,
    neutralise,
    neutralise_phrase,
)

DATE = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
BASE = dict(
    from_name="Riverside Clinic",
    from_address="news@clinic.example",
    to_address="pat@patients.example",
    subject="Your appointment",
    html="<p>Hello</p>",
    text="Hello",
    message_id="<abc123@clinic.example>",
    list_unsubscribe_url="https://sealpost.example/u/tok",
    date=DATE,
)


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def summary(raw: bytes):
    """What a receiver sees: header names and decoded values, the parts' types and text."""
    message = parse(raw)
    from_ = message["From"].addresses[0]
    headers = [(k.lower(), str(v)) for k, v in message.items() if k.lower() not in ("from", "content-type")]
    parts = [(p.get_content_type(), p.get_content()) for p in message.iter_parts()]
    # Whitespace-insensitive: Python's phrase parser keeps the folding whitespace between two
    # encoded-words as a space, against RFC 2047 §6.2 (test_long_display_name_decodes_per_rfc_2047).
    return (
        ("".join(from_.display_name.split()), from_.addr_spec),
        headers,
        message.get_content_type(),
        parts,
        message.defects,
    )


def test_structure_and_required_headers():
    raw = build_message(
        **BASE, list_unsubscribe_mailto="mailto:unsub@sealpost.example?subject=u", reply_to="help@clinic.example"
    )
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["MIME-Version"] == "1.0"
    assert message["Message-ID"] == "<abc123@clinic.example>"
    assert message["Date"] == "Wed, 04 Mar 2026 05:06:07 +0000"
    assert message["List-Unsubscribe"] == "<https://sealpost.example/u/tok>, <mailto:unsub@sealpost.example?subject=u>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Reply-To"] == "help@clinic.example"
    assert not message.defects


def test_non_ascii_headers_use_encoded_words_and_bodies_are_encoded():
    raw = build_message(
        **{
            **BASE,
            "subject": "Rendez-vous à 9 h — Zürich",
            "from_name": "Clinique Évian",
            "text": "Grüße, see you on Tuesday at nine.\n" * 3,
            "html": "漢字" * 400,
        }
    )
    assert raw.isascii()
    assert b"=?utf-8?b?" in raw
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert b"Content-Transfer-Encoding: base64" in raw  # mostly non-ASCII: base64 is shorter
    message = parse(raw)
    assert message["Subject"] == "Rendez-vous à 9 h — Zürich"
    assert message["From"].addresses[0].display_name == "Clinique Évian"
    text, html = (p.get_content() for p in message.iter_parts())
    assert text == "Grüße, see you on Tuesday at nine.\r\n" * 3 and html == "漢字" * 400 + "\r\n"


@pytest.mark.parametrize("field", ["subject", "from_name"])
@pytest.mark.parametrize(
    "attack",
    [
        "\r\nBcc: x@evil.test",
        "\nBcc: x@evil.test",
        "\rBcc: x@evil.test",
        "x\u2028Bcc: x@evil.test",
        "\r\n\r\n<html>body</html>",
    ],
)
def test_header_injection_adds_no_header(field, attack):
    for build in (build_message, build_message_stdlib):
        raw = build(**{**BASE, field: "Hello" + attack})
        message = parse(raw)
        assert "Bcc" not in message
        assert sorted(k.lower() for k in message.keys()) == sorted(  # noqa: SIM118
            [
                "from",
                "to",
                "subject",
                "date",
                "message-id",
                "list-unsubscribe",
                "list-unsubscribe-post",
                "mime-version",
                "content-type",
            ]
        )
        assert [p.get_content() for p in message.iter_parts()] == ["Hello\r\n", "<p>Hello</p>\r\n"]


@pytest.mark.parametrize(
    "override",
    [
        {"to_address": "pat@patients.example\r\nBcc: x@evil.test"},
        {"from_address": "news@clinic.example>\r\nBcc: x@evil.test"},
        {"reply_to": "a@b.example\nX: y"},
        {"to_address": '"quoted local"@patients.example'},
        {"list_unsubscribe_url": "https://sealpost.example/u/tok>\r\nBcc: x@evil.test"},
        {"list_unsubscribe_url": "http://sealpost.example/u/tok"},
        {"list_unsubscribe_mailto": "mailto:a@b.example> <https://evil.test"},
        {"message_id": "<abc@clinic.example>\r\nBcc: x@evil.test"},
        {"extra_headers": [("Bcc", "x@evil.test")]},
        {"extra_headers": [("X-Campaign\r\nBcc", "x")]},
    ],
)
def test_unsafe_addresses_urls_and_names_are_refused(override):
    with pytest.raises(InvalidHeader) as caught:
        build_message(**{**BASE, **override})
    assert "evil" not in str(caught.value)  # the error names the field, not the value


def test_extra_headers_are_neutralised():
    message = parse(build_message(**BASE, extra_headers=[("X-Campaign", "42\r\nBcc: x@evil.test")]))
    assert message["X-Campaign"] == "42  Bcc: x@evil.test"
    assert "Bcc" not in message


def test_long_display_name_decodes_per_rfc_2047():
    from email.header import decode_header, make_header
    from email.utils import parseaddr

    name = "Clinique universitaire de Genève — Département de médecine interne générale"
    raw = build_message(**{**BASE, "from_name": name})
    header = parse(raw)["From"]
    assert len(header.addresses[0].display_name.split("=?")) == 1  # decoded
    folded = raw.split(b"\r\nTo:")[0].removeprefix(b"From: ").decode()
    display, addr = parseaddr(folded.replace("\r\n", ""))
    assert addr == "news@clinic.example"
    assert str(make_header(decode_header(display))) == name


def test_message_id_is_stable_and_distinct():
    first = message_id_for(tenant_id=7, message_row_id=1001, domain="Clinic.Example", secret="s")
    assert first == message_id_for(tenant_id=7, message_row_id=1001, domain="clinic.example", secret="s")
    assert first != message_id_for(tenant_id=7, message_row_id=1002, domain="clinic.example", secret="s")
    assert first != message_id_for(tenant_id=8, message_row_id=1001, domain="clinic.example", secret="s")
    assert first.startswith("<") and first.endswith("@clinic.example>")
    build_message(**{**BASE, "message_id": first})  # acceptable as a Message-ID
    with pytest.raises(InvalidHeader):
        message_id_for(tenant_id=1, message_row_id=1, domain="bad domain\r\n", secret="s")


def _shared_prefix(a: str, b: str) -> int:
    return next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def test_message_id_shows_no_row_id_tenant_or_count():
    """Neither id appears in any form (decimal, hex, base32 of the raw bytes), and consecutive
    rows do not give neighbouring tokens: nothing to count a campaign's size by."""
    tenant_id, row_id = 4242, 987654321
    value = message_id_for(tenant_id=tenant_id, message_row_id=row_id, domain="clinic.example", secret="s")
    token = value[1:].partition("@")[0]
    for shown in (str(row_id), str(tenant_id), f"{row_id:x}", f"{tenant_id:x}"):
        assert shown not in token
    assert base64.b32encode(row_id.to_bytes(8, "big")).decode().rstrip("=").lower() not in token
    tokens = [
        message_id_for(tenant_id=1, message_row_id=n, domain="clinic.example", secret="s")[1:53] for n in range(200)
    ]
    assert len(set(tokens)) == 200
    # Neighbouring rows share no leading characters beyond chance.
    assert max(_shared_prefix(a, b) for a, b in itertools.pairwise(tokens)) < 6


def test_message_id_maps_back_to_its_message_and_refuses_forgeries():
    value = message_id_for(tenant_id=3, message_row_id=2**40 + 5, domain="clinic.example", secret="s")
    assert message_ref_from_message_id(value, secrets=["s"]) == MessageRef(tenant_id=3, message_id=2**40 + 5)
    # As a DSN quotes it: other case, no angle brackets, surrounding space.
    assert message_ref_from_message_id(f"  {value[1:-1].upper()} ", secrets=["s"]) == MessageRef(3, 2**40 + 5)
    assert message_ref_from_message_id(value, secrets=["other"]) is None  # not our key
    token = value[1:53]
    flipped = ("b" if token[10] == "a" else "a").join((token[:10], token[11:]))
    assert message_ref_from_message_id(f"<{flipped}@clinic.example>", secrets=["s"]) is None  # altered
    for other in ("<m12.c7@clinic.example>", "", "<@x>", "<" + "a" * 52 + ">", "no at sign"):
        assert message_ref_from_message_id(other, secrets=["s"]) is None


def test_message_id_uses_the_secret_key_and_its_fallbacks(settings):
    settings.SECRET_KEY = "one"
    settings.SECRET_KEY_FALLBACKS = []
    a = message_id_for(tenant_id=1, message_row_id=1, domain="clinic.example")
    assert message_ref_from_message_id(a) == MessageRef(1, 1)
    settings.SECRET_KEY = "two"
    assert a != message_id_for(tenant_id=1, message_row_id=1, domain="clinic.example")
    assert message_ref_from_message_id(a) is None
    settings.SECRET_KEY_FALLBACKS = ["one"]  # rotated: reports on older messages still map back
    assert message_ref_from_message_id(a) == MessageRef(1, 1)


def test_boundary_text_in_a_body_cannot_break_the_structure():
    raw = build_message(**BASE)
    boundary = parse(raw).get_boundary()
    evil = f"line\n--{boundary}\nContent-Type: text/html\n\n<script>x</script>\n--{boundary}--\n"
    message = parse(build_message(**{**BASE, "text": evil}))
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message.get_body(("plain",)).get_content() == evil.replace("\n", "\r\n")


# --- equivalence with the stdlib path ------------------------------------------------------------

header_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"], min_codepoint=1), max_size=120) | st.text(
    alphabet=string.printable, max_size=200
)
long_words = st.builds(lambda n, c: c * n, st.integers(0, 1200), st.sampled_from(["a", "é", " ", "x y", "=?"]))
body_text = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=400),
    st.text(alphabet=string.printable, max_size=3000),
    st.builds(lambda a, b: a + "\n" + b, long_words, st.text(max_size=50).filter(lambda s: "\x00" not in s or True)),
)
local_part = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\.[A-Za-z0-9_-]{1,10}){0,2}", fullmatch=True)
domain = st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){0,2}\.[a-z]{2,6}", fullmatch=True)
address = st.builds(lambda local, dom: f"{local}@{dom}", local_part, domain)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.one_of(header_text, long_words),
    from_name=st.one_of(header_text, long_words),
    text=body_text,
    html=body_text,
    to_address=address,
    from_address=address,
)
def test_hand_built_and_stdlib_messages_parse_back_the_same(subject, from_name, text, html, to_address, from_address):
    kwargs = {
        **BASE,
        "subject": subject,
        "from_name": from_name,
        "text": text,
        "html": html,
        "to_address": to_address,
        "from_address": from_address,
    }
    fast = build_message(**kwargs)
    assert fast.isascii()
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
    assert not parse(fast).defects
    fast_summary = summary(fast)
    assert fast_summary == summary(build_message_stdlib(**kwargs))
    # and what the receiver sees is what was asked for (after neutralisation)
    assert fast_summary[0] == ("".join(neutralise_phrase(from_name).split()), from_address)
    assert dict(fast_summary[1])["subject"] == neutralise(subject)
    assert fast_summary[3][0][1].replace("\r\n", "\n") == _lines(text)


def _lines(text):
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    return normalised if normalised.endswith("\n") else normalised + "\n"

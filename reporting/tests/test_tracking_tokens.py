"""Tracking tokens: opaque, unforgeable, bound to their kind and organisation; machine heuristics;
link extraction from template HTML."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from reporting.machine import SCAN_WINDOW_SECONDS, machine_verdict
from reporting.tracking import (
    CLICK,
    MAC_BYTES,
    OPEN,
    TrackingRef,
    literal_links,
    make_token,
    read_token,
    trackable_url,
)
from sealpost import leb128


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_token_names_its_tenant_message_and_link_and_nothing_readable():
    token = make_token(tenant_id=7, message_id=123456789, link_id=42, kind=CLICK)
    assert read_token(token, kind=CLICK) == TrackingRef(7, 123456789, 42)
    # Deterministic (one URL per message and link), opaque (no id in any usual encoding).
    assert make_token(tenant_id=7, message_id=123456789, link_id=42, kind=CLICK) == token
    raw = _raw(token)
    for needle in (b"123456789", (123456789).to_bytes(8, "big"), (123456789).to_bytes(4, "big"), b"\x00\x00\x00*"):
        assert needle not in raw[1:]
    assert "123456789" not in token and "75bcd15" not in token.lower()
    assert len(token) == 66  # 1 + 32 + 16 bytes for an organisation pk below 128
    # Another message or link: an unrelated token.
    other = make_token(tenant_id=7, message_id=123456790, link_id=42, kind=CLICK)
    assert _raw(other)[:1] == raw[:1] and _raw(other)[1:] != raw[1:]


def test_every_altered_byte_is_refused():
    token = make_token(tenant_id=300, message_id=5, link_id=9, kind=CLICK)
    raw = _raw(token)
    for index in range(len(raw)):
        for flip in (0x01, 0x80):
            altered = bytearray(raw)
            altered[index] ^= flip
            assert read_token(_encode(bytes(altered)), kind=CLICK) is None, index


@pytest.mark.parametrize(
    "garbled",
    ["", "x", "A" * 66, "not a token!", "../../etc/passwd", "%2e%2e", "a" * 500, "=" * 60],
)
def test_garbled_tokens_are_refused(garbled):
    assert read_token(garbled, kind=CLICK) is None
    assert read_token(garbled, kind=OPEN) is None


def test_truncated_or_extended_tokens_are_refused():
    token = make_token(tenant_id=3, message_id=5, link_id=9, kind=CLICK)
    raw = _raw(token)
    assert read_token(_encode(raw[:-1]), kind=CLICK) is None
    assert read_token(_encode(raw + b"\x00"), kind=CLICK) is None
    assert read_token(token[:-1], kind=CLICK) is None


def test_a_token_of_one_kind_is_not_a_token_of_the_other():
    click = make_token(tenant_id=3, message_id=5, link_id=9, kind=CLICK)
    pixel = make_token(tenant_id=3, message_id=5, link_id=0, kind=OPEN)
    assert read_token(click, kind=OPEN) is None
    assert read_token(pixel, kind=CLICK) is None


def test_swapping_the_organisation_prefix_is_refused():
    token = make_token(tenant_id=3, message_id=5, link_id=9, kind=CLICK)
    raw = _raw(token)
    forged = leb128.encode(4) + raw[1:]
    assert read_token(_encode(forged), kind=CLICK) is None
    # Even with a MAC recomputed by someone without the key: the MAC is keyed.
    assert read_token(_encode(forged[:-MAC_BYTES] + bytes(MAC_BYTES)), kind=CLICK) is None


def test_tokens_made_with_another_key_are_refused_but_fallbacks_still_open(settings):
    token = make_token(tenant_id=3, message_id=5, link_id=9, kind=CLICK, secret="another-key-" + "x" * 40)
    assert read_token(token, kind=CLICK) is None
    old = make_token(tenant_id=3, message_id=5, link_id=9, kind=CLICK)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + "y" * 50
    assert read_token(old, kind=CLICK) == TrackingRef(3, 5, 9)


def test_only_absolute_literal_http_links_outside_sealpost_are_trackable(settings):
    settings.SITE_URL = "https://sealpost.test"
    html = (
        '<a href="https://clinic.example/a?x=1&amp;y=2">A</a>'
        "<a class='c' href='http://clinic.example/b'>B</a>"
        '<AREA shape="rect" HREF="https://clinic.example/map">'
        '<a href="{{ links.unsubscribe }}">U</a>'
        '<a href="https://clinic.example/p/{{ contact.external_id }}">P</a>'
        '<a href="https://sealpost.test/r/preferences/x/">Prefs</a>'
        '<a href="mailto:front-desk@clinic.example">Mail</a>'
        '<a href="javascript:alert(1)">J</a>'
        '<a href="/relative">R</a>'
        '<a href="https://clinic.example/a b">Space</a>'
        '<link href="https://cdn.example/style.css" rel="stylesheet">'
        '{# <a href="https://clinic.example/commented">C</a> #}'
        '<a href="https://clinic.example/a?x=1&amp;y=2">A again</a>'
    )
    assert literal_links([html]) == {
        "https://clinic.example/a?x=1&amp;y=2": "https://clinic.example/a?x=1&y=2",
        "http://clinic.example/b": "http://clinic.example/b",
        "https://clinic.example/map": "https://clinic.example/map",
    }
    assert trackable_url("https://sealpost.test/secure/abc/") is None
    assert trackable_url("https://sealpost.test") is None
    assert trackable_url("https://sealpost.test.evil.example/") == "https://sealpost.test.evil.example/"


AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"


@pytest.mark.parametrize(
    ("method", "agent", "seconds", "reason"),
    [
        ("GET", BROWSER, 3600, ""),
        ("HEAD", BROWSER, 3600, "head"),
        ("GET", BROWSER, SCAN_WINDOW_SECONDS - 1, "too_soon"),
        ("GET", BROWSER, SCAN_WINDOW_SECONDS, ""),
        (
            "GET",
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            3600,
            "proxy",
        ),
        ("GET", "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", 3600, "proxy"),
        ("GET", "Mozilla/5.0", 3600, "apple_mpp"),
        ("GET", "", 3600, "apple_mpp"),
        ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", 3600, "scanner"),
        ("GET", "Mimecast URL Protect", 3600, "scanner"),
        ("GET", "Proofpoint URL Defense", 3600, "scanner"),
        ("GET", "Mozilla/5.0 (compatible; BingPreview/1.0b)", 3600, "scanner"),
        ("GET", "python-requests/2.32", 3600, "scanner"),
    ],
)
def test_machine_heuristics(method, agent, seconds, reason):
    verdict = machine_verdict(method=method, user_agent=agent, at=AT + timedelta(seconds=seconds), handed_off_at=AT)
    assert verdict.machine is bool(reason)
    assert verdict.reason == reason


def test_no_hand_off_time_is_no_reason_to_call_it_a_machine():
    assert not machine_verdict(method="GET", user_agent=BROWSER, at=AT, handed_off_at=None).machine

"""DKIM signatures verify with dkimpy's verifier (DNS injected), cover the RFC 8058 headers,
and break when a signed header is changed or added."""

from __future__ import annotations

import base64

import dkim
import pytest

from delivery.dkim_signing import DkimError, DkimKey, generate_dkim_key, sign_message, verify_message
from delivery.mime import build_message

SELECTOR, DOMAIN = "sp2026", "clinic.example"
DNS_NAME = f"{SELECTOR}._domainkey.{DOMAIN}"


@pytest.fixture(scope="module")
def rsa_key():
    return generate_dkim_key()


@pytest.fixture(scope="module")
def ed25519_key():
    return generate_dkim_key("ed25519-sha256")


def message(**overrides):
    kwargs = dict(
        from_name="Riverside Clinic",
        from_address="news@clinic.example",
        to_address="pat@patients.example",
        subject="Your appointment — Tuesday",
        html="<p>See you soon</p>\n" * 20,
        text="See you soon\n" * 20,
        message_id="<m-1@clinic.example>",
        list_unsubscribe_url="https://sealpost.example/u/tok",
        list_unsubscribe_mailto="mailto:unsub@sealpost.example",
        reply_to="help@clinic.example",
    )
    return build_message(**{**kwargs, **overrides})


def signature_tags(signed: bytes) -> dict[bytes, bytes]:
    header = signed.split(b"\r\nFrom:")[0].removeprefix(b"DKIM-Signature:")
    return dkim.util.parse_tag_value(header.replace(b"\r\n", b""))


def test_generated_rsa_key_is_2048_bit_and_publishable(rsa_key):
    private_pem, txt = rsa_key
    assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert txt.startswith("v=DKIM1; k=rsa; p=")
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    public = load_der_public_key(base64.b64decode(txt.split("p=")[1]))
    assert public.key_size == 2048


@pytest.mark.parametrize("engine", ["openssl", "dkimpy"])
@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_signature_verifies_and_covers_the_rfc_8058_headers(request, engine, algorithm):
    private_pem, txt = request.getfixturevalue(f"{algorithm}_key")
    signed = sign_message(message(), domain=DOMAIN, selector=SELECTOR, private_pem=private_pem, engine=engine)
    assert verify_message(signed, dns_txt={DNS_NAME: txt})
    tags = signature_tags(signed)
    assert tags[b"a"] == (b"rsa-sha256" if algorithm == "rsa" else b"ed25519-sha256")
    assert (tags[b"d"], tags[b"s"], tags[b"c"]) == (DOMAIN.encode(), SELECTOR.encode(), b"relaxed/relaxed")
    signed_headers = [h.strip() for h in tags[b"h"].split(b":")]
    for name in (
        b"from",
        b"to",
        b"subject",
        b"date",
        b"message-id",
        b"mime-version",
        b"content-type",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"reply-to",
    ):
        assert name in signed_headers
    for name in (b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"):
        assert signed_headers.count(name) == 2  # oversigned: an added copy breaks the signature


def test_changed_or_added_headers_break_the_signature(rsa_key):
    private_pem, txt = rsa_key
    signed = DkimKey(DOMAIN, SELECTOR, private_pem).sign(message())
    dns = {DNS_NAME: txt}
    assert verify_message(signed, dns_txt=dns)
    assert not verify_message(
        signed.replace(b"https://sealpost.example/u/tok", b"https://evil.example/u/tok"), dns_txt=dns
    )
    assert not verify_message(
        signed.replace(b"\r\n\r\n", b"\r\nList-Unsubscribe: <https://evil.example/>\r\n\r\n", 1), dns_txt=dns
    )
    assert not verify_message(signed.replace(b"See you soon", b"See you later", 1), dns_txt=dns)
    assert not verify_message(signed, dns_txt={DNS_NAME: generate_dkim_key()[1]})  # another key


def test_relaxed_canonicalisation_survives_refolding(rsa_key):
    private_pem, txt = rsa_key
    signed = sign_message(message(), domain=DOMAIN, selector=SELECTOR, private_pem=private_pem)
    refolded = signed.replace(
        b"List-Unsubscribe: <https://sealpost.example/u/tok>,\r\n <mailto",
        b"List-Unsubscribe: <https://sealpost.example/u/tok>,  <mailto",
    )
    assert refolded != signed
    assert verify_message(refolded, dns_txt={DNS_NAME: txt})


def test_bad_keys_and_messages_are_refused(rsa_key):
    with pytest.raises(DkimError):
        sign_message(message(), domain=DOMAIN, selector=SELECTOR, private_pem="not a key")
    with pytest.raises(DkimError):
        sign_message(b"Subject: no from\r\n\r\nbody\r\n", domain=DOMAIN, selector=SELECTOR, private_pem=rsa_key[0])
    with pytest.raises(DkimError):
        generate_dkim_key("rsa-sha1")  # type: ignore[arg-type]


def test_the_fast_header_path_signs_exactly_as_dkimpy_parsing_would(monkeypatch):
    """``_parse_crlf`` + ``_hash_relaxed_headers`` replace dkimpy's parser and header
    canonicalisation for CRLF messages: the signature must be byte for byte the same."""
    from delivery import dkim_signing

    private_pem, txt = generate_dkim_key()
    messages = [
        build_message(
            from_name="Clinic  Ü",
            from_address="news@clinic.example",
            to_address=f"p{n}@patients.example",
            subject=("Your   results\tare ready " * (n + 1)) + "é" * n,
            html="<p>Hello \t  there</p>  \n" * (n + 1),
            text="Hello  \t there  \n\n\n" * (n + 1),
            message_id=f"<id{n}@clinic.example>",
            list_unsubscribe_url="https://sealpost.example/u/abc",
            reply_to="reply@clinic.example" if n % 2 else None,
        )
        for n in range(6)
    ]
    messages.append(
        b"From: a@clinic.example\r\nSubject:  x\r\n   folded\t here \r\nTo: b@x.example\r\n\r\nbody \r\n\r\n"
    )
    messages.append(b"From: a@clinic.example\nSubject: bare LF\n\nbody\n")  # dkimpy's parser reads it
    monkeypatch.setattr(dkim_signing.time, "time", lambda: 1_800_000_000.0)
    for raw in messages:
        fast = dkim_signing.sign_message(raw, domain="clinic.example", selector="sp1", private_pem=private_pem)
        with monkeypatch.context() as patched:
            patched.setattr(dkim_signing, "_parse_crlf", lambda message: None)
            reference = dkim_signing.sign_message(raw, domain="clinic.example", selector="sp1", private_pem=private_pem)
        assert fast == reference
        assert verify_message(fast, dns_txt={"sp1._domainkey.clinic.example": txt})
    assert dkim_signing._parse_crlf(messages[0]) is not None
    assert dkim_signing._parse_crlf(messages[-1]) is None
    assert dkim_signing._parse_crlf(b"From: a@clinic.example\r\nBad Name: x\r\n\r\nbody") is None

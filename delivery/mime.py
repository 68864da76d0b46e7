"""The bytes of one campaign message: a multipart/alternative (text + HTML) RFC 5322 message
with CRLF line endings, ready for DKIM signing and SMTP.

``build_message`` writes the bytes directly, using the standard library's C encoders
(``binascii.b2a_qp``, ``base64``) for bodies and RFC 2047 encoded-words for non-ASCII headers.
``build_message_stdlib`` is the same message through ``email.message.EmailMessage``: about
ten times slower (measured in tests/benchmarks/bench_transport.py and docs/delivery-transport.md),
kept as the reference the tests compare against (both parse back to the same headers and bodies).

Header injection is impossible by construction: display names, the subject and extra header
values have every control character (CR, LF, TAB, NUL, ...) and Unicode line separator
replaced by a space; addresses, URLs and header names that contain anything outside their
strict grammar are refused with ``InvalidHeader`` (a message that names no data).

Message-IDs (``message_id_for``, the only maker of campaign Message-IDs; the pipeline uses it)
are ``<token@from-domain>``: the (tenant id, message row id) pair sealed with AES-SIV under a
key derived from SECRET_KEY. The same for every attempt of a message, showing no row id, count
or tenant, and reversible: ``message_ref_from_message_id`` turns a Message-ID quoted by a bounce
(DSN) or a complaint (ARF) back into a ``MessageRef(tenant_id, message_id)`` and refuses anything
we did not make (SECRET_KEY_FALLBACKS still open the ones sent before a key rotation). Nothing is
stored: the row is ``Message.objects.for_tenant(tenant).get(pk=ref.message_id)`` inside
``tenant_context`` of ``ref.tenant_id`` (docs/delivery-pipeline.md, "Message-ID").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from sealpost import derived_keys

CRLF = b"\r\n"
MAX_LINE = 78  # RFC 5322 §2.1.1 SHOULD; bodies longer than this per line are encoded
_ENCODED_WORD_CHUNK = 45  # UTF-8 bytes per encoded-word: 60 base64 chars, 72 with the wrapper

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(rf"(?P<local>{_ATEXT}(?:\.{_ATEXT})*)@(?P<domain>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)")
_DOMAIN_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,75}")
_URL_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space
# Control characters and Unicode line/paragraph separators: never part of a header line.
_UNSAFE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_PHRASE_SAFE = re.compile(r"[A-Za-z0-9 !#$%&'*+\-/=?^_`{|}~.,;:@()\[\]<>]*")
_LINE_BREAKS = re.compile(rb"\r\n|\r")

RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "reply-to",
        "sender",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "dkim-signature",
        "return-path",
        "received",
    }
)


class InvalidHeader(ValueError):
    """An address, URL or header name that cannot be written safely. The message names the
    field, never its value (which may be PHI)."""


# --- Validation ---------------------------------------------------------------------------------


def neutralise(value: str) -> str:
    """``value`` with every control character and line separator replaced by a space, and
    leading/trailing whitespace removed: what a header value may contain."""
    return _UNSAFE.sub(" ", value).strip()


def neutralise_phrase(value: str) -> str:
    """A display name: neutralised, and whitespace runs collapsed to one space (in a phrase
    whitespace is not significant, and receivers collapse it anyway)."""
    return " ".join(neutralise(value).split())


def check_address(value: str, field: str = "address") -> str:
    """``value`` if it is a plain ASCII ``local@domain`` (dot-atom local part, LDH domain);
    InvalidHeader otherwise. Quoted local parts and SMTPUTF8 addresses are refused."""
    match = _ADDRESS.fullmatch(value)
    if (
        match is None
        or len(match["local"]) > 64
        or len(value) > 254
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in match["domain"].split("."))
    ):
        raise InvalidHeader(f"the {field} is not a plain ASCII email address")
    return value


def check_url(value: str, field: str, scheme: str) -> str:
    if not _URL_CHARS.fullmatch(value) or "<" in value or ">" in value or not value.startswith(scheme):
        raise InvalidHeader(f"the {field} must be a {scheme} URL of printable ASCII without spaces or angle brackets")
    if len(value) > 900:
        raise InvalidHeader(f"the {field} is too long")
    return value


def _check_extra(extra_headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    checked = []
    for name, value in extra_headers:
        if not _HEADER_NAME.fullmatch(name):
            raise InvalidHeader("an extra header name is not a valid field name")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidHeader(f"the {name} header is set by build_message, not by extra_headers")
        checked.append((name, neutralise(value)))
    return checked


# --- Headers ------------------------------------------------------------------------------------


def _encoded_words(value: str) -> list[str]:
    """RFC 2047 ``B`` encoded-words of at most 45 UTF-8 bytes each, never splitting a character
    (B is safe in phrases and unstructured fields alike)."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode("utf-8", "surrogatepass"))
        if size + width > _ENCODED_WORD_CHUNK and chunk:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    if chunk:
        words.append("".join(chunk))
    return ["=?utf-8?b?" + base64.b64encode(w.encode("utf-8", "surrogatepass")).decode("ascii") + "?=" for w in words]


def _fold_words(name: str, words: Sequence[str], separator: str) -> bytes:
    """``name: w1<sep>w2...`` folded before words so no line passes 78 characters where a
    word allows; each continuation line starts with the separator's whitespace."""
    line = f"{name}:"
    lines: list[str] = []
    for index, word in enumerate(words):
        piece = (" " if index == 0 else separator) + word
        if index > 0 and word and len(line) + len(piece) > MAX_LINE:
            lines.append(line)
            line = piece if piece.startswith(" ") else " " + piece
        else:
            line += piece
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


def _needs_encoding(value: str, longest_word: int) -> bool:
    return not value.isascii() or not value.isprintable() or "=?" in value or longest_word > MAX_LINE - 12


def unstructured(name: str, value: str) -> bytes:
    """An unstructured header (Subject, extra headers): raw ASCII folded at spaces when it can
    be, else encoded-words (non-ASCII, words too long to fold, or text that looks encoded)."""
    value = neutralise(value)
    words = value.split(" ")
    if _needs_encoding(value, max((len(w) for w in words), default=0)):
        return _fold_words(name, _encoded_words(value), " ")
    return _fold_words(name, words, " ")


def _phrase(display_name: str) -> list[str]:
    """A display name as header words: a quoted-string when it is short printable ASCII, else
    encoded-words."""
    if not display_name.isascii() or "=?" in display_name or len(display_name) > 60:
        return _encoded_words(display_name)
    if not _PHRASE_SAFE.fullmatch(display_name):  # pragma: no cover - neutralised input is printable
        return _encoded_words(display_name)
    return ['"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"']


def mailbox_header(name: str, display_name: str, address: str) -> bytes:
    display_name = neutralise_phrase(display_name)
    if not display_name:
        return f"{name}: {address}".encode("ascii") + CRLF
    return _fold_words(name, [*_phrase(display_name), f"<{address}>"], " ")


# --- Bodies -------------------------------------------------------------------------------------


def _normalise_lines(data: bytes) -> bytes:
    """LF line endings (the encoders' convention) ending with one."""
    data = _LINE_BREAKS.sub(b"\n", data)
    return data if data.endswith(b"\n") or not data else data + b"\n"


def encode_body(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, CRLF body): 7bit for short-lined ASCII, else the shorter
    of quoted-printable and base64."""
    data = _normalise_lines(text.encode("utf-8", "surrogatepass"))
    if not data:
        return b"7bit", CRLF
    # "=_" can never occur in QP or base64 output; a 7bit part containing it is encoded instead,
    # so the boundary (which contains "=_") never collides with body text.
    if (
        data.isascii()
        and b"=_" not in data
        and b"\x00" not in data
        and max(len(line) for line in data.split(b"\n")) <= MAX_LINE
    ):
        return b"7bit", data.replace(b"\n", CRLF)
    qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if len(qp) <= len(data) * 4 // 3 + len(data) // 57 + 2:
        return b"quoted-printable", qp.replace(b"\n", CRLF)
    # base64 carries text in canonical form (RFC 2045 §6.8): CRLF line endings inside
    return b"base64", base64.encodebytes(data.replace(b"\n", CRLF)).replace(b"\n", CRLF)


# --- Message ------------------------------------------------------------------------------------


# A Message-ID names its message without showing it: ``<token@from-domain>`` where ``token`` is
# the (tenant id, message row id) pair under AES-SIV (deterministic authenticated encryption)
# with a key derived from SECRET_KEY, in lower-case base32 (52 characters). Deterministic: every
# attempt of a message carries the same Message-ID. Opaque: it shows no row id, campaign size or
# tenant. Reversible and unforgeable: ``message_ref_from_message_id`` gives the pair back (a DSN
# or an ARF report names the message it is about), and anything not made with our key is refused
# (SIV's 128-bit tag). SECRET_KEY_FALLBACKS are tried too, so a key rotation does not orphan the
# reports of messages sent before it.
_MESSAGE_ID_AD = b"sealpost-message-id/v1"
_MESSAGE_ID_TOKEN = re.compile(r"[a-z2-7]{52}")


@dataclass(frozen=True)
class MessageRef:
    """What a Sealpost Message-ID names: the organisation and the ``campaigns.Message`` row."""

    tenant_id: int
    message_id: int


def _message_id_cipher(secret: str) -> AESSIV:
    return derived_keys.siv_cipher(b"sealpost-message-id", secret)


def _message_id_secrets() -> list[str]:
    return derived_keys.secrets()


def message_id_for(*, tenant_id: int, message_row_id: int, domain: str, secret: str | None = None) -> str:
    """``<token@domain>`` for one campaign message (see above); ``domain`` is the From domain.
    ``secret`` defaults to SECRET_KEY."""
    domain = domain.strip().rstrip(".").lower()
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in domain.split(".")):
        raise InvalidHeader("the Message-ID domain is not a domain name")
    cipher = _message_id_cipher(_message_id_secrets()[0] if secret is None else secret)
    sealed = cipher.encrypt(struct.pack(">QQ", int(tenant_id), int(message_row_id)), [_MESSAGE_ID_AD])
    token = base64.b32encode(sealed).decode("ascii").rstrip("=").lower()
    return f"<{token}@{domain}>"


def message_ref_from_message_id(value: str, *, secrets: Sequence[str] | None = None) -> MessageRef | None:
    """The message a Message-ID made by ``message_id_for`` names, or None for any other value
    (another sender's, altered, made with a key we no longer hold). ``secrets`` defaults to
    SECRET_KEY then SECRET_KEY_FALLBACKS. Angle brackets and surrounding space are optional."""
    local, at, _ = value.strip().removeprefix("<").removesuffix(">").rpartition("@")
    token = local.lower() if at else ""
    if not _MESSAGE_ID_TOKEN.fullmatch(token):
        return None
    sealed = base64.b32decode(token.upper() + "====")
    if base64.b32encode(sealed).decode("ascii").rstrip("=").lower() != token:
        return None  # the last character's unused bits were changed: not a token we made
    for secret in _message_id_secrets() if secrets is None else secrets:
        try:
            plain = _message_id_cipher(secret).decrypt(sealed, [_MESSAGE_ID_AD])
        except InvalidTag:
            continue
        tenant_id, message_row_id = struct.unpack(">QQ", plain)
        return MessageRef(tenant_id=tenant_id, message_id=message_row_id)
    return None


def _boundary(message_id: str) -> str:
    return "=_sp_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


def _checked_message_id(message_id: str) -> str:
    if not re.fullmatch(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,240}@[A-Za-z0-9.-]{1,253}>", message_id):
        raise InvalidHeader("the Message-ID must look like <id@domain>")
    return message_id


def _list_unsubscribe(url: str, mailto: str | None) -> str:
    check_url(url, "List-Unsubscribe URL", "https://")
    if mailto is not None:
        check_url(mailto, "List-Unsubscribe mailto", "mailto:")
    return f"<{url}>" if mailto is None else f"<{url}>,\r\n <{mailto}>"


def build_message(
    *,
    from_name: str,
    from_address: str,
    to_address: str,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    list_unsubscribe_url: str | None,
    list_unsubscribe_mailto: str | None = None,
    reply_to: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
    date: datetime | None = None,
) -> bytes:
    """The message as bytes (CRLF, 7bit-clean) ready for ``dkim_signing`` and SMTP. Without
    ``list_unsubscribe_url`` (a test send, which unsubscribes no one) there are no
    ``List-Unsubscribe`` headers."""
    check_address(from_address, "From address")
    check_address(to_address, "To address")
    if reply_to is not None:
        check_address(reply_to, "Reply-To address")
    extra = _check_extra(extra_headers)
    message_id = _checked_message_id(message_id)
    unsubscribe = (
        None if list_unsubscribe_url is None else _list_unsubscribe(list_unsubscribe_url, list_unsubscribe_mailto)
    )
    boundary = _boundary(message_id)
    text_cte, text_body = encode_body(text)
    html_cte, html_body = encode_body(html)
    parts = [
        mailbox_header("From", from_name, from_address),
        b"To: " + to_address.encode("ascii") + CRLF,
        unstructured("Subject", subject),
        b"Date: " + format_datetime(date or datetime.now(UTC)).encode("ascii") + CRLF,
        b"Message-ID: " + message_id.encode("ascii") + CRLF,
    ]
    if reply_to is not None:
        parts.append(b"Reply-To: " + reply_to.encode("ascii") + CRLF)
    if unsubscribe is not None:
        parts += [
            b"List-Unsubscribe: " + unsubscribe.encode("ascii") + CRLF,
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        ]
    parts += [unstructured(name, value) for name, value in extra]
    b = boundary.encode("ascii")
    parts += [
        b"MIME-Version: 1.0\r\n",
        b'Content-Type: multipart/alternative;\r\n boundary="' + b + b'"\r\n',
        CRLF,
        b"--" + b + CRLF,
        b'Content-Type: text/plain; charset="utf-8"\r\n',
        b"Content-Transfer-Encoding: " + text_cte + CRLF,
        CRLF,
        text_body,
        CRLF + b"--" + b + CRLF,
        b'Content-Type: text/html; charset="utf-8"\r\n',
        b"Content-Transfer-Encoding: " + html_cte + CRLF,
        CRLF,
        html_body,
        CRLF + b"--" + b + b"--" + CRLF,
    ]
    return b"".join(parts)


def build_message_stdlib(
    *,
    from_name: str,
    from_address: str,
    to_address: str,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    list_unsubscribe_url: str,
    list_unsubscribe_mailto: str | None = None,
    reply_to: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
    date: datetime | None = None,
) -> bytes:
    """The same message through ``email.message.EmailMessage`` (the reference and the
    benchmark's comparison; same validation and neutralisation)."""
    from email import policy
    from email.headerregistry import Address
    from email.message import EmailMessage

    check_address(from_address, "From address")
    check_address(to_address, "To address")
    if reply_to is not None:
        check_address(reply_to, "Reply-To address")
    extra = _check_extra(extra_headers)
    message = EmailMessage(policy=policy.SMTP)
    local, _, domain = from_address.partition("@")
    message["From"] = Address(neutralise_phrase(from_name), local, domain)
    message["To"] = to_address
    message["Subject"] = neutralise(subject)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = _checked_message_id(message_id)
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["List-Unsubscribe"] = _list_unsubscribe(list_unsubscribe_url, list_unsubscribe_mailto).replace("\r\n", "")
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in extra:
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes()

"""The dev Maildir's read side and the message-id check the dev mailbox pages rely on."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path

import pytest

from delivery.mailbox import MessageNotFound, is_valid_message_id, mailbox_get, mailbox_list
from delivery.sink import open_maildir, with_envelope_headers


@pytest.mark.parametrize(
    "value",
    [
        "1764302400.M123456P4242Q1.host",
        "1764302400.M123456P4242Q12.build-box.example.org",
        "1764302400.M1P1Q1.localhost_01",
    ],
)
def test_maildir_keys_are_valid_message_ids(value: str):
    assert is_valid_message_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "..",
        "../secret_key",
        "..%2Fsecret_key",
        "new/1764302400.M1P1Q1.host",
        "/etc/passwd",
        ".hidden",
        "-rf",
        "1764302400.M1P1Q1.host:2,S",
        "1764302400.M1P1Q1.host\x00",
        "1764302400.M1P1Q1.host\n",
        "key with spaces",
        "héllo",
        "a" * 256,
    ],
)
def test_other_strings_are_not_message_ids(value: str):
    assert not is_valid_message_id(value)


def test_a_key_made_by_maildir_passes_the_check(tmp_path: Path):
    key = open_maildir(tmp_path / "mailbox").add(b"Subject: hi\n\nbody\n")
    assert is_valid_message_id(key)


def test_missing_maildir_lists_nothing_and_finds_nothing(tmp_path: Path):
    missing = tmp_path / "never-created"
    assert mailbox_list(maildir=missing) == []
    with pytest.raises(MessageNotFound):
        mailbox_get(message_id="1764302400.M1P1Q1.host", maildir=missing)
    assert not missing.exists()


def test_unknown_and_invalid_ids_are_not_found(tmp_path: Path):
    box = tmp_path / "mailbox"
    open_maildir(box)
    with pytest.raises(MessageNotFound):
        mailbox_get(message_id="1764302400.M1P1Q1.host", maildir=box)
    with pytest.raises(MessageNotFound):
        mailbox_get(message_id="../secret_key", maildir=box)


def _store(box: Path, raw: bytes) -> str:
    return open_maildir(box).add(with_envelope_headers(raw, "sender@sealpost.localhost", ["r@example.org"]))


def test_plain_only_message(tmp_path: Path):
    box = tmp_path / "mailbox"
    key = _store(
        box,
        b"From: a@sealpost.localhost\r\nTo: r@example.org\r\nSubject: Plain\r\n"
        b"Date: Fri, 28 Nov 2025 09:30:00 -0000\r\n\r\nJust text.\r\n",
    )

    detail = mailbox_get(message_id=key, maildir=box)
    assert detail.text == "Just text.\n"
    assert detail.html is None
    # "-0000" means UTC with no stated offset; it must come back timezone-aware.
    assert detail.summary.date == datetime(2025, 11, 28, 9, 30, tzinfo=UTC)


def test_html_only_message_and_encoded_subject(tmp_path: Path):
    box = tmp_path / "mailbox"
    key = _store(
        box,
        b"From: a@sealpost.localhost\nTo: r@example.org\nSubject: =?utf-8?q?R=C3=A9sultats?=\n"
        b"MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n<p>Hi<script>alert(1)</script></p>\n",
    )

    detail = mailbox_get(message_id=key, maildir=box)
    assert detail.summary.subject == "Résultats"
    assert detail.text is None
    assert detail.html == "<p>Hi<script>alert(1)</script></p>\n"


def test_unknown_charset_falls_back_to_latin1(tmp_path: Path):
    box = tmp_path / "mailbox"
    key = _store(box, b"Subject: odd\nContent-Type: text/plain; charset=x-unknown\n\ncaf\xe9\n")

    assert mailbox_get(message_id=key, maildir=box).text == "caf\xe9\n"


def test_message_without_date_or_subject(tmp_path: Path):
    box = tmp_path / "mailbox"
    _store(box, b"\nbody only\n")

    (summary,) = mailbox_list(maildir=box)
    assert summary.date is None
    assert summary.subject == ""


def test_files_that_are_not_sink_keys_are_ignored(tmp_path: Path):
    box = tmp_path / "mailbox"
    _store(box, b"Subject: real\n\nbody\n")
    # A stray file whose name the id check rejects must not surface as an unreachable row.
    (box / "new" / "odd name").write_bytes(b"Subject: stray\n\nbody\n")

    assert [m.subject for m in mailbox_list(maildir=box)] == ["real"]


def test_listing_does_not_move_messages_to_cur(tmp_path: Path):
    box = tmp_path / "mailbox"
    key = _store(box, b"Subject: unread\n\nbody\n")
    mailbox_list(maildir=box)
    mailbox_get(message_id=key, maildir=box)

    assert mailbox.Maildir(box, create=False).get_message(key).get_subdir() == "new"

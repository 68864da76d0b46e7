"""``manage.py dlp_scan``: the command-line contract other tools rely on (issue 9).

stdin JSONL ``{"id", "text"}`` → stdout JSONL ``{"id", "level", "findings": [{"type", "start",
"end", "confidence"}]}``, one output line per input line, in order, written as each is done; a bad
line gets an ``{"id", "error"}`` line in its place, a message on stderr, and exit status 1.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def run(lines: list[str]) -> tuple[list[dict], str, int]:
    stdin = io.StringIO("".join(line + "\n" for line in lines))
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("dlp_scan", stdin=stdin, stdout=stdout, stderr=stderr)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return [json.loads(line) for line in stdout.getvalue().splitlines()], stderr.getvalue(), code


def test_one_output_line_per_input_line_in_order_with_the_contract_fields():
    records = [
        {"id": 1, "text": "Dear Maria Garcia, your MRI is on 3/4/2027."},
        {"id": "b", "text": "Hi Avery, we now open on Saturdays."},
        {"id": None, "text": "Flu shots are available this month."},
        {"id": 4, "text": ""},
    ]
    out, err, code = run([json.dumps(r) for r in records])
    assert code == 0 and err == ""
    assert [o["id"] for o in out] == [1, "b", None, 4]
    assert [o["level"] for o in out] == ["phi", "pii", "none", "none"]
    for line in out:
        assert set(line) == {"id", "level", "findings"}
        for finding in line["findings"]:
            assert set(finding) == {"type", "start", "end", "confidence"}
    text = records[0]["text"]
    spans = {(f["type"], text[f["start"] : f["end"]]) for f in out[0]["findings"]}
    assert {("NAME", "Maria Garcia"), ("PROCEDURE", "MRI"), ("DATE", "3/4/2027")} <= spans


def test_offsets_count_characters_not_bytes_or_utf16_units():
    text = "😀🎉 Dear Zoë Müller, call (555) 123-4567."
    out, _, _ = run([json.dumps({"id": 1, "text": text}, ensure_ascii=True)])
    spans = [(f["type"], text[f["start"] : f["end"]]) for f in out[0]["findings"]]
    assert spans == [("NAME", "Zoë Müller"), ("PHONE", "(555) 123-4567")]


def test_a_bad_line_gets_an_error_line_in_its_place_and_the_command_fails_at_the_end():
    out, err, code = run(
        [
            json.dumps({"id": 1, "text": "Hi Maria"}),
            "this is not json",
            json.dumps({"id": 3, "body": "no text field"}),
            json.dumps(["not", "an", "object"]),
            "",
            json.dumps({"id": 5, "text": "MRN: 00482913"}),
        ]
    )
    assert code == 1
    assert [o.get("id") for o in out] == [1, None, 3, None, 5]  # the blank line is skipped
    assert "error" in out[1] and "error" in out[2] and "error" in out[3]
    # A medical record number identifies the organisation's patient; nothing says it is not about
    # their care, so the message is phi (the sixth pass's default, docs/dlp.md).
    assert out[4]["level"] == "phi"
    assert "line 2" in err and "line 3" in err and "line 4" in err


def test_streams_through_manage_py_from_stdin_to_stdout():
    """A real process: lines written one at a time are answered before stdin is closed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "dlp_scan"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"id": "first", "text": "Dear Maria Garcia, MRN 00482913"}) + "\n")
        process.stdin.flush()
        first = json.loads(process.stdout.readline())  # answered while stdin is still open
        assert first["id"] == "first" and first["level"] == "phi"  # a patient by MRN (see above)
        process.stdin.write(json.dumps({"id": "second", "text": "Your colonoscopy is on 3/4/2027."}) + "\n")
        process.stdin.close()
        second = json.loads(process.stdout.readline())
        assert second == {
            "id": "second",
            "level": "phi",
            "findings": [
                {"type": "PROCEDURE", "start": 5, "end": 16, "confidence": 0.85},
                {"type": "DATE", "start": 23, "end": 31, "confidence": 0.95},
            ],
        }
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("count", [250])
def test_many_lines_keep_their_order(count):
    lines = [json.dumps({"id": n, "text": f"Dear Maria, call 555-123-{n:04d}."}) for n in range(count)]
    out, _, code = run(lines)
    assert code == 0
    assert [o["id"] for o in out] == list(range(count))

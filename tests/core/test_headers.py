"""Header values spoofguard writes: no injected lines, no controls, sane line lengths."""

from __future__ import annotations

import codecs
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoofguard.headers import HARD_LIMIT, ascii_text, clean, fold, header_value

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def lines(value: str) -> list[str]:
    """The physical lines of a folded value (continuation tab dropped)."""
    return value.split("\n\t")


def assert_safe(value: str) -> None:
    """No CR or LF except the "\\n\\t" fold, and no control character anywhere else."""
    for line in lines(value):
        assert "\r" not in line and "\n" not in line, repr(value)
        assert not CONTROL.search(line), repr(line)
        assert line == line.strip(" "), repr(line)  # folding never leaves edge spaces


HOSTILE_SUBJECT = (
    "Pay\rnow\nor\r\nBcc: victim@example.net\r\n"  # CR, LF, CRLF without whitespace
    "\x00nul\x01\x07bell\x08\x0b\x0c\x1b[31mansi\x7fdel"
    "\x85nel\x9bcsi\u2028lsep\u2029psep\tend"
)


@pytest.mark.parametrize("ascii_only", [True, False], ids=["report", "subject"])
def test_subject_with_crlf_and_controls_yields_a_single_safe_value(ascii_only: bool) -> None:
    value = header_value("Subject", HOSTILE_SUBJECT, ascii_only=ascii_only)
    assert_safe(value)
    # every word survives, separated by spaces, and nothing starts a new header line
    flat = value.replace("\n\t", " ")
    assert flat.split(" ")[:5] == ["Pay", "now", "or", "Bcc:", "victim@example.net"]
    assert "\nBcc" not in value and "\rBcc" not in value
    for word in ("nul", "bell", "ansi", "del", "nel", "csi", "lsep", "psep", "end"):
        assert word in flat


def test_folding_whitespace_in_the_input_is_unfolded() -> None:
    assert header_value("Subject", "Your invoice\r\n is ready\n\tnow") == "Your invoice is ready now"


def test_clean_collapses_runs_of_spaces_and_trims() -> None:
    assert clean("  a \t\t b\x00\x00c  ") == "a b c"


def test_ten_thousand_character_single_word_subject_stays_under_998() -> None:
    word = "A" * 10_000
    value = header_value("Subject", word, ascii_only=False)
    physical = lines(value)
    assert len(physical) > 1
    assert all(len(line) <= 998 for line in physical)
    # the first line is written after "Subject: "
    assert len("Subject: " + physical[0]) <= 998
    assert "".join(physical) == word  # nothing lost, nothing added


def test_long_word_after_short_words_is_split_and_keeps_the_words() -> None:
    value = header_value("X-Spoofguard-Report", "action=tag; " + "x" * 3000 + " tail")
    assert all(len(line) <= 998 for line in lines(value))
    assert value.replace("\n\t", "").replace(" ", "") == ("action=tag;" + "x" * 3000 + "tail")


def test_long_multi_word_value_folds_at_78_columns() -> None:
    words = [f"word{i:03d}" for i in range(200)]
    text = " ".join(words)
    value = header_value("X-Spoofguard-Report", text)
    physical = lines(value)
    assert len(physical) > 5
    assert len("X-Spoofguard-Report: " + physical[0]) <= 78
    assert all(len("\t" + line) <= 78 for line in physical[1:])
    assert value.replace("\n\t", " ") == text  # folded only at spaces


def test_word_longer_than_78_gets_its_own_line_without_splitting() -> None:
    long_word = "y" * 120
    value = header_value("Subject", f"short {long_word} after")
    assert lines(value) == ["short", long_word, "after"]


def test_short_value_is_not_folded() -> None:
    assert header_value("Subject", "hello world") == "hello world"
    assert fold("Subject", "") == ""


def test_hard_limit_leaves_room_for_the_header_name() -> None:
    assert HARD_LIMIT + len("X-Spoofguard-Report: ") <= 998


# -- 7-bit reports ------------------------------------------------------------------------


def test_non_ascii_in_report_text_becomes_escapes() -> None:
    text = "From P\u0430yPal \u2013 caf\u00e9 \U0001f600"  # Cyrillic a, en dash, e-acute, emoji
    value = header_value("X-Spoofguard-Report", text)
    assert value.isascii()
    assert "P\\u0430yPal" in value  # the homoglyph is visible, not silently an "a"
    assert "\\u2013" in value
    assert "\\U0001f600" in value
    # and nothing was lost: the escapes decode back to the text
    assert codecs.decode(value, "unicode_escape") == text


def test_ascii_text_is_unchanged_when_already_ascii() -> None:
    assert ascii_text("plain text") == "plain text"


def test_subject_keeps_non_ascii_when_not_ascii_only() -> None:
    assert header_value("Subject", "Gr\u00fc\u00dfe \u2603", ascii_only=False) == "Gr\u00fc\u00dfe \u2603"


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=3000), ascii_only=st.booleans(), name=st.sampled_from(["Subject", "X-Spoofguard-Report"]))
def test_any_text_gives_a_safe_header_value(text: str, ascii_only: bool, name: str) -> None:
    value = header_value(name, text, ascii_only=ascii_only)
    assert_safe(value)
    assert all(len(line) <= 998 for line in lines(value))
    if ascii_only:
        assert value.isascii()
    else:
        # nothing but controls and whitespace was changed
        kept = [c for c in text if not CONTROL.match(c) and not c.isspace()]
        assert [c for c in value if not c.isspace()] == kept


def test_non_ascii_long_subject_lines_stay_under_998_octets() -> None:
    value = header_value("Subject", "\u00e9" * 10_000, ascii_only=False)
    wire = value.encode("utf-8", "surrogateescape")  # as service._wire sends it
    assert all(len(line) <= 998 for line in wire.split(b"\n\t"))

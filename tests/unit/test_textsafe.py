"""rtcdiag.textsafe: wire strings made safe for the terminal and Markdown."""

from __future__ import annotations

import ast
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rtcdiag import textsafe
from rtcdiag.textsafe import printable, printable_lines

UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


# Text that leans on the interesting characters: ASCII, controls, C1, bidi, tags, surrogates, backslashes.
hostile_text = st.text(alphabet=st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0xFF),
    st.sampled_from("\u200b\u200e\u202a\u202e\u2066\u2069\u2028\u2029\ufeff\u00ad\U000e0041\\"),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.characters(),
))


def test_table_matches_unicodedata() -> None:
    """UNSAFE_RANGES covers exactly the Cc/Cf/Cs/Zl/Zp code points of this interpreter's Unicode."""
    expected = [cp for cp in range(sys.maxunicode + 1) if unsafe(chr(cp))]
    listed = [cp for low, high in textsafe.UNSAFE_RANGES for cp in range(low, high + 1)]
    assert listed == expected


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
    ("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d"),
    ("\x00\x7f\x80\x9b\x9f", "\\x00\\x7f\\x80\\x9b\\x9f"),
    ("user\u202eexe.txt", "user\\u202eexe.txt"),
    ("\u2066x\u2069\u200b\ufeff", "\\u2066x\\u2069\\u200b\\ufeff"),
    ("\ud800", "\\ud800"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("caf\u00e9 \u65e5\u672c \U0001f600", "caf\u00e9 \u65e5\u672c \U0001f600"),  # printable non-ASCII stays
])
def test_examples(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_safe_text_is_returned_as_is() -> None:
    text = "coturn-4.6.1 'Citrine' realm=example.org \\x1b"
    assert printable(text) is text
    assert printable_lines(text) is text
    assert printable_lines("two\nlines") == "two\nlines"


def test_lines_variant_keeps_only_newline() -> None:
    assert printable_lines("a\nb\r\n\tc\x1b[31m") == "a\nb\\x0d\n\\x09c\\x1b[31m"


@given(hostile_text)
@example("\x1b\n\ud800\u202e")
def test_printable_output_has_no_unsafe_character(text: str) -> None:
    out = printable(text)
    assert not any(unsafe(ch) for ch in out)
    assert printable(out) == out  # idempotent
    if not any(unsafe(ch) for ch in text):
        assert out == text


@given(hostile_text)
def test_printable_lines_output_has_no_unsafe_character_but_newline(text: str) -> None:
    out = printable_lines(text)
    assert not any(unsafe(ch) for ch in out if ch != "\n")
    assert out.count("\n") == text.count("\n")
    assert printable_lines(out) == out
    assert printable(out) == printable(text)  # the same escapes, plus newlines


@given(hostile_text)
def test_output_encodes_as_utf8(text: str) -> None:
    printable(text).encode("utf-8")  # no lone surrogate survives


def test_imports_nothing_from_rtcdiag() -> None:
    tree = ast.parse(Path(textsafe.__file__).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.startswith("rtcdiag")]


# --- bounded lines (issue 20: a 65,000-byte SOFTWARE printed whole was 92 KB of text) ---------------------


def test_a_line_longer_than_the_bound_is_cut_and_says_its_length() -> None:
    line = "v" * (textsafe.MAX_SHOWN_CHARS + 5000)
    cut = textsafe.shown_line(line)
    assert cut.startswith("v" * textsafe.MAX_SHOWN_CHARS + "...")
    assert cut.endswith(f"[{len(line):,} characters in all; --json has them]")
    assert textsafe.shown_line("short") == "short"
    assert textsafe.shown_line("a\x1bb") == "a\\x1bb"  # still made printable


def test_each_line_of_prose_is_bounded_on_its_own() -> None:
    text = "first line\n" + "w" * 3000 + "\nlast line"
    first, middle, last = textsafe.shown(text).split("\n")
    assert (first, last) == ("first line", "last line")
    assert middle.endswith("[3,000 characters in all; --json has them]")


def test_a_line_built_from_bounded_parts_keeps_the_parts_length() -> None:
    part = textsafe.shown_line("s" * 65_000)
    line = f"server software {part}; more words around it"
    assert textsafe.shown_line(line) == line  # not cut again: "65,000" stays the server string's length
    assert "[65,000 characters" in line

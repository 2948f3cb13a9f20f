"""Make strings from the wire safe to print: no control or format character reaches a terminal or a report.

A server chooses its SOFTWARE, ERROR-CODE reason phrase, REALM, NONCE and the bytes of attributes we do not
know. Printed raw, an ESC sequence can recolour or rewrite the terminal (or retitle the window, or fake a
"PASS" line), a bidi override (U+202E) can make text read backwards, a NUL or a lone surrogate can break a
Markdown or JUnit consumer. ``printable`` turns every such character into a visible escape:

- C0 controls U+0000-U+001F, including ``\\n``, ``\\r`` and ``\\t`` (wire strings are one-liners), DEL, and C1
  controls U+0080-U+009F: ``\\x1b``, ``\\x9b``;
- Unicode format characters (category Cf): soft hyphen, bidi embeddings/overrides/isolates (U+202A-U+202E,
  U+2066-U+2069), zero-width characters (U+200B-U+200F, U+2060-U+2064), the BOM U+FEFF, interlinear
  annotation, tag characters U+E0000-U+E007F (invisible "ASCII smuggling"), ...: ``\\u202e``, ``\\U000e0041``;
- line and paragraph separators U+2028/U+2029 and lone surrogates U+D800-U+DFFF.

``printable_lines`` is the same but keeps ``\\n`` for multi-line prose. A literal backslash is left as is, so
escaping is idempotent (``printable(printable(s)) == printable(s)``) and text that needs no escaping is
returned unchanged (``str.isprintable``, or one regex search when the text has other non-printing
characters such as a no-break space; no copy).

A server also chooses how long its strings are: a SOFTWARE of 65,000 bytes (RFC 8489 §14.14 says fewer than
128 characters) would be printed whole, 92 KB of text. ``shown`` and ``shown_line`` are what the text and
Markdown renderers print: printable, and each line cut at :data:`MAX_SHOWN_CHARS` with its full length said
(the JSON report keeps every string whole).

This is a bottom-layer module: it imports nothing from rtcdiag.
"""

from __future__ import annotations

import functools
import re

__all__ = ["MAX_SHOWN_CHARS", "UNSAFE_RANGES", "bounded", "printable", "printable_lines", "shown",
           "shown_line"]

# Every code point of category Cc, Cf, Cs, Zl or Zp (Unicode 14.0, Python 3.11's unicodedata); a unit test
# checks this table against the running interpreter's unicodedata.
UNSAFE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F),  # C0 controls
    (0x007F, 0x009F),  # DEL, C1 controls
    (0x00AD, 0x00AD),  # soft hyphen
    (0x0600, 0x0605),  # Arabic number signs
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200F),  # zero width space/non-joiner/joiner, LRM, RLM
    (0x2028, 0x202E),  # line/paragraph separator, bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    (0xD800, 0xDFFF),  # surrogates (only lone ones can occur in a str)
    (0xFEFF, 0xFEFF),  # BOM / zero width no-break space
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),  # language tag
    (0xE0020, 0xE007F),  # tag characters
)


def _char_class(ranges: tuple[tuple[int, int], ...], keep: str = "") -> str:
    parts: list[str] = []
    for low, high in ranges:
        span = [c for c in range(low, high + 1) if chr(c) not in keep] if keep else None
        if span is not None and len(span) != high - low + 1:
            parts.extend(f"\\U{c:08x}" for c in span)  # a range with a kept character: list it out
        else:
            parts.append(f"\\U{low:08x}-\\U{high:08x}" if high > low else f"\\U{low:08x}")
    return "[" + "".join(parts) + "]"


@functools.cache
def _unsafe(keep_newline: bool) -> re.Pattern[str]:
    """The pattern of unsafe characters, compiled when first needed (most text never needs it)."""
    return re.compile(_char_class(UNSAFE_RANGES, keep="\n" if keep_newline else ""))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control, format, separator and surrogate character as a visible escape
    (``\\x1b``, ``\\u202e``); unchanged (the same object) when there is none."""
    if text.isprintable():  # no character of category C* or Z* but the space: nothing unsafe (fast)
        return text
    unsafe = _unsafe(False)
    if unsafe.search(text) is None:
        return text
    return unsafe.sub(_escape, text)


def printable_lines(text: str) -> str:
    """Like :func:`printable` but keeps ``\\n`` (multi-line prose); ``\\r``, ``\\t`` etc. are escaped."""
    if text.isprintable():
        return text
    unsafe = _unsafe(True)
    if unsafe.search(text) is None:
        return text
    return unsafe.sub(_escape, text)


MAX_SHOWN_CHARS = 1000  # one line of a text or Markdown report (rtcdiag's own lines are far shorter)


_CUT = " characters in all; --json has them]"


def bounded(line: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``line`` cut to ``limit`` characters, saying how long it was (unchanged when it fits). A line built
    from parts already bounded (a finding's text with a cut parameter) is not cut again, so the length said
    stays the server string's own."""
    if len(line) <= limit or (_CUT in line and len(line) <= 4 * limit):
        return line
    return f"{line[:limit]}... [{len(line):,}{_CUT}"


def shown(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """What a text or Markdown report prints of ``text``: :func:`printable_lines`, each line bounded."""
    safe = printable_lines(text)
    if len(safe) <= limit:
        return safe
    return "\n".join(bounded(line, limit) for line in safe.split("\n"))


def shown_line(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """:func:`shown` for a one-liner: :func:`printable` (line breaks escaped too), bounded."""
    return bounded(printable(text), limit)

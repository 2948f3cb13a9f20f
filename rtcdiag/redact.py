"""Secret masking: every secret the tool learns is registered here; echoed text is masked before it is kept.

Where masking happens: wherever wire data or user input is *echoed* into the report (finding parameters and
evidence, table cells, raw results, notes, error messages quoting an argument). The catalogue's prose and
rtcdiag's own words are never passed through it, so a password that is a common word (``turn``, ``wrong``)
cannot corrupt them — and cannot be given away by which words went missing.

What is masked: an exact secret, as a whole token (not preceded or followed by a letter or digit), so
the password ``turn`` masks ``turn`` in ``user turn`` or ``turn@host`` but not the realm
``nodeturn.test``. A secret of :data:`ANYWHERE_LEN` characters or more is masked wherever it appears (no
innocent text contains it).
"""

from __future__ import annotations

import base64
import contextlib
import re
import threading
from collections.abc import Callable

MASK = "***"
_MIN_LEN = 3  # shorter strings would mask innocent text; they are still never printed on purpose
ANYWHERE_LEN = 12

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | bytes | None) -> None:
    """Remember ``value`` (and its base64 and hex forms for bytes) so that ``mask`` hides it."""
    global _pattern
    if not value:
        return
    forms: list[str] = []
    if isinstance(value, bytes):
        forms.append(value.hex())
        forms.append(base64.b64encode(value).decode("ascii"))
        with contextlib.suppress(UnicodeDecodeError):
            forms.append(value.decode("utf-8"))
    else:
        forms.append(value)
    with _lock:
        new = {f for f in forms if len(f) >= _MIN_LEN} - _secrets
        if new:
            _secrets.update(new)
            _pattern = None


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            alternatives = []
            for secret in sorted(_secrets, key=len, reverse=True):  # longest first
                escaped = re.escape(secret)
                if len(secret) < ANYWHERE_LEN:
                    escaped = rf"(?<![^\W_]){escaped}(?![^\W_])"
                alternatives.append(escaped)
            _pattern = re.compile("|".join(alternatives))
        return _pattern


def mask(text: str) -> str:
    """``text`` (echoed wire data or user input) with every registered secret replaced by ``***``."""
    pattern = _compiled()
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def masking() -> Callable[[str], str] | None:
    """:func:`mask` while any secret is registered, else None (nothing to mask: skip the walk)."""
    return mask if _compiled() is not None else None


def clear_secrets() -> None:
    """Forget every registered secret (tests only)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None

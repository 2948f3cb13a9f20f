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
import contextvars
import re
import threading
from collections.abc import Callable, Iterator

MASK = "***"
_MIN_LEN = 3  # shorter strings would mask innocent text; they are still never printed on purpose
ANYWHERE_LEN = 12

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
# Secrets registered inside an ephemeral_secrets() scope (e.g. TURN REST credentials minted for one exporter
# probe, and the keys derived from them): how many live scopes hold each; dropped when none does, unless it
# was also registered outside every scope (then it stays for the life of the process).
_permanent: set[str] = set()
_held: dict[str, int] = {}


class _Scope:
    def __init__(self) -> None:
        self.forms: set[str] = set()


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("rtcdiag_secret_scope", default=None)


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
    kept = {f for f in forms if len(f) >= _MIN_LEN}
    scope = _scope.get()
    with _lock:
        if scope is None:
            _permanent.update(kept)
        else:
            for form in kept - scope.forms - _permanent:
                scope.forms.add(form)
                _held[form] = _held.get(form, 0) + 1
        new = kept - _secrets
        if new:
            _secrets.update(new)
            _pattern = None


@contextlib.contextmanager
def ephemeral_secrets() -> Iterator[None]:
    """Secrets registered in this context (this task and the tasks it starts) are forgotten when the block
    ends and no other live scope holds them: the set of masked secrets stays bounded in a long-running
    process that mints fresh credentials per probe (``rtcdiag exporter``). Enter and leave it in one task."""
    global _pattern
    scope = _Scope()
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)
        with _lock:
            for form in scope.forms:
                left = _held.get(form, 0) - 1
                if left > 0:
                    _held[form] = left
                    continue
                _held.pop(form, None)
                if form not in _permanent and form in _secrets:
                    _secrets.discard(form)
                    _pattern = None


def secret_count() -> int:
    """How many secret forms are registered (for tests and the exporter's own metrics)."""
    with _lock:
        return len(_secrets)


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


def masking_now() -> Callable[[str], str] | None:
    """Like :func:`masking`, but masking the secrets registered now, also when called later (after a probe's
    ephemeral secrets were forgotten); None while no secret is registered."""
    pattern = _compiled()
    if pattern is None:
        return None

    def masked(text: str) -> str:
        return pattern.sub(MASK, text) if text else text

    return masked


def clear_secrets() -> None:
    """Forget every registered secret (tests only)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _permanent.clear()
        _held.clear()
        _pattern = None

"""Secret masking: every secret the tool learns is registered here; text from outside is masked, never ours.

What is masked: values that came from *outside* -- a server's strings (SOFTWARE, REALM, reason phrases,
certificate names, ...), echoed data, free text a user typed (a user name), the lines of a log. rtcdiag's own
keys, words, schemes, transports, check names and enum values are never masked, whatever the password is
(the password ``turn`` must not turn ``turn:host:3478`` into ``***:host:3478``).

How it is kept apart: where rtcdiag composes a sentence, a table cell or a result around an outside value, it
marks that value with :func:`echo`; the report is built with :func:`unmark`, which masks inside the marks only
and removes them. Whole fields of a result that hold outside text are declared with ``metadata=ECHO`` and
marked when the result is made JSON data (:func:`rtcdiag.jsonable.to_jsonable`). Text that is outside data as
a whole (coturn's log, a label from a config) goes through :func:`mask`. A target URI is rtcdiag's own: it is
parsed and validated, and a user name or password written in it is refused and masked when it is parsed.

A secret is masked as a whole token (not preceded or followed by a letter or digit), so the password
``turn`` masks ``turn`` in ``user turn`` or ``turn@host`` but not the realm ``nodeturn.test``. A secret of
:data:`ANYWHERE_LEN` characters or more is masked wherever it appears inside outside text.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import re
import threading
from collections.abc import Callable, Iterator

MASK = "***"
# Private-use code points around an outside value inside rtcdiag's own text (never in rtcdiag's text itself;
# removed from the value by echo(), and every mark is gone once the text went through unmark()).
ECHO_OPEN = "\ue000"
ECHO_CLOSE = "\ue001"
_MARKS = str.maketrans({ECHO_OPEN: None, ECHO_CLOSE: None})
_SPAN = re.compile(f"{ECHO_OPEN}([^{ECHO_OPEN}{ECHO_CLOSE}]*)(?:{ECHO_CLOSE}|$)|{ECHO_CLOSE}")
# Dataclass field metadata: this field holds outside text (a server's string, a user's free text); its
# strings are marked as echoed when the result becomes JSON data.
ECHO: dict[str, bool] = {"echo": True}
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


def echo(value: object) -> str:
    """``value`` (outside text: from the wire, a file or a user's free text) marked for :func:`unmark`, to be
    put into rtcdiag's own text: ``f"server software {echo(software)}"``. Marks inside the value are removed,
    so an outside value can neither end its own span nor open one (and ``echo(echo(x)) == echo(x)``)."""
    text = value if isinstance(value, str) else str(value)
    return ECHO_OPEN + text.translate(_MARKS) + ECHO_CLOSE


def echoed(value: object | None) -> str | None:
    """:func:`echo` of ``value``, or None for None."""
    return None if value is None else echo(value)


def _unmark_span(match: re.Match[str]) -> str:
    inner = match.group(1)
    return mask(inner) if inner else ""


def unmark(text: str) -> str:
    """``text`` (rtcdiag's own words around :func:`echo`-marked values) with the secrets masked inside the
    marks only, and no mark left. A span cut open by truncation is masked to the end."""
    if ECHO_OPEN not in text and ECHO_CLOSE not in text:
        return text
    return _SPAN.sub(_unmark_span, text)


def masking() -> Callable[[str], str]:
    """The masking applied to every string of a report: :func:`unmark`."""
    return unmark


def unmarking_now() -> Callable[[str], str]:
    """Like :func:`unmark`, but masking (inside the marks) the secrets registered now, also when called later,
    after a probe's ephemeral secrets were forgotten: for what is turned into text after the run (the raw
    results, JSON only when printed)."""
    pattern = _compiled()

    def span(match: re.Match[str]) -> str:
        inner = match.group(1)
        return pattern.sub(MASK, inner) if inner and pattern is not None else inner or ""

    def unmarked(text: str) -> str:
        if ECHO_OPEN not in text and ECHO_CLOSE not in text:
            return text
        return _SPAN.sub(span, text)

    return unmarked


def clear_secrets() -> None:
    """Forget every registered secret (tests only)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _permanent.clear()
        _held.clear()
        _pattern = None

"""Secret redaction: every secret the tool learns is registered here and scrubbed from all output.

Renderers (console, JSON, JUnit, Markdown) and log handlers pass their final text through ``redact``.
Probes register passwords, REST secrets and derived credentials as soon as they load them.
"""

from __future__ import annotations

import base64
import contextlib
import threading

MASK = "***"
_MIN_LEN = 3  # shorter strings would mask innocent text; they are still never printed on purpose

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | bytes | None) -> None:
    """Remember ``value`` (and its base64 and hex forms for bytes) so that ``redact`` hides it."""
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
        _secrets.update(f for f in forms if len(f) >= _MIN_LEN)


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***`` (longest first)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def clear_secrets() -> None:
    """Forget every registered secret (tests only)."""
    with _lock:
        _secrets.clear()

"""Live progress on a terminal's stderr: one status line, redrawn in place, gone before the report.

    with progress("turn-check") as view:          # a no-op view unless stderr is a terminal
        task = view.add("turn:h:3478?transport=udp")
        ...
        view.done(task, ok=True)

The line says how many of the probes started are done, which are still pending (the oldest first) and for
how long the run has been waiting: ``rtcdiag turn-check: 2/3 done; waiting for turns:h:443 (4.2 s)``. It is
never shown when stderr is not a terminal (pipes, CI logs, ``2>file``) or when the report goes out as JSON,
and it is erased (``\\r`` and "erase to end of line") before anything else is printed. Probes report to it
through :func:`rtcdiag.interrupt.watched` (every fan-out of one level) or a command's own ``add``/``done``.
Labels are masked for secrets like every other output (:func:`rtcdiag.redact.unmark`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Protocol

from rtcdiag.redact import unmark
from rtcdiag.textsafe import printable

REFRESH_S = 0.1  # redraw period
ERASE = "\r\x1b[K"  # back to the start of the line, erase it (ECMA-48 EL)
MAX_PENDING = 3  # pending probes named; the rest are counted


class ProgressView(Protocol):
    def add(self, description: str) -> int:
        """Start showing one task; returns its handle."""

    def done(self, task: int, ok: bool | None = True, detail: str = "") -> None:
        """Mark a task finished: ok True (passed), False (failed) or None (inconclusive / skipped)."""


class NullProgress:
    """Used when stderr is not a terminal: remembers nothing, prints nothing."""

    def __init__(self) -> None:
        self._next = 0

    def add(self, description: str) -> int:
        self._next += 1
        return self._next

    def done(self, task: int, ok: bool | None = True, detail: str = "") -> None:
        return None


class StatusLine:
    """One line on ``stream``, redrawn every :data:`REFRESH_S` by a thread of its own (the event loop may be
    busy; the line keeps counting), erased when the block ends."""

    def __init__(self, what: str, stream: IO[str]) -> None:
        self.what = what
        self.stream = stream
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._pending: dict[int, str] = {}
        self._total = 0
        self._failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtcdiag-progress", daemon=True)

    def __enter__(self) -> StatusLine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self._write(ERASE)

    def add(self, description: str) -> int:
        with self._lock:
            self._total += 1
            self._pending[self._total] = printable(unmark(description))
            return self._total

    def done(self, task: int, ok: bool | None = True, detail: str = "") -> None:
        with self._lock:
            self._pending.pop(task, None)
            self._failed += ok is False

    def text(self) -> str:
        """The line as it is now: ``rtcdiag check: 3/7 done, 1 failed; waiting for a, b +2 (1.4 s)``."""
        with self._lock:
            total, pending, failed = self._total, list(self._pending.values()), self._failed
        elapsed = time.monotonic() - self.started
        if not total:
            return f"{self.what}: starting ({elapsed:.1f} s)"
        line = f"{self.what}: {total - len(pending)}/{total} done"
        if failed:
            line += f", {failed} failed"
        if pending:
            more = f" +{len(pending) - MAX_PENDING}" if len(pending) > MAX_PENDING else ""
            line += f"; waiting for {', '.join(pending[:MAX_PENDING])}{more}"
        return f"{line} ({elapsed:.1f} s)"

    def _run(self) -> None:
        import shutil  # (with bz2 and lzma: only on a terminal, not on the quick commands' import path)

        while not self._stop.wait(REFRESH_S):
            width = shutil.get_terminal_size((80, 24)).columns
            text = self.text()
            if len(text) >= width:
                text = text[:max(width - 2, 10)] + "…"
            self._write(ERASE + text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the run goes on without the line
            self._stop.set()


def stderr_is_terminal() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


@contextmanager
def progress(what: str = "rtcdiag", *, enabled: bool | None = None,
             stream: IO[str] | None = None) -> Iterator[ProgressView]:
    """A live status line on stderr if it is a terminal (or ``enabled=True``), else a :class:`NullProgress`.
    ``enabled=False`` (e.g. ``--json``) turns it off whatever stderr is."""
    live = stderr_is_terminal() if enabled is None else enabled
    if not live:
        yield NullProgress()
        return
    with StatusLine(what, stream or sys.stderr) as view:
        yield view

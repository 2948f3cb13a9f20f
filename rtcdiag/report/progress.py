"""Live progress for commands: a spinner per probe on stderr when stderr is a terminal, a no-op otherwise.

    with progress() as p:
        task = p.add("turn udp")
        ...
        p.done(task, ok=True)

The view is transient (it disappears when the block ends, before the report is printed) and is never shown
when stderr is redirected, so logs and CI output stay clean. rich is imported only when the view is live.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from rtcdiag.redact import unmark

if TYPE_CHECKING:
    from rich.console import Console


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


_MARK = {True: ("ok", "green"), False: ("failed", "red"), None: ("inconclusive", "yellow")}


class LiveProgress:
    """A rich progress view: a spinner and elapsed time per task, the outcome once it is done."""

    def __init__(self, console: Console) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(finished_text="*"), TextColumn("{task.description}"),
                                  TimeElapsedColumn(), console=console, transient=True)
        self._descriptions: dict[int, str] = {}

    def __enter__(self) -> LiveProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def add(self, description: str) -> int:
        from rich.markup import escape

        text = unmark(description)
        task = int(self._progress.add_task(escape(text), total=1))
        self._descriptions[task] = text
        return task

    def done(self, task: int, ok: bool | None = True, detail: str = "") -> None:
        from rich.markup import escape

        word, colour = _MARK[ok]
        suffix = f" ({unmark(detail)})" if detail else ""
        description = f"{escape(self._descriptions.get(task, ''))}: [{colour}]{word}[/]{escape(suffix)}"
        self._progress.update(task, completed=1, description=description)  # type: ignore[arg-type]


def stderr_is_terminal() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


@contextmanager
def progress(*, enabled: bool | None = None, console: Console | None = None) -> Iterator[ProgressView]:
    """A live view on stderr if it is a terminal (or ``enabled=True``), else a :class:`NullProgress`."""
    live = stderr_is_terminal() if enabled is None else enabled
    if not live:
        yield NullProgress()
        return
    if console is None:
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
    with LiveProgress(console) as view:
        yield view

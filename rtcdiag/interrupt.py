"""A run cut short by a signal (Ctrl-C, SIGTERM, SIGHUP) still reports what finished, as ``mtr`` does.

The command's signal handler (``commands.shared.running``) calls :func:`request` and cancels the main task.
Every fan-out of probes waits with :func:`finished` instead of ``asyncio.gather``: on that cancellation it
cancels what is still running (each probe's own ``finally`` releases its TURN allocations and closes its
sockets), waits for it, and returns the results that were complete. A probe cut short is never judged: the
evidence it had not finished collecting would read as a failure of the server. What did not finish is
named in the report (:func:`unfinished`).

A cancellation without a signal (a timeout, the exporter's scrape deadline) propagates unchanged: only an
interruption requested here turns into a partial result.

This is a bottom-layer module: it imports nothing from rtcdiag.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:  # asyncio is imported when first used: `rtcdiag --version` does not need it
    import asyncio

T = TypeVar("T")

__all__ = ["Interruption", "Watcher", "deadline", "finished", "note_release", "note_unfinished", "request",
           "request_deadline", "requested", "reset", "set_deadline", "swallow", "watched"]


@dataclass
class Interruption:
    """The signal that cut the run short and what had not finished by then."""

    signum: int
    name: str  # "SIGINT"
    at: float = field(default_factory=time.time)  # when the signal arrived (wall clock, as report times)
    unfinished: list[str] = field(default_factory=list)  # what was cut short, in words, first seen first
    cut_allocations: int = 0  # TURN allocations held by probes that were cut short (each released then)
    unreleased: int = 0  # of those, how many releases the server did not confirm
    reported: bool = False  # a (partial) report was printed
    # Not a signal: --deadline S ran out (``signum`` 0). The verdict is then the report's own (a failure
    # found is exit 1, else exit 3: what did not finish was not judged).
    deadline_s: float | None = None
    # A command that only reads files (analyze): it holds no allocation, and it reads its files to the end.
    files_only: bool = False

    @property
    def exit_code(self) -> int:
        return 3 if self.deadline_s is not None else 128 + self.signum

    @property
    def released(self) -> bool:
        """Every allocation of a cut probe was released (the server confirmed the Refresh LIFETIME=0)."""
        return self.unreleased == 0

    def message(self) -> str:
        """The one line on stderr: which signal, that cleanup ran, and whether a partial report was shown."""
        verb = "interrupted" if self.name == "SIGINT" else "terminated"
        if self.deadline_s is not None:
            verb = f"--deadline {self.deadline_s:g} s reached: cut short"
            return f"{verb} ({self._cleanup()}); " + \
                ("the report above shows what had finished" if self.reported else "nothing had finished")
        if self.files_only:  # (analyze: nothing to release, every file read and judged)
            return f"{verb} by {self.name} ({self._cleanup()})" + \
                ("; the report above is complete" if self.reported else "")
        return f"{verb} by {self.name} ({self._cleanup()})" + \
            ("; the report above shows what had finished" if self.reported else "")

    def _cleanup(self) -> str:
        if self.files_only:
            return "the files were read to the end"
        return "allocations released" if self.released else \
            f"{self.unreleased} of {self.cut_allocations} allocation(s) not released: the server did not " \
            "answer the release; they expire on its own timer"


_state: Interruption | None = None
MAX_NAMED = 200  # bound on the list of unfinished items kept for the report


def request(signum: int, name: str, *, files_only: bool = False) -> Interruption:
    """A signal arrived: from now on a cancellation is an interruption (the first signal counts).
    ``files_only``: the command only reads files (nothing to release)."""
    global _state
    if _state is None:
        _state = Interruption(signum, name, files_only=files_only)
    return _state


def request_deadline(seconds: float) -> Interruption:
    """``--deadline`` ran out: from now on a cancellation is an interruption, as for a signal."""
    global _state
    if _state is None:
        _state = Interruption(0, "deadline", deadline_s=seconds)
    return _state


def requested() -> Interruption | None:
    """The interruption of this run, or None."""
    return _state


def reset() -> None:
    """Forget an interruption and the deadline (a new run in the same process, e.g. a test)."""
    global _state, _deadline_s
    _state = None
    _deadline_s = None


_deadline_s: float | None = None  # --deadline of this command (None: none)


def set_deadline(seconds: float | None) -> None:
    """The whole run may take ``seconds`` (``--deadline``); the runner then cuts it short
    (:func:`request_deadline`)."""
    global _deadline_s
    _deadline_s = seconds


def deadline() -> float | None:
    return _deadline_s


def note_unfinished(what: str) -> None:
    """Name something the signal cut short. A whole whose parts are already named (``turn:h:3478`` after
    ``turn:h:3478?transport=udp``) is not named again."""
    if _state is None or not what or len(_state.unfinished) >= MAX_NAMED:
        return
    if any(seen.startswith(what) and seen[len(what):len(what) + 1] in ("", " ", "?")
           for seen in _state.unfinished):
        return
    _state.unfinished.append(what)


def note_release(released: bool | None) -> None:
    """A probe cut short held a TURN allocation; ``released``: the server confirmed its release."""
    if _state is not None:
        _state.cut_allocations += 1
        _state.unreleased += 0 if released else 1


def swallow() -> bool:
    """In an ``except asyncio.CancelledError`` block: True when the cancellation is an interruption, which
    the caller then turns into a partial result (the task's cancel request is withdrawn, so that later
    awaits in it run normally); False when it must propagate."""
    import asyncio

    if _state is None:
        return False
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        task.uncancel()
    return True


class Watcher(Protocol):
    """A live progress view (rtcdiag.report.progress): told when each probe of a fan-out starts and ends."""

    def add(self, description: str) -> int: ...

    def done(self, task: int, ok: bool | None = True, detail: str = "") -> None: ...


# The view that follows the fan-outs of one nesting level (0: the outermost :func:`finished` of the run), and
# the level the current task runs at (each :func:`finished` runs its probes one level deeper).
_watcher: ContextVar[tuple[Watcher, int] | None] = ContextVar("rtcdiag_watcher", default=None)
_level: ContextVar[int] = ContextVar("rtcdiag_level", default=0)


@contextmanager
def watched(view: Watcher, level: int = 0) -> Iterator[None]:
    """Within the block, every probe started by a :func:`finished` at ``level`` is shown on ``view`` (n of N
    done, what is still pending): level 0 is a command's probes (Bindings, ports, ICE URLs), level 2
    turn-check's transports (jobs, then targets, then transports)."""
    token = _watcher.set((view, level))
    try:
        yield
    finally:
        _watcher.reset(token)


def _reporter(view: Watcher, handle: int) -> Callable[[asyncio.Future[T]], None]:
    """The done callback that tells ``view`` one probe ended (None: it was cut short)."""
    def report(task: asyncio.Future[T]) -> None:
        view.done(handle, None if task.cancelled() else True)

    return report


def _label(labels: Sequence[str] | Callable[[int], str], index: int) -> str:
    return labels(index) if callable(labels) else labels[index] if index < len(labels) else f"#{index + 1}"


async def finished(awaitables: Iterable[Awaitable[T]], labels: Sequence[str] | Callable[[int], str] = (),
                   ) -> list[T]:
    """``asyncio.gather`` for probes: every result, in order — or, when the run is interrupted, the results
    that were complete (the others cancelled, waited for, and named with ``labels``).

    Unlike ``gather``, an exception of one does not leave the others running: all end first, then the first
    exception (in order) is raised. Nothing is left with an exception nobody retrieved.
    """
    import asyncio

    level = _level.get()
    deeper = _level.set(level + 1)  # the tasks made here copy the context: they run one level deeper
    try:
        tasks = [asyncio.ensure_future(each) for each in awaitables]
    finally:
        _level.reset(deeper)
    if not tasks:
        return []
    watch = _watcher.get()
    if watch is not None and watch[1] == level:
        for index, task in enumerate(tasks):
            task.add_done_callback(_reporter(watch[0], watch[0].add(_label(labels, index))))
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await _settle(tasks)
        if not swallow():
            raise
    results: list[T] = []
    failure: BaseException | None = None
    cancelled = False
    for index, task in enumerate(tasks):
        if task.cancelled():
            cancelled = True
            note_unfinished(_label(labels, index))
            continue
        exc = task.exception()  # retrieved, each one
        if exc is not None:
            failure = failure or exc
            continue
        results.append(task.result())
    if failure is not None:
        raise failure
    if cancelled and _state is None:
        raise asyncio.CancelledError  # a child cancelled by someone else: as gather does
    return results


async def _settle(tasks: Sequence[asyncio.Future[T]]) -> None:
    """Wait until every task has ended (its cleanup done), even if this task is cancelled again meanwhile:
    a second cancellation only stops the waiting once everything has ended."""
    import asyncio

    pending = [t for t in tasks if not t.done()]
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:
            if _state is None:
                raise
        pending = [t for t in pending if not t.done()]

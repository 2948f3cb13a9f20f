"""Running a subcommand's probes: the event loop, signal handling (rtcdiag.interrupt) and the live
progress view."""

from __future__ import annotations

import contextlib
import gc
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from rtcdiag.errors import Interrupted

if TYPE_CHECKING:

    from rtcdiag.report.progress import ProgressView

from rtcdiag.commands.shared.options import OutputOptions

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def watching(command: str, output: OutputOptions, *, level: int = 0) -> Iterator[ProgressView]:
    """The live status line of ``rtcdiag COMMAND`` on a terminal's stderr (never with --json), following the
    probes of every fan-out at ``level`` (:func:`rtcdiag.interrupt.watched`); the command may add its own."""
    from rtcdiag import interrupt
    from rtcdiag.report.progress import progress

    with progress(f"rtcdiag {command}", enabled=False if output.json else None) as view, \
            interrupt.watched(view, level):
        yield view


def run_async(coro: Coroutine[Any, Any, T], *, network: bool = True) -> T:
    """Run the probes' coroutine; Ctrl-C, SIGTERM and SIGHUP cut it short after cleanup ran (see
    :func:`_run`): the command still reports what finished, and exits with 128 + the signal.

    A command is a short process that makes many small objects (probe results, report, renderables):
    the cyclic garbage collector runs every 20,000 allocations instead of 700 (about 200 collections and
    ~0.1 s of a 60-URL ``check``, ~5 with this) and never walks what was loaded before the run
    (``gc.freeze``), and TLS connections get a small read buffer.
    """
    if network:  # (``network=False``: a command that only reads files, e.g. analyze, needs none of it)
        from rtcdiag.net import keep_kernel_timestamps_on
        from rtcdiag.tls import limit_tls_read_buffer

        limit_tls_read_buffer()
        with contextlib.suppress(OSError):  # kernel receive timestamps on before the first probe (RTTs)
            keep_kernel_timestamps_on()
    if gc.get_threshold()[0] < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, 10, 10)
    gc.freeze()  # what is loaded now (modules, classes) lives as long as the process: never walked
    return _run(coro)


def run_local(coro: Coroutine[Any, Any, T]) -> T:
    """:func:`run_async` for a command that only reads files (analyze): its coroutine never waits on
    anything, so it runs to its end in one step, without an event loop (nor asyncio's import, ~40 ms of a
    100 MB dump's analysis, issue 19). Ctrl-C, SIGTERM and SIGHUP are recorded (:mod:`rtcdiag.interrupt`):
    the files (bounded reads) are read and judged to the end, the report is printed, and the command ends
    with 128 + the signal. (Under the event loop, whose handlers could not run before the reading's one
    step was over, such a signal was lost.) The handlers are removed on the first signal: a second one gets
    the default action (Ctrl-C: "interrupted again", exit 130, at once)."""
    from rtcdiag import interrupt

    if gc.get_threshold()[0] < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, 10, 10)
    gc.freeze()

    def on_signal(signum: int, _frame: object) -> None:
        interrupt.request(signum, signal.Signals(signum).name, files_only=True)
        for stop, handler in previous.items():
            if handler is not None:  # (None: a handler not set from Python, which cannot be put back)
                signal.signal(stop, handler)

    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in STOP_SIGNALS:
            try:
                previous[signum] = signal.signal(signum, on_signal)
            except (ValueError, OSError):  # not the main thread
                break
        try:
            coro.send(None)
        except StopIteration as done:
            return cast(T, done.value)
        coro.close()
        raise RuntimeError("run_local: the command's coroutine waited on I/O (use run_async)")
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)


GC_THRESHOLD = 20_000
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` where Ctrl-C (SIGINT), SIGTERM and SIGHUP interrupt the run (:mod:`rtcdiag.interrupt`):
    the main task is cancelled, so every ``finally`` runs (TURN allocations are released with Refresh
    LIFETIME=0, bounded by the probe's release timeout, sockets and peers closed); what had finished is
    returned and reported (the command then ends with 128 + the signal, see ``rtcdiag.cli.main``). When
    nothing could be returned, :class:`Interrupted` ends the command. A second signal during the cleanup
    gets the default action (the handlers are removed on the first)."""
    import asyncio

    from rtcdiag import interrupt  # its state is reset once per command, by rtcdiag.cli.main
    # The result is handed over here, not as the main task's result: asyncio.run's SIGINT handler holds the
    # task, and looking the handler up when the run ends (signal.getsignal) formats its repr, results and
    # all (a 60-URL check spent a tenth of its time there).
    result: list[T] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        installed: list[signal.Signals] = []

        def on_signal(signum: signal.Signals) -> None:
            interrupt.request(int(signum), signum.name)
            for sig in installed:
                loop.remove_signal_handler(sig)
            installed.clear()
            if task is not None:
                task.cancel()

        for signum in STOP_SIGNALS:
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no such signal
                continue
            installed.append(signum)

        def on_deadline(seconds: float) -> None:
            interrupt.request_deadline(seconds)
            if task is not None:
                task.cancel()

        seconds = interrupt.deadline()
        timer = loop.call_later(seconds, on_deadline, seconds) if seconds is not None else None
        try:
            result.append(await coro)
        finally:
            if timer is not None:
                timer.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        stopped = interrupt.requested()
        if stopped is not None:
            cut = Interrupted(stopped.signum, stopped.name, message=stopped.message())
            cut.exit_code = stopped.exit_code  # 128 + the signal, or 3 for --deadline
            raise cut from None
        raise
    return result[0]

"""Run checks concurrently, each guarded, and collect their judgements."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from rtcdiag import interrupt
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Check(Generic[P, R]):
    """One check: ``run`` does the I/O for a plan and returns a typed result; ``judge`` is pure."""

    name: str
    run: Callable[[P], Awaitable[R]]
    judge: Callable[[R], Judgement]


@dataclass
class Job(Generic[P, R]):
    check: Check[P, R]
    plan: P
    subject: Subject  # what the check is about, for the report if it fails inside
    label: str = ""  # for the live progress view


@dataclass
class Ran(Generic[R]):
    """What one job gave: its raw result (None if it crashed) and its judgement."""

    check: str
    subject: Subject
    result: R | None
    judgement: Judgement = field(default_factory=Judgement)
    duration_s: float = 0.0


def show_traceback(exc: BaseException) -> None:
    """``RTCDIAG_DEBUG=1``: the traceback of a check's crash on stderr. It only adds the traceback: the
    crash is still an INTERNAL-ERROR finding, the report is still printed and the exit code stays 4."""
    if os.environ.get("RTCDIAG_DEBUG"):
        traceback.print_exception(exc, file=sys.stderr)


def internal_error(check: str, subject: Subject, exc: BaseException) -> Judgement:
    """The judgement of a check that crashed: one INTERNAL-ERROR finding and an undecided step."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno}" if frame else ""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    finding = make_finding(ids.INTERNAL_ERROR, subject, check=check, step="run", check_name=check,
                           about=subject.server, detail=detail,
                           evidence=[f"{type(exc).__name__}{where}: {exc}"[:500]])
    step = StepOutcome(subject=subject, check=check, step="run", state=StepState.UNDECIDED,
                       detail=f"internal error: {detail}")
    return Judgement(findings=[finding], steps=[step])


def interrupted(check: str, subject: Subject, signal: str) -> Judgement:
    """The judgement of a check a signal cut short before it returned anything: a skipped step (nothing it
    had started is judged: half-collected evidence would read as a failure of the server)."""
    step = StepOutcome(subject=subject, check=check, step="run", state=StepState.SKIPPED,
                       detail=f"interrupted by {signal} before it finished")
    return Judgement(steps=[step])


LOCAL_RESOURCES = ids.LOCAL_RESOURCES


def _out_of_resources(exc: BaseException) -> bool:
    from rtcdiag.net import LOCAL_RESOURCE_ERRNOS, LocalResourceError

    return isinstance(exc, LocalResourceError) or (isinstance(exc, OSError)
                                                   and exc.errno in LOCAL_RESOURCE_ERRNOS)


def local_resources(check: str, subject: Subject, exc: BaseException) -> Judgement:
    """The judgement of a check that stopped because this machine ran out of descriptors or socket memory:
    inconclusive (nothing was learnt about the server), never an internal error."""
    detail = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))[:300]
    finding = make_finding(LOCAL_RESOURCES, subject, check=check, step="run", detail=detail,
                           evidence=[f"{type(exc).__name__}: {exc}"[:500]])
    step = StepOutcome(subject=subject, check=check, step="run", state=StepState.UNDECIDED,
                       detail=f"not checked: {detail}")
    judgement = Judgement(findings=[finding], steps=[step])
    judgement.facts.inconclusive = True
    return judgement


def _cancelled(exc: BaseException) -> bool:
    """Is ``exc`` asyncio's cancellation? (asyncio is not imported by a run without an event loop, e.g.
    analyze's, and then nothing can be cancelled.)"""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


async def execute(job: Job[Any, Any], on_done: Callable[[Job[Any, Any], Ran[Any]], None] | None = None,
                  ) -> Ran[Any]:
    """Run and judge one job; any exception but cancellation becomes an INTERNAL-ERROR judgement. A run
    interrupted by a signal (:mod:`rtcdiag.interrupt`) is judged on what it returned, or is one skipped step
    when it returned nothing."""
    started = time.perf_counter()
    ran: Ran[Any]
    try:
        result = await job.check.run(job.plan)
        try:
            ran = Ran(job.check.name, job.subject, result, job.check.judge(result))
        except Exception as exc:
            show_traceback(exc)
            ran = Ran(job.check.name, job.subject, result, internal_error(job.check.name, job.subject, exc))
    except Exception as exc:
        if _out_of_resources(exc):
            ran = Ran(job.check.name, job.subject, None, local_resources(job.check.name, job.subject, exc))
        else:
            show_traceback(exc)
            ran = Ran(job.check.name, job.subject, None, internal_error(job.check.name, job.subject, exc))
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: up; a cancellation: see interrupt.swallow
        if not _cancelled(exc) or not interrupt.swallow():
            raise
        stopped = interrupt.requested()
        interrupt.note_unfinished(job.label or f"{job.check.name} {job.subject.server}")
        ran = Ran(job.check.name, job.subject, None,
                  interrupted(job.check.name, job.subject, stopped.name if stopped else "a signal"))
    if any(f.id == LOCAL_RESOURCES for f in ran.judgement.findings):
        ran.judgement.facts.inconclusive = True  # a step this machine could not run decides nothing
    ran.duration_s = time.perf_counter() - started
    if on_done is not None:
        on_done(job, ran)
    return ran


def set_concurrency(limit: int | None) -> None:
    """How many probes of this run may be in flight at once (None: the default); read when the event loop's
    first probe takes a slot (``rtcdiag.probes.slots``)."""
    from rtcdiag.probes import slots

    slots.set_concurrency(limit or slots.DEFAULT_CONCURRENCY)


async def execute_all(jobs: Sequence[Job[Any, Any]],
                      on_done: Callable[[Job[Any, Any], Ran[Any]], None] | None = None) -> list[Ran[Any]]:
    """Every job concurrently; results keep the order of ``jobs`` (an interrupted job gives a Ran too)."""
    return await interrupt.finished([execute(job, on_done) for job in jobs],
                                    [job.label or f"{job.check.name} {job.subject.server}" for job in jobs])


def judge_guarded(check: str, subject: Subject, judge: Callable[[], Judgement]) -> Judgement:
    """A judge-only step (e.g. expectations over facts), guarded like :func:`execute`."""
    try:
        return judge()
    except Exception as exc:
        show_traceback(exc)
        return internal_error(check, subject, exc)

"""The probe limiter: a cap on probes in flight and on the descriptors they hold (no timing asserted)."""

from __future__ import annotations

import asyncio
import errno

import pytest

from rtcdiag.checks.engine import Check, Job, execute
from rtcdiag.probes import slots
from rtcdiag.report.build import build_report
from rtcdiag.triage.finding import Subject
from rtcdiag.triage.judgement import Judgement, StepState


def _run_many(limiter: slots.Limiter, costs: list[int]) -> tuple[int, int]:
    """Run one probe per cost through ``limiter``; return the most probes and descriptors held at once."""
    most = [0, 0]

    async def probe(cost: int) -> None:
        await limiter.acquire(cost)
        try:
            most[0] = max(most[0], limiter.busy)
            most[1] = max(most[1], limiter.used)
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            limiter.release(cost)

    async def go() -> None:
        await asyncio.gather(*(probe(c) for c in costs))

    asyncio.run(go())
    assert limiter.busy == 0 and limiter.used == 0
    return most[0], most[1]


def test_no_more_probes_in_flight_than_the_cap() -> None:
    assert _run_many(slots.Limiter(5, 1000), [1] * 200) == (5, 5)


def test_descriptors_held_stay_within_the_budget() -> None:
    busy, used = _run_many(slots.Limiter(32, 10), [4] * 50)
    assert busy == 2 and used == 8  # 32 would be allowed, but only two fit in 10 descriptors


def test_a_probe_costlier_than_the_budget_still_runs_alone() -> None:
    assert _run_many(slots.Limiter(4, 3), [5, 5, 1]) == (1, 5)


def test_cancelled_waiters_give_back_nothing_they_did_not_get() -> None:
    async def go() -> tuple[slots.Limiter, list[bool]]:
        limiter = slots.Limiter(1, 100)
        await limiter.acquire(1)
        waiters = [asyncio.create_task(limiter.acquire(1)) for _ in range(3)]
        await asyncio.sleep(0)
        waiters[0].cancel()
        limiter.release(1)  # grants the slot to waiter 0, which is being cancelled: it must hand it on
        for _ in range(5):
            await asyncio.sleep(0)
        done = [w.done() and not w.cancelled() for w in waiters]
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        return limiter, done

    limiter, done = asyncio.run(go())
    assert done == [False, True, False]  # the next waiter in line got the slot waiter 0 gave back
    assert limiter.busy == 1 and limiter.used == 1  # and holds it; the last one never got one


def test_the_budget_comes_from_the_open_files_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 4096))
    budget = slots.descriptor_budget(reserve=32)
    assert 0 < budget < 256 - 32


def test_set_concurrency_is_clamped() -> None:
    try:
        slots.set_concurrency(0)
        assert slots.get_concurrency() == 1
        slots.set_concurrency(10**9)
        assert slots.get_concurrency() == slots.MAX_CONCURRENCY
    finally:
        slots.set_concurrency(slots.DEFAULT_CONCURRENCY)


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE])
def test_out_of_descriptors_is_inconclusive_not_an_internal_error(code: int) -> None:
    async def run(_: None) -> None:
        raise OSError(code, "Too many open files")

    check: Check[None, None] = Check("stun", run, lambda _: Judgement())
    ran = asyncio.run(execute(Job(check, None, Subject("stun:127.0.0.1:3478", "127.0.0.1"))))
    assert [f.id for f in ran.judgement.findings] == ["LOCAL-RESOURCES"]
    assert "Too many open files" in ran.judgement.findings[0].symptom
    assert [s.state for s in ran.judgement.steps] == [StepState.UNDECIDED]
    report = build_report("stun", ran.judgement)
    assert report.exit_code == 3

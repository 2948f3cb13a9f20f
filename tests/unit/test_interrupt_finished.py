"""rtcdiag.interrupt: a signal turns a cancellation into the results that had finished; any other
cancellation (a timeout, the exporter's scrape deadline) propagates as with asyncio.gather. What a real
process does on Ctrl-C: tests/integration/test_interrupt.py and test_signals.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from rtcdiag import interrupt
from rtcdiag.report.model import Report


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


async def _quick(value: int) -> int:
    await asyncio.sleep(0)
    return value


async def _slow(value: int, cleaned: list[int]) -> int:
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(0.01)  # cleanup that awaits (a TURN release) still runs
        cleaned.append(value)
    return value


def test_without_a_signal_it_is_gather_in_order() -> None:
    async def main() -> list[int]:
        return await interrupt.finished([_quick(1), _quick(2), _quick(3)], ["a", "b", "c"])

    assert asyncio.run(main()) == [1, 2, 3]


def test_an_exception_is_raised_after_every_other_one_ended() -> None:
    ended: list[int] = []

    async def boom() -> int:
        raise ValueError("boom")

    async def later() -> int:
        await asyncio.sleep(0.05)
        ended.append(1)
        return 1

    async def main() -> list[int]:
        return await interrupt.finished([boom(), later()])

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(main())
    assert ended == [1]  # not left running, as gather would


def test_a_cancellation_without_a_signal_propagates_and_cleanup_runs() -> None:
    cleaned: list[int] = []

    async def main() -> None:
        await asyncio.wait_for(interrupt.finished([_quick(1), _slow(2, cleaned)]), timeout=0.1)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert cleaned == [2]
    assert interrupt.requested() is None


def test_an_interruption_returns_what_finished_and_names_the_rest() -> None:
    cleaned: list[int] = []

    async def main() -> list[int]:
        task = asyncio.current_task()
        assert task is not None

        def signal() -> None:
            interrupt.request(2, "SIGINT")
            task.cancel()

        asyncio.get_running_loop().call_later(0.05, signal)
        got = await interrupt.finished([_quick(1), _slow(2, cleaned), _quick(3)], ["one", "two", "three"])
        await asyncio.sleep(0)  # the task is not cancelled again: it goes on to report
        return got

    assert asyncio.run(main()) == [1, 3]
    assert cleaned == [2]
    stopped = interrupt.requested()
    assert stopped is not None and stopped.unfinished == ["two"] and stopped.exit_code == 130


def test_a_whole_whose_parts_are_named_is_not_named_again() -> None:
    interrupt.request(15, "SIGTERM")
    interrupt.note_unfinished("turn:h:3478?transport=udp")
    interrupt.note_unfinished("turn:h:3478")
    interrupt.note_unfinished("turn:h:34780")
    stopped = interrupt.requested()
    assert stopped is not None
    assert stopped.unfinished == ["turn:h:3478?transport=udp", "turn:h:34780"]


def test_the_message_says_whether_allocations_were_released() -> None:
    stopped = interrupt.request(2, "SIGINT")
    interrupt.note_release(True)
    assert stopped.message() == "interrupted by SIGINT (allocations released)"
    interrupt.note_release(False)
    stopped.reported = True
    assert stopped.message() == (
        "interrupted by SIGINT (1 of 2 allocation(s) not released: the server did not answer the release; "
        "they expire on its own timer); the report above shows what had finished")
    assert interrupt.Interruption(15, "SIGTERM").message() == "terminated by SIGTERM (allocations released)"


def test_an_interrupted_report_says_so_in_its_verdict_and_exit_code() -> None:
    report = Report(command="stun", interrupted=interrupt.Interruption(1, "SIGHUP"))
    assert report.exit_code == 129 and report.status == "interrupted"
    assert report.verdict.startswith("INTERRUPTED by SIGHUP: partial report")

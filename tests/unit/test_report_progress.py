"""Progress view: one status line on a terminal's stderr, a no-op otherwise (the pty test through the real
entry point is tests/integration/test_progress_deadline.py)."""

from __future__ import annotations

import asyncio
import io
import sys
import time

import pytest

from rtcdiag import interrupt
from rtcdiag.redact import clear_secrets, echo, register_secret
from rtcdiag.report.progress import ERASE, NullProgress, StatusLine, progress


def test_noop_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert not sys.stderr.isatty()  # pytest captures it
    with progress("rtcdiag stun") as view:
        assert isinstance(view, NullProgress)
        first, second = view.add("stun udp"), view.add("stun tcp")
        view.done(first, ok=True)
        view.done(second, ok=False, detail="timeout")
    assert first != second
    assert capsys.readouterr() == ("", "")


def test_status_line_counts_names_the_pending_and_is_erased() -> None:
    stream = io.StringIO()
    with progress("rtcdiag stun", enabled=True, stream=stream) as view:
        assert isinstance(view, StatusLine)
        udp = view.add("stun udp [::1]:3478")
        view.add("stun tcp [::1]:3478")
        view.done(udp, ok=False)
        assert view.text().startswith("rtcdiag stun: 1/2 done, 1 failed; waiting for stun tcp [::1]:3478 (")
        time.sleep(0.25)  # at least one redraw
    output = stream.getvalue()
    assert ERASE + "rtcdiag stun: 1/2 done" in output
    assert output.endswith(ERASE)


def test_many_pending_are_counted_not_listed() -> None:
    view = StatusLine("rtcdiag check", io.StringIO())
    for n in range(10):
        view.add(f"turn h{n}")
    assert "; waiting for turn h0, turn h1, turn h2 +7 (" in view.text()


def test_status_line_masks_secrets() -> None:
    clear_secrets()
    register_secret("pw-in-a-label")
    view = StatusLine("rtcdiag turn-check", io.StringIO())
    view.add(f"turn turn:h:3478 {echo('alice:pw-in-a-label')}")
    clear_secrets()
    assert "pw-in-a-label" not in view.text() and "alice:***" in view.text()


def test_fan_outs_of_the_watched_level_report_their_probes() -> None:
    """interrupt.finished tells the view of the level it watches: level 0 the outer fan-out, level 1 the
    probes each of those starts (turn-check's transports are level 2)."""
    seen: dict[int, list[str]] = {0: [], 1: []}

    class Recorder:
        def __init__(self, level: int) -> None:
            self.level = level
            self.done_count = 0

        def add(self, description: str) -> int:
            seen[self.level].append(description)
            return len(seen[self.level])

        def done(self, task: int, ok: bool | None = True, detail: str = "") -> None:
            self.done_count += 1

    async def inner(name: str) -> list[str]:
        async def leaf(n: int) -> str:
            await asyncio.sleep(0)
            return f"{name}.{n}"
        return await interrupt.finished([leaf(n) for n in range(2)], [f"{name} leaf {n}" for n in range(2)])

    for level in (0, 1):
        recorder = Recorder(level)

        async def run(view: Recorder = recorder, at: int = level) -> list[list[str]]:
            with interrupt.watched(view, at):
                return await interrupt.finished([inner("a"), inner("b")], ["a", "b"])

        assert asyncio.run(run()) == [["a.0", "a.1"], ["b.0", "b.1"]]
        assert recorder.done_count == len(seen[level])
    assert seen[0] == ["a", "b"]
    assert sorted(seen[1]) == ["a leaf 0", "a leaf 1", "b leaf 0", "b leaf 1"]

"""Progress view: live on a terminal's stderr, a no-op otherwise."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from rtcdiag.redact import clear_secrets, echo, register_secret
from rtcdiag.report.progress import LiveProgress, NullProgress, progress


def test_noop_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert not sys.stderr.isatty()  # pytest captures it
    with progress() as view:
        assert isinstance(view, NullProgress)
        first, second = view.add("stun udp"), view.add("stun tcp")
        view.done(first, ok=True)
        view.done(second, ok=False, detail="timeout")
    assert first != second
    assert capsys.readouterr() == ("", "")


def test_live_view_shows_each_task_and_its_outcome() -> None:
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=80, color_system=None)
    with progress(enabled=True, console=terminal) as view:
        assert isinstance(view, LiveProgress)
        udp = view.add("stun udp [::1]:3478")
        tcp = view.add("stun tcp [::1]:3478")
        view.done(udp, ok=False, detail="timeout")
        view.done(tcp, ok=True)
        nat = view.add("nat-type")
        view.done(nat, ok=None)
    output = buffer.getvalue()
    assert "stun udp [::1]:3478: failed (timeout)" in output  # brackets are not taken as markup
    assert "stun tcp [::1]:3478: ok" in output
    assert "nat-type: inconclusive" in output


def test_live_view_redacts() -> None:
    clear_secrets()
    register_secret("pw-in-a-label")
    register_secret("turn")  # a password that is one of rtcdiag's own words: never masked in them
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=80, color_system=None)
    with progress(enabled=True, console=terminal) as view:
        view.done(view.add(f"turn turn:h:3478 {echo('alice:pw-in-a-label')}"), ok=True,
                  detail=echo("pw-in-a-label"))
    clear_secrets()
    assert "pw-in-a-label" not in buffer.getvalue()
    assert "turn turn:h:3478 alice:***: ok" in buffer.getvalue()

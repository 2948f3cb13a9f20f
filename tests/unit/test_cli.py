"""The CLI skeleton as a user meets it: --version, --help with exit codes, unknown command -> exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rtcdiag import __version__, exitcodes
from rtcdiag.cli import SUBCOMMANDS


def _rtcdiag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "100", **(env or {})}, check=False)


def test_version() -> None:
    result = _rtcdiag("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"rtcdiag, version {__version__}\n", "")


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = _rtcdiag("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for name in SUBCOMMANDS:
        assert f" {name} " in text
    assert " ".join(exitcodes.EPILOG.split()) in text
    for code in ("0 all checks pass", "1 a finding at error severity", "2 usage or configuration error",
                 "3 inconclusive", "4 internal error", "130 interrupted"):
        assert code in text


def test_short_help_flag() -> None:
    assert _rtcdiag("-h").stdout == _rtcdiag("--help").stdout


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    result = _rtcdiag("frobnicate")
    assert result.returncode == exitcodes.USAGE
    assert result.stdout == ""
    assert "No such command 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_is_a_usage_error() -> None:
    result = _rtcdiag("--frobnicate")
    assert result.returncode == exitcodes.USAGE
    assert "No such option" in result.stderr and "--frobnicate" in result.stderr


def test_explain_unknown_id_through_the_real_entry_point() -> None:
    result = _rtcdiag("explain", "UDP-BLOCKD")
    assert result.returncode == exitcodes.USAGE
    assert result.stderr.startswith(
        "rtcdiag: error: no finding id or word matches 'UDP-BLOCKD'; did you mean UDP-BLOCKED")
    assert result.stderr.count("\n") == 1


def test_explain_output_respects_no_color_and_pipes() -> None:
    result = _rtcdiag("explain", "udp-blocked", env={"NO_COLOR": "1"})
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout
    assert result.stdout.startswith("UDP-BLOCKED error (general)\n")


def test_debug_adds_the_traceback_and_keeps_exit_4(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A bug outside any check (here a command that raises): exit 4 with and without RTCDIAG_DEBUG (it was 1
    with it); the variable only adds the traceback."""
    import click

    from rtcdiag import cli

    @click.command()
    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli.LazyGroup, "get_command", lambda self, ctx, name: broken)
    for debug in ("", "1"):
        if debug:
            monkeypatch.setenv("RTCDIAG_DEBUG", debug)
        else:
            monkeypatch.delenv("RTCDIAG_DEBUG", raising=False)
        with pytest.raises(SystemExit) as info:
            cli.main(["stun"])
        assert info.value.code == exitcodes.INTERNAL
        err = capsys.readouterr().err
        assert err.splitlines()[-1].startswith("rtcdiag: error: internal error: RuntimeError: a bug")
        assert ("Traceback (most recent call last)" in err) == bool(debug)

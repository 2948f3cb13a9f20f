"""Errors that end a command with one clear line and a documented exit code; one-line warnings."""

import stat
import sys
from pathlib import Path

from rtcdiag import exitcodes


def warn(message: str) -> None:
    """One line on stderr that does not change the verdict (e.g. a password given on the command line)."""
    sys.stderr.write(f"rtcdiag: warning: {message}\n")


def warn_if_readable(path: Path, what: str) -> None:
    """Warn when a file holding a secret can be read by its group or everyone (ssh refuses such keys)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        who = "everyone" if mode & stat.S_IROTH else "its group"
        warn(f"{what} {path} is readable by {who} (mode {stat.S_IMODE(mode):04o}): chmod 600 {path}")


class RtcdiagError(Exception):
    """An expected failure: the CLI prints ``rtcdiag: error: <message>`` and exits with ``exit_code``."""

    exit_code: int = exitcodes.USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(RtcdiagError):
    """Bad arguments, config or input file (exit 2)."""

    exit_code = exitcodes.USAGE


class OutputError(RtcdiagError):
    """A report file (or stdout) that could not be written at the end of a run (full disk, EIO): one line;
    the exit code is the verdict's, or 2 when the verdict passed (a requested output is missing)."""


class Interrupted(RtcdiagError):
    """Ctrl-C, SIGTERM or SIGHUP arrived and nothing could be reported; cleanup (TURN allocations released)
    has run. Exit 128 + signal number. (A run that reports what finished ends the same way, from
    ``rtcdiag.interrupt.Interruption.message``.)"""

    def __init__(self, signum: int, name: str, *, message: str | None = None) -> None:
        verb = "interrupted" if name == "SIGINT" else "terminated"
        super().__init__(message or f"{verb} by {name} (allocations released)", 128 + signum)
        self.signum = signum


class ProbeError(Exception):
    """A probe cannot run at all (e.g. raw sockets without root); commands turn it into a usage error that
    names the option."""

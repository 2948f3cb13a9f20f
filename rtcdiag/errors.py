"""Errors that end a command with one clear line and a documented exit code."""

from rtcdiag import exitcodes


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


class Interrupted(RtcdiagError):
    """SIGTERM or SIGHUP arrived; cleanup (TURN allocations released) has run. Exit 128 + signal number."""

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(f"terminated by {name} (allocations released)", 128 + signum)
        self.signum = signum


class InconclusiveError(RtcdiagError):
    """Nothing could be decided (exit 3)."""

    exit_code = exitcodes.INCONCLUSIVE


class ProbeError(Exception):
    """A probe cannot run at all (e.g. raw sockets without root); commands turn it into a usage error that
    names the option."""

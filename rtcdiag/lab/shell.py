"""Run ``ip``, ``nft``, ``tc`` and ``sysctl`` for the lab: one clear error line when one fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from rtcdiag import exitcodes
from rtcdiag.errors import RtcdiagError

COMMAND_TIMEOUT_S = 20.0
REQUIRED_TOOLS = ("ip", "nft")


class LabError(RtcdiagError):
    """The lab could not be set up or torn down (exit 2: an environment problem, not a NAT verdict)."""

    exit_code = exitcodes.USAGE


def check_prerequisites() -> None:
    """Root and the ``ip`` and ``nft`` tools, or one line saying what is missing and how to get it."""
    if os.geteuid() != 0:
        raise LabError("the NAT lab needs root (network namespaces and nftables): run it with sudo")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(f"the NAT lab needs {' and '.join(missing)}: run `apt-get install iproute2 nftables`")


def run(argv: Sequence[str], *, stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one command; on failure raise LabError with the command and the last line of its stderr."""
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False,
                              timeout=COMMAND_TIMEOUT_S)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(argv)}` did not finish within {COMMAND_TIMEOUT_S:.0f} s") from None
    if check and done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"`{' '.join(argv)}` failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done


def in_ns(ns: str, argv: Sequence[str], *, stdin: str | None = None,
          check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", "netns", "exec", ns, *argv], stdin=stdin, check=check)


def ip_ns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", "-n", ns, *args], check=check)


def list_namespaces() -> list[str]:
    done = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]

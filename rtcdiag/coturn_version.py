"""coturn version numbers: parsing them and asking the installed ``turnserver`` for its own.

One reader for the two places that need it: rtcdiag.coturn (the config it writes for its test servers follows
the version) and rtcdiag.lint (the rules follow the version). Versions are tuples of ints, padded to at
least three parts so that ``4.7`` compares equal to ``4.7.0`` (4.5.1.3 < 4.5.2 < 4.6.1 < 4.10.0).
"""

from __future__ import annotations

import re
import subprocess

Version = tuple[int, ...]

_BANNER = re.compile(r"Coturn-(\d+(?:\.\d+){1,3})")  # start banner: "Coturn Version Coturn-4.6.1 'Gorst'"
_BARE = re.compile(r"v?(\d+(?:\.\d+){1,3})\S*")  # `turnserver --version` prints "4.6.1"
_MAX_OUTPUT = 4000  # characters of the binary's output that are read


def parse_version(text: str) -> Version | None:
    """``4.6.1``, ``4.5.1.3``, ``v4.7.0``, ``4.17`` or a start banner ``Coturn-4.6.1 'Gorst'``; else None."""
    found = _BANNER.search(text)
    if found is None:
        found = next((m for line in text.splitlines() if (m := _BARE.fullmatch(line.strip()))), None)
    if found is None:
        return None
    parts = tuple(int(part) for part in found.group(1).split("."))
    return parts + (0,) * (3 - len(parts))


def show(version: Version) -> str:
    return ".".join(str(part) for part in version)


def ask_turnserver(binary: str) -> tuple[Version | None, str]:
    """The version ``binary`` reports: ``--version`` (coturn >= 4.6.0), else the banner of ``-h``; with why
    not when there is none."""
    why = f"{binary} printed no version"
    for flag in ("--version", "-h"):
        try:
            done = subprocess.run([binary, flag], capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"{binary} {flag} failed: {exc}"
            continue
        version = parse_version((done.stdout or "")[:_MAX_OUTPUT] + "\n" + (done.stderr or "")[:_MAX_OUTPUT])
        if version is not None:
            return version, binary
    return None, why

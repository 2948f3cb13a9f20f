"""The quick questions a person types, each side by side with its C peer in the same run:
``rtcdiag stun`` with one target against ``turnutils_stunclient``, and ``rtcdiag nat-type`` against
``turnutils_natdiscovery -m -f``, both on one loopback coturn (127.0.0.1 and 127.0.0.2: RFC 5780, no NAT in
between, so every test is answered as behind a full-cone NAT); ``python -c pass`` for scale.

The coturn is started here and stopped by PID. Each round runs every command once, in turn, so that load from
other processes hits all of them alike; the table shows the median and the minimum wall time over RUNS
rounds, and the median CPU time (user + system, from ``wait4``: on a shared machine the least disturbed
figure). stdout is a pipe, read and discarded. Compiled bytecode is cached as for an installed package
(``PYTHONDONTWRITEBYTECODE`` is dropped for the children, one warm-up round is not counted).
``--compare PYTHON`` adds the same rtcdiag commands run by another interpreter (e.g. a virtualenv with
another version installed), for a before/after table in one run. Run it from outside the repository when
comparing installations (``python -m rtcdiag`` prefers the current directory's package).

Targets (issue 20): ``stun`` one target <= 70 ms, ``nat-type`` full cone <= 90 ms.
Run: ``python benchmarks/bench_quick.py [--runs N] [--compare PYTHON]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

from rtcdiag.coturn import CoturnOptions, start_coturn

STUN_TARGET_MS = 70.0
NAT_TARGET_MS = 90.0


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall ms, CPU ms, exit code) of one run, stdout and stderr read and discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000.0
    return wall, (usage.ru_utime + usage.ru_stime) * 1000.0, os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--compare", metavar="PYTHON", help="also run rtcdiag with this interpreter")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    options = CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2"), die_with_parent=True)
    with start_coturn(options) as server:
        stun = f"{server.host}:{server.port}"
        nat = f"stun:{server.host}:{server.port}"
        pythons = [("", sys.executable)] + ([(" (compare)", args.compare)] if args.compare else [])
        commands: list[tuple[str, list[str]]] = [("python -c pass", [sys.executable, "-c", "pass"])]
        for suffix, python in pythons:
            commands += [(f"rtcdiag stun{suffix}", [python, "-m", "rtcdiag", "stun", stun]),
                         (f"rtcdiag nat-type{suffix}",
                          [python, "-m", "rtcdiag", "nat-type", "--server", nat])]
        peers = {"stun": shutil.which("turnutils_stunclient"),
                 "nat-type": shutil.which("turnutils_natdiscovery")}
        if peers["stun"]:
            commands.append(("turnutils_stunclient", [peers["stun"], "-p", str(server.port), server.host]))
        if peers["nat-type"]:
            commands.append(("turnutils_natdiscovery -m -f", [peers["nat-type"], "-m", "-f", "-p",
                                                              str(server.port), server.host]))
        for _, command in commands:  # warm-up: bytecode and page cache
            measure(command, env)
        walls: dict[str, list[float]] = {label: [] for label, _ in commands}
        cpus: dict[str, list[float]] = {label: [] for label, _ in commands}
        codes: dict[str, set[int]] = {label: set() for label, _ in commands}
        for _ in range(args.runs):
            for label, command in commands:
                wall, cpu, code = measure(command, env)
                walls[label].append(wall)
                cpus[label].append(cpu)
                codes[label].add(code)
    print(f"{'command (one loopback target, stdout a pipe)':<46}{'wall med':>9}{'wall min':>9}{'CPU med':>9}"
          "  exit")
    for label, _ in commands:
        print(f"{label:<46}{statistics.median(walls[label]):>9.1f}{min(walls[label]):>9.1f}"
              f"{statistics.median(cpus[label]):>9.1f}  {sorted(codes[label])}")
    for name, peer_label, target in (("stun", "turnutils_stunclient", STUN_TARGET_MS),
                                     ("nat-type", "turnutils_natdiscovery -m -f", NAT_TARGET_MS)):
        ours = statistics.median(walls[f"rtcdiag {name}"])
        line = f"rtcdiag {name}: median {ours:.1f} ms (target <= {target:.0f} ms: " \
               f"{'met' if ours <= target else 'NOT met'})"
        if peer_label in walls:
            theirs = statistics.median(walls[peer_label])
            line += f"; {peer_label} {theirs:.1f} ms ({ours / theirs:.1f}x)"
        if args.compare:
            before = statistics.median(walls[f"rtcdiag {name} (compare)"])
            line += f"; compare {before:.1f} ms"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

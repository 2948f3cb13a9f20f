"""The quick question a person types: ``rtcdiag stun`` with one target against ``turnutils_stunclient``, and
the interpreter's own start (``python -c pass``, ``python -m rtcdiag --version``) for scale, in the same run.

One coturn on loopback (started here, stopped by PID). Each round runs every command once, in turn, so that
load from other processes hits all of them alike; the table shows the median and the minimum wall time over
RUNS rounds (stdout a pipe, read and discarded). Compiled bytecode is cached as for an installed package
(``PYTHONDONTWRITEBYTECODE`` is dropped for the children, one warm-up round is not counted).

Target (issue 20): ``rtcdiag stun`` one target <= 70 ms. The ``nat-type`` counterpart needs a NAT and root:
``benchmarks/bench_nat.py``.
Run: ``python benchmarks/bench_quick.py [--runs N]``.
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


def wall_ms(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    return (time.perf_counter() - start) * 1000.0, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with start_coturn(CoturnOptions(die_with_parent=True)) as server:
        target = f"{server.host}:{server.port}"
        commands: list[tuple[str, list[str]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("rtcdiag --version", [sys.executable, "-m", "rtcdiag", "--version"]),
            (f"rtcdiag stun {target}", [sys.executable, "-m", "rtcdiag", "stun", target]),
            (f"rtcdiag stun {target} --json", [sys.executable, "-m", "rtcdiag", "stun", target, "--json"]),
        ]
        peer = shutil.which("turnutils_stunclient")
        if peer is not None:
            commands.append((f"turnutils_stunclient -p {server.port}", [peer, "-p", str(server.port),
                                                                        server.host]))
        for _, command in commands:  # warm-up: bytecode and page cache
            wall_ms(command, env)
        samples: dict[str, list[float]] = {label: [] for label, _ in commands}
        codes: dict[str, set[int]] = {label: set() for label, _ in commands}
        for _ in range(args.runs):
            for label, command in commands:
                ms, code = wall_ms(command, env)
                samples[label].append(ms)
                codes[label].add(code)
    print(f"{'command (stdout a pipe)':<44}{'median ms':>10}{'min ms':>9}  exit")
    for label, _ in commands:
        print(f"{label:<44}{statistics.median(samples[label]):>10.1f}{min(samples[label]):>9.1f}  "
              f"{sorted(codes[label])}")
    stun = statistics.median(samples[commands[2][0]])
    line = f"rtcdiag stun, one target: median {stun:.1f} ms (target <= {STUN_TARGET_MS:.0f} ms: " \
           f"{'met' if stun <= STUN_TARGET_MS else 'NOT met'})"
    if peer is not None:
        theirs = statistics.median(samples[commands[-1][0]])
        line += f"; turnutils_stunclient {theirs:.1f} ms ({stun / theirs:.1f}x)"
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

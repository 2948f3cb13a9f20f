"""Cold start: ``rtcdiag --version`` against ``python -c pass``, measured in the same run.

Target (issue 2): rtcdiag --version within 1.5x python -c pass + 60 ms.
Run: ``python benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 20


def wall_ms(argv: list[str]) -> list[float]:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


HEAVY = ("scapy", "aioice", "dns", "rich", "ssl", "asyncio")


def heavy_modules_at_startup() -> list[str]:
    """Heavy dependencies that ``rtcdiag --version`` imported (it should import none)."""
    code = (
        "import sys, rtcdiag.cli as c\n"
        "try:\n    c.main(['--version'])\nexcept SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return done.stderr.split()


def main() -> None:
    baseline = wall_ms([sys.executable, "-c", "pass"])
    ours = wall_ms([sys.executable, "-m", "rtcdiag", "--version"])
    base_med, our_med = statistics.median(baseline), statistics.median(ours)
    budget = 1.5 * base_med + 60
    print(f"{'command':<28}{'median ms':>10}{'min ms':>10}")
    print(f"{'python -c pass':<28}{base_med:>10.1f}{min(baseline):>10.1f}")
    print(f"{'rtcdiag --version':<28}{our_med:>10.1f}{min(ours):>10.1f}")
    print(f"ratio {our_med / base_med:.2f}x; budget 1.5x + 60 ms = {budget:.1f} ms -> "
          f"{'within' if our_med <= budget else 'OVER'} budget")
    heavy = heavy_modules_at_startup()
    print(f"heavy modules imported by --version: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()

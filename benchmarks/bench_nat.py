"""nat-type wall time against ``turnutils_natdiscovery -m -f``, same lab server, same run (needs root).

Target (issue 4): a full mapping + filtering verdict in the lab without loss < 1.5 s.
Run: ``python benchmarks/bench_nat.py [RUNS]``. Both tools run inside the client namespace of each lab
and talk only to the lab's coturn (203.0.113.10 / .11, inside namespaces this script creates).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time

from rtcdiag.lab.kinds import NatKind
from rtcdiag.lab.lab import Lab
from rtcdiag.lab.topology import STUN_PRIMARY_IP

KINDS = (NatKind.FULL_CONE, NatKind.PORT_RESTRICTED, NatKind.SYMMETRIC)


def wall_s(lab: Lab, argv: list[str], runs: int) -> tuple[list[float], str]:
    samples: list[float] = []
    last = ""
    for _ in range(runs):
        start = time.perf_counter()
        done = lab.exec(argv, timeout=120)
        samples.append(time.perf_counter() - start)
        last = done.stdout
    return samples, last


def main() -> int:
    if os.geteuid() != 0 or shutil.which("turnutils_natdiscovery") is None:
        print("skipped: needs root and coturn's turnutils_natdiscovery")
        return 0
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    ours_cmd = [sys.executable, "-m", "rtcdiag", "nat-type", "--server", f"stun:{STUN_PRIMARY_IP}", "--json"]
    peer_cmd = ["turnutils_natdiscovery", "-m", "-f", STUN_PRIMARY_IP]
    print(f"{'lab':<18}{'rtcdiag nat-type s':>20}{'natdiscovery -m -f s':>22}{'ratio':>8}")
    ratios: list[float] = []
    for kind in KINDS:
        with Lab.create(kind, f"rtcdb{os.getpid()}-{kind.value[:4]}") as lab:
            ours, _ = wall_s(lab, ours_cmd, runs)
            peer, _ = wall_s(lab, peer_cmd, runs)
        ours_med, peer_med = statistics.median(ours), statistics.median(peer)
        ratios.append(peer_med / ours_med)
        print(f"{kind.value:<18}{ours_med:>20.3f}{peer_med:>22.3f}{peer_med / ours_med:>7.1f}x")
    print(f"rtcdiag is {statistics.median(ratios):.1f}x faster (median over labs, {runs} runs each); "
          "budget 1.5 s per verdict")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

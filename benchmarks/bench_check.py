"""``rtcdiag check`` on a healthy loopback coturn: wall time and peak memory (RSS) of the whole process.

Every probe but the NAT mapping lifetime runs: ports (UDP/TCP/TLS), STUN binding over UDP/TCP/TLS, the TURN
check over UDP/TCP/TLS with both data paths, ICE through each TURN URL, and RFC 5780 NAT discovery (the coturn
listens on 127.0.0.1 and 127.0.0.2 so it supports it). Targets (issue 5): < 2 s wall, < 60 MB peak RSS.

Run: ``python benchmarks/bench_check.py [--runs N]``. Peak RSS comes from ``wait4()``'s ``ru_maxrss`` of the
child process, so only the rtcdiag process is counted (not coturn, not this script).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn

WALL_TARGET_S = 2.0
RSS_TARGET_MB = 60.0


def check_argv(server: RunningCoturn) -> list[str]:
    host = server.host
    return [sys.executable, "-m", "rtcdiag", "check",
            f"turn:{host}:{server.port}?transport=udp", f"turn:{host}:{server.port}?transport=tcp",
            f"turns:{host}:{server.tls_port}?transport=tcp", "-u", "alice", "--password-env", "BENCH_TURN_PW",
            "--ca", str(server.ca_cert), "--nat-server", f"stun:{host}:{server.port}", "--json"]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    password = "bench-" + secrets.token_hex(8)
    options = CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2"), users={"alice": password},
                            self_signed=True, allow_loopback_peers=True)
    with start_coturn(options) as server:
        argv = check_argv(server)
        env = {**os.environ, "BENCH_TURN_PW": password}
        run_once(argv, env)  # warm the page cache (imports), not counted
        samples = [run_once(argv, env) for _ in range(args.runs)]
    walls = [s[0] for s in samples]
    rss = [s[1] for s in samples]
    codes = {s[2] for s in samples}
    median_wall, worst_rss = statistics.median(walls), max(rss)
    print(f"rtcdiag check, healthy loopback coturn, {args.runs} runs (exit codes {sorted(codes)})")
    print(f"  wall time: median {median_wall:.3f} s, min {min(walls):.3f} s, max {max(walls):.3f} s "
          f"(target < {WALL_TARGET_S:.1f} s)")
    print(f"  peak RSS:  max {worst_rss:.1f} MB, median {statistics.median(rss):.1f} MB "
          f"(target < {RSS_TARGET_MB:.0f} MB)")
    ok = codes == {0} and median_wall < WALL_TARGET_S and worst_rss < RSS_TARGET_MB
    print("  verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

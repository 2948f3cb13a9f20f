"""``rtcdiag check`` on loopback coturn: wall time, CPU time and peak memory (RSS) of the whole process.

Two scenarios, each against its own coturn started here (and stopped, by PID, at the end):

- ``single`` (issue 5): one healthy server. Every probe but the NAT mapping lifetime runs: ports
  (UDP/TCP/TLS), STUN binding over UDP/TCP/TLS, the TURN check over UDP/TCP/TLS with both data paths, ICE
  through each TURN URL, and RFC 5780 NAT discovery (coturn listens on 127.0.0.1 and 127.0.0.2 so it supports
  it). Targets: < 2 s wall, < 60 MB peak RSS.
- ``many`` (issue 9): 20 servers. One coturn listens on 127.0.0.1 .. 127.0.0.20; ``check`` gets 60 URLs
  (``turn:IP:PORT?transport=udp``, ``?transport=tcp`` and ``turns:IP:TLSPORT?transport=tcp`` per address),
  the password from an environment variable and ``--ca``: DNS is skipped (IP literals), ports, STUN, TURN
  and ICE run for every server (120 ICE agents). Output goes to a pipe that is read and discarded, in
  console, ``--json`` and ``--junit FILE`` form. Targets: <= 1.0 s wall, <= 60 MB peak RSS, exit code 0.

Run: ``python benchmarks/bench_check.py [--runs N] [--scenario single|many|all]``. Peak RSS and CPU time
come from ``wait4()`` of the child, so only the rtcdiag process is counted (not coturn, not this script).
Compiled bytecode is cached as for an installed package (``PYTHONDONTWRITEBYTECODE`` is dropped for the
child and one warm-up run is not counted).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn

WALL_TARGET_S = 2.0
RSS_TARGET_MB = 60.0
MANY_WALL_TARGET_S = 1.0
MANY_RSS_TARGET_MB = 60.0
SERVERS = 20
PASSWORD_ENV = "BENCH_TURN_PW"


@dataclass
class Child:
    wall_s: float
    cpu_s: float  # user + system
    rss_mb: float  # peak resident set size (ru_maxrss)
    exit_code: int
    stderr: str = ""
    stdout_head: str = ""  # the start of the report (verdict and root causes), kept to explain a failure


def run_child(argv: list[str], env: dict[str, str]) -> Child:
    """Run ``argv`` with stdout and stderr pipes read by threads (stdout discarded); measure the child."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    tail: list[bytes] = []
    head: list[bytes] = []
    readers = [threading.Thread(target=_discard, args=(proc.stdout, head)),
               threading.Thread(target=_discard, args=(proc.stderr, tail))]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    for reader in readers:
        reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Child(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, proc.returncode,
                 b"".join(tail)[-2000:].decode(errors="replace"), head[0][:4000].decode(errors="replace")
                 if head else "")


def _discard(stream: IO[bytes] | None, keep: list[bytes]) -> None:
    """Read ``stream`` to its end; keep its first chunk (stdout) or all of it (stderr, small)."""
    if stream is None:
        return
    with stream:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            if stream is not None and (not keep or len(keep) < 64):
                keep.append(chunk)


def child_env(password: str) -> dict[str, str]:
    env = {**os.environ, PASSWORD_ENV: password}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are cached
    return env


def measure(argv: list[str], env: dict[str, str], runs: int) -> list[Child]:
    """Back to back (a run that reuses a client port coturn still holds retries its first Allocate)."""
    run_child(argv, env)  # warm-up (bytecode and page cache), not counted
    return [run_child(argv, env) for _ in range(runs)]


def summary(label: str, samples: list[Child], wall_target: float, rss_target: float) -> bool:
    walls = [s.wall_s for s in samples]
    codes = sorted({s.exit_code for s in samples})
    median_wall, worst_rss = statistics.median(walls), max(s.rss_mb for s in samples)
    cpu = statistics.median(s.cpu_s for s in samples)
    ok = codes == [0] and median_wall <= wall_target and worst_rss <= rss_target
    print(f"  {label:<26} wall median {median_wall:6.3f} s (min {min(walls):.3f}, max {max(walls):.3f})  "
          f"cpu {cpu:6.3f} s  peak RSS {worst_rss:5.1f} MB  exit {codes}  {'PASS' if ok else 'FAIL'}")
    failed = [s for s in samples if s.exit_code != 0]
    if failed:
        print(f"    a failing run (exit {failed[0].exit_code}): stderr {failed[0].stderr[-500:]!r}")
        print("    its report begins:\n" + "\n".join("      " + line
                                                    for line in failed[0].stdout_head.splitlines()[:60]))
    return ok


# --- single server (issue 5) -----------------------------------------------------------------------------


def check_argv(server: RunningCoturn) -> list[str]:
    host = server.host
    return [sys.executable, "-m", "rtcdiag", "check",
            f"turn:{host}:{server.port}?transport=udp", f"turn:{host}:{server.port}?transport=tcp",
            f"turns:{host}:{server.tls_port}?transport=tcp", "-u", "alice", "--password-env", PASSWORD_ENV,
            "--ca", str(server.ca_cert), "--nat-server", f"stun:{host}:{server.port}", "--json"]


def bench_single(runs: int) -> bool:
    password = "bench-" + secrets.token_hex(8)
    options = CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2"), users={"alice": password},
                            self_signed=True, allow_loopback_peers=True)
    with start_coturn(options) as server:
        samples = measure(check_argv(server), child_env(password), runs)
    print(f"rtcdiag check --json, one healthy loopback coturn (3 URLs + NAT), {runs} runs "
          f"(targets < {WALL_TARGET_S:.1f} s, < {RSS_TARGET_MB:.0f} MB):")
    return summary("single server --json", samples, WALL_TARGET_S, RSS_TARGET_MB)


# --- 20 servers (issue 9) --------------------------------------------------------------------------------


def many_urls(server: RunningCoturn) -> list[str]:
    urls: list[str] = []
    for ip in server.listening_ips:
        urls += [f"turn:{ip}:{server.port}?transport=udp", f"turn:{ip}:{server.port}?transport=tcp",
                 f"turns:{ip}:{server.tls_port}?transport=tcp"]
    return urls


def many_argv(server: RunningCoturn, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "rtcdiag", "check", *many_urls(server), "-u", "alice",
            "--password-env", PASSWORD_ENV, "--ca", str(server.ca_cert), *extra]


def bench_many(runs: int) -> bool:
    password = "bench-" + secrets.token_hex(8)
    ips = tuple(f"127.0.0.{n}" for n in range(1, SERVERS + 1))  # one coturn, 20 listening-ip lines
    options = CoturnOptions(listening_ips=ips, users={"alice": password}, self_signed=True,
                            allow_loopback_peers=True)
    ok = True
    with start_coturn(options) as server, tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        env = child_env(password)
        print(f"rtcdiag check, {SERVERS} servers x (udp, tcp, turns) = {3 * SERVERS} URLs on one loopback "
              f"coturn, stdout a pipe, {runs} runs (targets <= {MANY_WALL_TARGET_S:.1f} s, "
              f"<= {MANY_RSS_TARGET_MB:.0f} MB, exit 0):")
        forms: list[tuple[str, list[str]]] = [("console", []), ("--json", ["--json"]),
                                              ("--junit FILE", ["--junit", str(Path(tmp) / "check.xml")])]
        for label, extra in forms:
            samples = measure(many_argv(server, extra), env, runs)
            ok = summary(label, samples, MANY_WALL_TARGET_S, MANY_RSS_TARGET_MB) and ok
        print("  what ICE costs (for the record, not a target): the same console run with some checks off")
        for label, checks in (("--checks ports,stun,turn", "ports,stun,turn"), ("--checks ice", "ice")):
            samples = measure(many_argv(server, ["--checks", checks]), env, runs)
            summary(label, samples, MANY_WALL_TARGET_S, MANY_RSS_TARGET_MB)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenario", choices=("single", "many", "all"), default="all")
    args = parser.parse_args(argv)
    ok = True
    if args.scenario in ("single", "all"):
        ok = bench_single(args.runs) and ok
    if args.scenario in ("many", "all"):
        ok = bench_many(args.runs) and ok
    print("verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

"""Report cost at scale: probing 200 targets vs building the report vs each renderer, side by side.

The 200 targets are STUN Binding requests over UDP to 200 closed ports on 127.0.0.1 (each answered at once by
an ICMP port unreachable, so every target yields an error finding: the worst case for the renderers). In one
process, with the same data, it measures:

- ``probe``: the STUN check's ``run`` (I/O) and ``judge`` (rules) for the 200 targets;
- ``build``: ``build_report`` (diagnosis, testcases, masking of the raw results);
- each renderer: the console to a pipe (what ``rtcdiag stun ... | less`` costs), JSON, JUnit, Markdown;

then the whole CLI (``rtcdiag stun`` with the same 200 targets, stdout a pipe that is read and discarded) in
console and ``--json`` form: wall time, CPU time and peak RSS of the child (``wait4``).
Target (issue 9): building and rendering a report must not cost more than the probing.

Run: ``python benchmarks/bench_report.py [--targets N] [--runs N]``. Traffic goes to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_check import run_child  # the same child measurement as the check benchmark

HOST = "127.0.0.1"


def closed_udp_ports(count: int, first: int = 40000) -> list[int]:
    """``count`` UDP ports on loopback that nothing listens on (checked by binding each, then closing)."""
    ports: list[int] = []
    port = first
    while len(ports) < count and port < 65536:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                port += 1
                continue
        ports.append(port)
        port += 1
    return ports


def timed(func: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """(median ms over ``runs``, the last value)."""
    samples: list[float] = []
    value: Any = None
    for _ in range(runs):
        start = time.perf_counter()
        value = func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples), value


class Drain:
    """A pipe whose read end is read and discarded by a thread, like a pager or ``| cat`` would."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb")
        self.file = io.TextIOWrapper(os.fdopen(write_fd, "wb"), encoding="utf-8")
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while self._reader.read1(65536):
            pass

    def close(self) -> None:
        self.file.close()
        self._thread.join()
        self._reader.close()


def in_process(urls: list[str], runs: int) -> dict[str, float]:
    from rtcdiag.checks.stun import STUN, StunPlan, stun_table
    from rtcdiag.probes.binding import BindingOptions
    from rtcdiag.report import console, json_report, junit, markdown
    from rtcdiag.report.build import build_report
    from rtcdiag.targets import expand_transports, parse_targets

    targets = expand_transports(parse_targets(urls, default_scheme="stun"), ("udp",))
    plan = StunPlan(targets, BindingOptions(timeout=1.0))
    out: dict[str, float] = {}
    out["probe: run (I/O)"], results = timed(lambda: asyncio.run(STUN.run(plan)), runs)
    out["probe: judge (rules)"], _ = timed(lambda: STUN.judge(results), runs)

    def build() -> Any:
        return build_report("stun", STUN.judge(results), tables=[stun_table(results)], results=results)

    judge_ms = out["probe: judge (rules)"]
    build_ms, report = timed(build, runs)
    out["build_report (+ table)"] = max(build_ms - judge_ms, 0.0)  # the judge ran again inside build()
    drain = Drain()
    try:
        pipe_console = console.make_console(drain.file)
        out["render: console to a pipe"], _ = timed(
            lambda: console.print_report(report, pipe_console, console.VERBOSE), runs)  # all of it: -v
    finally:
        drain.close()
    out["render: console (plain text)"], _ = timed(lambda: console.render_plain(report), runs)
    out["render: JSON"], text = timed(lambda: json_report.render(report), runs)
    out["  JSON size KB"] = len(text) / 1024
    out["render: JUnit"], _ = timed(lambda: junit.render(report), runs)
    out["render: Markdown"], _ = timed(lambda: markdown.render(report), runs)
    out["  findings"] = len(report.findings)
    out["  testcases"] = len(report.checks)
    return out


def cli(urls: list[str], runs: int, extra: list[str]) -> tuple[float, float, float, set[int]]:
    """(median wall ms, median CPU ms, max RSS MB, exit codes) of ``rtcdiag stun URLS`` to a pipe."""
    argv = [sys.executable, "-m", "rtcdiag", "stun", *urls, "--timeout", "1", *extra]
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are cached
    run_child(argv, env)  # warm-up (bytecode cache, page cache), not counted
    samples = [run_child(argv, env) for _ in range(runs)]
    return (statistics.median(s.wall_s for s in samples) * 1000, statistics.median(s.cpu_s for s in samples)
            * 1000, max(s.rss_mb for s in samples), {s.exit_code for s in samples})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    urls = [f"stun:{HOST}:{port}" for port in closed_udp_ports(args.targets)]
    print(f"{args.targets} STUN targets (closed UDP ports on {HOST}), median of {args.runs} runs, "
          "in process:")
    measured = in_process(urls, args.runs)
    for name, value in measured.items():
        unit = "" if name.startswith("  ") else " ms"
        print(f"  {name:<32}{value:>10.1f}{unit}" if unit else f"  {name:<32}{value:>10.0f}")
    probe = measured["probe: run (I/O)"] + measured["probe: judge (rules)"]
    console_ms = measured["render: console to a pipe"]
    report_ms = measured["build_report (+ table)"] + console_ms
    print(f"  build + console = {report_ms:.1f} ms vs probe {probe:.1f} ms "
          f"({'within' if report_ms <= probe else 'OVER'} the probing cost)")
    ok = report_ms <= probe
    print("whole CLI, stdout a pipe (read and discarded):")
    for label, extra in (("rtcdiag stun (console)", []), ("rtcdiag stun --json", ["--json"])):
        wall, cpu, rss, codes = cli(urls, args.runs, extra)
        print(f"  {label:<32}wall {wall:7.1f} ms  cpu {cpu:7.1f} ms  peak RSS {rss:5.1f} MB  "
              f"exit {sorted(codes)}")
        ok = ok and codes == {1}  # every target is closed: an error finding each, exit 1
    print("  verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())

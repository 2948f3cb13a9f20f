"""Where the time of a quick answer goes: ``rtcdiag stun`` and ``rtcdiag nat-type`` with one loopback target
(the commands of ``bench_quick.py``), split into interpreter start, imports, event loop, probe and report.

Every figure is the median CPU time (user + system, from ``wait4``) of child processes run in interleaved
rounds, so that load from other processes hits every stage alike:

- ``interpreter``: ``python -c pass``;
- ``asyncio + click``: ``python -c "import asyncio, click"`` less the interpreter (with the standard
  library they load: ssl, socket, subprocess, logging, inspect, uuid, datetime, ...);
- ``rtcdiag's modules``: importing exactly the rtcdiag modules the command loads (listed by a first run),
  less the above; split by package in proportion to ``-X importtime`` self times (minimum over the rounds),
  with the number of dataclasses each package creates, and the time spent creating them (timed inside one
  run, around ``dataclasses._process_class``: on Python 3.11 every generated method is compiled from source,
  ~0.5 ms per frozen dataclass);
- ``event loop``, ``probe``, ``report``: timed inside one run of the command (CPU time around
  ``run_async``, the check's ``execute`` coroutine (send, receive, judge) and ``build_report`` + ``emit``);
- ``the rest``: the whole command less all of the above (argument parsing, the interpreter's exit); within
  a few ms of zero, either side (importing the modules in one statement is not the command's order).

One coturn on 127.0.0.1 and 127.0.0.2 is started here and stopped by PID; traffic goes to it only.
Run: ``python benchmarks/bench_quick_parts.py [--runs N]`` (from outside the repository to measure an
installed package).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence

from rtcdiag.coturn import CoturnOptions, start_coturn

# Run inside a child: the command with timers around its stages; prints one JSON line on stderr.
TIMED_RUN = r"""
import dataclasses, json, sys, time
started = time.thread_time()
spent = {"run_async": 0.0, "probe": 0.0, "report": 0.0, "dataclasses": 0.0}
inner_process_class = dataclasses._process_class  # every @dataclass goes through it (Python 3.11)

def process_class(*args, **kwargs):
    begin = time.thread_time()
    try:
        return inner_process_class(*args, **kwargs)
    finally:
        spent["dataclasses"] += time.thread_time() - begin
dataclasses._process_class = process_class
import rtcdiag.cli
from rtcdiag.checks import engine
from rtcdiag.commands.shared import output, running
from rtcdiag.report import build

def timed(module, name, key):
    inner = getattr(module, name)
    def wrapper(*args, **kwargs):
        begin = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[key] += time.thread_time() - begin
    setattr(module, name, wrapper)

inner_execute = engine.execute
async def execute(*args, **kwargs):
    begin = time.thread_time()
    try:
        return await inner_execute(*args, **kwargs)
    finally:
        spent["probe"] += time.thread_time() - begin
engine.execute = execute
timed(running, "run_async", "run_async")
timed(build, "build_report", "report")
timed(output, "emit", "report")
try:
    rtcdiag.cli.main(sys.argv[1:])
except SystemExit:
    pass
spent["main"] = time.thread_time() - started
print(json.dumps(spent), file=sys.stderr)
"""

# Run inside a child: the command, then the rtcdiag modules it loaded and its dataclasses per package.
LOADED = r"""
import dataclasses, inspect, json, sys
import rtcdiag.cli
try:
    rtcdiag.cli.main(sys.argv[1:])
except SystemExit:
    pass
modules = [name for name in sys.modules if name == "rtcdiag" or name.startswith("rtcdiag.")]
def own_dataclasses(name):
    return sum(1 for value in vars(sys.modules[name]).values()
               if inspect.isclass(value) and dataclasses.is_dataclass(value) and value.__module__ == name)
classes = {name: own_dataclasses(name) for name in modules}
print(json.dumps({"modules": modules, "dataclasses": classes}), file=sys.stderr)
"""


def cpu_ms(argv: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    """CPU time (ms) of one child and its stderr."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, _, usage = os.wait4(proc.pid, 0)
    return (usage.ru_utime + usage.ru_stime) * 1000.0, err.decode(errors="replace")


def package_of(module: str) -> str:
    """``rtcdiag.protocol.message`` -> ``rtcdiag.protocol``; other modules by their top-level name."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "rtcdiag" else parts[0]


def import_self_times(text: str) -> dict[str, int]:
    """``-X importtime`` output -> self time (us) per module."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line.removeprefix("import time:").split("|")
        out[name.strip()] = int(self_us)
    return out


def breakdown(label: str, command: list[str], runs: int, env: dict[str, str]) -> None:
    python = sys.executable
    _, loaded_err = cpu_ms([python, "-c", LOADED, *command], env)
    loaded = json.loads(loaded_err.strip().splitlines()[-1])
    modules: list[str] = loaded["modules"]
    # As a command does: the collector's threshold raised by rtcdiag.cli.main, everything loaded frozen by
    # run_async (without gc.freeze the interpreter's exit walks every module's objects).
    before, after = "import gc; gc.set_threshold(20_000, 10, 10); ", "; gc.freeze()"
    stages = {
        "pass": [python, "-c", "pass"],
        "asyncio+click": [python, "-c", before + "import asyncio, click" + after],
        "modules": [python, "-c", before + "import asyncio, click, " + ", ".join(modules) + after],
        "command": [python, "-m", "rtcdiag", *command],
    }
    cpu: dict[str, list[float]] = collections.defaultdict(list)
    inner: dict[str, list[float]] = collections.defaultdict(list)
    best_self: dict[str, int] = {}
    for stage in stages.values():  # warm-up: bytecode and page cache
        cpu_ms(stage, env)
    for _ in range(runs):
        for key, argv in stages.items():
            cpu[key].append(cpu_ms(argv, env)[0])
        _, timed_err = cpu_ms([python, "-c", TIMED_RUN, *command], env)
        for key, seconds in json.loads(timed_err.strip().splitlines()[-1]).items():
            inner[key].append(seconds * 1000.0)
        _, importtime = cpu_ms([python, "-X", "importtime", "-m", "rtcdiag", *command], env)
        for name, self_us in import_self_times(importtime).items():
            best_self[name] = min(best_self.get(name, self_us), self_us)
    med = {key: statistics.median(values) for key, values in cpu.items()}
    mid = {key: statistics.median(values) for key, values in inner.items()}
    interpreter = med["pass"]
    floor = med["asyncio+click"] - med["pass"]
    ours = med["modules"] - med["asyncio+click"]
    probe = mid["probe"]
    loop = mid["run_async"] - probe
    report = mid["report"]
    rest = med["command"] - med["modules"] - loop - probe - report
    print(f"\nrtcdiag {label} (one loopback target, stdout a pipe): median CPU ms over {runs} rounds")
    rows = [("interpreter start (python -c pass)", interpreter),
            ("asyncio + click, and the stdlib they load", floor),
            (f"rtcdiag's own modules ({len(modules)})", ours)]
    own_self = {name: us for name, us in best_self.items() if name in modules}
    by_package: dict[str, int] = collections.Counter()
    classes: dict[str, int] = collections.Counter()
    for name, us in own_self.items():
        by_package[package_of(name)] += us
    for name, count in loaded["dataclasses"].items():
        classes[package_of(name)] += count
    total_self = sum(by_package.values()) or 1
    package_rows = [(f"    {package} ({classes[package]} dataclasses)", ours * us / total_self)
                    for package, us in sorted(by_package.items(), key=lambda item: -item[1])]
    rows += package_rows
    rows.append((f"    of which creating its {sum(loaded['dataclasses'].values())} dataclasses",
                 mid["dataclasses"]))
    rows += [("event loop (set-up, signal handlers, close)", loop), ("probe (send, receive, judge)", probe),
             ("report (build, render, write)", report),
             ("the rest (argument parsing, interpreter exit)", rest),
             ("whole command", med["command"])]
    for name, value in rows:
        share = f"{100.0 * value / med['command']:5.1f}%" if not name.startswith("    ") else ""
        print(f"  {name:<50}{value:8.1f}  {share}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    options = CoturnOptions(listening_ips=("127.0.0.1", "127.0.0.2"), die_with_parent=True)
    with start_coturn(options) as server:
        breakdown("stun", ["stun", f"{server.host}:{server.port}"], args.runs, env)
        breakdown("nat-type", ["nat-type", "--server", f"stun:{server.host}:{server.port}"], args.runs, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

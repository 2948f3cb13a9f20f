"""``rtcdiag analyze`` on a big dump against a plain ``json.load`` of the same file, in the same run.

Target (issues 11, 19): a >= 100 MB dump in <= 2x the time of ``json.load``, peak RSS <= 3x the file size,
for both shapes of a big dump: a long call (two peer connections, every stats series tens of thousands of
samples long) and many connections (thousands of peer connections, ten samples per series). Both are made
from the real healthy-relay fixture. Each side runs in a fresh child process so peak RSS (``ru_maxrss``) is
its own.
``--summary N``: ``rtcdiag analyze --summary`` over N dumps (copies of every real fixture) with one worker
and with every core, to see it scale.
Run: ``python benchmarks/bench_analyze.py [MB [ROUNDS]]`` or
``python benchmarks/bench_analyze.py --summary 1000``.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "analyze"
FIXTURE = FIXTURES / "healthy-relay.webrtc-internals.json.gz"
# The two shapes of a big dump (issue 19): a long call (the fixture's two peer connections, every stats
# series as long as it takes to fill the file) and many connections (thousands of peer connections with
# short series: a page that made one per call all day).
SHAPES = {"long call": (2, 0), "many connections": (0, 10)}  # (connections, samples); 0: as many as fit


def _lengthen(template: dict[str, Any], samples: int) -> None:
    for series in template["stats"].values():
        values = json.loads(series["values"])
        if values:
            series["values"] = json.dumps((values * (samples // len(values) + 1))[:samples])


def make_dump(path: Path, megabytes: int, shape: str) -> tuple[int, int, int]:
    """Write a dump of about ``megabytes`` MB of ``shape``; (size, peer connections, samples per series)."""
    document = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    templates = list(document["PeerConnections"].values())
    connections, samples = SHAPES[shape]
    target = megabytes * 1024 * 1024
    if connections:  # long series: as many samples as fill the file over `connections` connections
        def size(n: int) -> int:
            trial = json.loads(json.dumps(templates))
            for t in trial:
                _lengthen(t, n)
            return len(json.dumps(trial)) * connections // len(templates)

        small, large = size(100), size(1100)
        samples = max(10, 100 + (target - small) * 1000 // max(1, large - small))
        for t in templates:
            _lengthen(t, samples)
        document["PeerConnections"] = {f"{i}-1": templates[i % len(templates)] for i in range(connections)}
    else:
        for t in templates:
            _lengthen(t, samples)
        one = len(json.dumps(templates[0]))
        connections = max(1, target // one)
        document["PeerConnections"] = {f"{i}-1": templates[i % len(templates)] for i in range(connections)}
    text = json.dumps(document)
    path.write_text(text)
    return len(text), connections, samples


CHILD = {
    "json.load": "import json,sys; json.load(open(sys.argv[1]))",
    "rtcdiag analyze": "import sys; from rtcdiag.cli import main; main(['analyze', '--json', sys.argv[1]])",
}


def run(kind: str, path: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: steadier than wall time on a shared machine) and peak RSS
    (MB) of one child doing ``kind``. Peak RSS is the child's own VmHWM:
    ``ru_maxrss`` would count the parent's RSS at fork time (Linux keeps it across exec), and the parent
    has just made a 100 MB dump."""
    code = (f"import time, sys, os\nt = time.perf_counter()\n"
            f"try:\n    exec({CHILD[kind]!r})\nexcept SystemExit:\n    pass\n"
            "sys.stdout.flush()\nos.dup2(os.open(os.devnull, os.O_WRONLY), 1)\n"
            "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
            "cpu = sum(os.times()[:2])\n"
            "print(time.perf_counter() - t, cpu, int(hwm.split()[1]) / 1024, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          check=False)
    seconds, cpu, rss = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(cpu), float(rss)


def bench_summary(count: int) -> None:
    import os
    import shutil
    import time

    from rtcdiag.checks.analyze import summarize_files

    sources = sorted(FIXTURES.glob("*.gz"))
    with tempfile.TemporaryDirectory(prefix="rtcdiag-bench-") as tmp:
        paths = []
        for i in range(count):
            source = sources[i % len(sources)]
            target = Path(tmp) / f"{i:05d}-{source.name}"
            shutil.copy(source, target)
            paths.append(str(target))
        cores = os.cpu_count() or 1
        print(f"{count} dumps; {cores} cores")
        for workers in sorted({1, cores}):
            start = time.perf_counter()
            summarize_files(paths, workers=workers)
            print(f"workers={workers}: {time.perf_counter() - start:.2f} s")


def compile_package() -> None:
    """Byte-compile rtcdiag first, as an installed package is (pip does it): with PYTHONDONTWRITEBYTECODE
    set and no .pyc, every child would compile the whole package from source and time that, not analyze."""
    import compileall

    import rtcdiag

    compileall.compile_dir(Path(rtcdiag.__file__).parent, quiet=1)


def main() -> None:
    compile_package()
    if len(sys.argv) > 2 and sys.argv[1] == "--summary":
        bench_summary(int(sys.argv[2]))
        return
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for shape in SHAPES:
        with tempfile.TemporaryDirectory(prefix="rtcdiag-bench-") as tmp:
            path = Path(tmp) / "dump.json"
            size, connections, samples = make_dump(path, megabytes, shape)
            print(f"{shape}: {size / 1e6:.1f} MB, {connections} peer connections, {samples} samples per "
                  "stats series")
            print(f"  {'':<18}{'wall s':>8}{'ratio':>7}{'CPU s':>8}{'ratio':>7}{'peak RSS MB':>13}"
                  f"{'RSS / file':>12}")
            for _ in range(rounds):  # the two sides alternate: a busy moment hits both
                results = {kind: run(kind, path) for kind in CHILD}
                base_s, base_cpu, _ = results["json.load"]
                for kind, (seconds, cpu, rss) in results.items():
                    print(f"  {kind:<18}{seconds:>8.2f}{seconds / base_s:>6.2f}x{cpu:>8.2f}"
                          f"{cpu / base_cpu:>6.2f}x{rss:>13.0f}{rss / (size / 2**20):>11.2f}x")
    print("targets: time <= 2x json.load, peak RSS <= 3x the file")

if __name__ == "__main__":
    main()

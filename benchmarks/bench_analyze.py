"""``rtcdiag analyze`` on a big dump against a plain ``json.load`` of the same file, in the same run.

Target (issue 11): a >= 100 MB dump in <= 2x the time of ``json.load``, peak RSS <= 3x the file size.
The big dump is made from the real healthy-relay fixture: its peer connections copied many times and every
stats series made as long as a long call's (the page keeps ~1 sample a second). Each side runs in a fresh
child process so peak RSS (``ru_maxrss``) is its own.
``--summary N``: ``rtcdiag analyze --summary`` over N dumps (copies of every real fixture) with one worker
and with every core, to see it scale.
Run: ``python benchmarks/bench_analyze.py [MB]`` or ``python benchmarks/bench_analyze.py --summary 1000``.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "analyze"
FIXTURE = FIXTURES / "healthy-relay.webrtc-internals.json.gz"
SAMPLES = 600  # 10 minutes of a call


def make_dump(path: Path, megabytes: int) -> int:
    document = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    template = next(iter(document["PeerConnections"].values()))
    for series in template["stats"].values():
        values = json.loads(series["values"])
        if values:
            series["values"] = json.dumps((values * (SAMPLES // len(values) + 1))[:SAMPLES])
    one = len(json.dumps(template))
    copies = max(1, megabytes * 1024 * 1024 // one)
    document["PeerConnections"] = {f"{i}-1": template for i in range(copies)}
    text = json.dumps(document)
    path.write_text(text)
    return len(text)


CHILD = {
    "json.load": "import json,sys; json.load(open(sys.argv[1]))",
    "rtcdiag analyze": "import sys; from rtcdiag.cli import main; main(['analyze', '--json', sys.argv[1]])",
}


def run(kind: str, path: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child doing ``kind``."""
    code = (f"import resource, time, sys, os\nt = time.perf_counter()\n"
            f"try:\n    exec({CHILD[kind]!r})\nexcept SystemExit:\n    pass\n"
            "sys.stdout.flush()\nos.dup2(os.open(os.devnull, os.O_WRONLY), 1)\n"
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          check=False)
    seconds, rss = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(rss)


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


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--summary":
        bench_summary(int(sys.argv[2]))
        return
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory(prefix="rtcdiag-bench-") as tmp:
        path = Path(tmp) / "dump.json"
        size = make_dump(path, megabytes)
        print(f"dump: {size / 1e6:.1f} MB ({SAMPLES} samples per stats series)")
        results = {kind: run(kind, path) for kind in CHILD}
    base_s = results["json.load"][0]
    ours_s, ours_rss = results["rtcdiag analyze"]
    print(f"{'':<18}{'wall s':>8}{'peak RSS MB':>13}")
    for kind, (seconds, rss) in results.items():
        print(f"{kind:<18}{seconds:>8.2f}{rss:>13.0f}")
    print(f"time ratio {ours_s / base_s:.2f}x (target <= 2x); "
          f"peak RSS {ours_rss / (size / 2**20):.2f}x the file (target <= 3x)")


if __name__ == "__main__":
    main()

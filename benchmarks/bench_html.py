"""``rtcdiag analyze --html`` on the big benchmark dump, side by side with ``rtcdiag analyze --json`` on the
same file in the same run, and the page opened in Chromium.

Targets (issue 24): the page of the 100 MB dump <= 5 MB, built in <= 1.5x the time ``analyze --json`` takes,
rendered by Chromium in <= 2 s. The dumps are made as bench_analyze.py makes its own, from the real
healthy-relay fixture, in two shapes: a long call (its two peer connections, every stats series as long as
fills ~100 MB) and many connections (copied to ~100 MB, 600 samples each); here each series is continued as
a real call's would be (see ``_continue``). Each command runs in a fresh child process, ``--runs`` times
(the median is compared: the machine is shared).
Run: ``python benchmarks/bench_html.py [MB] [--runs N]``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "analyze" / \
    "healthy-relay.webrtc-internals.json.gz"
# Fields that are not counters (they do not only grow): continued by repeating their samples.
GAUGES = {"jitter", "roundTripTime", "currentRoundTripTime", "totalRoundTripTime", "framesPerSecond",
          "audioLevel", "availableOutgoingBitrate", "availableIncomingBitrate", "targetBitrate",
          "fractionLost", "frameWidth", "frameHeight"}
# The two shapes of a big dump (as bench_analyze.py makes them): a long call (the fixture's two peer
# connections, every series as long as fills the file) and many connections (600 samples each, copied).
SHAPES = {"long call": (2, 0), "many connections": (0, 600)}  # (connections, samples); 0: as many as fit


def _continue(template: dict[str, Any], samples: int, rng: random.Random) -> None:
    """Each series of one connection continued as a real call would be, ``samples`` long: one sample a
    second, counters growing by their own mean step with a little noise, the rest repeated; the outbound
    counters reset half-way (as when Chromium re-initialises an encoder) and one jitter spike, so that the
    page has both to draw. (Repeating the fixture's samples, as bench_analyze does, would run the counters
    backwards every few seconds and the timestamps too.)"""
    for name, series in template["stats"].items():
        values = json.loads(series["values"])
        field_name = name.rpartition("-")[2]
        if not values:
            continue
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if field_name == "timestamp" and numbers:
            longer = [values[0] + 1000 * i for i in range(samples)]
        elif numbers and field_name not in GAUGES and values == sorted(values) and len(values) > 1:
            step = (values[-1] - values[0]) / (len(values) - 1)
            longer, total = [], float(values[0])
            for i in range(samples):
                longer.append(round(total) if isinstance(values[0], int) else total)
                total += step * rng.uniform(0.8, 1.2)
                if field_name.startswith(("bytesSent", "packetsSent")) and i == samples // 2:
                    total = 0.0  # a counter reset
        else:
            longer = (values * (samples // len(values) + 1))[:samples]
            if field_name == "jitter":
                longer[samples * 3 // 4] = max(float(v) for v in values) * 20  # one spike
        series["values"] = json.dumps(longer)


def make_dump(path: Path, megabytes: int, shape: str) -> tuple[int, int, int]:
    """A dump of about ``megabytes`` MB of ``shape``; (size, peer connections, samples per series)."""
    document = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    templates = list(document["PeerConnections"].values())
    connections, samples = SHAPES[shape]
    target = megabytes * 1024 * 1024
    if connections:
        def size(n: int) -> int:
            trial = json.loads(json.dumps(templates))
            for t in trial:
                _continue(t, n, random.Random(24))
            return len(json.dumps(trial)) * connections // len(templates)

        small, large = size(100), size(1100)
        samples = max(10, 100 + (target - small) * 1000 // max(1, large - small))
    for t in templates:
        _continue(t, samples, random.Random(24))
    if not connections:
        connections = max(1, target // len(json.dumps(templates[0])))
    document["PeerConnections"] = {f"{i}-1": templates[i % len(templates)] for i in range(connections)}
    text = json.dumps(document)
    path.write_text(text)
    return len(text), connections, samples


COMMANDS = {
    "analyze --json": ["--json"],
    "analyze --json --html": ["--json", "--html", "{page}"],
    "analyze --html (console too)": ["--html", "{page}"],
}


def run(args: list[str], dump: Path, page: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process: on a shared machine the CPU time
    is the steadier measure of the work done."""
    argv = [a.replace("{page}", str(page)) for a in args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rtcdiag", "analyze", str(dump), *argv], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def render_seconds(page: Path) -> tuple[float, float, int] | None:
    """Seconds from navigation to the load event and to the first contentful paint in headless Chromium,
    and the number of requests the page made (must be 0 besides itself); None without Playwright."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return None
    from rtcdiag.probes.browser import find_chromium

    executable = find_chromium()
    if executable is None:
        return None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True,
                                           args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            context.on("request", lambda r: requests.append(r.url))
            tab = await context.new_page()
            await tab.goto(page.as_uri(), wait_until="load")
            await tab.evaluate("new Promise(done => requestAnimationFrame(() => "
                               "requestAnimationFrame(done)))")
            load = await tab.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
            paint = await tab.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || "
                                       "{startTime: -1}).startTime")
            return load / 1000, paint / 1000, len([u for u in requests if u != page.as_uri()])
        finally:
            await browser.close()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    if "--runs" in sys.argv:
        args = [a for a in args if a != sys.argv[sys.argv.index("--runs") + 1]]
    megabytes = int(args[0]) if args else 100
    for shape in SHAPES:
        print(f"== {shape}")
        bench(shape, megabytes, runs)


def bench(shape: str, megabytes: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="rtcdiag-bench-") as tmp:
        dump, page = Path(tmp) / "dump.json", Path(tmp) / "page.html"
        size, connections, samples = make_dump(dump, megabytes, shape)
        print(f"dump: {size / 1e6:.1f} MB, {connections} peer connections, {samples} samples per stats "
              f"series; {runs} run(s) each, median")
        walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
        cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(runs):  # interleaved, so that a busy moment of the machine hits every command
            for name, argv in COMMANDS.items():
                wall, cpu = run(argv, dump, page)
                walls[name].append(wall)
                cpus[name].append(cpu)
        wall_of = {name: statistics.median(values) for name, values in walls.items()}
        cpu_of = {name: statistics.median(values) for name, values in cpus.items()}
        print(f"{'':<30}{'wall s':>8}{'CPU s':>8}")
        for name in COMMANDS:
            print(f"{name:<30}{wall_of[name]:>8.2f}{cpu_of[name]:>8.2f}   "
                  f"(wall runs: {', '.join(f'{t:.2f}' for t in walls[name])})")
        print(f"page: {page.stat().st_size / 1e6:.2f} MB (target <= 5 MB)")
        for what, of in (("wall", wall_of), ("CPU", cpu_of)):
            base = of["analyze --json"]
            print(f"{what} ratio --json --html / --json: {of['analyze --json --html'] / base:.2f}x "
                  f"(target <= 1.5x); --html with the console report / --json: "
                  f"{of['analyze --html (console too)'] / base:.2f}x")
        rendered = asyncio.run(render_seconds(page))
        if rendered is None:
            print("Chromium render: not measured (needs Playwright and Chromium)")
        else:
            load, paint, requests = rendered
            print(f"Chromium: load event {load:.2f} s, first contentful paint {paint:.2f} s (target <= 2 s); "
                  f"{requests} request(s) besides the page")


if __name__ == "__main__":
    main()

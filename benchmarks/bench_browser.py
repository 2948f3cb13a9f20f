"""``rtcdiag browser`` wall time (browser start included) against ``rtcdiag ice`` on the same healthy loopback
coturn, in the same run, each through the CLI as a user runs it (a fresh process: start-up included).

- rtcdiag browser: headless Chromium started, chrome://webrtc-internals opened, the page gathers with the
  one server, makes a relay-only and a normal call with a 10-message data-channel echo each, the dump is
  downloaded and judged (``--no-compare``: aioice is the other column).
- rtcdiag ice: two aioice agents gather, connect through the relay and echo 5 packets.

Target (issue 12): a healthy single-server run, browser start included, in <= 3 s wall on this machine.
Run: ``python benchmarks/bench_browser.py [REPEATS]``.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time

from rtcdiag.coturn import CoturnOptions, start_coturn


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True, env=env,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} exit {done.returncode}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    password = "bench-" + secrets.token_hex(8)
    with start_coturn(CoturnOptions(users={"bench": password}, allow_loopback_peers=True)) as server:
        url = f"turn:{server.hostport()}?transport=udp"
        env = dict(os.environ, RTCDIAG_TURN_PASSWORD=password)
        commands = {"rtcdiag browser": ["browser", url, "-u", "bench", "--no-compare"],
                    "rtcdiag ice": ["ice", url, "-u", "bench"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):  # interleaved, so both see the same machine load
            for name, args in commands.items():
                times[name].append(timed(args, env))
    print(f"{'':<18}{'median s':>10}{'min s':>8}{'max s':>8}   ({repeats} runs each, same coturn)")
    for name, values in times.items():
        print(f"{name:<18}{statistics.median(values):>10.2f}{min(values):>8.2f}{max(values):>8.2f}")
    met = statistics.median(times["rtcdiag browser"]) <= 3.0
    print(f"target: rtcdiag browser <= 3 s (median): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()

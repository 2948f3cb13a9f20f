"""``turn-check --packets 10000``: throughput, loss and RTT of the data path, side by side with coturn's own
``turnutils_uclient`` on the same loopback coturn in the same run (issue 9: "measure the network, not the
tool": 1000 packets used to come back as 256).

- rtcdiag: ``python -m rtcdiag turn-check 127.0.0.1:PORT --transport udp|tcp --packets 10000 --json`` (CLI,
  start-up included): 10000 packets as Send indications and 10000 as ChannelData, each echoed by a local
  peer through the relay, at most 64 in flight.
- turnutils_uclient: ``-y -n 10000 -m 1 -l 16 -z 0`` (client to client through the relay, no pacing
  interval): it reports its own message count (4 streams of 10000), loss and average round trip.

Run: ``python benchmarks/bench_datapath.py``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time

from rtcdiag.coturn import CoturnOptions, start_coturn

PACKETS = 10_000


def _rtcdiag(port: int, password: str, transport: str) -> None:
    env = dict(os.environ, RTCDIAG_TURN_PASSWORD=password)
    begin = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{port}", "--transport",
                           transport, "-u", "alice", "--packets", str(PACKETS), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - begin
    report = json.loads(proc.stdout)
    paths = [d for server in report["results"]["turn"] for t in server["transports"] for d in t["data_paths"]]
    echoed = sum(d["packets_received"] for d in paths)
    sent = sum(d["packets_sent"] for d in paths)
    print(f"rtcdiag turn-check --transport {transport} --packets {PACKETS}: exit {proc.returncode}, "
          f"wall {wall:.2f} s (incl. start-up, allocation, release), {echoed}/{sent} echoed "
          f"({echoed / wall:.0f} echoes/s over the whole run)")
    for d in paths:
        print(f"    {d['method']:16s} {d['packets_received']}/{d['packets_sent']} back, "
              f"loss {d['loss_pct']}%, tool drops {d['tool_drops']}, "
              f"rtt min/avg/max {d['rtt_min_ms']}/{d['rtt_avg_ms']}/{d['rtt_max_ms']} ms")


def _uclient(port: int, password: str) -> None:
    begin = time.perf_counter()
    proc = subprocess.run(["turnutils_uclient", "-y", "-n", str(PACKETS), "-m", "1", "-l", "16", "-z", "0",
                           "-u", "alice", "-w", password, "-p", str(port), "127.0.0.1"],
                          capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - begin
    out = proc.stdout + proc.stderr
    sent = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", out)
    lost = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", out)
    rtt = re.search(r"Average round trip delay ([\d.]+) ms; min = (\d+) ms, max = (\d+) ms", out)
    msgs = f"{sent[-1][1]}/{sent[-1][0]} received" if sent else "?"
    print(f"turnutils_uclient -y -n {PACKETS} -m 1 -z 0 (UDP): exit {proc.returncode}, wall {wall:.2f} s, "
          f"{msgs} ({int(sent[-1][1]) / wall:.0f} messages/s)" if sent else f"uclient: {out[-500:]}")
    if lost and rtt:
        print(f"    lost {lost.group(1)} ({lost.group(2)}%), rtt avg {rtt.group(1)} ms "
              f"(min {rtt.group(2)} ms, max {rtt.group(3)} ms, whole milliseconds)")


def main() -> int:
    if shutil.which("turnserver") is None or shutil.which("turnutils_uclient") is None:
        print("coturn (turnserver, turnutils_uclient) is not installed: apt-get install coturn")
        return 2
    password = "bench-" + secrets.token_hex(8)
    with start_coturn(CoturnOptions(users={"alice": password})) as server:
        for transport in ("udp", "tcp"):
            _rtcdiag(server.port, password, transport)
        _uclient(server.port, password)
    return 0


if __name__ == "__main__":
    sys.exit(main())

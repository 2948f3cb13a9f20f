"""``rtcdiag load`` side by side with coturn's own ``turnutils_uclient`` load mode, same coturn, same run
(issue 26): packets per second per CPU second of the client, and loss.

- turnutils_uclient ``-y -c -m M -n N -l L -z Z``: M clients, each sending N messages of L bytes every Z ms to
  another client through their two relays (``-y``: client to client; ``-c``: no RTCP allocations). Every
  message it sends crosses the relay once; it prints its own totals (``tot_send_msgs``) and loss.
- ``rtcdiag load --streams M --rate 1000/Z --step-seconds N*Z/1000 --size L``: M allocations, each sending
  the same number of packets to a local echo peer through its relay and back. Each round trip is two
  packets the tool sends through the relay (the client's and the peer's echo), so the comparison counts
  packets sent into the relay by each tool: uclient's ``tot_send_msgs``, rtcdiag's sent + echoed.

CPU is the child process's user + system time (getrusage RUSAGE_CHILDREN), start-up, allocation and
release included for both. The machine is shared: run it a few times and compare the ratios, not the
absolute numbers. Then a ramp of rtcdiag alone against the same coturn shows where the knee is, and
whether this machine (the tool) or the server set it.

Run: ``python benchmarks/bench_load.py``.
"""

from __future__ import annotations

import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import time

from rtcdiag.coturn import CoturnOptions, start_coturn

CLIENTS = 50
MESSAGES = 1000
SIZE = 200
INTERVAL_MS = 10
ROUNDS = 2


Ran = tuple[subprocess.CompletedProcess[str], float, float]


def _child(argv: list[str], env: dict[str, str] | None = None) -> Ran:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)
    wall = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def _uclient(port: int, password: str) -> float:
    done, wall, cpu = _child(["turnutils_uclient", "-y", "-c", "-m", str(CLIENTS), "-n", str(MESSAGES),
                              "-l", str(SIZE), "-z", str(INTERVAL_MS), "-u", "alice", "-w", password,
                              "-p", str(port), "127.0.0.1"])
    out = done.stdout + done.stderr
    totals = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", out)
    lost = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", out)
    if not totals:
        print(f"turnutils_uclient: no totals (exit {done.returncode}): {out[-300:]}")
        return 0.0
    sent, received = (int(v) for v in totals[-1])
    rate = sent / cpu
    print(f"  turnutils_uclient -y -c -m {CLIENTS} -n {MESSAGES} -l {SIZE} -z {INTERVAL_MS}: wall "
          f"{wall:.1f} s, CPU {cpu:.2f} s, {received}/{sent} messages, "
          f"loss {lost.group(2) if lost else '?'}%: {rate:,.0f} packets into the relay per CPU second")
    return rate


def _rtcdiag(port: int, password: str) -> float:
    rate = 1000 / INTERVAL_MS
    seconds = MESSAGES * INTERVAL_MS / 1000
    env = dict(os.environ, RTCDIAG_TURN_PASSWORD=password)
    done, wall, cpu = _child([sys.executable, "-m", "rtcdiag", "load", f"127.0.0.1:{port}", "-u", "alice",
                              "--streams", str(CLIENTS), "--rate", f"{rate:g}", "--step-seconds",
                              f"{seconds:g}", "--size", str(SIZE), "--max-rtt-ms", "1000", "--json"], env)
    try:
        step = json.loads(done.stdout)["results"]["steps"][0]
    except (ValueError, KeyError, IndexError):
        print(f"rtcdiag load: no result (exit {done.returncode}): {done.stderr[-300:]}")
        return 0.0
    through = step["sent"] + step["echoed"]
    per_cpu = through / cpu
    print(f"  rtcdiag load --streams {CLIENTS} --rate {rate:g} --step-seconds {seconds:g} --size {SIZE}: "
          f"wall {wall:.1f} s, CPU {cpu:.2f} s, {step['echoed']}/{step['sent']} echoed, "
          f"loss {step['loss_pct']}%, own drops {step['tool_drops']}, RTT p95 {step['rtt_p95_ms']} ms: "
          f"{per_cpu:,.0f} packets into the relay per CPU second ({step['sent'] / cpu:,.0f} round trips)")
    return per_cpu


def _ramp(port: int, password: str) -> None:
    env = dict(os.environ, RTCDIAG_TURN_PASSWORD=password)
    done, wall, _ = _child([sys.executable, "-m", "rtcdiag", "load", f"127.0.0.1:{port}", "-u", "alice",
                            "--streams", "100:100:1000", "--rate", "50", "--step-seconds", "1",
                            "--max-duration", "60", "--json"], env)
    report = json.loads(done.stdout)
    print(f"  rtcdiag load --streams 100:100:1000 --rate 50: exit {done.returncode}, wall {wall:.1f} s")
    for step in report["results"]["steps"]:
        failure = step["failure"]
        outcome = f"{failure['code']} {failure['reason']}" if failure and failure["code"] else step["verdict"]
        print(f"    {step['streams']:5d} streams: {step['echoed']}/{step['sent']} echoed, loss "
              f"{step['loss_pct']}%, RTT p95 {step['rtt_p95_ms']} ms, allocations/s "
              f"{step['allocations_per_s']}, coturn CPU {step['server_cpu_pct']}%, rtcdiag CPU "
              f"{step['tool_cpu_pct']}%: {outcome} {step['note']}")
    print(f"    findings: {[f['id'] for f in report['findings']]}")


def main() -> int:
    if shutil.which("turnserver") is None or shutil.which("turnutils_uclient") is None:
        print("coturn (turnserver, turnutils_uclient) is not installed: apt-get install coturn")
        return 2
    password = "bench-" + secrets.token_hex(8)
    with start_coturn(CoturnOptions(users={"alice": password})) as server:
        ratios = []
        for round_number in range(1, ROUNDS + 1):
            print(f"round {round_number}: {CLIENTS} streams x {MESSAGES} packets of {SIZE} bytes every "
                  f"{INTERVAL_MS} ms, coturn pid {server.pid}")
            theirs = _uclient(server.port, password)
            ours = _rtcdiag(server.port, password)
            if theirs:
                ratios.append(ours / theirs)
                print(f"  ratio rtcdiag / turnutils_uclient: {ours / theirs:.2f}x packets per CPU second")
        if ratios:
            print(f"ratios: {', '.join(f'{r:.2f}' for r in ratios)}")
        print("ramp (rtcdiag alone, same coturn):")
        _ramp(server.port, password)
    return 0


if __name__ == "__main__":
    sys.exit(main())

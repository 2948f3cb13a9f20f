"""turn-check wall time vs coturn's own ``turnutils_uclient``, on the same loopback coturn in the same run.

- rtcdiag: three transports (UDP, TCP, TLS) concurrently, each with challenge, authenticated Allocate,
  Send/Data and ChannelBind+ChannelData data paths (5 packets each), Refresh and release. Measured in-process
  (``rtcdiag.probes.turn.check``) and through the CLI (``python -m rtcdiag turn-check``, includes start-up).
- turnutils_uclient: ONE transport (UDP) relay test, client-to-client through the relay (``-y``), 5 packets,
  its default settings (``turnutils_uclient -y -n 5 -m 1 -u alice -w ... -p PORT 127.0.0.1``).

- rtcdiag ``--family both --tcp-relay`` (issue 9) on a dual-stack coturn: per transport a dual allocation
  (coturn ignores ADDITIONAL-ADDRESS-FAMILY, so the IPv6 relay gets its own allocation), both data paths per
  family, and over TCP/TLS an RFC 6062 TCP relay (Connect, ConnectionBind, 5 chunks echoed); side by side with
  ``turnutils_uclient -t -T`` (its TCP-relay test, TCP control connection, client to client).

Target (issue 3): rtcdiag's three transports with the data path < 0.6 s.
Run: ``python benchmarks/bench_turn.py``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import replace

from rtcdiag.coturn import CoturnOptions, start_coturn
from rtcdiag.probes import turn
from rtcdiag.probes.turn_result import RelayFamily
from rtcdiag.targets import parse_target

REPEATS = 5
UCLIENT_REPEATS = 3


def _median_s(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> int:
    if shutil.which("turnserver") is None or shutil.which("turnutils_uclient") is None:
        print("coturn (turnserver, turnutils_uclient) is not installed: apt-get install coturn")
        return 2
    password = "bench-" + secrets.token_hex(8)
    dual = ("127.0.0.1", "::1") if _have_ipv6() else ("127.0.0.1",)
    with start_coturn(CoturnOptions(users={"alice": password}, self_signed=True, listening_ips=dual,
                                    relay_ips=dual)) as server:
        assert server.ca_cert is not None and server.tls_port is not None
        target = parse_target(f"127.0.0.1:{server.port}", default_scheme="turn")
        options = turn.TurnCheckOptions(username="alice", password=password, ca_file=str(server.ca_cert),
                                        tls_port=server.tls_port)

        in_process: list[float] = []
        for _ in range(REPEATS):
            begin = time.perf_counter()
            result = asyncio.run(turn.check(target, options))
            in_process.append(time.perf_counter() - begin)
            assert all(t.allocated and t.released for t in result.transports), "turn-check failed"
            assert all(d.packets_received == d.packets_sent for t in result.transports for d in t.data_paths)

        cli: list[float] = []
        env = dict(os.environ, RTCDIAG_TURN_PASSWORD=password)
        for _ in range(REPEATS):
            begin = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", f"127.0.0.1:{server.port}",
                                   "--tls-port", str(server.tls_port), "--ca", str(server.ca_cert), "-u",
                                   "alice", "--json"], env=env, capture_output=True, text=True, timeout=60)
            cli.append(time.perf_counter() - begin)
            assert proc.returncode == 0, proc.stdout[-2000:]

        full = replace(options, families=(RelayFamily.IPV4, RelayFamily.IPV6) if len(dual) == 2 else
                       (RelayFamily.IPV4,), tcp_relay=True)
        families: list[float] = []
        for _ in range(REPEATS):
            begin = time.perf_counter()
            result = asyncio.run(turn.check(target, full))
            families.append(time.perf_counter() - begin)
            assert all(r.relayed_address for t in result.transports for r in t.relays), "a family failed"
            assert all(t.tcp_relay.chunks_echoed == 5 for t in result.transports if t.tcp_relay), "TCP relay"
            assert all(d.packets_received == d.packets_sent for t in result.transports for d in t.data_paths)

        start = time.perf_counter()
        proc = subprocess.run(["turnutils_uclient", "-y", "-t", "-T", "-n", "5", "-m", "1", "-u", "alice",
                               "-w", password, "-p", str(server.port), "127.0.0.1"],
                              capture_output=True, text=True, timeout=60)
        uclient_tcp = time.perf_counter() - start
        assert proc.returncode == 0 and "Total lost packets 0" in proc.stdout, proc.stdout[-2000:]

        uclient: list[float] = []
        for _ in range(UCLIENT_REPEATS):
            begin = time.perf_counter()
            proc = subprocess.run(["turnutils_uclient", "-y", "-n", "5", "-m", "1", "-u", "alice", "-w",
                                   password, "-p", str(server.port), "127.0.0.1"],
                                  capture_output=True, text=True, timeout=60)
            uclient.append(time.perf_counter() - begin)
            assert proc.returncode == 0 and "Total lost packets 0" in proc.stdout, proc.stdout[-2000:]

    ours, ours_cli, theirs = _median_s(in_process), _median_s(cli), _median_s(uclient)
    print(f"rtcdiag turn-check, 3 transports + data path (in-process): median {ours * 1000:.0f} ms "
          f"(min {min(in_process) * 1000:.0f} ms, {REPEATS} runs)  target < 600 ms: "
          f"{'OK' if ours < 0.6 else 'MISSED'}")
    print(f"rtcdiag turn-check CLI incl. interpreter start-up:          median {ours_cli * 1000:.0f} ms")
    print(f"turnutils_uclient, 1 transport (UDP) relay test:           median {theirs * 1000:.0f} ms "
          f"({UCLIENT_REPEATS} runs)")
    print(f"ratio turnutils_uclient / rtcdiag: {theirs / ours:.1f}x in-process, {theirs / ours_cli:.1f}x CLI")
    both = _median_s(families)
    print(f"rtcdiag --family both --tcp-relay, 3 transports (in-process): median {both * 1000:.0f} ms "
          f"(min {min(families) * 1000:.0f} ms, {REPEATS} runs, families {len(dual)})")
    print(f"turnutils_uclient -t -T, TCP relay over TCP (1 run):        {uclient_tcp * 1000:.0f} ms")
    return 0


def _have_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())

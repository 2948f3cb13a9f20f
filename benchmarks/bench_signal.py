"""``rtcdiag signal``: one wss:// URL through an HTTP proxy, the full check without ``--idle``, against a bare
``websockets.connect`` + one echo through the same proxy — side by side, in the same run, same peers.

Peers (tests/signal_peers.py, all on loopback): a ``websockets`` echo server over TLS (certificate from a CA
made here) and squid (default) or tinyproxy (``--proxy tinyproxy``) opening CONNECT tunnels to
it. Per round, alternating:

- ``rtcdiag``: ``await rtcdiag.probes.signal.check(...)``: resolve, connect to the proxy, CONNECT, TLS
  (verified, chain decoded) and the same handshake made directly (the interception comparison), the RFC 6455
  upgrade, one message + ping/pong, one 32 KiB message + ping, the close handshake;
- ``websockets``: ``websockets.connect(url, proxy=..., ssl=ctx)``, one send/recv, close.

Both in this process (an event loop per round), wall time from ``perf_counter``. Run:
``python benchmarks/bench_signal.py [--rounds N]``. Printed, never asserted; the target is a ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from free_ports import free_port
from signal_peers import peers


async def _rtcdiag(url: str, proxy: str, ca: Path) -> float:
    from rtcdiag.probes import signal as probe
    from rtcdiag.probes.signal_url import choose_proxy, parse_proxy, parse_signal_url

    target_url = parse_signal_url(url)
    target = probe.SignalTarget(target_url, choose_proxy(target_url, option=parse_proxy(proxy)))
    started = time.perf_counter()
    result = await probe.check([target], probe.SignalOptions(ca_file=ca))
    took = time.perf_counter() - started
    one = result.urls[0]
    assert one.echo is not None and one.echo.echo.value == "echoed", "the check did not reach the echo"
    return took


async def _websockets(url: str, proxy: str, ca: Path) -> float:
    from websockets.asyncio.client import connect

    context = ssl.create_default_context(cafile=str(ca))
    started = time.perf_counter()
    async with connect(url, proxy=proxy, ssl=context, compression=None) as socket:
        await socket.send("hello")
        assert await socket.recv() == "hello"
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--proxy", choices=("squid", "tinyproxy"), default="squid")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rtcdiag-bench-signal-"))
    root.chmod(0o755)
    try:
        with peers(root) as started:
            ca = started.make_ca("server-ca", "bench server CA")
            cert, key = started.make_server_cert(ca)
            port = started.echo_servers({"wss": ["--cert", str(cert), "--key", str(key)]})["wss"]
            proxy_port = free_port()
            if args.proxy == "tinyproxy":
                started.tinyproxy(proxy_port, port)
            else:
                started.squid(plain=proxy_port, bump_upgrade=free_port(), bump_no_upgrade=free_port(),
                              ssl_ports=port, server_ca=ca[0],
                              inspection_ca=started.make_ca("inspection-ca", "bench inspection"))
            url, proxy = f"wss://127.0.0.1:{port}/", f"http://127.0.0.1:{proxy_port}"
            times: dict[str, list[float]] = {"rtcdiag": [], "websockets": []}
            asyncio.run(_rtcdiag(url, proxy, ca[0]))  # warm-up: imports, contexts, tinyproxy
            asyncio.run(_websockets(url, proxy, ca[0]))
            for _ in range(args.rounds):
                times["rtcdiag"].append(asyncio.run(_rtcdiag(url, proxy, ca[0])))
                times["websockets"].append(asyncio.run(_websockets(url, proxy, ca[0])))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    medians = {name: statistics.median(values) * 1000.0 for name, values in times.items()}
    for name, values in times.items():
        ms = sorted(v * 1000.0 for v in values)
        print(f"{name:10s} median {medians[name]:7.2f} ms  min {ms[0]:7.2f}  max {ms[-1]:7.2f}  "
              f"({len(ms)} rounds)")
    print(f"through {args.proxy}: ratio rtcdiag / websockets (medians): "
          f"{medians['rtcdiag'] / medians['websockets']:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()

"""TLS client contexts: 20 ``turns:`` targets with one shared SSL context per (CA file, insecure) vs a fresh
context (and a fresh load of the system trust store) for every TLS connection, as before.

One coturn listens on 127.0.0.1 .. 127.0.0.20 with a self-signed certificate; ``rtcdiag check`` gets the 20
``turns:IP:TLSPORT?transport=tcp`` URLs with ``--ca`` (every check that speaks TLS runs: ports with the
certificate inspection, STUN over TLS, the TURN session over TLS, ICE through each URL). Side by side, in the
same run and against the same server:

- ``shared``: rtcdiag as it is (``rtcdiag.tls.shared_context``: one context per CA file content, insecure,
  ALPN; the system store loaded once);
- ``fresh``: the same child with ``shared_context`` patched to build a new context every time (what every
  TLS probe did before);
- ``--insecure``: shared contexts, verification off; each server's certificate is still inspected once
  aside (for the TLS-CERT-IGNORED warnings) - what that costs, for the record.

Wall and CPU time come from ``wait4()`` of the child. Run: ``python benchmarks/bench_tls.py [--runs N]``.
The result is printed, never asserted (no target: the ratio is what is reported).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
from pathlib import Path

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn

SERVERS = 20

# The child: rtcdiag's CLI, optionally with every TLS context built afresh (the behaviour before the cache).
_CHILD = """
import sys
if sys.argv[1] == "fresh":
    import rtcdiag.tls as tls
    tls.shared_context = lambda key, ca_file, build: build()
    import rtcdiag.probes.tls_info as info
    info.shared_context = tls.shared_context
from rtcdiag.cli import main
main(sys.argv[2:])
"""


def urls(server: RunningCoturn) -> list[str]:
    return [f"turns:{ip}:{server.tls_port}?transport=tcp" for ip in server.listening_ips]


def argv(server: RunningCoturn, mode: str, tls: list[str]) -> list[str]:
    return [sys.executable, "-c", _CHILD, mode, "check", *urls(server), "-u", "alice", "--password-env",
            "BENCH_TURN_PW", *tls]


def main(args: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.bench_check import child_env, measure

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args(args).runs
    password = "bench-" + secrets.token_hex(8)
    ips = tuple(f"127.0.0.{n}" for n in range(1, SERVERS + 1))
    options = CoturnOptions(listening_ips=ips, users={"alice": password}, self_signed=True,
                            allow_loopback_peers=True)
    with start_coturn(options) as server:
        env = {**child_env(password), "BENCH_TURN_PW": password}
        ca = ["--ca", str(server.ca_cert)]
        print(f"rtcdiag check, {SERVERS} turns: URLs on one loopback coturn (TLS), {runs} runs each:")
        medians: dict[str, tuple[float, float]] = {}
        variants = (("fresh context per connection", "fresh", ca), ("shared contexts", "shared", ca),
                    ("shared, --insecure", "shared", ["--insecure"]))
        for label, mode, tls in variants:
            samples = measure(argv(server, mode, tls), env, runs)
            wall = statistics.median(s.wall_s for s in samples)
            cpu = statistics.median(s.cpu_s for s in samples)
            codes = sorted({s.exit_code for s in samples})
            medians[label] = (wall, cpu)
            print(f"  {label:<30} wall median {wall:6.3f} s (min {min(s.wall_s for s in samples):.3f})  "
                  f"cpu median {cpu:6.3f} s  exit {codes}")
        (fresh_wall, fresh_cpu), (shared_wall, shared_cpu) = medians["fresh context per connection"], \
            medians["shared contexts"]
        print(f"  fresh / shared: wall x{fresh_wall / shared_wall:.2f}, cpu x{fresh_cpu / shared_cpu:.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())

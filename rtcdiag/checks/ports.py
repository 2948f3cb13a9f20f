"""The ports check: which STUN/TURN ports of one host answer over UDP, TCP and TLS (probe ``reach``, with an
optional path trace), judged by ``triage.reach``.

A bug in one port's probe is recorded on that port (INTERNAL-ERROR on its step, exit 4) while every other
port is still probed and reported; a crash anywhere else becomes the engine's INTERNAL-ERROR for the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtcdiag.checks.engine import Check
from rtcdiag.probes import reach
from rtcdiag.probes.reach import PortTarget, ReachResult
from rtcdiag.triage import reach as rules


@dataclass(frozen=True)
class PortsPlan:
    host: str  # a name (resolved once; the first address is probed) or an IP literal
    targets: list[PortTarget] = field(default_factory=lambda: list(reach.DEFAULT_PORTS))
    timeout: float = reach.DEFAULT_TIMEOUT_S
    ca_file: Path | None = None
    insecure: bool = False
    server_name: str | None = None  # SNI and certificate name (default: host)
    trace: bool = False  # TTL-limited path trace per port (root only)
    max_hops: int = 16


async def _run(plan: PortsPlan) -> ReachResult:
    return await reach.check(plan.host, plan.targets, timeout=plan.timeout, ca_file=plan.ca_file,
                             insecure=plan.insecure, server_name=plan.server_name, trace=plan.trace,
                             max_hops=plan.max_hops)


PORTS: Check[PortsPlan, ReachResult] = Check("ports", _run, rules.judge)

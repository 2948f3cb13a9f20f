"""The ports check: which STUN/TURN ports of one host answer over UDP, TCP and TLS (probe ``reach``, with an
optional path trace), judged by ``triage.reach``.

A bug in one port's probe is recorded on that port (INTERNAL-ERROR on its step, exit 4) while every other
port is still probed and reported; a crash anywhere else becomes the engine's INTERNAL-ERROR for the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import ServerPlan, server_transports
from rtcdiag.checks.registry import Cell, Combine, Entry, Labels, Sample
from rtcdiag.probes import reach
from rtcdiag.probes.reach import PortTarget, ReachResult
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import reach as rules
from rtcdiag.triage.judgement import Facts


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


def server_job(plan: ServerPlan, timeouts: Timeouts) -> Job[PortsPlan, ReachResult] | None:
    wanted: list[PortTarget] = []
    for target in server_transports(plan):
        port_target = PortTarget(transport=target.transport or "udp", port=target.port)
        if port_target not in wanted:
            wanted.append(port_target)
    return Job(PORTS, PortsPlan(plan.host, wanted, timeout=timeouts.transaction_s, ca_file=plan.ca,
                                insecure=plan.insecure), plan.subject, f"ports {plan.label}")


def cells(result: ReachResult, label: Labels) -> list[Cell]:
    where = label.get(result.host, result.host)
    out: list[Cell] = []
    for port in result.ports:
        rtt = f" {port.rtt_ms:.0f} ms" if port.rtt_ms is not None else ""
        out.append((where, port.transport, "port", f"{port.port} {port.state}{rtt}"))
    return out


def short_cells(result: ReachResult, label: Labels) -> list[Cell]:
    where = label.get(result.host, result.host)
    return [(where, port.transport, "port", f"port {port.port} {port.state}") for port in result.ports
            if port.state != "open"]


def metrics(result: ReachResult, facts: Facts) -> list[Sample]:
    """When each TLS port's leaf certificate expires (Unix time)."""
    out: list[Sample] = []
    for port in result.ports:
        if port.tls is None or not port.tls.chain:
            continue
        expires_at = port.tls.chain[0].expires_at
        if expires_at is not None:
            out.append(Sample("rtcdiag_tls_certificate_expiry_timestamp_seconds", expires_at.timestamp(),
                              (port.port,), Combine.MIN))
    return out


ENTRIES = (Entry(PORTS, ReachResult, server_job=server_job, cells=cells, short_cells=short_cells,
                 metrics=metrics),)

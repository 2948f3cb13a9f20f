"""The ports check: which STUN/TURN ports of one host answer over UDP, TCP and TLS (probe ``reach``, with an
optional path trace), judged by ``triage.reach``.

A bug in one port's probe is recorded on that port (INTERNAL-ERROR on its step, exit 4) while every other
port is still probed and reported; a crash anywhere else becomes the engine's INTERNAL-ERROR for the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import ServerPlan, server_transports
from rtcdiag.checks.registry import Cell, Combine, Entry, Labels, Sample
from rtcdiag.probes import reach
from rtcdiag.probes.reach import DEFAULT_PORTS as DEFAULT_PORTS  # the well-known ports, for ``rtcdiag ports``
from rtcdiag.probes.reach import PortResult
from rtcdiag.probes.reach import PortTarget as PortTarget  # the plan's port type, for commands
from rtcdiag.probes.reach import ReachResult as ReachResult  # the result type, for commands
from rtcdiag.probes.reach import merge_targets as merge_targets  # the ports asked for + the defaults
from rtcdiag.redact import echo
from rtcdiag.report.model import Table
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
PORT_TRANSPORTS = reach.TRANSPORTS  # udp, tcp, tls: what ``rtcdiag ports`` probes a port over


def trace_permitted() -> bool:
    """May ``--trace`` send TTL-limited probes (root: raw sockets, CAP_NET_RAW)? Asked before any traffic."""
    from rtcdiag.probes.trace import TraceNotPermitted, require_root

    try:
        require_root()
    except TraceNotPermitted:
        return False
    return True


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


# --- ``rtcdiag ports``'s tables -------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def tables(result: ReachResult) -> list[Table]:
    """The console/Markdown tables for a ReachResult: port matrix, TLS details, traces."""
    where = result.host if result.address in (None, result.host) else f"{result.host} ({result.address})"
    rows = []
    for p in result.ports:
        detail = p.internal_error or p.error or p.malformed or (f"mapped {p.mapped_address}"
                                                                if p.mapped_address else "")
        rows.append([p.transport.upper(), str(p.port), p.state, _ms(p.rtt_ms), p.stun, detail])
    if result.resolve_error is not None:
        rows = [[t.transport.upper(), str(t.port), "not probed", "-", "-", "name does not resolve"]
                for t in result.planned]
    out = [Table(title=f"Ports on {where}",
                 columns=["transport", "port", "state", "RTT ms", "STUN", "detail"], rows=rows)]
    tls_rows = []
    for p in result.ports:
        info = p.tls
        if info is None or not info.handshake_ok:
            continue
        leaf = info.chain[0] if info.chain else None
        trusted = {True: "yes", False: f"no ({info.verify_error})", None: "not checked"}[info.trusted]
        name = {True: "yes", False: "no", None: "not checked"}[info.hostname_match]
        days = "-" if leaf is None or leaf.days_to_expiry is None else f"{leaf.days_to_expiry:.0f}"
        tls_rows.append([str(p.port), info.version or "-", info.alpn_selected or "none", trusted,
                         f"{name} ({info.server_name})", days, echo(leaf.subject) if leaf else "-",
                         echo(leaf.issuer) if leaf else "-", str(len(info.chain))])
    if tls_rows:
        out.append(Table(title="TLS", columns=["port", "version", "ALPN", "trusted", "host name",
                                               "days to expiry", "subject", "issuer", "chain"],
                         rows=tls_rows))
    trace_rows = []
    for t in result.traces:
        hops = " > ".join(f"{h.ttl}:{h.address or '*'}" for h in t.hops) or "-"
        where_hop = "-"
        if t.last_answer_hop is not None:
            where_hop = f"hop {t.last_answer_hop} ({t.last_answer_address})"
        trace_rows.append([t.transport.upper(), str(t.port), t.outcome, where_hop,
                           "yes" if t.icmp_port_unreachable else "no", t.error or hops])
    if trace_rows:
        out.append(Table(title="Path trace", columns=["transport", "port", "outcome", "last answer",
                                                      "ICMP port unreachable", "hops"], rows=trace_rows))
    return out


def _tls_words(p: PortResult) -> str:
    info = p.tls
    if info is None or not info.handshake_ok:
        return ""
    leaf = info.chain[0] if info.chain else None
    words = [info.version or "TLS"]
    if info.trusted is False:
        words.append("untrusted")
    if info.hostname_match is False:
        names = ", ".join(echo(n) for n in (leaf.san_dns + leaf.san_ip)[:4]) if leaf else ""
        words.append(f"certificate for {names or '?'}, not {info.server_name}")
    if leaf is not None and leaf.days_to_expiry is not None:
        words.append(f"expires in {leaf.days_to_expiry:.0f} days" if leaf.days_to_expiry >= 0 else "EXPIRED")
    return ", ".join(words)


def summary_table(result: ReachResult, unasked: Sequence[PortTarget]) -> Table:
    """One line per port: its state, the RTT, what the STUN Binding got, the certificate in short."""
    rows: list[list[str]] = []
    for p in sorted(result.ports, key=lambda p: p.target in unasked):  # what was asked for first
        words = [p.state + (" (not asked)" if p.target in unasked else "")]
        if p.rtt_ms is not None:
            words.append(f"{p.rtt_ms:.1f} ms")
        if p.mapped_address:
            words.append(f"STUN ok, mapped {p.mapped_address}")
        elif p.state == reach.OPEN and p.stun != "not-tried":
            words.append(f"STUN {p.stun}")
        tls = _tls_words(p)
        if tls:
            words.append(tls)
        if p.error and p.state != reach.OPEN:
            words.append(p.error)
        rows.append([p.transport.upper(), str(p.port), ", ".join(words)])
    if result.resolve_error is not None:
        rows = [[t.transport.upper(), str(t.port), f"not probed: {result.resolve_error}"]
                for t in result.planned]
    return Table(title=f"Ports on {result.host}", columns=["transport", "port", "result"], rows=rows)

"""The ICE check: two real aioice agents per URL connect through the server (probe), judged by
``triage.ice``; plus the plan helpers and tables ``rtcdiag ice`` and ``rtcdiag check`` share."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import ServerPlan, usable_ice_targets
from rtcdiag.checks.registry import Cell, Entry, Labels
from rtcdiag.probes.ice import IceOptions, IceResult, IceRun, probe
from rtcdiag.probes.ice import IceServer as IceServer  # the plan's server type, for commands
from rtcdiag.report.model import Table
from rtcdiag.targets import Target
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import ice as rules


@dataclass(frozen=True)
class IcePlan:
    servers: list[IceServer]
    options: IceOptions


async def _run(plan: IcePlan) -> IceResult:
    return await probe(plan.servers, plan.options)


ICE: Check[IcePlan, IceResult] = Check(rules.CHECK, _run, rules.judge)


def ice_servers_from_targets(targets: list[Target]) -> list[IceServer]:
    """Targets -> ICE server URLs as a browser takes them: a ``turn:`` URL without ``?transport=`` means
    UDP (Chromium); ``turns:`` is TLS over TCP; ``stuns:`` is skipped (aioice gathers srflx over UDP only)."""
    servers: list[IceServer] = []
    for target in targets:
        scheme = target.scheme
        if scheme == "stuns":
            continue
        transport = "tcp" if scheme == "turns" else (target.transport or "udp")
        url = target.uri if target.transport or scheme in ("stun", "turns") else f"{target.uri}?transport=udp"
        servers.append(IceServer(url=url, scheme=scheme, host=target.host, port=target.port,
                                 transport=transport, username=target.username, password=target.credential))
    return servers


# --- tables ------------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def candidate_table(run: IceRun) -> Table:
    """Every gathered candidate of one URL, as the Trickle ICE page shows them."""
    rows = [[c.agent, c.type, c.foundation[:8], c.protocol, c.address, str(c.port), str(c.priority),
             c.relay_protocol or "-", c.url or "-"] for c in run.candidates]
    return Table(title=f"ICE candidates via {run.url}",
                 columns=["agent", "type", "foundation", "protocol", "address", "port", "priority",
                          "relay protocol", "URL"], rows=rows)


def _connected(run: IceRun) -> str:
    if run.scheme == "stun":
        return "n/a (STUN)"
    if run.connected:
        return _ms(run.connect_ms)
    return "FAILED" if run.attempted_connect else "not tried"


def summary_table(result: IceResult) -> Table:
    """One row per URL: time to the first candidate of each type, to connected, the pair, the data."""
    rows: list[list[str]] = []
    for run in result.runs:
        first = run.first_candidate_ms
        data = (f"{run.packets_received}/{run.packets_sent} pkts, {run.bytes_received} B"
                if run.packets_sent else "-")
        rows.append([run.url, _ms(first.get("host")), _ms(first.get("srflx")), _ms(first.get("relay")),
                     _connected(run), rules.pair_text(run), data])
    return Table(title="ICE end to end", columns=["server", "first host", "first srflx", "first relay",
                                                 "connected", "selected pair", "data through"], rows=rows)


def short_table(result: IceResult) -> Table:
    """One line per URL: the candidates gathered (by type), connected or not, the pair, echoes and RTT."""
    rows: list[list[str]] = []
    for run in result.runs:
        kinds: dict[str, int] = {}
        for c in run.candidates:
            kinds[c.type] = kinds.get(c.type, 0) + 1
        words = [", ".join(f"{n} {kind}" for kind, n in kinds.items()) or "no candidates"]
        if run.scheme != "stun":
            words.append("connected" if run.connected else "ICE FAILED" if run.attempted_connect
                         else "not connected (no relay candidate)")
            if run.connected:
                words.append(rules.pair_text(run))
            if run.packets_sent:
                rtt = f", rtt {_ms(sum(run.rtts_ms) / len(run.rtts_ms))}" if run.rtts_ms else ""
                words.append(f"{run.packets_received}/{run.packets_sent} echoed{rtt}")
        if run.error:
            words.append(run.error)
        rows.append([run.url, "; ".join(words)])
    return Table(title="ICE by URL", columns=["server", "result"], rows=rows)


def ice_tables(result: IceResult) -> list[Table]:
    """The summary, then one candidate table per URL that gathered any."""
    return [summary_table(result), *(candidate_table(run) for run in result.runs if run.candidates)]


def ice_notes(result: IceResult) -> list[str]:
    if any(run.scheme == "stun" and not run.candidates for run in result.runs):
        return ["aioice makes no host candidate for 127.0.0.1: on a machine whose only interface is loopback "
                "there is nothing to ask a STUN server from."]
    return []


def server_cell(run: IceRun) -> tuple[str, str]:
    """(transport, text) of one URL for a per-server x transport table (``rtcdiag check``)."""
    transport = rules.subject(run).transport or "udp"
    if run.scheme == "stun":
        srflx = next((c for c in run.candidates if c.type == "srflx"), None)
        return transport, f"srflx {srflx.address}" if srflx else "no srflx"
    if run.connected:
        return transport, (f"connected {run.connect_ms or 0.0:.0f} ms, "
                           f"{run.packets_received}/{run.packets_sent} echoed")
    return transport, "FAILED" if run.attempted_connect else "no relay"


PACKETS = 3  # data messages per connected pair in ``rtcdiag check``


def ice_options(timeouts: Timeouts, *, packets: int, relay_only: bool = False,
                ssl_context: ssl.SSLContext | None = None) -> IceOptions:
    """The ICE agents' options from the run's timeouts (``check``, ``ice``, and ``browser``'s comparison)."""
    return IceOptions(relay_only=relay_only, packets=packets, gather_timeout_s=timeouts.ice_gather_s,
                      connect_timeout_s=timeouts.ice_connect_s, ssl_context=ssl_context)


def tls_context(servers: list[IceServer], ca_file: str | None, insecure: bool) -> ssl.SSLContext | None:
    """The TLS client context of the ``turns:`` servers among ``servers``; None when there is none (the agents
    use it for ``turns:`` only, and building it loads the system trust store: ~20 ms of CPU)."""
    if not any(server.scheme == "turns" for server in servers):
        return None
    from rtcdiag.tls import make_client_context

    return make_client_context(ca_file, insecure=insecure)


def server_job(plan: ServerPlan, timeouts: Timeouts) -> Job[IcePlan, IceResult] | None:
    servers = ice_servers_from_targets(usable_ice_targets([plan]))
    if not servers:
        return None
    options = ice_options(timeouts, packets=PACKETS,
                          ssl_context=tls_context(servers, plan.ca_file, plan.insecure))
    return Job(ICE, IcePlan(servers, options), plan.subject, f"ice {plan.label}")


def cells(result: IceResult, label: Labels) -> list[Cell]:
    out: list[Cell] = []
    for run in result.runs:
        transport, text = server_cell(run)
        out.append((label.get(run.server_host, run.server_host), transport, "ice", text))
    return out


def short_cells(result: IceResult, label: Labels) -> list[Cell]:
    out: list[Cell] = []
    for run in result.runs:
        if run.scheme == "stun":
            continue
        transport = server_cell(run)[0]
        text = "connected" if run.connected else "FAILED" if run.attempted_connect else "no relay"
        out.append((label.get(run.server_host, run.server_host), transport, "ice", f"ICE {text}"))
    return out


ENTRIES = (Entry(ICE, IceResult, server_job=server_job, cells=cells, short_cells=short_cells),)

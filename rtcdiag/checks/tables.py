"""Cells of the ``rtcdiag check`` per-server x transport table, from each check's typed result."""

from __future__ import annotations

from typing import Any

from rtcdiag.checks.engine import Ran
from rtcdiag.probes.binding import BindingResult
from rtcdiag.probes.ice import IceResult
from rtcdiag.probes.reach import ReachResult
from rtcdiag.probes.turn_result import TransportResult, TurnCheckResult
from rtcdiag.redact import echo

Cell = tuple[str, str, str, str]  # server label, transport, column, text


def _stun(results: list[BindingResult], label: dict[str, str]) -> list[Cell]:
    out: list[Cell] = []
    for r in results:
        where = label.get(r.host, r.host)
        if r.outcome == "success" and r.rtt_ms is not None:
            out.append((where, r.transport, "stun", f"{r.mapped_address} {r.rtt_ms:.1f} ms"))
        else:
            out.append((where, r.transport, "stun", r.error or str(r.outcome)))
    return out


def _turn_transport(where: str, t: TransportResult) -> list[Cell]:
    if t.allocated:
        out = [(where, t.transport, "turn", f"relay {t.relayed_address}")]
    else:
        why = (f"{t.error_code} {echo(t.error_reason) if t.error_reason else ''}".strip() if t.error_code
               else t.connect_error or t.timed_out_step or "no allocation")
        out = [(where, t.transport, "turn", str(why))]
    for dp in t.data_paths:
        rtt = f", {dp.rtt_avg_ms} ms" if dp.rtts_ms else ""
        out.append((where, t.transport, "data", f"{dp.method} {dp.packets_received}/{dp.packets_sent}{rtt}"))
    return out


def _turn(results: list[TurnCheckResult], label: dict[str, str]) -> list[Cell]:
    return [cell for r in results for t in r.transports
            for cell in _turn_transport(label.get(r.host, r.host), t)]


def _ports(result: ReachResult, label: dict[str, str]) -> list[Cell]:
    where = label.get(result.host, result.host)
    out: list[Cell] = []
    for port in result.ports:
        rtt = f" {port.rtt_ms:.0f} ms" if port.rtt_ms is not None else ""
        out.append((where, port.transport, "port", f"{port.port} {port.state}{rtt}"))
    return out


def _ice(result: IceResult, label: dict[str, str]) -> list[Cell]:
    from rtcdiag.checks.ice import server_cell

    out: list[Cell] = []
    for run in result.runs:
        transport, text = server_cell(run)
        out.append((label.get(run.server_host, run.server_host), transport, "ice", text))
    return out


def cells(ran: Ran[Any], label: dict[str, str]) -> list[Cell]:
    """The table cells one check's result contributes (none for a check that crashed or has no column)."""
    result = ran.result
    if result is None:
        return []
    if ran.check == "stun":
        return _stun(result, label)
    if ran.check == "turn":
        return _turn(result, label)
    if ran.check == "ports":
        return _ports(result, label)
    if ran.check == "ice":
        return _ice(result, label)
    return []

"""Cells of the ``rtcdiag check`` per-server x transport table and of its one-line summary, from each check's
typed result."""

from __future__ import annotations

from typing import Any

from rtcdiag.checks.engine import Ran
from rtcdiag.probes.binding import BindingResult
from rtcdiag.probes.ice import IceResult
from rtcdiag.probes.reach import ReachResult
from rtcdiag.probes.turn_result import DataPathResult, TransportResult, TurnCheckResult
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


# --- the one-line-per-server x transport summary (what the console shows under the verdict) ---------------


def data_summary(paths: list[DataPathResult]) -> str:
    """Every data-path method of one relay together: ``0% loss (10/10), rtt 0.21 ms`` (RTT the average of
    every echo), or why no data was measured."""
    sent = sum(dp.packets_sent for dp in paths)
    if not sent:
        reasons = [(dp.local_error and "data not tried (no local peer)") or dp.error for dp in paths]
        reason = next((r for r in reasons if r), None)
        return f"no data: {reason}" if reason else "no data sent"
    received = sum(dp.packets_received for dp in paths)
    rtts = [rtt for dp in paths for rtt in dp.rtts_ms]
    loss = 100.0 * (sent - received) / sent
    text = f"{loss:.3g}% loss ({received}/{sent})"
    if rtts:
        text += f", rtt {_ms(sum(rtts) / len(rtts))}"
    return text


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def turn_outcome(t: TransportResult) -> str:
    """What one TURN transport came to, in a few words: ``relay 1.2.3.4:50000``, ``401 Unauthorized``,
    ``refused``, ``no answer``."""
    if t.allocated:
        return f"relay {t.relayed_address}" if t.relayed_address else "allocated"
    if t.error_code is not None:
        return f"{t.error_code} {echo(t.error_reason)}".strip() if t.error_reason else f"error {t.error_code}"
    if t.certificate_problem and not t.connected:
        return f"certificate refused: {t.certificate_problem}"
    if t.failure_kind:
        return str(t.failure_kind)
    if t.connect_error:
        return "no connection"
    return f"no answer to {t.timed_out_step}" if t.timed_out_step else "no allocation"


def _short_turn(where: str, t: TransportResult) -> list[Cell]:
    out = [(where, t.transport, "result", turn_outcome(t))]
    if t.allocated and t.data_paths:
        out.append((where, t.transport, "data", data_summary(t.data_paths)))
    return out


def _short_stun(results: list[BindingResult], label: dict[str, str]) -> list[Cell]:
    out: list[Cell] = []
    for r in results:
        where = label.get(r.host, r.host)
        if r.outcome == "success":
            rtt = f", rtt {_ms(r.rtt_ms)}" if r.rtt_ms is not None else ""
            out.append((where, r.transport, "stun", f"mapped {r.mapped_address}{rtt}"))
        else:
            out.append((where, r.transport, "stun", f"STUN {r.error_kind or r.outcome}"))
    return out


def _short_ports(result: ReachResult, label: dict[str, str]) -> list[Cell]:
    where = label.get(result.host, result.host)
    return [(where, port.transport, "port", f"port {port.port} {port.state}") for port in result.ports
            if port.state != "open"]


def _short_ice(result: IceResult, label: dict[str, str]) -> list[Cell]:
    from rtcdiag.checks.ice import server_cell

    out: list[Cell] = []
    for run in result.runs:
        if run.scheme == "stun":
            continue
        transport = server_cell(run)[0]
        text = "connected" if run.connected else "FAILED" if run.attempted_connect else "no relay"
        out.append((label.get(run.server_host, run.server_host), transport, "ice", f"ICE {text}"))
    return out


def _short_signal(result: Any) -> list[Cell]:
    """One line per signalling URL (its scheme as the transport): where it stopped, or the open WebSocket."""
    from rtcdiag.checks.signal import url_outcome

    return [(url.url, url.scheme, "result", url_outcome(url)) for url in result.urls]


def short_cells(ran: Ran[Any], label: dict[str, str]) -> list[Cell]:
    """The cells of one check in the one-line summary of ``rtcdiag check`` (column ``result``, ``data``,
    ``stun``, ``port`` or ``ice``; a signalling URL's ``result``)."""
    result = ran.result
    if result is None:
        return []
    if ran.check == "turn":
        return [cell for r in result for t in r.transports
                for cell in _short_turn(label.get(r.host, r.host), t)]
    if ran.check == "stun":
        return _short_stun(result, label)
    if ran.check == "ports":
        return _short_ports(result, label)
    if ran.check == "ice":
        return _short_ice(result, label)
    if ran.check == "signal":
        return _short_signal(result)
    return []

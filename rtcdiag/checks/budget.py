"""The budget check: inputs (and the limits of a turnserver.conf, read by the command) -> the computed budget
(``triage.budget_model``, pure arithmetic) -> findings (``triage.budget``). No network traffic; bad inputs are
usage errors raised by the command before the check runs. Also the report's tables for it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rtcdiag.checks.engine import Check
from rtcdiag.checks.registry import Entry
from rtcdiag.lint.coturn_limits import CoturnLimits
from rtcdiag.report.model import Table
from rtcdiag.triage import budget as rules
from rtcdiag.triage.budget import BudgetResult, capacity
from rtcdiag.triage.budget_model import (
    DEFAULT_LIFETIME_S,
    Budget,
    BudgetInputs,
    Topology,
    compute,
    number,
)


@dataclass(frozen=True)
class BudgetPlan:
    inputs: BudgetInputs
    limits: CoturnLimits | None = None
    fd_limit: int | None = None
    ratio_measured: bool = False


async def run(plan: BudgetPlan) -> BudgetResult:
    lifetime = plan.limits.granted_lifetime_s if plan.limits is not None else DEFAULT_LIFETIME_S
    return BudgetResult(compute(plan.inputs, lifetime_s=lifetime), plan.limits, plan.fd_limit,
                        plan.ratio_measured)


BUDGET: Check[BudgetPlan, BudgetResult] = Check("budget", run, rules.judge)


def _cost(b: Budget) -> str:
    if b.cost_month is None:
        return "-" if b.egress_gb_month is None else "- (give --price-per-gb)"
    return number(b.cost_month)


def tables(result: BudgetResult) -> list[Table]:
    b = result.budget
    i = b.inputs
    layers = ", ".join(number(k) for k in i.video_kbps)
    layering = f" ({i.layering.value}, receive layer {i.receive_index + 1})" if i.layers > 1 else ""
    inputs = Table(title="Inputs", columns=["input", "value"], rows=[
        ["topology", {Topology.P2P: "p2p mesh", Topology.SFU: "SFU", Topology.MCU: "MCU"}[i.topology]],
        ["participants per room x rooms at peak", f"{i.participants} x {number(i.rooms)}"],
        ["audio kbit/s; video kbit/s per layer", f"{number(i.audio_kbps)}; {layers}{layering}"],
        ["share sending video", number(i.video_share)],
        ["relay ratio", f"{number(i.relay_ratio, 3)} ({i.relay_ratio_source})"],
        ["participant-minutes per month",
         "-" if i.participant_minutes is None else number(i.participant_minutes)],
        ["price per GB egress", "-" if i.price_per_gb is None else number(i.price_per_gb, 4)],
    ])
    s = b.streams
    per = Table(title="Per participant and per room", columns=["what", "per participant", "per room"], rows=[
        ["streams up (audio + video)", f"{number(s.audio_up)} + {number(s.video_up)}",
         number(b.room_streams_up)],
        ["streams down (audio + video)", f"{number(s.audio_down)} + {number(s.video_down)}",
         number(b.room_streams_down)],
        ["media kbit/s up", number(b.participant_up.kbps), number(b.participant_up.kbps * i.participants)],
        ["media kbit/s down", number(b.participant_down.kbps),
         number(b.participant_down.kbps * i.participants)],
        ["legs (ICE connections)", number(b.legs_per_participant), number(b.legs_per_room)],
        ["relayed legs (TURN allocations)", number(b.legs_per_participant * i.relay_ratio),
         number(b.relayed_legs_per_room)],
    ])
    rows = [
        ["TURN allocations", number(b.allocations)],
        ["relay ports (UDP; TCP for RFC 6062)", f"{number(b.udp_relay_ports)}; {number(b.tcp_relay_ports)}"],
        ["file descriptors (coturn)", number(b.file_descriptors)],
        ["relayed Mbit/s (server egress = ingress)", number(b.egress_mbps)],
        ["control requests/s (at least)", number(b.control_requests_per_s)],
        ["egress GB per month", "-" if b.egress_gb_month is None else number(b.egress_gb_month)],
        ["egress cost per month", _cost(b)],
    ]
    peak = Table(title=f"Relay at peak ({number(i.rooms)} room(s))", columns=["what", "value"], rows=rows)
    formulas = Table(title="Formulas", columns=["quantity", "formula", "value", "reference"],
                     rows=[[f.quantity, f.formula, f.value or "-", f.reference or "-"] for f in b.formulas])
    out = [inputs, per, peak, formulas]
    limits = result.limits
    if limits is not None:
        room = capacity(limits)
        bandwidth = limits.bandwidth_allocations()
        ports = f"{limits.low_port}..{limits.high_port} x {limits.relay_addresses or 1} address(es)"
        columns = ["limit", "configured", "budget needs"]
        out.append(Table(title=f"Deployment {limits.path}", columns=columns, rows=[
            ["relay ports", f"{ports} = {number(limits.relay_ports)}", number(b.udp_relay_ports)],
            ["total-quota", _setting(limits.total_quota.value), number(b.allocations)],
            ["user-quota", _setting(limits.user_quota.value), number(b.allocations_per_user)],
            ["max-bps (bytes/s per direction)", _setting(limits.max_bps.value),
             number(math.ceil(b.leg_peak_bytes_per_s))],
            ["bps-capacity (allocations admitted)",
             _setting(limits.bps_capacity.value) + ("" if bandwidth is None else f" ({number(bandwidth)})"),
             number(b.allocations)],
            ["allocation lifetime granted", f"{limits.granted_lifetime_s} s", "-"],
            ["file descriptors", "-" if result.fd_limit is None else number(result.fd_limit),
             number(b.file_descriptors)],
            ["allocations admitted at once", f"{number(room.allocations or 0)} ({room.limited_by})",
             number(b.allocations)],
        ]))
    return out


def _setting(value: int | None) -> str:
    if value is None:
        return "not set (unlimited)"
    return "0 (unlimited)" if value == 0 else f"{value:,}"


ENTRIES = (Entry(BUDGET, BudgetResult, tables=tables),)

"""The load check: ramp allocations and relayed streams against one TURN server (``probes.turn_load``, I/O)
and judge where it stopped (``triage.load``). Also the report's tables for it."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.checks.engine import Check
from rtcdiag.checks.registry import Entry
from rtcdiag.probes.turn_load import LoadOptions as LoadOptions  # the plan's options, for ``rtcdiag load``
from rtcdiag.probes.turn_load import LoadResult, run_load
from rtcdiag.probes.turn_load import descriptors_needed as descriptors_needed  # the plan's bounds, checked
from rtcdiag.probes.turn_load import plan_problems as plan_problems  # by the command before any traffic
from rtcdiag.report.model import Table
from rtcdiag.triage import load as rules


@dataclass(frozen=True)
class LoadPlan:
    server: tuple[str, int]  # the resolved address
    target: str  # as given (the report's subject)
    options: LoadOptions


async def run(plan: LoadPlan) -> LoadResult:
    return await run_load(plan.server, plan.target, plan.options)


LOAD: Check[LoadPlan, LoadResult] = Check("load", run, rules.judge)


def _cell(value: float | None, suffix: str = "") -> str:
    return "-" if value is None else f"{value:g}{suffix}"


def tables(result: LoadResult) -> list[Table]:
    rows: list[list[str]] = []
    for s in result.steps:
        if s.failure is not None:
            f = s.failure
            outcome = (f"{f.step}: {f.code} {f.reason or ''}".strip() if f.code is not None
                       else f"{f.step}: {f.error or 'failed'}") + f" ({f.held} held)"
        else:
            outcome = s.verdict.value + (f": {s.note}" if s.note else "")
        rtt = "-" if s.rtt_p95_ms is None else f"{s.rtt_p50_ms:g} / {s.rtt_p95_ms:g} / {s.rtt_max_ms:g}"
        rows.append([str(s.index), str(s.streams), f"{s.rate_pps:g}", _cell(s.allocations_per_s),
                     f"{s.echoed}/{s.sent}" if s.sent else "-", _cell(s.loss_pct, "%") if s.sent else "-",
                     str(s.tool_drops) if s.sent else "-", rtt, f"{s.relayed_mbps:g}" if s.sent else "-",
                     _cell(s.server_cpu_pct, "%"), _cell(s.tool_cpu_pct, "%"), outcome])
    steps = Table(title=f"Load steps {result.target} over {result.transport.upper()} ({result.thresholds})",
                  columns=["step", "streams", "packets/s each", "allocations/s", "echoed/sent", "loss",
                           "own drops", "RTT p50 / p95 / max ms", "Mbit/s relayed", "server CPU",
                           "rtcdiag CPU", "outcome"], rows=rows)
    knee = result.knee
    summary = Table(title="Load summary", columns=["what", "value"], rows=[
        ["knee (last clean step)", "-" if knee is None else
         f"{knee.streams} stream(s) x {knee.rate_pps:g}/s, {knee.relayed_mbps:g} Mbit/s through the relay"],
        ["first failure", _first_failure(result)],
        ["allocations/s", _cell(result.allocation_rate)],
        ["allocations made / released", f"{result.allocations_made} / {result.released}"],
        ["server process (this machine)", result.server_process or "- (not local, or not visible)"],
        ["credentials", result.credential_kind + (f", user {result.username}" if result.username else "")],
    ])
    return [steps, summary]


def _first_failure(result: LoadResult) -> str:
    last = result.last
    if last is None:
        return result.stopped or "-"
    if last.failure is not None:
        f = last.failure
        return f"{f.code} {f.reason or ''}".strip() if f.code is not None else (f.error or "failed")
    if last.verdict.value == "clean":
        return "none (the last step was clean)" if not result.stopped else f"none; {result.stopped}"
    return last.verdict.value + (f": {last.note}" if last.note else "")


ENTRIES = (Entry(LOAD, LoadResult, tables=tables),)

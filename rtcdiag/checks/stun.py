"""The STUN check: one Binding request per target x transport (probe), judged by ``triage.stun``."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import ServerPlan, server_transports
from rtcdiag.checks.registry import Cell, Entry, Labels
from rtcdiag.checks.tables import ms
from rtcdiag.probes.binding import BindingOptions, BindingResult, check_all
from rtcdiag.targets import Target
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import stun as rules


@dataclass(frozen=True)
class StunPlan:
    targets: list[Target]  # each with a concrete transport
    options: BindingOptions


async def _run(plan: StunPlan) -> list[BindingResult]:
    return await check_all(plan.targets, plan.options)


STUN: Check[StunPlan, list[BindingResult]] = Check("stun", _run, rules.judge)


def stun_targets(plan: ServerPlan) -> list[Target]:
    """One Binding per host x port x transport: TURN servers answer Binding too (RFC 8656 §3)."""
    seen: set[tuple[int, str | None]] = set()
    out: list[Target] = []
    for target in server_transports(plan):
        key = (target.port, target.transport)
        if key in seen:
            continue
        seen.add(key)
        scheme = "stuns" if target.transport == "tls" else "stun"
        out.append(replace(target, scheme=scheme, username=None, credential=None))
    return out


def server_job(plan: ServerPlan, timeouts: Timeouts) -> Job[StunPlan, list[BindingResult]] | None:
    targets = stun_targets(plan)
    if not targets:
        return None
    options = BindingOptions(timeout=timeouts.transaction_s, ca_file=plan.ca_file, insecure=plan.insecure,
                             follow_redirects=plan.follow_redirects)
    return Job(STUN, StunPlan(targets, options), plan.subject, f"stun {plan.label}")


def cells(results: list[BindingResult], label: Labels) -> list[Cell]:
    out: list[Cell] = []
    for r in results:
        where = label.get(r.host, r.host)
        if r.outcome == "success" and r.rtt_ms is not None:
            out.append((where, r.transport, "stun", f"{r.mapped_address} {r.rtt_ms:.1f} ms"))
        else:
            out.append((where, r.transport, "stun", r.error or str(r.outcome)))
    return out


def short_cells(results: list[BindingResult], label: Labels) -> list[Cell]:
    out: list[Cell] = []
    for r in results:
        where = label.get(r.host, r.host)
        if r.outcome == "success":
            rtt = f", rtt {ms(r.rtt_ms)}" if r.rtt_ms is not None else ""
            out.append((where, r.transport, "stun", f"mapped {r.mapped_address}{rtt}"))
        else:
            out.append((where, r.transport, "stun", f"STUN {r.error_kind or r.outcome}"))
    return out


ENTRIES = (Entry(STUN, list[BindingResult], server_job=server_job, cells=cells, short_cells=short_cells),)

"""The STUN check: one Binding request per target x transport (probe), judged by ``triage.stun``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.registry import Cell, Entry, Labels
from rtcdiag.checks.tables import ms
from rtcdiag.probes.binding import BindingOptions as BindingOptions  # the plan's options, for commands
from rtcdiag.probes.binding import BindingResult as BindingResult  # the result type, for commands
from rtcdiag.probes.binding import check_all
from rtcdiag.redact import echo
from rtcdiag.report.model import Table
from rtcdiag.targets import Target
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import stun as rules

if TYPE_CHECKING:  # the plans of `check` (rtcdiag.config and every check's options): not on `stun`'s path
    from rtcdiag.checks.plan import ServerPlan


@dataclass(frozen=True)
class StunPlan:
    targets: list[Target]  # each with a concrete transport
    options: BindingOptions


async def _run(plan: StunPlan) -> list[BindingResult]:
    return await check_all(plan.targets, plan.options)


STUN: Check[StunPlan, list[BindingResult]] = Check("stun", _run, rules.judge)


def stun_targets(plan: ServerPlan) -> list[Target]:
    """One Binding per host x port x transport: TURN servers answer Binding too (RFC 8656 §3)."""
    from rtcdiag.checks.plan import server_transports

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


def binding_options(timeouts: Timeouts, *, ca_file: str | None, insecure: bool, follow_redirects: bool,
                    family: int | None = None) -> BindingOptions:
    """The Binding probe's options from the run's timeouts and TLS settings (``check`` and ``stun``)."""
    return BindingOptions(timeout=timeouts.transaction_s, ca_file=ca_file, insecure=insecure, family=family,
                          follow_redirects=follow_redirects)


def server_job(plan: ServerPlan, timeouts: Timeouts) -> Job[StunPlan, list[BindingResult]] | None:
    targets = stun_targets(plan)
    if not targets:
        return None
    options = binding_options(timeouts, ca_file=plan.ca_file, insecure=plan.insecure,
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


# --- the tables of ``rtcdiag stun`` ---------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def stun_table(results: list[BindingResult]) -> Table:
    """One row per target x transport."""
    rows: list[list[str]] = []
    for r in results:
        if r.outcome == "success":
            result = "ok"
        elif r.outcome == "error-response":
            result = f"error {r.error_code}"
        else:
            result = r.error_kind or r.outcome
        rows.append([
            r.target, r.transport, result, r.mapped_address or "-", _ms(r.rtt_ms), str(r.attempts),
            echo(r.software) if r.software else "-", r.response_origin or "-", r.other_address or "-",
            "-" if r.fingerprint is None else ("yes" if r.fingerprint else "no"),
        ])
    return Table(title="STUN Binding",
                 columns=["Server", "Transport", "Result", "Mapped address", "RTT ms", "Tries", "Software",
                          "Response origin", "Other address", "Fingerprint"],
                 rows=rows)


def short_table(results: list[BindingResult]) -> Table:
    """One line per target x transport: the mapped address and RTT, or what went wrong."""
    rows: list[list[str]] = []
    for r in results:
        if r.outcome == "success":
            words = [f"mapped {r.mapped_address}"]
            if r.rtt_ms is not None:
                words.append(f"rtt {_ms(r.rtt_ms)} ms")
            if r.attempts > 1:
                words.append(f"{r.attempts} tries")
        elif r.outcome == "error-response":
            words = [f"error {r.error_code}"]
        else:
            words = [r.error or r.error_kind or str(r.outcome)]
        rows.append([r.target, r.transport, ", ".join(words)])
    return Table(title="STUN Binding", columns=["server", "transport", "result"], rows=rows)


ENTRIES = (Entry(STUN, list[BindingResult], server_job=server_job, cells=cells, short_cells=short_cells),)

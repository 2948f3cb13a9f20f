"""``rtcdiag budget``: can this coturn deployment hold the computed budget? Pure: a :class:`Budget` and the
limits its turnserver.conf sets in, findings (each shortfall with the config line that fixes it) out.

Steps (JUnit testcases): ``budget/model`` always; with ``--conf``: ``ports``, ``quota``, ``bandwidth``,
``lifetime``; ``descriptors`` with ``--fd-limit`` (the server's hard ``ulimit -n``: not in the file).
"""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.lint.coturn_limits import DEFAULT_MAX_PORT, CoturnLimits
from rtcdiag.triage import ids
from rtcdiag.triage.budget_model import Budget, number
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState

CHECK = "budget"
CONF_STEPS = ("ports", "quota", "bandwidth", "lifetime")
MODEL_SUBJECT = Subject("budget")


@dataclass(frozen=True)
class BudgetResult:
    budget: Budget
    limits: CoturnLimits | None = None
    fd_limit: int | None = None  # the coturn process's hard RLIMIT_NOFILE, when given
    ratio_measured: bool = False


@dataclass(frozen=True)
class Capacity:
    """How many allocations the deployment admits at once and what sets that number."""

    allocations: int | None  # None: no limit found in the file
    limited_by: str


def capacity(limits: CoturnLimits) -> Capacity:
    """The smallest of the relay ports, total-quota and what bps-capacity admits."""
    candidates: list[tuple[int, str]] = [(limits.relay_ports, "relay port range")]
    if limits.total_quota.value:
        candidates.append((limits.total_quota.value, "total-quota"))
    bandwidth = limits.bandwidth_allocations()
    if bandwidth is not None:
        candidates.append((bandwidth, "bps-capacity / max-bps"))
    allocations, what = min(candidates)
    return Capacity(allocations, what)


class _Out:
    def __init__(self, subject: Subject, file: str | None = None) -> None:
        self.subject = subject
        self.file = file  # the turnserver.conf the findings are about
        self.findings: list[Finding] = []

    def add(self, finding_id: str, step: str, *, evidence: list[str] | None = None, **params: str) -> None:
        if self.file is not None:
            params["file"] = self.file
        self.findings.append(make_finding(finding_id, self.subject, check=CHECK, step=step,
                                          evidence=evidence, severity=None, snippet=None, **params))


def judge(result: BudgetResult) -> Judgement:
    b = result.budget
    model = _Out(MODEL_SUBJECT)
    detail = f"{number(b.allocations)} allocations, {number(b.egress_mbps)} Mbit/s relayed at peak"
    steps = [StepOutcome(MODEL_SUBJECT, CHECK, "model", detail=detail)]
    if not result.ratio_measured and b.inputs.relay_ratio >= 1.0 and b.inputs.measured_leg_kbps is None:
        model.add(ids.BUDGET_RATIO_ASSUMED, "model",
                  detail=f"relay ratio {number(b.inputs.relay_ratio)} ({b.inputs.relay_ratio_source})")
    findings = list(model.findings)
    limits = result.limits
    if limits is None:
        steps += [StepOutcome(MODEL_SUBJECT, CHECK, step, StepState.SKIPPED,
                              "no --conf turnserver.conf given") for step in (*CONF_STEPS, "descriptors")]
        return Judgement(findings=findings, steps=steps)
    conf = _Out(Subject(limits.path), limits.path)
    _ports(b, limits, conf)
    _quota(b, limits, conf)
    _bandwidth(b, limits, conf)
    _lifetime(b, limits, conf)
    room = capacity(limits)
    details = {
        "ports": f"{number(limits.relay_ports)} relay ports ({limits.low_port}..{limits.high_port} x "
                 f"{limits.relay_addresses or 1} address(es)) for {number(b.udp_relay_ports)} UDP "
                 "allocations",
        "quota": f"total-quota {_quota_text(limits.total_quota.value)}, user-quota "
                 f"{_quota_text(limits.user_quota.value)}",
        "bandwidth": f"max-bps {_bps_text(limits.max_bps.value)}, bps-capacity "
                     f"{_bps_text(limits.bps_capacity.value)}",
        "lifetime": f"granted lifetime {limits.granted_lifetime_s} s; {b.refreshes_per_allocation} "
                    "refresh(es) per allocation per call",
    }
    steps += [StepOutcome(conf.subject, CHECK, step, detail=details[step]) for step in CONF_STEPS]
    if result.fd_limit is None:
        steps.append(StepOutcome(conf.subject, CHECK, "descriptors", StepState.SKIPPED,
                                 "the server's descriptor limit is not in turnserver.conf: give --fd-limit N "
                                 "(`ulimit -Hn` of the coturn service)"))
    else:
        _descriptors(b, result.fd_limit, limits, conf)
        steps.append(StepOutcome(conf.subject, CHECK, "descriptors",
                                 detail=f"{number(b.file_descriptors)} needed of {number(result.fd_limit)}"))
    steps[0].detail += f"; the deployment admits {_admits(room)}"
    return Judgement(findings=findings + conf.findings, steps=steps)


def _admits(room: Capacity) -> str:
    if room.allocations is None:
        return "an unknown number of allocations"
    return f"{number(room.allocations)} allocations ({room.limited_by})"


def _quota_text(value: int | None) -> str:
    if value is None:
        return "not set (unlimited)"
    return "0 (unlimited)" if value == 0 else str(value)


def _bps_text(value: int | None) -> str:
    if not value:
        return "not set (unlimited)" if value is None else "0 (unlimited)"
    return f"{value:,} B/s ({number(value * 8 / 1_000_000)} Mbit/s)"


def _ports(b: Budget, limits: CoturnLimits, out: _Out) -> None:
    have, need = limits.relay_ports, b.udp_relay_ports
    if need <= have:
        return
    addresses = limits.relay_addresses or 1
    where = (f"{addresses} relay address(es) from `{limits.relay_addresses_from}`"
             if limits.relay_addresses_from
             else "1 relay address assumed (none named: coturn uses the machine's addresses)")
    per_address = -(-need // addresses)
    low = limits.low_port
    high = low + per_address - 1
    if high > DEFAULT_MAX_PORT:  # the range cannot grow upwards enough: start it lower
        low, high = max(1024, DEFAULT_MAX_PORT - per_address + 1), DEFAULT_MAX_PORT
    fix = f"`min-port={low}` and `max-port={high}`"
    if high - low + 1 < per_address:
        fix = f"more relay addresses or servers ({per_address:,} ports per address do not fit one range)"
    line = limits.max_port.line or limits.min_port.line
    out.add(ids.BUDGET_PORTS_SHORT, "ports", fix=fix,
            detail=f"min-port..max-port {limits.low_port}..{limits.high_port} holds "
                   f"{limits.ports_per_address:,} port(s) x {where} = {have:,} relay port(s); the budget "
                   f"needs {need:,} at peak",
            evidence=[f"line {line}" if line else "min-port/max-port not set: coturn's defaults"])


def _quota(b: Budget, limits: CoturnLimits, out: _Out) -> None:
    total, user = limits.total_quota, limits.user_quota
    if total.value and total.value < b.allocations:
        out.add(ids.BUDGET_TOTAL_QUOTA_SHORT, "quota", fix=f"`total-quota={b.allocations}`",
                detail=f"`total-quota={total.value}` (line {total.line}) admits {total.value} allocations at "
                       f"once; the budget needs {b.allocations:,} at peak")
    if user.value and user.value < b.allocations_per_user:
        who = "every client shares one user name" if b.inputs.shared_user else \
            f"a participant holds {b.allocations_per_user} (one per relayed leg)"
        out.add(ids.BUDGET_USER_QUOTA_SHORT, "quota", fix=f"`user-quota={b.allocations_per_user}`",
                detail=f"`user-quota={user.value}` (line {user.line}) but {who}")
    zeros = [(name, setting.line, fix) for name, setting, fix in (
        ("total-quota", total, f"`total-quota={b.allocations}`"),
        ("user-quota", user, f"`user-quota={b.allocations_per_user}`")) if setting.value == 0]
    if zeros:
        out.add(ids.BUDGET_QUOTA_UNLIMITED, "quota", fix=" and ".join(fix for _, _, fix in zeros),
                detail="; ".join(f"`{name}=0` (line {line}) is no limit" for name, line, _ in zeros))


def _bandwidth(b: Budget, limits: CoturnLimits, out: _Out) -> None:
    per_leg = int(-(-b.leg_peak_bytes_per_s // 1))
    capacity_value, max_bps = limits.bps_capacity.value, limits.max_bps.value
    if capacity_value and not max_bps:
        out.add(ids.BUDGET_BPS_WITHOUT_MAX, "bandwidth", fix=f"`max-bps={per_leg}`",
                detail=f"`bps-capacity={capacity_value}` (line {limits.bps_capacity.line}) and no `max-bps`")
        return
    if max_bps and max_bps < per_leg:
        out.add(ids.BUDGET_MAX_BPS_LOW, "bandwidth", fix=f"`max-bps={per_leg}`",
                detail=f"`max-bps={max_bps}` (line {limits.max_bps.line}) bytes/s per direction, but one "
                       f"relayed leg's busiest direction needs {per_leg:,} bytes/s "
                       f"({number(per_leg * 8 / 1000)} kbit/s)")
    admitted = limits.bandwidth_allocations()
    if admitted is not None and max_bps and admitted < b.allocations:
        out.add(ids.BUDGET_BPS_CAPACITY_SHORT, "bandwidth", fix=f"`bps-capacity={b.allocations * max_bps}`",
                detail=f"`bps-capacity={capacity_value}` / `max-bps={max_bps}` admits {admitted:,} "
                       f"allocations; the budget needs {b.allocations:,} at peak")


def _lifetime(b: Budget, limits: CoturnLimits, out: _Out) -> None:
    if b.refreshes_per_allocation == 0:
        return
    written = limits.max_allocate_lifetime
    shown = f"`max-allocate-lifetime={written.value}` (line {written.line})" if written.written \
        else "max-allocate-lifetime not set (3600 s)"
    out.add(ids.BUDGET_LIFETIME, "lifetime",
            fix=f"at {number(b.control_requests_per_s)} control requests per second at peak, make sure the "
                "server's CPU has room for them",
            detail=f"{shown}: a client that asks no lifetime gets {limits.granted_lifetime_s} s, so a "
                   f"{number(b.inputs.call_minutes)}-minute call refreshes each allocation "
                   f"{b.refreshes_per_allocation} time(s)")


def _descriptors(b: Budget, fd_limit: int, limits: CoturnLimits, out: _Out) -> None:
    if b.file_descriptors <= fd_limit:
        return
    out.add(ids.BUDGET_FD_SHORT, "descriptors", fix=f"{b.file_descriptors:,}",
            detail=f"--fd-limit {fd_limit:,}, but {b.allocations:,} allocations need "
                   f"{b.file_descriptors:,} descriptors (listening sockets and the log not counted)")

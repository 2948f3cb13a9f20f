"""``rtcdiag budget --conf``: coturn's capacity limits read from a turnserver.conf (as coturn reads them) and
every shortfall against a computed budget, each with the line that fixes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtcdiag.lint.coturn_limits import CoturnLimits, coturn_number, read_limits
from rtcdiag.lint.turnserver_conf import parse_text, read_file
from rtcdiag.triage.budget import BudgetResult, capacity, judge
from rtcdiag.triage.budget_model import BudgetInputs, Topology, compute
from rtcdiag.triage.judgement import StepState

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "budget" / "turnserver.conf"


def _limits(text: str) -> CoturnLimits:
    return read_limits(parse_text(text, "turnserver.conf"))


def _ids(result: BudgetResult) -> dict[str, str]:
    judged = judge(result)
    return {f.id: f.params.get("fix", "") for f in judged.findings}


def _budget(topology: Topology = Topology.SFU, n: int = 10, rooms: int = 10, **kw: object) -> BudgetResult:
    inputs = BudgetInputs(topology=topology, participants=n, rooms=rooms, **kw)  # type: ignore[arg-type]
    return BudgetResult(compute(inputs))


def test_numbers_are_read_as_coturn_reads_them() -> None:
    assert coturn_number("12") == 12
    assert coturn_number(" 12abc") == 12
    assert coturn_number("abc") == 0
    assert coturn_number(None) == 0


def test_defaults_when_nothing_is_written() -> None:
    limits = _limits("realm=x\n")
    assert (limits.low_port, limits.high_port, limits.ports_per_address) == (49152, 65535, 16384)
    assert limits.relay_addresses is None and limits.relay_ports == 16384
    assert limits.total_quota.value is None and limits.granted_lifetime_s == 600
    assert limits.bandwidth_allocations() is None


def test_relay_addresses_come_from_relay_ip_then_listening_ip() -> None:
    limits = _limits("listening-ip=10.0.0.1\nrelay-ip=10.0.0.1\nrelay-ip=10.0.0.2\nrelay-ip=2001:db8::1\n"
                     "min-port=50000\nmax-port=50099\n")
    assert (limits.relay_addresses, limits.relay_addresses_from, limits.relay_ports) == (2, "relay-ip", 200)
    only_listening = _limits("listening-ip=10.0.0.1\nmin-port=50000\nmax-port=50009\n")
    assert (only_listening.relay_addresses, only_listening.relay_addresses_from) == (1, "listening-ip")


def test_bandwidth_reservations_admit_capacity_over_max_bps_rounded_up() -> None:
    assert _limits("bps-capacity=3000\nmax-bps=1000\n").bandwidth_allocations() == 3
    assert _limits("bps-capacity=3500\nmax-bps=1000\n").bandwidth_allocations() == 4  # the last: a part
    assert _limits("bps-capacity=3000\n").bandwidth_allocations() is None


def test_the_real_conf_fixture_gives_its_three_shortfalls() -> None:
    limits = read_limits(read_file(FIXTURE))
    result = BudgetResult(compute(BudgetInputs(topology=Topology.SFU, participants=8, rooms=20,
                                               relay_ratio=0.5)), limits)
    found = _ids(result)
    assert set(found) == {"BUDGET-PORTS-SHORT", "BUDGET-QUOTA-UNLIMITED", "BUDGET-BPS-WITHOUT-MAX",
                          "BUDGET-LIFETIME"}
    assert found["BUDGET-PORTS-SHORT"] == "`min-port=49160` and `max-port=49239`"  # 80 allocations, 1 address
    assert found["BUDGET-QUOTA-UNLIMITED"] == "`total-quota=80` and `user-quota=1`"
    assert found["BUDGET-BPS-WITHOUT-MAX"].startswith("`max-bps=")
    judged = judge(result)
    ports = next(f for f in judged.findings if f.id == "BUDGET-PORTS-SHORT")
    assert "40 port(s)" in ports.symptom and "needs 80" in ports.symptom
    assert ports.subject.server == str(FIXTURE)


def test_a_range_that_holds_the_budget_is_no_finding() -> None:
    limits = _limits("listening-ip=10.0.0.1\nmin-port=49152\nmax-port=65535\ntotal-quota=500\n"
                     "user-quota=12\nmax-bps=2000000\nbps-capacity=2000000000\n")
    result = BudgetResult(compute(BudgetInputs(topology=Topology.SFU, participants=10, rooms=40)), limits)
    judged = judge(result)
    assert [f.id for f in judged.findings if f.severity.rank >= 1] == []
    assert capacity(limits).allocations == 500  # total-quota is the binding limit
    assert capacity(limits).limited_by == "total-quota"


def test_quotas_below_the_need() -> None:
    limits = _limits("total-quota=50\nuser-quota=2\n")
    mesh = BudgetResult(compute(BudgetInputs(topology=Topology.P2P, participants=4, rooms=10)), limits)
    found = _ids(mesh)
    assert found["BUDGET-TOTAL-QUOTA-SHORT"] == "`total-quota=120`"
    assert found["BUDGET-USER-QUOTA-SHORT"] == "`user-quota=3`"  # a mesh participant relays 3 legs
    shared = BudgetResult(compute(BudgetInputs(topology=Topology.SFU, participants=4, rooms=10,
                                               shared_user=True)), _limits("user-quota=12\n"))
    assert _ids(shared)["BUDGET-USER-QUOTA-SHORT"] == "`user-quota=40`"


def test_max_bps_below_one_leg_and_capacity_below_the_allocations() -> None:
    b = compute(BudgetInputs(topology=Topology.SFU, participants=6, rooms=10))
    need = int(-(-b.leg_peak_bytes_per_s // 1))
    low = BudgetResult(b, _limits(f"max-bps={need - 1}\n"))
    assert _ids(low)["BUDGET-MAX-BPS-LOW"] == f"`max-bps={need}`"
    assert "BUDGET-MAX-BPS-LOW" not in _ids(BudgetResult(b, _limits(f"max-bps={need}\n")))
    capped = BudgetResult(b, _limits(f"max-bps={need}\nbps-capacity={need * 30}\n"))
    assert _ids(capped)["BUDGET-BPS-CAPACITY-SHORT"] == f"`bps-capacity={60 * need}`"


def test_descriptors_only_with_a_limit() -> None:
    b = compute(BudgetInputs(topology=Topology.SFU, participants=10, rooms=100))
    limits = _limits("realm=x\n")
    assert "BUDGET-FD-SHORT" not in _ids(BudgetResult(b, limits))
    steps = {s.step: s.state for s in judge(BudgetResult(b, limits)).steps}
    assert steps["descriptors"] is StepState.SKIPPED
    assert _ids(BudgetResult(b, limits, fd_limit=1024))["BUDGET-FD-SHORT"] == "2,000"
    assert "BUDGET-FD-SHORT" not in _ids(BudgetResult(b, limits, fd_limit=65536))


def test_without_a_conf_only_the_model_step_runs() -> None:
    judged = judge(_budget())
    states = {s.step: s.state for s in judged.steps}
    assert states["model"] is StepState.DONE
    assert all(states[s] is StepState.SKIPPED for s in ("ports", "quota", "bandwidth", "lifetime",
                                                          "descriptors"))
    assert [f.id for f in judged.findings] == ["BUDGET-RATIO-ASSUMED"]
    given = judge(_budget(relay_ratio=0.3, relay_ratio_source="given"))
    assert given.findings == []


@pytest.mark.parametrize(("lifetime", "refreshes"), [("60", 59), ("600", 5), ("7200", 5)])
def test_lifetime_caps_what_a_client_gets(lifetime: str, refreshes: int) -> None:
    limits = _limits(f"max-allocate-lifetime={lifetime}\n")
    b = compute(BudgetInputs(topology=Topology.SFU, participants=4, call_minutes=60),
                lifetime_s=limits.granted_lifetime_s)
    assert b.refreshes_per_allocation == refreshes
    found = judge(BudgetResult(b, limits)).findings
    assert [f.id for f in found if f.id == "BUDGET-LIFETIME"] == ["BUDGET-LIFETIME"]
    assert all(f.severity.value == "info" for f in found if f.id == "BUDGET-LIFETIME")

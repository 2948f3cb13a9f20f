"""``rtcdiag budget --conf`` against the coturn that reads the same turnserver.conf: the number of allocations
the budget says the deployment admits is where the real server starts refusing (508 at the port range, 486
at total-quota), and a configuration the budget says coturn will not start with does not start.

The allocations are made by rtcdiag load's allocation step (one stream per allocation, a 0.2 s step), so the
refusal is coturn's own answer, in its own log.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable

import pytest
from free_ports import free_udp_block

from rtcdiag.coturn import CoturnError, CoturnOptions, RunningCoturn, start_coturn
from rtcdiag.lint.coturn_limits import read_limits
from rtcdiag.lint.turnserver_conf import read_file
from rtcdiag.probes.turn_load import LoadOptions, run_load
from rtcdiag.triage.budget import BudgetResult, capacity, judge
from rtcdiag.triage.budget_model import BudgetInputs, Topology, compute

PASSWORD = "budget-pw-" + secrets.token_hex(6)


def _admitted_by_the_real_server(server: RunningCoturn, asked: int) -> tuple[int, int | None]:
    """(allocations coturn granted, the error code of the first refusal) for ``asked`` at once."""
    options = LoadOptions(steps=((asked, 5.0),), step_s=0.2, username="alice", password=PASSWORD)
    result = asyncio.run(run_load(("127.0.0.1", server.port), "coturn", options))
    failure = result.steps[0].failure
    return result.allocations_made, failure.code if failure is not None else None


@pytest.mark.parametrize("binding", ["ports", "total-quota"])
def test_the_admitted_allocations_are_where_coturn_refuses(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn], binding: str) -> None:
    low, high = free_udp_block(10)
    quota = 6 if binding == "total-quota" else None
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True, min_relay_port=low,
                                          max_relay_port=high, total_quota=quota))
    limits = read_limits(read_file(server.config_path))  # the very file coturn read
    # p2p mesh of 3 in 2 rooms, every leg relayed: 12 allocations, more than either limit.
    budget = compute(BudgetInputs(topology=Topology.P2P, participants=3, rooms=2))
    assert budget.allocations == 12
    room = capacity(limits)
    expected = {"ports": (10, "relay port range"), "total-quota": (6, "total-quota")}[binding]
    assert (room.allocations, room.limited_by) == expected
    findings = {f.id for f in judge(BudgetResult(budget, limits)).findings}
    assert "BUDGET-PORTS-SHORT" in findings
    assert ("BUDGET-TOTAL-QUOTA-SHORT" in findings) == (quota is not None)
    granted, code = _admitted_by_the_real_server(server, budget.allocations)
    assert granted == room.allocations
    assert code == (508 if binding == "ports" else 486)
    log = server.log_path.read_text(errors="replace")
    assert re.search(rf"error {code}", log)


def test_bps_capacity_without_max_bps_does_not_start() -> None:
    options = CoturnOptions(users={"alice": PASSWORD}, extra_lines=("bps-capacity=100000",),
                            ready_timeout_s=3.0)
    with pytest.raises(CoturnError, match="bps-capacity"):
        start_coturn(options, attempts=1).stop()


def test_bps_capacity_admits_capacity_over_max_bps(
        coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> None:
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, extra_lines=("max-bps=5000",
                                                                                  "bps-capacity=22000")))
    limits = read_limits(read_file(server.config_path))
    assert capacity(limits).allocations == 5 == limits.bandwidth_allocations()  # ceil(22000 / 5000)
    granted, code = _admitted_by_the_real_server(server, 8)
    assert (granted, code) == (5, 486)

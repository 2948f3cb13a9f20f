"""The TURN check: every target's transports probed concurrently (``probes.turn.check``), judged by
``triage.turn``: challenge, allocation, relay address, data through the relay, refresh and release."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rtcdiag import interrupt
from rtcdiag.checks.engine import Check
from rtcdiag.probes.turn import TurnCheckOptions, check
from rtcdiag.probes.turn_result import TurnCheckResult
from rtcdiag.targets import Target
from rtcdiag.triage import turn as rules


@dataclass(frozen=True)
class TurnPlan:
    """TURN targets (turn:/turns: URIs or hosts) and how to check them (credentials, transports, ...)."""

    targets: Sequence[Target]
    options: TurnCheckOptions


async def _run(plan: TurnPlan) -> list[TurnCheckResult]:
    """Every target concurrently; interrupted (Ctrl-C, SIGTERM): the targets that had finished a transport."""
    return await interrupt.finished([check(target, plan.options) for target in plan.targets],
                                    [target.uri for target in plan.targets])


TURN: Check[TurnPlan, list[TurnCheckResult]] = Check("turn", _run, rules.judge_all)

"""The STUN check: one Binding request per target x transport (probe), judged by ``triage.stun``."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.checks.engine import Check
from rtcdiag.probes.binding import BindingOptions, BindingResult, check_all
from rtcdiag.targets import Target
from rtcdiag.triage import stun as rules


@dataclass(frozen=True)
class StunPlan:
    targets: list[Target]  # each with a concrete transport
    options: BindingOptions


async def _run(plan: StunPlan) -> list[BindingResult]:
    return await check_all(plan.targets, plan.options)


STUN: Check[StunPlan, list[BindingResult]] = Check("stun", _run, rules.judge)

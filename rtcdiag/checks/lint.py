"""The lint checks: a coturn ``turnserver.conf`` (``triage.lint``) and an application's ICE server list
(``triage.app_lint``). The files are read and the version found before the checks run (bad input is a
usage error, exit 2); the checks only judge."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.checks.engine import Check
from rtcdiag.checks.registry import Entry, Key
from rtcdiag.targets import Target
from rtcdiag.triage import app_lint
from rtcdiag.triage import lint as rules
from rtcdiag.triage.judgement import Judgement
from rtcdiag.triage.lint import LintPlan


@dataclass(frozen=True)
class AppLintPlan:
    targets: list[Target]
    source: str
    credentials_shipped: bool  # an RTCIceServer list (sent to browsers), not an rtcdiag.toml
    now: float | None = None


async def _same(plan: LintPlan) -> LintPlan:
    return plan


async def _same_app(plan: AppLintPlan) -> AppLintPlan:
    return plan


def _judge_app(plan: AppLintPlan) -> Judgement:
    return app_lint.judge_ice_servers(plan.targets, plan.source, now=plan.now,
                                      credentials_shipped=plan.credentials_shipped)


TURNSERVER_LINT: Check[LintPlan, LintPlan] = Check("lint", _same, rules.judge)
APP_LINT: Check[AppLintPlan, AppLintPlan] = Check("lint", _same_app, _judge_app)

ENTRIES = (Entry(TURNSERVER_LINT, LintPlan), Entry(APP_LINT, AppLintPlan, key=Key.APP_LINT))

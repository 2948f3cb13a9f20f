"""``rtcdiag check`` as a library: a :class:`~rtcdiag.config.CheckConfig` in, one report out.

plan (one :class:`~rtcdiag.checks.plan.ServerPlan` per server host) -> one job per applicable registered
check (:mod:`rtcdiag.checks.registry`: DNS, ports, STUN, TURN, ICE per server; NAT once for this machine's
network; one per signalling entry) -> all concurrently, each guarded -> expectations judged on the facts the
checks measured -> diagnosis and report built once (``rtcdiag.report.build``)::

    report = await run_config(config)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from rtcdiag.checks import registry
from rtcdiag.checks.engine import Job, Ran, execute_all, judge_guarded, set_concurrency
from rtcdiag.checks.plan import LOCAL_NETWORK, ServerPlan, plan_servers
from rtcdiag.checks.registry import Planning
from rtcdiag.checks.tables import server_table, summary_table
from rtcdiag.config import CHECKS, CheckConfig
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report, Table
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage.expectations import judge_nat, judge_server
from rtcdiag.triage.finding import Severity, Subject
from rtcdiag.triage.judgement import Facts, Judgement, assign_entry

__all__ = ["ConfigRun", "ServerPlan", "plan_jobs", "plan_servers", "run_config", "run_config_detailed"]


def plan_jobs(config: CheckConfig, plans: list[ServerPlan], *, extra: tuple[str, ...] = (),
              browser_path: str | None = None) -> list[Job[Any, Any]]:
    """The registry filtered by the config: every applicable check of every server entry in the order of
    :data:`rtcdiag.config.CHECKS`, then the checks planned once per config (NAT, signalling), then the
    registry keys of ``extra`` (``check --browser``)."""
    jobs: list[Job[Any, Any]] = []
    timeouts = Timeouts(config.timeout)
    per_server = registry.entries(name for name in CHECKS if any(name in plan.checks for plan in plans)
                                  and registry.has_input(config, name))
    for plan in plans:
        for entry in per_server:
            if entry.server_job is not None and entry.name in plan.checks:
                job = entry.server_job(plan, timeouts)
                if job is not None:
                    jobs.append(job)
    planning = Planning(config, plans, browser_path)
    once = (name for name in CHECKS if name in config.checks and registry.has_input(config, name))
    for entry in [*registry.entries(once), *registry.entries(extra)]:
        if entry.config_jobs is not None:
            jobs += entry.config_jobs(planning)
    return jobs


# --- report ---------------------------------------------------------------------------------------------


def _label_facts(facts: Facts, server: str) -> None:
    """Relay and RTT facts name the server (plan label) whose job measured them, for its expectations."""
    facts.relays = [replace(f, server=server) for f in facts.relays]
    facts.rtts = [replace(f, server=server) for f in facts.rtts]


def _server_expectation(plan: ServerPlan, merged: Judgement) -> Callable[[], Judgement]:
    return lambda: judge_server(plan.expect, plan.subject, merged.facts)


def _expectations(config: CheckConfig, plans: list[ServerPlan], merged: Judgement) -> Judgement:
    out = Judgement()
    for plan in plans:
        out.extend(judge_guarded("expect", plan.subject, _server_expectation(plan, merged)))
    network = Subject(LOCAL_NETWORK)
    out.extend(judge_guarded("expect", network,
                             lambda: judge_nat(config.expect, merged.facts.nat_label, network)))
    return out


def _fallback(plans: list[ServerPlan]) -> Judgement:
    """TURN-NO-TCP-FALLBACK when no TURN URL of the whole configuration goes over TCP or TLS: a browser
    picks any server of its list, so one server's ``turns:`` is every client's way through a firewall."""
    from rtcdiag.triage.fallback import CHECK, judge_fallback

    turn_plans = [plan for plan in plans if registry.Key.TURN in plan.checks]
    subjects: dict[str, Subject] = {}
    for plan in turn_plans:
        subjects.setdefault(plan.host, plan.subject)
    targets = [t for plan in turn_plans for t in plan.targets]
    return judge_guarded(CHECK, Subject("config"),
                         lambda: judge_fallback(targets, lambda host: subjects[host]))


def check_tables(ran: list[Ran[Any]]) -> list[Table]:
    """The tables registered checks add to ``check``'s report (a browser's candidates, signalling URLs)."""
    out: list[Table] = []
    for each in ran:
        entry = registry.for_ran(each.check)
        if entry is not None and entry.tables is not None and each.result is not None:
            out += entry.tables(each.result)
    return out


@dataclass
class ConfigRun:
    """One run of a config: the report, and the typed material it was built from (for metrics)."""

    report: Report
    judgement: Judgement  # every check's merged judgement, expectations included (facts, steps)
    ran: list[Ran[Any]]  # per job: its check name, typed result and own judgement, in job order


async def run_config(config: CheckConfig, *, on_start: Callable[[str], int] | None = None,
                     on_done: Callable[[int, bool | None], None] | None = None,
                     command: str = "check", browser: bool = False,
                     browser_path: str | None = None) -> Report:
    """Run every applicable check of ``config`` concurrently and build the one report.

    ``on_start(label) -> token`` / ``on_done(token, ok)`` follow each job (a live progress view).
    ``browser``: also run the Trickle ICE page in headless Chromium (the caller checked it is installed).
    """
    done = await run_config_detailed(config, on_start=on_start, on_done=on_done, command=command,
                                     browser=browser, browser_path=browser_path)
    return done.report


async def run_config_detailed(config: CheckConfig, *, on_start: Callable[[str], int] | None = None,
                              on_done: Callable[[int, bool | None], None] | None = None,
                              command: str = "check", fallback: bool = True, browser: bool = False,
                              browser_path: str | None = None) -> ConfigRun:
    """:func:`run_config`, also returning the merged judgement and each job's typed result.

    ``fallback=False``: no TURN-NO-TCP-FALLBACK judgement over the whole config (an exporter module probes
    one target over the transports it names, on purpose)."""
    started = time.time()
    set_concurrency(config.concurrency)  # read when this event loop's first probe takes a slot
    plans = plan_servers(config)
    extra = (registry.Key.BROWSER,) if browser else ()
    jobs = plan_jobs(config, plans, extra=extra, browser_path=browser_path)
    tokens = {id(job): on_start(job.label) if on_start else 0 for job in jobs}

    def done(job: Job[Any, Any], ran: Ran[Any]) -> None:
        if on_done is not None:
            worst = max((f.severity.rank for f in ran.judgement.findings), default=-1)
            on_done(tokens[id(job)], None if ran.judgement.facts.inconclusive and worst < 2
                    else worst < Severity.ERROR.rank)

    ran = await execute_all(jobs, done)
    by_label = {plan.label: plan for plan in plans}
    for job, each in zip(jobs, ran, strict=True):
        _label_facts(each.judgement.facts, job.subject.server)
        plan = by_label.get(job.subject.entry or "")
        entry = registry.for_ran(each.check)
        if plan is not None:  # a check of one server entry: everything it found belongs to that entry
            assign_entry(each.judgement, plan.label, plan.suffix)
        elif entry is not None and entry.assign_entries is not None:
            entry.assign_entries(each.judgement, plans)
    merged = Judgement.merge([r.judgement for r in ran])
    merged.extend(_expectations(config, plans, merged))
    if fallback:
        merged.extend(_fallback(plans))
    results: dict[str, Any] = {"config": config.source, "checks": list(config.checks)}
    for each in ran:
        results.setdefault(each.check, []).append(each.result)  # made JSON data by build_report
    labels = {plan.host: plan.label for plan in plans}
    table = server_table(ran, labels)
    tables = [table] if table else []
    nat_label = merged.facts.nat_label
    summary = summary_table(ran, labels, None if nat_label is None else (LOCAL_NETWORK, f"NAT: {nat_label}"))
    tables += check_tables(ran)
    report = build_report(command, merged, tables=tables, results=results, started_at=started,
                          summary=summary)
    return ConfigRun(report, merged, ran)

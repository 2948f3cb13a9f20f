"""The NAT check: RFC 5780 discovery against every server, ``repeat`` times (probe), judged by
``triage.nat``; plus the tables and JSON results ``rtcdiag nat-type`` and ``rtcdiag check`` share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from rtcdiag import interrupt
from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.registry import Entry, Planning, Sample
from rtcdiag.jsonable import to_jsonable
from rtcdiag.probes.nat import NatDiscovery, NatRun, ServerMappingRun, discover, discover_across
from rtcdiag.probes.nat import NatOptions as NatOptions  # the plan's options, for ``rtcdiag nat-type``
from rtcdiag.report.model import Table
from rtcdiag.targets import Target
from rtcdiag.triage import nat as rules
from rtcdiag.triage.finding import Subject
from rtcdiag.triage.judgement import Facts
from rtcdiag.triage.nat_result import LOCAL_NETWORK as NAT_SUBJECT
from rtcdiag.triage.nat_result import NatTriage

# `rtcdiag nat-type` without --server: public STUN servers at different IP addresses (listed in
# docs/commands/nat-type.md).
# stun.stunprotocol.org runs stuntman with RFC 5780 (two addresses); the others are single-address servers,
# which still give the mapping behaviour together (probes.nat.discover_across).
DEFAULT_SERVERS: tuple[str, ...] = (
    "stun:stun.stunprotocol.org:3478",
    "stun:stun.l.google.com:19302",
    "stun:stun1.l.google.com:19302",
    "stun:stun.cloudflare.com:3478",
)


@dataclass(frozen=True)
class NatPlan:
    servers: list[Target]  # RFC 5780 STUN servers (plain stun:/turn:, the transport is the options')
    options: NatOptions = field(default_factory=NatOptions)
    repeat: int = 1  # runs per server, one after another (fresh sockets each time); all must agree
    # A server list (``nat-type`` without --server, or --servers): besides RFC 5780 on each, the mapping
    # from all of them together, which needs no RFC 5780 support (see probes.nat.discover_across).
    across: bool = False


async def _run(plan: NatPlan) -> NatDiscovery:
    """Every server concurrently (its runs one after another) and the mapping across the list. Interrupted
    (Ctrl-C, SIGTERM): the runs that had finished (rtcdiag.interrupt); a run cut short is not judged."""
    async def per_server(target: Target) -> list[NatRun]:
        runs: list[NatRun] = []
        for n in range(1, plan.repeat + 1):
            try:
                runs.append(await discover(target.uri, target.host, target.port, plan.options, run=n))
            except asyncio.CancelledError:
                if not interrupt.swallow():
                    raise
                interrupt.note_unfinished(f"{target.uri} run {n}" if plan.repeat > 1 else target.uri)
                break
        return runs

    async def across() -> ServerMappingRun | None:
        if not plan.across or plan.options.transport != "udp":
            return None
        return await discover_across([(t.uri, t.host, t.port) for t in plan.servers], plan.options)

    plain_task = asyncio.ensure_future(across())
    try:
        grouped = await interrupt.finished([per_server(target) for target in plan.servers],
                                           [target.uri for target in plan.servers])
    except BaseException:
        plain_task.cancel()
        raise
    if interrupt.requested() is not None:
        plain_task.cancel()  # a no-op when it had finished
    try:
        plain = await plain_task
    except asyncio.CancelledError:
        if not interrupt.swallow():
            raise
        interrupt.note_unfinished("the mapping across the server list")
        plain = None
    return NatDiscovery(runs=[run for runs in grouped for run in runs], options=plan.options, across=plain)


NAT: Check[NatPlan, NatDiscovery] = Check(rules.CHECK, _run, rules.judge)


# --- tables and results ---------------------------------------------------------------------------------


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def behaviour_table(runs: list[NatRun], result: NatTriage,
                    across: ServerMappingRun | None = None) -> Table:
    """The verdict and what it means, then what the first validated run saw."""
    c = result.consensus
    rows = [
        ["NAT type (RFC 3489 label)", c.legacy.value],
        ["what it means", c.meaning],
        ["mapping (RFC 4787)", c.mapping.value],
        ["filtering (RFC 4787)", c.filtering.value],
        ["NAT present", _yes_no(c.nat_present)],
        ["confidence", f"{c.confidence} ({c.runs_used} of {c.runs_total} runs used)"],
    ]
    if c.source == "across" and across is not None:
        rows += [["measured with", f"{across.answered} ordinary STUN server(s) from one local socket "
                                   f"{across.local or '?'} (no RFC 5780 server in the list)"],
                 ["why filtering is unknown", across.filtering_reason]]
    first = next((r for r in runs if r.server_check and r.server_check.supported), None)
    if first is not None:
        rows += [
            ["local address", first.local or "?"],
            ["mapped address", first.mapped or "?"],
            ["port preserved", _yes_no(first.port_preserved)],
            ["hairpinning", _yes_no(c.hairpin) if any(t.socket == "hairpin" for t in first.tests)
             else "not tested (--hairpin)"],
            ["ALG rewriting", "yes" if first.alg else "no"],
            ["server", f"{first.address}, other address "
                       f"{first.server_check.other_address if first.server_check else '?'}"],
        ]
        if first.lifetime is not None:
            life = first.lifetime
            rows.append(["mapping lifetime",
                         life.detail if not life.supported else
                         f"alive after {life.alive_s} s, gone after {life.gone_s} s" if life.gone_s else
                         f"alive after {life.alive_s} s (longest tried)"])
    return Table(title="NAT behaviour", columns=["", ""], rows=rows)


def tests_table(runs: list[NatRun]) -> Table:
    """Every RFC 5780 test of every run: destination, outcome, mapped address, requests sent."""
    rows: list[list[str]] = []
    several = len(runs) > 1
    for run in runs:
        prefix = f"{run.server} #{run.run} " if several else ""
        for t in run.tests:
            name = f"{prefix}{t.name}" + (f" (change {t.change})" if t.change else "")
            rows.append([name, t.dest, t.outcome.value, t.mapped or "-", str(t.attempts)])
    return Table(title="RFC 5780 tests (every reply, source and attribute: --json)",
                 columns=["test", "to", "outcome", "mapped", "sent"], rows=rows)


def across_table(across: ServerMappingRun) -> Table:
    """The mapping seen through each ordinary STUN server from the one local socket."""
    rows = [[t.dest, t.name.removeprefix("mapping via "), t.outcome.value, t.mapped or "-", str(t.attempts)]
            for t in across.tests]
    rows += [["-", label, f"not asked: {why}", "-", "0"] for label, why in across.unresolved.items()]
    return Table(title=f"Mapping across STUN servers (one local socket {across.local or '?'})",
                 columns=["to", "server", "outcome", "mapped", "sent"], rows=rows)


def nat_report_parts(runs: list[NatRun], across: ServerMappingRun | None = None
                     ) -> tuple[list[Table], dict[str, Any]]:
    """The tables and the JSON ``results`` of a NAT report (the consensus and every run with every
    exchange), from one consensus."""
    triaged = rules.triage(runs, across)
    results = {"consensus": to_jsonable(triaged.consensus), "runs": to_jsonable(runs)}
    tables = [behaviour_table(runs, triaged, across), tests_table(runs)]
    if across is not None:
        results["across"] = to_jsonable(across)
        tables.append(across_table(across))
    return tables, results


def config_jobs(planning: Planning) -> list[Job[NatPlan, NatDiscovery]]:
    """``rtcdiag check``: this machine's NAT once, against the config's ``nat_servers``."""
    config = planning.config
    if not config.nat_servers:
        return []
    plan = NatPlan(list(config.nat_servers), NatOptions(transport="udp",
                                                                 timeout_s=planning.timeouts.transaction_s))
    return [Job(NAT, plan, Subject(NAT_SUBJECT.server), f"nat {NAT_SUBJECT.server}")]


def metrics(result: NatDiscovery, facts: Facts) -> list[Sample]:
    if not result.runs:
        return []
    first = result.runs[0]
    return [Sample("rtcdiag_nat_info", 1.0, (first.mapping.value, first.filtering.value,
                                             facts.nat_label or "unknown"))]


ENTRIES = (Entry(NAT, NatDiscovery, config_jobs=config_jobs, metrics=metrics),)

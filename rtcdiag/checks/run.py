"""``rtcdiag check`` as a library: a :class:`~rtcdiag.config.CheckConfig` in, one report out.

plan (one :class:`ServerPlan` per server host) -> one job per applicable check (DNS, ports, STUN, TURN, ICE
per server; NAT once for this machine's network) -> all concurrently, each guarded -> expectations judged on
the facts the checks measured -> diagnosis and report built once (``rtcdiag.report.build``)::

    report = await run_config(config)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rtcdiag.addresses import parse_ip
from rtcdiag.checks.engine import Job, Ran, execute_all, judge_guarded
from rtcdiag.checks.tables import cells, short_cells
from rtcdiag.config import CHECKS, CheckConfig, ServerConfig
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report, Table
from rtcdiag.targets import Target, expand_transports
from rtcdiag.triage.expectations import Expectations, judge_nat, judge_server
from rtcdiag.triage.finding import Severity, Subject
from rtcdiag.triage.judgement import Facts, Judgement, assign_entry

LOCAL_NETWORK = "local network"
ICE_PACKETS = 3
TURN_PACKETS = 3


@dataclass
class ServerPlan:
    """One server host of the config with the URLs, credentials and checks that apply to it."""

    host: str
    targets: list[Target]
    config: ServerConfig
    checks: tuple[str, ...]
    expect: Expectations
    ca: Path | None
    insecure: bool
    label: str = ""  # unique among the plans: the host, plus the server's name or a number if needed
    follow_redirects: bool = True  # config follow_redirects / check --no-follow
    shortcut_transports: tuple[str, ...] = ("udp", "tcp")  # of a host[:port] target (check -t)

    @property
    def turn_targets(self) -> list[Target]:
        return [t for t in self.targets if t.is_turn]

    @property
    def subject(self) -> Subject:
        """The plan's own subject; its label is also the server entry every finding of its jobs gets."""
        return Subject(self.label, self.host, entry=self.label)

    @property
    def suffix(self) -> str:
        """What tells this plan apart from another entry on the same host: ``(name)``, ``(#2)`` or ""."""
        return self.label.removeprefix(self.host).strip()


def plan_servers(config: CheckConfig) -> list[ServerPlan]:
    plans: list[ServerPlan] = []
    for server in config.servers:
        hosts: dict[str, list[Target]] = {}
        for target in server.targets:
            hosts.setdefault(target.host, []).append(target)
        for host, targets in hosts.items():
            insecure = server.insecure if server.insecure is not None else config.insecure
            plans.append(ServerPlan(host=host, targets=targets, config=server,
                                    checks=config.server_checks(server), expect=config.server_expect(server),
                                    ca=server.ca or config.ca, insecure=insecure, label=host,
                                    follow_redirects=config.follow_redirects,
                                    shortcut_transports=config.shortcut_transports))
    counts: dict[str, int] = {}
    for plan in plans:
        counts[plan.host] = counts.get(plan.host, 0) + 1
    seen: dict[str, int] = {}
    labels: set[str] = set()
    for plan in plans:
        if counts[plan.host] > 1:
            seen[plan.host] = seen.get(plan.host, 0) + 1
            plan.label = f"{plan.host} ({plan.config.name or '#' + str(seen[plan.host])})"
            if plan.label in labels:  # two entries of one name on one host: still two entries
                plan.label = f"{plan.host} ({plan.config.name} #{seen[plan.host]})"
        labels.add(plan.label)
    return plans


def _transports(plan: ServerPlan) -> list[Target]:
    """Each URL with a concrete transport, as a browser uses it: a stun:/turn: URL without ``?transport=``
    is UDP (RFC 7065 §3); only a ``host[:port]`` given on the command line is tried over UDP and TCP (or the
    transports of ``check -t``)."""
    return expand_transports(plan.targets, plan.shortcut_transports)


def _with_credentials(plan: ServerPlan) -> list[Target]:
    """The plan's URLs with REST API credentials derived from its shared secret, if it has one."""
    server = plan.config
    if server.secret is None:
        return plan.targets
    from rtcdiag.protocol.credentials import rest_credentials

    username, password = rest_credentials(server.secret, server.username or "rtcdiag", server.ttl)
    return [replace(t, username=username, credential=password) for t in plan.targets]


def _stun_targets(plan: ServerPlan) -> list[Target]:
    """One Binding per host x port x transport: TURN servers answer Binding too (RFC 8656 §3)."""
    seen: set[tuple[int, str | None]] = set()
    out: list[Target] = []
    for target in _transports(plan):
        key = (target.port, target.transport)
        if key in seen:
            continue
        seen.add(key)
        scheme = "stuns" if target.transport == "tls" else "stun"
        out.append(replace(target, scheme=scheme, username=None, credential=None))
    return out


# --- jobs, one per check and server ---------------------------------------------------------------------


def _dns_job(plan: ServerPlan, timeout: float) -> Job[Any, Any] | None:
    if parse_ip(plan.host) is not None:
        return None  # an IP literal has nothing to resolve
    from rtcdiag.checks.dns import DNS, DnsPlan

    return Job(DNS, DnsPlan(plan.host, timeout=timeout, reach_timeout=min(timeout, 1.0)), plan.subject,
               f"dns {plan.label}")


def _ports_job(plan: ServerPlan, timeout: float) -> Job[Any, Any] | None:
    from rtcdiag.checks.ports import PORTS, PortsPlan
    from rtcdiag.probes.reach import PortTarget

    wanted: list[PortTarget] = []
    for target in _transports(plan):
        port_target = PortTarget(transport=target.transport or "udp", port=target.port)
        if port_target not in wanted:
            wanted.append(port_target)
    return Job(PORTS, PortsPlan(plan.host, wanted, timeout=timeout, ca_file=plan.ca, insecure=plan.insecure),
               plan.subject, f"ports {plan.label}")


def _stun_job(plan: ServerPlan, timeout: float) -> Job[Any, Any] | None:
    from rtcdiag.checks.stun import STUN, StunPlan
    from rtcdiag.probes.binding import BindingOptions

    targets = _stun_targets(plan)
    if not targets:
        return None
    options = BindingOptions(timeout=timeout, ca_file=str(plan.ca) if plan.ca else None,
                             insecure=plan.insecure, follow_redirects=plan.follow_redirects)
    return Job(STUN, StunPlan(targets, options), plan.subject, f"stun {plan.label}")


def _turn_job(plan: ServerPlan, timeout: float) -> Job[Any, Any] | None:
    from rtcdiag.checks.turn import TURN, TurnPlan
    from rtcdiag.probes.turn import TurnCheckOptions
    from rtcdiag.probes.turn_result import FAMILY_CHOICES

    targets = plan.turn_targets
    if not targets:
        return None
    server = plan.config
    options = TurnCheckOptions(
        username=server.username, password=server.password, secret=server.secret, ttl_s=server.ttl,
        realm=server.realm, ca_file=str(plan.ca) if plan.ca else None, insecure=plan.insecure,
        packets=TURN_PACKETS, timeout_s=timeout, transports=plan.shortcut_transports,  # host[:port] only
        families=FAMILY_CHOICES[server.family], tcp_relay=server.tcp_relay,
        follow_redirects=plan.follow_redirects)
    return Job(TURN, TurnPlan(targets, options), plan.subject, f"turn {plan.label}")


def _ice_job(plan: ServerPlan, timeout: float) -> Job[Any, Any] | None:
    from rtcdiag.checks.ice import ICE, IcePlan, ice_servers_from_targets
    from rtcdiag.probes.ice import IceOptions
    from rtcdiag.tls import make_client_context

    usable = [t for t in _with_credentials(plan) if not t.is_turn or (t.username and t.credential)]
    servers = ice_servers_from_targets(usable)
    if not servers:
        return None
    options = IceOptions(packets=ICE_PACKETS, gather_timeout_s=timeout, connect_timeout_s=timeout,
                         ssl_context=make_client_context(str(plan.ca) if plan.ca else None,
                                                         insecure=plan.insecure))
    return Job(ICE, IcePlan(servers, options), plan.subject, f"ice {plan.label}")


JOB_MAKERS: dict[str, Callable[[ServerPlan, float], Job[Any, Any] | None]] = {
    "dns": _dns_job, "ports": _ports_job, "stun": _stun_job, "turn": _turn_job, "ice": _ice_job,
}


def _nat_job(config: CheckConfig) -> Job[Any, Any] | None:
    if "nat" not in config.checks or not config.nat_servers:
        return None
    from rtcdiag.checks.nat import NAT, NatPlan
    from rtcdiag.probes.nat import NatOptions

    plan = NatPlan(list(config.nat_servers), NatOptions(transport="udp", timeout_s=config.timeout))
    return Job(NAT, plan, Subject(LOCAL_NETWORK), f"nat {LOCAL_NETWORK}")


BROWSER_SUBJECT = "chromium"


def browser_job(plans: list[ServerPlan], timeout: float, executable: str | None = None,
                ) -> Job[Any, Any] | None:
    """``check --browser``: one headless Chromium run with every server's URLs (aioice already runs as the
    ``ice`` check, so no second comparison run)."""
    from rtcdiag.checks.browser import BROWSER, BrowserPlan
    from rtcdiag.checks.ice import ice_servers_from_targets
    from rtcdiag.probes.browser_ice import BrowserIceOptions

    targets = [t for plan in plans for t in _with_credentials(plan) if not t.is_turn or (t.username and
                                                                                          t.credential)]
    servers = ice_servers_from_targets(targets)
    if not servers:
        return None
    options = BrowserIceOptions(executable=executable, messages=ICE_PACKETS, timeout_s=max(timeout, 5.0))
    return Job(BROWSER, BrowserPlan(servers, options), Subject(BROWSER_SUBJECT),
               f"browser {len(servers)} URL(s)")


def plan_jobs(config: CheckConfig, plans: list[ServerPlan]) -> list[Job[Any, Any]]:
    """Every applicable check of every server, in the order of :data:`rtcdiag.config.CHECKS`."""
    jobs: list[Job[Any, Any]] = []
    for plan in plans:
        for check in CHECKS:
            maker = JOB_MAKERS.get(check)
            if maker is None or check not in plan.checks:
                continue
            job = maker(plan, config.timeout)
            if job is not None:
                jobs.append(job)
    nat = _nat_job(config)
    if nat is not None:
        jobs.append(nat)
    jobs += _signal_jobs(config)
    return jobs


def _signal_jobs(config: CheckConfig) -> list[Job[Any, Any]]:
    """One ``signal`` job per ``[[signalling]]`` entry (its URLs probed concurrently), with the run's
    timeout and TLS settings (the command line may have changed them after the file was read)."""
    if "signal" not in config.checks:
        return []
    from rtcdiag.checks.signal import SIGNAL, SignalPlan

    jobs: list[Job[Any, Any]] = []
    for entry in config.signalling:
        options = replace(entry.options, timeout=config.timeout,
                          insecure=entry.options.insecure or config.insecure,
                          ca_file=entry.options.ca_file or config.ca)
        first = entry.targets[0].url
        label = entry.name or (first.display if len(entry.targets) == 1 else f"{first.display} +"
                               f"{len(entry.targets) - 1}")
        jobs.append(Job(SIGNAL, SignalPlan(entry.targets, options), Subject(label, host=first.host),
                        f"signal {label}"))
    return jobs


# --- report ---------------------------------------------------------------------------------------------


def _label_facts(facts: Facts, server: str) -> None:
    """Relay and RTT facts name the server (plan label) whose job measured them, for its expectations."""
    facts.relays = [replace(f, server=server) for f in facts.relays]
    facts.rtts = [replace(f, server=server) for f in facts.rtts]


def _browser_entries(judgement: Judgement, plans: list[ServerPlan]) -> None:
    """Chromium's findings about a URL (or, for a call, about a TURN host) belong to the one server entry
    that lists it; a URL of two entries stays the browser's own (never attributed to either)."""
    by_endpoint: dict[tuple[str, int | None, str | None], set[str]] = {}
    by_host: dict[str, set[str]] = {}
    for plan in plans:
        by_host.setdefault(plan.host, set()).add(plan.label)
        for target in _transports(plan):
            by_endpoint.setdefault((target.host, target.port, target.transport), set()).add(plan.label)

    def entry_of(subject: Subject) -> str | None:
        if subject.port is None:
            owners = by_host.get(subject.host, set())
        else:
            owners = by_endpoint.get((subject.host, subject.port, subject.transport), set())
        return next(iter(owners)) if len(owners) == 1 else None

    for finding in judgement.findings:
        entry = entry_of(finding.subject)
        if entry is not None:
            finding.subject = replace(finding.subject, entry=entry)
    judgement.steps = [replace(step, subject=replace(step.subject, entry=entry_of(step.subject)))
                       for step in judgement.steps]


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

    turn_plans = [plan for plan in plans if "turn" in plan.checks]
    subjects: dict[str, Subject] = {}
    for plan in turn_plans:
        subjects.setdefault(plan.host, plan.subject)
    targets = [t for plan in turn_plans for t in plan.targets]
    return judge_guarded(CHECK, Subject("config"),
                         lambda: judge_fallback(targets, lambda host: subjects[host]))


def server_table(ran: list[Ran[Any]], plans: list[ServerPlan]) -> Table | None:
    """One row per server x transport: port, STUN, TURN, data path and ICE at a glance."""
    columns = ["port", "stun", "turn", "data", "ice"]
    by_host = {plan.host: plan.label for plan in plans}
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for each in ran:
        # A check of one server entry: its own label (two entries on one host are two rows, never one).
        own = {each.subject.host: each.subject.server} if each.subject.entry is not None else by_host
        for label, transport, column, text in cells(each, own):
            row = rows.setdefault((label, transport), {})
            row[column] = f"{row[column]}; {text}" if column in row else text
    if not rows:
        return None
    order = {"udp": 0, "tcp": 1, "tls": 2}
    keys = sorted(rows, key=lambda key: (key[0], order.get(key[1], 9)))
    return Table(title="Servers by transport", columns=["server", "transport", *columns],
                 rows=[[label, transport, *(rows[(label, transport)].get(c, "-") for c in columns)]
                       for label, transport in keys])


_SHORT_ORDER = ("port", "result", "stun", "data", "ice")


def summary_table(ran: list[Ran[Any]], plans: list[ServerPlan], facts: Facts) -> Table | None:
    """The console's short view: one line per server x transport (what TURN gave, the data path's loss and
    RTT, ICE; STUN's mapped address where no TURN ran; a port only when it was not open), and the NAT."""
    by_host = {plan.host: plan.label for plan in plans}
    rows: dict[tuple[str, str], dict[str, list[str]]] = {}
    for each in ran:
        own = {each.subject.host: each.subject.server} if each.subject.entry is not None else by_host
        for label, transport, column, text in short_cells(each, own):
            rows.setdefault((label, transport), {}).setdefault(column, []).append(text)
    order = {"udp": 0, "tcp": 1, "tls": 2}
    out: list[list[str]] = []
    for key in sorted(rows, key=lambda key: (key[0], order.get(key[1], 9))):
        columns = rows[key]
        if "result" in columns:
            columns.pop("stun", None)  # the TURN outcome says more than the Binding
        texts = [text for column in _SHORT_ORDER for text in dict.fromkeys(columns.get(column, []))]
        out.append([key[0], key[1], ", ".join(texts)])
    if facts.nat_label is not None:
        out.append([LOCAL_NETWORK, "", f"NAT: {facts.nat_label}"])
    if not out:
        return None
    return Table(title="Servers by transport", columns=["server", "transport", "result"], rows=out)


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
    from rtcdiag.probes import slots

    # Read when this event loop's first probe takes a slot.
    slots.set_concurrency(config.concurrency or slots.DEFAULT_CONCURRENCY)
    plans = plan_servers(config)
    jobs = plan_jobs(config, plans)
    if browser:
        job = browser_job(plans, config.timeout, browser_path)
        if job is not None:
            jobs.append(job)
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
        if plan is not None:  # a check of one server entry: everything it found belongs to that entry
            assign_entry(each.judgement, plan.label, plan.suffix)
        elif each.check == "browser":
            _browser_entries(each.judgement, plans)
    merged = Judgement.merge([r.judgement for r in ran])
    merged.extend(_expectations(config, plans, merged))
    if fallback:
        merged.extend(_fallback(plans))
    results: dict[str, Any] = {"config": config.source, "checks": list(config.checks)}
    for each in ran:
        results.setdefault(each.check, []).append(each.result)  # made JSON data by build_report
    table = server_table(ran, plans)
    tables = [table] if table else []
    summary = summary_table(ran, plans, merged.facts)
    for each in ran:
        if each.check == "browser" and each.result is not None:
            from rtcdiag.checks.browser import browser_tables

            tables += browser_tables(each.result)
        if each.check == "signal" and each.result is not None:
            from rtcdiag.checks.signal import signal_tables

            tables += signal_tables(each.result)
    report = build_report(command, merged, tables=tables, results=results, started_at=started,
                          summary=summary)
    return ConfigRun(report, merged, ran)

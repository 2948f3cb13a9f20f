"""``rtcdiag check``: every applicable check, concurrently, in one triage report.

parse (config file / ice-servers file / URIs) -> one plan per server -> all probes concurrently (DNS, ports,
STUN binding, TURN check, ICE per server; NAT type once for the network) -> each probe's own triage ->
expectations -> one Report (verdict, findings by severity, per-server x transport table) -> emit().
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click

from rtcdiag import exitcodes
from rtcdiag.addresses import parse_ip
from rtcdiag.commands.common import OutputOptions, TlsOptions, emit, output_options, run_async, tls_options
from rtcdiag.config import CHECKS, CheckConfig, Expectations, ServerConfig, load_config
from rtcdiag.errors import UsageError
from rtcdiag.jsonable import to_jsonable
from rtcdiag.redact import register_secret
from rtcdiag.report.model import CheckCase, Report, Status, Table
from rtcdiag.report.progress import ProgressView
from rtcdiag.secret_input import (
    PASSWORD_ENV,
    SECRET_ENV,
    SecretArgs,
    load_secret,
    load_username,
    turn_credential_options,
)
from rtcdiag.targets import Target, expand_transports, load_ice_servers, parse_targets, parse_uri
from rtcdiag.triage.expectations import ServerFacts, evaluate_nat, evaluate_server
from rtcdiag.triage.finding import Finding, Severity

# With no arguments: well-known public STUN servers (binding + ICE gathering) and the local network (NAT).
DEFAULT_STUN_SERVERS = ("stun:stun.l.google.com:19302", "stun:stun.cloudflare.com:3478")
LOCAL_NETWORK = "local network"


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

    @property
    def turn_targets(self) -> list[Target]:
        return [t for t in self.targets if t.is_turn]


@dataclass
class Section:
    """What one probe contributed to the report."""

    check: str  # "dns" | "ports" | "stun" | "turn" | "ice" | "nat"
    subject: str
    findings: list[Finding] = field(default_factory=list)
    checks: list[CheckCase] = field(default_factory=list)
    result: Any = None
    inconclusive: bool = False
    relay_ok: bool | None = None  # facts for expectations
    relay_evidence: list[str] = field(default_factory=list)
    rtts_ms: list[tuple[str, float]] = field(default_factory=list)
    nat_label: str | None = None
    # (transport, column, cell) for the per-server x transport table
    cells: list[tuple[str, str, str]] = field(default_factory=list)


# --- plan ------------------------------------------------------------------------------------------------


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
                                    ca=server.ca or config.ca, insecure=insecure, label=host))
    counts: dict[str, int] = {}
    for plan in plans:
        counts[plan.host] = counts.get(plan.host, 0) + 1
    seen: dict[str, int] = {}
    for plan in plans:
        if counts[plan.host] > 1:
            seen[plan.host] = seen.get(plan.host, 0) + 1
            plan.label = f"{plan.host} ({plan.config.name or '#' + str(seen[plan.host])})"
    return plans


def _transports(plan: ServerPlan) -> list[Target]:
    """Each URL with a concrete transport: a bare stun:/turn: URL is tried over UDP and TCP on its port."""
    return expand_transports(plan.targets, ("udp", "tcp"))


# --- sections (one per probe) ----------------------------------------------------------------------------


async def _dns(plan: ServerPlan, timeout: float) -> Section:
    from rtcdiag.probes import dns
    from rtcdiag.triage import dns as dns_triage

    result = await dns.lookup(plan.host, timeout=timeout, reach_timeout=timeout)
    section = Section("dns", plan.label, result=result)
    section.findings = dns_triage.triage(result)
    section.checks = dns_triage.checks(result, section.findings)
    return section


async def _ports(plan: ServerPlan, timeout: float) -> Section:
    from rtcdiag.probes import reach
    from rtcdiag.triage import reach as reach_triage

    wanted: list[reach.PortTarget] = []
    for target in _transports(plan):
        port_target = reach.PortTarget(transport=target.transport or "udp", port=target.port)
        if port_target not in wanted:
            wanted.append(port_target)
    result = await reach.check(plan.host, wanted, timeout=timeout, ca_file=plan.ca, insecure=plan.insecure)
    section = Section("ports", plan.label, result=result)
    section.findings = reach_triage.triage(result)
    section.checks = reach_triage.checks(result, section.findings)
    for port in result.ports:
        rtt = f" {port.rtt_ms:.0f} ms" if port.rtt_ms is not None else ""
        section.cells.append((port.transport, "port", f"{port.port} {port.state}{rtt}"))
    return section


def _with_credentials(plan: ServerPlan) -> list[Target]:
    """The plan's URLs with REST API credentials derived from its shared secret, if it has one."""
    server = plan.config
    if server.secret is None:
        return plan.targets
    from rtcdiag.protocol.credentials import rest_credentials

    username, password = rest_credentials(server.secret, server.username or "rtcdiag", server.ttl)
    return [replace(t, username=username, credential=password) for t in plan.targets]


async def _ice(plan: ServerPlan, timeout: float) -> Section | None:
    from rtcdiag.commands.ice import ice_checks, ice_servers_from_targets
    from rtcdiag.probes import ice
    from rtcdiag.tls import make_client_context
    from rtcdiag.triage.ice import pair_text, triage

    usable = [t for t in _with_credentials(plan) if not t.is_turn or (t.username and t.credential)]
    servers = ice_servers_from_targets(list(usable))
    if not servers:
        return None
    options = ice.IceOptions(packets=3, gather_timeout_s=timeout, connect_timeout_s=timeout,
                             ssl_context=make_client_context(str(plan.ca) if plan.ca else None,
                                                             insecure=plan.insecure))
    result = await ice.probe(servers, options)
    section = Section("ice", plan.label, result=result)
    section.findings = triage(result)
    section.checks = ice_checks(result, section.findings)
    for run in result.runs:
        transport = "tls" if run.scheme == "turns" else ("udp" if run.relay_protocol == "udp" else "tcp")
        if run.scheme == "stun":
            srflx = next((c for c in run.candidates if c.type == "srflx"), None)
            section.cells.append((transport, "ice", f"srflx {srflx.address}" if srflx else "no srflx"))
            continue
        if run.connected:
            cell = f"connected {run.connect_ms:.0f} ms, {run.packets_received}/{run.packets_sent} echoed"
            section.relay_ok = (section.relay_ok is not False) and run.packets_received > 0
            section.relay_evidence.append(f"ICE {run.url}: {pair_text(run)}, "
                                          f"{run.packets_received}/{run.packets_sent} packets echoed")
            section.rtts_ms.extend((f"ICE data {run.url}", rtt) for rtt in run.rtts_ms)
        else:
            cell = "FAILED" if run.attempted_connect else "no relay"
            section.relay_ok = False
            section.relay_evidence.append(f"ICE {run.url}: {run.ice_error or 'no relay candidate'}")
        section.cells.append((transport, "ice", cell))
    return section


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


async def _stun(plan: ServerPlan, timeout: float) -> Section | None:
    from rtcdiag.probes import binding
    from rtcdiag.triage import stun as stun_triage

    targets = _stun_targets(plan)
    if not targets:
        return None
    options = binding.BindingOptions(timeout=timeout, ca_file=str(plan.ca) if plan.ca else None,
                                     insecure=plan.insecure)
    results = await binding.check_all(targets, options)
    section = Section("stun", plan.label, result=results)
    section.findings = stun_triage.triage(results)
    for result in results:
        mine = [f for f in section.findings if f.subject in (result.target, "")]
        section.checks.append(CheckCase(
            suite=result.target, name=f"stun/{result.transport}/binding", status=status_of(mine),
            message="; ".join(f"{f.id}: {f.title}" for f in mine) or
            f"mapped {result.mapped_address} in {result.rtt_ms} ms",
            duration_s=round((result.rtt_ms or 0.0) / 1000.0, 4), finding_ids=[f.id for f in mine]))
        if result.outcome == "success" and result.rtt_ms is not None:
            section.rtts_ms.append((f"STUN binding {result.transport}/{result.port}", result.rtt_ms))
            cell = f"{result.mapped_address} {result.rtt_ms:.1f} ms"
            section.cells.append((result.transport, "stun", cell))
        else:
            section.cells.append((result.transport, "stun", result.error or result.outcome))
    return section


def _turn_cells(section: Section, t: Any) -> None:
    if t.allocated:
        section.cells.append((t.transport, "turn", f"relay {t.relayed_address}"))
    else:
        why = (f"{t.error_code} {t.error_reason or ''}".strip() if t.error_code
               else t.connect_error or t.timed_out_step or "no allocation")
        section.cells.append((t.transport, "turn", str(why)))
    for dp in t.data_paths:
        rtt = f", {dp.rtt_avg_ms} ms" if dp.rtts_ms else ""
        cell = f"{dp.method} {dp.packets_received}/{dp.packets_sent}{rtt}"
        section.cells.append((t.transport, "data", cell))


async def _turn(plan: ServerPlan, timeout: float) -> Section | None:
    from rtcdiag.probes import turn
    from rtcdiag.triage import turn as turn_triage

    targets = plan.turn_targets
    if not targets:
        return None
    server = plan.config
    options = turn.TurnCheckOptions(
        username=server.username, password=server.password, secret=server.secret, ttl_s=server.ttl,
        realm=server.realm, ca_file=str(plan.ca) if plan.ca else None, insecure=plan.insecure, packets=3,
        timeout_s=timeout, transports=("udp", "tcp"))  # a bare turn: URL means UDP and TCP on its port
    results = await asyncio.gather(*(turn.check(target, options) for target in targets))
    section = Section("turn", plan.label, result=list(results))
    relay_ok = False
    for result in results:
        found = turn_triage.findings(result)
        section.findings.extend(found)
        section.checks.extend(turn_triage.checks(result, found))
        section.inconclusive = section.inconclusive or turn_triage.is_inconclusive(result)
        for t in result.transports:
            _turn_cells(section, t)
            flowing = [dp for dp in t.data_paths if dp.packets_received]
            if t.allocated and flowing:
                relay_ok = True
                section.relay_evidence.append(f"TURN {t.transport}: relay {t.relayed_address}, "
                                              f"data echoed through it")
            elif not t.allocated:
                why = t.error_code or t.connect_error or "no answer"
                section.relay_evidence.append(f"TURN {t.transport}: no allocation ({why})")
            section.rtts_ms.extend((f"TURN data {t.transport} ({dp.method})", rtt)
                                   for dp in flowing for rtt in dp.rtts_ms)
    section.relay_ok = relay_ok
    return section


async def _nat(config: CheckConfig) -> Section:
    """RFC 5780 NAT discovery once for this machine's network, against the configured RFC 5780 servers."""
    from rtcdiag.commands.nat_type import build_report as nat_report
    from rtcdiag.probes.nat import NatOptions, discover
    from rtcdiag.triage.nat import triage

    options = NatOptions(transport="udp", timeout_s=config.timeout)
    runs = await asyncio.gather(*(discover(t.uri, t.host, t.port, options) for t in config.nat_servers))
    result = triage(list(runs))
    partial = nat_report(list(runs), result)
    section = Section("nat", LOCAL_NETWORK, findings=list(result.findings), checks=partial.checks,
                      result=partial.results, inconclusive=result.inconclusive)
    label = result.consensus.legacy.value
    section.nat_label = None if label == "unknown" else label
    return section


Runner = Callable[[ServerPlan, float], Awaitable["Section | None"]]


def _runners() -> dict[str, Runner]:
    runners: dict[str, Runner] = {"dns": _dns, "ports": _ports, "stun": _stun, "turn": _turn, "ice": _ice}
    return runners


async def _guard(check: str, subject: str, coro: Awaitable[Section | None]) -> Section | None:
    """A probe that crashes must not take the other checks down: report it as an inconclusive check."""
    try:
        return await coro
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("RTCDIAG_DEBUG"):
            raise
        message = f"internal error in the {check} check: {type(exc).__name__}: {exc}"
        return Section(check, subject, inconclusive=True,
                       checks=[CheckCase(suite=subject, name=f"{check}/run", status=Status.INCONCLUSIVE,
                                         message=message)])


# --- run -------------------------------------------------------------------------------------------------


def status_of(findings: list[Finding]) -> Status:
    """The JUnit status a set of findings about one check gives it."""
    ranks = {f.severity.rank for f in findings}
    if Severity.ERROR.rank in ranks:
        return Status.FAIL
    if Severity.WARNING.rank in ranks:
        return Status.WARN
    return Status.PASS


def _outcome(section: Section | None) -> bool | None:
    if section is None or section.inconclusive:
        return None
    return not any(c.status is Status.FAIL for c in section.checks)


async def run_sections(config: CheckConfig, view: ProgressView | None = None) -> list[Section]:
    """Every applicable probe, concurrently; ``view`` shows one line per probe while they run."""
    runners = _runners()
    jobs: list[tuple[str, Awaitable[Section | None]]] = []
    for plan in plan_servers(config):
        for check in CHECKS:
            if check not in plan.checks or check not in runners:
                continue
            if check == "dns" and parse_ip(plan.host) is not None:
                continue  # an IP literal has nothing to resolve
            job = _guard(check, plan.label, runners[check](plan, config.timeout))
            jobs.append((f"{check} {plan.label}", job))

    if "nat" in config.checks and config.nat_servers:
        jobs.append((f"nat {LOCAL_NETWORK}", _guard("nat", LOCAL_NETWORK, _nat(config))))

    async def tracked(label: str, job: Awaitable[Section | None]) -> Section | None:
        task = view.add(label) if view is not None else 0
        section = await job
        if view is not None:
            view.done(task, ok=_outcome(section))
        return section

    sections = await asyncio.gather(*(tracked(label, job) for label, job in jobs))
    return [s for s in sections if s is not None]


def _server_table(sections: list[Section]) -> Table:
    columns = ["port", "stun", "turn", "data", "ice"]
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for section in sections:
        for transport, column, text in section.cells:
            row = cells.setdefault((section.subject, transport), {})
            row[column] = f"{row[column]}; {text}" if column in row else text
    order = {"udp": 0, "tcp": 1, "tls": 2}
    keys = sorted(cells, key=lambda key: (key[0], order.get(key[1], 9)))
    rows = [[subject, transport, *(cells[(subject, transport)].get(c, "-") for c in columns)]
            for subject, transport in keys]
    return Table(title="Servers by transport", columns=["server", "transport", *columns], rows=rows)


def merge_findings(findings: list[Finding]) -> list[Finding]:
    """One finding per identical statement: the same id and text about several URLs lists them all."""
    merged: dict[tuple[str, str, str, str, str], Finding] = {}
    for finding in findings:
        key = (finding.id, finding.title, finding.symptom, finding.cause, finding.fix)
        first = merged.get(key)
        if first is None:
            merged[key] = replace(finding, evidence=list(finding.evidence))
            continue
        if finding.subject and finding.subject not in first.subject.split(", "):
            first.subject = f"{first.subject}, {finding.subject}" if first.subject else finding.subject
        first.evidence.extend(e for e in finding.evidence if e not in first.evidence)
    return list(merged.values())


def build_report(config: CheckConfig, sections: list[Section], started: float) -> Report:
    report = Report(command="check", started_at=started)
    results: dict[str, list[Any]] = {}
    for section in sections:
        report.findings.extend(section.findings)
        report.checks.extend(section.checks)
        report.inconclusive = report.inconclusive or section.inconclusive
        results.setdefault(section.check, []).append(to_jsonable(section.result))
    for plan in plan_servers(config):
        mine = [s for s in sections if s.subject == plan.label]
        facts = ServerFacts(subject=plan.label)
        for section in mine:
            if section.relay_ok is not None:
                before = facts.relay_ok
                facts.relay_ok = section.relay_ok if before is None else before and section.relay_ok
            facts.relay_evidence.extend(section.relay_evidence)
            facts.rtts_ms.extend(section.rtts_ms)
        outcome = evaluate_server(plan.expect, facts)
        report.findings.extend(outcome.findings)
        report.checks.extend(outcome.checks)
    nat = next((s for s in sections if s.check == "nat"), None)
    nat_outcome = evaluate_nat(config.expect, nat.nat_label if nat else None, subject=LOCAL_NETWORK)
    report.findings.extend(nat_outcome.findings)
    report.checks.extend(nat_outcome.checks)
    report.findings = merge_findings(report.findings)
    table = _server_table(sections)
    if table.rows:
        report.tables.append(table)
    report.results = {"config": config.source, "checks": list(config.checks), **results}
    return report


async def _run(config: CheckConfig, live: bool | None) -> Report:
    from rtcdiag.report.progress import progress

    started = time.time()
    with progress(enabled=live) as view:
        sections = await run_sections(config, view)
    return build_report(config, sections, started)


def run_check(config: CheckConfig, *, live: bool | None = None) -> Report:
    """Run every applicable check of ``config`` and return the one report (used by selftest too).

    ``live``: show the progress view on stderr (None: only when stderr is a terminal).
    """
    return run_async(_run(config, live))


# --- command line ----------------------------------------------------------------------------------------


def _config_from_args(config_file: Path | None, ice_servers: Path | None, uris: tuple[str, ...],
                      username: str | None, password: str | None, secret: str | None, ttl: int,
                      checks: str | None, nat_servers: tuple[str, ...], ca: Path | None, insecure: bool,
                      timeout: float | None) -> CheckConfig:
    config = load_config(config_file) if config_file is not None else CheckConfig(source="arguments")
    servers: list[Target] = []
    if uris:
        servers += parse_targets(uris, default_scheme="turn", username=username, credential=password)
    if ice_servers is not None:
        servers += load_ice_servers(ice_servers)
    for target in servers:
        config.servers.append(ServerConfig(targets=[target], username=target.username,
                                           password=target.credential, secret=secret, ttl=ttl))
    config.nat_servers += [parse_uri(u) for u in nat_servers]
    if not config.servers and config_file is None:
        # No arguments: public STUN servers and the local network; documented in the README.
        config.servers = [ServerConfig(targets=[parse_uri(u) for u in DEFAULT_STUN_SERVERS],
                                       name="public STUN")]
    if checks is not None:
        chosen = tuple(c.strip() for c in checks.split(",") if c.strip())
        unknown = [c for c in chosen if c not in CHECKS]
        if unknown:
            raise UsageError(f"--checks: unknown check {unknown[0]!r} (known: {', '.join(CHECKS)})")
        config.checks = chosen
        for server in config.servers:
            server.checks = None
    if ca is not None:
        config.ca = ca
    if insecure:
        config.insecure = True
    if timeout is not None:
        config.timeout = timeout
    if not config.servers and not config.nat_servers:
        raise UsageError(f"{config.source}: no servers to check (add [[servers]] or give URIs)")
    return config


@click.command(name="check", epilog=exitcodes.EPILOG)
@click.argument("uris", nargs=-1, metavar="[URI|HOST[:PORT]|FILE.json]...")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="An rtcdiag.toml with servers, credentials (by env var name), checks and expectations.")
@click.option("--ice-servers", "ice_servers", type=click.Path(dir_okay=False, path_type=Path),
              help="A browser RTCIceServer JSON file (urls, username, credential).")
@turn_credential_options
@click.option("--checks", metavar="LIST",
              help=f"Comma-separated checks to run (default: all of {','.join(CHECKS)}).")
@click.option("--nat-server", "nat_servers", multiple=True, metavar="URI",
              help="An RFC 5780 STUN server (two addresses) for the NAT check; repeatable.")
@tls_options
@click.option("--timeout", type=click.FloatRange(min=0.05, max=600), default=None,
              help="Seconds one transaction (or ICE gathering/connecting) may take before it counts as "
                   "unanswered; default 5, or the config's `timeout`.")
@output_options
def command(uris: tuple[str, ...], config_file: Path | None, ice_servers: Path | None, username: str | None,
            password_args: SecretArgs, secret_args: SecretArgs, ttl: int, checks: str | None,
            nat_servers: tuple[str, ...], tls: TlsOptions, timeout: float | None,
            output: OutputOptions) -> int:
    """Run every applicable check (DNS, ports, STUN, TURN, NAT, ICE) concurrently; print one report."""
    password = load_secret(password_args, name="password", default_env=PASSWORD_ENV)
    secret = load_secret(secret_args, name="secret", default_env=SECRET_ENV)
    register_secret(secret)
    config = _config_from_args(config_file, ice_servers, uris, load_username(username), password, secret, ttl,
                               checks, nat_servers, Path(tls.ca_file) if tls.ca_file else None, tls.insecure,
                               timeout)
    report = run_check(config)
    return emit(report, output)

"""``rtcdiag ice``: two real ICE agents connect to each other through your servers, end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import OutputOptions, TlsOptions, emit, output_options, run_async, tls_options
from rtcdiag.errors import UsageError
from rtcdiag.probes.ice import IceOptions, IceResult, IceRun, IceServer  # aioice loads only when probing
from rtcdiag.redact import register_secret
from rtcdiag.report.model import CheckCase, Report, Status, Table, status_from
from rtcdiag.secret_input import (
    PASSWORD_ENV,
    SECRET_ENV,
    SecretArgs,
    load_secret,
    load_username,
    turn_credential_options,
)
from rtcdiag.triage.finding import Finding

F = TypeVar("F", bound=Callable[..., Any])


def ice_servers_from_targets(targets: list[object]) -> list[IceServer]:
    """Targets (rtcdiag.targets.Target) -> ICE server URLs; a turn: URL without ?transport= means UDP."""
    from rtcdiag.targets import Target

    servers: list[IceServer] = []
    for target in targets:
        assert isinstance(target, Target)
        transport = target.transport or "udp"
        scheme = target.scheme
        if scheme == "stuns":
            continue  # aioice gathers server-reflexive candidates over UDP only
        if scheme == "turns":
            transport = "tcp"
        url = target.uri if target.transport or scheme in ("stun", "turns") else f"{target.uri}?transport=udp"
        servers.append(IceServer(url=url, scheme=scheme, host=target.host, port=target.port,
                                 transport=transport, username=target.username, password=target.credential))
    return servers


# --- report ------------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def candidate_table(run: IceRun) -> Table:
    rows = [[c.agent, c.type, c.foundation[:8], c.protocol, c.address, str(c.port), str(c.priority),
             c.relay_protocol or "-", c.url or "-"] for c in run.candidates]
    return Table(title=f"ICE candidates via {run.url}",
                 columns=["agent", "type", "foundation", "protocol", "address", "port", "priority",
                          "relay protocol", "URL"], rows=rows)


def summary_table(result: IceResult) -> Table:
    from rtcdiag.triage.ice import pair_text

    rows: list[list[str]] = []
    for run in result.runs:
        first = run.first_candidate_ms
        if run.scheme == "stun":
            connected = "n/a (STUN)"
        elif run.connected:
            connected = _ms(run.connect_ms)
        else:
            connected = "FAILED" if run.attempted_connect else "not tried"
        data = (f"{run.packets_received}/{run.packets_sent} pkts, {run.bytes_received} B"
                if run.packets_sent else "-")
        rows.append([run.url, _ms(first.get("host")), _ms(first.get("srflx")), _ms(first.get("relay")),
                     connected, pair_text(run), data])
    return Table(title="ICE end to end", columns=["server", "first host", "first srflx", "first relay",
                                                 "connected", "selected pair", "data through"], rows=rows)


def ice_checks(result: IceResult, findings: list[Finding]) -> list[CheckCase]:
    """One JUnit case per URL x step: gather (relay or srflx), connect, data."""
    cases: list[CheckCase] = []
    for run in result.runs:
        mine = [f for f in findings if f.subject == run.url]
        secs = run.duration_ms / 1000.0
        if run.scheme == "stun":
            srflx = [f for f in mine if f.id in ("ICE-NO-SRFLX", "ICE-ERROR")]
            cases.append(CheckCase(suite=run.url, name="ice/gather-srflx", status=status_from(srflx),
                                   message="; ".join(f.title for f in srflx), duration_s=secs,
                                   finding_ids=[f.id for f in srflx]))
            continue
        gather = [f for f in mine if f.id in ("ICE-NO-RELAY", "ICE-RELAY-PRIVATE", "ICE-ERROR")]
        cases.append(CheckCase(suite=run.url, name="ice/gather-relay", status=status_from(gather),
                               message="; ".join(f.title for f in gather) or
                               f"{sum(c.type == 'relay' for c in run.candidates)} relay candidate(s)",
                               duration_s=(run.gather_ms or 0) / 1000.0, finding_ids=[f.id for f in gather]))
        connect = [f for f in mine if f.id == "ICE-FAILED"]
        if run.attempted_connect:
            cases.append(CheckCase(suite=run.url, name="ice/connect", status=status_from(connect),
                                   message=run.ice_error or f"connected in {_ms(run.connect_ms)}",
                                   duration_s=secs, finding_ids=[f.id for f in connect]))
        else:
            cases.append(CheckCase(suite=run.url, name="ice/connect", status=Status.SKIP,
                                   message="no relay candidate to connect with"))
        data = [f for f in mine if f.id == "ICE-NO-DATA"]
        if run.connected:
            cases.append(CheckCase(suite=run.url, name="ice/data", status=status_from(data),
                                   message=f"{run.packets_received}/{run.packets_sent} packets echoed",
                                   duration_s=secs, finding_ids=[f.id for f in data]))
    return cases


def build_report(result: IceResult, findings: list[Finding]) -> Report:
    from rtcdiag.jsonable import to_jsonable

    report = Report(command="ice", findings=findings, checks=ice_checks(result, findings))
    report.tables.append(summary_table(result))
    report.tables.extend(candidate_table(run) for run in result.runs if run.candidates)
    report.results = {"ice": to_jsonable(result)}
    if any(run.scheme == "stun" and not run.candidates for run in result.runs):
        report.notes.append("aioice makes no host candidate for 127.0.0.1: on a machine whose only interface "
                            "is loopback there is nothing to ask a STUN server from.")
    return report


# --- command -----------------------------------------------------------------------------------------------


@click.command(name="ice", epilog=exitcodes.EPILOG)
@click.argument("targets", nargs=-1, metavar="[URI|HOST[:PORT]|FILE.json]...")
@click.option("--ice-servers", "ice_servers", type=click.Path(dir_okay=False, path_type=Path),
              help="A browser RTCIceServer JSON file (urls, username, credential).")
@turn_credential_options
@click.option("--relay-only", is_flag=True,
              help="Make both agents relay-only (relay <-> relay); by default only one of them is.")
@click.option("--packets", type=click.IntRange(min=0, max=1000), default=5, show_default=True,
              help="Echo packets sent over the selected pair after ICE connects.")
@tls_options
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds allowed for gathering from each server, and again for the connectivity checks.")
@output_options
def command(targets: tuple[str, ...], ice_servers: Path | None, username: str | None,
            password_args: SecretArgs, secret_args: SecretArgs, ttl: int, relay_only: bool, packets: int,
            tls: TlsOptions, timeout: float, output: OutputOptions) -> int:
    """Run two real ICE agents (aioice) through your STUN/TURN servers and show every candidate.

    For each TURN URL a full agent and a relay-only agent gather candidates, connect to each other and
    echo packets: a connected pair proves that data flows through the relay. STUN URLs are only gathered
    from. Findings: no relay candidate, relay candidate with a private address (only noted when the
    server itself is on a loopback/private address), ICE failed, data not flowing.
    """
    from rtcdiag.probes import ice as ice_probe
    from rtcdiag.targets import load_ice_servers, parse_targets
    from rtcdiag.tls import make_client_context
    from rtcdiag.triage.ice import triage

    user = load_username(username)
    password = load_secret(password_args, name="password", default_env=PASSWORD_ENV)
    secret = load_secret(secret_args, name="secret", default_env=SECRET_ENV)
    if secret is not None:
        from rtcdiag.protocol.credentials import rest_credentials

        user, password = rest_credentials(secret, user or "rtcdiag", ttl)
        register_secret(password)
    parsed = parse_targets(targets, default_scheme="turn", username=user, credential=password)
    if ice_servers is not None:
        parsed += load_ice_servers(ice_servers)
    if not parsed:
        raise UsageError("give at least one TURN/STUN URI, host[:port] or --ice-servers FILE")
    servers = ice_servers_from_targets(list(parsed))
    if not servers:
        raise UsageError("no usable server: stuns: URLs cannot be used for ICE (aioice gathers over UDP)")
    for server in servers:
        if server.is_turn and (not server.username or not server.password):
            raise UsageError(f"{server.url}: TURN needs a user name and a password (-u USER and "
                             f"${PASSWORD_ENV}, --password-env VAR or --password-file F)")
    options = IceOptions(relay_only=relay_only, packets=packets, gather_timeout_s=timeout,
                         connect_timeout_s=timeout,
                         ssl_context=make_client_context(tls.ca_file, insecure=tls.insecure))
    result = run_async(ice_probe.probe(servers, options))
    return emit(build_report(result, triage(result)), output)

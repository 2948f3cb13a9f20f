"""``rtcdiag ice``: two real ICE agents connect to each other through your servers, end to end."""

from __future__ import annotations

import time
from pathlib import Path

import click

from rtcdiag import exitcodes
from rtcdiag.commands.shared.options import (
    OutputOptions,
    TlsOptions,
    concurrency_option,
    output_options,
    timeout_option,
    tls_notes,
    tls_options,
)
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.commands.shared.secrets import ice_server_list, turn_credential_options
from rtcdiag.secret_input import (
    SecretArgs,
    load_turn_secrets,
    load_username,
)
from rtcdiag.triage.finding import Subject


@click.command(name="ice", epilog=exitcodes.epilog(
    "rtcdiag ice 'turn:turn.example.com:3478?transport=udp' -u alice --password-env TURN_PASSWORD",
    "rtcdiag ice --ice-servers ice-servers.json --relay-only",
    "rtcdiag ice stun:stun.l.google.com:19302"))
@click.argument("targets", nargs=-1, metavar="[URI|HOST[:PORT]|FILE.json]...")
@click.option("--ice-servers", "ice_servers", type=click.Path(dir_okay=False, path_type=Path),
              help="A browser RTCIceServer JSON file (urls, username, credential).")
@turn_credential_options
@click.option("--relay-only", is_flag=True,
              help="Make both agents relay-only (relay <-> relay); by default only one of them is.")
@click.option("--packets", type=click.IntRange(min=0, max=1000), default=5, show_default=True,
              help="Echo packets sent over the selected pair after ICE connects.")
@tls_options
@timeout_option()
@concurrency_option()
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
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.ice import ICE, IcePlan, ice_notes, ice_options, ice_tables, short_table, tls_context
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.report.build import build_report
    from rtcdiag.timeouts import Timeouts

    started = time.time()
    user = load_username(username)
    password, secret = load_turn_secrets(password_args, secret_args)
    servers = ice_server_list(targets, ice_servers, username, user, password, secret, ttl,
                              unusable="stuns: URLs cannot be used for ICE (aioice gathers over UDP)")
    options = ice_options(Timeouts(timeout), packets=packets, relay_only=relay_only,
                          ssl_context=tls_context(servers, tls.ca_file, tls.insecure))
    with watching("ice", output):
        ran = run_async(execute(Job(ICE, IcePlan(servers, options), Subject("ice"))))
    tables = ice_tables(ran.result) if ran.result is not None else []
    notes = ice_notes(ran.result) if ran.result is not None else []
    report = build_report("ice", ran.judgement, tables=tables, results={"ice": to_jsonable(ran.result)},
                          notes=notes + tls_notes(tls.insecure), started_at=started,
                          summary=short_table(ran.result) if ran.result is not None else None)
    return emit(report, output)

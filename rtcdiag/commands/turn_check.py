"""``rtcdiag turn-check``: is this TURN server really working, over every transport, with these credentials?

Thin: parse options -> TurnPlan -> execute the TURN check (rtcdiag.checks.turn: probe every target and
transport concurrently, judge) -> build_report -> emit().
"""

from __future__ import annotations

import time

import click

from rtcdiag import exitcodes
from rtcdiag.commands.common import (
    OutputOptions,
    TlsOptions,
    concurrency_option,
    emit,
    output_options,
    run_async,
    timeout_option,
    tls_options,
    turn_credential_options,
)
from rtcdiag.errors import UsageError
from rtcdiag.probes.turn_result import DataPathResult, TurnCheckResult
from rtcdiag.report.model import Table
from rtcdiag.secret_input import (
    PASSWORD_ENV,
    SECRET_ENV,
    SecretArgs,
    load_secret,
    load_username,
)

TRANSPORT_CHOICES = ("udp", "tcp", "tls")
MAX_PACKETS = 100_000  # per method; the data path numbers them with 32 bits


def parse_transports(text: str) -> tuple[str, ...]:
    """``udp,tcp,tls`` -> ("udp", "tcp", "tls"), in the given order, without duplicates."""
    chosen: list[str] = []
    for word in (w.strip().lower() for w in text.split(",")):
        if not word:
            continue
        if word not in TRANSPORT_CHOICES:
            raise UsageError(f"--transport: unknown transport {word!r} (use udp, tcp, tls, comma-separated)")
        if word not in chosen:
            chosen.append(word)
    if not chosen:
        raise UsageError("--transport: name at least one of udp, tcp, tls")
    return tuple(chosen)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def _data_cell(dp: DataPathResult | None) -> str:
    if dp is None:
        return "-"
    if dp.error and not dp.packets_sent:
        return "failed"
    return f"{dp.packets_received}/{dp.packets_sent} back, {dp.loss_pct:g}% loss, " \
           f"rtt {_ms(dp.rtt_min_ms)}/{_ms(dp.rtt_avg_ms)}/{_ms(dp.rtt_max_ms)}"


def result_table(result: TurnCheckResult) -> Table:
    """Per transport: auth, relay and mapped address, lifetime, and both data-path measurements."""
    from rtcdiag.probes.turn_result import METHOD_CHANNEL, METHOD_INDICATION

    rows: list[list[str]] = []
    for t in result.transports:
        if t.allocated:
            outcome = "open relay (no auth)" if t.open_relay else f"allocated ({t.auth_algorithm or 'md5'})"
        elif t.error_code is not None:
            outcome = f"error {t.error_code} {t.error_reason or ''}".rstrip()
        elif not t.connected or t.failure_kind:
            outcome = f"failed: {t.failure_kind or 'no connection'}"
        elif not t.challenge_answered:
            outcome = "no answer"
        else:
            outcome = "challenged only" if not t.authenticated else "no allocation"
        rows.append([t.transport, t.server, outcome, t.relayed_address or "-", t.mapped_address or "-",
                     f"{t.lifetime_s} s" if t.lifetime_s is not None else "-",
                     _data_cell(t.data_path(METHOD_INDICATION)), _data_cell(t.data_path(METHOD_CHANNEL)),
                     "yes" if t.released else ("no" if t.released is False else "-")])
    return Table(title=f"TURN {result.target} ({result.credential_kind} credentials"
                       f"{', user ' + result.username if result.username else ''})",
                 columns=["transport", "server", "allocation", "relay address", "mapped address", "lifetime",
                          "Send/Data (min/avg/max)", "ChannelData (min/avg/max)", "released"], rows=rows)


def software_notes(results: list[TurnCheckResult]) -> list[str]:
    """One note per server that named its SOFTWARE (RFC 8489 §14.14)."""
    notes: list[str] = []
    for result in results:
        software = sorted({t.software for t in result.transports if t.software})
        if software:
            notes.append(f"{result.target}: server software {', '.join(software)}")
    return notes


@click.command(name="turn-check", epilog=exitcodes.EPILOG)
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.option("--transport", "transport_text", default="udp,tcp,tls", show_default=True, metavar="LIST",
              help="Transports to check for a bare host or turn: URI (comma-separated: udp,tcp,tls). UDP and "
                   "TCP use the target's port, TLS uses --tls-port.")
@click.option("--tls-port", type=click.IntRange(1, 65535), default=5349, show_default=True,
              help="TLS port used when a bare host or turn: URI is checked over TLS.")
@turn_credential_options
@click.option("--realm", metavar="R", help="Hash the password with realm R instead of the server's realm.")
@tls_options
@click.option("--peer-test/--no-peer-test", default=True, show_default=True,
              help="Send packets through the relay to a local peer and back (Send/Data and ChannelData).")
@click.option("--packets", type=click.IntRange(1, MAX_PACKETS), default=5, show_default=True, metavar="N",
              help=f"Packets per data-path method (1..{MAX_PACKETS}); at most 64 are in flight at once.")
@timeout_option()
@concurrency_option()
@output_options
def command(targets: tuple[str, ...], transport_text: str, tls_port: int, username: str | None,
            password_args: SecretArgs, secret_args: SecretArgs, ttl: int, realm: str | None,
            tls: TlsOptions, peer_test: bool, packets: int, timeout: float,
            output: OutputOptions) -> int:
    """Check TURN servers: challenge, authentication, allocation, relay address, data path, release.

    TARGET is a turn:/turns: URI, HOST[:PORT] (UDP and TCP on PORT, default 3478, and TLS on --tls-port),
    or an RTCIceServer JSON file. All transports run concurrently; every allocation is released with
    Refresh LIFETIME=0, also after errors and Ctrl-C. Secrets are read from $RTCDIAG_TURN_PASSWORD /
    $RTCDIAG_TURN_SECRET by default and never printed.
    """
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.turn import TURN, TurnPlan
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.probes.turn import TurnCheckOptions
    from rtcdiag.report.build import build_report
    from rtcdiag.targets import parse_targets
    from rtcdiag.triage.finding import Subject

    started_at = time.time()
    transports = parse_transports(transport_text)
    password = load_secret(password_args, name="password", default_env=PASSWORD_ENV)
    secret = load_secret(secret_args, name="secret", default_env=SECRET_ENV)
    options = TurnCheckOptions(
        username=load_username(username), password=password, secret=secret, ttl_s=ttl, realm=realm,
        ca_file=tls.ca_file, insecure=tls.insecure, peer_test=peer_test, packets=packets, timeout_s=timeout,
        transports=transports, tls_port=tls_port)
    parsed = parse_targets(targets, default_scheme="turn")
    if not parsed:
        raise UsageError("no TURN target given")
    not_turn = [t.uri for t in parsed if not t.is_turn]
    if not_turn:
        raise UsageError(f"{not_turn[0]} is not a TURN server (use turn: or turns:, or rtcdiag stun)")
    ran = run_async(execute(Job(TURN, TurnPlan(parsed, options), Subject("turn-check"))))
    results: list[TurnCheckResult] = ran.result or []
    report = build_report("turn-check", ran.judgement, tables=[result_table(r) for r in results],
                          results={"turn": [to_jsonable(r) for r in results]}, notes=software_notes(results),
                          started_at=started_at)
    return emit(report, output)

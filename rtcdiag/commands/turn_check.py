"""``rtcdiag turn-check``: is this TURN server really working, over every transport, with these credentials?

Thin: parse options -> TurnPlan -> execute the TURN check (rtcdiag.checks.turn: probe every target and
transport concurrently, judge) -> build_report -> emit().
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from rtcdiag import exitcodes
from rtcdiag.checks.turn import FAMILY_CHOICES
from rtcdiag.commands.shared.options import (
    OutputOptions,
    TlsOptions,
    concurrency_option,
    follow_option,
    list_option,
    output_options,
    timeout_option,
    tls_notes,
    tls_options,
)
from rtcdiag.commands.shared.output import emit
from rtcdiag.commands.shared.running import run_async, watching
from rtcdiag.commands.shared.secrets import refuse_half_credentials, turn_credential_options
from rtcdiag.errors import UsageError
from rtcdiag.secret_input import (
    SecretArgs,
    load_turn_secrets,
    load_username,
)
from rtcdiag.targets import TRANSPORTS, Target

if TYPE_CHECKING:
    from rtcdiag.triage.unasked import Endpoint

TRANSPORT_CHOICES = TRANSPORTS  # udp, tcp, tls: defined once, in rtcdiag.targets.Transport
MAX_PACKETS = 100_000  # per method; the data path numbers them with 32 bits


def parse_acl_peers(items: tuple[str, ...], acl: bool) -> tuple[str, ...]:
    """``--acl-peers`` items (comma-separated, repeatable), each checked before any traffic (exit 2)."""
    from rtcdiag.checks.turn import acl_peers_problem

    if items and not acl:
        raise UsageError("--acl-peers only applies with --acl")
    problem = acl_peers_problem(items)
    if problem is not None:
        raise UsageError(problem)
    return tuple(items)


def _split(parsed: list[Target], transport_given: bool, tls_port_given: bool) -> tuple[list[Target],
                                                                                       list[Target]]:
    """TURN targets and the ``stun:``/``stuns:`` entries to Binding-check; usage errors for conflicts."""
    turn = [t for t in parsed if t.is_turn]
    stun = [t for t in parsed if not t.is_turn]
    if not turn:
        raise UsageError(f"{stun[0].uri} is a STUN server, not TURN, and no turn:/turns: target was given "
                         "(use rtcdiag stun, or give turn: URIs)")
    if not any(t.shortcut for t in turn):
        given = [flag for flag, yes in (("--transport", transport_given), ("--tls-port", tls_port_given))
                 if yes]
        if given:
            udp = [t for t in turn if t.transport in (None, "udp")]
            what = f"{udp[0].uri} is UDP, as in a browser" if udp else f"{turn[0].uri} is {turn[0].transport}"
            raise UsageError(f"{' and '.join(given)} only apply to HOST[:PORT] targets; a turn: URI carries "
                             f"its own transport ({what}): add ?transport=tcp or use turns:")
    return turn, stun


def _by_entry(targets: list[Target]) -> dict[str | None, list[Target]]:
    """Targets grouped by their RTCIceServer entry (None: given as arguments), in order."""
    groups: dict[str | None, list[Target]] = {}
    for target in targets:
        groups.setdefault(target.entry, []).append(target)
    return groups


def _entries(targets: list[Target]) -> dict[str, str]:
    """Entry -> what tells its servers apart in the report: ``(iceServers[1])`` when another entry lists the
    same host, else ""."""
    hosts: dict[str, set[str | None]] = {}
    for target in targets:
        hosts.setdefault(target.host, set()).add(target.entry)
    shared = {t.entry for t in targets if len(hosts[t.host]) > 1}
    return {t.entry: f"({t.entry.rpartition(': ')[2]})" if t.entry in shared else ""
            for t in targets if t.entry is not None}


def _unasked(targets: list[Target], transports_given: tuple[str, ...],
             tls_port: int | None) -> list[Endpoint]:
    """TLS on the default TLS port of a HOST[:PORT] target, when neither -t nor --tls-port asked for it:
    tried, reported, never what fails the run (UDP and TCP on the target's port are what it names)."""
    from rtcdiag.targets import DEFAULT_TLS_PORT
    from rtcdiag.triage.unasked import Endpoint

    if transports_given or tls_port is not None:
        return []
    return list(dict.fromkeys(Endpoint(t.host, DEFAULT_TLS_PORT, "tls") for t in targets if t.shortcut))


@click.command(name="turn-check", epilog=exitcodes.epilog(
    "rtcdiag turn-check turn.example.com -u alice --password-env TURN_PASSWORD",
    "rtcdiag turn-check 'turns:turn.example.com:443?transport=tcp' -u alice --password-file pw.txt",
    "rtcdiag turn-check ice-servers.json --acl"))
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@list_option("--transport", "-t", "transports_given", choices=TRANSPORT_CHOICES, examples=("udp", "tcp"),
             help="Transports to check for a HOST[:PORT] target, udp, tcp or tls (default: all three). UDP "
                  "and TCP use the target's port, TLS uses --tls-port. A turn: URI is UDP unless it says "
                  "?transport=tcp, a turns: URI is TLS over TCP (RFC 7065, as a browser)")
@click.option("--tls-port", type=click.IntRange(1, 65535), default=None,
              help="TLS port used when a HOST[:PORT] target is checked over TLS. Default: 5349.")
@turn_credential_options
@click.option("--realm", metavar="R", help="Hash the password with realm R instead of the server's realm.")
@tls_options
@click.option("--peer-test/--no-peer-test", default=True, show_default=True,
              help="Send packets through the relay to a local peer and back (Send/Data and ChannelData).")
@click.option("--packets", type=click.IntRange(1, MAX_PACKETS), default=5, show_default=True, metavar="N",
              help=f"Packets per data-path method (1..{MAX_PACKETS}); at most 64 are in flight at once.")
@click.option("--family", "family", type=click.Choice(tuple(FAMILY_CHOICES)), default="4", show_default=True,
              help="Relay address family to allocate: 4 (what a browser asks for, no attribute sent), 6 "
                   "(REQUESTED-ADDRESS-FAMILY IPv6) or both (a dual allocation, ADDITIONAL-ADDRESS-FAMILY; "
                   "one row and one set of steps per family). The echo peer takes the relay's family.")
@click.option("--tcp-relay", is_flag=True,
              help="Also check an RFC 6062 TCP relay over TCP/TLS: TCP Allocate, Connect to a local TCP echo "
                   "peer, ConnectionBind on a data connection, bytes both ways, release.")
@click.option("--acl", is_flag=True,
              help="Defensive audit of the server's peer ACL: after a successful allocation, "
                   "CreatePermission and ChannelBind for sensitive peers (127.0.0.1, ::1, ::ffff:127.0.0.1, "
                   "0.0.0.0, the server's own addresses, 169.254.169.254, fd00:ec2::254, 10.0.0.1, "
                   "172.16.0.1, 192.168.0.1, 100.64.0.1, 224.0.0.1); each one the server permits is an "
                   "error. No data is ever sent to these addresses.")
@list_option("--acl-peers", "acl_peers_given", examples=("10.1.2.3", "192.168.7.0/24"),
             help="With --acl: also ask for these addresses or ranges (a CIDR block or first-last range is "
                  "asked as its first address), e.g. your internal networks")
@follow_option
@timeout_option()
@concurrency_option()
@output_options
def command(targets: tuple[str, ...], transports_given: tuple[str, ...], tls_port: int | None,
            username: str | None, password_args: SecretArgs, secret_args: SecretArgs, ttl: int,
            realm: str | None, tls: TlsOptions, peer_test: bool, packets: int, family: str, tcp_relay: bool,
            acl: bool, acl_peers_given: tuple[str, ...], follow: bool, timeout: float,
            output: OutputOptions) -> int:
    """Check TURN servers: challenge, authentication, allocation, relay address, data path, release.

    TARGET is a turn:/turns: URI, HOST[:PORT] (UDP and TCP on PORT, default 3478, and TLS on --tls-port),
    or an RTCIceServer JSON file, checked as a browser uses it: turn: without ?transport= is UDP only,
    turns: is TLS over TCP, and its stun: entries get a Binding request. All transports run concurrently;
    every allocation is released with Refresh LIFETIME=0, also after errors and Ctrl-C. Secrets are read
    from $RTCDIAG_TURN_PASSWORD / $RTCDIAG_TURN_SECRET by default and never printed.
    """
    from rtcdiag.checks.engine import Job, execute_all, judge_guarded
    from rtcdiag.checks.stun import STUN, BindingOptions, BindingResult, StunPlan
    from rtcdiag.checks.turn import (
        TURN,
        TurnCheckOptions,
        TurnCheckResult,
        TurnPlan,
        acl_table,
        result_table,
        software_notes,
        stun_entries_table,
        summary_table,
        tcp_relay_table,
    )
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.report.build import build_report
    from rtcdiag.targets import DEFAULT_TLS_PORT, expand_transports, parse_targets
    from rtcdiag.triage.fallback import judge_fallback
    from rtcdiag.triage.finding import Subject
    from rtcdiag.triage.judgement import Judgement, assign_entry
    from rtcdiag.triage.unasked import soften

    started_at = time.time()
    extra_peers = parse_acl_peers(acl_peers_given, acl)
    transports = transports_given or TRANSPORT_CHOICES
    password, secret = load_turn_secrets(password_args, secret_args)
    parsed = parse_targets(targets, default_scheme="turn")
    if not parsed:
        raise UsageError("no TURN target given")
    turn_targets, stun_targets = _split(parsed, bool(transports_given), tls_port is not None)
    user = load_username(username)
    refuse_half_credentials(username, user, password, secret, turn_targets)
    options = TurnCheckOptions(
        username=user, password=password, secret=secret, ttl_s=ttl, realm=realm,
        ca_file=tls.ca_file, insecure=tls.insecure, peer_test=peer_test, packets=packets, timeout_s=timeout,
        transports=transports, tls_port=tls_port or DEFAULT_TLS_PORT, families=FAMILY_CHOICES[family],
        tcp_relay=tcp_relay, follow_redirects=follow, acl=acl, acl_peers=extra_peers)
    # One job per RTCIceServer entry (URIs given as arguments are one): an entry is one server, whose causes
    # the diagnosis keeps to it (another entry on the same host has other credentials).
    entries = _entries(turn_targets + stun_targets)
    jobs: list[Job[Any, Any]] = [Job(TURN, TurnPlan(targets, options), Subject("turn-check", entry=entry))
                                 for entry, targets in _by_entry(turn_targets).items()]
    if stun_targets:
        binding = BindingOptions(timeout=timeout, ca_file=tls.ca_file, insecure=tls.insecure)
        jobs += [Job(STUN, StunPlan(expand_transports(targets, ("udp",)), binding),
                     Subject("stun", entry=entry)) for entry, targets in _by_entry(stun_targets).items()]
    with watching("turn-check", output, level=2):  # jobs, then targets, then each target's transports
        ran = run_async(execute_all(jobs))
    for job, each in zip(jobs, ran, strict=True):
        if job.subject.entry is not None:
            assign_entry(each.judgement, job.subject.entry, entries[job.subject.entry])
    judgement = Judgement.merge([each.judgement for each in ran])
    # A browser configuration (an RTCIceServer file) is judged for a TCP/TLS fallback; URIs on the command
    # line are the transports asked for.
    listed = [t for t in turn_targets if t.entry is not None]
    judgement.extend(judge_guarded("config", Subject("config"),
                                   lambda: judge_fallback(listed, lambda host: Subject(host, host))))
    unasked = _unasked(turn_targets, transports_given, tls_port)
    notes = soften(judgement, unasked, "-t tls (and --tls-port PORT) asks for TLS")
    results: list[TurnCheckResult] = [r for each in ran if each.check == TURN.name for r in each.result or []]
    if acl:
        from rtcdiag.triage.acl import judge_acl, judge_software_advisories

        judgement.extend(judge_guarded("turn", Subject("turn-check"), lambda: judge_acl(results)))
        judgement.extend(judge_guarded("turn", Subject("turn-check"),
                                       lambda: judge_software_advisories(results)))
    bindings: list[BindingResult] = [r for each in ran if each.check == STUN.name for r in each.result or []]
    tables = [result_table(r) for r in results]
    tables += [table for table in map(tcp_relay_table, results) if table is not None]
    if acl:
        tables += [table for table in map(acl_table, results) if table is not None]
    if bindings:
        tables.append(stun_entries_table(bindings))
    raw: dict[str, Any] = {"turn": [to_jsonable(r) for r in results]}
    if stun_targets:
        raw["stun"] = [to_jsonable(b) for b in bindings]
    report = build_report("turn-check", judgement, tables=tables, results=raw,
                          notes=notes + tls_notes(tls.insecure), detail_notes=software_notes(results),
                          summary=summary_table(results, bindings, unasked), started_at=started_at)
    return emit(report, output)

"""``rtcdiag turn-check``: is this TURN server really working, over every transport, with these credentials?

Thin: parse options -> TurnPlan -> execute the TURN check (rtcdiag.checks.turn: probe every target and
transport concurrently, judge) -> build_report -> emit().
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from rtcdiag import exitcodes
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
from rtcdiag.probes.binding import BindingResult
from rtcdiag.probes.turn_result import (
    FAMILY_CHOICES,
    DataPathResult,
    FamilyRelay,
    RelayFamily,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.redact import echo
from rtcdiag.report.model import Table
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




def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def _data_cell(dp: DataPathResult | None) -> str:
    if dp is None:
        return "-"
    if dp.local_error is not None:
        return "not tried (no local peer)"
    if dp.error and not dp.packets_sent:
        return "failed"
    if dp.loss_pct is None:
        return "-"
    return f"{dp.packets_received}/{dp.packets_sent} back, {dp.loss_pct:g}% loss, " \
           f"rtt {_ms(dp.rtt_min_ms)}/{_ms(dp.rtt_avg_ms)}/{_ms(dp.rtt_max_ms)}"


def _reason(reason: str | None) -> str:
    """`` <the server's reason phrase>`` (marked: outside text), or "" when it sent none."""
    return f" {echo(reason)}" if reason else ""


def _outcome_cell(t: TransportResult) -> str:
    if t.allocated:
        return "open relay (no auth)" if t.open_relay else f"allocated ({t.auth_algorithm or 'md5'})"
    if t.error_code is not None:
        return f"error {t.error_code}{_reason(t.error_reason)}"
    if not t.connected or t.failure_kind:
        return f"failed: {t.failure_kind or 'no connection'}"
    if not t.challenge_answered:
        from rtcdiag.triage.turn_connect import stun_only

        return "STUN only (Binding answered)" if stun_only(t) else "no answer"
    return "challenged only" if not t.authenticated else "no allocation"


def _family_cell(relay: FamilyRelay, outcome: str) -> str:
    """The allocation cell of one family: its own ADDRESS-ERROR-CODE, or its separate allocation."""
    if relay.error_code is not None:
        return f"error {relay.error_code}{_reason(relay.error_reason)}"
    if relay.separate:
        return "separate allocation" if relay.relayed_address else f"failed: {relay.error or 'no relay'}"
    return outcome if relay.relayed_address else "no relay of this family"


def result_table(result: TurnCheckResult) -> Table:
    """Per transport and relay family: auth, relay and mapped address, lifetime, both data-path
    measurements. The IPv4 row of a transport is named as the transport; an IPv6 relay's row ``udp ipv6``."""
    from rtcdiag.probes.turn_result import METHOD_CHANNEL, METHOD_INDICATION

    rows: list[list[str]] = []
    for t in result.transports:
        outcome = _outcome_cell(t)
        released = "yes" if t.released else ("no" if t.released is False else "-")
        relays = [r for r in t.relays if r.asked]
        if not relays:
            rows.append([t.transport, t.server, outcome, t.relayed_address or "-", t.mapped_address or "-",
                         f"{t.lifetime_s} s" if t.lifetime_s is not None else "-",
                         _data_cell(t.data_path(METHOD_INDICATION)), _data_cell(t.data_path(METHOD_CHANNEL)),
                         released])
            continue
        for relay in relays:
            family = relay.family
            cell = _family_cell(relay, outcome) if relay.separate or t.allocated else outcome
            freed = released if not relay.separate else \
                ("yes" if relay.released else "no" if relay.released is False else "-")
            rows.append([t.transport + ("" if family is RelayFamily.IPV4 else f" {family.value}"), t.server,
                         cell, relay.relayed_address or "-", t.mapped_address or "-",
                         f"{t.lifetime_s} s" if t.lifetime_s is not None else "-",
                         _data_cell(t.data_path(METHOD_INDICATION, family)),
                         _data_cell(t.data_path(METHOD_CHANNEL, family)), freed])
    return Table(title=f"TURN {result.target} ({result.credential_kind} credentials"
                       f"{', user ' + echo(result.username) if result.username else ''})",
                 columns=["transport", "server", "allocation", "relay address", "mapped address", "lifetime",
                          "Send/Data (min/avg/max)", "ChannelData (min/avg/max)", "released"], rows=rows)


def tcp_relay_table(result: TurnCheckResult) -> Table | None:
    """RFC 6062 (--tcp-relay): per TCP/TLS transport, the TCP relay, the peer, the bytes echoed."""
    rows: list[list[str]] = []
    for t in result.transports:
        r = t.tcp_relay
        if r is None:
            continue
        if r.error_code is not None:
            outcome = f"{r.error_step or 'request'}: error {r.error_code}{_reason(r.error_reason)}"
        elif r.local_error is not None:
            outcome = "not tried (no local peer)"
        elif r.error is not None:
            outcome = f"failed: {r.error}"
        else:
            outcome = f"bound (connection id {r.connection_id})" if r.bound else "allocated"
        rtt = f", rtt avg {_ms(r.rtt_avg_ms)}" if r.rtt_avg_ms is not None else ""
        data = f"{r.chunks_echoed}/{r.chunks_sent} chunks, {r.bytes_received}/{r.bytes_sent} bytes{rtt}" \
            if r.chunks_sent else "-"
        incoming = r.incoming
        if incoming is not None:
            data += f"; peer-initiated {incoming.chunks_echoed}/{incoming.chunks_sent} chunks" \
                if incoming.bound else f"; peer-initiated failed: {incoming.error or incoming.error_code}"
        rows.append([t.transport, r.relayed_address or "-", r.peer or "-", outcome, data,
                     "yes" if r.released else ("no" if r.released is False else "-")])
    if not rows:
        return None
    return Table(title=f"TCP relay (RFC 6062) {result.target}",
                 columns=["transport", "relay address", "peer", "connection", "echoed intact", "released"],
                 rows=rows)


def parse_acl_peers(items: tuple[str, ...], acl: bool) -> tuple[str, ...]:
    """``--acl-peers`` items (comma-separated, repeatable), each checked before any traffic (exit 2)."""
    from rtcdiag.probes.turn_acl import MAX_PEERS, peer_of

    if items and not acl:
        raise UsageError("--acl-peers only applies with --acl")
    for item in items:
        try:
            peer_of(item)
        except ValueError:
            raise UsageError(f"--acl-peers: {item!r} is not an IP address, CIDR block or first-last range") \
                from None
    if len(items) > MAX_PEERS:
        raise UsageError(f"--acl-peers: at most {MAX_PEERS} entries")
    return tuple(items)


def acl_table(result: TurnCheckResult) -> Table | None:
    """--acl: per transport and sensitive peer, what CreatePermission and ChannelBind got."""
    rows: list[list[str]] = []
    for t in result.transports:
        if t.acl is None:
            continue
        by_peer: dict[str, dict[str, str]] = {}
        labels: dict[str, str] = {}
        for probe in t.acl.probes:
            labels[probe.peer] = probe.label
            cell = probe.verdict.value + (f" ({probe.error_code})" if probe.error_code else "")
            by_peer.setdefault(probe.peer, {})[probe.method] = cell
        for peer, cells in by_peer.items():
            rows.append([t.transport, peer, labels[peer], cells.get("CreatePermission", "-"),
                         cells.get("ChannelBind", "-")])
    if not rows:
        return None
    return Table(title=f"Peer ACL {result.target} (permissions only: no data sent to these peers)",
                 columns=["transport", "peer", "why sensitive", "CreatePermission", "ChannelBind"], rows=rows)


def _tcp_relay_word(t: TransportResult) -> str | None:
    r = t.tcp_relay
    if r is None:
        return None
    if r.bound and r.chunks_sent and r.chunks_echoed == r.chunks_sent:
        return "TCP relay ok"
    if r.local_error is not None:
        return "TCP relay not tried"
    return f"TCP relay failed ({r.error_code or r.error or r.error_step or 'not bound'})"


def _acl_words(t: TransportResult) -> str | None:
    from rtcdiag.probes.turn_result import AclVerdict

    if t.acl is None or not t.acl.probes:
        return None
    peers = {p.peer for p in t.acl.probes}
    permitted = {p.peer for p in t.acl.probes if p.verdict is AclVerdict.PERMITTED}
    return f"ACL: {len(permitted)} of {len(peers)} sensitive peers permitted" if permitted else \
        f"ACL: {len(peers)} sensitive peers refused"


def summary_table(results: list[TurnCheckResult], bindings: list[BindingResult],
                  unasked: list[Endpoint] | None = None) -> Table:
    """One line per server x transport (x relay family): what the Allocate gave, then the data path's loss
    and RTT (every method together), the RFC 6062 TCP relay and the peer ACL when asked. A transport on
    another port than the target's says its port; one tried without being asked for says so."""
    from rtcdiag.checks.turn import data_summary, turn_outcome
    from rtcdiag.triage.unasked import Endpoint

    rows: list[list[str]] = []
    for result in results:
        for t in result.transports:
            port = f" {t.port}" if t.port is not None and t.port != result.port else ""
            asked = Endpoint(result.host, t.port or 0, t.transport) not in (unasked or [])
            relays: list[FamilyRelay | None] = [r for r in t.relays if r.asked] or [None]
            for relay in relays:
                family = "" if relay is None or relay.family is RelayFamily.IPV4 else f" {relay.family.value}"
                texts = [turn_outcome(t) if relay is None or (not relay.separate and not relay.error_code)
                         else _family_cell(relay, turn_outcome(t))]
                if relay is not None and relay.relayed_address and t.allocated:
                    texts = [f"relay {relay.relayed_address}"]
                paths = [dp for dp in t.data_paths if relay is None or dp.family is relay.family]
                if t.allocated and paths:
                    texts.append(data_summary(paths))
                if relay is relays[0]:  # said once per transport
                    texts += [word for word in (_tcp_relay_word(t), _acl_words(t)) if word]
                rows.append([result.target, t.transport + port + family,
                             ", ".join(texts) + ("" if asked else " (not asked)")])
    for b in bindings:
        outcome = f"mapped {b.mapped_address}" if b.outcome == "success" else \
            f"error {b.error_code}" if b.outcome == "error-response" else (b.error_kind or b.outcome)
        rows.append([b.target, b.transport, f"STUN {outcome}"])
    return Table(title="TURN by transport", columns=["server", "transport", "result"], rows=rows)


def software_notes(results: list[TurnCheckResult]) -> list[str]:
    """One note per server that named its SOFTWARE (RFC 8489 §14.14)."""
    notes: list[str] = []
    for result in results:
        software = sorted({t.software for t in result.transports if t.software})
        if software:
            notes.append(f"{result.target}: server software {', '.join(echo(s) for s in software)}")
    return notes


def stun_entries_table(results: list[BindingResult]) -> Table:
    """The ``stun:``/``stuns:`` entries of an RTCIceServer list: one Binding each, as a browser sends it."""
    rows: list[list[str]] = []
    for r in results:
        outcome = "ok" if r.outcome == "success" else (
            f"error {r.error_code}" if r.outcome == "error-response" else r.error_kind or r.outcome)
        rows.append([r.target, r.transport, outcome, r.mapped_address or "-",
                     "-" if r.rtt_ms is None else f"{r.rtt_ms:.1f}"])
    return Table(title="STUN entries (Binding)",
                 columns=["server", "transport", "result", "mapped address", "RTT ms"], rows=rows)


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
    from rtcdiag.checks.stun import STUN, StunPlan
    from rtcdiag.checks.turn import TURN, TurnPlan
    from rtcdiag.jsonable import to_jsonable
    from rtcdiag.probes.binding import BindingOptions
    from rtcdiag.probes.turn import TurnCheckOptions
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

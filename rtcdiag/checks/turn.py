"""The TURN check: every target's transports probed concurrently (``probes.turn.check``), judged by
``triage.turn``: challenge, allocation, relay address, data through the relay, refresh and release."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rtcdiag import interrupt
from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import ServerPlan
from rtcdiag.checks.registry import Cell, Combine, Entry, Labels, Sample
from rtcdiag.checks.tables import ms
from rtcdiag.probes.binding import BindingResult
from rtcdiag.probes.turn import TurnCheckOptions as TurnCheckOptions  # the plan's options, for turn-check
from rtcdiag.probes.turn import check
from rtcdiag.probes.turn_result import FAMILY_CHOICES as FAMILY_CHOICES  # --family's choices
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    AclVerdict,
    DataPathResult,
    FamilyRelay,
    RelayFamily,
    TransportResult,
)
from rtcdiag.probes.turn_result import TurnCheckResult as TurnCheckResult  # the result type, for commands
from rtcdiag.redact import echo
from rtcdiag.report.model import Table
from rtcdiag.targets import Target
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import turn as rules
from rtcdiag.triage.judgement import Facts

if TYPE_CHECKING:
    from rtcdiag.triage.unasked import Endpoint


@dataclass(frozen=True)
class TurnPlan:
    """TURN targets (turn:/turns: URIs or hosts) and how to check them (credentials, transports, ...)."""

    targets: Sequence[Target]
    options: TurnCheckOptions


async def _run(plan: TurnPlan) -> list[TurnCheckResult]:
    """Every target concurrently; interrupted (Ctrl-C, SIGTERM): the targets that had finished a transport."""
    return await interrupt.finished([check(target, plan.options) for target in plan.targets],
                                    [target.uri for target in plan.targets])


TURN: Check[TurnPlan, list[TurnCheckResult]] = Check("turn", _run, rules.judge_all)

PACKETS = 3  # data-path messages per relay in ``rtcdiag check``


def server_job(plan: ServerPlan, timeouts: Timeouts) -> Job[TurnPlan, list[TurnCheckResult]] | None:
    targets = plan.turn_targets
    if not targets:
        return None
    server = plan.config
    options = TurnCheckOptions(
        username=server.username, password=server.password, secret=server.secret, ttl_s=server.ttl,
        realm=server.realm, ca_file=plan.ca_file, insecure=plan.insecure,
        packets=PACKETS, timeout_s=timeouts.transaction_s,
        transports=plan.shortcut_transports,  # host[:port] only
        families=FAMILY_CHOICES[server.family], tcp_relay=server.tcp_relay,
        follow_redirects=plan.follow_redirects)
    return Job(TURN, TurnPlan(targets, options), plan.subject, f"turn {plan.label}")


# --- cells of ``rtcdiag check``'s tables ----------------------------------------------------------------


def data_summary(paths: list[DataPathResult]) -> str:
    """Every data-path method of one relay together: ``0% loss (10/10), rtt 0.21 ms`` (RTT the average of
    every echo), or why no data was measured."""
    sent = sum(dp.packets_sent for dp in paths)
    if not sent:
        reasons = [(dp.local_error and "data not tried (no local peer)") or dp.error for dp in paths]
        reason = next((r for r in reasons if r), None)
        return f"no data: {reason}" if reason else "no data sent"
    received = sum(dp.packets_received for dp in paths)
    rtts = [rtt for dp in paths for rtt in dp.rtts_ms]
    loss = 100.0 * (sent - received) / sent
    text = f"{loss:.3g}% loss ({received}/{sent})"
    if rtts:
        text += f", rtt {ms(sum(rtts) / len(rtts))}"
    return text


def turn_outcome(t: TransportResult) -> str:
    """What one TURN transport came to, in a few words: ``relay 1.2.3.4:50000``, ``401 Unauthorized``,
    ``refused``, ``no answer``."""
    if t.allocated:
        return f"relay {t.relayed_address}" if t.relayed_address else "allocated"
    if t.error_code is not None:
        return f"{t.error_code} {echo(t.error_reason)}".strip() if t.error_reason else f"error {t.error_code}"
    if t.certificate_problem and not t.connected:
        return f"certificate refused: {t.certificate_problem}"
    if t.failure_kind:
        return str(t.failure_kind)
    if t.connect_error:
        return "no connection"
    return f"no answer to {t.timed_out_step}" if t.timed_out_step else "no allocation"


def _transport_cells(where: str, t: TransportResult) -> list[Cell]:
    if t.allocated:
        out = [(where, t.transport, "turn", f"relay {t.relayed_address}")]
    else:
        why = (f"{t.error_code} {echo(t.error_reason) if t.error_reason else ''}".strip() if t.error_code
               else t.connect_error or t.timed_out_step or "no allocation")
        out = [(where, t.transport, "turn", str(why))]
    for dp in t.data_paths:
        rtt = f", {dp.rtt_avg_ms} ms" if dp.rtts_ms else ""
        out.append((where, t.transport, "data", f"{dp.method} {dp.packets_received}/{dp.packets_sent}{rtt}"))
    return out


def cells(results: list[TurnCheckResult], label: Labels) -> list[Cell]:
    return [cell for r in results for t in r.transports
            for cell in _transport_cells(label.get(r.host, r.host), t)]


def _short_transport(where: str, t: TransportResult) -> list[Cell]:
    out = [(where, t.transport, "result", turn_outcome(t))]
    if t.allocated and t.data_paths:
        out.append((where, t.transport, "data", data_summary(t.data_paths)))
    return out


def short_cells(results: list[TurnCheckResult], label: Labels) -> list[Cell]:
    return [cell for r in results for t in r.transports
            for cell in _short_transport(label.get(r.host, r.host), t)]


def metrics(results: list[TurnCheckResult], facts: Facts) -> list[Sample]:
    """Allocation success per transport and the worst data loss through the relay per transport."""
    out: list[Sample] = []
    for each in results:
        sent: dict[str, int] = {}
        received: dict[str, int] = {}
        for tr in each.transports:
            out.append(Sample("rtcdiag_relay_allocation_success", float(tr.allocated), (tr.transport,),
                              Combine.MIN))
            for dp in tr.data_paths:
                sent[tr.transport] = sent.get(tr.transport, 0) + dp.packets_sent
                received[tr.transport] = received.get(tr.transport, 0) + min(dp.packets_received,
                                                                             dp.packets_sent)
        for transport, count in sent.items():
            if count:
                out.append(Sample("rtcdiag_data_loss_ratio", 1.0 - received[transport] / count, (transport,),
                                  Combine.MAX))
    return out


ENTRIES = (Entry(TURN, list[TurnCheckResult], server_job=server_job, cells=cells, short_cells=short_cells,
                 metrics=metrics),)


# --- ``rtcdiag turn-check``'s tables and notes -------------------------------------------------------


def acl_peers_problem(items: tuple[str, ...]) -> str | None:
    """What is wrong with the ``--acl-peers`` items, in one line (before any traffic); None: all good."""
    from rtcdiag.probes.turn_acl import MAX_PEERS, peer_of

    for item in items:
        try:
            peer_of(item)
        except ValueError:
            return f"--acl-peers: {item!r} is not an IP address, CIDR block or first-last range"
    if len(items) > MAX_PEERS:
        return f"--acl-peers: at most {MAX_PEERS} entries"
    return None


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

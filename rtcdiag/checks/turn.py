"""The TURN check: every target's transports probed concurrently (``probes.turn.check``), judged by
``triage.turn``: challenge, allocation, relay address, data through the relay, refresh and release."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rtcdiag import interrupt
from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import ServerPlan
from rtcdiag.checks.registry import Cell, Combine, Entry, Labels, Sample
from rtcdiag.checks.tables import ms
from rtcdiag.probes.turn import TurnCheckOptions, check
from rtcdiag.probes.turn_result import FAMILY_CHOICES, DataPathResult, TransportResult, TurnCheckResult
from rtcdiag.redact import echo
from rtcdiag.targets import Target
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import turn as rules
from rtcdiag.triage.judgement import Facts


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

"""Judge of the TURN check: TurnCheckResult -> findings, one outcome per transport x step, and facts.

The probe only records what happened; every judgement (open relay, wrong password, private relay address,
no data through the relay, ...) is made here, from the recorded result alone, so the rules are unit-tested
on recorded results without a network.

Steps per transport (JUnit ``udp/allocate`` etc.), in the order a client goes through them:

- ``connect``: TCP connect / TLS handshake; over UDP, whether the server answered at all;
- ``challenge``: the unauthenticated Allocate, which must get a 401 with REALM and NONCE (RFC 8656 §7.2);
- ``allocate``: the authenticated Allocate (a 438 Stale Nonce retried once is judged on the retry);
- ``relay-address``: the scope of XOR-RELAYED-ADDRESS;
- ``data-send-indication`` / ``data-channel-data``: packets echoed through the relay (RFC 8656 §11, §12);
- ``refresh``: Refresh, then the release (Refresh LIFETIME=0, RFC 8656 §8).

A step that fails stops the transport: every later step is SKIPPED with the reason, so one cause is stated
once, on its own step (the diagnosis folds consequences; this module never repeats an explanation). Every
request is judged on its *final* exchange: a 438 whose retry with the new nonce succeeded is no error.
"""

from __future__ import annotations

from collections.abc import Sequence

from rtcdiag.addresses import parse_ip
from rtcdiag.probes.record import Outcome
from rtcdiag.probes.turn_result import RelayFamily, TransportResult, TurnCheckResult
from rtcdiag.triage import ids
from rtcdiag.triage.failures import proves_udp_blocked
from rtcdiag.triage.finding import Finding, make_finding
from rtcdiag.triage.judgement import (
    Judgement,
    NameFact,
    RelayFact,
    RttFact,
    StepOutcome,
    StepState,
    is_well_known,
)
from rtcdiag.triage.turn_challenge import judge_challenge
from rtcdiag.triage.turn_connect import judge_connect
from rtcdiag.triage.turn_credentials import judge_rest
from rtcdiag.triage.turn_data_path import flooded
from rtcdiag.triage.turn_exchanges import (
    CHECK,
    CHECK_STEPS,
    FAMILY_STEPS,
    FAMILY_SUFFIX,
    TCP_RELAY_STEP,
    stream_answered,
    subject,
    transport_port,
)
from rtcdiag.triage.turn_families import FAMILY_RULES, judge_families
from rtcdiag.triage.turn_leg import Leg, Rule, run_rules
from rtcdiag.triage.turn_refresh import judge_refresh
from rtcdiag.triage.turn_server_stop import server_stop
from rtcdiag.triage.turn_tcp_relay import judge_tcp_relay


def steps_for(result: TurnCheckResult) -> list[str]:
    """The steps one transport reports, in order: the connection's, each family's, refresh, tcp-relay."""
    families = result.families or [RelayFamily.IPV4]
    steps = ["connect", "challenge"]
    for family in families:
        steps += [step + FAMILY_SUFFIX[family] for step in FAMILY_STEPS]
    steps.append("refresh")
    if result.tcp_relay:
        steps.append(TCP_RELAY_STEP)
    return steps


_RULES: tuple[tuple[str, Rule], ...] = (
    ("connect", judge_connect),
    ("challenge", judge_challenge),
    *FAMILY_RULES,
    ("refresh", judge_refresh),
)
assert tuple(step for step, _ in _RULES) == CHECK_STEPS


def judge(result: TurnCheckResult, *,
          answered: frozenset[tuple[str, int | None, str]] = frozenset()) -> Judgement:
    """Findings, one outcome per transport x step, relay / RTT / name facts for one TURN server.

    ``answered``: (host, port, transport) that answered STUN/TURN over TCP or TLS in *other* results of the
    same server entry (this result's own transports are always taken into account): UDP silence on a port
    of their port family is UDP-BLOCKED (:func:`rtcdiag.triage.failures.proves_udp_blocked`).
    """
    out = Judgement()
    named = parse_ip(result.host) is None
    if named:
        resolved = result.resolve_error is None
        out.facts.names.append(NameFact(result.host, resolved, well_known=is_well_known(result.host),
                                        detail=result.resolve_error or ""))
    if result.resolve_error is not None:
        _judge_unresolved(result, out)
        for t in result.transports:
            _facts(result, t, out)
        return out
    rest_expired = judge_rest(result, out)
    streams = answered | _stream_answers(result)
    for t in result.transports:
        port = transport_port(result, t)
        blocked = t.transport == "udp" and any(host == result.host and proves_udp_blocked(port, kind, where)
                                               for host, where, kind in streams)
        leg = Leg(result, t, subject(result, t), out, rest_expired=rest_expired, udp_blocked=blocked,
                   stopped=server_stop(t))
        run_rules(leg, _RULES[:2])  # connect, challenge
        judge_families(leg)
        run_rules(leg, _RULES[-1:])  # refresh
        if result.tcp_relay:
            run_rules(leg, ((TCP_RELAY_STEP, judge_tcp_relay),))
        _facts(result, t, out)
    undecided = any(step.state is StepState.UNDECIDED for step in out.steps)
    out.facts.inconclusive = is_inconclusive(result) or undecided
    return out


def _stream_answers(result: TurnCheckResult) -> frozenset[tuple[str, int | None, str]]:
    """(host, port, transport) of this server's TCP/TLS transports that got a STUN/TURN answer."""
    return frozenset((result.host, transport_port(result, t), t.transport)
                     for t in result.transports if stream_answered(t))


def judge_all(results: Sequence[TurnCheckResult]) -> Judgement:
    """:func:`judge` of every result (one server entry's), UDP-BLOCKED knowing every TCP/TLS answer."""
    answered = frozenset(a for r in results for a in _stream_answers(r))
    return Judgement.merge([judge(r, answered=answered) for r in results])


def is_inconclusive(result: TurnCheckResult) -> bool:
    """Nothing could be verified: the server challenged but no credentials were given anywhere."""
    answered = [t for t in result.transports if t.challenge_answered]
    return bool(answered) and all(t.challenge_code == 401 and not t.authenticated and not t.open_relay
                                  for t in answered)


def triage(result: TurnCheckResult) -> list[Finding]:
    """The findings of :func:`judge` alone."""
    return judge(result).findings


# --- server-wide: DNS ---

def _judge_unresolved(result: TurnCheckResult, out: Judgement) -> None:
    error = result.resolve_error or "does not resolve"
    subj = subject(result)
    out.findings.append(make_finding(ids.DNS_FAILURE, subj, check=CHECK, step="resolve", evidence=[error],
                                     detail=error, host=result.host))
    out.steps.append(StepOutcome(subj, CHECK, "resolve", detail=error))
    reason = f"name does not resolve: {result.host} ({error})"
    for t in result.transports:
        for step in steps_for(result):
            out.steps.append(StepOutcome(subject(result, t), CHECK, step, state=StepState.SKIPPED,
                                         detail=reason))


def _facts(result: TurnCheckResult, t: TransportResult, out: Judgement) -> None:
    """RelayFact per transport that allocated or failed; one RttFact per data path that got echoes."""
    where = subject(result, t).identity
    flowing = [dp for dp in t.data_paths if dp.packets_received]
    if t.allocated:
        if flowing:
            out.facts.relays.append(RelayFact(result.host, True, f"TURN {t.transport}: relay "
                                              f"{t.relayed_address}, data echoed through it", where))
        elif any(not flooded(dp) and all(ex.outcome != Outcome.NOT_SENT for ex in dp.steps)
                 for dp in t.data_paths):  # a flood, or a request that could not be sent, decides nothing
            out.facts.relays.append(RelayFact(result.host, False, f"TURN {t.transport}: relay "
                                              f"{t.relayed_address}, no data came back through it", where))
    elif not (t.challenge_code == 401 and not t.authenticated and t.challenge_answered):
        why = t.error_code or t.connect_error or t.timed_out_step or "no answer"
        out.facts.relays.append(RelayFact(result.host, False, f"TURN {t.transport}: no allocation ({why})",
                                          where))
    for dp in flowing:
        if dp.rtt_avg_ms is not None and not flooded(dp):
            out.facts.rtts.append(RttFact(result.host, f"TURN data {t.transport} ({dp.method}), average",
                                          dp.rtt_avg_ms))

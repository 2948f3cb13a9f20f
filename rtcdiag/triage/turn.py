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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from rtcdiag.addresses import Scope, parse_ip
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.triage.failures import failure_id
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import (
    Judgement,
    NameFact,
    RelayFact,
    RttFact,
    StepOutcome,
    StepState,
    is_well_known,
)

CHECK = "turn"

# RFC 8656 §19 / RFC 8489 §14.8 / RFC 6062 §6.3: error code -> catalogue id.
ERROR_CODE_FINDINGS: dict[int, str] = {
    400: "TURN-BAD-REQUEST-400",
    401: "TURN-AUTH-401",
    403: "TURN-FORBIDDEN-403",
    420: "TURN-UNKNOWN-ATTR-420",
    437: "TURN-MISMATCH-437",
    438: "TURN-STALE-NONCE-438",
    440: "TURN-FAMILY-440",
    441: "TURN-AUTH-441",
    442: "TURN-TRANSPORT-442",
    443: "TURN-FAMILY-443",
    446: "TURN-CONNECTION-446",
    447: "TURN-CONNECTION-447",
    486: "TURN-QUOTA-486",
    508: "TURN-CAPACITY-508",
}

# A REST expiry further ahead than this is suspicious (ms instead of s, clock skew, endless TTL).
REST_SKEW_LIMIT_S = 7 * 86400

DATA_METHOD_LABEL = {METHOD_INDICATION: "Send/Data indications", METHOD_CHANNEL: "ChannelBind + ChannelData"}

# One JUnit testcase per server x transport x step.
CHECK_STEPS = ("connect", "challenge", "allocate", "relay-address", "data-" + METHOD_INDICATION,
               "data-" + METHOD_CHANNEL, "refresh")

_UNAUTH = "allocate (unauthenticated)"
_AUTH = "allocate (authenticated)"
_RETRY = " (retry with new nonce)"


def describe_exchange(ex: Exchange) -> str:
    """One evidence line: step, request, what came back and how fast."""
    answer = ex.response or ex.error or ex.outcome
    rtt = f" in {ex.rtt_ms:.1f} ms" if ex.rtt_ms is not None else ""
    tries = f" after {ex.attempts} attempt(s)" if ex.outcome == Outcome.TIMEOUT and ex.attempts else ""
    rejected = f" ({_rejected_count(ex)} reply(ies) rejected: {'; '.join(ex.rejected[:2])})" \
        if ex.rejected else ""
    return f"{ex.step}: {ex.request} -> {answer}{rtt}{tries}{rejected}"


def _rejected_count(ex: Exchange) -> int:
    return max(ex.rejected_count, len(ex.rejected))


def final_exchanges(steps: Iterable[Exchange]) -> list[Exchange]:
    """The last exchange of each request: a 438 retried with the new nonce is judged on the retry."""
    last: dict[str, Exchange] = {}
    for ex in steps:
        base = ex.step.removesuffix(_RETRY)
        last.pop(base, None)  # keep the order of the final exchanges
        last[base] = ex
    return list(last.values())


def _of(t: TransportResult, prefix: str) -> list[Exchange]:
    return [ex for ex in t.steps if ex.step.startswith(prefix)]


def _rtt_s(exchanges: Iterable[Exchange]) -> float:
    return sum(ex.rtt_ms or 0.0 for ex in exchanges) / 1000.0


def _answer(ex: Exchange) -> str:
    """``401 Unauthorized`` from ``Allocate error response 401 Unauthorized``."""
    if ex.response and " response " in ex.response:
        return ex.response.split(" response ", 1)[1]
    return ex.response or (str(ex.error_code) if ex.error_code is not None else ex.outcome)


def _retried(exchanges: Iterable[Exchange]) -> str:
    return " after a 438 Stale Nonce retry" if any(ex.step.endswith(_RETRY) for ex in exchanges) else ""


def transport_port(result: TurnCheckResult, t: TransportResult) -> int | None:
    """The port this transport was checked on (TLS: the TLS port), before any ALTERNATE-SERVER redirect."""
    if t.port is not None:
        return t.port
    if t.alternate_server is None:
        _, _, port = t.server.rpartition(":")
        if port.isdigit():
            return int(port)
    return result.port if t.transport != "tls" else None


def subject(result: TurnCheckResult, t: TransportResult | None = None) -> Subject:
    """The subject of a transport's steps (or of the whole server when ``t`` is None)."""
    if t is None:
        return Subject(server=result.target, host=result.host, port=result.port)
    return Subject(server=result.target, host=result.host, port=transport_port(result, t),
                   transport=t.transport)


def stream_answered(t: TransportResult) -> bool:
    """TCP/TLS got a real STUN/TURN response (not a bare accept)."""
    return t.transport in ("tcp", "tls") and (t.challenge_answered or t.open_relay or any(
        ex.outcome in (Outcome.SUCCESS, Outcome.ERROR_RESPONSE) for ex in t.steps))


@dataclass
class _Leg:
    """The steps of one transport being judged: findings and outcomes appended as the steps go."""

    result: TurnCheckResult
    t: TransportResult
    subj: Subject
    out: Judgement
    rest_expired: bool
    udp_blocked: bool  # the same host answered STUN over TCP/TLS (UDP silence is then UDP-BLOCKED)
    blocked: str | None = None  # why the remaining steps do not run

    def add(self, step: str, finding_id: str, detail: str, evidence: list[str] | None = None,
            **params: object) -> None:
        t = self.t
        values: dict[str, object] = {"transport": t.transport.upper(), "server": t.server,
                                     "host": t.server_name or self.result.host, "detail": detail,
                                     "port": self.subj.port if self.subj.port is not None else "?"}
        values.update(params)
        self.out.findings.append(make_finding(
            finding_id, self.subj, check=CHECK, step=step,
            evidence=evidence if evidence is not None else [describe_exchange(ex) for ex in t.steps],
            **cast(dict[str, Any], values)))

    def outcome(self, step: str, detail: str, duration_s: float = 0.0,
                state: StepState = StepState.DONE) -> None:
        self.out.steps.append(StepOutcome(self.subj, CHECK, step, state=state, detail=detail,
                                          duration_s=round(max(duration_s, 0.0), 6)))

    def stop(self, reason: str) -> None:
        if self.blocked is None:
            self.blocked = reason

    def elapsed_left_s(self) -> float:
        """Time of this transport not accounted for by answered exchanges (how long a silence lasted)."""
        known = (self.t.connect_ms or 0.0) + sum(ex.rtt_ms or 0.0 for ex in self.t.steps)
        for dp in self.t.data_paths:
            known += sum(ex.rtt_ms or 0.0 for ex in dp.steps)
        return max(0.0, self.t.duration_ms - known) / 1000.0


_Rule = Callable[[_Leg], None]


def judge(result: TurnCheckResult, *, answered_hosts: frozenset[str] = frozenset()) -> Judgement:
    """Findings, one outcome per transport x step, relay / RTT / name facts for one TURN server.

    ``answered_hosts``: hosts that answered STUN/TURN over TCP or TLS in *other* results of the same run
    (this result's own transports are always taken into account): UDP silence towards them is UDP-BLOCKED.
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
    rest_expired = _judge_rest(result, out)
    own = {result.host} if any(stream_answered(t) for t in result.transports) else set()
    answered = answered_hosts | own
    for t in result.transports:
        leg = _Leg(result, t, subject(result, t), out, rest_expired=rest_expired,
                   udp_blocked=result.host in answered)
        for step, rule in _RULES:
            if leg.blocked is not None:
                leg.outcome(step, leg.blocked, state=StepState.SKIPPED)
            else:
                rule(leg)
        _facts(result, t, out)
    undecided = any(step.state is StepState.UNDECIDED for step in out.steps)
    out.facts.inconclusive = is_inconclusive(result) or undecided
    return out


def judge_all(results: Sequence[TurnCheckResult]) -> Judgement:
    """:func:`judge` of every result, UDP-BLOCKED knowing every TCP/TLS answer of the run."""
    answered = frozenset(r.host for r in results for t in r.transports if stream_answered(t))
    return Judgement.merge([judge(r, answered_hosts=answered) for r in results])


def is_inconclusive(result: TurnCheckResult) -> bool:
    """Nothing could be verified: the server challenged but no credentials were given anywhere."""
    answered = [t for t in result.transports if t.challenge_answered]
    return bool(answered) and all(t.challenge_code == 401 and not t.authenticated and not t.open_relay
                                  for t in answered)


def triage(result: TurnCheckResult) -> list[Finding]:
    """The findings of :func:`judge` alone."""
    return judge(result).findings


# --- server-wide: DNS and REST credentials ----------------------------------------------------------------


def _judge_unresolved(result: TurnCheckResult, out: Judgement) -> None:
    error = result.resolve_error or "does not resolve"
    subj = subject(result)
    out.findings.append(make_finding("DNS-FAILURE", subj, check=CHECK, step="resolve", evidence=[error],
                                     detail=error, host=result.host))
    out.steps.append(StepOutcome(subj, CHECK, "resolve", detail=error))
    reason = f"name does not resolve: {result.host} ({error})"
    for t in result.transports:
        for step in CHECK_STEPS:
            out.steps.append(StepOutcome(subject(result, t), CHECK, step, state=StepState.SKIPPED,
                                         detail=reason))


def _judge_rest(result: TurnCheckResult, out: Judgement) -> bool:
    """The ``credentials`` step of a REST user name (``expiry:user``); True when it has expired."""
    rest = result.rest
    if rest is None:
        return False
    subj = subject(result)
    detail = f"{rest.username!r} (expiry {rest.expiry}, local clock {rest.local_time}, " \
             f"{rest.seconds_left:+d} s)"
    expired = rest.seconds_left <= 0
    if expired:
        out.findings.append(make_finding("TURN-REST-EXPIRED", subj, check=CHECK, step="credentials",
                                         detail=detail,
                                         evidence=[f"expired {-rest.seconds_left} s ago by the local clock"]))
    elif not rest.generated and rest.seconds_left > REST_SKEW_LIMIT_S:
        out.findings.append(make_finding("TURN-CLOCK-SKEW", subj, check=CHECK, step="credentials",
                                         detail=detail,
                                         evidence=[f"expires in {rest.seconds_left / 86400:.1f} days"]))
    made = "generated from the shared secret" if rest.generated else "as given"
    out.steps.append(StepOutcome(subj, CHECK, "credentials",
                                 detail=f"REST user name {rest.username!r} ({made}), "
                                        f"{rest.seconds_left:+d} s to expiry by the local clock"))
    return expired


# --- per transport, one rule per step ----------------------------------------------------------------------


def _connect(leg: _Leg) -> None:
    t = leg.t
    if t.transport in ("tcp", "tls"):
        if t.connect_ms is None:  # the connection (or TLS handshake) itself failed
            text = t.connect_error or "connection failed"
            leg.add("connect", failure_id(t.failure_kind, text), text, [text])
            leg.outcome("connect", text, t.duration_ms / 1000.0)
            leg.stop(f"no connection: {text}")
            return
        what = "TLS handshake done" if t.transport == "tls" else "TCP connection accepted"
        leg.outcome("connect", f"{what} in {t.connect_ms:.1f} ms", t.connect_ms / 1000.0)
        return
    first = next(iter(t.steps), None)
    if first is None or first.outcome == Outcome.TRANSPORT_ERROR:
        text = (first.error if first is not None else None) or t.connect_error or "no answer"
        kind = (first.error_kind if first is not None else None) or t.failure_kind
        leg.add("connect", failure_id(kind, text), text, [text])
        leg.outcome("connect", text, leg.elapsed_left_s())
        leg.stop(f"no TURN over UDP: {text}")
        return
    if first.outcome == Outcome.TIMEOUT:
        tries = f"no reply to {first.attempts} UDP request(s)"
        if leg.udp_blocked:
            leg.add("connect", "UDP-BLOCKED", f"{tries} while TURN over TCP/TLS to {leg.result.host} "
                    f"answered", [describe_exchange(first)])
        else:
            leg.add("connect", "SERVER-UNREACHABLE", tries, [describe_exchange(first)])
        leg.outcome("connect", tries, leg.elapsed_left_s())
        leg.stop(f"no answer over UDP from {t.server}")
        return
    rtt = f" in {first.rtt_ms:.1f} ms" if first.rtt_ms is not None else ""
    leg.outcome("connect", f"the server answered over UDP{rtt}", (first.rtt_ms or 0.0) / 1000.0)


def _challenge(leg: _Leg) -> None:
    t = leg.t
    unauth = _of(t, _UNAUTH)
    duration = _rtt_s(unauth)
    final = unauth[-1] if unauth else None
    if t.open_relay:
        leg.add("challenge", "TURN-OPEN-RELAY", t.relayed_address or "?")
        leg.outcome("challenge", "allocated without credentials", duration)
        return
    if final is None:
        leg.outcome("challenge", "no Allocate request was sent", state=StepState.UNDECIDED)
        leg.stop("no Allocate request was sent")
        return
    if final.outcome not in (Outcome.SUCCESS, Outcome.ERROR_RESPONSE):
        _unanswered_challenge(leg, final, len(unauth) > 1 and t.alternate_server is not None)
        return
    alternate = next((ex for ex in unauth if ex.error_code == 300), None)
    if t.alternate_server is not None and alternate is not None:
        leg.add("challenge", "TURN-ALTERNATE-SERVER", t.alternate_server,
                [describe_exchange(ex) for ex in unauth])
    code = t.challenge_code
    if final.error_code == 300 and t.alternate_server is not None:  # followed, but could not connect there
        text = t.connect_error or "connection failed"
        leg.add("challenge", failure_id(t.failure_kind, text),
                f"alternate server {t.alternate_server}: {text}", server=t.alternate_server)
        leg.outcome("challenge", f"redirected to {t.alternate_server}: {text}", duration)
        leg.stop(f"the alternate server {t.alternate_server} could not be reached: {text}")
        return
    if final.outcome == Outcome.ERROR_RESPONSE and final.error_code != 401:
        _error_code(leg, "challenge", final)
        leg.outcome("challenge", f"the unauthenticated Allocate was answered {_answer(final)}", duration)
        leg.stop(f"the unauthenticated Allocate was answered {_answer(final)}")
        return
    if code == 401 and (t.realm is None or not t.nonce_seen):
        missing = " and ".join(n for n, gone in (("REALM", t.realm is None), ("NONCE", not t.nonce_seen))
                               if gone)
        leg.add("challenge", "TURN-CHALLENGE-INVALID", f"401 without {missing}")
        leg.outcome("challenge", f"401 without {missing}", duration)
        leg.stop(f"the 401 challenge has no {missing}: the Allocate cannot be authenticated")
        return
    algorithms = f", PASSWORD-ALGORITHMS {','.join(t.password_algorithms)}" if t.password_algorithms else ""
    detail = f"401 challenge with realm {t.realm!r} and a nonce{algorithms}"
    if code == 401 and not t.authenticated:
        leg.add("challenge", "TURN-NO-CREDENTIALS", repr(t.realm))
        leg.outcome("challenge", detail, duration)
        leg.stop(f"no credentials given: the server asks for them (realm {t.realm!r})")
        return
    leg.outcome("challenge", detail, duration)


def _unanswered_challenge(leg: _Leg, final: Exchange, at_alternate: bool) -> None:
    """The (first) Allocate got no STUN answer although the server was reached (stream) or answered (UDP)."""
    t = leg.t
    what = {Outcome.TIMEOUT: f"no reply to {final.attempts} request(s)", Outcome.REJECTED:
            f"{_rejected_count(final)} reply(ies) were not valid STUN"}.get(final.outcome,
                                                                           final.error or final.outcome)
    evidence = [describe_exchange(ex) for ex in t.steps] + final.rejected[:5]
    duration = _rtt_s(_of(t, _UNAUTH)) + (leg.elapsed_left_s() if final.outcome == Outcome.TIMEOUT else 0.0)
    if at_alternate:  # the ALTERNATE-SERVER we were sent to did not answer
        leg.add("challenge", "TURN-ALTERNATE-SERVER", t.alternate_server or "?", evidence)
        kind = final.error_kind if final.outcome == Outcome.TRANSPORT_ERROR else None
        finding_id = "MALFORMED-REPLY" if final.outcome == Outcome.REJECTED else \
            failure_id(kind, what)
        leg.add("challenge", finding_id, f"alternate server {t.alternate_server}: {what}", evidence,
                server=t.alternate_server or t.server)
    elif t.transport in ("tcp", "tls"):
        said = {Outcome.TIMEOUT: "an Allocate request got no reply",
                Outcome.REJECTED: "the replies to an Allocate request were not STUN"}.get(
            final.outcome, f"an Allocate request ended the connection ({final.error or final.outcome})")
        leg.add("challenge", "PORT-NOT-STUN",
                f"{said} after the {t.transport.upper()} connection was accepted", evidence)
    elif final.outcome == Outcome.REJECTED:
        leg.add("challenge", "MALFORMED-REPLY", f"{_rejected_count(final)} reply(ies) rejected: "
                + "; ".join(final.rejected[:3]), evidence)
    else:
        leg.add("challenge", "SERVER-UNREACHABLE", what, evidence)
    leg.outcome("challenge", what, duration)
    leg.stop(f"no STUN answer to the Allocate request ({what})")


def _allocate(leg: _Leg) -> None:
    t = leg.t
    auth = _of(t, _AUTH)
    duration = _rtt_s(auth)
    final = auth[-1] if auth else None
    if t.open_relay:
        leg.outcome("allocate", f"open relay: allocated {t.relayed_address or '?'} without credentials",
                    duration)
        return
    if t.alternate_server is not None and any(ex.error_code == 300 for ex in auth):
        leg.add("allocate", "TURN-ALTERNATE-SERVER", t.alternate_server,
                [describe_exchange(ex) for ex in auth])
    userhash = f"; {t.userhash_error}" if t.userhash_error else ""
    if t.allocated:
        algorithm = t.auth_algorithm or "md5"
        lifetime = f", lifetime {t.lifetime_s} s" if t.lifetime_s is not None else ""
        leg.outcome("allocate", f"allocated ({algorithm}{', USERHASH' if t.userhash else ''}{lifetime})"
                    f"{_retried(auth)}{userhash}", duration)
        return
    if final is not None and final.outcome == Outcome.ERROR_RESPONSE:
        _error_code(leg, "allocate", final)
        leg.outcome("allocate", f"the Allocate was answered {_answer(final)}{_retried(auth)}{userhash}",
                    duration)
        leg.stop(f"no allocation: the Allocate was answered {_answer(final)}")
        return
    if final is not None and final.outcome in (Outcome.TIMEOUT, Outcome.REJECTED):
        why = t.timed_out_step or "authenticated Allocate request"
        leg.add("allocate", "TURN-ALLOCATE-TIMEOUT", why, [describe_exchange(ex) for ex in t.steps]
                + final.rejected[:5])
        leg.outcome("allocate", why, duration + leg.elapsed_left_s())
        leg.stop("no allocation: the authenticated Allocate got no answer")
        return
    if final is not None and final.outcome == Outcome.TRANSPORT_ERROR:
        text = final.error or "connection lost"
        finding_id = failure_id(final.error_kind, text)
        if finding_id in ("SERVER-UNREACHABLE", "SERVER-REFUSED"):
            finding_id = "TURN-ALLOCATE-TIMEOUT"  # it answered the challenge: the service, not the path
        leg.add("allocate", finding_id, f"authenticated Allocate request ({text})")
        leg.outcome("allocate", text, duration)
        leg.stop(f"no allocation: {text}")
        return
    if not t.connected and t.connect_error:  # e.g. the alternate server could not be reached
        leg.add("allocate", failure_id(t.failure_kind, t.connect_error), t.connect_error)
        leg.outcome("allocate", t.connect_error, duration)
        leg.stop(f"no allocation: {t.connect_error}")
        return
    leg.outcome("allocate", "no authenticated Allocate was answered", duration, state=StepState.UNDECIDED)
    leg.stop("no allocation")


def _error_code(leg: _Leg, step: str, final: Exchange) -> None:
    t = leg.t
    code = final.error_code or t.error_code or 0
    request = t.error_step or ("unauthenticated Allocate request" if step == "challenge"
                               else "authenticated Allocate request")
    reason = f" ({t.error_reason})" if t.error_reason else ""
    finding_id = "TURN-REST-EXPIRED" if code == 401 and leg.rest_expired and step == "allocate" else \
        ERROR_CODE_FINDINGS.get(code, "TURN-ERROR-OTHER")
    if finding_id == "TURN-UNKNOWN-ATTR-420":
        detail = f"{request} was answered 420: unknown attributes {', '.join(t.unknown_attributes) or '?'}"
    elif finding_id == "TURN-ERROR-OTHER":
        detail = f"{request} was answered {code}{reason}"
    elif finding_id in ("TURN-AUTH-401", "TURN-AUTH-441"):
        algorithm = f", {t.auth_algorithm}" if t.auth_algorithm else ""
        detail = f"(user and realm {t.realm!r}{algorithm})"
    else:
        detail = request
    evidence = [describe_exchange(ex) for ex in t.steps]
    if t.userhash_error:
        evidence.append(t.userhash_error)
    if finding_id == "TURN-REST-EXPIRED":
        evidence.insert(0, f"server answered 401 over {t.transport.upper()}")
    leg.add(step, finding_id, detail, evidence)


def _relay_address(leg: _Leg) -> None:
    t, result = leg.t, leg.result
    if not t.allocated:
        leg.outcome("relay-address", "no allocation", state=StepState.SKIPPED)
        leg.stop("no allocation")
        return
    if t.relayed_address is None or t.relayed_ip is None:
        leg.outcome("relay-address", "the Allocate success has no XOR-RELAYED-ADDRESS",
                    state=StepState.UNDECIDED)
        leg.stop("no relayed address in the Allocate success")
        return
    if t.relay_scope is not None and t.relay_scope != Scope.PUBLIC.value:
        server_public = result.server_scope == Scope.PUBLIC.value
        detail = f"{t.relayed_address} ({t.relay_scope})"
        leg.add("relay-address", "TURN-RELAY-PRIVATE" if server_public else "TURN-RELAY-LOCAL", detail,
                [f"relayed address {t.relayed_address} is {t.relay_scope}; server {t.server} is "
                 f"{result.server_scope}"])
    leg.outcome("relay-address", f"relay {t.relayed_address} ({t.relay_scope or 'unknown scope'})")


def _data(method: str) -> _Rule:
    step = "data-" + method

    def rule(leg: _Leg) -> None:
        t = leg.t
        dp = t.data_path(method)
        if dp is None:
            reason = "--no-peer-test: no data sent through the relay" if not leg.result.peer_test else \
                "not run (the check ended before the data path)"
            leg.outcome(step, reason, state=StepState.SKIPPED)
            return
        _data_path(leg, step, dp)
    return rule


def _data_path(leg: _Leg, step: str, dp: DataPathResult) -> None:
    label = DATA_METHOD_LABEL.get(dp.method, dp.method)
    finals = final_exchanges(dp.steps)
    evidence = [*(describe_exchange(ex) for ex in dp.steps), _data_line(dp)]
    duration = _data_span_s(leg.t, dp)
    refused = next((ex for ex in finals if ex.outcome == Outcome.ERROR_RESPONSE), None)
    if refused is not None:
        finding_id = ERROR_CODE_FINDINGS.get(refused.error_code or 0, "TURN-ERROR-OTHER")
        detail = f"{refused.request} for peer {dp.peer}" if finding_id != "TURN-ERROR-OTHER" else \
            f"{refused.request} for peer {dp.peer} was answered {refused.response}"
        leg.add(step, finding_id, detail, evidence)
        leg.outcome(step, f"{refused.request} was answered {_answer(refused)}{_retried(dp.steps)}",
                    duration)
        return
    unanswered = next((ex for ex in finals if ex.outcome != Outcome.SUCCESS), None)
    lost = dp.packets_sent - dp.packets_received
    if unanswered is None and dp.error is None and lost > 0 and dp.tool_drops:
        # The tool dropped packets itself (full socket buffer or inbox): what is missing may be its own
        # doing, so the loss says nothing about the relay or the network.
        why = f"{lost} of {dp.packets_sent} packet(s) missing, but rtcdiag itself dropped " \
              f"{_tool_drops(dp)}: the loss cannot be told apart from the tool's own"
        leg.outcome(step, why, duration, state=StepState.UNDECIDED)
        return
    if unanswered is not None or dp.error is not None or (dp.packets_sent and not dp.packets_received):
        if unanswered is not None:
            why = f"{unanswered.request} got {unanswered.error or unanswered.outcome}"
        else:
            why = dp.error or f"{dp.packets_sent} packet(s) sent, none came back"
        leg.add(step, "TURN-NO-DATA", f"via {label} to peer {dp.peer}: {why}", evidence)
        leg.outcome(step, why, duration)
        return
    if dp.packets_sent and dp.packets_received < dp.packets_sent:
        detail = f"via {label}: {dp.loss_pct}% loss ({dp.packets_received}/{dp.packets_sent} came back)"
        leg.add(step, "TURN-DATA-LOSS", detail, evidence)
    leg.outcome(step, _data_line(dp) + _retried(dp.steps), duration)


def _tool_drops(dp: DataPathResult) -> str:
    parts = [f"{n} {what}" for n, what in ((dp.socket_drops, "in a full socket receive buffer"),
                                           (dp.dropped_packets, "in a full inbox"),
                                           (dp.send_drops, "in a full send buffer")) if n]
    return ", ".join(parts)


def _data_span_s(t: TransportResult, dp: DataPathResult) -> float:
    """Wall time of one data path: from its first control request to the next request of the probe (the
    other method's, or the Refresh), from the probe's own timestamps; else control RTTs + slowest echo."""
    if dp.steps:
        start = dp.steps[0].started_ms
        others = [*t.steps, *(ex for other in t.data_paths if other is not dp for ex in other.steps)]
        later = [ex.started_ms for ex in others if ex.started_ms > start]
        if later:
            return (min(later) - start) / 1000.0
    return _rtt_s(dp.steps) + (max(dp.rtts_ms) / 1000.0 if dp.rtts_ms else 0.0)


def _data_line(dp: DataPathResult) -> str:
    rtt = f", rtt min/avg/max {dp.rtt_min_ms}/{dp.rtt_avg_ms}/{dp.rtt_max_ms} ms" if dp.rtts_ms else ""
    extra = [f"{n} {what}" for n, what in ((dp.unexpected_packets, "unexpected packet(s) ignored"),
                                           (dp.dropped_packets, "packet(s) dropped: client inbox full"),
                                           (dp.socket_drops, "packet(s) dropped by rtcdiag's own full "
                                                             "socket receive buffer"),
                                           (dp.send_drops, "packet(s) not sent: rtcdiag's send buffer full"))
             if n]
    more = f" ({', '.join(extra)})" if extra else ""
    return f"{DATA_METHOD_LABEL.get(dp.method, dp.method)}: {dp.packets_received}/{dp.packets_sent} " \
           f"echoed back via the relay{rtt}{more}"


def _refresh(leg: _Leg) -> None:
    t = leg.t
    exchanges = _of(t, "refresh")
    duration = _rtt_s(exchanges)
    if t.refreshed is None and t.released is None:
        leg.outcome("refresh", "not run (the check ended before the Refresh)", state=StepState.SKIPPED)
        return
    finals = final_exchanges(exchanges)
    if t.refreshed is False or t.released is False:
        failed = [describe_exchange(ex) for ex in finals if ex.outcome != Outcome.SUCCESS]
        if t.released is False and not any(ex.step.startswith("refresh (release") for ex in finals):
            failed.append("release (Refresh LIFETIME=0): no answer in time")
        what = "; ".join(failed) or "Refresh failed"
        leg.add("refresh", "TURN-REFRESH-FAILED", what, failed or None)
        leg.outcome("refresh", what, duration)
        return
    parts = []
    if t.refreshed:
        lifetime = f" (lifetime {t.refresh_lifetime_s} s)" if t.refresh_lifetime_s is not None else ""
        parts.append(f"refreshed{lifetime}")
    if t.released:
        parts.append("released with LIFETIME=0")
    leg.outcome("refresh", ", ".join(parts) + _retried(exchanges), duration)


_RULES: tuple[tuple[str, _Rule], ...] = (
    ("connect", _connect),
    ("challenge", _challenge),
    ("allocate", _allocate),
    ("relay-address", _relay_address),
    ("data-" + METHOD_INDICATION, _data(METHOD_INDICATION)),
    ("data-" + METHOD_CHANNEL, _data(METHOD_CHANNEL)),
    ("refresh", _refresh),
)
assert tuple(step for step, _ in _RULES) == CHECK_STEPS


def _facts(result: TurnCheckResult, t: TransportResult, out: Judgement) -> None:
    """RelayFact per transport that allocated or failed; one RttFact per data path that got echoes."""
    flowing = [dp for dp in t.data_paths if dp.packets_received]
    if t.allocated:
        if flowing:
            out.facts.relays.append(RelayFact(result.host, True, f"TURN {t.transport}: relay "
                                              f"{t.relayed_address}, data echoed through it"))
        elif t.data_paths:
            out.facts.relays.append(RelayFact(result.host, False, f"TURN {t.transport}: relay "
                                              f"{t.relayed_address}, no data came back through it"))
    elif not (t.challenge_code == 401 and not t.authenticated and t.challenge_answered):
        why = t.error_code or t.connect_error or t.timed_out_step or "no answer"
        out.facts.relays.append(RelayFact(result.host, False, f"TURN {t.transport}: no allocation ({why})"))
    for dp in flowing:
        if dp.rtt_avg_ms is not None:
            out.facts.rtts.append(RttFact(result.host, f"TURN data {t.transport} ({dp.method}), average",
                                          dp.rtt_avg_ms))

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

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from rtcdiag.addresses import PUBLIC_LIKE as PUBLIC_LIKE_SCOPES
from rtcdiag.addresses import AddressScope, parse_ip, reachable_from, scope_of
from rtcdiag.probes.record import ErrorKind, Exchange, Outcome, Redirect
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    FamilyRelay,
    RelayFamily,
    TcpRelayResult,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.redact import echo
from rtcdiag.triage import ids
from rtcdiag.triage.certificate import expiring_soon
from rtcdiag.triage.failures import FLOOD_MIN_REPLIES, FLOOD_PER_REQUEST, failure_id, proves_udp_blocked
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
    400: ids.TURN_BAD_REQUEST_400,
    401: ids.TURN_AUTH_401,
    403: ids.TURN_FORBIDDEN_403,
    420: ids.TURN_UNKNOWN_ATTR_420,
    437: ids.TURN_MISMATCH_437,
    438: ids.TURN_STALE_NONCE_438,
    440: ids.TURN_FAMILY_440,
    441: ids.TURN_AUTH_441,
    442: ids.TURN_TRANSPORT_442,
    443: ids.TURN_FAMILY_443,
    446: ids.TURN_CONNECTION_446,
    447: ids.TURN_CONNECTION_447,
    486: ids.TURN_QUOTA_486,
    508: ids.TURN_CAPACITY_508,
}

# A REST expiry further ahead than this is suspicious (ms instead of s, clock skew, endless TTL).
REST_SKEW_LIMIT_S = 7 * 86400

DATA_METHOD_LABEL = {METHOD_INDICATION: "Send/Data indications", METHOD_CHANNEL: "ChannelBind + ChannelData"}

# One JUnit testcase per server x transport x step.
CHECK_STEPS = ("connect", "challenge", "allocate", "relay-address", "data-" + METHOD_INDICATION,
               "data-" + METHOD_CHANNEL, "refresh")

# Steps of one relay family: an IPv6 relay's carry this suffix (``udp/allocate-ipv6``); IPv4 keeps the
# plain names (``udp/allocate``), so the default run (IPv4, what a browser asks for) is named as always.
FAMILY_STEPS = ("allocate", "relay-address", "data-" + METHOD_INDICATION, "data-" + METHOD_CHANNEL)
FAMILY_SUFFIX = {RelayFamily.IPV4: "", RelayFamily.IPV6: "-ipv6"}
TCP_RELAY_STEP = "tcp-relay"  # RFC 6062, only with --tcp-relay


def _reason(reason: str | None) -> str:
    """`` <the server's reason phrase>`` (marked: outside text), or "" when it sent none."""
    return f" {echo(reason)}" if reason else ""

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
    udp_blocked: bool  # the same server answered over TCP/TLS in this port's family (UDP-BLOCKED)
    blocked: str | None = None  # why the remaining steps do not run
    stopped: ServerStop | None = None  # where the server went silent after allocating (see server_stop)
    suffix: str = ""  # appended to the family steps (FAMILY_STEPS): "-ipv6" for an IPv6 relay

    def _name(self, step: str) -> str:
        return step + self.suffix if step in FAMILY_STEPS else step

    def add(self, step: str, finding_id: str, detail: str, evidence: list[str] | None = None,
            snippet: list[str] | None = None, **params: object) -> None:
        t = self.t
        values: dict[str, object] = {"transport": t.transport.upper(), "server": t.server,
                                     "host": t.server_name or self.result.host, "detail": detail,
                                     "port": self.subj.port if self.subj.port is not None else "?"}
        values.update(params)
        if snippet is None and finding_id in CREDENTIAL_REFUSED:
            snippet = credential_lines(self.result, t.realm)
        self.out.findings.append(make_finding(
            finding_id, self.subj, check=CHECK, step=self._name(step),
            evidence=evidence if evidence is not None else [describe_exchange(ex) for ex in t.steps],
            snippet=snippet, **cast(dict[str, Any], values)))

    def outcome(self, step: str, detail: str, duration_s: float = 0.0,
                state: StepState = StepState.DONE) -> None:
        self.out.steps.append(StepOutcome(self.subj, CHECK, self._name(step), state=state, detail=detail,
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
    rest_expired = _judge_rest(result, out)
    streams = answered | _stream_answers(result)
    for t in result.transports:
        port = transport_port(result, t)
        blocked = t.transport == "udp" and any(host == result.host and proves_udp_blocked(port, kind, where)
                                               for host, where, kind in streams)
        leg = _Leg(result, t, subject(result, t), out, rest_expired=rest_expired, udp_blocked=blocked,
                   stopped=server_stop(t))
        _run(leg, _RULES[:2])  # connect, challenge
        _judge_families(leg)
        _run(leg, _RULES[-1:])  # refresh
        if result.tcp_relay:
            _run(leg, ((TCP_RELAY_STEP, _tcp_relay),))
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


# --- server-wide: DNS and REST credentials ----------------------------------------------------------------


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


def _judge_rest(result: TurnCheckResult, out: Judgement) -> bool:
    """The ``credentials`` step of a REST user name (``expiry:user``); True when it has expired."""
    rest = result.rest
    if rest is None:
        return False
    subj = subject(result)
    detail = f"{echo(repr(rest.username))} (expiry {rest.expiry}, local clock {rest.local_time}, " \
             f"{rest.seconds_left:+d} s)"
    expired = rest.seconds_left <= 0
    if expired:
        out.findings.append(make_finding(ids.TURN_REST_EXPIRED, subj, check=CHECK, step="credentials",
                                         detail=detail,
                                         evidence=[f"expired {-rest.seconds_left} s ago by the local clock"]))
    elif not rest.generated and rest.seconds_left > REST_SKEW_LIMIT_S:
        out.findings.append(make_finding(ids.TURN_CLOCK_SKEW, subj, check=CHECK, step="credentials",
                                         detail=detail,
                                         evidence=[f"expires in {rest.seconds_left / 86400:.1f} days"]))
    made = "generated from the shared secret" if rest.generated else "as given"
    out.steps.append(StepOutcome(subj, CHECK, "credentials",
                                 detail=f"REST user name {echo(repr(rest.username))} ({made}), "
                                        f"{rest.seconds_left:+d} s to expiry by the local clock"))
    return expired


# --- per transport, one rule per step ----------------------------------------------------------------------


def _connect(leg: _Leg) -> None:
    t = leg.t
    if t.transport in ("tcp", "tls"):
        if t.connect_ms is None:  # the connection (or TLS handshake) itself failed
            text = t.connect_error or "connection failed"
            evidence = [text]
            if t.certificate_problem:  # what an unverified look at the refused certificate showed
                text = f"{text}; {t.certificate_problem}"
                evidence.append(f"the certificate, looked at unverified: {t.certificate_problem}")
            leg.add("connect", failure_id(t.failure_kind, text), text, evidence)
            leg.outcome("connect", text, t.duration_ms / 1000.0)
            leg.stop(f"no connection: {text}")
            return
        what = "TLS handshake done" if t.transport == "tls" else "TCP connection accepted"
        if t.tls_verification_off:
            what += " (certificate not verified: --insecure)"
        if t.certificate_problem is not None:  # what --insecure let through, a browser will not
            leg.add("connect", ids.TLS_CERT_IGNORED, t.certificate_problem, [t.certificate_problem])
        soon = expiring_soon(t.certificate)  # the rule of the ports check, on this connection's certificate
        if soon is not None and t.certificate is not None:
            cert = t.certificate
            leg.add("connect", ids.TLS_EXPIRING_SOON, f"{soon['days']} days left",
                    [f"certificate: subject {cert.subject or '-'}; issuer {cert.issuer or '-'}; valid "
                     f"{cert.not_before} .. {cert.not_after}"], **soon)
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
    if first.outcome == Outcome.TIMEOUT and stun_only(t):
        leg.outcome("connect", "the server answered a Binding request over UDP (not the Allocate)",
                    _rtt_s([t.binding_probe] if t.binding_probe else []))
        return
    if first.outcome == Outcome.TIMEOUT:
        tries = f"no reply to {first.attempts} UDP request(s)"
        if leg.udp_blocked:
            leg.add("connect", ids.UDP_BLOCKED, f"{tries} while TURN over TCP/TLS to {leg.result.host} "
                    f"answered", [describe_exchange(first)])
        else:
            leg.add("connect", ids.SERVER_UNREACHABLE, tries, [describe_exchange(first)])
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
        leg.add("challenge", ids.TURN_OPEN_RELAY, t.relayed_address or "?")
        leg.outcome("challenge", "allocated without credentials", duration)
        return
    if final is None:
        leg.outcome("challenge", "no Allocate request was sent", state=StepState.UNDECIDED)
        leg.stop("no Allocate request was sent")
        return
    if final.outcome not in (Outcome.SUCCESS, Outcome.ERROR_RESPONSE):
        _unanswered_challenge(leg, final, len(unauth) > 1 and t.alternate_server is not None)
        return
    if _redirected(leg, "challenge", unauth, duration):
        return
    code = t.challenge_code
    if final.error_code == 300 and t.redirect is Redirect.FOLLOWED and t.connect_error:
        # followed, but could not connect there
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
    if code == 401 and t.challenge_problem is not None and not t.authenticated:  # the first 401 itself
        # RFC 8489 §14.9/§14.10: a REALM/NONCE that cannot be echoed; no authenticated request was sent.
        leg.add("challenge", ids.TURN_CHALLENGE_UNUSABLE, t.challenge_problem)
        leg.outcome("challenge", f"401 challenge that cannot be answered: {t.challenge_problem}", duration)
        leg.stop(f"the 401 challenge cannot be answered ({t.challenge_problem}): nothing was authenticated")
        return
    if code == 401 and (t.realm is None or not t.nonce_seen):
        missing = " and ".join(n for n, gone in (("REALM", t.realm is None), ("NONCE", not t.nonce_seen))
                               if gone)
        leg.add("challenge", ids.TURN_CHALLENGE_INVALID, f"401 without {missing}")
        leg.outcome("challenge", f"401 without {missing}", duration)
        leg.stop(f"the 401 challenge has no {missing}: the Allocate cannot be authenticated")
        return
    algorithms = f", PASSWORD-ALGORITHMS {','.join(t.password_algorithms)}" if t.password_algorithms else ""
    detail = f"401 challenge with realm {echo(repr(t.realm))} and a nonce{algorithms}"
    if code == 401 and t.redirect is Redirect.CREDENTIALS_WITHHELD:
        leg.add("challenge", ids.TURN_REDIRECT_REALM, _redirect_text(t),
                [describe_exchange(ex) for ex in unauth])
        leg.outcome("challenge", f"{detail}; credentials withheld: {t.redirect_detail}", duration,
                    state=StepState.UNDECIDED)
        leg.stop(f"credentials withheld from the alternate server {t.alternate_server}")
        return
    if code == 401 and not t.authenticated:
        leg.add("challenge", ids.TURN_NO_CREDENTIALS, echo(repr(t.realm)))
        leg.outcome("challenge", detail, duration)
        leg.stop(f"no credentials given: the server asks for them (realm {echo(repr(t.realm))})")
        return
    leg.outcome("challenge", detail, duration)


def _redirect_text(t: TransportResult) -> str:
    """Where a 300 pointed, its scope and what rtcdiag did (the detail of the redirect findings)."""
    where = f"{t.alternate_server} ({t.alternate_scope})" if t.alternate_scope else f"{t.alternate_server}"
    done = {Redirect.FOLLOWED: "followed once",
            Redirect.REFUSED: f"not followed: {t.redirect_detail}",
            Redirect.NOT_FOLLOWED: "not followed (--no-follow)",
            Redirect.CREDENTIALS_WITHHELD: f"followed, but credentials withheld: {t.redirect_detail}"}
    return f"{where}, {done.get(t.redirect, 'followed once') if t.redirect else 'not followed'}"


def _redirected(leg: _Leg, step: str, exchanges: list[Exchange], duration: float) -> bool:
    """Report a 300 Try Alternate among ``exchanges`` (always, RFC 8489 §10); True when the leg stops here
    (the redirect was refused or --no-follow)."""
    t = leg.t
    if t.alternate_server is None or not any(ex.error_code == 300 for ex in exchanges):
        return False
    evidence = [describe_exchange(ex) for ex in exchanges]
    if t.redirect is Redirect.LOOP:  # RFC 8489 §10: not back to a server the request already went to
        leg.add(step, ids.REDIRECT_LOOP, t.redirect_detail or "?", evidence, server=t.server)
        leg.outcome(step, f"redirect loop {t.redirect_detail}: not followed", duration)
        leg.stop(f"the redirects loop ({t.redirect_detail}): no server of the loop allocates")
        return True
    if t.redirect is Redirect.AGAIN:
        leg.add(step, ids.TURN_ALTERNATE_SERVER,
                f"{t.alternate_server} ({t.alternate_scope}), followed once; "
                f"{t.redirect_detail}", evidence)
        leg.outcome(step, t.redirect_detail or "redirected again", duration, state=StepState.UNDECIDED)
        leg.stop(f"a second redirect was not followed: {t.redirect_detail}")
        return True
    if t.redirect is Redirect.REFUSED:
        leg.add(step, ids.REDIRECT_REFUSED, _redirect_text(t), evidence)
        leg.outcome(step, f"redirected to {t.alternate_server}: not followed ({t.redirect_detail})", duration)
        leg.stop(f"the redirect to {t.alternate_server} was not followed: {t.redirect_detail}")
        return True
    if t.redirect is not Redirect.CREDENTIALS_WITHHELD:  # that one has its own finding (challenge step)
        leg.add(step, ids.TURN_ALTERNATE_SERVER, _redirect_text(t), evidence)
    if t.redirect is Redirect.NOT_FOLLOWED:
        leg.outcome(step, f"redirected to {t.alternate_server}; not followed (--no-follow)", duration,
                    state=StepState.UNDECIDED)
        leg.stop(f"--no-follow: the redirect to {t.alternate_server} was not followed")
        return True
    return False


def stun_only(t: TransportResult) -> bool:
    """The first Allocate got no STUN answer while a Binding request sent alongside it was answered."""
    probe = t.binding_probe
    return probe is not None and probe.outcome in (Outcome.SUCCESS, Outcome.ERROR_RESPONSE)


def _unanswered_challenge(leg: _Leg, final: Exchange, at_alternate: bool) -> None:
    """The (first) Allocate got no STUN answer although the server was reached (stream) or answered (UDP)."""
    t = leg.t
    what = {Outcome.TIMEOUT: f"no reply to {final.attempts} request(s)", Outcome.REJECTED:
            f"{_rejected_count(final)} reply(ies) were not valid STUN"}.get(final.outcome,
                                                                           final.error or final.outcome)
    evidence = [describe_exchange(ex) for ex in t.steps] + final.rejected[:5]
    duration = _rtt_s(_of(t, _UNAUTH)) + (leg.elapsed_left_s() if final.outcome == Outcome.TIMEOUT else 0.0)
    if at_alternate:  # the ALTERNATE-SERVER we were sent to did not answer
        leg.add("challenge", ids.TURN_ALTERNATE_SERVER, t.alternate_server or "?", evidence)
        kind = final.error_kind if final.outcome == Outcome.TRANSPORT_ERROR else None
        finding_id = ids.MALFORMED_REPLY if final.outcome == Outcome.REJECTED else \
            failure_id(kind, what)
        leg.add("challenge", finding_id, f"alternate server {t.alternate_server}: {what}", evidence,
                server=t.alternate_server or t.server)
    elif stun_only(t) and t.binding_probe is not None:  # the Binding alongside was answered
        probe = t.binding_probe
        leg.add("challenge", ids.TURN_STUN_ONLY, f"{probe.response}, in {probe.rtt_ms} ms",
                [describe_exchange(probe), *evidence])
    elif final.error_kind == ErrorKind.SLOW_REPLY:  # the answer was dripping in when the time ran out
        leg.add("challenge", ids.SERVER_SLOW_REPLY, final.error or "the reply came too slowly", evidence)
    elif t.transport in ("tcp", "tls"):
        said = {Outcome.TIMEOUT: "an Allocate request got no reply",
                Outcome.REJECTED: "the replies to an Allocate request were not STUN"}.get(
            final.outcome, f"an Allocate request ended the connection ({final.error or final.outcome})")
        after = "the TLS handshake completed" if t.transport == "tls" else "the TCP connection was accepted"
        leg.add("challenge", ids.PORT_NOT_STUN, f"{said} after {after}", evidence)
    elif final.outcome == Outcome.REJECTED:
        leg.add("challenge", ids.MALFORMED_REPLY, f"{_rejected_count(final)} reply(ies) rejected: "
                + "; ".join(final.rejected[:3]), evidence)
    else:
        leg.add("challenge", ids.SERVER_UNREACHABLE, what, evidence)
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
    if _redirected(leg, "allocate", auth, duration):
        return
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
    if final is not None and final.outcome == Outcome.NOT_SENT:
        # What the server asked us to echo could not be sent: a 438's unusable NONCE, or a request that the
        # echoed attributes (NONCE, REALM, PASSWORD-ALGORITHMS) make larger than the transport carries.
        text = final.error or "request not sent"
        _not_sent(leg, "allocate", final, [describe_exchange(ex) for ex in t.steps])
        leg.outcome("allocate", text, duration)
        leg.stop(f"no allocation: {text}")
        return
    if final is not None and final.outcome == Outcome.REJECTED and final.unverified_count:
        leg.add("allocate", ids.TURN_RESPONSE_NO_INTEGRITY, _unverified_detail(final),
                [describe_exchange(ex) for ex in t.steps])
        what = f"{final.unverified_response} without valid MESSAGE-INTEGRITY: discarded, not an allocation"
        leg.outcome("allocate", what, duration + leg.elapsed_left_s())
        leg.stop("no trusted allocation: the Allocate success was not integrity-protected")
        return
    if final is not None and final.outcome in (Outcome.TIMEOUT, Outcome.REJECTED):
        why = t.timed_out_step or "authenticated Allocate request"
        leg.add("allocate", ids.TURN_ALLOCATE_TIMEOUT, why, [describe_exchange(ex) for ex in t.steps]
                + final.rejected[:5])
        leg.outcome("allocate", why, duration + leg.elapsed_left_s())
        leg.stop("no allocation: the authenticated Allocate got no answer")
        return
    if final is not None and final.outcome == Outcome.TRANSPORT_ERROR:
        text = final.error or "connection lost"
        finding_id = failure_id(final.error_kind, text)
        if finding_id in (ids.SERVER_UNREACHABLE, ids.SERVER_REFUSED):
            finding_id = ids.TURN_ALLOCATE_TIMEOUT  # it answered the challenge: the service, not the path
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
    reason = f" ({echo(t.error_reason)})" if t.error_reason else ""
    finding_id = ids.TURN_REST_EXPIRED if code == 401 and leg.rest_expired and step == "allocate" else \
        _family_error_id(code, t.relays[0] if t.relays and step == "allocate" else None)
    if finding_id == ids.TURN_UNKNOWN_ATTR_420:
        detail = f"{request} was answered 420: unknown attributes {', '.join(t.unknown_attributes) or '?'}"
    elif finding_id == ids.TURN_ERROR_OTHER:
        detail = f"{request} was answered {code}{reason}"
    elif finding_id in (ids.TURN_AUTH_401, ids.TURN_AUTH_441):
        detail = realm_detail(t)
    elif finding_id == ids.TURN_FAMILY_440 and step == "allocate" and t.relays:
        detail = f"{request} ({_asked(t.relays)})"
    elif finding_id == ids.TURN_QUOTA_486 and t.quota_own_held is not None:
        detail = f"{request}{_quota_note(t.quota_own_held, t.quota_retry_after_s)}"
    else:
        detail = request
    evidence = [describe_exchange(ex) for ex in t.steps]
    if t.userhash_error:
        evidence.append(t.userhash_error)
    if finding_id == ids.TURN_REST_EXPIRED:
        evidence.insert(0, f"server answered 401 over {t.transport.upper()}")
    leg.add(step, finding_id, detail, evidence)


def _quota_note(own: int, retry_after_s: float | None) -> str:
    """Whether rtcdiag itself held allocations under this user when the 486 came, and the one retry."""
    held = (f"after rtcdiag released the {own} allocation(s) it held itself under this user on this server"
            if own else "rtcdiag itself held no allocation under this user on this server")
    if retry_after_s is None:
        return f" ({held.replace('after rtcdiag released', 'rtcdiag held')}, not released in time to retry)"
    return f" (and its one retry {retry_after_s:g} s later, {held})"


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
    relay, server = _scope(t.relay_scope), _scope(result.server_scope)
    if relay is not None and relay is not AddressScope.PUBLIC:
        # RFC 8656 §6: peers and clients must reach the relayed address from where they reach the server.
        reachable = server is None or reachable_from(relay, server)
        detail = f"{t.relayed_address} ({relay.value})"
        evidence = [f"relayed address {t.relayed_address} is {relay.value}; server {t.server} is "
                    f"{server.value if server else 'unknown'}"]
        if not reachable:
            leg.add("relay-address", ids.TURN_RELAY_PRIVATE, detail, evidence)
        elif server is not None and server not in PUBLIC_LIKE_SCOPES:
            leg.add("relay-address", ids.TURN_RELAY_LOCAL, detail, evidence)
    leg.outcome("relay-address", f"relay {t.relayed_address} ({t.relay_scope or 'unknown scope'})")


def _scope(value: str | None) -> AddressScope | None:
    try:
        return AddressScope(value) if value is not None else None
    except ValueError:
        return None


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
        if dp.local_error is not None:  # this machine cannot host a peer of the relay's family
            leg.outcome(step, dp.local_error, state=StepState.UNDECIDED)
            return
        _data_path(leg, step, dp)
    return rule


def _data_path(leg: _Leg, step: str, dp: DataPathResult) -> None:
    label = DATA_METHOD_LABEL.get(dp.method, dp.method)
    finals = final_exchanges(dp.steps)
    evidence = [*(describe_exchange(ex) for ex in dp.steps), _data_line(dp)]
    duration = _data_span_s(leg.t, dp)
    if leg.stopped is not None and leg.stopped.step == step:
        _stopped(leg, step, duration)
        return
    unsigned = next((ex for ex in finals if ex.outcome == Outcome.REJECTED and ex.unverified_count), None)
    if unsigned is not None:
        leg.add(step, ids.TURN_RESPONSE_NO_INTEGRITY, f"{_unverified_detail(unsigned)} (peer {dp.peer})",
                evidence)
        if not unsigned.unverified_success or not dp.packets_sent:
            leg.outcome(step, f"{unsigned.request}: only {unsigned.unverified_response} without valid "
                        "MESSAGE-INTEGRITY", duration)
            return
        finals = [ex for ex in finals if ex is not unsigned]  # packets were sent anyway: judge them too
    refused = next((ex for ex in finals if ex.outcome == Outcome.ERROR_RESPONSE), None)
    if refused is not None:
        finding_id = ERROR_CODE_FINDINGS.get(refused.error_code or 0, ids.TURN_ERROR_OTHER)
        detail = f"{refused.request} for peer {dp.peer}" if finding_id != ids.TURN_ERROR_OTHER else \
            f"{refused.request} for peer {dp.peer} was answered {refused.response}"
        leg.add(step, finding_id, detail, evidence)
        leg.outcome(step, f"{refused.request} was answered {_answer(refused)}{_retried(dp.steps)}",
                    duration)
        return
    not_sent = next((ex for ex in finals if ex.outcome == Outcome.NOT_SENT), None)
    if not_sent is not None:  # e.g. a 438 whose new NONCE cannot be echoed: the server's doing, not the relay
        _not_sent(leg, step, not_sent, evidence)
        leg.outcome(step, not_sent.error or "request not sent", duration)
        return
    unanswered = next((ex for ex in finals if ex.outcome != Outcome.SUCCESS), None)
    lost = dp.packets_sent - dp.packets_received
    if unanswered is None and dp.error is None and _flooded(dp):
        # Packets nobody sent filled the client's inbox: echoes missing now say nothing about the relay.
        extra = f", {dp.dropped_packets} dropped: the client's inbox was full" if dp.dropped_packets else ""
        leg.add(step, ids.REPLY_FLOOD, f"{dp.unexpected_packets} packet(s) nobody sent came in via {label} "
                f"while {dp.packets_sent} were sent{extra}", evidence)
        if dp.packets_received < dp.packets_sent:
            leg.outcome(step, f"undecided under a flood: {_data_line(dp)}", duration,
                        state=StepState.UNDECIDED)
            return
    elif unanswered is None and dp.error is None and lost > 0 and dp.tool_drops:
        # The tool dropped packets itself (full socket buffer or inbox): what is missing may be its own
        # doing, so the loss says nothing about the relay or the network.
        why = f"{lost} of {dp.packets_sent} packet(s) missing, but rtcdiag itself dropped " \
              f"{_tool_drops(dp)}: the loss cannot be told apart from the tool's own"
        leg.outcome(step, why, duration, state=StepState.UNDECIDED)
        return
    elif unanswered is not None or dp.error is not None or (dp.packets_sent and not dp.packets_received):
        if unanswered is not None:
            why = f"{unanswered.request} got {unanswered.error or unanswered.outcome}"
        else:
            why = dp.error or f"{dp.packets_sent} packet(s) sent, none came back"
        other = _indications_flowed(leg, dp)
        if unanswered is None and dp.error is None and other is not None:
            # The same allocation relayed Send/Data to the same peer: the relay path works, ChannelData
            # alone is not relayed (RFC 8656 §12.6): the server's fault, not a firewall's.
            waited = f" (late echoes awaited {dp.late_wait_s:g} s more)" if dp.late_wait_s else ""
            leg.add(step, ids.TURN_CHANNELDATA_NOT_RELAYED,
                    f"ChannelBind for peer {dp.peer} was answered with a success, but {why}{waited}, while "
                    f"{_data_line(other)}",
                    [*evidence, _data_line(other)])
            leg.outcome(step, f"{why}; Send/Data on the same allocation worked", duration)
            return
        leg.add(step, ids.TURN_NO_DATA, f"via {label} to peer {dp.peer}: {why}", evidence)
        leg.outcome(step, why, duration)
        return
    if dp.packets_sent and dp.packets_received < dp.packets_sent and not _flooded(dp):
        detail = f"via {label}: {dp.loss_pct}% loss ({dp.packets_received}/{dp.packets_sent} came back)"
        leg.add(step, ids.TURN_DATA_LOSS, detail, evidence)
    leg.outcome(step, _data_line(dp) + _retried(dp.steps), duration)


def _not_sent(leg: _Leg, step: str, ex: Exchange, evidence: list[str]) -> None:
    """A request the server's challenge made impossible to send (RFC 8489 §14.9/§14.10, §5)."""
    t = leg.t
    if t.challenge_problem is not None:
        leg.add(step, ids.TURN_CHALLENGE_UNUSABLE, t.challenge_problem, evidence)
    else:
        leg.add(step, ids.TURN_REQUEST_OVERSIZED, ex.error or "request not sent", evidence)


def _flooded(dp: DataPathResult) -> bool:
    """Far more packets nobody asked for than were sent (a reply flood). A full inbox alone is the tool's own
    drop (see _tool_drops): with pacing, the echoes of what was sent cannot fill it."""
    return dp.unexpected_packets >= FLOOD_MIN_REPLIES \
        and dp.unexpected_packets > FLOOD_PER_REQUEST * max(dp.packets_sent, 1)


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
    if leg.stopped is not None and leg.stopped.step == "refresh":
        _stopped(leg, "refresh", duration + leg.elapsed_left_s())
        return
    if t.refreshed is None and t.released is None:
        leg.outcome("refresh", "not run (the check ended before the Refresh)", state=StepState.SKIPPED)
        return
    finals = final_exchanges(exchanges)
    not_sent = next((ex for ex in finals if ex.outcome == Outcome.NOT_SENT), None)
    if not_sent is not None:
        _not_sent(leg, "refresh", not_sent, [describe_exchange(ex) for ex in finals])
        leg.outcome("refresh", not_sent.error or "request not sent", duration)
        return
    unsigned = [ex for ex in finals if ex.outcome == Outcome.REJECTED and ex.unverified_count]
    if unsigned:
        for ex in unsigned:
            leg.add("refresh", ids.TURN_RESPONSE_NO_INTEGRITY, _unverified_detail(ex),
                    [describe_exchange(e) for e in exchanges])
        leg.outcome("refresh", "; ".join(f"{ex.step}: only {ex.unverified_response} without valid "
                                         "MESSAGE-INTEGRITY" for ex in unsigned), duration)
        return
    if t.refreshed and t.refresh_lifetime_s == 0 and t.refresh_requested_s:
        # RFC 8656 §7.3: the LIFETIME of a Refresh success is what is left; 0 means the allocation is gone.
        answer = next((ex for ex in reversed(finals) if ex.step == "refresh"), None)
        detail = f"Refresh asking for LIFETIME {t.refresh_requested_s} s was answered with a success " \
                 "carrying LIFETIME 0: the server deleted the allocation"
        leg.add("refresh", ids.TURN_REFRESH_LIFETIME_ZERO, detail,
                [describe_exchange(answer)] if answer is not None else None)
        leg.outcome("refresh", "the Refresh success says LIFETIME 0: allocation deleted (no release needed)",
                    duration)
        return
    if t.refreshed is False or t.released is False:
        failed = [describe_exchange(ex) for ex in finals if ex.outcome != Outcome.SUCCESS]
        if t.released is False and not any(ex.step.startswith("refresh (release") for ex in finals):
            failed.append("release (Refresh LIFETIME=0): no answer in time")
        what = "; ".join(failed) or "Refresh failed"
        leg.add("refresh", ids.TURN_REFRESH_FAILED, what, failed or None)
        leg.outcome("refresh", what, duration)
        return
    parts = []
    if t.refreshed:
        parts.append(f"refreshed{_refresh_lifetime(t)}")
    if t.released:
        parts.append("released with LIFETIME=0")
    leg.outcome("refresh", ", ".join(parts) + _retried(exchanges), duration)


def _refresh_lifetime(t: TransportResult) -> str:
    """What the Refresh success granted; lower than asked is the server's right (RFC 8656 §7.3: capped by
    its maximum) and only recorded."""
    got, asked = t.refresh_lifetime_s, t.refresh_requested_s
    if got is None:
        return " (no LIFETIME in the success)"
    if asked is not None and 0 < got < asked:
        return f" (lifetime {got} s of {asked} s asked: capped by the server, RFC 8656 §7.3)"
    return f" (lifetime {got} s)"


CREDENTIAL_REFUSED = frozenset({ids.TURN_AUTH_401, ids.TURN_AUTH_441})
_SHELL_SAFE = re.compile(r"[\w.@+-]+")  # a user name that needs no quoting inside '...'  (no ' or \)


def credential_lines(result: TurnCheckResult, realm: str | None) -> list[str]:
    """For a refused credential: where the user and password come from, and the line to look for on a coturn
    that keeps its users in turnserver.conf (``user=NAME:...``)."""
    user = result.username
    lines = [f"# user {echo(user) if user else '(none)'}: {credential_where(result)}"]
    if user and result.credential_kind == "long-term" and _SHELL_SAFE.fullmatch(user):
        # Only the user name is the outside value (masked as one); rtcdiag's words around it never are.
        realm_text = f" of realm {echo(repr(realm))}" if realm else ""
        lines += [f"# on the server: is {echo(user)} a user{realm_text}?",
                  f"grep -n '^user={echo(user)}:' /etc/turnserver.conf"]
    return lines


def credential_where(result: TurnCheckResult) -> str:
    """Where the credentials of ``result`` are written, for a fix: ``iceServers[1].credential in ice.json``
    (an RTCIceServer entry), the REST secret, or the password given to rtcdiag."""
    if result.entry is not None:
        source, _, entry = result.entry.rpartition(": ")
        return f"{echo(entry)}.username and .credential in {echo(source)}" if source else \
            f"{echo(entry)}.credential"
    if result.credential_kind == "rest":
        return "a REST credential made from the shared secret given (--secret*, $RTCDIAG_TURN_SECRET)"
    if result.credential_kind == "long-term":
        return "the password given to rtcdiag (--password-env, --password-file or $RTCDIAG_TURN_PASSWORD)"
    return "no credentials were given"


def realm_detail(t: TransportResult) -> str:
    """The realms of a 401/441: the server's and the one the password was hashed with (RFC 8489 §9.2.2)."""
    algorithm = f" ({t.auth_algorithm})" if t.auth_algorithm else ""
    hashed = t.hash_realm if t.hash_realm is not None else t.realm
    if hashed != t.realm:
        return f"(server realm {echo(repr(t.realm))}; the password was hashed{algorithm} with realm " \
               f"{echo(repr(hashed))} from " \
               "--realm, not with the server's)"
    return f"(server realm {echo(repr(t.realm))}; the password was hashed{algorithm} with the same realm " \
           f"{echo(repr(hashed))})"


def _unverified_detail(ex: Exchange) -> str:
    times = f" ({ex.unverified_count} times)" if ex.unverified_count > 1 else ""
    return f"{ex.request} ({ex.step}) was answered only by a {ex.unverified_response}{times} without a " \
           "valid MESSAGE-INTEGRITY: discarded as if never received (RFC 8489 §9.2.5)"


def _indications_flowed(leg: _Leg, dp: DataPathResult) -> DataPathResult | None:
    """For a ChannelData path: the Send/Data path of the same allocation and peer, when it got echoes."""
    if dp.method != METHOD_CHANNEL or leg.stopped is not None:
        return None  # after the server went silent a missing echo proves nothing about channels
    other = leg.t.data_path(METHOD_INDICATION)
    return other if other is not None and other.peer == dp.peer and other.packets_received else None


# --- the session as a whole: a server that goes silent after allocating ----------------------------------

_ANSWERED = (Outcome.SUCCESS, Outcome.ERROR_RESPONSE)
_RELEASE = "refresh (release"


@dataclass(frozen=True)
class ServerStop:
    """The first request after a successful Allocate that got no answer, with nothing answered after it."""

    step: str  # the check step it belongs to (data-..., refresh)
    what: str  # the request's own step name, e.g. "channel-bind"
    how: str  # "got no reply to 7 request(s)", "failed (connection reset by peer ...)"
    after_s: float | None  # seconds from the Allocate success to that request
    evidence: list[str]
    last_answer_s: float | None = None  # seconds from the Allocate success to its last answer or echo


def _answered(ex: Exchange) -> bool:
    return ex.outcome in _ANSWERED or ex.unverified_count > 0


def _session_order(t: TransportResult) -> tuple[Exchange | None, list[tuple[Exchange, str]]]:
    """The Allocate success and every request after it, in the order the probe sent them (the data paths
    run between the Allocate and the Refresh), each with the check step it belongs to."""
    index = next((i for i in range(len(t.steps) - 1, -1, -1) if t.steps[i].step.startswith("allocate")
                  and t.steps[i].outcome == Outcome.SUCCESS), None)
    if index is None:
        return None, []
    later = [(ex, "data-" + dp.method) for dp in t.data_paths for ex in dp.steps]
    later += [(ex, "refresh") for ex in t.steps[index + 1:] if ex.step.startswith("refresh")]
    return t.steps[index], later


def server_stop(t: TransportResult) -> ServerStop | None:
    """Did the server stop answering mid-session? Only after a successful allocation (the same server
    answered the same client moments before), and only when nothing was answered after the silence."""
    if not t.allocated:
        return None
    done, later = _session_order(t)
    if done is None:
        return None
    alloc_end = done.started_ms + (done.rtt_ms or 0.0)
    first = next((i for i, (ex, _) in enumerate(later) if ex.outcome in (Outcome.TIMEOUT,
                                                                        Outcome.TRANSPORT_ERROR)), None)
    # The release is bounded (RELEASE_TIMEOUT_S): cut off before any answer, it leaves no exchange behind.
    released_silently = t.released is False and not any(ex.step.startswith(_RELEASE) for ex, _ in later)
    if first is None:
        if not released_silently or not t.refreshed:
            return None
        return ServerStop("refresh", "release (Refresh LIFETIME=0)", "got no answer in time", None,
                          [f"allocation: {describe_exchange(done)}",
                           *(describe_exchange(ex) for ex, _ in later),
                           "release (Refresh LIFETIME=0): no answer in time, after every earlier request "
                           "had been answered"])
    if any(_answered(ex) for ex, _ in later[first + 1:]):
        return None  # one lost request, not a silent server
    ex, step = later[first]
    how = f"got no reply to {ex.attempts} request(s)" if ex.outcome == Outcome.TIMEOUT else \
        f"failed ({ex.error or ex.outcome})"
    after = max(0.0, (ex.started_ms - alloc_end) / 1000.0)
    # Its last sign of life: the last answer before the silence, or the last echo through its relay.
    signs = [e.started_ms + (e.rtt_ms or 0.0) for e, _ in later[:first] if _answered(e)]
    signs += [dp.last_echo_ms for dp in t.data_paths if dp.last_echo_ms is not None]
    last = max((s for s in signs if s <= ex.started_ms), default=None)
    last_s = None if last is None else max(0.0, (last - alloc_end) / 1000.0)
    evidence = [f"allocation: {describe_exchange(done)}",
                *(describe_exchange(e) for e, _ in later[:first]),
                *(f"{DATA_METHOD_LABEL[dp.method]}: {dp.packets_received}/{dp.packets_sent} packet(s) "
                  f"echoed, then stopped: {dp.stopped}" for dp in t.data_paths if dp.stopped),
                f"first unanswered, {after:.2f} s after the allocation: {describe_exchange(ex)}",
                *(describe_exchange(e) for e, _ in later[first + 1:])]
    if last_s is not None:
        evidence.insert(1, f"last answer or echo from the server: {last_s:.2f} s after the allocation")
    if released_silently:
        evidence.append("release (Refresh LIFETIME=0): no answer in time")
    return ServerStop(step, ex.step, how, after, evidence, last_s)


def _stopped(leg: _Leg, step: str, duration: float) -> None:
    stop = leg.stopped
    assert stop is not None
    when = f" {stop.after_s:.2f} s after the allocation" if stop.after_s is not None else \
        " after every earlier request had been answered"
    last = f" (its last answer came {stop.last_answer_s:.2f} s after the allocation)" \
        if stop.last_answer_s is not None else ""
    detail = f"{stop.what} {stop.how}{when}{last}, and nothing was answered after that"
    leg.add(step, ids.TURN_SERVER_STOPPED, detail, stop.evidence)
    leg.outcome(step, f"the server stopped answering: {detail}", duration)
    leg.stop(f"the server stopped answering at {stop.what}{when}")


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


def _run(leg: _Leg, rules: Iterable[tuple[str, _Rule]]) -> None:
    for step, rule in rules:
        if leg.blocked is not None:
            leg.outcome(step, leg.blocked, state=StepState.SKIPPED)
        else:
            rule(leg)


# --- relay families (RFC 8656 §7.1, §7.2) -------------------------------------------------------------------


def _family_error_id(code: int, relay: FamilyRelay | None) -> str:
    """440 to an Allocate that asked for IPv4 by default (no attribute: what a browser sends) means the
    server has no IPv4 relay; a 440 to a family we did ask for is TURN-FAMILY-440."""
    default_ipv4 = relay is not None and relay.family is RelayFamily.IPV4 and relay.requested_with is None
    if code == 440 and default_ipv4:
        return ids.TURN_NO_IPV4_RELAY
    return ERROR_CODE_FINDINGS.get(code, ids.TURN_ERROR_OTHER)


def _asked(relays: Sequence[FamilyRelay]) -> str:
    """What the Allocate asked for, e.g. ``REQUESTED-ADDRESS-FAMILY IPv6``."""
    asked = [f"{r.requested_with} {r.family.label}" for r in relays if r.asked and r.requested_with]
    return ", ".join(asked) or "IPv4 by default, no family attribute"


def _family_view(t: TransportResult, relay: FamilyRelay) -> TransportResult:
    """``t`` as the rules of one relay family see it: that family's relay, data paths and transactions."""
    return replace(t, allocated=relay.relayed_address is not None, relayed_address=relay.relayed_address,
                   relayed_ip=relay.relayed_ip, relay_scope=relay.relay_scope,
                   data_paths=[d for d in t.data_paths if d.family == relay.family],
                   steps=relay.steps if relay.separate else t.steps)


def _judge_families(leg: _Leg) -> None:
    """allocate, relay-address and both data paths once per relay family asked for; the first family is
    the one the top-level fields describe (judged by the plain rules unless an ADDRESS-ERROR-CODE says it
    failed inside a successful dual allocation)."""
    t = leg.t
    relays = [r for r in t.relays if r.asked] or [FamilyRelay(RelayFamily.IPV4)]
    connection_blocked = leg.blocked
    for index, relay in enumerate(relays):
        primary = index == 0
        fleg = replace(leg, t=t if primary else _family_view(t, relay), suffix=FAMILY_SUFFIX[relay.family])
        if relay.separate:
            fleg.blocked = connection_blocked  # its own allocation: judged even when the dual one failed
        if fleg.blocked is not None or (primary and not (t.allocated and relay.error_code is not None)):
            _run(fleg, _RULES[2:6])  # the plain rules (or every step skipped with the reason)
        else:
            _family_allocate(fleg, relay)
            _run(fleg, _RULES[3:6])
        if primary and fleg.blocked is not None and (not t.allocated or fleg.stopped is not None):
            leg.stop(fleg.blocked)  # refresh (and the other families of this allocation) cannot run


def _family_allocate(leg: _Leg, relay: FamilyRelay) -> None:
    """The ``allocate`` step of a relay family that the plain rule cannot judge: the second family of a dual
    allocation (RFC 8656 §7.2: its own XOR-RELAYED-ADDRESS or ADDRESS-ERROR-CODE), or a separate allocation
    made because the server ignored ADDITIONAL-ADDRESS-FAMILY."""
    t = leg.t
    label = relay.family.label
    asked = f"{relay.requested_with} {label}" if relay.requested_with else f"{label} (the default)"
    exchanges = relay.steps if relay.separate else _of(t, _AUTH)
    duration = _rtt_s(ex for ex in exchanges if ex.step.startswith("allocate"))
    evidence = [describe_exchange(ex) for ex in (relay.steps if relay.separate else t.steps)]
    if relay.separate:
        got = relay.relayed_address or (f"answered {relay.error_code}{_reason(relay.error_reason)}"
                                        if relay.error_code is not None else relay.error or "no relay")
        leg.add("allocate", ids.TURN_DUAL_ALLOCATION_IGNORED, f"REQUESTED-ADDRESS-FAMILY {label}: {got}",
                evidence)
    if relay.relayed_address is not None:
        how = f"a separate allocation ({asked})" if relay.separate else f"the dual allocation ({asked})"
        leg.outcome("allocate", f"{label} relay {relay.relayed_address} from {how}{_retried(exchanges)}",
                    duration)
        return
    if relay.error_code is not None:
        where = "separate Allocate request" if relay.separate else \
            f"Allocate request: its ADDRESS-ERROR-CODE for {label} says"
        reason = _reason(relay.error_reason)
        finding_id = _family_error_id(relay.error_code, relay)
        detail = f"{where} ({asked})" if finding_id != ids.TURN_ERROR_OTHER else \
            f"{where} ({asked}) {relay.error_code}{reason}"
        leg.add("allocate", finding_id, detail, evidence)
        leg.outcome("allocate", f"no {label} relay: {relay.error_code}{reason}", duration)
        leg.stop(f"no {label} relay: {relay.error_code}{reason}")
        return
    if relay.error is not None:
        leg.add("allocate", ids.TURN_ALLOCATE_TIMEOUT, f"separate Allocate request ({asked}): {relay.error}",
                evidence)
        leg.outcome("allocate", f"no {label} relay: {relay.error}", duration)
        leg.stop(f"no {label} relay: {relay.error}")
        return
    why = f"the Allocate success has no {label} XOR-RELAYED-ADDRESS and no ADDRESS-ERROR-CODE for it"
    leg.outcome("allocate", why, duration, state=StepState.UNDECIDED)
    leg.stop(f"no {label} relay")


def _facts(result: TurnCheckResult, t: TransportResult, out: Judgement) -> None:
    """RelayFact per transport that allocated or failed; one RttFact per data path that got echoes."""
    where = subject(result, t).identity
    flowing = [dp for dp in t.data_paths if dp.packets_received]
    if t.allocated:
        if flowing:
            out.facts.relays.append(RelayFact(result.host, True, f"TURN {t.transport}: relay "
                                              f"{t.relayed_address}, data echoed through it", where))
        elif any(not _flooded(dp) and all(ex.outcome != Outcome.NOT_SENT for ex in dp.steps)
                 for dp in t.data_paths):  # a flood, or a request that could not be sent, decides nothing
            out.facts.relays.append(RelayFact(result.host, False, f"TURN {t.transport}: relay "
                                              f"{t.relayed_address}, no data came back through it", where))
    elif not (t.challenge_code == 401 and not t.authenticated and t.challenge_answered):
        why = t.error_code or t.connect_error or t.timed_out_step or "no answer"
        out.facts.relays.append(RelayFact(result.host, False, f"TURN {t.transport}: no allocation ({why})",
                                          where))
    for dp in flowing:
        if dp.rtt_avg_ms is not None and not _flooded(dp):
            out.facts.rtts.append(RttFact(result.host, f"TURN data {t.transport} ({dp.method}), average",
                                          dp.rtt_avg_ms))


# --- TCP relays (RFC 6062, --tcp-relay) --------------------------------------------------------------------


def _tcp_relay(leg: _Leg) -> None:
    """RFC 6062: TCP Allocate -> Connect to the local TCP echo peer -> ConnectionBind on a data connection ->
    bytes both ways. A 442 to the TCP Allocate means no RFC 6062; 446/447 are the Connect's own errors."""
    t, step = leg.t, TCP_RELAY_STEP
    if t.transport == "udp":
        leg.outcome(step, "TCP relays exist for TURN over TCP/TLS only (RFC 6062 §4.1): not checked over UDP",
                    state=StepState.SKIPPED)
        return
    r = t.tcp_relay
    if r is None:
        leg.outcome(step, "not run (the check ended before the TCP relay)", state=StepState.SKIPPED)
        return
    evidence = [describe_exchange(ex) for ex in r.steps]
    duration = r.duration_ms / 1000.0
    peer = r.peer or "?"
    released = "; released" if r.released else "; release failed" if r.released is False else ""
    if r.error_code is not None:
        request = r.error_step or "request"
        reason = _reason(r.error_reason)
        answered = f"{request} was answered {r.error_code}{reason}"
        if r.error_code == 442 and request.startswith("TCP Allocate"):
            leg.add(step, ids.TURN_TCP_RELAY_UNSUPPORTED, f"{request} (REQUESTED-TRANSPORT TCP) was answered "
                    f"442{reason}", evidence)
        elif r.error_code == 447 and _peer_unreachable(leg.result, r.peer):
            leg.outcome(step, f"{answered}: the relay cannot reach the local TCP peer {peer} (not a public "
                        f"address), so this says nothing about the server", duration, StepState.UNDECIDED)
            return
        else:
            finding_id = ERROR_CODE_FINDINGS.get(r.error_code, ids.TURN_ERROR_OTHER)
            detail = f"{request} (RFC 6062, peer {peer})" if finding_id != ids.TURN_ERROR_OTHER else \
                f"{request} (RFC 6062, peer {peer}) was answered {r.error_code}{reason}"
            leg.add(step, finding_id, detail, evidence)
        leg.outcome(step, answered + released, duration)
        return
    if not r.allocated:
        why = r.error or "the TCP Allocate got no answer"
        leg.add(step, ids.TURN_ALLOCATE_TIMEOUT, f"TCP Allocate request (RFC 6062): {why}", evidence)
        leg.outcome(step, why, duration)
        return
    if r.local_error is not None:
        leg.outcome(step, r.local_error + released, duration, StepState.UNDECIDED)
        return
    sent, back = r.chunks_sent, r.chunks_echoed
    if r.error is not None or not r.bound or not sent or back < sent:
        parts = [r.error] if r.error else []
        if r.bound and sent:
            parts.append(f"{back}/{sent} chunk(s) came back intact ({r.bytes_received}/{r.bytes_sent} "
                         f"bytes{f', {r.corrupted} altered' if r.corrupted else ''})")
        detail = "; ".join(parts) or "no bytes went through"
        leg.add(step, ids.TURN_TCP_RELAY_FAILED, detail, [*evidence, detail], peer=peer)
        leg.outcome(step, detail + released, duration)
        return
    rtt = f", rtt avg {r.rtt_avg_ms} ms" if r.rtt_avg_ms is not None else ""
    incoming = ""
    if r.incoming is not None:
        failed = _incoming_failure(r.incoming)
        if failed is not None:
            detail = f"peer-initiated connection (ConnectionAttempt, RFC 6062 §4.5): {failed}"
            leg.add(step, ids.TURN_TCP_RELAY_FAILED, detail,
                    [*evidence, *(describe_exchange(ex) for ex in r.incoming.steps), detail], peer=peer)
            leg.outcome(step, f"client-initiated: {back}/{sent} chunk(s) echoed intact; {detail}{released}",
                        duration)
            return
        incoming = f"; peer-initiated (ConnectionAttempt, connection id {r.incoming.connection_id}): " \
                   f"{r.incoming.chunks_echoed}/{r.incoming.chunks_sent} chunk(s) echoed intact"
    leg.outcome(step, f"TCP relay {r.relayed_address} to peer {peer} (connection id {r.connection_id}): "
                f"{back}/{sent} chunk(s), {r.bytes_received} bytes echoed intact{rtt}{incoming}{released}",
                duration)


def _incoming_failure(r: TcpRelayResult) -> str | None:
    """Why the peer-initiated direction failed, or None when its chunks all came back intact."""
    if r.error_code is not None:
        return f"{r.error_step or 'request'} was answered {r.error_code}" + \
            _reason(r.error_reason)
    if r.error is not None:
        return r.error
    if not r.bound or not r.chunks_sent or r.chunks_echoed < r.chunks_sent:
        return f"{r.chunks_echoed}/{r.chunks_sent} chunk(s) came back intact" + \
            (f" ({r.corrupted} altered)" if r.corrupted else "")
    return None


def _peer_unreachable(result: TurnCheckResult, peer: str | None) -> bool:
    """A public server cannot open a TCP connection to a local peer behind NAT (no hole to punch)."""
    if peer is None or _scope(result.server_scope) not in PUBLIC_LIKE_SCOPES:
        return False
    ip = parse_ip(peer.rpartition(":")[0].strip("[]"))
    return ip is None or scope_of(ip) not in PUBLIC_LIKE_SCOPES

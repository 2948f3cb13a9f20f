"""Triage rules for the TURN check: TurnCheckResult -> findings and per-transport check outcomes.

The probe only records what happened; every judgement (open relay, wrong password, private relay address,
no data through the relay, ...) is made here, from the recorded result alone, so the rules are unit-tested
on recorded results without a network.
"""

from __future__ import annotations

from rtcdiag.addresses import Scope
from rtcdiag.probes.record import Exchange
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.report.model import CheckCase, Status
from rtcdiag.triage.finding import Finding, Severity, make_finding

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

# Exchange.error_kind / TransportResult.failure_kind -> general catalogue id (rtcdiag.tls.TlsFailure values).
FAILURE_FINDINGS: dict[str, str] = {
    "tls:untrusted-certificate": "TLS-UNTRUSTED",
    "tls:revoked-certificate": "TLS-UNTRUSTED",
    "tls:expired-certificate": "TLS-EXPIRED",
    "tls:certificate-not-yet-valid": "TLS-EXPIRED",
    "tls:hostname-mismatch": "TLS-HOSTNAME",
    "refused": "SERVER-REFUSED",
    "network": "NO-ROUTE",
    "malformed": "MALFORMED-REPLY",
    "dns": "DNS-FAILURE",
}


def failure_finding_id(kind: str | None, text: str) -> str:
    """The general finding for a transport that could not be talked to."""
    if kind is None:
        return "SERVER-UNREACHABLE"
    if kind in FAILURE_FINDINGS:
        return FAILURE_FINDINGS[kind]
    if kind.startswith("tls:"):
        return "TLS-HANDSHAKE"
    if kind == "unreachable":
        return "SERVER-REFUSED" if "port unreachable" in text else "NO-ROUTE"
    return "SERVER-UNREACHABLE"

# A REST expiry further ahead than this is suspicious (ms instead of s, clock skew, endless TTL).
REST_SKEW_LIMIT_S = 7 * 86400

DATA_METHOD_LABEL = {METHOD_INDICATION: "Send/Data indications", METHOD_CHANNEL: "ChannelBind + ChannelData"}


def subject(result: TurnCheckResult, transport: TransportResult) -> str:
    scheme = "turns" if transport.transport == "tls" else "turn"
    proto = "tcp" if transport.transport == "tls" else transport.transport
    return f"{scheme}:{transport.server}?transport={proto}"


def describe_exchange(ex: Exchange) -> str:
    """One evidence line: step, request, what came back and how fast."""
    answer = ex.response or ex.error or ex.outcome
    rtt = f" in {ex.rtt_ms:.1f} ms" if ex.rtt_ms is not None else ""
    tries = f" after {ex.attempts} attempt(s)" if ex.outcome == "timeout" and ex.attempts else ""
    return f"{ex.step}: {ex.request} -> {answer}{rtt}{tries}"


def _evidence(transport: TransportResult, steps: list[Exchange] | None = None) -> list[str]:
    return [describe_exchange(ex) for ex in (transport.steps if steps is None else steps)]


def findings(result: TurnCheckResult) -> list[Finding]:
    """Every finding for one server, most specific first per transport."""
    out: list[Finding] = []
    if result.resolve_error is not None:
        out.append(make_finding("DNS-FAILURE", subject=result.target, evidence=[result.resolve_error],
                                detail=result.resolve_error, host=result.host))
        return out
    rest_expired = _rest_findings(result, out)
    answered = [t for t in result.transports if t.challenge_answered]
    for transport in result.transports:
        out.extend(_transport_findings(result, transport, rest_expired=rest_expired,
                                       others_answered=any(a is not transport for a in answered)))
    return out


def _rest_findings(result: TurnCheckResult, out: list[Finding]) -> bool:
    rest = result.rest
    if rest is None:
        return False
    detail = f"{rest.username!r} (expiry {rest.expiry}, local clock {rest.local_time}, " \
             f"{rest.seconds_left:+d} s)"
    if rest.seconds_left <= 0:
        out.append(make_finding("TURN-REST-EXPIRED", subject=result.target, detail=detail,
                                evidence=[f"expired {-rest.seconds_left} s ago by the local clock"]))
        return True
    if not rest.generated and rest.seconds_left > REST_SKEW_LIMIT_S:
        out.append(make_finding("TURN-CLOCK-SKEW", subject=result.target, detail=detail,
                                evidence=[f"expires in {rest.seconds_left / 86400:.1f} days"]))
    return False


def _transport_findings(result: TurnCheckResult, t: TransportResult, *, rest_expired: bool,
                        others_answered: bool) -> list[Finding]:
    subj = subject(result, t)
    out: list[Finding] = []

    def add(finding_id: str, detail: str, evidence: list[str] | None = None) -> None:
        out.append(_finding(finding_id, t, subj, detail, _evidence(t) if evidence is None else evidence))

    # Could not even talk to the server (refused, TLS failure, ICMP error, garbage replies).
    if not t.connected or (t.failure_kind is not None and not t.challenge_answered):
        text = t.connect_error or "connection failed"
        add(failure_finding_id(t.failure_kind, text), text, [text, *_evidence(t)])
        return out
    if not t.challenge_answered and t.error_code is None:
        if t.transport == "udp" and others_answered:
            add("UDP-BLOCKED", f"no answer over UDP from {t.server} while TCP/TLS answered")
        else:
            add("SERVER-UNREACHABLE", f"no answer from {t.server} over {t.transport.upper()}")
        return out

    if t.alternate_server is not None:
        add("TURN-ALTERNATE-SERVER", t.alternate_server)
    if t.open_relay:
        add("TURN-OPEN-RELAY", t.relayed_address or "?")
    elif t.challenge_code == 401 and (t.realm is None or not t.nonce_seen):
        add("TURN-CHALLENGE-INVALID", "401 without " + " and ".join(
            n for n, missing in (("REALM", t.realm is None), ("NONCE", not t.nonce_seen)) if missing))
        return out
    elif t.challenge_code == 401 and not t.authenticated:
        add("TURN-NO-CREDENTIALS", repr(t.realm))
        return out

    if t.error_code is not None:
        out.append(_error_code_finding(t, subj, rest_expired=rest_expired))
    elif t.timed_out_step is not None and not t.allocated:
        add("TURN-ALLOCATE-TIMEOUT", t.timed_out_step)

    if t.allocated and t.relayed_ip is not None and t.relay_scope is not None \
            and t.relay_scope != Scope.PUBLIC.value:
        server_public = result.server_scope == Scope.PUBLIC.value
        detail = f"{t.relayed_address} ({t.relay_scope})"
        add("TURN-RELAY-PRIVATE" if server_public else "TURN-RELAY-LOCAL", detail,
            [f"relayed address {t.relayed_address} is {t.relay_scope}; server {t.server} is "
             f"{result.server_scope}"])

    for dp in t.data_paths:
        out.extend(_data_path_findings(t, dp, subj))

    if t.refreshed is False or t.released is False:
        failed = [ex for ex in t.steps if ex.step.startswith("refresh") and ex.outcome != "success"]
        what = "; ".join(describe_exchange(ex) for ex in failed) or "Refresh failed"
        add("TURN-REFRESH-FAILED", what, [describe_exchange(ex) for ex in failed])
    return out


def _finding(finding_id: str, t: TransportResult, subj: str, detail: str, evidence: list[str]) -> Finding:
    return make_finding(finding_id, subject=subj, evidence=evidence, detail=detail,
                        transport=t.transport.upper(), server=t.server, host=t.server_name or t.server)


def _error_code_finding(t: TransportResult, subj: str, *, rest_expired: bool) -> Finding:
    code = t.error_code or 0
    step = t.error_step or "Allocate request"
    reason = f" ({t.error_reason})" if t.error_reason else ""
    if code == 401 and rest_expired:
        finding_id = "TURN-REST-EXPIRED"
    else:
        finding_id = ERROR_CODE_FINDINGS.get(code, "TURN-ERROR-OTHER")
    if finding_id == "TURN-UNKNOWN-ATTR-420":
        detail = f"{step} was answered 420: unknown attributes {', '.join(t.unknown_attributes) or '?'}"
    elif finding_id == "TURN-ERROR-OTHER":
        detail = f"{step} was answered {code}{reason}"
    elif finding_id in ("TURN-AUTH-401", "TURN-AUTH-441"):
        detail = f"(user and realm {t.realm!r}{', ' + (t.auth_algorithm or '') if t.auth_algorithm else ''})"
    else:
        detail = step
    finding = _finding(finding_id, t, subj, detail, _evidence(t))
    if finding_id == "TURN-REST-EXPIRED":
        finding.evidence.insert(0, f"server answered 401 over {t.transport.upper()}")
    return finding


def _data_path_findings(t: TransportResult, dp: DataPathResult, subj: str) -> list[Finding]:
    label = DATA_METHOD_LABEL.get(dp.method, dp.method)
    evidence = [*_evidence(t, dp.steps), _data_line(dp)]
    refused = next((ex for ex in dp.steps if ex.error_code is not None), None)
    if refused is not None:
        finding_id = ERROR_CODE_FINDINGS.get(refused.error_code or 0, "TURN-ERROR-OTHER")
        detail = f"{refused.request} for peer {dp.peer}" if finding_id != "TURN-ERROR-OTHER" else \
            f"{refused.request} for peer {dp.peer} was answered {refused.response}"
        return [_finding(finding_id, t, subj, detail, evidence)]
    if dp.error is not None or (dp.packets_sent and not dp.packets_received):
        why = dp.error or f"{dp.packets_sent} packet(s) sent, none came back"
        return [_finding("TURN-NO-DATA", t, subj, f"via {label} to peer {dp.peer}: {why}", evidence)]
    if dp.packets_sent and dp.packets_received < dp.packets_sent:
        detail = f"via {label}: {dp.loss_pct}% loss ({dp.packets_received}/{dp.packets_sent} came back)"
        return [_finding("TURN-DATA-LOSS", t, subj, detail, evidence)]
    return []


def _data_line(dp: DataPathResult) -> str:
    rtt = f", rtt min/avg/max {dp.rtt_min_ms}/{dp.rtt_avg_ms}/{dp.rtt_max_ms} ms" if dp.rtts_ms else ""
    return f"{DATA_METHOD_LABEL.get(dp.method, dp.method)}: {dp.packets_received}/{dp.packets_sent} " \
           f"echoed back via the relay{rtt}"


def is_inconclusive(result: TurnCheckResult) -> bool:
    """Nothing could be verified: the server challenged but no credentials were given anywhere."""
    answered = [t for t in result.transports if t.challenge_answered]
    return bool(answered) and all(t.challenge_code == 401 and not t.authenticated and not t.open_relay
                                  for t in answered)


# Checks, one JUnit test case per server x transport x check.
CHECK_STEPS = ("connect", "challenge", "allocate", "relay-address", "data-" + METHOD_INDICATION,
               "data-" + METHOD_CHANNEL, "refresh")

_FINDING_CHECK: dict[str, str] = {
    "SERVER-UNREACHABLE": "connect", "SERVER-REFUSED": "connect", "NO-ROUTE": "connect",
    "MALFORMED-REPLY": "connect", "UDP-BLOCKED": "connect", "TLS-UNTRUSTED": "connect",
    "TLS-EXPIRED": "connect", "TLS-HOSTNAME": "connect", "TLS-HANDSHAKE": "connect",
    "TURN-OPEN-RELAY": "challenge", "TURN-CHALLENGE-INVALID": "challenge", "TURN-NO-CREDENTIALS": "challenge",
    "TURN-RELAY-PRIVATE": "relay-address", "TURN-RELAY-LOCAL": "relay-address",
    "TURN-REFRESH-FAILED": "refresh",
}


def checks(result: TurnCheckResult, found: list[Finding]) -> list[CheckCase]:
    """Outcome of each step per transport; a step is failed/warned by the findings attached to it."""
    cases: list[CheckCase] = []
    for t in result.transports:
        subj = subject(result, t)
        mine = [f for f in found if f.subject in (subj, result.target)]
        for step in CHECK_STEPS:
            attached = [f for f in mine if _check_of(f, t) == step]
            status = _status(step, t, attached)
            message = "; ".join(f"{f.id}: {f.title}" for f in attached)
            cases.append(CheckCase(suite=result.target, name=f"{t.transport}/{step}", status=status,
                                   message=message, duration_s=_step_duration(step, t),
                                   finding_ids=[f.id for f in attached]))
    return cases


def _check_of(finding: Finding, t: TransportResult) -> str:
    if finding.id in _FINDING_CHECK:
        return _FINDING_CHECK[finding.id]
    if finding.id in ("TURN-NO-DATA", "TURN-DATA-LOSS") or (
            finding.id in ("TURN-FORBIDDEN-403", "TURN-FAMILY-443") and t.allocated):
        for dp in t.data_paths:
            if DATA_METHOD_LABEL.get(dp.method, dp.method) in finding.symptom or dp.peer in finding.symptom:
                return "data-" + dp.method
        return "data-" + METHOD_INDICATION
    return "allocate"


def _status(step: str, t: TransportResult, attached: list[Finding]) -> Status:
    worst = max((f.severity.rank for f in attached), default=-1)
    if worst >= Severity.ERROR.rank:
        return Status.FAIL
    if worst == Severity.WARNING.rank:
        return Status.WARN
    ran = {
        "connect": True,
        "challenge": t.connected,
        "allocate": t.authenticated or t.open_relay,
        "relay-address": t.allocated,
        "data-" + METHOD_INDICATION: t.data_path(METHOD_INDICATION) is not None,
        "data-" + METHOD_CHANNEL: t.data_path(METHOD_CHANNEL) is not None,
        "refresh": t.refreshed is not None,
    }[step]
    if not ran:
        return Status.SKIP
    if step == "allocate" and not t.allocated:
        return Status.INCONCLUSIVE if not attached else Status.FAIL
    return Status.PASS


def _step_duration(step: str, t: TransportResult) -> float:
    if step == "connect":
        return round((t.connect_ms or 0.0) / 1000, 4)
    prefix = {"challenge": "allocate (unauth", "allocate": "allocate (auth", "refresh": "refresh"}.get(step)
    if prefix is None:
        return 0.0
    return round(sum(ex.rtt_ms or 0.0 for ex in t.steps if ex.step.startswith(prefix)) / 1000, 4)

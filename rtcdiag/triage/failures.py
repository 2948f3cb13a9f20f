"""Transport-level failures -> general findings, shared by every probe's triage.

A probe records a failed step as an outcome (timeout, rejected, transport-error) and an ``error_kind``
(see ``rtcdiag.probes.record.Exchange``); this module names the catalogue entry for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rtcdiag.probes.record import ErrorKind, Outcome
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Subject, make_finding

# A reply flood (RFC 8489 §6.3: replies that answer no transaction, packets nobody sent): at least this many,
# and more than this many per request sent.
FLOOD_MIN_REPLIES = 20
FLOOD_PER_REQUEST = 4

# Exchange.error_kind / TransportResult.failure_kind -> general catalogue id. ICMP port unreachable arrives as
# REFUSED (UDP's connection refused, RFC 1122 §4.1.3.1: rtcdiag.net); UNREACHABLE is every
# other ICMP destination unreachable and no route.
_KIND_IDS: dict[ErrorKind, str] = {
    ErrorKind.DNS: ids.DNS_FAILURE,
    ErrorKind.REFUSED: ids.SERVER_REFUSED,
    ErrorKind.CLOSED: ids.SERVER_REFUSED,
    ErrorKind.CONNECT_TIMEOUT: ids.SERVER_UNREACHABLE,
    ErrorKind.UNREACHABLE: ids.NO_ROUTE,
    ErrorKind.NETWORK: ids.NO_ROUTE,
    ErrorKind.LOCAL_RESOURCES: ids.LOCAL_RESOURCES,
    ErrorKind.MALFORMED: ids.MALFORMED_REPLY,
    ErrorKind.TLS_STALL: ids.TLS_HANDSHAKE_STALL,
    ErrorKind.SLOW_REPLY: ids.SERVER_SLOW_REPLY,
    ErrorKind.TLS_EXPIRED: ids.TLS_EXPIRED,
    ErrorKind.TLS_NOT_YET_VALID: ids.TLS_EXPIRED,
    ErrorKind.TLS_HOSTNAME_MISMATCH: ids.TLS_HOSTNAME,
    ErrorKind.TLS_UNTRUSTED: ids.TLS_UNTRUSTED,
    ErrorKind.TLS_REVOKED: ids.TLS_UNTRUSTED,
    ErrorKind.TLS_HANDSHAKE: ids.TLS_HANDSHAKE,
}


def failure_id(kind: ErrorKind | None) -> str:
    """The general catalogue id for a step that got no usable answer, from its error kind (one table for
    every check)."""
    if kind is None:
        return ids.SERVER_UNREACHABLE
    return _KIND_IDS.get(kind, ids.SERVER_UNREACHABLE)


ANSWERED = (Outcome.SUCCESS, Outcome.ERROR_RESPONSE)


def failure_finding(*, outcome: Outcome, error_kind: ErrorKind | None, detail: str, subject: Subject,
                    check: str, step: str, server: str, rejected: Iterable[str] = (), rejected_count: int = 0,
                    ) -> Finding | None:
    """The general finding for a step that got no usable answer, or None if it was answered.

    ``rejected`` holds the first few rejected replies a probe kept, ``rejected_count`` how many there were.
    """
    rejected = list(rejected)
    if outcome in ANSWERED or outcome == Outcome.SENT:
        return None
    transport = (subject.transport or "").upper()
    if outcome == Outcome.REJECTED:
        finding_id = ids.MALFORMED_REPLY
        count = max(rejected_count, len(rejected))
        shown = f", first {min(3, len(rejected))} shown" if count > min(3, len(rejected)) else ""
        detail = f"{count} reply(ies) rejected{shown}" + (": " + "; ".join(rejected[:3]) if rejected else "")
    elif outcome == Outcome.TIMEOUT:
        finding_id = ids.SERVER_UNREACHABLE
    else:
        finding_id = failure_id(error_kind)
    evidence = [detail, *rejected[:5]] if outcome != Outcome.REJECTED else rejected[:5]
    return make_finding(finding_id, subject, check=check, step=step, evidence=evidence, server=server,
                        transport=transport, host=subject.host, detail=detail)


def proves_udp_blocked(udp_port: int | None, stream_transport: str, stream_port: int | None) -> bool:
    """Does a STUN/TURN answer over ``stream_transport`` (tcp or tls) on ``stream_port`` of a host show that
    the server behind silent UDP ``udp_port`` of the same host and server entry is alive?

    Only within the port family of one server: TCP on the same port (coturn's ``listening-port`` serves UDP
    and TCP), or TLS (its ``tls-listening-port``, any port). A TCP answer on another port is another
    service and proves nothing about this one.
    """
    if stream_transport == "tls":
        return True
    return stream_transport == "tcp" and stream_port == udp_port


def udp_blocked_ports(outcomes: Iterable[tuple[str, int | None, str, str]]) -> set[tuple[str, int | None]]:
    """UDP endpoints (host, port) that went unanswered while STUN/TURN over TCP or TLS answered within
    their port family (:func:`proves_udp_blocked`).

    ``outcomes``: (host, port, transport, outcome) of the results of ONE server entry (one job of
    ``rtcdiag check``). Such a port gets UDP-BLOCKED instead of SERVER-UNREACHABLE for its UDP step
    (RFC 8656 §3.1: clients then need TURN over TCP/TLS).
    """
    silent: set[tuple[str, int | None]] = set()
    answered: list[tuple[str, int | None, str]] = []
    for host, port, transport, outcome in outcomes:
        if transport == "udp" and outcome == "timeout":
            silent.add((host, port))
        elif transport in ("tcp", "tls") and outcome in ANSWERED:
            answered.append((host, port, transport))
    return {(host, port) for host, port in silent
            if any(h == host and proves_udp_blocked(port, t, p) for h, p, t in answered)}

"""Transport-level failures -> general findings, shared by every probe's triage.

A probe records a failed step as an outcome (timeout, rejected, transport-error) and an ``error_kind``
(see ``rtcdiag.probes.record.Exchange``); this module names the catalogue entry for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding, Subject, make_finding

# A reply flood (RFC 8489 §6.3: replies that answer no transaction, packets nobody sent): at least this many,
# and more than this many per request sent.
FLOOD_MIN_REPLIES = 20
FLOOD_PER_REQUEST = 4

# error_kind -> catalogue id (TLS kinds are "tls:<reason>", see rtcdiag.tls.TlsFailure)
# Exchange.error_kind / TransportResult.failure_kind -> general catalogue id (rtcdiag.tls.TlsFailure values).
_KIND_IDS = {
    "dns": ids.DNS_FAILURE,
    "refused": ids.SERVER_REFUSED,
    "closed": ids.SERVER_REFUSED,
    "connect-timeout": ids.SERVER_UNREACHABLE,
    "network": ids.NO_ROUTE,
    "local-resources": ids.LOCAL_RESOURCES,
    "malformed": ids.MALFORMED_REPLY,
    "tls-stall": ids.TLS_HANDSHAKE_STALL,
    "slow-reply": ids.SERVER_SLOW_REPLY,
    "tls:expired-certificate": ids.TLS_EXPIRED,
    "tls:certificate-not-yet-valid": ids.TLS_EXPIRED,
    "tls:hostname-mismatch": ids.TLS_HOSTNAME,
    "tls:untrusted-certificate": ids.TLS_UNTRUSTED,
    "tls:revoked-certificate": ids.TLS_UNTRUSTED,
    "tls:handshake-failure": ids.TLS_HANDSHAKE,
}


def failure_id(kind: str | None, text: str = "") -> str:
    """The general catalogue id for a step that got no usable answer, from its error kind (one table for
    every check)."""
    if kind is None:
        return ids.SERVER_UNREACHABLE
    if kind in _KIND_IDS:
        return _KIND_IDS[kind]
    if kind.startswith("tls:"):
        return ids.TLS_HANDSHAKE
    if kind == "unreachable":  # ICMP: port unreachable is a refusal, anything else a routing problem
        return ids.SERVER_REFUSED if "port unreachable" in text else ids.NO_ROUTE
    return ids.SERVER_UNREACHABLE


ANSWERED = ("success", "error-response")


def failure_finding(*, outcome: str, error_kind: str | None, detail: str, subject: Subject, check: str,
                    step: str, server: str, rejected: Iterable[str] = (), rejected_count: int = 0,
                    ) -> Finding | None:
    """The general finding for a step that got no usable answer, or None if it was answered.

    ``rejected`` holds the first few rejected replies a probe kept, ``rejected_count`` how many there were.
    """
    rejected = list(rejected)
    if outcome in ANSWERED or outcome == "sent":
        return None
    transport = (subject.transport or "").upper()
    if outcome == "rejected":
        finding_id = ids.MALFORMED_REPLY
        count = max(rejected_count, len(rejected))
        shown = f", first {min(3, len(rejected))} shown" if count > min(3, len(rejected)) else ""
        detail = f"{count} reply(ies) rejected{shown}" + (": " + "; ".join(rejected[:3]) if rejected else "")
    elif outcome == "timeout":
        finding_id = ids.SERVER_UNREACHABLE
    else:
        finding_id = failure_id(error_kind, detail)
    evidence = [detail, *rejected[:5]] if outcome != "rejected" else rejected[:5]
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

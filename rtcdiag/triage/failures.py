"""Transport-level failures -> general findings, shared by every probe's triage.

A probe records a failed step as an outcome (timeout, rejected, transport-error) and an ``error_kind``
(see ``rtcdiag.probes.record.Exchange``); this module names the catalogue entry for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rtcdiag.probes.record import Exchange
from rtcdiag.triage.finding import Finding, Subject, make_finding

# error_kind -> catalogue id (TLS kinds are "tls:<reason>", see rtcdiag.tls.TlsFailure)
_KIND_IDS = {
    "dns": "DNS-FAILURE",
    "refused": "SERVER-REFUSED",
    "closed": "SERVER-REFUSED",
    "connect-timeout": "SERVER-UNREACHABLE",
    "unreachable": "NO-ROUTE",
    "network": "NO-ROUTE",
    "malformed": "MALFORMED-REPLY",
    "tls:expired-certificate": "TLS-EXPIRED",
    "tls:certificate-not-yet-valid": "TLS-EXPIRED",
    "tls:hostname-mismatch": "TLS-HOSTNAME",
    "tls:untrusted-certificate": "TLS-UNTRUSTED",
    "tls:revoked-certificate": "TLS-UNTRUSTED",
    "tls:handshake-failure": "TLS-HANDSHAKE",
}

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
        finding_id = "MALFORMED-REPLY"
        count = max(rejected_count, len(rejected))
        shown = f", first {min(3, len(rejected))} shown" if count > min(3, len(rejected)) else ""
        detail = f"{count} reply(ies) rejected{shown}" + (": " + "; ".join(rejected[:3]) if rejected else "")
    elif outcome == "timeout":
        finding_id = "SERVER-UNREACHABLE"
    else:
        finding_id = _KIND_IDS.get(error_kind or "", "SERVER-UNREACHABLE")
    evidence = [detail, *rejected[:5]] if outcome != "rejected" else rejected[:5]
    return make_finding(finding_id, subject, check=check, step=step, evidence=evidence, server=server,
                        transport=transport, host=subject.host, detail=detail)


def exchange_failure(ex: Exchange, *, subject: Subject, check: str, step: str) -> Finding | None:
    """``failure_finding`` for a recorded Exchange."""
    detail = f"no reply to {ex.attempts} request(s)" if ex.outcome == "timeout" else ex.error or ex.outcome
    return failure_finding(outcome=ex.outcome, error_kind=ex.error_kind, detail=detail, subject=subject,
                           check=check, step=step, server=ex.server, rejected=ex.rejected,
                           rejected_count=ex.rejected_count)


def udp_blocked_hosts(outcomes: Iterable[tuple[str, str, str]]) -> set[str]:
    """Hosts whose UDP went unanswered while TCP or TLS to the same host answered.

    ``outcomes``: (host, transport, outcome) triples. Such a host gets UDP-BLOCKED instead of
    SERVER-UNREACHABLE for its UDP step (RFC 8656 §3.1: clients then need TURN over TCP/TLS).
    """
    udp_silent: set[str] = set()
    stream_answered: set[str] = set()
    for host, transport, outcome in outcomes:
        if transport == "udp" and outcome == "timeout":
            udp_silent.add(host)
        elif transport in ("tcp", "tls") and outcome in ANSWERED:
            stream_answered.add(host)
    return udp_silent & stream_answered

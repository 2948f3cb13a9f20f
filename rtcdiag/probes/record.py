"""Step records shared by every probe: what was sent, what came back, how long it took."""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcdiag.protocol.describe import AttributeView

__all__ = ["AttributeView", "Exchange"]  # AttributeView lives in the protocol layer; re-exported here


@dataclass
class Exchange:
    """One STUN/TURN transaction (or one indication), as it happened on the wire."""

    step: str  # what the probe was doing, e.g. "allocate (authenticated)"
    request: str  # e.g. "Allocate request"
    transport: str  # "udp" | "tcp" | "tls"
    server: str  # host:port the request went to
    request_attributes: list[AttributeView] = field(default_factory=list)
    # "success" | "error-response" | "timeout" | "rejected" | "transport-error" | "sent" (indications)
    outcome: str = "timeout"
    response: str | None = None  # e.g. "Allocate error response 401 Unauthorized"
    response_attributes: list[AttributeView] = field(default_factory=list)
    response_source: str | None = None  # where the response really came from (packet source)
    error_code: int | None = None
    rtt_ms: float | None = None
    attempts: int = 0  # requests sent (1 + retransmissions)
    attempt_rtts_ms: list[float] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # replies discarded (bad txid, FINGERPRINT, integrity)
    error: str | None = None  # transport-level error text (refused, TLS failure, ...)
    # stable word for triage: refused | closed | connect-timeout | unreachable | malformed | network | dns |
    # tls:<reason> (untrusted-certificate, expired-certificate, hostname-mismatch, handshake-failure, ...)
    error_kind: str | None = None
    started_ms: float = 0.0  # offset from the probe's start

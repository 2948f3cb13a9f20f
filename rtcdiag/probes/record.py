"""Step records shared by every probe: what was sent, what came back, how long it took."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_SHOWN_ATTRIBUTES = 32  # attributes of one response kept in Exchange.response_attributes


@dataclass
class AttributeView:
    """One attribute as shown to a user: type code, name, decoded value and the raw bytes (hex).

    Secret-bearing values (MESSAGE-INTEGRITY HMACs, USERHASH, ACCESS-TOKEN) are shown as ``<redacted>``.
    """

    type: int
    name: str
    value: str
    raw_hex: str = ""


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
    # the first MAX_SHOWN_ATTRIBUTES attributes of the response (a 64 KiB reply can carry 16000) ...
    response_attributes: list[AttributeView] = field(default_factory=list)
    response_attribute_count: int = 0  # ... and how many it had
    response_source: str | None = None  # where the response really came from (packet source)
    error_code: int | None = None
    rtt_ms: float | None = None
    attempts: int = 0  # requests sent (1 + retransmissions)
    attempt_rtts_ms: list[float] = field(default_factory=list)
    # replies discarded (bad txid, FINGERPRINT, integrity): the first few (MAX_KEPT_REJECTED) as text ...
    rejected: list[str] = field(default_factory=list)
    rejected_count: int = 0  # ... and how many there were in all ("N rejected, first 5 shown")
    error: str | None = None  # transport-level error text (refused, TLS failure, ...)
    # stable word for triage: refused | closed | connect-timeout | unreachable | malformed | network | dns |
    # tls:<reason> (untrusted-certificate, expired-certificate, hostname-mismatch, handshake-failure, ...)
    error_kind: str | None = None
    started_ms: float = 0.0  # offset from the probe's start

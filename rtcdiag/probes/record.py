"""Step records shared by every probe: what was sent, what came back, how long it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rtcdiag.protocol.describe import AttributeView
from rtcdiag.tls import TlsFailure

# AttributeView lives in the protocol layer; re-exported here.
__all__ = ["AttributeView", "ErrorKind", "Exchange", "Outcome", "Redirect"]

MAX_SHOWN_ATTRIBUTES = 32  # attributes of one response kept in Exchange.response_attributes


class Outcome(StrEnum):
    """How one transaction (or indication) ended; the values are what JSON reports show."""

    SUCCESS = "success"
    ERROR_RESPONSE = "error-response"
    TIMEOUT = "timeout"  # no reply at all
    REJECTED = "rejected"  # only replies that failed validation (see Exchange.rejected)
    TRANSPORT_ERROR = "transport-error"  # see Exchange.error / error_kind
    SENT = "sent"  # an indication went out (no response expected)
    NOT_SENT = "not-sent"  # the request could not be built from what the server asked (see Exchange.error)


class Redirect(StrEnum):
    """What the probe did with a 300 Try Alternate (RFC 8489 §10); policy in rtcdiag.addresses."""

    FOLLOWED = "followed"  # the request was sent to the alternate server
    REFUSED = "refused"  # the alternate's address scope forbids it (link-local, loopback from elsewhere...)
    NOT_FOLLOWED = "not-followed"  # --no-follow
    CREDENTIALS_WITHHELD = "credentials-withheld"  # followed; the alternate's realm is not the original's
    # A loop: the alternate is a server this request already went to (the server itself, or back to the one
    # that redirected here); not followed (RFC 8489 §10). ``redirect_detail`` names the chain.
    LOOP = "loop"
    AGAIN = "again"  # a second redirect to a new server: not followed (rtcdiag follows one)


class ErrorKind(StrEnum):
    """Why the network failed below STUN: a stable word for triage (the TransportError's ``kind``).

    TLS failures carry the reason: ``tls:<rtcdiag.tls.TlsFailure value>`` (one member per TlsFailure).
    """

    TRANSPORT = "transport"  # a TransportError with no more specific kind
    REFUSED = "refused"
    CLOSED = "closed"
    CONNECT_TIMEOUT = "connect-timeout"
    UNREACHABLE = "unreachable"
    MALFORMED = "malformed"
    NETWORK = "network"
    TLS_STALL = "tls-stall"  # TCP accepted, the TLS handshake never completed
    SLOW_REPLY = "slow-reply"  # a reply still dripping in when the time ran out
    LOCAL_RESOURCES = "local-resources"  # this machine ran out of descriptors or socket memory
    DNS = "dns"
    TLS_UNTRUSTED = "tls:untrusted-certificate"
    TLS_EXPIRED = "tls:expired-certificate"
    TLS_NOT_YET_VALID = "tls:certificate-not-yet-valid"
    TLS_HOSTNAME_MISMATCH = "tls:hostname-mismatch"
    TLS_REVOKED = "tls:revoked-certificate"
    TLS_HANDSHAKE = "tls:handshake-failure"

    @classmethod
    def of(cls, kind: str, tls_reason: TlsFailure | None = None) -> ErrorKind:
        """The member for a TransportError ``kind`` (and TLS reason); TRANSPORT for an unknown kind."""
        value = f"{kind}:{tls_reason.value}" if tls_reason is not None else kind
        try:
            return cls(value)
        except ValueError:
            return cls.TRANSPORT


@dataclass
class Exchange:
    """One STUN/TURN transaction (or one indication), as it happened on the wire."""

    step: str  # what the probe was doing, e.g. "allocate (authenticated)"
    request: str  # e.g. "Allocate request"
    transport: str  # "udp" | "tcp" | "tls"
    server: str  # host:port the request went to
    request_attributes: list[AttributeView] = field(default_factory=list)
    outcome: Outcome = Outcome.TIMEOUT
    response: str | None = None  # e.g. "Allocate error response 401 Unauthorized"
    # the first MAX_SHOWN_ATTRIBUTES attributes of the response (a 64 KiB reply can carry 16000) ...
    response_attributes: list[AttributeView] = field(default_factory=list)
    response_attribute_count: int = 0  # ... and how many it had
    response_source: str | None = None  # where the response really came from (packet source)
    error_code: int | None = None
    rtt_ms: float | None = None
    attempts: int = 0  # requests sent (1 + retransmissions)
    attempt_rtts_ms: list[float] = field(default_factory=list)
    # UDP after retransmissions: how many sends were answered (the answer and its copies). As many as
    # ``attempts``: nothing was lost, the RTO was only shorter than the round trip; fewer: lost on the way.
    # None: not measured (no retransmission, a stream, or no answer at all).
    answers: int | None = None
    copies_ms: list[float] = field(default_factory=list)  # when each copy arrived, after the first send
    # replies discarded (bad txid, FINGERPRINT, integrity): the first few (MAX_KEPT_REJECTED) as text ...
    rejected: list[str] = field(default_factory=list)
    rejected_count: int = 0  # ... and how many there were in all ("N rejected, first 5 shown")
    error: str | None = None  # transport-level error text (refused, TLS failure, ...)
    error_kind: ErrorKind | None = None  # stable word for triage, e.g. refused, tls:expired-certificate
    started_ms: float = 0.0  # offset from the probe's start
    # Replies to an authenticated request discarded for lacking a valid MESSAGE-INTEGRITY(-SHA256) (RFC 8489
    # §9.2.5): how many, and what the first one said (e.g. "ChannelBind success response"). When only such
    # replies came, the outcome is REJECTED: the server answered, but not in a way that can be trusted.
    unverified_count: int = 0
    unverified_response: str | None = None
    unverified_success: bool = False  # the first discarded one was a success response

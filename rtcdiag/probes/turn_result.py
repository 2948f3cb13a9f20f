"""Result dataclasses of the TURN check: plain data, every step recorded, no verdicts.

``TurnCheckResult`` (one server) holds one ``TransportResult`` per transport (udp/tcp/tls); each records
every transaction as an :class:`~rtcdiag.probes.record.Exchange` and the data-path measurements per method
(Send/Data indications and ChannelBind + ChannelData, RFC 8656 §11 and §12) in ``DataPathResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from rtcdiag.probes.record import ErrorKind, Exchange, Redirect
from rtcdiag.redact import ECHO

if TYPE_CHECKING:
    from rtcdiag.probes.tls_info import CertInfo

METHOD_INDICATION = "send-indication"  # RFC 8656 §11: Send and Data indications
METHOD_CHANNEL = "channel-data"  # RFC 8656 §12: ChannelBind + ChannelData


class RelayFamily(StrEnum):
    """Address family of a relayed transport address (RFC 8656 §7.1: IPv4 unless asked otherwise)."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"

    @property
    def label(self) -> str:
        return "IPv4" if self is RelayFamily.IPV4 else "IPv6"


# --family / the ``family`` config key -> the relay families to allocate.
FAMILY_CHOICES: dict[str, tuple[RelayFamily, ...]] = {
    "4": (RelayFamily.IPV4,), "6": (RelayFamily.IPV6,), "both": (RelayFamily.IPV4, RelayFamily.IPV6)}


@dataclass
class FamilyRelay:
    """One address family of an allocation: how it was asked for and what the server gave (RFC 8656 §7)."""

    family: RelayFamily
    # The attribute that asked for this family: "REQUESTED-ADDRESS-FAMILY", "ADDITIONAL-ADDRESS-FAMILY",
    # or None (IPv4, the server's default: a browser sends neither).
    requested_with: str | None = None
    relayed_address: str | None = None  # host:port of the XOR-RELAYED-ADDRESS of this family
    relayed_ip: str | None = None
    relay_scope: str | None = None
    # RFC 8656 §18.12 ADDRESS-ERROR-CODE for this family in a (dual) Allocate success: this family failed.
    error_code: int | None = None
    error_reason: str | None = field(default=None, metadata=ECHO)  # the server's reason phrase
    asked: bool = True  # False: the server relayed this family although nobody asked for it
    # A server that ignored ADDITIONAL-ADDRESS-FAMILY (no relay and no ADDRESS-ERROR-CODE for it; coturn
    # knows only the draft's code point 0x8032) gets a separate allocation with REQUESTED-ADDRESS-FAMILY:
    # its control transactions (challenge, Allocate, Refresh, release) are kept here.
    separate: bool = False
    steps: list[Exchange] = field(default_factory=list)
    error: str | None = None  # the separate allocation failed without an error code (timeout, ...)
    released: bool | None = None  # of the separate allocation


@dataclass
class DataPathResult:
    """Packets sent through the relay to a peer that echoes them back, for one method."""

    method: str  # METHOD_INDICATION | METHOD_CHANNEL
    peer: str  # the peer transport address as given to the server
    family: RelayFamily = RelayFamily.IPV4  # of the relayed address used (the peer has the same family)
    # Why the data path could not be tried from this machine at all (no local address of the relay's
    # family routes to the relay): says nothing about the server.
    local_error: str | None = None
    steps: list[Exchange] = field(default_factory=list)  # CreatePermission / ChannelBind transactions
    packets_sent: int = 0
    packets_received: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    error: str | None = None  # why the packets could not be sent at all (e.g. ChannelBind refused)
    # Received while waiting for the echoes: messages that were not our echoes (a late packet, or a server
    # sending Data indications / ChannelData nobody asked for) and those dropped because the client's inbox
    # was full (bounded: a flood cannot grow memory).
    unexpected_packets: int = 0
    dropped_packets: int = 0  # by the client's or the echo peer's inbox (full)
    # The tool's own drops while measuring, never loss on the network: datagrams the kernel dropped on the
    # client's or the echo peer's UDP socket because its receive buffer was full (SO_RXQ_OVFL), and sends
    # refused because a send buffer was full.
    socket_drops: int = 0
    send_drops: int = 0
    # When echoes were still missing after their receive windows (none came back, or only some): how long
    # the late ones were then awaited (seconds).
    late_wait_s: float = 0.0
    # When the last echo came back (ms since the probe started, as Exchange.started_ms): the last sign of
    # life of a server that then went silent.
    last_echo_ms: float | None = None
    # Why the packets stopped before all were sent: the server went silent (ICMP port unreachable, or a
    # run of lost packets and a liveness request unanswered, recorded in ``steps``).
    stopped: str | None = None

    # Derived from the above by summarize() (fields, not properties, so that JSON shows them).
    loss_pct: float | None = None
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    tool_drops: int = 0  # dropped_packets + socket_drops + send_drops (then loss is not the network's)

    def __post_init__(self) -> None:
        self.summarize()

    def summarize(self) -> None:
        """Recompute loss and min/avg/max RTT from the counters and ``rtts_ms``."""
        sent, rtts = self.packets_sent, self.rtts_ms
        self.tool_drops = self.dropped_packets + self.socket_drops + self.send_drops
        self.loss_pct = round(100.0 * (sent - self.packets_received) / sent, 1) if sent else None
        self.rtt_min_ms = round(min(rtts), 3) if rtts else None
        self.rtt_avg_ms = round(sum(rtts) / len(rtts), 3) if rtts else None
        self.rtt_max_ms = round(max(rtts), 3) if rtts else None


@dataclass
class TransportResult:
    """One transport (udp, tcp or tls) against one server."""

    transport: str
    server: str  # host:port the control connection went to (after any ALTERNATE-SERVER redirect)
    port: int | None = None  # the port this transport was checked on, as planned (before any redirect)
    server_name: str = ""  # the host name as given (checked against the TLS certificate)
    connected: bool = False
    connect_ms: float | None = None  # TCP/TLS connect (+ handshake) time
    connect_error: str | None = None  # why the server could not be talked to at all
    # TLS with --insecure: the connection did not verify the certificate; a separate handshake did.
    tls_verification_off: bool = False
    # What that handshake found ("expired: ..."); also when a verified handshake refused the certificate (an
    # unverified look at it then says which names it has).
    certificate_problem: str | None = None
    certificate: CertInfo | None = None  # TLS: the server's certificate on this connection (expiry, names)
    failure_kind: ErrorKind | None = None  # as Exchange.error_kind
    steps: list[Exchange] = field(default_factory=list)  # every control transaction, in order
    # Step 1: the unauthenticated Allocate.
    challenge_code: int | None = None  # 401 expected; None = success (open relay) or no answer
    challenge_answered: bool = False
    # A Binding request sent alongside the first Allocate once that went one RTO without an answer: a server
    # that answers it and never the Allocate serves STUN only (coturn `stun-only`; a plain STUN server).
    binding_probe: Exchange | None = None
    open_relay: bool = False
    realm: str | None = field(default=None, metadata=ECHO)
    nonce_seen: bool = False
    challenge_problem: str | None = None  # why the server's REALM/NONCE cannot be echoed (none was sent)
    password_algorithms: list[str] = field(default_factory=list)  # as offered by the server (RFC 8489 §14.11)
    # Step 2: the authenticated Allocate.
    authenticated: bool = False  # credentials were sent
    auth_algorithm: str | None = None  # "md5" | "sha256"
    userhash: bool = False
    # the realm the long-term key was hashed with (--realm, else the server's)
    hash_realm: str | None = field(default=None, metadata=ECHO)
    userhash_error: str | None = None  # USERHASH asked for (nonce cookie) but not computable from the REALM
    stale_nonce_retries: int = 0
    alternate_server: str | None = None  # from a 300 reply; followed once (rtcdiag.addresses policy)
    alternate_scope: str | None = None  # rtcdiag.addresses.AddressScope value of alternate_server
    redirect: Redirect | None = None  # what was done with the 300
    redirect_detail: str | None = None  # why it was refused / credentials withheld
    # the redirecting server's realm: the only one credentials go to
    redirect_realm: str | None = field(default=None, metadata=ECHO)
    # A 437 to the first Allocate: the server still held an allocation for this 5-tuple (an earlier run's,
    # just released, on a reused local port); or to our own retransmission of the authenticated Allocate
    # (the allocation its first copy made, released first, RFC 8656 §7.3): retried once from a new local port.
    fresh_port_retry: bool = False
    # A 486 to the authenticated Allocate: how many allocations this run itself held under the same user on
    # this server when it came (or had released so recently that the server may still count them), and when
    # the one retry went out (seconds after the 486; None: not retried).
    quota_own_held: int | None = None
    quota_retry_after_s: float | None = None
    error_code: int | None = None  # final error code of the Allocate (None on success)
    error_reason: str | None = field(default=None, metadata=ECHO)  # the server's reason phrase
    error_step: str | None = None  # which step produced error_code
    timed_out_step: str | None = None  # a control step that got no answer at all
    unknown_attributes: list[str] = field(default_factory=list)  # from a 420 reply (the first 16)
    unknown_attribute_count: int = 0  # how many types the 420's UNKNOWN-ATTRIBUTES listed
    allocated: bool = False
    relayed_address: str | None = None  # host:port
    relayed_ip: str | None = None
    relay_scope: str | None = None  # rtcdiag.addresses.AddressScope value
    mapped_address: str | None = None
    lifetime_s: int | None = None
    software: str | None = field(default=None, metadata=ECHO)
    # The families asked for (one entry each, in order; the first is the one relayed_address and the
    # fields above describe). A dual allocation (RFC 8656 §7.1 ADDITIONAL-ADDRESS-FAMILY) has two.
    relays: list[FamilyRelay] = field(default_factory=list)
    # Step 4: data path, one entry per method (and per family).
    data_paths: list[DataPathResult] = field(default_factory=list)
    # Step 5: Refresh and release.
    refreshed: bool | None = None  # None = not attempted
    refresh_lifetime_s: int | None = None  # LIFETIME of the Refresh success (RFC 8656 §7.3; 0 = deleted)
    refresh_requested_s: int | None = None  # the LIFETIME the Refresh asked for
    released: bool | None = None
    duration_ms: float = 0.0

    # Optional (--tcp-relay): an RFC 6062 TCP allocation on its own control connection (TCP/TLS only).
    tcp_relay: TcpRelayResult | None = None
    # Optional (--acl): CreatePermission/ChannelBind for sensitive peers (rtcdiag.probes.turn_acl).
    acl: AclResult | None = None

    def data_path(self, method: str, family: RelayFamily | None = None) -> DataPathResult | None:
        return next((d for d in self.data_paths if d.method == method and family in (None, d.family)), None)

    def relay(self, family: RelayFamily) -> FamilyRelay | None:
        return next((r for r in self.relays if r.family == family), None)


@dataclass
class TcpRelayResult:
    """RFC 6062: TCP allocation, Connect to a local TCP echo peer, ConnectionBind on a data connection,
    bytes both ways, release. Every transaction of the control and the data connection is in ``steps``."""

    peer: str | None = None  # the local TCP echo peer (host:port) as given in XOR-PEER-ADDRESS
    steps: list[Exchange] = field(default_factory=list)
    allocated: bool = False
    relayed_address: str | None = None
    connection_id: int | None = None  # CONNECTION-ID from the Connect success (RFC 6062 §6.2.1)
    bound: bool = False  # ConnectionBind succeeded: the data connection now carries the peer's bytes
    error_code: int | None = None  # of the request that failed (Allocate 442, Connect 446/447, ...)
    error_reason: str | None = field(default=None, metadata=ECHO)  # the server's reason phrase
    error_step: str | None = None  # which request failed
    error: str | None = None  # a failure without an error response (timeout, connection lost, ...)
    local_error: str | None = None  # this machine could not run a TCP peer the relay can reach
    chunks_sent: int = 0
    chunks_echoed: int = 0  # came back complete and byte-identical
    bytes_sent: int = 0
    bytes_received: int = 0
    corrupted: int = 0  # chunks that came back different from what was sent
    rtts_ms: list[float] = field(default_factory=list)
    rtt_avg_ms: float | None = None
    peer_accepted: bool = False  # the echo peer saw the relay's TCP connection arrive
    released: bool | None = None
    duration_ms: float = 0.0
    # The peer-initiated direction (RFC 6062 §4.5: the peer connects to the relayed address, the server
    # sends ConnectionAttempt, a data connection binds it), tried after the client-initiated one worked.
    incoming: TcpRelayResult | None = None


@dataclass
class RestCredentialInfo:
    """What the REST user name ``expiry:user`` says (draft-uberti-behave-turn-rest-00 §2.2)."""

    username: str
    expiry: int  # Unix seconds written in the user name
    local_time: int  # this machine's clock when the check started
    generated: bool  # True when rtcdiag derived it from --secret

    @property
    def seconds_left(self) -> int:
        return self.expiry - self.local_time


@dataclass
class TurnCheckResult:
    """The whole check of one TURN server."""

    target: str  # the URI or host:port as given
    host: str
    port: int
    server_ip: str | None  # the address actually contacted (resolved)
    server_scope: str | None  # rtcdiag.addresses.AddressScope value of server_ip
    username: str | None = field(default=None, metadata=ECHO)  # as the user gave it
    credential_kind: str = "none"  # "none" | "long-term" | "rest"
    rest: RestCredentialInfo | None = None
    peer_test: bool = True
    packets: int = 0
    families: list[RelayFamily] = field(default_factory=lambda: [RelayFamily.IPV4])  # relay families asked
    tcp_relay: bool = False  # an RFC 6062 TCP relay was asked for (--tcp-relay)
    resolve_error: str | None = None
    transports: list[TransportResult] = field(default_factory=list)
    duration_ms: float = 0.0
    # The RTCIceServer entry the target was listed in (``FILE: iceServers[1]``), None for an argument: where
    # its username and credential are to be fixed.
    entry: str | None = None


class AclVerdict(StrEnum):
    """What the server said to a permission for one sensitive peer (RFC 8656 §9, §12)."""

    PERMITTED = "permitted"  # success: the relay would reach the peer
    DENIED = "denied"  # 403 Forbidden (the server's peer ACL)
    REFUSED = "refused"  # another error code (e.g. 400): not permitted, for another reason
    FAMILY_MISMATCH = "family-mismatch"  # 443: the peer's family differs from the relay's (not judged)
    UNDECIDED = "undecided"  # no usable answer (timeout, connection lost, unverified reply)


@dataclass
class AclProbe:
    peer: str  # the address as asked (no port: permissions are per IP address, RFC 8656 §9.1)
    label: str  # why it is sensitive ("loopback", "cloud metadata", "--acl-peers", ...)
    method: str  # "CreatePermission" | "ChannelBind"
    verdict: AclVerdict
    error_code: int | None = None
    response: str | None = None
    steps: list[Exchange] = field(default_factory=list)


@dataclass
class AclResult:
    """--acl: permissions asked for sensitive peers on an allocation; no data is ever sent to them."""

    probes: list[AclProbe] = field(default_factory=list)
    stopped: str | None = None  # why the remaining peers were not asked (the server stopped answering)

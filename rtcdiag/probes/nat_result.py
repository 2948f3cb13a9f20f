"""What NAT discovery (rtcdiag.probes.nat) is asked to do and what it records: one ``NatTestRecord`` per
RFC 5780 test, the server's fitness (``ServerCheck``), the mapping lifetime, a whole ``NatRun``, and the
mapping across plain STUN servers (``ServerMappingRun``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcdiag.probes.nat_classify import (
    Filtering,
    Legacy,
    Mapping,
    NatTestOutcome,
)
from rtcdiag.probes.record import ErrorKind, Exchange
from rtcdiag.redact import ECHO

MAX_KEPT_EXCHANGES = 10  # per test: the first 9 and the latest (a silent test may resend many times)


@dataclass
class NatOptions:
    transport: str = "udp"  # "udp" (full discovery) or "tcp" (NAT presence and port preservation only)
    family: int | None = None  # 4, 6 or None (first address the name resolves to)
    local_port: int = 0  # mapping socket's local port (0: any)
    hairpin: bool = False
    lifetime: bool = False
    lifetime_max_s: float = 60.0
    timeout_s: float = 5.0  # the longest one transaction may take; RFC 8489 timers are scaled to it
    silence_threshold: float = 1e-3


@dataclass
class NatTestRecord:
    """One RFC 5780 test as it happened."""

    name: str  # e.g. "mapping II"
    socket: str  # "mapping" | "filtering" | "hairpin" | "tcp"
    dest: str
    change: str = ""  # CHANGE-REQUEST flags: "", "port", "ip+port"
    expected_source: str | None = None
    outcome: NatTestOutcome = NatTestOutcome.NOT_RUN
    mapped: str | None = None  # XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from a legacy server)
    plain_mapped: str | None = None  # MAPPED-ADDRESS, for ALG detection
    source: str | None = None  # where the reply really came from
    response_origin: str | None = None
    attempts: int = 0
    rtt_ms: float | None = None
    silence_p: float | None = None  # for unanswered tests: probability that loss alone explains it
    exchanges: list[Exchange] = field(default_factory=list)  # at most MAX_KEPT_EXCHANGES, see keep()
    exchange_count: int = 0  # every exchange of this test, kept or not

    def keep(self, exchange: Exchange) -> None:
        """Record ``exchange``: the first ones are kept, then only the latest replaces the last slot."""
        self.exchange_count += 1
        if len(self.exchanges) >= MAX_KEPT_EXCHANGES:
            self.exchanges[-1] = exchange
        else:
            self.exchanges.append(exchange)


@dataclass
class ServerCheck:
    primary: str
    other_address: str | None = None
    other_attribute: str = ""  # "OTHER-ADDRESS" | "CHANGED-ADDRESS" | ""
    response_origin: str | None = None
    software: str | None = field(default=None, metadata=ECHO)
    supported: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class LifetimeResult:
    alive_s: float | None = None  # longest idle time after which the mapping still worked
    gone_s: float | None = None  # shortest idle time after which it was gone
    probes: dict[str, str] = field(default_factory=dict)  # idle seconds -> "alive" | "gone" | "unsure"
    supported: bool = True
    detail: str = ""


@dataclass
class NatRun:
    server: str  # the target as the user named it
    address: str  # primary ip:port used
    transport: str
    run: int = 1
    host: str = ""  # the server's host as given (name or IP literal)
    port: int | None = None
    local: str | None = None  # local ip:port of the mapping socket
    mapped: str | None = None
    udp_answered: bool = False
    tcp_answered: bool | None = None
    server_check: ServerCheck | None = None
    tests: list[NatTestRecord] = field(default_factory=list)
    mapping: Mapping = Mapping.UNKNOWN
    nat_present: bool | None = None
    mapping_reason: str = ""
    filtering: Filtering = Filtering.UNKNOWN
    filtering_reason: str = ""
    legacy: Legacy = Legacy.UNKNOWN
    port_preserved: bool | None = None
    alg: list[str] = field(default_factory=list)
    hairpin: bool | None = None
    hairpin_detail: str = ""
    lifetime: LifetimeResult | None = None
    loss_upper: float = 1.0
    requests_sent: int = 0
    requests_answered: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    error_kind: ErrorKind | None = None  # the kind of ``error`` (DNS, NETWORK, ...), else None


@dataclass
class ServerMappingRun:
    """Mapping behaviour from ordinary STUN servers: one local UDP socket sends a Binding request to every
    server (RFC 4787 §4.1 compares the mappings it gets); needs no RFC 5780 support. Filtering cannot be
    measured this way: it needs replies from an address the client never sent to (RFC 5780 §4.4)."""

    servers: list[str]  # the servers as given
    local: str | None = None  # local ip:port of the one socket
    family: int | None = None  # 4 or 6
    tests: list[NatTestRecord] = field(default_factory=list)  # one per server that resolved
    unresolved: dict[str, str] = field(default_factory=dict)  # server -> why it could not be asked
    mapping: Mapping = Mapping.UNKNOWN
    nat_present: bool | None = None
    mapping_reason: str = ""
    filtering_reason: str = ("filtering needs a reply from an address this client never sent to (RFC "
                             "5780 §4.4 CHANGE-REQUEST), which only an RFC 5780 server with two addresses "
                             "can send")
    requests_sent: int = 0
    requests_answered: int = 0
    duration_ms: float = 0.0

    @property
    def answered(self) -> int:
        return sum(1 for t in self.tests if t.mapped is not None)


@dataclass
class NatDiscovery:
    """Every run of one NAT discovery (servers x ``--repeat``) and the options they ran with; ``across``:
    the mapping from ordinary STUN servers (only when a server list was given)."""

    runs: list[NatRun]
    options: NatOptions = field(default_factory=NatOptions)
    across: ServerMappingRun | None = None

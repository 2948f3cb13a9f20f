"""What the signalling probe (rtcdiag.probes.signal) is asked to do and what it records: the URL and the proxy
a browser would use (``SignalTarget``), the options, and one typed step per stage of the path (resolve,
connect, CONNECT, TLS, upgrade, echo, message, idle) in a ``UrlResult``; bounds on everything kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from rtcdiag import __version__
from rtcdiag.probes.signal_url import ProxyChoice, SignalUrl
from rtcdiag.probes.tls_info import TlsInfo
from rtcdiag.redact import ECHO

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MESSAGE_SIZE = 32 * 1024
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_BODY = 512  # bytes kept of a non-101 answer's body
MAX_ADDRESSES = 8
MAX_CONNECT_ATTEMPTS = 2
MAX_OTHER_MESSAGES = 3  # messages the server sent that were not ours: kept (cut), the rest counted
MAX_SHOWN = 200
READ_CHUNK = 64 * 1024
ALPN_HTTP1 = "http/1.1"
USER_AGENT = f"rtcdiag/{__version__}"
PROBE_CONNECTION_FDS = 3  # the tunnel, the direct TLS comparison, a --try-port CONNECT


class Failure(StrEnum):
    """Why a step failed, in words a rule can key on."""

    DNS = "dns"
    REFUSED = "refused"  # TCP RST
    TIMEOUT = "timeout"  # no answer within --timeout
    NO_ROUTE = "no-route"  # a local error: no route, address family unavailable
    CLOSED = "closed"  # the peer closed the connection before answering
    RESET = "reset"
    NOT_HTTP = "not-http"  # the answer is not HTTP/1.x
    PROTOCOL = "protocol"  # the server broke RFC 6455 (masked frame, bad close, oversized control frame)
    TLS = "tls"  # handshake failed
    TLS_STALL = "tls-stall"  # no answer to the ClientHello
    STATUS = "status"  # an HTTP answer other than the one needed (see the step's answer)


@dataclass(frozen=True)
class SignalTarget:
    url: SignalUrl
    proxy: ProxyChoice


@dataclass(frozen=True)
class SignalOptions:
    origin: str | None = None  # None: the signalling host's own https: origin (default_origin)
    protocols: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # extra request headers (values may be secrets: registered)
    idle_s: float | None = None
    message_size: int = DEFAULT_MESSAGE_SIZE  # 0: no large message
    ca_file: Path | None = None
    insecure: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    try_port: int | None = None  # a proxy refused CONNECT to the URL's port: ask it for this one
    foreign_origin: str | None = None  # once the WebSocket opened: one more handshake with this Origin
    compare_direct: bool = True  # through a proxy, also take the server's chain directly (interception)


@dataclass
class ResolveStep:
    host: str
    addresses: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    error: str | None = None


@dataclass
class ConnectStep:
    host: str
    port: int
    address: str | None = None  # the address that answered (or the last one tried)
    via_proxy: bool = False
    attempts: list[str] = field(default_factory=list)  # "ADDRESS: outcome", in order
    duration_ms: float = 0.0
    failure: Failure | None = None
    error: str | None = None


@dataclass
class HttpAnswer:
    """An HTTP answer as it came (status line, header fields, the start of the body), bounded."""

    version: str
    status: int
    reason: str = field(metadata=ECHO)
    headers: list[list[str]] = field(default_factory=list, metadata=ECHO)
    headers_dropped: int = 0
    body: str = field(default="", metadata=ECHO)  # the first MAX_BODY bytes, printable

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def tokens(self, name: str) -> list[str]:
        wanted = name.lower()
        return [t.strip().lower() for k, v in self.headers if k.lower() == wanted for t in v.split(",")
                if t.strip()]


@dataclass
class PortProbe:
    """``--try-port``: the proxy asked for a tunnel to the same host on another port."""

    port: int
    status: int | None = None
    reason: str = field(default="", metadata=ECHO)
    duration_ms: float = 0.0
    error: str | None = None


@dataclass
class ProxyStep:
    proxy: str  # the proxy's URL, password masked
    request: str  # "CONNECT host:port HTTP/1.1"
    answer: HttpAnswer | None = None
    duration_ms: float = 0.0
    failure: Failure | None = None
    error: str | None = None
    port_probe: PortProbe | None = None


@dataclass
class TlsStep:
    info: TlsInfo
    fingerprints: list[str] = field(default_factory=list)  # SHA-256 of each certificate sent, leaf first
    unverified_retry: bool = False  # verification failed: a second tunnel took the chain without it
    duration_ms: float = 0.0
    failure: Failure | None = None
    # Through a proxy: the same server's chain taken directly (None: not tried, e.g. not through a proxy).
    direct: TlsInfo | None = None
    direct_fingerprints: list[str] = field(default_factory=list)
    direct_alpn: str | None = None  # what the server chose when offered h2 and http/1.1
    direct_error: str | None = None


@dataclass
class UpgradeStep:
    request: list[str] = field(default_factory=list, metadata=ECHO)  # the lines sent (secrets masked)
    protocols_offered: list[str] = field(default_factory=list, metadata=ECHO)
    answer: HttpAnswer | None = None
    accept_expected: str = ""
    accept_valid: bool | None = None
    upgrade_header_ok: bool | None = None  # Upgrade: websocket and Connection: upgrade (RFC 6455 §4.1)
    protocol: str | None = field(default=None, metadata=ECHO)  # Sec-WebSocket-Protocol chosen
    extensions: str | None = field(default=None, metadata=ECHO)  # Sec-WebSocket-Extensions (none offered)
    origin: str | None = field(default=None, metadata=ECHO)
    duration_ms: float = 0.0
    failure: Failure | None = None
    error: str | None = field(default=None, metadata=ECHO)

    @property
    def opened(self) -> bool:
        return (self.answer is not None and self.answer.status == 101 and bool(self.accept_valid)
                and bool(self.upgrade_header_ok) and self.failure is None)


class EchoState(StrEnum):
    ECHOED = "echoed"  # our message came back as it was sent
    OTHER = "other"  # the server sent other data (an application's reply or greeting)
    NONE = "none"  # nothing but the pong (not an echo server)
    NOT_TRIED = "not-tried"


@dataclass
class CloseSeen:
    """How the connection ended when the server ended it: a close frame (its code), EOF or RST."""

    code: int | None = None  # None: no close frame (EOF or reset)
    reason: str = field(default="", metadata=ECHO)
    how: str = "close-frame"  # "close-frame" | "eof" | "reset"
    after_ms: float = 0.0  # since the step began


@dataclass
class EchoStep:
    message_bytes: int = 0
    ping_rtt_ms: float | None = None
    echo: EchoState = EchoState.NOT_TRIED
    echo_rtt_ms: float | None = None
    other_messages: list[str] = field(default_factory=list, metadata=ECHO)
    other_count: int = 0
    server_pings: int = 0
    closed: CloseSeen | None = None
    duration_ms: float = 0.0
    failure: Failure | None = None
    error: str | None = field(default=None, metadata=ECHO)


@dataclass
class MessageStep:
    size: int
    sent: bool = False
    accepted: bool | None = None  # a pong came after it and the connection stayed open
    echoed_intact: bool | None = None  # None: not an echo server (or not waited for)
    echoed_size: int | None = None
    closed: CloseSeen | None = None
    duration_ms: float = 0.0
    failure: Failure | None = None
    error: str | None = field(default=None, metadata=ECHO)


@dataclass
class IdleStep:
    asked_s: float
    survived_s: float = 0.0
    closed: CloseSeen | None = None  # the server or a middlebox ended it while idle
    server_pings: int = 0  # pings the server sent meanwhile (answered with pongs, as browsers do)
    first_server_ping_s: float | None = None
    alive_after: bool | None = None  # after the silence: did a ping get its pong?
    error: str | None = field(default=None, metadata=ECHO)


@dataclass
class ForeignOriginStep:
    """``--foreign-origin``: one more opening handshake with an Origin the server must refuse."""

    origin: str = field(metadata=ECHO)
    status: int | None = None
    reason: str = field(default="", metadata=ECHO)
    duration_ms: float = 0.0
    error: str | None = field(default=None, metadata=ECHO)


@dataclass
class UrlResult:
    url: str  # SignalUrl.display (token values masked)
    scheme: str
    host: str
    port: int
    proxy: str | None = None  # the proxy's URL (password masked)
    proxy_host: str | None = None
    proxy_port: int | None = None
    proxy_source: str = "none"  # ProxySource value
    proxy_variable: str | None = None
    token_params: list[str] = field(default_factory=list)
    origin_sent: str | None = field(default=None, metadata=ECHO)
    origin_given: bool = False  # --origin (not the default)
    resolve: ResolveStep | None = None
    connect: ConnectStep | None = None
    proxy_step: ProxyStep | None = None
    tls: TlsStep | None = None
    upgrade: UpgradeStep | None = None
    echo: EchoStep | None = None
    message: MessageStep | None = None
    idle: IdleStep | None = None
    foreign_origin: ForeignOriginStep | None = None
    closed_cleanly: bool | None = None
    duration_ms: float = 0.0
    internal_error: str | None = None


@dataclass
class SignalResult:
    urls: list[UrlResult] = field(default_factory=list)
    timeout_s: float = DEFAULT_TIMEOUT_S
    insecure: bool = False
    duration_ms: float = 0.0

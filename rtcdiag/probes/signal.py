"""The signalling path probe: is a WebSocket (RFC 6455) to this URL open from here, through the proxy a
browser would use, and does it stay open?

``await check(targets, options)`` runs every URL concurrently and returns a :class:`SignalResult`. For each
URL every step is recorded with its time and the exact answer (bounded), on the project's own connection
code so that nothing between the client and the server is hidden:

1. ``resolve`` the name connected to (the proxy's when there is one: a proxy resolves the server's name
   itself), ``connect`` over TCP, ``proxy``: ``CONNECT host:port`` (RFC 9110 §9.3.6; RFC 6455 §4.1: ws:// too
   goes through a tunnel) with the status, ``Proxy-Authenticate``, ``Via``; ``tls`` for wss: (chain, host
   name, expiry, version, ALPN ``http/1.1``), and through a proxy the same handshake made directly to the
   server, to compare the chains (an intercepting proxy shows its own CA);
2. ``upgrade``: the opening handshake (status, headers, ``Sec-WebSocket-Accept`` checked, a bounded body);
3. ``echo``: one message and one ping: the pong's round trip (every RFC 6455 server answers a ping, §5.5.2)
   and whether the message came back (an echo server) — then ``message``: one message of ``message_size``
   bytes (SDP offers with many candidates are tens of KB), accepted or refused (close 1009); ``idle``: how
   long the connection survives in silence (answering the server's pings as a browser does), then one ping.

It records what happened; it never decides what is good or bad (rtcdiag.triage.signal does). RFC 8441
(WebSocket over HTTP/2) is not spoken: the upgrade goes over HTTP/1.1, which is what a browser does on a new
connection; whether the server offers h2 is recorded (``direct_alpn``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import ssl
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from rtcdiag import __version__, interrupt
from rtcdiag.addresses import parse_ip
from rtcdiag.probes import slots
from rtcdiag.probes.signal_url import Proxy, ProxyChoice, ProxySource, SignalUrl, default_origin
from rtcdiag.probes.tls_info import CertInfo, TlsInfo, cert_from_info, hostname_matches
from rtcdiag.protocol import websocket as ws
from rtcdiag.redact import ECHO
from rtcdiag.textsafe import printable
from rtcdiag.tls import shared_context

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


# --- helpers ------------------------------------------------------------------------------------------


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 2)


def _os_failure(exc: BaseException) -> tuple[Failure, str]:
    if isinstance(exc, TimeoutError):
        return Failure.TIMEOUT, "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return Failure.REFUSED, "connection refused (TCP RST)"
    if isinstance(exc, ConnectionResetError):
        return Failure.RESET, "connection reset"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL,
                                                  errno.EAFNOSUPPORT):
        return Failure.NO_ROUTE, exc.strerror or str(exc)
    if isinstance(exc, OSError):
        return Failure.NO_ROUTE, exc.strerror or str(exc) or type(exc).__name__
    return Failure.PROTOCOL, str(exc)


class _Stream:
    """One connection: reads into a buffer of its own, so that what arrived after an HTTP head stays."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()

    async def read_some(self, timeout: float) -> bytes:
        data = await asyncio.wait_for(self.reader.read(READ_CHUNK), timeout)
        return data

    async def read_head(self, timeout: float) -> ws.ResponseHead:
        """An HTTP head within ``timeout``; EOF first is ConnectionResetError-free :class:`EOFError`."""
        deadline = time.perf_counter() + timeout
        while True:
            end = ws.head_end(self.buffer)
            if end >= 0:
                raw = bytes(self.buffer[:end - 4])
                del self.buffer[:end]
                return ws.parse_head(raw)
            if self.buffer and not b"HTTP/".startswith(bytes(self.buffer[:5])):
                raise ws.WebSocketError(f"not an HTTP/1.x response: {bytes(self.buffer[:40])!r}")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError
            data = await self.read_some(left)
            if not data:
                raise EOFError
            self.buffer += data

    async def read_body(self, head: ws.ResponseHead, timeout: float) -> bytes:
        """Up to MAX_BODY bytes of a non-101 answer: what its Content-Length promises (within ``timeout``),
        or what has already arrived and the next read (a chunked or unsized body)."""
        wanted = min(head.content_length if head.content_length is not None else MAX_BODY, MAX_BODY)
        deadline = time.perf_counter() + (timeout if head.content_length is not None else min(timeout, 0.2))
        with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
            while len(self.buffer) < wanted:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                data = await self.read_some(left)
                if not data:
                    break
                self.buffer += data
        return bytes(self.buffer[:wanted])

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError, asyncio.CancelledError):
            await asyncio.wait_for(self.writer.wait_closed(), 0.5)


def _answer(head: ws.ResponseHead, body: bytes = b"") -> HttpAnswer:
    return HttpAnswer(version=head.version, status=head.status, reason=printable(head.reason),
                      headers=[[printable(k), printable(v)] for k, v in head.headers],
                      headers_dropped=head.headers_dropped,
                      body=printable(body.decode("utf-8", errors="replace")))


def _tls_context(verify: bool, ca_file: Path | None, alpn: tuple[str, ...]) -> ssl.SSLContext:
    """Shared per (verification, CA file as on disk, ALPN): the host name is checked apart
    (tls_info.hostname_matches), so that a wrong name is its own finding."""
    ca = str(ca_file) if ca_file is not None else None

    def build() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        if verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_default_certs()
            if ca is not None:
                ctx.load_verify_locations(cafile=ca)
        else:
            ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(list(alpn))
        return ctx

    return shared_context(("signal", verify, ca, alpn), ca if verify else None, build)


def _chain(ssl_object: ssl.SSLObject | None) -> tuple[list[CertInfo], list[str]]:
    """Every certificate the server sent, leaf first (decoded even when it did not verify), and their
    SHA-256 fingerprints (of the DER)."""
    if ssl_object is None:
        return [], []
    inner = getattr(ssl_object, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)  # CPython >= 3.10 (public in 3.13)
    if getter is not None:
        certs = getter() or []
        der = [c.public_bytes(2) for c in certs]  # 2: _ssl.ENCODING_DER
        return [cert_from_info(c.get_info()) for c in certs], [hashlib.sha256(d).hexdigest() for d in der]
    leaf = ssl_object.getpeercert(binary_form=True)
    info = ssl_object.getpeercert()
    if not leaf:
        return [], []
    return [cert_from_info(dict(info or {}))], [hashlib.sha256(leaf).hexdigest()]


def _fill_tls(info: TlsInfo, ssl_object: ssl.SSLObject | None, ms: float) -> list[str]:
    info.handshake_ok = ssl_object is not None
    info.handshake_ms = round(ms, 2)
    if ssl_object is None:
        return []
    info.version = ssl_object.version()
    cipher = ssl_object.cipher()
    info.cipher = cipher[0] if cipher else None
    info.alpn_selected = ssl_object.selected_alpn_protocol()
    info.chain, fingerprints = _chain(ssl_object)
    if info.chain and info.server_name:
        info.hostname_match = hostname_matches(info.chain[0], info.server_name)
    return fingerprints


def _sni(url: SignalUrl) -> str | None:
    return None if parse_ip(url.host) is not None else url.host


# --- the path: resolve, connect, CONNECT, TLS -------------------------------------------------------------


async def _resolve(host: str, port: int, timeout: float) -> ResolveStep:
    from rtcdiag.resolve import ResolveError, resolve

    step = ResolveStep(host=host)
    literal = parse_ip(host)
    if literal is not None:  # nothing to resolve (getaddrinfo's thread would cost a few ms)
        step.addresses = [str(literal)]
        return step
    started = time.perf_counter()
    try:
        found = await resolve(host, port, transport="tcp", timeout=timeout)
        step.addresses = [a.ip for a in found][:MAX_ADDRESSES]
    except ResolveError as exc:
        step.error = str(exc)
    step.duration_ms = _ms(started)
    return step


async def _connect(host: str, port: int, addresses: list[str], timeout: float, via_proxy: bool,
                   ) -> tuple[ConnectStep, _Stream | None]:
    step = ConnectStep(host=host, port=port, via_proxy=via_proxy)
    started = time.perf_counter()
    for address in addresses[:MAX_CONNECT_ATTEMPTS]:
        step.address = address
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port, limit=READ_CHUNK),
                                                    timeout)
        except (OSError, TimeoutError) as exc:
            step.failure, step.error = _os_failure(exc)
            if step.failure is Failure.TIMEOUT:
                step.error = f"no answer to TCP SYN within {timeout:g} s"
            step.attempts.append(f"{address}: {step.error}")
            continue
        step.failure = step.error = None
        step.attempts.append(f"{address}: connected")
        step.duration_ms = _ms(started)
        return step, _Stream(reader, writer)
    step.duration_ms = _ms(started)
    return step, None


async def _tunnel(stream: _Stream, proxy: Proxy, host: str, port: int, timeout: float,
                  ) -> tuple[ws.ResponseHead | None, bytes, Failure | None, str | None, float]:
    """``CONNECT host:port`` on ``stream``: the proxy's head (and body when it refused), or the failure."""
    started = time.perf_counter()
    stream.send(ws.connect_request(host, port, authorization=proxy.authorization, user_agent=USER_AGENT))
    try:
        head = await stream.read_head(timeout)
    except TimeoutError:
        return None, b"", Failure.TIMEOUT, f"no answer to CONNECT within {timeout:g} s", _ms(started)
    except EOFError:
        return None, b"", Failure.CLOSED, "the proxy closed the connection without answering", _ms(started)
    except ws.WebSocketError as exc:
        return None, b"", Failure.NOT_HTTP, str(exc), _ms(started)
    except OSError as exc:
        failure, text = _os_failure(exc)
        return None, b"", failure, text, _ms(started)
    body = b""
    if not 200 <= head.status < 300:
        body = await stream.read_body(head, timeout)
    return head, body, (None if 200 <= head.status < 300 else Failure.STATUS), None, _ms(started)


@dataclass
class _Path:
    stream: _Stream | None
    resolve: ResolveStep
    connect: ConnectStep | None = None
    proxy: ProxyStep | None = None


async def _open_path(target: SignalTarget, options: SignalOptions, addresses: list[str] | None = None,
                     ) -> _Path:
    """Resolve (unless ``addresses``), connect and, through a proxy, CONNECT: the stream up to TLS."""
    url, proxy = target.url, target.proxy.proxy
    host, port = (proxy.host, proxy.port) if proxy is not None else (url.host, url.port)
    if addresses is None:
        resolved = await _resolve(host, port, options.timeout)
    else:
        resolved = ResolveStep(host=host, addresses=addresses)
    path = _Path(stream=None, resolve=resolved)
    if resolved.error is not None:
        return path
    path.connect, stream = await _connect(host, port, resolved.addresses, options.timeout, proxy is not None)
    if stream is None:
        return path
    if proxy is not None:
        step = ProxyStep(proxy=proxy.display, request=f"CONNECT {ws.host_header(url.host, url.port, -1)} "
                                                      "HTTP/1.1")
        path.proxy = step
        head, body, step.failure, step.error, step.duration_ms = await _tunnel(stream, proxy, url.host,
                                                                               url.port, options.timeout)
        if head is not None:
            step.answer = _answer(head, body)
        if step.failure is not None:
            await stream.close()
            return path
    path.stream = stream
    return path


async def _start_tls(stream: _Stream, url: SignalUrl, verify: bool, options: SignalOptions,
                     ) -> tuple[ssl.SSLObject | None, float, BaseException | None]:
    started = time.perf_counter()
    context = _tls_context(verify, options.ca_file, (ALPN_HTTP1,))
    try:
        await stream.writer.start_tls(context, server_hostname=_sni(url) or "",
                                      ssl_handshake_timeout=options.timeout)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return None, _ms(started), exc
    ssl_object = stream.writer.get_extra_info("ssl_object")
    return ssl_object, _ms(started), None


def _tls_failure(info: TlsInfo, exc: BaseException) -> Failure:
    if isinstance(exc, TimeoutError):
        info.stalled = True
        info.error = "the TLS handshake did not complete in time (no answer to the ClientHello)"
        return Failure.TLS_STALL
    if isinstance(exc, ssl.SSLError):
        info.error = f"TLS handshake failed: {exc.reason or exc}"
    else:
        info.error = f"TLS handshake failed: {exc}"
    return Failure.TLS


async def _tls(path: _Path, target: SignalTarget, options: SignalOptions) -> tuple[TlsStep, _Stream | None]:
    """The TLS handshake inside the tunnel (or straight to the server), verifying; when verification fails,
    a second connection takes the chain without it (shown in the report; used with --insecure)."""
    url = target.url
    assert path.stream is not None
    address = path.connect.address if path.connect and target.proxy.proxy is None else None
    info = TlsInfo(address=address or url.host, port=url.port, server_name=url.host,
                   verification_off=options.insecure, alpn_offered=[ALPN_HTTP1])
    step = TlsStep(info=info)
    started = time.perf_counter()
    ssl_object, ms, exc = await _start_tls(path.stream, url, True, options)
    if ssl_object is not None:
        info.trusted = True
        step.fingerprints = _fill_tls(info, ssl_object, ms)
        step.duration_ms = _ms(started)
        return step, path.stream
    await path.stream.close()
    if not isinstance(exc, ssl.SSLCertVerificationError):
        step.failure = _tls_failure(info, exc) if exc is not None else Failure.TLS
        step.duration_ms = _ms(started)
        return step, None
    info.trusted = False
    info.verify_code = exc.verify_code
    info.verify_error = exc.verify_message or str(exc)
    step.unverified_retry = True
    again = await _open_path(target, options, addresses=path.resolve.addresses)
    if again.stream is None:
        info.error = "the second connection (to show the chain) failed"
        step.failure = Failure.TLS
        step.duration_ms = _ms(started)
        return step, None
    ssl_object, ms, exc2 = await _start_tls(again.stream, url, False, options)
    if ssl_object is None:
        step.failure = _tls_failure(info, exc2) if exc2 is not None else Failure.TLS
        await again.stream.close()
        step.duration_ms = _ms(started)
        return step, None
    step.fingerprints = _fill_tls(info, ssl_object, ms)
    step.duration_ms = _ms(started)
    if options.insecure:
        return step, again.stream  # --insecure: go on past the certificate (problems become warnings)
    await again.stream.close()
    step.failure = Failure.TLS  # a browser stops here
    return step, None


_Direct = tuple[TlsInfo | None, list[str], str | None, str | None]


async def _direct_chain(url: SignalUrl, options: SignalOptions) -> _Direct:
    """The server's chain taken without the proxy (ALPN h2 and http/1.1 offered, nothing verified): what an
    intercepting proxy's chain is compared with. (info, fingerprints, ALPN chosen, why not)"""
    direct = SignalTarget(url, ProxyChoice(None, ProxySource.NO_PROXY_OPTION))
    timeout = options.timeout
    path = await _open_path(direct, options)
    if path.stream is None:
        why = path.resolve.error or (path.connect.error if path.connect else None) or "no connection"
        return None, [], None, f"the server is not reachable directly from here ({why})"
    started = time.perf_counter()
    try:
        await path.stream.writer.start_tls(_tls_context(False, None, ("h2", ALPN_HTTP1)),
                                           server_hostname=_sni(url) or "", ssl_handshake_timeout=timeout)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        await path.stream.close()
        return None, [], None, f"a direct TLS handshake failed ({type(exc).__name__}: {exc})"
    ssl_object = path.stream.writer.get_extra_info("ssl_object")
    info = TlsInfo(address=path.connect.address or url.host if path.connect else url.host, port=url.port,
                   server_name=url.host, alpn_offered=["h2", ALPN_HTTP1])
    fingerprints = _fill_tls(info, ssl_object, _ms(started))
    await path.stream.close()
    return info, fingerprints, info.alpn_selected, None


# --- the WebSocket: upgrade, echo, message, idle -----------------------------------------------------------


def _request_headers(url: SignalUrl, options: SignalOptions, origin: str) -> tuple[bytes, list[str], str]:
    key = ws.new_key()
    raw = ws.upgrade_request(url.target, ws.host_header(url.host, url.port, url.default_port), key,
                             origin=origin, protocols=options.protocols,
                             headers=(("User-Agent", USER_AGENT), *options.headers))
    lines = raw.decode("utf-8", errors="replace").split("\r\n")
    return raw, [line for line in lines if line], ws.accept_for(key)


async def _upgrade(stream: _Stream, url: SignalUrl, options: SignalOptions, origin: str) -> UpgradeStep:
    raw, lines, accept = _request_headers(url, options, origin)
    step = UpgradeStep(request=lines, accept_expected=accept, origin=origin,
                       protocols_offered=list(options.protocols))
    started = time.perf_counter()
    try:
        stream.send(raw)
        head = await stream.read_head(options.timeout)
    except TimeoutError:
        step.failure, step.error = Failure.TIMEOUT, f"no answer to the upgrade within {options.timeout:g} s"
    except EOFError:
        step.failure, step.error = Failure.CLOSED, "the connection was closed without an answer"
    except ws.WebSocketError as exc:
        step.failure, step.error = Failure.NOT_HTTP, str(exc)
    except (OSError, ssl.SSLError) as exc:
        step.failure, step.error = _os_failure(exc)
    else:
        if head.status == 101:
            step.answer = _answer(head)
            step.accept_valid = head.get("sec-websocket-accept") == accept
            step.upgrade_header_ok = "websocket" in head.tokens("upgrade") and \
                "upgrade" in head.tokens("connection")
            step.protocol = head.get("sec-websocket-protocol")
            step.extensions = head.get("sec-websocket-extensions")
        else:
            step.answer = _answer(head, await stream.read_body(head, options.timeout))
            step.failure = Failure.STATUS
    step.duration_ms = _ms(started)
    return step


class _Socket:
    """The open WebSocket: frames out (masked), frames in (parsed, bounded), the server's pings answered."""

    def __init__(self, stream: _Stream, max_message: int) -> None:
        self.stream = stream
        self.parser = ws.FrameParser(max_message)
        self.pending: list[ws.Frame] = []
        self.server_pings = 0
        if stream.buffer:  # bytes that came right behind the 101's head
            self.pending += self.parser.feed(bytes(stream.buffer))
            stream.buffer.clear()

    def send(self, opcode: ws.Opcode, payload: bytes = b"") -> None:
        self.stream.send(ws.client_frame(opcode, payload))

    async def next(self, timeout: float) -> ws.Frame:
        """The next message or control frame (pings answered here and returned too); TimeoutError,
        EOFError (the peer closed), ws.WebSocketError (it broke RFC 6455)."""
        deadline = time.perf_counter() + timeout
        while not self.pending:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError
            data = await self.stream.read_some(left)
            if not data:
                raise EOFError
            self.pending += self.parser.feed(data)
        frame = self.pending.pop(0)
        if frame.opcode is ws.Opcode.PING:
            self.server_pings += 1
            self.send(ws.Opcode.PONG, frame.payload)  # RFC 6455 §5.5.3: the same application data
        return frame


def _closed_by(frame: ws.Frame, since: float) -> CloseSeen:
    close = ws.parse_close(frame.payload)
    return CloseSeen(code=close.code, reason=printable(close.reason[:MAX_SHOWN]), after_ms=_ms(since))


def _ended(exc: BaseException, since: float) -> CloseSeen:
    how = "reset" if isinstance(exc, ConnectionResetError | ssl.SSLError | OSError) else "eof"
    return CloseSeen(code=None, how=how, after_ms=_ms(since))


def _probe_message(size: int | None, seq: int) -> bytes:
    """A JSON text message (``{"type":"rtcdiag-probe",...}``, so that a JSON-parsing signalling server sees
    valid JSON) of exactly ``size`` bytes when that fits (None: the shortest)."""
    head = json.dumps({"type": "rtcdiag-probe", "seq": seq, "pad": ""}, separators=(",", ":"))
    if size is None or size == len(head):
        return head.encode()
    if size < len(head):
        return b"x" * size
    return (head[:-2] + "x" * (size - len(head)) + head[-2:]).encode()


def _other(step: EchoStep | None, payload: bytes) -> None:
    if step is None:
        return
    step.other_count += 1
    if len(step.other_messages) < MAX_OTHER_MESSAGES:
        step.other_messages.append(printable(payload[:MAX_SHOWN].decode("utf-8", errors="replace")))


def _grace(rtt_s: float, timeout: float) -> float:
    """How long to wait, after the last pong, for an echo that may follow it (a server answers pings at
    once but echoes from its handler): four round trips, at least 50 ms, at most the timeout."""
    return min(timeout, max(0.05, 4 * rtt_s))


async def _exchange(sock: _Socket, timeout: float, size: int) -> tuple[EchoStep, MessageStep | None]:
    """A small message + ping, and (``size`` > 0) a ``size``-byte message + ping, all in one write (each
    round trip through a proxy costs; the server handles the frames in order, so the first pong comes
    before the large message is read and its round trip is the path's). Then the frames that come back:
    the pongs, the echoes (an echo server), a close (after the first pong: the large message's doing)."""
    small = _probe_message(None, 1)
    echo = EchoStep(message_bytes=len(small))
    message = MessageStep(size=size) if size > 0 else None
    big = _probe_message(size, 2) if message is not None else b""
    ping1, ping2 = os.urandom(8), os.urandom(8)
    started = time.perf_counter()
    data = ws.client_frame(ws.Opcode.TEXT, small) + ws.client_frame(ws.Opcode.PING, ping1)
    if message is not None:
        data += ws.client_frame(ws.Opcode.TEXT, big) + ws.client_frame(ws.Opcode.PING, ping2)
        message.sent = True
    sock.stream.send(data)
    sent = time.perf_counter()
    pong1: float | None = None
    pong2: float | None = None
    grace_until: float | None = None
    current: EchoStep | MessageStep = echo

    def done() -> bool:
        if pong1 is None or (message is not None and pong2 is None):
            return False
        small_done = echo.echo is EchoState.ECHOED or (grace_until is not None and time.perf_counter() >=
                                                       grace_until)
        big_done = message is None or message.echoed_intact is not None or echo.echo is not EchoState.ECHOED
        return small_done and big_done

    try:
        while not done():
            wait = timeout
            if grace_until is not None and echo.echo is not EchoState.ECHOED:
                wait = grace_until - time.perf_counter()
                if wait <= 0:
                    break
            try:
                frame = await sock.next(wait)
            except TimeoutError:
                if grace_until is not None and echo.echo is not EchoState.ECHOED and \
                        (message is None or pong2 is not None):
                    break  # no echo within the grace: not an echo server
                raise
            now = time.perf_counter()
            if frame.opcode is ws.Opcode.PONG and frame.payload == ping1 and pong1 is None:
                pong1 = now
                echo.ping_rtt_ms = round((now - sent) * 1000.0, 3)
                current = message if message is not None else echo
                if message is None:
                    grace_until = now + _grace(now - sent, timeout)
            elif frame.opcode is ws.Opcode.PONG and frame.payload == ping2 and message is not None:
                pong2 = now
                grace_until = now + _grace(now - sent, timeout)
            elif frame.opcode is ws.Opcode.CLOSE:
                current.closed = _closed_by(frame, started)
                break
            elif frame.opcode in (ws.Opcode.TEXT, ws.Opcode.BINARY):
                if frame.payload == small and echo.echo is not EchoState.ECHOED:
                    echo.echo, echo.echo_rtt_ms = EchoState.ECHOED, round((now - sent) * 1000.0, 3)
                elif message is not None and len(frame.payload) >= min(size, 64) and \
                        frame.payload[:32] == big[:32]:
                    message.echoed_intact = frame.payload == big
                    message.echoed_size = len(frame.payload)
                else:
                    _other(echo, frame.payload)
    except TimeoutError:
        if pong1 is None:
            echo.failure, echo.error = Failure.TIMEOUT, f"no pong to a ping within {timeout:g} s"
        elif message is not None:
            message.failure = Failure.TIMEOUT
            message.error = f"no pong within {timeout:g} s after a {size}-byte message"
    except EOFError as exc:
        current.closed = _ended(exc, started)
    except ws.WebSocketError as exc:
        current.failure, current.error = Failure.PROTOCOL, str(exc)
    except (OSError, ssl.SSLError) as exc:
        current.closed = _ended(exc, started)
    if echo.echo is not EchoState.ECHOED:
        echo.echo = EchoState.OTHER if echo.other_count else EchoState.NONE
    echo.server_pings = sock.server_pings
    echo.duration_ms = round(((pong1 or time.perf_counter()) - started) * 1000.0, 2)
    if message is not None:
        message.accepted = pong2 is not None and message.closed is None
        message.duration_ms = _ms(started)
        if pong1 is None or echo.closed is not None or echo.failure is not None:
            message = None  # never got past the first message: nothing to say about the large one
    return echo, message


async def _idle(sock: _Socket, idle_s: float, timeout: float, other: EchoStep | None) -> IdleStep:
    step = IdleStep(asked_s=idle_s)
    started = time.perf_counter()
    pings_before = sock.server_pings
    try:
        while True:
            left = idle_s - (time.perf_counter() - started)
            if left <= 0:
                break
            try:
                frame = await sock.next(left)
            except TimeoutError:
                break
            if frame.opcode is ws.Opcode.PING:
                if step.first_server_ping_s is None:
                    step.first_server_ping_s = round(time.perf_counter() - started, 3)
            elif frame.opcode is ws.Opcode.CLOSE:
                step.closed = _closed_by(frame, started)
                break
            elif frame.opcode in (ws.Opcode.TEXT, ws.Opcode.BINARY):
                _other(other, frame.payload)
    except EOFError as exc:
        step.closed = _ended(exc, started)
    except ws.WebSocketError as exc:
        step.error = str(exc)
    except (OSError, ssl.SSLError) as exc:
        step.closed = _ended(exc, started)
    step.survived_s = round(time.perf_counter() - started, 3)
    step.server_pings = sock.server_pings - pings_before
    if step.closed is None and step.error is None:
        step.alive_after = await _ping_answered(sock, timeout)
    return step


async def _ping_answered(sock: _Socket, timeout: float) -> bool:
    ping = os.urandom(8)
    try:
        sock.send(ws.Opcode.PING, ping)
        while True:
            frame = await sock.next(timeout)
            if frame.opcode is ws.Opcode.PONG and frame.payload == ping:
                return True
            if frame.opcode is ws.Opcode.CLOSE:
                return False
    except (TimeoutError, EOFError, ws.WebSocketError, OSError, ssl.SSLError):
        return False


async def _close(sock: _Socket, timeout: float) -> bool:
    """RFC 6455 §7.1.2: send a close frame (1000) and wait a little for the server's."""
    try:
        sock.send(ws.Opcode.CLOSE, ws.close_payload(ws.CloseCode.NORMAL))
        while True:
            frame = await sock.next(min(timeout, 1.0))
            if frame.opcode is ws.Opcode.CLOSE:
                return True
    except EOFError:
        return True
    except (TimeoutError, ws.WebSocketError, OSError, ssl.SSLError):
        return False


# --- one URL, every URL ---------------------------------------------------------------------------------


async def probe_url(target: SignalTarget, options: SignalOptions) -> UrlResult:
    """Every step for one URL; never raises for network problems (a step records them)."""
    url, choice = target.url, target.proxy
    origin = options.origin or default_origin(url)
    result = UrlResult(url=url.display, scheme=url.scheme, host=url.host, port=url.port,
                       proxy=choice.proxy.display if choice.proxy else None,
                       proxy_host=choice.proxy.host if choice.proxy else None,
                       proxy_port=choice.proxy.port if choice.proxy else None,
                       proxy_source=choice.source.value,
                       proxy_variable=choice.variable, token_params=list(url.token_params),
                       origin_sent=origin, origin_given=options.origin is not None)
    started = time.perf_counter()
    direct: asyncio.Task[_Direct] | None = None
    if choice.proxy is not None and url.secure and options.compare_direct:
        direct = asyncio.ensure_future(_direct_chain(url, options))
    stream: _Stream | None = None
    try:
        path = await _open_path(target, options)
        result.resolve, result.connect, result.proxy_step = path.resolve, path.connect, path.proxy
        if path.proxy is not None and path.proxy.failure is Failure.STATUS and options.try_port and \
                options.try_port != url.port:
            path.proxy.port_probe = await _port_probe(target, options, options.try_port,
                                                      path.resolve.addresses)
        stream = path.stream
        if stream is not None and url.secure:
            result.tls, stream = await _tls(path, target, options)
        if direct is not None and result.tls is not None:
            tls = result.tls
            tls.direct, tls.direct_fingerprints, tls.direct_alpn, tls.direct_error = await direct
            direct = None
        if stream is not None:
            result.upgrade = await _upgrade(stream, url, options, origin)
            if result.upgrade.opened:
                await _websocket(result, stream, options)
                if options.foreign_origin is not None and result.resolve is not None:
                    result.foreign_origin = await _foreign_origin(target, options, options.foreign_origin,
                                                                  result.resolve.addresses)
    finally:
        if direct is not None:
            direct.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await direct
        if stream is not None:
            await stream.close()
    result.duration_ms = _ms(started)
    return result


async def _websocket(result: UrlResult, stream: _Stream, options: SignalOptions) -> None:
    max_message = max(2 * options.message_size, 1024 * 1024)
    try:
        sock = _Socket(stream, max_message)
    except ws.WebSocketError as exc:
        result.echo = EchoStep(failure=Failure.PROTOCOL, error=str(exc))
        return
    result.echo, result.message = await _exchange(sock, options.timeout, options.message_size)
    if result.echo.closed is not None or result.echo.failure is not None:
        return
    message = result.message
    if message is not None and (message.closed is not None or message.failure is not None):
        return
    if options.idle_s:
        result.idle = await _idle(sock, options.idle_s, options.timeout, result.echo)
        if result.idle.closed is not None or not result.idle.alive_after:
            return
    result.closed_cleanly = await _close(sock, options.timeout)


async def _foreign_origin(target: SignalTarget, options: SignalOptions, origin: str, addresses: list[str],
                          ) -> ForeignOriginStep:
    """The same handshake with ``origin`` on a new connection (then closed): does the server check Origin
    (RFC 6455 §10.2)?"""
    url = target.url
    step = ForeignOriginStep(origin=origin)
    started = time.perf_counter()
    path = await _open_path(target, options, addresses=addresses)
    if path.stream is None:
        step.error = "no second connection"
        return step
    stream = path.stream
    try:
        if url.secure:
            ssl_object, _ms_taken, exc = await _start_tls(stream, url, not options.insecure, options)
            if ssl_object is None:
                step.error = f"TLS: {exc}"
                return step
        up = await _upgrade(stream, url, options, origin)
        if up.answer is not None:
            step.status, step.reason = up.answer.status, up.answer.reason
            if up.opened:
                stream.send(ws.client_frame(ws.Opcode.CLOSE, ws.close_payload(ws.CloseCode.NORMAL)))
        else:
            step.error = up.error
    finally:
        await stream.close()
        step.duration_ms = _ms(started)
    return step


async def _port_probe(target: SignalTarget, options: SignalOptions, port: int, addresses: list[str],
                      ) -> PortProbe:
    """``--try-port``: ask the same proxy for a tunnel to the same host on ``port`` (no TLS, no data)."""
    proxy = target.proxy.proxy
    assert proxy is not None
    probe = PortProbe(port=port)
    started = time.perf_counter()
    step, stream = await _connect(proxy.host, proxy.port, addresses, options.timeout, True)
    if stream is None:
        probe.error = step.error
        return probe
    try:
        head, _body, _failure, error, _ms_taken = await _tunnel(stream, proxy, target.url.host, port,
                                                               options.timeout)
        probe.error = error
        if head is not None:
            probe.status, probe.reason = head.status, printable(head.reason)
    finally:
        await stream.close()
    probe.duration_ms = _ms(started)
    return probe


async def _guarded(target: SignalTarget, options: SignalOptions) -> UrlResult:
    """:func:`probe_url` in a slot; a bug in one URL's probe is recorded on it (``internal_error``) and the
    other URLs are still probed and reported (RTCDIAG_DEBUG=1 lets it raise)."""
    try:
        return await slots.limited(PROBE_CONNECTION_FDS, probe_url, target, options)
    except Exception as exc:
        if os.environ.get("RTCDIAG_DEBUG"):
            raise
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else ""
        url = target.url
        return UrlResult(url=url.display, scheme=url.scheme, host=url.host, port=url.port,
                         internal_error=f"{type(exc).__name__}{where}: {exc}"[:300])


async def check(targets: list[SignalTarget], options: SignalOptions) -> SignalResult:
    """Probe every URL concurrently; a Ctrl-C reports the URLs that had finished."""
    started = time.perf_counter()
    result = SignalResult(timeout_s=options.timeout, insecure=options.insecure)
    result.urls = await interrupt.finished([_guarded(t, options) for t in targets],
                                           [f"signal {t.url.display}" for t in targets])
    result.duration_ms = _ms(started)
    return result

"""The signalling probe's path to a WebSocket server: resolve, connect over TCP, ``CONNECT`` through a proxy
(RFC 9110 §9.3.6), TLS (verifying; the chain taken again without verification when it fails, and directly,
without the proxy, to compare). Each stage returns its typed step (rtcdiag.probes.signal_result)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from rtcdiag.addresses import parse_ip
from rtcdiag.probes.signal_result import (
    ALPN_HTTP1,
    MAX_ADDRESSES,
    MAX_BODY,
    MAX_CONNECT_ATTEMPTS,
    READ_CHUNK,
    USER_AGENT,
    ConnectStep,
    Failure,
    HttpAnswer,
    ProxyStep,
    ResolveStep,
    SignalOptions,
    SignalTarget,
    TlsStep,
)
from rtcdiag.probes.signal_url import Proxy, ProxyChoice, ProxySource, SignalUrl
from rtcdiag.probes.tls_info import CertInfo, TlsInfo, cert_from_info, hostname_matches
from rtcdiag.protocol import websocket as ws
from rtcdiag.textsafe import printable
from rtcdiag.tls import shared_context

# --- helpers ------------------------------------------------------------------------------------------


def ms_since(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 2)


def os_failure(exc: BaseException) -> tuple[Failure, str]:
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


class Connection:
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


def http_answer(head: ws.ResponseHead, body: bytes = b"") -> HttpAnswer:
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
    step.duration_ms = ms_since(started)
    return step


async def connect(host: str, port: int, addresses: list[str], timeout: float, via_proxy: bool,
                   ) -> tuple[ConnectStep, Connection | None]:
    step = ConnectStep(host=host, port=port, via_proxy=via_proxy)
    started = time.perf_counter()
    for address in addresses[:MAX_CONNECT_ATTEMPTS]:
        step.address = address
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port, limit=READ_CHUNK),
                                                    timeout)
        except (OSError, TimeoutError) as exc:
            step.failure, step.error = os_failure(exc)
            if step.failure is Failure.TIMEOUT:
                step.error = f"no answer to TCP SYN within {timeout:g} s"
            step.attempts.append(f"{address}: {step.error}")
            continue
        step.failure = step.error = None
        step.attempts.append(f"{address}: connected")
        step.duration_ms = ms_since(started)
        return step, Connection(reader, writer)
    step.duration_ms = ms_since(started)
    return step, None


async def tunnel(stream: Connection, proxy: Proxy, host: str, port: int, timeout: float,
                  ) -> tuple[ws.ResponseHead | None, bytes, Failure | None, str | None, float]:
    """``CONNECT host:port`` on ``stream``: the proxy's head (and body when it refused), or the failure."""
    started = time.perf_counter()
    stream.send(ws.connect_request(host, port, authorization=proxy.authorization, user_agent=USER_AGENT))
    try:
        head = await stream.read_head(timeout)
    except TimeoutError:
        return None, b"", Failure.TIMEOUT, f"no answer to CONNECT within {timeout:g} s", ms_since(started)
    except EOFError:
        return (None, b"", Failure.CLOSED, "the proxy closed the connection without answering",
                ms_since(started))
    except ws.WebSocketError as exc:
        return None, b"", Failure.NOT_HTTP, str(exc), ms_since(started)
    except OSError as exc:
        failure, text = os_failure(exc)
        return None, b"", failure, text, ms_since(started)
    body = b""
    if not 200 <= head.status < 300:
        body = await stream.read_body(head, timeout)
    return head, body, (None if 200 <= head.status < 300 else Failure.STATUS), None, ms_since(started)


@dataclass
class OpenedPath:
    stream: Connection | None
    resolve: ResolveStep
    connect: ConnectStep | None = None
    proxy: ProxyStep | None = None


async def open_path(target: SignalTarget, options: SignalOptions, addresses: list[str] | None = None,
                     ) -> OpenedPath:
    """Resolve (unless ``addresses``), connect and, through a proxy, CONNECT: the stream up to TLS."""
    url, proxy = target.url, target.proxy.proxy
    host, port = (proxy.host, proxy.port) if proxy is not None else (url.host, url.port)
    if addresses is None:
        resolved = await _resolve(host, port, options.timeout)
    else:
        resolved = ResolveStep(host=host, addresses=addresses)
    path = OpenedPath(stream=None, resolve=resolved)
    if resolved.error is not None:
        return path
    path.connect, stream = await connect(host, port, resolved.addresses, options.timeout, proxy is not None)
    if stream is None:
        return path
    if proxy is not None:
        step = ProxyStep(proxy=proxy.display, request=f"CONNECT {ws.host_header(url.host, url.port, -1)} "
                                                      "HTTP/1.1")
        path.proxy = step
        head, body, step.failure, step.error, step.duration_ms = await tunnel(stream, proxy, url.host,
                                                                               url.port, options.timeout)
        if head is not None:
            step.answer = http_answer(head, body)
        if step.failure is not None:
            await stream.close()
            return path
    path.stream = stream
    return path


async def start_tls(stream: Connection, url: SignalUrl, verify: bool, options: SignalOptions,
                     ) -> tuple[ssl.SSLObject | None, float, BaseException | None]:
    started = time.perf_counter()
    context = _tls_context(verify, options.ca_file, (ALPN_HTTP1,))
    try:
        await stream.writer.start_tls(context, server_hostname=_sni(url) or "",
                                      ssl_handshake_timeout=options.timeout)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return None, ms_since(started), exc
    ssl_object = stream.writer.get_extra_info("ssl_object")
    return ssl_object, ms_since(started), None


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


async def tls_step(path: OpenedPath, target: SignalTarget, options: SignalOptions,
                   ) -> tuple[TlsStep, Connection | None]:
    """The TLS handshake inside the tunnel (or straight to the server), verifying; when verification fails,
    a second connection takes the chain without it (shown in the report; used with --insecure)."""
    url = target.url
    assert path.stream is not None
    address = path.connect.address if path.connect and target.proxy.proxy is None else None
    info = TlsInfo(address=address or url.host, port=url.port, server_name=url.host,
                   verification_off=options.insecure, alpn_offered=[ALPN_HTTP1])
    step = TlsStep(info=info)
    started = time.perf_counter()
    ssl_object, ms, exc = await start_tls(path.stream, url, True, options)
    if ssl_object is not None:
        info.trusted = True
        step.fingerprints = _fill_tls(info, ssl_object, ms)
        step.duration_ms = ms_since(started)
        return step, path.stream
    await path.stream.close()
    if not isinstance(exc, ssl.SSLCertVerificationError):
        step.failure = _tls_failure(info, exc) if exc is not None else Failure.TLS
        step.duration_ms = ms_since(started)
        return step, None
    info.trusted = False
    info.verify_code = exc.verify_code
    info.verify_error = exc.verify_message or str(exc)
    step.unverified_retry = True
    again = await open_path(target, options, addresses=path.resolve.addresses)
    if again.stream is None:
        info.error = "the second connection (to show the chain) failed"
        step.failure = Failure.TLS
        step.duration_ms = ms_since(started)
        return step, None
    ssl_object, ms, exc2 = await start_tls(again.stream, url, False, options)
    if ssl_object is None:
        step.failure = _tls_failure(info, exc2) if exc2 is not None else Failure.TLS
        await again.stream.close()
        step.duration_ms = ms_since(started)
        return step, None
    step.fingerprints = _fill_tls(info, ssl_object, ms)
    step.duration_ms = ms_since(started)
    if options.insecure:
        return step, again.stream  # --insecure: go on past the certificate (problems become warnings)
    await again.stream.close()
    step.failure = Failure.TLS  # a browser stops here
    return step, None


DirectChain = tuple[TlsInfo | None, list[str], str | None, str | None]


async def direct_chain(url: SignalUrl, options: SignalOptions) -> DirectChain:
    """The server's chain taken without the proxy (ALPN h2 and http/1.1 offered, nothing verified): what an
    intercepting proxy's chain is compared with. (info, fingerprints, ALPN chosen, why not)"""
    direct = SignalTarget(url, ProxyChoice(None, ProxySource.NO_PROXY_OPTION))
    timeout = options.timeout
    path = await open_path(direct, options)
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
    fingerprints = _fill_tls(info, ssl_object, ms_since(started))
    await path.stream.close()
    return info, fingerprints, info.alpn_selected, None

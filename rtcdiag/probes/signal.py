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
import os
import time

from rtcdiag import interrupt
from rtcdiag.probes import slots
from rtcdiag.probes.signal_path import (
    Connection,
    DirectChain,
    connect,
    direct_chain,
    ms_since,
    open_path,
    start_tls,
    tls_step,
    tunnel,
)
from rtcdiag.probes.signal_result import (
    DEFAULT_MESSAGE_SIZE,
    DEFAULT_TIMEOUT_S,
    MAX_MESSAGE_SIZE,
    PROBE_CONNECTION_FDS,
    CloseSeen,
    ConnectStep,
    EchoState,
    EchoStep,
    Failure,
    ForeignOriginStep,
    HttpAnswer,
    IdleStep,
    MessageStep,
    PortProbe,
    ProxyStep,
    ResolveStep,
    SignalOptions,
    SignalResult,
    SignalTarget,
    TlsStep,
    UpgradeStep,
    UrlResult,
)
from rtcdiag.probes.signal_url import default_origin
from rtcdiag.probes.signal_websocket import OpenWebSocket, close_socket, exchange_messages, idle, upgrade
from rtcdiag.protocol import websocket as ws
from rtcdiag.textsafe import printable

# The probe's public face: its options and result types live in signal_result, the path (resolve, connect,
# CONNECT, TLS) in signal_path, the WebSocket steps in signal_websocket.
__all__ = ["DEFAULT_MESSAGE_SIZE", "DEFAULT_TIMEOUT_S", "MAX_MESSAGE_SIZE", "CloseSeen", "ConnectStep",
           "EchoState", "EchoStep", "Failure", "ForeignOriginStep", "HttpAnswer", "IdleStep", "MessageStep",
           "PortProbe", "ProxyStep", "ResolveStep", "SignalOptions", "SignalResult", "SignalTarget",
           "TlsStep", "UpgradeStep", "UrlResult", "check", "probe_url"]


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
    direct: asyncio.Task[DirectChain] | None = None
    if choice.proxy is not None and url.secure and options.compare_direct:
        direct = asyncio.ensure_future(direct_chain(url, options))
    stream: Connection | None = None
    try:
        path = await open_path(target, options)
        result.resolve, result.connect, result.proxy_step = path.resolve, path.connect, path.proxy
        if path.proxy is not None and path.proxy.failure is Failure.STATUS and options.try_port and \
                options.try_port != url.port:
            path.proxy.port_probe = await _port_probe(target, options, options.try_port,
                                                      path.resolve.addresses)
        stream = path.stream
        if stream is not None and url.secure:
            result.tls, stream = await tls_step(path, target, options)
        if direct is not None and result.tls is not None:
            tls = result.tls
            tls.direct, tls.direct_fingerprints, tls.direct_alpn, tls.direct_error = await direct
            direct = None
        if stream is not None:
            result.upgrade = await upgrade(stream, url, options, origin)
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
    result.duration_ms = ms_since(started)
    return result


async def _websocket(result: UrlResult, stream: Connection, options: SignalOptions) -> None:
    max_message = max(2 * options.message_size, 1024 * 1024)
    try:
        sock = OpenWebSocket(stream, max_message)
    except ws.WebSocketError as exc:
        result.echo = EchoStep(failure=Failure.PROTOCOL, error=str(exc))
        return
    result.echo, result.message = await exchange_messages(sock, options.timeout, options.message_size)
    if result.echo.closed is not None or result.echo.failure is not None:
        return
    message = result.message
    if message is not None and (message.closed is not None or message.failure is not None):
        return
    if options.idle_s:
        result.idle = await idle(sock, options.idle_s, options.timeout, result.echo)
        if result.idle.closed is not None or not result.idle.alive_after:
            return
    result.closed_cleanly = await close_socket(sock, options.timeout)


async def _foreign_origin(target: SignalTarget, options: SignalOptions, origin: str, addresses: list[str],
                          ) -> ForeignOriginStep:
    """The same handshake with ``origin`` on a new connection (then closed): does the server check Origin
    (RFC 6455 §10.2)?"""
    url = target.url
    step = ForeignOriginStep(origin=origin)
    started = time.perf_counter()
    path = await open_path(target, options, addresses=addresses)
    if path.stream is None:
        step.error = "no second connection"
        return step
    stream = path.stream
    try:
        if url.secure:
            ssl_object, _ms_taken, exc = await start_tls(stream, url, not options.insecure, options)
            if ssl_object is None:
                step.error = f"TLS: {exc}"
                return step
        up = await upgrade(stream, url, options, origin)
        if up.answer is not None:
            step.status, step.reason = up.answer.status, up.answer.reason
            if up.opened:
                stream.send(ws.client_frame(ws.Opcode.CLOSE, ws.close_payload(ws.CloseCode.NORMAL)))
        else:
            step.error = up.error
    finally:
        await stream.close()
        step.duration_ms = ms_since(started)
    return step


async def _port_probe(target: SignalTarget, options: SignalOptions, port: int, addresses: list[str],
                      ) -> PortProbe:
    """``--try-port``: ask the same proxy for a tunnel to the same host on ``port`` (no TLS, no data)."""
    proxy = target.proxy.proxy
    assert proxy is not None
    probe = PortProbe(port=port)
    started = time.perf_counter()
    step, stream = await connect(proxy.host, proxy.port, addresses, options.timeout, True)
    if stream is None:
        probe.error = step.error
        return probe
    try:
        head, _body, _failure, error, _ms_taken = await tunnel(stream, proxy, target.url.host, port,
                                                               options.timeout)
        probe.error = error
        if head is not None:
            probe.status, probe.reason = head.status, printable(head.reason)
    finally:
        await stream.close()
    probe.duration_ms = ms_since(started)
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
    result.duration_ms = ms_since(started)
    return result

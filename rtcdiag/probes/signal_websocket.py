"""The signalling probe's WebSocket (RFC 6455): the opening handshake, then on the open connection one small
message and ping, one large message, an idle period answering the server's pings, and the closing
handshake; each recorded as its typed step (rtcdiag.probes.signal_result)."""

from __future__ import annotations

import json
import os
import ssl
import time

from rtcdiag.probes.signal_path import Connection, http_answer, ms_since, os_failure
from rtcdiag.probes.signal_result import (
    MAX_OTHER_MESSAGES,
    MAX_SHOWN,
    USER_AGENT,
    CloseSeen,
    EchoState,
    EchoStep,
    Failure,
    IdleStep,
    MessageStep,
    SignalOptions,
    UpgradeStep,
)
from rtcdiag.probes.signal_url import SignalUrl
from rtcdiag.protocol import websocket as ws
from rtcdiag.textsafe import printable

# --- the WebSocket: upgrade, echo, message, idle -----------------------------------------------------------


def _request_headers(url: SignalUrl, options: SignalOptions, origin: str) -> tuple[bytes, list[str], str]:
    key = ws.new_key()
    raw = ws.upgrade_request(url.target, ws.host_header(url.host, url.port, url.default_port), key,
                             origin=origin, protocols=options.protocols,
                             headers=(("User-Agent", USER_AGENT), *options.headers))
    lines = raw.decode("utf-8", errors="replace").split("\r\n")
    return raw, [line for line in lines if line], ws.accept_for(key)


async def upgrade(stream: Connection, url: SignalUrl, options: SignalOptions, origin: str) -> UpgradeStep:
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
        step.failure, step.error = os_failure(exc)
    else:
        if head.status == 101:
            step.answer = http_answer(head)
            step.accept_valid = head.get("sec-websocket-accept") == accept
            step.upgrade_header_ok = "websocket" in head.tokens("upgrade") and \
                "upgrade" in head.tokens("connection")
            step.protocol = head.get("sec-websocket-protocol")
            step.extensions = head.get("sec-websocket-extensions")
        else:
            step.answer = http_answer(head, await stream.read_body(head, options.timeout))
            step.failure = Failure.STATUS
    step.duration_ms = ms_since(started)
    return step


class OpenWebSocket:
    """The open WebSocket: frames out (masked), frames in (parsed, bounded), the server's pings answered."""

    def __init__(self, stream: Connection, max_message: int) -> None:
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
    return CloseSeen(code=close.code, reason=printable(close.reason[:MAX_SHOWN]), after_ms=ms_since(since))


def _ended(exc: BaseException, since: float) -> CloseSeen:
    how = "reset" if isinstance(exc, ConnectionResetError | ssl.SSLError | OSError) else "eof"
    return CloseSeen(code=None, how=how, after_ms=ms_since(since))


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


async def exchange_messages(sock: OpenWebSocket, timeout: float, size: int,
                            ) -> tuple[EchoStep, MessageStep | None]:
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
        message.duration_ms = ms_since(started)
        if pong1 is None or echo.closed is not None or echo.failure is not None:
            message = None  # never got past the first message: nothing to say about the large one
    return echo, message


async def idle(sock: OpenWebSocket, idle_s: float, timeout: float, other: EchoStep | None) -> IdleStep:
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


async def _ping_answered(sock: OpenWebSocket, timeout: float) -> bool:
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


async def close_socket(sock: OpenWebSocket, timeout: float) -> bool:
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

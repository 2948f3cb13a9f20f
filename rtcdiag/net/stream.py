"""``StreamClient``: STUN/TURN over one TCP or TLS connection (RFC 8489 §6.2.2): one send per request, wait
Ti; frames cut by their length field, ChannelData padded to 4 bytes (RFC 8656 §12.5). Frames are capped by
their 16-bit length fields (``framing.MAX_STUN_FRAME``, ``framing.MAX_CHANNEL_FRAME``); a reply dripping in
when Ti runs out is a ``SlowReplyError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import termios
from fcntl import ioctl as fcntl_ioctl

from rtcdiag.net import kernel
from rtcdiag.net.errors import (
    ClosedError,
    ConnectTimeoutError,
    NetworkError,
    SlowReplyError,
    StreamFramingError,
    TlsError,
    TlsStallError,
    TransportError,
    os_error,
)
from rtcdiag.net.sockaddr import normalize
from rtcdiag.protocol import framing
from rtcdiag.protocol.transaction import (
    Address,
    RetransmitPolicy,
    TransactionEndpoint,
    TransactionResult,
    Validator,
)
from rtcdiag.tls import TlsFailure, classify_ssl_error

_I32 = struct.Struct("=i")  # FIONREAD's int

_SLOW_FRAME_SHARE = 0.5  # a frame still incomplete after this share of Ti is a slow (slowloris) reply
_STREAM_READ_LIMIT = 1 << 16  # asyncio StreamReader buffer high-water mark (reads pause beyond 2x this)


class StreamClient(TransactionEndpoint):
    """A TCP or TLS connection carrying STUN/TURN messages and ChannelData (RFC 8489 §6.2.2)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Address, tls: bool,
                 loop: asyncio.AbstractEventLoop, policy: RetransmitPolicy) -> None:
        super().__init__(loop, policy)
        self.transport = "tls" if tls else "tcp"
        self.peer = peer
        self._reader = reader
        self._writer = writer
        self._deframer = framing.StreamDeframer(allow_channel_data=False)
        self._partial: tuple[int, float] | None = None  # (frames before it, when) of the frame coming in
        self._local = normalize(writer.get_extra_info("sockname"))
        self._error: TransportError | None = None
        self._read_at: float | None = None  # when the latest bytes were read from the socket
        self._stamp_reads(writer)
        self._task = loop.create_task(self._read_loop())

    def _stamp_reads(self, writer: asyncio.StreamWriter) -> None:
        """Note the arrival time in the callback that reads the socket (for TLS: that decrypts the record),
        not when the read task gets round to the bytes: the event loop may run other work in between."""
        protocol = writer.transport.get_protocol()
        received = getattr(protocol, "data_received", None)
        if not callable(received):
            return

        def data_received(data: bytes) -> None:
            self._read_at = self._arrival()
            received(data)

        setattr(protocol, "data_received", data_received)  # noqa: B010 (an attribute BaseProtocol lacks)

    @classmethod
    async def connect(cls, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                      server_hostname: str | None = None, timeout: float = 5.0,
                      local_host: str | None = None, local_port: int = 0,
                      policy: RetransmitPolicy | None = None) -> StreamClient:
        """Connect (and TLS handshake) within ``timeout`` seconds; typed TransportErrors otherwise."""
        loop = asyncio.get_running_loop()
        peer = normalize((host, port))
        local = (local_host or ("::" if ":" in host else "0.0.0.0"), local_port) \
            if (local_host or local_port) else None
        tls_name = (server_hostname or host) if ssl_context is not None else None
        started = loop.time()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=local, limit=_STREAM_READ_LIMIT), timeout)
        except TimeoutError:
            raise ConnectTimeoutError(f"TCP connect to {host} port {port} timed out after {timeout:.1f} s",
                                      peer) from None
        except OSError as err:
            raise os_error(err, peer) from err
        if ssl_context is not None:
            # The handshake apart from the TCP connect: an accepted connection whose TLS never completes is
            # its own failure (TlsStallError), not "unreachable".
            left = max(timeout - (loop.time() - started), 0.001)
            try:
                await asyncio.wait_for(writer.start_tls(ssl_context, server_hostname=tls_name,
                                                        ssl_handshake_timeout=left), left)
            except TimeoutError:
                writer.transport.abort()
                raise TlsStallError(f"TCP connection to {host} port {port} accepted, but the TLS handshake "
                                    f"did not complete within {timeout:.1f} s", peer) from None
            except ssl.SSLError as err:
                writer.transport.abort()
                reason, detail = classify_ssl_error(err)
                raise TlsError(f"{detail} ({host} port {port})", reason, peer) from err
            except OSError as err:
                writer.transport.abort()
                raise os_error(err, peer) from err
        return cls(reader, writer, peer, ssl_context is not None, loop, policy or RetransmitPolicy())

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS session of a TLS connection (the certificate the server presented), else None."""
        obj = self._writer.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    @property
    def local_address(self) -> Address:
        return self._local

    def _closed_error(self, dest: Address | None) -> Exception:
        return ClosedError("client is closed", dest)

    def tls_info(self) -> dict[str, str | None]:
        """Negotiated TLS version, cipher and ALPN protocol (empty for plain TCP)."""
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return {}
        cipher = ssl_object.cipher()
        return {"version": ssl_object.version(), "cipher": cipher[0] if cipher else None,
                "alpn": ssl_object.selected_alpn_protocol()}

    def peer_certificate(self) -> bytes | None:
        """The server's leaf certificate (DER), if TLS."""
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        cert: bytes | None = ssl_object.getpeercert(binary_form=True)
        return cert

    async def request(self, data: bytes, dest: Address | None = None, *, txid: bytes | None = None,
                      validate: Validator | None = None, policy: RetransmitPolicy | None = None,
                      count_copies: bool = False) -> TransactionResult:
        """Send once and wait up to Ti for the matching valid response (no retransmission on streams, so
        ``count_copies`` has nothing to count)."""
        if self._error is not None:
            raise self._error
        policy = policy or self.policy
        pending = self._register(txid or data[8:20], self.peer, validate)
        sends: list[float] = []
        try:
            sent_at = await self._write(data)
            sends.append(sent_at - pending.started)
            await asyncio.wait([pending.future], timeout=policy.ti)
            partial = self._partial
            if not pending.future.done() and partial is not None and \
                    self._loop.time() - partial[1] >= policy.ti * _SLOW_FRAME_SHARE and \
                    not self._rest_arrived():
                # Ti ran out while one frame had been coming in for most of it: bytes dripping in (slowloris),
                # not silence (a flood's frames each complete in moments).
                size = self._deframer.expected
                of = f" of a {size}-byte message" if size else ""
                raise SlowReplyError(f"{self.peer[0]} port {self.peer[1]} was still sending when the "
                                     f"{policy.ti:.1f} s ran out: {self._deframer.pending} bytes{of} had "
                                     f"arrived", self.peer)
        finally:
            self._finish(pending)
        return self._result(pending, self.peer, sends)

    async def send(self, data: bytes, dest: Address | None = None) -> None:
        """Send once, no transaction (indications, ChannelData padded to 4 bytes)."""
        if self._error is not None:
            raise self._error
        await self._write(framing.pad_for_stream(data))

    def _rest_arrived(self) -> bool:
        """Whether the rest of the frame coming in already reached this machine, unread: then it is rtcdiag
        that is behind (a busy event loop, say a flood's frames to parse on a loaded machine), not the peer
        that is slow. Counts the kernel's receive queue (FIONREAD, tcp(7) SIOCINQ; for TLS the records,
        at least as long as what they carry) and the stream reader's buffer."""
        size = self._deframer.expected
        needed = size - self._deframer.pending if size else 1
        unread = len(getattr(self._reader, "_buffer", b""))
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                unread += _I32.unpack(fcntl_ioctl(sock.fileno(), termios.FIONREAD, bytes(4)))[0]
        return unread >= max(needed, 1)

    async def _write(self, data: bytes) -> float:
        """Hand ``data`` to the kernel; return when that happened (the send time RTTs are measured from,
        taken before any wait for a full buffer, so the reply can never seem to come before the request)."""
        if self.closed:
            raise ClosedError("client is closed", self.peer)
        if framing.is_channel_bind_request(data):
            self._deframer.allow_channel_data = True  # the server may now send ChannelData (RFC 8656 §12)
            self._note_channel_bind(data, self.peer)
        try:
            sent_at = self._loop.time()  # before the write: the reply can arrive before write() returns
            self._writer.write(data)
            if self._writer.transport.get_write_buffer_size():
                # A peer that never reads would block drain() forever once the buffers are full.
                await asyncio.wait_for(self._writer.drain(), max(self.policy.ti, 1.0))
        except TimeoutError:
            raise NetworkError(f"{self.peer[0]} port {self.peer[1]} does not read what is sent "
                               f"(send blocked)", self.peer) from None
        except OSError as err:
            raise os_error(err, self.peer) from err
        return sent_at

    async def _read_loop(self) -> None:
        error: TransportError
        try:
            while True:
                chunk = await self._reader.read(65536)
                if not chunk:
                    error = self._eof_error()
                    break
                arrived = self._read_at if self._read_at is not None else self._arrival()
                for frame in self._deframer.feed(chunk):
                    self._dispatch(frame, self.peer, arrived)
                if not self._deframer.pending:
                    self._partial = None
                elif self._partial is None or self._partial[0] != self._deframer.frames:
                    self._partial = (self._deframer.frames, arrived)  # a new frame started arriving
                if self._deframer.error is not None:  # after the complete frames before it
                    raise self._deframer.error
        except framing.FramingError as err:
            error = StreamFramingError(f"malformed stream from {self.peer[0]} port {self.peer[1]}: {err}",
                                       self.peer)
        except ssl.SSLError as err:
            error = TlsError(classify_ssl_error(err)[1], TlsFailure.HANDSHAKE, self.peer)
        except OSError as err:
            error = os_error(err, self.peer)
        self._error = error
        self._fail(error)

    def _arrival(self) -> float:
        """When the last data reached the kernel, on the loop's clock (rtcdiag.net.kernel.stream_arrival)."""
        return kernel.stream_arrival(self._writer.get_extra_info("socket"), self._loop.time())

    def _eof_error(self) -> ClosedError:
        where = f"{self.peer[0]} port {self.peer[1]}"
        if self._deframer.pending:
            return ClosedError(f"connection closed by {where} in the middle of a message "
                               f"({self._deframer.pending} bytes of an incomplete frame)", self.peer)
        return ClosedError(f"connection closed by {where}", self.peer)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._fail(ClosedError("client closed", self.peer))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)

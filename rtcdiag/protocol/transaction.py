"""STUN client transactions (RFC 8489 §6.2, §6.3): timers, matching replies to requests, what a transaction
recorded. No sockets: a :class:`TransactionEndpoint` talks to a sender (its subclasses in ``rtcdiag.net``
implement ``_send_datagram`` and ``_read_waiting``) and is fed what arrives through ``_dispatch``, so the
retransmission schedule and the matching rules can be tested without a network.

Responses are matched by transaction id (bytes 8..20 of the header), never by source. A reply that fails
framing or the caller's ``validate`` check (FINGERPRINT, MESSAGE-INTEGRITY) is recorded as rejected and the
transaction keeps waiting. Everything else (indications, ChannelData, requests from peers, stray bytes from
unknown sources) goes to ``endpoint.queue``. Timing uses the event loop's monotonic clock.

A server may talk forever; nothing it sends can grow memory without bound:
- rejected replies are counted (``rejected_count``), only the first ``MAX_KEPT_REJECTED`` are kept;
- ``endpoint.queue`` (an :class:`Inbox`) holds at most ``INBOX_MAX_MESSAGES`` messages and ``INBOX_MAX_BYTES``
  bytes; what does not fit is dropped and counted (``queue.dropped``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

from rtcdiag.protocol import framing

Address = tuple[str, int]
Validator = Callable[[bytes], str | None]  # returns None if the reply is acceptable, else why not

MAX_KEPT_REJECTED = 5  # rejected replies kept per transaction (all are counted)
COPY_MARGIN_S = 0.010  # scheduling slack on top of the round trip when waiting for answers to retransmissions
INBOX_MAX_MESSAGES = 1024  # unsolicited messages waiting in endpoint.queue
INBOX_MAX_BYTES = 2 * 1024 * 1024  # and their total size
_RECENT_TXIDS = 256
_MAX_REASON = 300  # characters of one rejection reason kept (a reason may quote a server's reason phrase)


@dataclass(frozen=True)
class RetransmitPolicy:
    """RFC 8489 §6.2.1 (UDP) and §6.2.2 (TCP/TLS) timers. ``scaled(f)`` stretches or shrinks all of them."""

    rto: float = 0.5  # initial retransmission timeout, seconds
    rc: int = 7  # requests sent in total (1 + 6 retransmissions)
    rm: float = 16  # after the last request, wait rm * rto
    ti: float = 39.5  # stream transaction timeout, seconds

    def scaled(self, factor: float) -> RetransmitPolicy:
        return replace(self, rto=self.rto * factor, ti=self.ti * factor)

    def within(self, total_s: float) -> RetransmitPolicy:
        """The same timers, cut so that a whole transaction ends within ``total_s``: sends that would start
        later are left out and the wait after the last one ends at ``total_s`` (over TCP/TLS: Ti at most
        ``total_s``). Itself when it already fits."""
        total_s = max(total_s, 0.001)
        if self.udp_total <= total_s and self.ti <= total_s:
            return self
        offsets = [offset for offset in self.send_offsets() if offset < total_s]
        return replace(self, rc=len(offsets), rm=(total_s - offsets[-1]) / self.rto, ti=min(self.ti, total_s))

    @classmethod
    def for_timeout(cls, total_s: float) -> RetransmitPolicy:
        """RFC timers scaled so that a whole UDP transaction (and Ti) lasts ``total_s`` seconds."""
        default = cls()
        return default.scaled(total_s / default.udp_total)

    def send_offsets(self) -> list[float]:
        """When each UDP request goes out, relative to the first: 0, RTO, 3 RTO, 7 RTO, ... (doubling)."""
        return [self.rto * (2**i - 1) for i in range(self.rc)]

    def wait_after(self, attempt: int) -> float:
        """How long to wait after send number ``attempt`` (0-based) before the next one or giving up."""
        return self.rto * 2**attempt if attempt < self.rc - 1 else self.rm * self.rto

    @property
    def udp_total(self) -> float:
        """Time from the first send to giving up: 39.5 s with the RFC defaults."""
        return self.send_offsets()[-1] + self.rm * self.rto


# --- results ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rejected:
    """A reply that was received and not trusted."""

    reason: str
    source: Address
    at: float  # seconds after the transaction started


@dataclass(frozen=True)
class Received:
    """An unsolicited message (indication, ChannelData, stray reply) as it arrived."""

    data: bytes
    source: Address
    at: float  # event-loop time (monotonic seconds)


@dataclass
class TransactionResult:
    """What happened to one request. Times are seconds after the first send."""

    dest: Address
    transport: str
    local: Address
    response: bytes | None = None
    source: Address | None = None  # the packet's real source address
    send_times: list[float] = field(default_factory=list)
    answered_at: float | None = None
    answered_attempt: int | None = None  # which send got the answer, when identifiable
    # UDP, after retransmissions: when the answers to the other sends (copies of the one that completed the
    # transaction; a STUN server answers every request it receives) arrived. None: not waited for (no
    # retransmission, a stream, or the transaction did not end with an answer).
    copies_at: list[float] | None = None
    rejected: list[Rejected] = field(default_factory=list)  # the first MAX_KEPT_REJECTED rejected replies
    rejected_count: int = 0  # every rejected reply, kept or not

    @property
    def attempts(self) -> int:
        return len(self.send_times)

    @property
    def retransmissions(self) -> int:
        return max(0, self.attempts - 1)

    @property
    def timed_out(self) -> bool:
        return self.response is None

    @property
    def rtt(self) -> float | None:
        """RTT from the send that was answered if identifiable, else from the first send (Karn's rule)."""
        if self.answered_at is None or not self.send_times:
            return None
        index = self.answered_attempt if self.answered_attempt is not None else 0
        return self.answered_at - self.send_times[index]

    @property
    def answers(self) -> int | None:
        """How many of the sends were answered (the first answer and its copies), when that was measured:
        fewer than :attr:`attempts` means requests or answers were lost; as many means a retransmission
        only went out because the RTO was shorter than the round trip (RFC 8489 §6.2.1), nothing was lost."""
        return None if self.copies_at is None or self.response is None else 1 + len(self.copies_at)

    @property
    def attempt_rtts(self) -> list[float]:
        """Time from each send made before the answer to the answer (the first is the longest)."""
        if self.answered_at is None:
            return []
        answered = self.answered_at
        return [answered - sent for sent in self.send_times if sent <= answered]


# --- the machinery ---------------------------------------------------------------------------------------

@dataclass
class Pending:
    """One transaction in progress."""

    txid: bytes
    dest: Address
    validate: Validator | None
    future: asyncio.Future[tuple[bytes, Address, float]]
    started: float
    rejected: list[Rejected] = field(default_factory=list)
    rejected_count: int = 0
    # After the answer: its valid copies (answers to the retransmissions), counted up to ``copies_wanted``.
    copies: list[float] = field(default_factory=list)
    copies_wanted: int = 0
    copies_done: asyncio.Event | None = None

    def reject(self, reason: str, source: Address, at: float) -> None:
        """Count a rejected reply; keep only the first few (a server may send them forever)."""
        self.rejected_count += 1
        if len(self.rejected) < MAX_KEPT_REJECTED:
            if len(reason) > _MAX_REASON:
                reason = reason[:_MAX_REASON] + "..."
            self.rejected.append(Rejected(reason, source, at))


class Inbox(asyncio.Queue[Received]):
    """Unsolicited messages waiting to be read, bounded in count and in bytes.

    ``offer`` drops (and counts in ``dropped``) what does not fit instead of growing: a server streaming
    indications or ChannelData forever costs at most ``max_bytes`` of memory.
    """

    def __init__(self, max_messages: int = INBOX_MAX_MESSAGES, max_bytes: int = INBOX_MAX_BYTES) -> None:
        super().__init__(maxsize=max_messages)
        self.max_bytes = max_bytes
        self.bytes = 0  # total size of the messages waiting
        self.dropped = 0  # messages dropped because the inbox was full

    def offer(self, item: Received) -> bool:
        """Queue ``item`` if it fits; else count it as dropped. Returns whether it was queued."""
        if self.full() or self.bytes + len(item.data) > self.max_bytes:
            self.dropped += 1
            return False
        self.put_nowait(item)
        return True

    def _put(self, item: Received) -> None:
        super()._put(item)
        self.bytes += len(item.data)

    def _get(self) -> Received:
        item = super()._get()
        self.bytes -= len(item.data)
        return item


class TransactionEndpoint:
    """Client transactions over one transport, apart from the socket. A subclass is the sender: it implements
    ``_send_datagram`` (one datagram out, no waiting), ``_read_waiting`` (hand what already arrived to
    ``_dispatch`` now), ``_closed_error``, ``local_address`` and ``close``, and calls ``_dispatch`` with every
    message that arrives."""

    transport = "udp"

    def __init__(self, loop: asyncio.AbstractEventLoop, policy: RetransmitPolicy) -> None:
        self._loop = loop
        self.policy = policy
        self.queue: Inbox = Inbox()
        self._pending: dict[bytes, Pending] = {}
        self._recent: deque[bytes] = deque(maxlen=_RECENT_TXIDS)
        self._channel_peers: set[Address] = set()  # where a ChannelBind request was sent
        self.closed = False

    # --- what the sender provides --------------------------------------------------------------------------

    @property
    def local_address(self) -> Address:
        raise NotImplementedError

    def _send_datagram(self, data: bytes, dest: Address) -> None:
        raise NotImplementedError

    def _read_waiting(self) -> None:
        """Dispatch what has arrived already (for a deadline judged on what reached the machine)."""

    def _closed_error(self, dest: Address | None) -> Exception:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # --- transactions ------------------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Received | None:
        """The next unsolicited message, or None after ``timeout`` seconds."""
        if not self.queue.empty():
            return self.queue.get_nowait()  # no task per message: keeps up with a busy socket
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    async def _retransmitted(self, data: bytes, dest: Address, txid: bytes | None, validate: Validator | None,
                             policy: RetransmitPolicy, count_copies: bool) -> TransactionResult:
        """One request with retransmissions on the RFC 8489 §6.2.1 schedule until a matching, valid
        response or the timeout; with ``count_copies``, then the answers to the other sends."""
        pending = self._register(txid or data[8:20], dest, validate)
        sends: list[float] = []
        try:
            for attempt in range(policy.rc):
                # The send time is taken before the datagram goes out: on loopback the reply can reach the
                # kernel (its receive timestamp) before the send even returns to us.
                sends.append(self._loop.time() - pending.started)
                self._send_datagram(data, dest)
                done, _ = await asyncio.wait([pending.future], timeout=policy.wait_after(attempt))
                if done:
                    break
            copies = await self._copies(pending, sends) if count_copies else None
        finally:
            self._finish(pending)
        result = self._result(pending, dest, sends)
        result.copies_at = copies
        return result

    async def _copies(self, pending: Pending, sends: list[float]) -> list[float] | None:
        """After retransmissions, wait for the answers to the other sends: a STUN server answers every copy
        of a request it receives, so on a path that lost nothing every send is answered. Waits until they
        are all in, or until the last send plus twice the first answer's delay (the round trip is at most
        that): one round trip more at worst, and only when a retransmission went out."""
        future = pending.future
        if len(sends) < 2 or not future.done() or future.cancelled() or future.exception() is not None:
            return None
        answered = future.result()[2] - pending.started
        pending.copies_wanted = len(sends) - 1
        pending.copies_done = asyncio.Event()
        if len(pending.copies) < pending.copies_wanted:
            wait = sends[-1] + 2 * max(answered, 0.0) + COPY_MARGIN_S - (self._loop.time() - pending.started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pending.copies_done.wait(), max(wait, 0.0))
        self._read_waiting()  # what reached the machine by now counts (its receive time stamps the copy)
        return list(pending.copies)

    def _register(self, txid: bytes, dest: Address, validate: Validator | None) -> Pending:
        if self.closed:
            raise self._closed_error(dest)
        if txid in self._pending:
            raise ValueError(f"transaction {txid.hex()} is already in progress")
        pending = Pending(txid=txid, dest=dest, validate=validate, future=self._loop.create_future(),
                          started=self._loop.time())
        self._pending[txid] = pending
        return pending

    def _finish(self, pending: Pending) -> None:
        self._pending.pop(pending.txid, None)
        self._recent.append(pending.txid)
        future = pending.future
        if future.done() and not future.cancelled():
            # An ICMP error or a close can fail the transaction just as its task is cancelled (another job
            # failed, Ctrl-C): the error is then read by nobody, and asyncio would print "Future exception
            # was never retrieved" and a traceback at exit. Marked as read (an awaiting caller still gets it).
            future.exception()

    def _fail(self, error: Exception, dest: Address | None = None) -> None:
        """Fail pending transactions (to ``dest``, or all) with ``error``."""
        for pending in list(self._pending.values()):
            if (dest is None or pending.dest == dest) and not pending.future.done():
                pending.future.set_exception(error)

    def _dispatch(self, data: bytes, source: Address, arrived: float | None = None) -> None:
        now = self._loop.time() if arrived is None else arrived
        txid = framing.transaction_id(data)
        pending = self._pending.get(txid) if txid is not None and framing.is_response(data) else None
        if pending is not None:
            if pending.future.done():  # answered (or failed) already: later copies change nothing but a count
                if len(pending.copies) < pending.copies_wanted and framing.datagram_problem(data) is None \
                        and _run_validator(pending.validate, data) is None:
                    pending.copies.append(now - pending.started)
                    if len(pending.copies) >= pending.copies_wanted and pending.copies_done is not None:
                        pending.copies_done.set()
                return
            problem = framing.datagram_problem(data) or _run_validator(pending.validate, data)
            if problem is not None:
                pending.reject(problem, source, now - pending.started)
            else:
                pending.future.set_result((data, source, now))
            return
        if txid is not None and txid in self._recent:
            return  # a late answer to a retransmission of a finished transaction (RFC 8489 §6.3)
        kind = framing.frame_kind(data)
        if kind is framing.FrameKind.CHANNEL_DATA and source not in self._channel_peers:
            kind = framing.FrameKind.OTHER  # no ChannelBind sent there: not ChannelData (RFC 8656 §12)
        waiting = [p for p in self._pending.values() if p.dest == source]
        if waiting and (framing.is_response(data) or kind is framing.FrameKind.OTHER):
            reason = (framing.datagram_problem(data) if txid is None
                      else f"transaction id {txid.hex()} does not match the request")
            for p in waiting:
                p.reject(reason or "unexpected reply", source, now - p.started)
            return
        self.queue.offer(Received(data, source, now))

    def _note_channel_bind(self, data: bytes, dest: Address) -> None:
        """A ChannelBind request to ``dest`` goes out: ChannelData from there is expected (RFC 8656 §12)."""
        if framing.is_channel_bind_request(data):
            self._channel_peers.add(dest)

    def _result(self, pending: Pending, dest: Address, sends: list[float]) -> TransactionResult:
        result = TransactionResult(dest=dest, transport=self.transport, local=self.local_address,
                                   send_times=sends, rejected=list(pending.rejected),
                                   rejected_count=pending.rejected_count)
        if pending.future.done() and not pending.future.cancelled():
            data, source, at = pending.future.result()  # raises the error, if that is what ended it
            result.response, result.source = data, source
            # Never before the first request (two clocks and float rounding can differ by a microsecond).
            result.answered_at = max(at - pending.started, sends[0] if sends else 0.0)
            before = [t for t in sends if t <= result.answered_at]
            result.answered_attempt = 0 if len(before) == 1 else None
        return result


def _run_validator(validate: Validator | None, data: bytes) -> str | None:
    if validate is None:
        return None
    try:
        return validate(data)
    except Exception as exc:  # a validator bug must not kill the receive loop
        return f"validation failed: {exc}"

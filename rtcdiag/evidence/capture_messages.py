"""What the flows of a capture carry, one message at a time: demultiplexed per RFC 7983 / RFC 9443 into STUN,
ChannelData, DTLS, RTP/RTCP; per flow a ladder of STUN transactions (request, retransmissions, response,
RTT), per TURN allocation its lifecycle, the flows relayed through it (Send/Data, ChannelData), the ICE
checks and the agents' ufrags, DTLS records (:mod:`rtcdiag.evidence.dtls`) and TLS records
(:mod:`rtcdiag.evidence.tls`). The packets and the TCP streams they come from are
:mod:`rtcdiag.evidence.capture`'s. Every list is bounded (see :mod:`rtcdiag.evidence.capture_flows`);
strings from the wire are escaped here."""

from __future__ import annotations

import struct

from rtcdiag.evidence.capture_flows import (
    END_GRACE_S,
    ICE_ANSWERED,
    ICE_LATE,
    ICE_SENT,
    ICE_UNANSWERED,
    MAX_ALLOCATIONS,
    MAX_ALLOCATIONS_TOTAL,
    MAX_EVENTS_PER_FLOW,
    MAX_EVENTS_TOTAL,
    MAX_FIRST_ANSWERS,
    MAX_FLOWS,
    MAX_OPEN_TOTAL,
    MAX_OPEN_TXNS,
    MAX_PEERS,
    Allocation,
    CaptureSummary,
    Event,
    Flow,
    Seen,
    Txn,
)
from rtcdiag.evidence.dtls import DtlsSent, read_datagram
from rtcdiag.evidence.ice_session import build_sessions, pair_key
from rtcdiag.evidence.kinds import Kind
from rtcdiag.evidence.observation import MAX_EXAMPLES
from rtcdiag.protocol.constants import AttrType, MessageClass, Method, method_name
from rtcdiag.protocol.errors import StunParseError
from rtcdiag.protocol.message import Message
from rtcdiag.textsafe import printable


class MessageReader:
    """The messages of every flow, in capture order, into the flows' facts and the :class:`CaptureSummary`
    (the flows are made by the packet layer, which shares ``flows`` and ``summary``)."""

    def __init__(self, summary: CaptureSummary) -> None:
        self.summary = summary
        self.flows: dict[tuple[object, ...], Flow] = {}
        self.events_left = MAX_EVENTS_TOTAL
        self.open_total = 0
        self.allocations_left = MAX_ALLOCATIONS_TOTAL
        self.call_answers: dict[tuple[str, str], float] = {}  # (ICE session, sender ufrag) -> last answer

    # ---- TLS (RFC 8446 §5.1): rtcdiag.evidence.tls reads the records ------------------------------------
    def tls(self, flow: Flow, number: int, time: float, forward: bool, payload: bytes) -> None:
        tls = flow.tls_connection
        if tls is None:
            return
        before = tls.client_side.records + tls.server_side.records
        notes = tls.feed(forward == tls.client_forward, payload, number, time)
        records = tls.client_side.records + tls.server_side.records - before
        if records:
            counts = flow.kinds.get(Kind.TLS)
            if counts is None:
                counts = flow.kinds[Kind.TLS] = [0, 0]
            counts[0 if forward else 1] += records
        for text in notes or ():
            self._event(flow, number, time, forward, text)

    # ---- RFC 7983 demultiplexing --------------------------------------------------------------------
    def message(self, flow: Flow, number: int, time: float, forward: bool, payload: bytes) -> None:
        if not payload:
            return
        first = payload[0]
        if 64 <= first <= 79:  # the most frequent on a TURN server: relayed media (RFC 8656 §12)
            counts = flow.kinds.get(Kind.CHANNEL_DATA)
            if counts is None:
                counts = flow.kinds[Kind.CHANNEL_DATA] = [0, 0]
            counts[0 if forward else 1] += 1
            self.channel_data(flow, number, time, forward, payload)
        elif first <= 3:
            self._count(flow, Kind.STUN, forward)
            size = len(payload)
            if size < 20 or (payload[2] << 8 | payload[3]) + 20 != size:  # RFC 8489 §5, without an exception
                flow.note(Seen.MALFORMED).add(number, time, f"not a whole STUN message ({size} bytes)")
                return
            self.stun(flow, number, time, forward, payload)
        elif 20 <= first <= 63:
            self._count(flow, Kind.DTLS, forward)
            self.dtls(flow, number, time, forward, payload)
        elif 128 <= first <= 191:
            kind = Kind.RTCP if len(payload) > 1 and 192 <= payload[1] <= 223 else Kind.RTP  # RFC 5761 §4
            self._count(flow, kind, forward)
        else:
            self._count(flow, Kind.OTHER, forward)

    def _count(self, flow: Flow, kind: Kind, forward: bool) -> None:
        counts = flow.kinds.get(kind)
        if counts is None:
            counts = flow.kinds[kind] = [0, 0]
        counts[0 if forward else 1] += 1

    def _event(self, flow: Flow, number: int, time: float, forward: bool, text: str) -> None:
        if self.events_left <= 0 or len(flow.events) >= MAX_EVENTS_PER_FLOW:
            flow.events_dropped += 1
            return
        self.events_left -= 1
        flow.events.append(Event(number, time, forward, text))

    # ---- STUN and TURN ------------------------------------------------------------------------------
    def stun(self, flow: Flow, number: int, time: float, forward: bool, data: bytes) -> None:
        try:
            msg = Message.decode(data)
        except StunParseError as exc:
            flow.note(Seen.MALFORMED).add(number, time, printable(str(exc))[:120])
            return
        cls = msg.msg_class
        if cls is MessageClass.REQUEST:
            self._request(flow, msg, number, time, forward)
        elif cls is MessageClass.INDICATION:
            self._indication(flow, msg, number, time, forward, len(data))
        else:
            self._response(flow, msg, number, time, forward)

    def _request(self, flow: Flow, msg: Message, number: int, time: float, forward: bool) -> None:
        """A new transaction (RFC 8489 §6.2), or a retransmission of an open one (same id, same side)."""
        method = msg.method
        name = method_name(method)
        tid = msg.transaction_id
        txn = flow.open.get(tid)
        if txn is not None and txn.forward == forward:  # a retransmission (RFC 8489 §6.2.1)
            txn.sends += 1
            flow.retransmissions += 1
            if len(txn.numbers) < 8:
                txn.numbers.append(number)
            self._event(flow, number, time, forward, f"{name} request (retransmission {txn.sends - 1})")
            return
        if len(flow.open) >= MAX_OPEN_TXNS or (self.open_total >= MAX_OPEN_TOTAL and flow.open):
            oldest = next(iter(flow.open))
            self.open_total -= 1
            self._close(flow, flow.open.pop(oldest))
        elif self.open_total >= MAX_OPEN_TOTAL:
            self.summary.untracked += 1
            return
        txn = Txn(method=name, forward=forward, numbers=[number], first_time=time,
                  authenticated=msg.has(AttrType.MESSAGE_INTEGRITY) or msg.has(
                      AttrType.MESSAGE_INTEGRITY_SHA256))
        raw_user = msg.get_raw(AttrType.USERNAME)
        if raw_user is not None:
            txn.username = printable(raw_user[:128].decode("utf-8", "replace"))
        if method == Method.BINDING and msg.has(AttrType.PRIORITY):
            txn.ice = True
            flow.note(ICE_SENT[0 if forward else 1]).add(number, time)
            _ice_agents(flow, forward, txn.username)
        if method in (Method.CREATE_PERMISSION, Method.CHANNEL_BIND):
            txn.peer = _peer(msg)
        if flow.allocate_forward is None and method in _TURN_REQUESTS:  # the TURN client's side
            flow.allocate_forward = forward  # (a capture started mid-allocation has no Allocate)
        flow.open[tid] = txn
        self.open_total += 1
        text = f"{name} request" + (" (authenticated)" if txn.authenticated else "")
        if txn.peer:
            text += f" peer {txn.peer}"
        if method == Method.REFRESH:
            text += f" LIFETIME {_lifetime(msg)}"
        if method == Method.CHANNEL_BIND:
            txn.channel = _channel(msg)
            text += f" channel 0x{txn.channel:04x}"
        self._event(flow, number, time, forward, text)

    def _indication(self, flow: Flow, msg: Message, number: int, time: float, forward: bool,
                    size: int) -> None:
        """Send and Data indications (RFC 8656 §10): counted on the flow's latest allocation, their DATA a
        relayed flow of its own."""
        method = msg.method
        name = method_name(method)
        alloc = flow.allocations[-1] if flow.allocations else None
        if method == Method.SEND and alloc is not None:
            alloc.sent.add(number, time)
            alloc.sent_bytes += size
        elif method == Method.DATA and alloc is not None:
            alloc.received.add(number, time)
            alloc.received_bytes += size
        if alloc is None or (alloc.sent.count + alloc.received.count) <= 3:
            self._event(flow, number, time, forward, f"{name} indication")
        if method in (Method.SEND, Method.DATA) and flow.allocate_forward is not None:
            inner = msg.get_raw(AttrType.DATA)
            if inner:
                self._relayed(flow, _peer(msg), number, time, forward == flow.allocate_forward, inner)

    def _response(self, flow: Flow, msg: Message, number: int, time: float, forward: bool) -> None:
        """A success or error response: the transaction it answers closes (RTT, allocations, errors)."""
        cls = msg.msg_class
        method = msg.method
        name = method_name(method)
        tid = msg.transaction_id
        txn = flow.open.pop(tid, None)
        if txn is None or txn.forward == forward:
            if txn is not None:
                flow.open[tid] = txn
                txn = None
            text = f"{name} response to no request in the capture"
            if cls is MessageClass.ERROR:  # the request was missed (capture started late, dropped):
                orphan = Txn(method=name, forward=not forward, numbers=[], first_time=time)  # the code counts
                orphan.code, orphan.reason = _error(msg)
                if orphan.code != 401:  # a 401 alone cannot tell a challenge from a refusal
                    self._turn_error(flow, orphan, number, time)
                text = f"{name} error {orphan.code} {orphan.reason} (its request is not in the capture)"
            self._event(flow, number, time, forward, text)
            return
        self.open_total -= 1
        txn.response_number = number
        txn.response_time = time
        rtt = (time - txn.first_time) * 1000
        if cls is MessageClass.SUCCESS:
            txn.response_class = "success"
            text = f"{name} success"
            if method == Method.ALLOCATE:
                relayed = _address(msg, AttrType.XOR_RELAYED_ADDRESS)
                lifetime = _lifetime(msg)
                text += f" relayed {relayed} LIFETIME {lifetime}"
                if len(flow.allocations) < MAX_ALLOCATIONS and self.allocations_left > 0:
                    self.allocations_left -= 1
                    flow.allocations.append(Allocation(number=number, time=time, relayed=relayed,
                                                       lifetime=lifetime, expires=time + lifetime,
                                                       username=txn.username))
            elif method == Method.REFRESH and flow.allocations:
                alloc = flow.allocations[-1]
                lifetime = _lifetime(msg)
                text += f" LIFETIME {lifetime}"
                if lifetime == 0:
                    alloc.deleted = alloc.deleted or number
                else:
                    alloc.expires = time + lifetime
                if len(alloc.refreshes) < 100:
                    alloc.refreshes.append((number, time, lifetime))
            elif method in (Method.CREATE_PERMISSION, Method.CHANNEL_BIND) and flow.allocations:
                alloc = flow.allocations[-1]
                if txn.peer and txn.peer not in alloc.permissions and len(alloc.permissions) < MAX_PEERS:
                    alloc.permissions.append(txn.peer)
                if txn.channel and txn.peer and len(alloc.channels) < MAX_PEERS:
                    alloc.channels[txn.channel] = txn.peer
            elif method == Method.BINDING:
                mapped = _address(msg, AttrType.XOR_MAPPED_ADDRESS)
                if mapped != "-":
                    text += f" mapped {mapped}"
        else:
            txn.response_class = "error"
            txn.code, txn.reason = _error(msg)
            text = f"{name} error {txn.code} {txn.reason}".rstrip()
            self._turn_error(flow, txn, number, time)
        self._close(flow, txn)
        self._event(flow, number, time, forward, f"{text} (RTT {rtt:.1f} ms)")

    def _turn_error(self, flow: Flow, txn: Txn, number: int, time: float) -> None:
        detail = f"{txn.method} {txn.code} {txn.reason}".rstrip()
        if txn.username:
            detail += f" user {txn.username}"
        if txn.code == 401:
            if txn.authenticated:  # an authenticated request refused: not the first challenge
                flow.note(Seen.AUTH_401).add(number, time, detail)
        elif txn.code == 438:
            flow.note(Seen.STALE_438).add(number, time, detail)
        elif txn.code == 403:
            peer = f" peer {txn.peer}" if txn.peer else ""
            flow.note(Seen.FORBIDDEN_403).add(number, time, f"{detail}{peer}")
        elif txn.code == 486:
            flow.note(Seen.QUOTA_486).add(number, time, detail)
        elif txn.code == 508:
            flow.note(Seen.CAPACITY_508).add(number, time, detail)
        elif txn.code == 437:
            flow.note(Seen.MISMATCH_437).add(number, time, detail)
        elif not txn.ice:
            flow.note(Seen.OTHER_ERRORS).add(number, time, detail)

    def _close(self, flow: Flow, txn: Txn) -> None:
        """A transaction ends: answered, or (at the end / evicted) unanswered."""
        flow.done += 1
        side = 0 if txn.forward else 1
        if txn.response_number:
            stats = flow.methods.get(txn.method)
            rtt = txn.rtt_ms or 0.0
            if stats is None:
                flow.methods[txn.method] = [1, rtt, rtt, rtt]
            else:
                stats[0] += 1
                stats[1] += rtt
                stats[2] = min(stats[2], rtt)
                stats[3] = max(stats[3], rtt)
            if txn.ice:
                flow.note(ICE_ANSWERED[side]).add(txn.response_number, txn.response_time)
                times = flow.ice_answer_times[side]
                if len(times) < MAX_FIRST_ANSWERS:
                    times.append(txn.response_time)
            return
        if self.summary.last_time - txn.first_time < END_GRACE_S:
            return  # sent just before the capture stopped: the answer may have come after it
        if txn.ice:  # every packet of the check counts: one check retransmitted 4 times is 4 unanswered
            last = flow.seen(ICE_ANSWERED[side]).last_time
            remote, colon, local = txn.username.partition(":")
            if colon:  # answered on another path of the same call
                last = max(last, self.call_answers.get((pair_key(local, remote), local), 0.0))
            late = last and txn.first_time > last  # after the sender's last answered check
            for n in txn.numbers:
                flow.note(ICE_UNANSWERED[side]).add(n, txn.first_time)
                if late:
                    flow.note(ICE_LATE[side]).add(n, txn.first_time)
        else:
            flow.note(Seen.UNANSWERED_TURN).add(txn.numbers[0], txn.first_time, f"{txn.method} x{txn.sends}")

    def channel_data(self, flow: Flow, number: int, time: float, forward: bool, data: bytes) -> None:
        alloc = flow.allocations[-1] if flow.allocations else None
        if alloc is None or flow.allocate_forward is None:
            return
        to_peer = forward == flow.allocate_forward
        obs = alloc.sent if to_peer else alloc.received
        if obs.count and len(obs.numbers) >= MAX_EXAMPLES:  # the common case, without a call
            obs.count += 1
            obs.last_time = time
        else:
            obs.add(number, time)
        if to_peer:
            alloc.sent_bytes += len(data)
        else:
            alloc.received_bytes += len(data)
        if len(data) < 4:
            return
        channel = data[0] << 8 | data[1]
        if alloc.sent.count + alloc.received.count <= 3:
            self._event(flow, number, time, forward, f"ChannelData 0x{channel:04x} ({len(data)} bytes)")
        peer = alloc.channels.get(channel)
        if peer is not None:
            self._relayed(flow, peer, number, time, to_peer, data[4:4 + (data[2] << 8 | data[3])])

    def _relayed(self, flow: Flow, peer: str, number: int, time: float, to_peer: bool,
                 payload: bytes) -> None:
        """What the client and a peer send each other through the relay (Send/Data indications, ChannelData:
        RFC 8656 §11-12) is a flow of its own: ICE checks, DTLS and media between them, demultiplexed the
        same way (RFC 7983). Its A is the TURN client, its B the peer."""
        if flow.transport.startswith("relayed"):
            return  # no relay inside a relay
        key = ("relayed", flow.index, peer)
        inner = self.flows.get(key)
        if inner is None:
            if len(self.flows) >= MAX_FLOWS:
                self.summary.flows_dropped += 1
                return
            client = flow.a if flow.allocate_forward else flow.b
            inner = Flow(index=len(self.flows) + 1, transport=f"relayed-{flow.transport}", a=client, b=peer,
                         a_port=0, b_port=0, first_number=number, first_time=time)
            self.flows[key] = inner
        inner.last_time = time
        side = 0 if to_peer else 1
        inner.packets[side] += 1
        inner.octets[side] += len(payload)
        self.message(inner, number, time, to_peer, payload)

    # ---- DTLS (RFC 6347 §4.1, RFC 9147 §4): rtcdiag.evidence.dtls reads the records ---------------------
    def dtls(self, flow: Flow, number: int, time: float, forward: bool, data: bytes) -> None:
        sent = flow.dtls_sent
        if sent is None:
            sent = flow.dtls_sent = (DtlsSent(), DtlsSent())
        notes = read_datagram(sent[0 if forward else 1], data, number, time)
        if notes is not None:
            for text in notes:
                self._event(flow, number, time, forward, text)

    def finish(self) -> CaptureSummary:
        # An agent's last answered check anywhere in its call (its checks travel several paths: a relayed
        # flow, coturn's relay-to-relay leg, another IP family): the unanswered checks after it are the late
        # ones (RFC 7675 consent), whichever path they took.
        for flow in self.flows.values():
            if flow.agents[0] or flow.agents[1]:
                key = pair_key(*flow.agents)
                for side in (0, 1):
                    answered = flow.seen(ICE_ANSWERED[side])
                    if answered.count and flow.agents[side]:
                        at = (key, flow.agents[side])
                        self.call_answers[at] = max(self.call_answers.get(at, 0.0), answered.last_time)
        for flow in self.flows.values():
            for txn in list(flow.open.values()):
                self._close(flow, txn)
            flow.open.clear()
        s = self.summary
        s.flows = list(self.flows.values())
        for connection in s.tls:
            connection.finish(s.last_time)
        s.sessions = build_sessions(s.flows)
        return s



# RFC 8656 §7-11: requests only a TURN client sends its server
_TURN_REQUESTS = frozenset((Method.ALLOCATE, Method.REFRESH, Method.CREATE_PERMISSION, Method.CHANNEL_BIND))


def _ice_agents(flow: Flow, forward: bool, username: str) -> None:
    """The ufrags of a connectivity check's USERNAME, "remote:local" (RFC 8445 §7.2.2): the sender's and the
    receiver's ICE agents, known from here on for both ends of the flow."""
    remote, colon, local = username.partition(":")
    if not colon or not remote or not local:
        return
    side = 0 if forward else 1
    if not flow.agents[0] and not flow.agents[1]:
        flow.agents[side], flow.agents[1 - side] = local, remote
        return
    key = pair_key(local, remote)
    if key != pair_key(*flow.agents) and key not in flow.ice_keys and len(flow.ice_keys) < 8:
        flow.ice_keys.append(key)


def _address(msg: Message, attr: int) -> str:
    try:
        value = msg.get(attr)
    except StunParseError:
        return "(malformed)"
    if value is None:
        return "-"
    ip = getattr(value, "ip", None)
    port = getattr(value, "port", None)
    if ip is None or port is None:
        return "(malformed)"
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _error(msg: Message) -> tuple[int, str]:
    """ERROR-CODE as (code, escaped reason); (0, "") when absent or malformed."""
    try:
        error = msg.error
    except StunParseError:
        return 0, ""
    return (error.code, printable(error.reason)[:80]) if error else (0, "")


def _peer(msg: Message) -> str:
    return _address(msg, AttrType.XOR_PEER_ADDRESS)


def _lifetime(msg: Message) -> int:
    raw = msg.get_raw(AttrType.LIFETIME)
    return struct.unpack("!I", raw)[0] if raw is not None and len(raw) == 4 else -1


def _channel(msg: Message) -> int:
    raw = msg.get_raw(AttrType.CHANNEL_NUMBER)
    return struct.unpack_from("!H", raw)[0] if raw is not None and len(raw) >= 2 else 0



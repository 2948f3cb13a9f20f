"""Packet captures (pcap, pcapng) read into flows: UDP and TCP (reassembled, framed as RFC 8489 §6.2.2 with
RFC 8656 §12.5 ChannelData padding), demultiplexed per RFC 7983 / RFC 9443 into STUN, ChannelData, DTLS,
RTP/RTCP; per flow a ladder of STUN transactions (request, retransmissions, response, RTT), per TURN
allocation its lifecycle, per flow the ICE checks (and the ICE agents' ufrags), DTLS records
(:mod:`rtcdiag.evidence.dtls`, 1.2 and 1.3) and media counts; TLS on TCP flows
(:mod:`rtcdiag.evidence.tls`). Then the calls: the flows grouped into ICE sessions
(:mod:`rtcdiag.evidence.ice_session`), what the correlation of several evidence files and the call rules use.

Typed facts on :class:`CaptureSummary`: ``flows`` (:class:`Flow`), ``sessions`` (``IceSession``: per call
its agents' checks sent/answered/unanswered, last answer and late checks, DTLS version, hellos, encrypted
handshake and application records, RTP/RTCP), ``tls`` (``TlsConnection``: per TCP flow speaking TLS its
versions, handshake messages, alerts, closes and ``TlsOutcome``).

Streaming: one pass, flat memory. Every list is bounded (flows, ladder events, open transactions,
allocations); what goes past a bound is counted, not kept. Strings from the wire are escaped here.
Pure facts: the verdicts are in :mod:`rtcdiag.triage.capture`.

Here: the link, IP, UDP and TCP layers (a flow per 5-tuple, TCP streams reassembled) and
:func:`read_capture`; what a flow carries is read by :mod:`rtcdiag.evidence.capture_messages`, into the
types of :mod:`rtcdiag.evidence.capture_flows`.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from rtcdiag.evidence.capture_flows import (
    MAX_EVENTS_PER_FLOW,
    MAX_FLOWS,
    MAX_OPEN_TOTAL,
    Allocation,
    CaptureSummary,
    Event,
    Flow,
    Txn,
)
from rtcdiag.evidence.capture_messages import MessageReader
from rtcdiag.evidence.dtls import DtlsSent, DtlsVersion
from rtcdiag.evidence.ice_session import IceSession, pair_key
from rtcdiag.evidence.kinds import Kind
from rtcdiag.evidence.observation import Observation
from rtcdiag.evidence.pcap import CaptureError, PacketReader
from rtcdiag.evidence.sniff import open_maybe_gzip
from rtcdiag.evidence.tls import TlsConnection, looks_like_tls
from rtcdiag.protocol.framing import FramingError, StreamDeframer
from rtcdiag.textsafe import printable

ETH_IPV4, ETH_IPV6, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8


class _Stream:
    """One direction of a TCP connection: in-order bytes into a STUN/ChannelData deframer."""

    __slots__ = ("dead", "deframer", "next_seq", "started")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.deframer = StreamDeframer(allow_channel_data=True)
        self.dead = ""
        self.started = False


class _PacketDecoder:
    """Packets into flows: link and IP headers, a flow per UDP or TCP 5-tuple (both directions), each TCP
    direction's bytes in order into a STUN/ChannelData deframer or, when it speaks TLS, into its
    :class:`TlsConnection`; every message then to the :class:`MessageReader`."""

    def __init__(self, source: str, fmt: str) -> None:
        self.reader = MessageReader(CaptureSummary(source=source, format=fmt))
        self.summary = self.reader.summary
        self.flows = self.reader.flows  # shared: relayed flows are made by the reader
        self.message = self.reader.message
        self._tls = self.reader.tls
        self.routes: dict[tuple[object, ...], tuple[Flow, bool]] = {}  # 5-tuple either way -> flow, forward
        self.streams: dict[tuple[int, bool], _Stream] = {}

    # ---- link and network layers --------------------------------------------------------------------
    def packet(self, number: int, time: float, linktype: int, data: bytes) -> None:
        s = self.summary
        if not s.packets:
            s.first_time = time
        s.packets = number
        s.last_time = time
        link = _network_header(linktype, data)
        if link is None:
            s.not_ip += 1
            return
        ethertype, off = link
        if ethertype == ETH_IPV4:
            if len(data) < off + 20:
                s.not_ip += 1
                return
            ihl = (data[off] & 0x0F) * 4
            total = data[off + 2] << 8 | data[off + 3]
            if (data[off + 6] & 0x3F) or data[off + 7]:  # MF set or a fragment offset: not reassembled
                s.fragments += 1
                if (data[off + 6] & 0x1F) or data[off + 7]:
                    return
            proto = data[off + 9]
            src, dst = data[off + 12:off + 16], data[off + 16:off + 20]
            end = min(len(data), off + total) if total >= ihl else len(data)
            off += ihl
        elif ethertype == ETH_IPV6:
            if len(data) < off + 40:
                s.not_ip += 1
                return
            proto = data[off + 6]
            src, dst = data[off + 8:off + 24], data[off + 24:off + 40]
            end = min(len(data), off + 40 + (data[off + 4] << 8 | data[off + 5]))
            off += 40
            hops = 0
            while proto in (0, 43, 60, 44) and hops < 8 and off + 8 <= end:  # extension headers (RFC 8200)
                if proto == 44:
                    if (data[off + 2] << 8 | data[off + 3]) & 0xFFF8:  # not the first fragment
                        s.fragments += 1
                        return
                    proto, off = data[off], off + 8
                else:
                    proto, off = data[off], off + 8 + data[off + 1] * 8
                hops += 1
        else:
            s.not_ip += 1
            return
        if proto == 17:
            if off + 8 > end:
                return
            sport = data[off] << 8 | data[off + 1]
            dport = data[off + 2] << 8 | data[off + 3]
            self.udp(number, time, src, sport, dst, dport, data[off + 8:end])
        elif proto == 6:
            if off + 20 > end:
                return
            sport = data[off] << 8 | data[off + 1]
            dport = data[off + 2] << 8 | data[off + 3]
            seq = struct.unpack_from("!I", data, off + 4)[0]
            doff = (data[off + 12] >> 4) * 4
            flags = data[off + 13]
            self.tcp(number, time, src, sport, dst, dport, seq, flags, data[off + doff:end])

    def _flow(self, transport: str, number: int, time: float, src: bytes, sport: int, dst: bytes,
              dport: int) -> tuple[Flow | None, bool]:
        key = (transport, src, sport, dst, dport)
        route = self.routes.get(key)
        if route is not None:
            route[0].last_time = time
            return route
        if len(self.flows) >= MAX_FLOWS:
            self.summary.flows_dropped += 1
            return None, True
        flow = Flow(index=len(self.flows) + 1, transport=transport, a=_endpoint(src, sport),
                    b=_endpoint(dst, dport), a_port=sport, b_port=dport, first_number=number, first_time=time,
                    last_time=time)
        self.flows[key] = flow
        self.routes[(transport, dst, dport, src, sport)] = (flow, False)  # both directions: one lookup
        route = self.routes[key] = (flow, True)  # (a packet to itself: forward)
        return route

    # ---- transport ----------------------------------------------------------------------------------
    def udp(self, number: int, time: float, src: bytes, sport: int, dst: bytes, dport: int,
            payload: bytes) -> None:
        flow, forward = self._flow("udp", number, time, src, sport, dst, dport)
        if flow is None:
            return
        side = 0 if forward else 1
        flow.packets[side] += 1
        flow.octets[side] += len(payload)
        flow.last_seen[side] = time
        flow.last_number[side] = number
        flow.unreplied[side] += 1
        flow.unreplied[1 - side] = 0
        self.message(flow, number, time, forward, payload)

    def tcp(self, number: int, time: float, src: bytes, sport: int, dst: bytes, dport: int, seq: int,
            flags: int, payload: bytes) -> None:
        flow, forward = self._flow("tcp", number, time, src, sport, dst, dport)
        if flow is None:
            return
        side = 0 if forward else 1
        flow.packets[side] += 1
        flow.octets[side] += len(payload)
        flow.last_seen[side] = time
        flow.last_number[side] = number
        flow.unreplied[side] += 1
        flow.unreplied[1 - side] = 0
        key = (flow.index, forward)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = _Stream()
        if flags & 0x04 and not forward and not flow.reset_number:
            flow.reset_number, flow.reset_time = number, time
        if flags & 0x02:  # SYN: data starts at ISN + 1 (RFC 9293 §3.4)
            stream.next_seq = (seq + 1) & 0xFFFFFFFF
            if forward and not flags & 0x10:
                flow.syn_number = flow.syn_number or number
            elif not forward and flags & 0x10:
                flow.syn_acked = True
            return
        tls = flow.tls_connection
        if flags & 0x05 and tls is not None:  # FIN or RST: who ended a TLS connection, and when
            tls.close(forward == tls.client_forward, number, time, bool(flags & 0x04))
        if not payload or (stream.dead and stream.dead != "TLS"):
            return
        if stream.next_seq is None:
            stream.next_seq = seq  # the capture started mid-connection
        diff = ((seq - stream.next_seq + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        if diff > 0:
            # A gap: bytes the capture missed (or a reordered segment). STUN and ChannelData frames
            # usually start at segment boundaries, so resynchronize here rather than lose the flow.
            flow.stream_problem = flow.stream_problem or (
                f"{diff} byte(s) missing from the capture before packet {number} (resynchronized there)")
            stream.deframer = StreamDeframer(allow_channel_data=True)
            stream.next_seq = seq
            if tls is not None:  # TLS records cannot be resynchronized: stop reading that side
                tls.lose(forward == tls.client_forward, f"{diff} byte(s) missing before packet {number}")
        if diff < 0:  # a retransmission overlapping what was delivered
            payload = payload[-diff:]
            if not payload:
                return
        self._deliver(flow, stream, number, time, forward, payload)

    def _deliver(self, flow: Flow, stream: _Stream, number: int, time: float, forward: bool,
                 payload: bytes) -> None:
        stream.next_seq = ((stream.next_seq or 0) + len(payload)) & 0xFFFFFFFF
        if not stream.started:
            stream.started = True
            # a TLS connection (RFC 8446 §5.1) starts with a handshake record; the other direction of one is
            # TLS whatever its first byte (a server may answer a ClientHello with an alert)
            if flow.tls_connection is not None or looks_like_tls(payload):
                flow.tls = True
                stream.dead = "TLS"
                if flow.tls_connection is None:
                    client_forward = forward == (payload[5] == 1)  # the side that sent the ClientHello
                    client, server = (flow.a, flow.b) if client_forward else (flow.b, flow.a)
                    flow.tls_connection = TlsConnection(flow=flow.index, client=client, server=server,
                                                        client_forward=client_forward)
                    self.summary.tls.append(flow.tls_connection)
        if stream.dead == "TLS":
            self._tls(flow, number, time, forward, payload)
            return
        try:
            frames = stream.deframer.feed(payload)
        except FramingError as exc:
            stream.dead = printable(str(exc))[:200]
            flow.stream_problem = flow.stream_problem or f"packet {number}: {stream.dead}"
            return
        for frame in frames:
            self.message(flow, number, time, forward, frame)


    def finish(self) -> CaptureSummary:
        self.streams.clear()
        return self.reader.finish()


def _network_header(linktype: int, data: bytes) -> tuple[int, int] | None:
    """The EtherType of a link-layer frame and where its network header starts; None for a frame too short
    or of a link type not read (pcap LINKTYPE_ values: Ethernet, Linux cooked v1 and v2, raw IP, BSD
    loopback)."""
    if linktype == 1:  # Ethernet
        if len(data) < 14:
            return None
        ethertype = data[12] << 8 | data[13]
        off = 14
        while ethertype in (ETH_VLAN, ETH_QINQ) and len(data) >= off + 4:
            ethertype = data[off + 2] << 8 | data[off + 3]
            off += 4
        return ethertype, off
    if linktype == 113:  # Linux cooked capture v1 (tcpdump -i any)
        if len(data) < 16:
            return None
        return data[14] << 8 | data[15], 16
    if linktype == 276:  # Linux cooked v2
        if len(data) < 20:
            return None
        return data[0] << 8 | data[1], 20
    if linktype in (101, 12, 14, 228, 229):  # raw IP
        if not data:
            return None
        return (ETH_IPV4 if data[0] >> 4 == 4 else ETH_IPV6), 0
    if linktype in (0, 108):  # BSD loopback: address family in host (0) or network (108) order
        if len(data) < 4:
            return None
        family = struct.unpack_from("<I" if linktype == 0 and data[0] else ">I", data, 0)[0]
        return (ETH_IPV4 if family == 2 else ETH_IPV6), 4
    return None


def _ip(raw: bytes) -> str:
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    return socket.inet_ntop(socket.AF_INET6, raw)


def _endpoint(raw: bytes, port: int) -> str:
    ip = _ip(raw)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"




def read_capture(path: Path, source: str) -> CaptureSummary:
    """Read the capture at ``path`` in one streaming pass. Raises :class:`CaptureError` when it is not one."""
    with open_maybe_gzip(path) as handle:
        reader = PacketReader(handle)
        packets = iter(reader)  # raises CaptureError on a bad header
        analyzer = _PacketDecoder(source, reader.format or "")
        handle_packet = analyzer.packet
        for number, stamp, linktype, data, _ in packets:
            handle_packet(number, stamp, linktype, data)
        summary = analyzer.finish()
    summary.truncated = reader.truncated
    summary.damage = reader.damage
    if reader.truncated:
        summary.notes.append(f"the capture is cut short: analyzed up to packet {summary.packets}, the last "
                             "whole one (verdicts about what came later cannot be made)")
    if reader.damage:
        summary.notes.append(f"reading stopped: {printable(reader.damage)}")
    if summary.flows_dropped:
        summary.notes.append(f"more than {MAX_FLOWS} flows: {summary.flows_dropped} packets of further flows "
                             "not analyzed")
    if summary.untracked:
        summary.notes.append(f"{summary.untracked} STUN requests not followed (more than {MAX_OPEN_TOTAL} "
                             "unanswered at once)")
    if summary.fragments:
        summary.notes.append(f"{summary.fragments} IP fragments (not reassembled)")
    return summary



__all__ = ["MAX_EVENTS_PER_FLOW", "Allocation", "CaptureError", "CaptureSummary", "DtlsSent", "DtlsVersion",
           "Event", "Flow", "IceSession", "Kind", "Observation", "TlsConnection", "Txn", "pair_key",
           "read_capture"]

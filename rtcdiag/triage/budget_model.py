"""The relay budget as arithmetic: from a call topology to streams, relayed bandwidth, TURN allocations,
relay ports, file descriptors and the monthly egress bill. Pure: no I/O, no network traffic.

Model (docs/commands/budget.md states it the same way):

- A *leg* is one ICE connection of one participant: in a p2p mesh each of N participants has N-1 legs (one
  peer connection per other participant), towards an SFU or MCU one. The relay ratio is the share of legs
  whose selected candidate pair is relayed (``analyze --summary`` measures exactly that, per dump); each
  relayed leg holds one TURN allocation (RFC 8656 §2.2: one allocation per client 5-tuple) and one relay port
  (§7.2: one relayed transport address per allocation).
- Streams per participant, per media kind: mesh N-1 up and N-1 down (N(N-1) in a room); SFU 1 up (one per
  simulcast encoding) and N-1 down; MCU 1 up and 1 mixed down. Video is sent by the share ``video_share`` of
  the participants, so the video counts are that share of the audio counts (an average participant).
- Bitrates are the encoders' media rates. Simulcast layers are separate encodings (the sender sends their
  sum; a receiver gets one layer); SVC layers are cumulative (the sender sends the top layer's rate; a
  receiver of layer k gets layer k's rate). A p2p sender sends one encoding at the receive layer; an MCU
  sender sends the top layer and receives one composite at the receive layer.
- Packets: audio one per ``AUDIO_PTIME_MS``, video ``VIDEO_PACKET_BYTES`` of payload per packet. Every
  packet carries an RTP header and an SRTP tag; between client and TURN server it is wrapped in ChannelData;
  on the wire each datagram adds UDP and IPv4 headers (header extensions, RTCP, retransmissions and FEC are
  not counted).
- What a relayed leg sends through the server leaves it again: the server's egress for one leg is the leg's
  downstream (towards the client) plus its upstream (towards the peer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

# Packet sizes (bytes). RFC 3550 §5.1: 12-byte RTP header; RFC 3711 §4.2: 80-bit SRTP tag
# (AES_CM_128_HMAC_SHA1_80; 16 bytes with AES-GCM, RFC 7714); RFC 8656 §12.4: 4-byte ChannelData header;
# RFC 768 UDP 8, RFC 791 IPv4 20.
RTP_HEADER_BYTES = 12
SRTP_TAG_BYTES = 10
CHANNELDATA_HEADER_BYTES = 4
UDP_IPV4_HEADER_BYTES = 8 + 20
AUDIO_PTIME_MS = 20.0  # Opus over RTP (RFC 7587) in 20 ms packets, as browsers send it
VIDEO_PACKET_BYTES = 1200  # media payload per video packet (libwebrtc keeps packets near 1200 bytes)
RTP_BYTES = RTP_HEADER_BYTES + SRTP_TAG_BYTES  # on every media packet
TO_CLIENT_WIRE_BYTES = RTP_BYTES + CHANNELDATA_HEADER_BYTES + UDP_IPV4_HEADER_BYTES  # 54
TO_PEER_WIRE_BYTES = RTP_BYTES + UDP_IPV4_HEADER_BYTES  # 50
# coturn counts a socket's bytes as the UDP payload it reads or writes (ioa_socket_check_bandwidth in
# src/apps/relay/ns_ioalib_engine_impl.c), the client side with its ChannelData header.
CLIENT_SIDE_PAYLOAD_BYTES = RTP_BYTES + CHANNELDATA_HEADER_BYTES  # 26

DEFAULT_LIFETIME_S = 600  # RFC 8656 §3.2: an allocation lives 10 minutes unless the client asks otherwise
PERMISSION_LIFETIME_S = 300  # RFC 8656 §9
CHANNEL_LIFETIME_S = 600  # RFC 8656 §12
FDS_PER_ALLOCATION = 2  # coturn: the client's own connected socket (UDP) or connection (TCP/TLS) + relay
FDS_PER_TCP_PEER = 2  # RFC 6062: a data connection from the client and a connection to the peer
GB = 1_000_000_000  # decimal gigabytes (some providers bill GiB = 2**30 bytes: 7.4 % more per "GB")

MIN_PARTICIPANTS = 2
MAX_PARTICIPANTS = 200
MAX_ROOMS = 10_000_000
MAX_KBPS = 100_000.0
MAX_LAYERS = 4


class Topology(StrEnum):
    P2P = "p2p"  # full mesh: every participant connects to every other
    SFU = "sfu"  # selective forwarding unit: one connection each, streams forwarded
    MCU = "mcu"  # multipoint control unit: one connection each, one mixed stream back


class Layering(StrEnum):
    SIMULCAST = "simulcast"  # separate encodings (RFC 8853)
    SVC = "svc"  # one scalable encoding, layers cumulative


@dataclass(frozen=True)
class BudgetInputs:
    """What the budget is computed from (options or the ``[budget]`` table of an rtcdiag.toml)."""

    topology: Topology
    participants: int
    rooms: int = 1
    audio_kbps: float = 32.0
    video_kbps: tuple[float, ...] = (1500.0,)  # one per layer, lowest first
    layering: Layering = Layering.SIMULCAST
    receive_layer: int | None = None  # 1 = lowest; None = the top layer
    video_share: float = 1.0  # share of participants sending video
    relay_ratio: float = 1.0  # share of legs relayed
    relay_ratio_source: str = "assumed: every leg relayed, the worst case"
    participant_minutes: float | None = None  # per month: a 10-minute call of 4 people is 40
    price_per_gb: float | None = None  # egress, in the user's currency; no built-in price list
    call_minutes: float = 60.0  # a typical call, for refreshes per allocation
    shared_user: bool = False  # every client uses one TURN user name (static credentials)
    tcp_allocation_share: float = 0.0  # RFC 6062 TCP allocations among the relayed legs (not browsers)
    # Measured instead of modelled (``--from-coturn-log``): the server's egress per allocation, kbit/s.
    measured_leg_kbps: float | None = None
    measured_source: str = ""

    def problems(self) -> list[str]:
        """Why these inputs cannot be computed (one line each, naming the option); empty when fine."""
        out: list[str] = []
        if not MIN_PARTICIPANTS <= self.participants <= MAX_PARTICIPANTS:
            out.append(f"participants: {self.participants} is not within "
                       f"{MIN_PARTICIPANTS}..{MAX_PARTICIPANTS}")
        if not 1 <= self.rooms <= MAX_ROOMS:
            out.append(f"rooms: {self.rooms} is not within 1..{MAX_ROOMS}")
        if not 0 <= self.audio_kbps <= MAX_KBPS:
            out.append(f"audio-kbps: {self.audio_kbps:g} is not within 0..{MAX_KBPS:g}")
        if not 1 <= len(self.video_kbps) <= MAX_LAYERS:
            out.append(f"video-kbps: give 1..{MAX_LAYERS} layers (lowest first)")
        elif any(not 0 <= b <= MAX_KBPS for b in self.video_kbps):
            out.append(f"video-kbps: every layer must be within 0..{MAX_KBPS:g}")
        elif any(b > c for b, c in zip(self.video_kbps, self.video_kbps[1:], strict=False)):
            out.append("video-kbps: list the layers lowest first")
        if self.receive_layer is not None and not 1 <= self.receive_layer <= len(self.video_kbps):
            out.append(f"receive-layer: {self.receive_layer} is not one of the {len(self.video_kbps)} "
                       "layer(s)")
        for name, value in (("video-share", self.video_share), ("relay-ratio", self.relay_ratio),
                            ("tcp-allocations", self.tcp_allocation_share)):
            if not 0 <= value <= 1:
                out.append(f"{name}: {value:g} is not a share within 0..1")
        for name, maybe in (("minutes-per-month", self.participant_minutes),
                            ("price-per-gb", self.price_per_gb), ("call-minutes", self.call_minutes)):
            if maybe is not None and (maybe < 0 or not math.isfinite(maybe)):
                out.append(f"{name}: {maybe:g} must be a finite number >= 0")
        if self.measured_leg_kbps is not None and self.measured_leg_kbps < 0:
            out.append("measured egress per allocation is negative")
        return out

    @property
    def layers(self) -> int:
        return len(self.video_kbps)

    @property
    def receive_index(self) -> int:
        return (self.receive_layer or self.layers) - 1


@dataclass(frozen=True)
class Formula:
    """One computed quantity as the report shows it: what, how, the value, and where the rule comes from."""

    quantity: str
    formula: str
    value: str
    reference: str = ""


@dataclass(frozen=True)
class Direction:
    """Media of one direction of one leg (or of one participant): rate and packets."""

    kbps: float  # media (encoder) rate
    pps: float  # packets per second

    def plus(self, other: Direction) -> Direction:
        return Direction(self.kbps + other.kbps, self.pps + other.pps)

    def times(self, factor: float) -> Direction:
        return Direction(self.kbps * factor, self.pps * factor)

    def wire_kbps(self, header_bytes: int) -> float:
        """Rate with ``header_bytes`` added to every packet."""
        return self.kbps + self.pps * header_bytes * 8 / 1000.0


@dataclass(frozen=True)
class Streams:
    """Media streams per participant (an average participant: video senders are a share of them)."""

    audio_up: float
    audio_down: float
    video_up: float
    video_down: float

    @property
    def up(self) -> float:
        return self.audio_up + self.video_up

    @property
    def down(self) -> float:
        return self.audio_down + self.video_down


@dataclass
class Budget:
    """Everything ``rtcdiag budget`` computes for its inputs, per participant, per room and at peak."""

    inputs: BudgetInputs
    streams: Streams  # per participant
    room_streams_up: float
    room_streams_down: float
    participant_up: Direction  # what one participant sends (all its legs)
    participant_down: Direction  # and receives
    legs_per_participant: int
    legs_per_room: int
    leg_up: Direction  # one leg, towards the peer
    leg_down: Direction  # one leg, towards the client
    leg_egress_kbps: float  # the TURN server's egress for one relayed leg, on the wire
    leg_peak_bytes_per_s: float  # the busiest direction of one relayed leg as coturn counts it (max-bps)
    relayed_legs_per_room: float
    allocations: int  # at peak, all rooms
    udp_relay_ports: int
    tcp_relay_ports: int
    file_descriptors: int
    allocations_per_user: int
    egress_mbps: float  # relayed, at peak, all rooms (server egress; ingress is the same)
    lifetime_s: int
    refreshes_per_allocation: int  # per call
    control_requests_per_s: float  # at peak: Refresh + CreatePermission + ChannelBind (lower bound)
    egress_gb_month: float | None
    cost_month: float | None
    formulas: list[Formula] = field(default_factory=list)


def _audio(inputs: BudgetInputs) -> Direction:
    if inputs.audio_kbps <= 0:
        return Direction(0.0, 0.0)
    return Direction(inputs.audio_kbps, 1000.0 / AUDIO_PTIME_MS)


def _video(kbps: float) -> Direction:
    return Direction(kbps, kbps * 1000.0 / (8 * VIDEO_PACKET_BYTES))


def sent_video(inputs: BudgetInputs) -> Direction:
    """What one video sender sends to an SFU: every simulcast encoding, the top SVC layer, or the layer."""
    if inputs.layering is Layering.SIMULCAST:
        total = Direction(0.0, 0.0)
        for kbps in inputs.video_kbps:
            total = total.plus(_video(kbps))
        return total
    return _video(inputs.video_kbps[-1])


def received_video(inputs: BudgetInputs) -> Direction:
    """One received video stream: the receive layer (simulcast: that encoding; SVC: cumulative up to it)."""
    return _video(inputs.video_kbps[inputs.receive_index])


def streams_of(inputs: BudgetInputs) -> Streams:
    n, v = inputs.participants, inputs.video_share
    if inputs.topology is Topology.P2P:
        return Streams(n - 1, n - 1, v * (n - 1), v * (n - 1))
    if inputs.topology is Topology.SFU:
        up = v * (inputs.layers if inputs.layering is Layering.SIMULCAST else 1)
        return Streams(1, n - 1, up, v * (n - 1))
    return Streams(1, 1, v, 1.0 if v > 0 else 0.0)


def _sender_video(inputs: BudgetInputs) -> Direction:
    """What one video sender sends: to an SFU every encoding; p2p one at the receive layer; MCU the top."""
    if inputs.topology is Topology.SFU:
        return sent_video(inputs)
    if inputs.topology is Topology.P2P:
        return received_video(inputs)
    return _video(inputs.video_kbps[-1])


def legs_of(inputs: BudgetInputs) -> tuple[Direction, Direction]:
    """(up, down) of one leg of an average participant."""
    audio, v, n = _audio(inputs), inputs.video_share, inputs.participants
    if inputs.topology is Topology.P2P:
        one = audio.plus(received_video(inputs).times(v))  # one encoding per peer, at the receive layer
        return one, one
    if inputs.topology is Topology.SFU:
        down = audio.plus(received_video(inputs).times(v)).times(n - 1)
        return audio.plus(sent_video(inputs).times(v)), down
    top = _video(inputs.video_kbps[-1])
    return audio.plus(top.times(v)), audio.plus(received_video(inputs).times(1.0 if v > 0 else 0.0))


def compute(inputs: BudgetInputs, *, lifetime_s: int = DEFAULT_LIFETIME_S) -> Budget:
    """The budget for ``inputs``; ``lifetime_s``: the allocation lifetime the server grants a client that asks
    for none (the RFC default, or capped by coturn's ``max-allocate-lifetime``)."""
    problems = inputs.problems()
    if problems:
        raise ValueError("; ".join(problems))
    n, rooms, ratio = inputs.participants, inputs.rooms, inputs.relay_ratio
    streams = streams_of(inputs)
    leg_up, leg_down = legs_of(inputs)
    legs_per_participant = n - 1 if inputs.topology is Topology.P2P else 1
    legs_per_room = n * legs_per_participant
    participant_up = leg_up.times(legs_per_participant)
    participant_down = leg_down.times(legs_per_participant)
    modelled_egress = leg_down.wire_kbps(TO_CLIENT_WIRE_BYTES) + leg_up.wire_kbps(TO_PEER_WIRE_BYTES)
    leg_egress = inputs.measured_leg_kbps if inputs.measured_leg_kbps is not None else modelled_egress
    peak_direction = max(leg_down, leg_up, key=lambda d: d.wire_kbps(CLIENT_SIDE_PAYLOAD_BYTES))
    leg_peak_bytes = peak_direction.wire_kbps(CLIENT_SIDE_PAYLOAD_BYTES) * 1000.0 / 8
    relayed_per_room = legs_per_room * ratio
    relayed_total = relayed_per_room * rooms
    allocations = math.ceil(relayed_total - 1e-9)
    tcp_allocations = math.ceil(allocations * inputs.tcp_allocation_share - 1e-9)
    udp_allocations = allocations - tcp_allocations
    fds = FDS_PER_ALLOCATION * allocations + FDS_PER_TCP_PEER * tcp_allocations
    per_user = allocations if inputs.shared_user else legs_per_participant
    egress_mbps = relayed_total * leg_egress / 1000.0
    call_s = inputs.call_minutes * 60.0
    refreshes = max(math.ceil(call_s / lifetime_s) - 1, 0) if lifetime_s > 0 else 0
    control = allocations * (1.0 / max(lifetime_s, 1) + 1.0 / PERMISSION_LIFETIME_S
                             + 1.0 / CHANNEL_LIFETIME_S)
    gb: float | None = None
    cost: float | None = None
    if inputs.participant_minutes is not None:
        # Each participant-minute: its relayed legs for 60 s at the leg's egress rate.
        gb = inputs.participant_minutes * legs_per_participant * ratio * leg_egress * 1000.0 * 60 / 8 / GB
        if inputs.price_per_gb is not None:
            cost = gb * inputs.price_per_gb
    budget = Budget(
        inputs=inputs, streams=streams, room_streams_up=streams.up * n, room_streams_down=streams.down * n,
        participant_up=participant_up, participant_down=participant_down,
        legs_per_participant=legs_per_participant, legs_per_room=legs_per_room, leg_up=leg_up,
        leg_down=leg_down, leg_egress_kbps=leg_egress, leg_peak_bytes_per_s=leg_peak_bytes,
        relayed_legs_per_room=relayed_per_room, allocations=allocations, udp_relay_ports=udp_allocations,
        tcp_relay_ports=tcp_allocations, file_descriptors=fds, allocations_per_user=per_user,
        egress_mbps=egress_mbps, lifetime_s=lifetime_s, refreshes_per_allocation=refreshes,
        control_requests_per_s=control, egress_gb_month=gb, cost_month=cost)
    budget.formulas = _formulas(budget, modelled_egress)
    return budget


def number(value: float, digits: int = 2) -> str:
    """A number as the report shows it: integers plain, others with up to ``digits`` decimals."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".")


def _formulas(b: Budget, modelled_egress: float) -> list[Formula]:
    i = b.inputs
    n = i.participants
    shown_n = f"N={n}"
    streams = {
        Topology.P2P: (f"mesh: N-1 up and N-1 down per participant, N(N-1) in the room ({shown_n})",
                       "RFC 7667 Topo-Mesh: every peer connection carries its own copy"),
        Topology.SFU: (f"SFU: 1 up per encoding, N-1 down per participant; N up, N(N-1) down in the room "
                       f"({shown_n})", "RFC 7667 Topo-SFM (selective forwarding middlebox)"),
        Topology.MCU: (f"MCU: 1 up and 1 mixed down per participant; N up, N down in the room ({shown_n})",
                       "RFC 7667 Topo-Mixer (a mixer sends one mixed stream)"),
    }[i.topology]
    layering = "simulcast: the sum of the encodings" if i.layering is Layering.SIMULCAST \
        else "SVC: the top layer (layers are cumulative)"
    out = [
        Formula("streams per participant (audio + video)",
                f"{streams[0]}; video x share of senders {number(i.video_share)}",
                f"{number(b.streams.up)} up, {number(b.streams.down)} down", streams[1]),
        Formula("video a sender sends", layering if i.topology is Topology.SFU else
                "one encoding (p2p: the receive layer; MCU: the top layer)",
                f"{number(_sender_video(i).kbps)} kbit/s",
                "RFC 8853 (simulcast)" if i.topology is Topology.SFU and i.layers > 1 else ""),
        Formula("packets per stream",
                f"audio 1000/{AUDIO_PTIME_MS:g} ms = {number(1000 / AUDIO_PTIME_MS)}/s; video kbit/s x "
                f"1000 / (8 x {VIDEO_PACKET_BYTES} bytes)", "",
                "RFC 7587 (Opus over RTP; 20 ms packets as browsers send)"),
        Formula("bytes added per packet",
                f"RTP {RTP_HEADER_BYTES} + SRTP tag {SRTP_TAG_BYTES} (+ ChannelData "
                f"{CHANNELDATA_HEADER_BYTES} client side) + UDP/IPv4 {UDP_IPV4_HEADER_BYTES}",
                f"{TO_CLIENT_WIRE_BYTES} to the client, {TO_PEER_WIRE_BYTES} to the peer",
                "RFC 3550 §5.1, RFC 3711 §4.2, RFC 8656 §12.4"),
        Formula("legs (ICE connections) per room",
                "mesh: N x (N-1); SFU, MCU: N", number(b.legs_per_room),
                "RFC 8843 (BUNDLE: one transport per peer connection)"),
        Formula("relayed legs per room", f"legs x relay ratio {number(i.relay_ratio, 3)} "
                f"({i.relay_ratio_source})", number(b.relayed_legs_per_room), ""),
        Formula("one relayed leg through the server (egress)",
                "down x (1 + 54 B/packet) + up x (1 + 50 B/packet)",
                f"{number(modelled_egress)} kbit/s (down {number(b.leg_down.kbps)}, up "
                f"{number(b.leg_up.kbps)} kbit/s of media)",
                "RFC 8656 §2.2 (what the relay receives it sends on)"),
    ]
    if i.measured_leg_kbps is not None:
        out.append(Formula("one relayed leg, measured", f"server egress per allocation-second in "
                           f"{i.measured_source}", f"{number(i.measured_leg_kbps)} kbit/s (used below)",
                           "coturn session usage (sb + peer sb)"))
    out += [
        Formula("TURN allocations at peak", f"rooms {number(i.rooms)} x relayed legs per room, rounded up",
                number(b.allocations), "RFC 8656 §2.2 (one allocation per relayed client 5-tuple)"),
        Formula("relay ports at peak", "one per UDP allocation (RFC 6062 TCP allocations: the TCP range)",
                f"{number(b.udp_relay_ports)} UDP, {number(b.tcp_relay_ports)} TCP",
                "RFC 8656 §7.2; RFC 6062 §5.1"),
        Formula("file descriptors at peak", f"{FDS_PER_ALLOCATION} per allocation (client socket + relay "
                f"socket) + {FDS_PER_TCP_PEER} per RFC 6062 peer connection", number(b.file_descriptors),
                "coturn: one connected socket per client (dtls_listener.c) and one per relay"),
        Formula("allocations per TURN user name", "all allocations (one shared user)" if i.shared_user
                else "a participant's legs, all relayed", number(b.allocations_per_user),
                "coturn user-quota counts per user name (userdb.c check_new_allocation_quota)"),
        Formula("relayed Mbit/s at peak (server egress; ingress the same)",
                "relayed legs x egress of one leg", number(b.egress_mbps), ""),
        Formula("busiest direction of one leg (coturn max-bps units)",
                f"media + {CLIENT_SIDE_PAYLOAD_BYTES} B/packet (RTP, SRTP tag, ChannelData), bytes/second",
                f"{number(math.ceil(b.leg_peak_bytes_per_s))} B/s",
                "coturn max-bps: bytes per second per session and direction (ns_ioalib_engine_impl.c)"),
        Formula("refreshes per allocation per call", f"ceil(call {number(i.call_minutes)} min / lifetime "
                f"{b.lifetime_s} s) - 1", number(b.refreshes_per_allocation), "RFC 8656 §3.2, §8"),
        Formula("control requests per second at peak (at least)",
                f"allocations x (1/{b.lifetime_s} s Refresh + 1/{PERMISSION_LIFETIME_S} s CreatePermission + "
                f"1/{CHANNEL_LIFETIME_S} s ChannelBind)", number(b.control_requests_per_s),
                "RFC 8656 §8, §9, §12"),
    ]
    if b.egress_gb_month is not None:
        out.append(Formula("egress per month", "participant-minutes x legs per participant x relay ratio x "
                           "leg egress x 60 s / 8 / 10^9", f"{number(b.egress_gb_month)} GB", ""))
    if b.cost_month is not None and i.price_per_gb is not None:
        out.append(Formula("egress cost per month", f"GB x price {number(i.price_per_gb, 4)} per GB",
                           number(b.cost_month), "your provider's price (rtcdiag has no price list)"))
    return out

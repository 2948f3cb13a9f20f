"""``rtcdiag budget``'s arithmetic against tables computed by hand (issue 26): streams per topology (mesh
N(N-1), SFU N up / N(N-1) down, MCU N up / N down), simulcast and SVC layers, packet overheads, relayed legs,
allocations, descriptors, the monthly bill."""

from __future__ import annotations

import math

import pytest

from rtcdiag.triage.budget_model import (
    BudgetInputs,
    Layering,
    Topology,
    compute,
    number,
)


def _inputs(topology: Topology, n: int, **kw: object) -> BudgetInputs:
    return BudgetInputs(topology=topology, participants=n, **kw)  # type: ignore[arg-type]


# (topology, N) -> streams in the room, per media kind, with every participant sending: (up, down).
ROOM_STREAMS = {
    (Topology.P2P, 2): (2, 2), (Topology.P2P, 3): (6, 6), (Topology.P2P, 4): (12, 12),
    (Topology.P2P, 6): (30, 30), (Topology.P2P, 10): (90, 90),
    (Topology.SFU, 2): (2, 2), (Topology.SFU, 3): (3, 6), (Topology.SFU, 4): (4, 12),
    (Topology.SFU, 10): (10, 90), (Topology.SFU, 50): (50, 2450),
    (Topology.MCU, 2): (2, 2), (Topology.MCU, 4): (4, 4), (Topology.MCU, 10): (10, 10),
    (Topology.MCU, 200): (200, 200),
}


@pytest.mark.parametrize(("topology", "n"), list(ROOM_STREAMS), ids=lambda v: str(v))
def test_room_streams_per_kind_match_the_hand_table(topology: Topology, n: int) -> None:
    b = compute(_inputs(topology, n))
    up, down = ROOM_STREAMS[(topology, n)]
    # audio and video each: the room counts hold per kind, so the total is twice.
    assert (b.streams.audio_up * n, b.streams.audio_down * n) == (up, down)
    assert (b.streams.video_up * n, b.streams.video_down * n) == (up, down)
    assert (b.room_streams_up, b.room_streams_down) == (2 * up, 2 * down)


def test_simulcast_sfu_sends_every_layer_and_receives_one() -> None:
    b = compute(_inputs(Topology.SFU, 5, audio_kbps=40, video_kbps=(150, 500, 1500), receive_layer=2))
    assert b.streams.video_up == 3  # three encodings up
    assert b.streams.video_down == 4
    assert b.participant_up.kbps == pytest.approx(40 + 150 + 500 + 1500)
    assert b.participant_down.kbps == pytest.approx(4 * (40 + 500))


def test_svc_sfu_sends_the_top_layer_and_receivers_get_theirs() -> None:
    b = compute(_inputs(Topology.SFU, 5, audio_kbps=40, video_kbps=(300, 800, 2000), layering=Layering.SVC,
                        receive_layer=1))
    assert b.streams.video_up == 1
    assert b.participant_up.kbps == pytest.approx(40 + 2000)
    assert b.participant_down.kbps == pytest.approx(4 * (40 + 300))


def test_mesh_sends_one_encoding_per_peer_at_the_receive_layer() -> None:
    b = compute(_inputs(Topology.P2P, 4, audio_kbps=32, video_kbps=(200, 1200), receive_layer=1))
    assert b.participant_up.kbps == pytest.approx(3 * (32 + 200))
    assert b.participant_down.kbps == pytest.approx(3 * (32 + 200))


def test_mcu_sends_the_top_layer_and_receives_one_mix() -> None:
    b = compute(_inputs(Topology.MCU, 8, audio_kbps=32, video_kbps=(300, 1500), receive_layer=1))
    assert b.participant_up.kbps == pytest.approx(32 + 1500)
    assert b.participant_down.kbps == pytest.approx(32 + 300)


def test_video_share_scales_video_streams_of_an_average_participant() -> None:
    b = compute(_inputs(Topology.P2P, 4, video_share=0.5))
    assert (b.streams.video_up, b.streams.video_down) == (1.5, 1.5)
    sfu = compute(_inputs(Topology.SFU, 4, video_share=0.25))  # one sender of four
    assert sfu.streams.video_up * 4 == pytest.approx(1)  # one video stream up in the room
    assert sfu.streams.video_down * 4 == pytest.approx(3)  # the other three receive it


def test_packets_and_overheads_of_an_audio_only_leg() -> None:
    # SFU, 2 participants, audio only (32 kbit/s, 50 packets/s). One leg: 32 kbit/s up and 32 down.
    b = compute(_inputs(Topology.SFU, 2, audio_kbps=32, video_share=0))
    down_wire = 32 + 50 * 54 * 8 / 1000  # to the client: RTP 12 + SRTP 10 + ChannelData 4 + UDP/IPv4 28
    up_wire = 32 + 50 * 50 * 8 / 1000  # to the peer: no ChannelData
    assert b.leg_egress_kbps == pytest.approx(down_wire + up_wire)  # 53.6 + 52 = 105.6
    assert b.leg_egress_kbps == pytest.approx(105.6)
    # coturn counts UDP payloads: 4000 B/s of media + 50 x 26 B (RTP, SRTP tag, ChannelData)
    assert b.leg_peak_bytes_per_s == pytest.approx(4000 + 50 * 26)


def test_video_packets_are_1200_byte_payloads() -> None:
    b = compute(_inputs(Topology.SFU, 2, audio_kbps=0, video_kbps=(960,)))
    assert b.leg_up.pps == pytest.approx(100)  # 960 kbit/s / (8 x 1200 B)
    assert b.leg_up.kbps == pytest.approx(960)


def test_allocations_ports_and_descriptors_at_peak() -> None:
    sfu = compute(_inputs(Topology.SFU, 10, rooms=50, relay_ratio=0.2))
    assert (sfu.legs_per_room, sfu.relayed_legs_per_room, sfu.allocations) == (10, 2, 100)
    assert (sfu.udp_relay_ports, sfu.file_descriptors, sfu.allocations_per_user) == (100, 200, 1)
    mesh = compute(_inputs(Topology.P2P, 4, rooms=5))
    assert (mesh.legs_per_room, mesh.allocations, mesh.allocations_per_user) == (12, 60, 3)
    shared = compute(_inputs(Topology.P2P, 4, rooms=5, shared_user=True))
    assert shared.allocations_per_user == 60
    tcp = compute(_inputs(Topology.SFU, 10, rooms=10, tcp_allocation_share=0.5))
    assert (tcp.allocations, tcp.udp_relay_ports, tcp.tcp_relay_ports) == (100, 50, 50)
    assert tcp.file_descriptors == 2 * 100 + 2 * 50  # RFC 6062: data + peer connection per TCP allocation
    odd = compute(_inputs(Topology.SFU, 3, rooms=1, relay_ratio=0.5))  # 1.5 relayed legs: 2 allocations
    assert odd.allocations == 2


def test_relayed_bandwidth_and_the_monthly_bill() -> None:
    b = compute(_inputs(Topology.SFU, 10, rooms=50, relay_ratio=0.2, video_kbps=(150, 500, 1500),
                        participant_minutes=1_000_000, price_per_gb=0.08))
    assert b.egress_mbps == pytest.approx(100 * b.leg_egress_kbps / 1000)
    gb = 1_000_000 * 1 * 0.2 * b.leg_egress_kbps * 1000 * 60 / 8 / 1e9
    assert b.egress_gb_month == pytest.approx(gb)
    assert b.cost_month == pytest.approx(gb * 0.08)
    # By hand: down 9 x (32 + 1500) kbit/s, 9 x (50 + 156.25) packets/s; up 32 + 2150 kbit/s,
    # 50 + 2150000/9600 packets/s.
    down = 9 * 1532 + 9 * 206.25 * 54 * 8 / 1000
    up = 2182 + (50 + 2150000 / 9600) * 50 * 8 / 1000
    assert b.leg_egress_kbps == pytest.approx(down + up)
    no_price = compute(_inputs(Topology.SFU, 10, participant_minutes=100))
    assert no_price.cost_month is None and no_price.egress_gb_month is not None


def test_measured_leg_egress_replaces_the_model() -> None:
    b = compute(_inputs(Topology.SFU, 4, rooms=10, relay_ratio=0.5, measured_leg_kbps=800.0,
                        measured_source="coturn.log"))
    assert b.egress_mbps == pytest.approx(20 * 0.8)
    assert any("measured" in f.quantity for f in b.formulas)


def test_refreshes_and_control_rate_follow_the_lifetime() -> None:
    b = compute(_inputs(Topology.SFU, 10, call_minutes=60), lifetime_s=600)
    assert b.refreshes_per_allocation == 5
    assert compute(_inputs(Topology.SFU, 10, call_minutes=60), lifetime_s=300).refreshes_per_allocation == 11
    assert compute(_inputs(Topology.SFU, 10, call_minutes=5), lifetime_s=600).refreshes_per_allocation == 0
    assert b.control_requests_per_s == pytest.approx(10 * (1 / 600 + 1 / 300 + 1 / 600))


def test_every_formula_is_shown_with_a_value() -> None:
    b = compute(_inputs(Topology.SFU, 10, participant_minutes=10, price_per_gb=1))
    names = [f.quantity for f in b.formulas]
    for wanted in ("TURN allocations at peak", "relay ports at peak", "file descriptors at peak",
                   "egress per month", "egress cost per month"):
        assert wanted in names
    assert all(f.formula for f in b.formulas)


@pytest.mark.parametrize(("kw", "word"), [
    ({"participants": 1}, "participants"), ({"participants": 201}, "participants"),
    ({"rooms": 0}, "rooms"), ({"video_kbps": (1500, 500)}, "lowest first"),
    ({"video_kbps": ()}, "layers"), ({"receive_layer": 3}, "receive-layer"),
    ({"video_share": 1.5}, "video-share"), ({"relay_ratio": -0.1}, "relay-ratio"),
    ({"price_per_gb": float("nan")}, "price-per-gb"), ({"audio_kbps": -1}, "audio-kbps"),
])
def test_bad_inputs_name_their_option(kw: dict[str, object], word: str) -> None:
    values: dict[str, object] = {"topology": Topology.SFU, "participants": 4, **kw}
    inputs = BudgetInputs(**values)  # type: ignore[arg-type]
    assert any(word in p for p in inputs.problems())
    with pytest.raises(ValueError):
        compute(inputs)


def test_numbers_are_shown_plainly() -> None:
    assert number(100.0) == "100"
    assert number(1234567) == "1,234,567"
    assert number(2.5) == "2.5"
    assert number(math.pi, 3) == "3.142"

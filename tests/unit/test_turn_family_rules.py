"""Relay families (RFC 8656 §7.1/§7.2) and RFC 6062 TCP relays: the codec bits, the Allocate the probe
builds, the reading of a (dual) Allocate success, and the judge on recorded results (no network)."""

from __future__ import annotations

import pytest

from rtcdiag.addresses import scope_of
from rtcdiag.probes.record import Exchange
from rtcdiag.probes.turn_allocate import allocate_request, planned_relays, take_relays
from rtcdiag.probes.turn_result import (
    FAMILY_CHOICES,
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    FamilyRelay,
    RelayFamily,
    TcpRelayResult,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.probes.turn_tcp_relay import tcp_allocate_request
from rtcdiag.protocol import (
    Address,
    AddressErrorCode,
    AddressFamily,
    AttrType,
    Message,
    MessageClass,
    Method,
    RequestedAddressFamily,
    RequestedTransport,
    StunParseError,
)
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Status
from rtcdiag.triage import turn as rules
from rtcdiag.triage.judgement import Judgement, StepState

HOST = "192.0.2.10"
V4, V6 = RelayFamily.IPV4, RelayFamily.IPV6

# --- codec -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attr", [AttrType.REQUESTED_ADDRESS_FAMILY, AttrType.ADDITIONAL_ADDRESS_FAMILY])
def test_family_attributes_are_one_byte_family_and_three_reserved(attr: int) -> None:
    msg = Message(Method.ALLOCATE, MessageClass.REQUEST).add(attr, RequestedAddressFamily(AddressFamily.IPV6))
    raw = msg.encode()
    assert raw[20:28] == attr.to_bytes(2, "big") + b"\x00\x04" + b"\x02\x00\x00\x00"  # RFC 8656 §18.8/§18.9
    assert Message.decode(raw).get(attr) == RequestedAddressFamily(2)


def test_family_attribute_of_the_wrong_length_is_a_parse_error() -> None:
    msg = Message(Method.ALLOCATE, MessageClass.REQUEST)
    msg.add_raw(AttrType.REQUESTED_ADDRESS_FAMILY, b"\x02\x00")
    with pytest.raises(StunParseError):
        Message.decode(msg.encode()).get(AttrType.REQUESTED_ADDRESS_FAMILY)


def test_connection_id_is_a_32_bit_value() -> None:
    msg = Message(Method.CONNECTION_BIND, MessageClass.REQUEST).add(AttrType.CONNECTION_ID, 0xDEADBEEF)
    raw = msg.encode()
    assert raw[20:28] == b"\x00\x2a\x00\x04\xde\xad\xbe\xef"  # RFC 6062 §6.2.1
    assert Message.decode(raw).get(AttrType.CONNECTION_ID) == 0xDEADBEEF
    assert raw[0:2] == b"\x00\x0b"  # ConnectionBind request (method 0x000B)


def test_address_error_code_round_trip() -> None:
    msg = Message(Method.ALLOCATE, MessageClass.SUCCESS)
    msg.add(AttrType.ADDRESS_ERROR_CODE, AddressErrorCode(AddressFamily.IPV6, 440, "no IPv6"))
    value = Message.decode(msg.encode()).get(AttrType.ADDRESS_ERROR_CODE)
    assert value == AddressErrorCode(2, 440, "no IPv6")


# --- the Allocate the probe sends ------------------------------------------------------------------------


def _families(msg: Message) -> dict[int, list[object]]:
    return {attr: msg.get_all(attr) for attr in (AttrType.REQUESTED_ADDRESS_FAMILY,
                                                 AttrType.ADDITIONAL_ADDRESS_FAMILY)}


def test_ipv4_allocate_sends_no_family_attribute_like_a_browser() -> None:
    msg = Message.decode(allocate_request(FAMILY_CHOICES["4"]).encode())
    assert _families(msg) == {AttrType.REQUESTED_ADDRESS_FAMILY: [], AttrType.ADDITIONAL_ADDRESS_FAMILY: []}
    assert msg.get(AttrType.REQUESTED_TRANSPORT) == RequestedTransport(17)


def test_ipv6_allocate_sends_requested_address_family() -> None:
    msg = Message.decode(allocate_request(FAMILY_CHOICES["6"]).encode())
    assert _families(msg) == {AttrType.REQUESTED_ADDRESS_FAMILY: [RequestedAddressFamily(2)],
                              AttrType.ADDITIONAL_ADDRESS_FAMILY: []}


def test_dual_allocate_sends_only_additional_address_family_ipv6() -> None:
    # RFC 8656 §7.2: REQUESTED- and ADDITIONAL-ADDRESS-FAMILY together are a 400.
    msg = Message.decode(allocate_request(FAMILY_CHOICES["both"]).encode())
    assert _families(msg) == {AttrType.REQUESTED_ADDRESS_FAMILY: [],
                              AttrType.ADDITIONAL_ADDRESS_FAMILY: [RequestedAddressFamily(2)]}
    assert [(r.family, r.requested_with) for r in planned_relays(FAMILY_CHOICES["both"])] == [
        (V4, None), (V6, "ADDITIONAL-ADDRESS-FAMILY")]


def test_tcp_allocate_asks_for_tcp() -> None:
    msg = Message.decode(tcp_allocate_request(V4).encode())
    assert msg.get(AttrType.REQUESTED_TRANSPORT) == RequestedTransport(6)  # RFC 6062 §4.1
    assert msg.get(AttrType.REQUESTED_ADDRESS_FAMILY) is None
    v6 = Message.decode(tcp_allocate_request(V6).encode())
    assert v6.get(AttrType.REQUESTED_ADDRESS_FAMILY) == RequestedAddressFamily(2)


# --- reading the Allocate success ---------------------------------------------------------------------------


def _success(*attrs: tuple[int, object]) -> Message:
    msg = Message(Method.ALLOCATE, MessageClass.SUCCESS)
    for attr, value in attrs:
        msg.add(attr, value)  # type: ignore[arg-type]
    return Message.decode(msg.encode())


def test_dual_success_yields_both_relays_in_the_order_asked() -> None:
    tr = TransportResult(transport="udp", server=f"{HOST}:3478",
                         relays=planned_relays(FAMILY_CHOICES["both"]))
    take_relays(tr, _success((AttrType.XOR_RELAYED_ADDRESS, Address.of("2001:db8::5", 50001)),
                             (AttrType.XOR_RELAYED_ADDRESS, Address.of("192.0.2.5", 50000))))
    assert [(r.family, r.relayed_address) for r in tr.relays] == [
        (V4, "192.0.2.5:50000"), (V6, "[2001:db8::5]:50001")]
    assert tr.relayed_address == "192.0.2.5:50000" and tr.relay_scope == scope_of("192.0.2.5").value


def test_address_error_code_marks_the_failed_family() -> None:
    tr = TransportResult(transport="udp", server=f"{HOST}:3478",
                         relays=planned_relays(FAMILY_CHOICES["both"]))
    take_relays(tr, _success((AttrType.XOR_RELAYED_ADDRESS, Address.of("192.0.2.5", 50000)),
                             (AttrType.ADDRESS_ERROR_CODE, AddressErrorCode(2, 440, "no v6"))))
    assert tr.relays[1].relayed_address is None
    assert (tr.relays[1].error_code, tr.relays[1].error_reason) == (440, "no v6")
    assert tr.relays[0].error_code is None


def test_a_family_nobody_asked_for_is_kept_but_not_asked() -> None:
    tr = TransportResult(transport="udp", server=f"{HOST}:3478", relays=planned_relays(FAMILY_CHOICES["4"]))
    take_relays(tr, _success((AttrType.XOR_RELAYED_ADDRESS, Address.of("2001:db8::5", 50001))))
    assert tr.relayed_address is None  # the IPv4 relay we asked for is missing
    assert [(r.family, r.asked) for r in tr.relays] == [(V4, True), (V6, False)]


# --- the judge ------------------------------------------------------------------------------------------


def _ex(step: str, outcome: str = "success", code: int | None = None) -> Exchange:
    return Exchange(step=step, request="Allocate request", transport="udp", server=f"{HOST}:3478",
                    outcome=outcome, error_code=code, rtt_ms=1.0, attempts=1,
                    response=f"Allocate error response {code}" if code else "Allocate success response")


def _data(family: RelayFamily, received: int = 5) -> list[DataPathResult]:
    return [DataPathResult(method=m, peer="192.0.2.9:4000", family=family, packets_sent=5,
                           packets_received=received, rtts_ms=[1.0] * received,
                           steps=[_ex("create-permission" if m == METHOD_INDICATION else "channel-bind")])
            for m in (METHOD_INDICATION, METHOD_CHANNEL)]


def _leg(relays: list[FamilyRelay], *, allocated: bool = True, code: int | None = None,
         data: list[DataPathResult] | None = None, transport: str = "udp") -> TransportResult:
    first = relays[0]
    steps = [_ex("allocate (unauthenticated)", "error-response", 401),
             _ex("allocate (authenticated)", "error-response" if code else "success", code)]
    if allocated:
        steps += [_ex("refresh"), _ex("refresh (release, LIFETIME=0)")]
    return TransportResult(
        transport=transport, server=f"{HOST}:3478", port=3478, connected=True,
        connect_ms=1.0 if transport != "udp" else None, steps=steps, challenge_code=401,
        challenge_answered=True, realm="r", nonce_seen=True, authenticated=True, auth_algorithm="md5",
        allocated=allocated, error_code=code, error_reason="Address Family not Supported" if code else None,
        error_step="authenticated Allocate request" if code else None,
        relayed_address=first.relayed_address, relayed_ip=first.relayed_ip, relay_scope=first.relay_scope,
        relays=relays, data_paths=data or [], refreshed=allocated or None, released=allocated or None,
        duration_ms=10.0)


def _relay(family: RelayFamily, ok: bool = True, requested_with: str | None = None,
           **kw: object) -> FamilyRelay:
    ip = "192.0.2.5" if family is V4 else "2001:db8::5"
    address = (f"[{ip}]:50001" if family is V6 else f"{ip}:50000") if ok else None
    return FamilyRelay(family, requested_with, address, ip if ok else None, "documentation" if ok else None,
                       **kw)  # type: ignore[arg-type]


def _result(*legs: TransportResult, families: tuple[RelayFamily, ...] = (V4,),
            tcp_relay: bool = False) -> TurnCheckResult:
    return TurnCheckResult(target=f"turn:{HOST}:3478", host=HOST, port=3478, server_ip=HOST,
                           server_scope="documentation", username="alice", credential_kind="long-term",
                           families=list(families), tcp_relay=tcp_relay, transports=list(legs))


def _steps(j: Judgement, transport: str = "udp") -> dict[str, tuple[StepState, str]]:
    return {s.step: (s.state, s.detail) for s in j.steps if s.subject.transport == transport}


def _where(j: Judgement) -> set[tuple[str, str]]:
    return {(f.id, f.step) for f in j.findings if f.id != "TURN-RELAY-LOCAL"}


def test_default_ipv4_440_is_no_ipv4_relay_not_a_family_error() -> None:
    result = _result(_leg([_relay(V4, ok=False)], allocated=False, code=440))
    j = rules.judge(result)
    assert _where(j) == {("TURN-NO-IPV4-RELAY", "allocate")}
    steps = _steps(j)
    assert list(steps) == rules.steps_for(result)
    assert steps["data-channel-data"][0] is StepState.SKIPPED and steps["refresh"][0] is StepState.SKIPPED
    assert "440" in steps["refresh"][1]


def test_ipv6_440_to_requested_address_family_is_family_440_on_the_ipv6_step() -> None:
    result = _result(_leg([_relay(V6, ok=False, requested_with="REQUESTED-ADDRESS-FAMILY")], allocated=False,
                          code=440), families=(V6,))
    j = rules.judge(result)
    assert _where(j) == {("TURN-FAMILY-440", "allocate-ipv6")}
    [finding] = [f for f in j.findings if f.id == "TURN-FAMILY-440"]
    assert "REQUESTED-ADDRESS-FAMILY IPv6" in finding.symptom
    assert list(_steps(j)) == ["connect", "challenge", "allocate-ipv6", "relay-address-ipv6",
                               "data-send-indication-ipv6", "data-channel-data-ipv6", "refresh"]


def test_healthy_dual_allocation_has_one_set_of_steps_per_family_all_passing() -> None:
    leg = _leg([_relay(V4), _relay(V6, requested_with="ADDITIONAL-ADDRESS-FAMILY")],
               data=_data(V4) + _data(V6))
    result = _result(leg, families=(V4, V6))
    report = build_report("turn-check", rules.judge_all([result]))
    assert [c.name for c in report.checks] == [f"udp/{s}" for s in rules.steps_for(result)]
    assert "udp/allocate" in {c.name for c in report.checks}  # the IPv4 names stay as they were
    assert {c.status for c in report.checks} == {Status.PASS}
    steps = _steps(rules.judge(result))
    assert "[2001:db8::5]:50001" in steps["allocate-ipv6"][1]
    assert "dual allocation" in steps["allocate-ipv6"][1]
    assert steps["data-channel-data-ipv6"][1].startswith("ChannelBind + ChannelData: 5/5")


def test_dual_allocation_with_address_error_code_for_ipv6_fails_only_the_ipv6_steps() -> None:
    leg = _leg([_relay(V4), _relay(V6, ok=False, requested_with="ADDITIONAL-ADDRESS-FAMILY", error_code=440)],
               data=_data(V4))
    j = rules.judge(_result(leg, families=(V4, V6)))
    assert _where(j) == {("TURN-FAMILY-440", "allocate-ipv6")}
    steps = _steps(j)
    assert steps["data-channel-data"][0] is StepState.DONE
    assert steps["relay-address-ipv6"][0] is StepState.SKIPPED and steps["refresh"][0] is StepState.DONE


def test_dual_allocation_with_address_error_code_for_ipv4_is_no_ipv4_relay() -> None:
    leg = _leg([_relay(V4, ok=False, error_code=440), _relay(V6, requested_with="ADDITIONAL-ADDRESS-FAMILY")],
               data=_data(V6))
    j = rules.judge(_result(leg, families=(V4, V6)))
    assert _where(j) == {("TURN-NO-IPV4-RELAY", "allocate")}
    steps = _steps(j)
    assert steps["data-send-indication"][0] is StepState.SKIPPED
    assert steps["data-send-indication-ipv6"][0] is StepState.DONE
    assert steps["refresh"][0] is StepState.DONE  # the allocation exists: refreshed and released


def test_ignored_additional_family_checked_separately_is_an_info_and_the_ipv6_steps_pass() -> None:
    separate = _relay(V6, requested_with="REQUESTED-ADDRESS-FAMILY", separate=True, released=True,
                      steps=[_ex("allocate (unauthenticated)", "error-response", 401),
                             _ex("allocate (authenticated)")])
    leg = _leg([_relay(V4), separate], data=_data(V4) + _data(V6))
    report = build_report("turn-check", rules.judge_all([_result(leg, families=(V4, V6))]))
    assert {(f.id, f.step) for f in report.findings if f.id != "TURN-RELAY-LOCAL"} == {
        ("TURN-DUAL-ALLOCATION-IGNORED", "allocate-ipv6")}
    assert report.exit_code == 0
    assert {c.status for c in report.checks if c.name.endswith("-ipv6")} <= {Status.PASS, Status.WARN}


def test_whole_dual_allocate_440_still_judges_the_separate_ipv6_allocation() -> None:
    separate = _relay(V6, requested_with="REQUESTED-ADDRESS-FAMILY", separate=True, released=True)
    leg = _leg([_relay(V4, ok=False), separate], allocated=False, code=440, data=_data(V6))
    j = rules.judge(_result(leg, families=(V4, V6)))
    assert ("TURN-NO-IPV4-RELAY", "allocate") in _where(j)
    steps = _steps(j)
    assert steps["data-channel-data-ipv6"][0] is StepState.DONE
    assert steps["relay-address"][0] is StepState.SKIPPED


def test_peer_family_443_after_the_fix_is_still_reported() -> None:
    data = _data(V4)
    data[0].steps = [_ex("create-permission", "error-response", 443)]
    data[0].packets_sent = data[0].packets_received = 0
    j = rules.judge(_result(_leg([_relay(V4)], data=data)))
    assert ("TURN-FAMILY-443", "data-send-indication") in _where(j)


# --- TCP relay (RFC 6062) -----------------------------------------------------------------------------------


def _tcp_leg(tcp: TcpRelayResult | None, transport: str = "tcp") -> TurnCheckResult:
    leg = _leg([_relay(V4)], data=_data(V4), transport=transport)
    leg.tcp_relay = tcp
    return _result(leg, tcp_relay=True)


def _tcp_ok(**kw: object) -> TcpRelayResult:
    values: dict[str, object] = dict(peer="192.0.2.9:4100", allocated=True, relayed_address="192.0.2.5:50002",
                                     connection_id=7, bound=True, chunks_sent=5, chunks_echoed=5,
                                     bytes_sent=1280, bytes_received=1280, rtts_ms=[0.1] * 5, rtt_avg_ms=0.1,
                                     released=True, duration_ms=5.0)
    values.update(kw)
    return TcpRelayResult(**values)  # type: ignore[arg-type]


def test_tcp_relay_over_udp_is_skipped_with_the_reason() -> None:
    j = rules.judge(_tcp_leg(None, transport="udp"))
    state, detail = _steps(j)["tcp-relay"]
    assert state is StepState.SKIPPED and "TCP/TLS only" in detail


def test_tcp_relay_step_only_when_asked() -> None:
    result = _tcp_leg(None)
    result.tcp_relay = False
    assert "tcp-relay" not in _steps(rules.judge(result), "tcp")


def test_tcp_relay_that_works_passes() -> None:
    report = build_report("turn-check", rules.judge_all([_tcp_leg(_tcp_ok())]))
    [case] = [c for c in report.checks if c.name == "tcp/tcp-relay"]
    assert case.status is Status.PASS and "5/5 chunk(s)" in case.message


def test_442_to_the_tcp_allocate_is_no_rfc_6062_warning() -> None:
    tcp = TcpRelayResult(error_code=442, error_reason="TCP Transport is not allowed",
                         error_step="TCP Allocate request", duration_ms=1.0)
    report = build_report("turn-check", rules.judge_all([_tcp_leg(tcp)]))
    [finding] = [f for f in report.findings if f.step == "tcp-relay"]
    assert finding.id == "TURN-TCP-RELAY-UNSUPPORTED" and finding.severity.value == "warning"
    assert report.exit_code == 0


@pytest.mark.parametrize("code", [446, 447])
def test_connect_errors_are_their_own_findings(code: int) -> None:
    tcp = _tcp_ok(error_code=code, error_step="Connect request", bound=False, chunks_sent=0, chunks_echoed=0)
    j = rules.judge(_tcp_leg(tcp))
    assert (f"TURN-CONNECTION-{code}", "tcp-relay") in _where(j)


def test_447_from_a_public_server_to_a_private_peer_is_undecided() -> None:
    tcp = _tcp_ok(error_code=447, error_step="Connect request", bound=False, peer="10.0.0.5:4100")
    result = _tcp_leg(tcp)
    result.server_scope = "public"
    j = rules.judge(result)
    assert not [f for f in j.findings if f.step == "tcp-relay"]
    assert _steps(j, "tcp")["tcp-relay"][0] is StepState.UNDECIDED and j.facts.inconclusive


def test_bytes_altered_through_the_tcp_relay_is_an_error() -> None:
    j = rules.judge(_tcp_leg(_tcp_ok(chunks_echoed=4, corrupted=1)))
    [finding] = [f for f in j.findings if f.step == "tcp-relay"]
    assert finding.id == "TURN-TCP-RELAY-FAILED" and "1 altered" in finding.symptom


def test_a_data_path_this_machine_cannot_try_is_undecided_without_blaming_the_server() -> None:
    why = "no local IPv6 echo peer can reach the relay [2001:db8::5]:50001 (Network is unreachable)"
    data = [DataPathResult(method=m, peer="-", family=V6, local_error=why)
            for m in (METHOD_INDICATION, METHOD_CHANNEL)]
    leg = _leg([_relay(V6, requested_with="REQUESTED-ADDRESS-FAMILY")], data=data)
    j = rules.judge(_result(leg, families=(V6,)))
    assert _where(j) == set()
    steps = _steps(j)
    assert steps["data-send-indication-ipv6"] == (StepState.UNDECIDED, why)
    assert steps["data-channel-data-ipv6"][0] is StepState.UNDECIDED
    assert j.facts.inconclusive


def test_tcp_relay_without_a_reachable_local_peer_is_undecided() -> None:
    tcp = TcpRelayResult(allocated=True, relayed_address="255.255.255.255:5000", released=True,
                         local_error="no local TCP echo peer can reach the relay 255.255.255.255:5000")
    j = rules.judge(_tcp_leg(tcp))
    assert not [f for f in j.findings if f.step == "tcp-relay"]
    assert _steps(j, "tcp")["tcp-relay"][0] is StepState.UNDECIDED


def test_peer_initiated_direction_failing_is_its_own_tcp_relay_failure() -> None:
    incoming = TcpRelayResult(peer="192.0.2.9:4100", allocated=True,
                              error="no ConnectionAttempt indication within 5.0 s after the peer connected")
    j = rules.judge(_tcp_leg(_tcp_ok(incoming=incoming)))
    [finding] = [f for f in j.findings if f.step == "tcp-relay"]
    assert finding.id == "TURN-TCP-RELAY-FAILED" and "ConnectionAttempt" in finding.symptom


def test_peer_initiated_direction_working_is_named_in_the_outcome() -> None:
    incoming = _tcp_ok(connection_id=9)
    j = rules.judge(_tcp_leg(_tcp_ok(incoming=incoming)))
    state, detail = _steps(j, "tcp")["tcp-relay"]
    assert state is StepState.DONE and "peer-initiated (ConnectionAttempt, connection id 9)" in detail

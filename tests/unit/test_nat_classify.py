"""RFC 5780 §4.3/§4.4 classification and the RFC 3489 label, from recorded observations."""

from __future__ import annotations

import pytest

from rtcdiag.probes.nat_classify import (
    Filtering,
    FilteringVerdict,
    Legacy,
    Mapping,
    MappingVerdict,
    NatTestOutcome,
    attempts_needed,
    classify_filtering,
    classify_mapping,
    classify_mapping_across_servers,
    legacy_label,
    loss_upper_bound,
    silence_outcome,
)

LOCAL = ("192.168.1.10", 50000)
A = ("198.51.100.7", 50000)
B = ("198.51.100.7", 61001)
C = ("198.51.100.7", 61002)
R, S, U = NatTestOutcome.REPLIED, NatTestOutcome.SILENT, NatTestOutcome.UNSURE


@pytest.mark.parametrize(("t1", "t2", "t3", "expected", "nat"), [
    (LOCAL, None, None, Mapping.ENDPOINT_INDEPENDENT, False),  # no NAT: tests II/III not needed
    (A, A, A, Mapping.ENDPOINT_INDEPENDENT, True),
    (A, B, B, Mapping.ADDRESS_DEPENDENT, True),
    (A, B, C, Mapping.ADDRESS_AND_PORT_DEPENDENT, True),
    (A, None, None, Mapping.UNKNOWN, True),  # test II lost: never guess
    (A, B, None, Mapping.UNKNOWN, True),
    (None, None, None, Mapping.UNKNOWN, None),
])
def test_mapping(t1: tuple[str, int] | None, t2: tuple[str, int] | None, t3: tuple[str, int] | None,
                 expected: Mapping, nat: bool | None) -> None:
    verdict = classify_mapping(LOCAL, t1, t2, t3)
    assert (verdict.behaviour, verdict.nat_present) == (expected, nat)


@pytest.mark.parametrize(("t2", "t3", "expected"), [
    (R, R, Filtering.ENDPOINT_INDEPENDENT),
    (R, S, Filtering.ENDPOINT_INDEPENDENT),  # RFC order: test II passing decides
    (S, R, Filtering.ADDRESS_DEPENDENT),
    (S, S, Filtering.ADDRESS_AND_PORT_DEPENDENT),
    (U, S, Filtering.ADDRESS_AND_PORT_DEPENDENT),  # a strongly silent III alone rules out EIF and ADF
    (U, R, Filtering.UNKNOWN),  # EIF or ADF: loss may have eaten test II
    (S, U, Filtering.UNKNOWN),
    (U, U, Filtering.UNKNOWN),
])
def test_filtering(t2: NatTestOutcome, t3: NatTestOutcome, expected: Filtering) -> None:
    assert classify_filtering(R, t2, t3).behaviour is expected


def test_filtering_without_test_one_is_unknown() -> None:
    assert classify_filtering(U, R, R).behaviour is Filtering.UNKNOWN


@pytest.mark.parametrize(("mapping", "nat", "filtering", "label"), [
    (Mapping.ENDPOINT_INDEPENDENT, False, Filtering.ENDPOINT_INDEPENDENT, Legacy.OPEN_INTERNET),
    (Mapping.ENDPOINT_INDEPENDENT, False, Filtering.ADDRESS_AND_PORT_DEPENDENT,
     Legacy.SYMMETRIC_UDP_FIREWALL),
    (Mapping.ENDPOINT_INDEPENDENT, True, Filtering.ENDPOINT_INDEPENDENT, Legacy.FULL_CONE),
    (Mapping.ENDPOINT_INDEPENDENT, True, Filtering.ADDRESS_DEPENDENT, Legacy.RESTRICTED_CONE),
    (Mapping.ENDPOINT_INDEPENDENT, True, Filtering.ADDRESS_AND_PORT_DEPENDENT, Legacy.PORT_RESTRICTED_CONE),
    (Mapping.ADDRESS_DEPENDENT, True, Filtering.ADDRESS_AND_PORT_DEPENDENT, Legacy.SYMMETRIC),
    (Mapping.ADDRESS_AND_PORT_DEPENDENT, True, Filtering.ENDPOINT_INDEPENDENT, Legacy.SYMMETRIC),
    (Mapping.ENDPOINT_INDEPENDENT, True, Filtering.UNKNOWN, Legacy.UNKNOWN),
    (Mapping.UNKNOWN, True, Filtering.ENDPOINT_INDEPENDENT, Legacy.UNKNOWN),
])
def test_legacy_label(mapping: Mapping, nat: bool, filtering: Filtering, label: Legacy) -> None:
    assert legacy_label(True, MappingVerdict(mapping, nat, ""), FilteringVerdict(filtering, "")) is label


def test_no_udp_answer_is_udp_blocked() -> None:
    unknown = MappingVerdict(Mapping.UNKNOWN, None, "")
    assert legacy_label(False, unknown, FilteringVerdict(Filtering.UNKNOWN, "")) is Legacy.UDP_BLOCKED


def test_loss_bound_rule_of_three_and_observed_loss() -> None:
    assert loss_upper_bound(0, 0) == 1.0
    assert loss_upper_bound(100, 100) == pytest.approx(0.0295, abs=1e-3)  # ~3/n with nothing lost
    bound = loss_upper_bound(100, 50)
    assert 0.5 < bound < 0.7


def test_silence_needs_enough_attempts_for_the_loss() -> None:
    # 30 % loss each way: ~51 % round trip; silence is evidence only after enough unanswered requests.
    assert attempts_needed(0.51) == 11
    assert silence_outcome(0.51, 10) is NatTestOutcome.UNSURE
    assert silence_outcome(0.51, 11) is NatTestOutcome.SILENT
    assert silence_outcome(1.0, 1000) is NatTestOutcome.UNSURE


# --- mapping from ordinary STUN servers (one local socket, servers at different IPs) ---------------------

HOME = ("192.168.77.2", 40000)
A, B, A2 = ("203.0.113.20", 3478), ("203.0.113.21", 3478), ("203.0.113.21", 3479)


@pytest.mark.parametrize(("seen", "expected", "nat"), [
    ([(A, ("198.51.100.1", 40000)), (B, ("198.51.100.1", 40000))], Mapping.ENDPOINT_INDEPENDENT, True),
    ([(A, HOME), (B, HOME)], Mapping.ENDPOINT_INDEPENDENT, False),
    ([(A, HOME)], Mapping.ENDPOINT_INDEPENDENT, False),  # no NAT: one server is enough (RFC 5780 §4.3)
    ([(A, ("198.51.100.1", 1)), (B, ("198.51.100.1", 2))], Mapping.ENDPOINT_DEPENDENT, True),
    ([(A, ("198.51.100.1", 1)), (B, ("198.51.100.1", 2)), (A2, ("198.51.100.1", 3))],
     Mapping.ADDRESS_AND_PORT_DEPENDENT, True),
    ([(A, ("198.51.100.1", 1)), (B, ("198.51.100.1", 2)), (A2, ("198.51.100.1", 2))],
     Mapping.ADDRESS_DEPENDENT, True),
    ([(A, ("198.51.100.1", 1)), (B, None)], Mapping.UNKNOWN, True),  # only one IP answered
    ([(B, ("198.51.100.1", 1)), (A2, ("198.51.100.1", 1))], Mapping.UNKNOWN, True),  # one IP, two ports
    ([(A, None), (B, None)], Mapping.UNKNOWN, None),
])
def test_mapping_across_servers(seen: list[tuple[tuple[str, int], tuple[str, int] | None]], expected: Mapping,
                                nat: bool | None) -> None:
    verdict = classify_mapping_across_servers(HOME, seen)
    assert (verdict.behaviour, verdict.nat_present) == (expected, nat), verdict.reason
    assert verdict.behaviour.dependent is (expected in (Mapping.ENDPOINT_DEPENDENT, Mapping.ADDRESS_DEPENDENT,
                                                        Mapping.ADDRESS_AND_PORT_DEPENDENT))


def test_endpoint_dependent_mapping_is_symmetric_whatever_the_filtering() -> None:
    verdict = MappingVerdict(Mapping.ENDPOINT_DEPENDENT, True, "")
    assert legacy_label(True, verdict, FilteringVerdict(Filtering.UNKNOWN, "")) is Legacy.SYMMETRIC

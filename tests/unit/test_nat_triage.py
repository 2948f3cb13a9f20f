"""nat-type triage on recorded runs: consensus, disagreement, server validation, findings."""

from __future__ import annotations

from rtcdiag.probes.nat import LifetimeResult, NatRun, NatTestRecord, ServerCheck
from rtcdiag.probes.nat_classify import Filtering, Legacy, Mapping, Outcome
from rtcdiag.triage.nat import triage


def run(server: str = "stun:lab", n: int = 1, mapping: Mapping = Mapping.ENDPOINT_INDEPENDENT,
        filtering: Filtering = Filtering.ADDRESS_AND_PORT_DEPENDENT,
        legacy: Legacy = Legacy.PORT_RESTRICTED_CONE,
        **kw: object) -> NatRun:
    r = NatRun(server=server, address="203.0.113.10:3478", transport="udp", run=n, udp_answered=True,
               local="192.168.77.2:40000", mapped="203.0.113.1:40000", mapping=mapping, nat_present=True,
               filtering=filtering, legacy=legacy, loss_upper=0.4,
               server_check=ServerCheck(primary="203.0.113.10:3478", other_address="203.0.113.11:3479",
                                        supported=True))
    for key, value in kw.items():
        setattr(r, key, value)
    return r


def ids(runs: list[NatRun]) -> list[str]:
    return sorted(f.id for f in triage(runs).findings)


def test_agreeing_repeats_give_high_confidence() -> None:
    result = triage([run(n=1), run(n=2)])
    assert result.consensus.legacy is Legacy.PORT_RESTRICTED_CONE
    assert result.consensus.confidence == "high"
    assert not result.inconclusive
    assert ids([run()]) == ["NAT-TYPE"]


def test_disagreeing_servers_are_named_and_inconclusive() -> None:
    sym = run(server="stun:b", mapping=Mapping.ADDRESS_AND_PORT_DEPENDENT, legacy=Legacy.SYMMETRIC)
    result = triage([run(server="stun:a"), sym])
    assert result.inconclusive
    assert result.consensus.legacy is Legacy.UNKNOWN
    [finding] = result.findings
    assert finding.id == "NAT-INCONSISTENT"
    assert "stun:a (run 1): endpoint-independent" in finding.symptom
    assert "stun:b (run 1): address-and-port-dependent" in finding.symptom


def test_server_without_other_address_is_refused() -> None:
    bad = run(server_check=ServerCheck(primary="x", problems=["no OTHER-ADDRESS"]))
    result = triage([bad])
    assert result.inconclusive
    assert [f.id for f in result.findings] == ["NAT-SERVER-NO-RFC5780"]


def test_unknown_filtering_under_loss_is_undetermined_not_guessed() -> None:
    lossy = run(filtering=Filtering.UNKNOWN, legacy=Legacy.UNKNOWN, loss_upper=0.62)
    result = triage([lossy])
    assert result.inconclusive
    [finding] = result.findings
    assert finding.id == "NAT-UNDETERMINED"
    assert "62 %" in finding.cause


def test_one_lossy_run_does_not_contradict_a_clear_one() -> None:
    result = triage([run(n=1), run(n=2, filtering=Filtering.UNKNOWN, legacy=Legacy.UNKNOWN)])
    assert not result.inconclusive
    assert result.consensus.legacy is Legacy.PORT_RESTRICTED_CONE
    assert result.consensus.confidence == "low"


def test_udp_blocked_vs_unreachable() -> None:
    blocked = run(udp_answered=False, tcp_answered=True, server_check=None)
    assert ids([blocked]) == ["UDP-BLOCKED"]
    assert triage([blocked]).consensus.legacy is Legacy.UDP_BLOCKED
    dead = run(udp_answered=False, tcp_answered=False, server_check=None)
    result = triage([dead])
    assert [f.id for f in result.findings] == ["SERVER-UNREACHABLE"]
    assert result.inconclusive


def test_symmetric_cgnat_alg_hairpin_lifetime_findings() -> None:
    r = run(mapping=Mapping.ADDRESS_AND_PORT_DEPENDENT, legacy=Legacy.SYMMETRIC, mapped="100.64.3.4:1234",
            hairpin=False, hairpin_detail="11 requests never arrived",
            alg=["mapping I: MAPPED-ADDRESS 10.0.0.1:1 vs XOR-MAPPED-ADDRESS 100.64.3.4:1234"],
            lifetime=LifetimeResult(alive_s=10.0, gone_s=20.0),
            tests=[NatTestRecord("mapping I", "mapping", "x", outcome=Outcome.REPLIED,
                                 mapped="100.64.3.4:1234")])
    found = {f.id: f for f in triage([r]).findings}
    assert set(found) == {"NAT-TYPE", "NAT-SYMMETRIC", "NAT-CGNAT", "NAT-NO-HAIRPIN", "NAT-ALG",
                          "NAT-SHORT-LIFETIME"}
    assert "Tailscale" in found["NAT-CGNAT"].cause
    assert "every 8 s" in found["NAT-SHORT-LIFETIME"].fix
    assert "10.0.0.1:1" in found["NAT-ALG"].symptom
    assert "a TURN relay is required" in found["NAT-TYPE"].symptom


def test_long_lifetime_is_not_a_finding() -> None:
    assert "NAT-SHORT-LIFETIME" not in ids([run(lifetime=LifetimeResult(alive_s=60.0, gone_s=90.0))])

"""nat-type judge on recorded runs: consensus, disagreement, server validation, findings, steps, facts."""

from __future__ import annotations

from typing import Any

from rtcdiag import exitcodes
from rtcdiag.probes.nat import (
    LifetimeResult,
    NatDiscovery,
    NatOptions,
    NatRun,
    NatTestRecord,
    ServerCheck,
    ServerMappingRun,
)
from rtcdiag.probes.nat_classify import (
    Filtering,
    Legacy,
    Mapping,
    NatTestOutcome,
    classify_mapping_across_servers,
)
from rtcdiag.probes.record import ErrorKind, Exchange
from rtcdiag.probes.record import Outcome as ExchangeOutcome
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report, Status
from rtcdiag.triage.finding import Subject
from rtcdiag.triage.judgement import Judgement
from rtcdiag.triage.nat import judge, triage, verdict_text
from rtcdiag.triage.nat_result import LOCAL_NETWORK, Source


def run(server: str = "stun:lab", n: int = 1, mapping: Mapping = Mapping.ENDPOINT_INDEPENDENT,
        filtering: Filtering = Filtering.ADDRESS_AND_PORT_DEPENDENT,
        legacy: Legacy = Legacy.PORT_RESTRICTED_CONE,
        **kw: object) -> NatRun:
    r = NatRun(server=server, address="203.0.113.10:3478", transport="udp", run=n, host="lab", port=3478,
               udp_answered=True,
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
            tests=[NatTestRecord("mapping I", "mapping", "x", outcome=NatTestOutcome.REPLIED,
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


# --- the judge: subjects, steps, statuses, facts ------------------------------------------------------------

SERVER = Subject("stun:lab", host="lab", port=3478, transport="udp")


def judged(runs: list[NatRun], **options: Any) -> tuple[Judgement, Report]:
    judgement = judge(NatDiscovery(runs, NatOptions(**options)))
    return judgement, build_report("nat-type", judgement)


def cases(report: Report) -> dict[tuple[str, str], Status]:
    return {(c.suite, c.name): c.status for c in report.checks}


def test_verdict_steps_per_run_and_the_local_network() -> None:
    judgement, report = judged([run(n=1), run(n=2)])
    assert cases(report) == {
        **{("stun:lab", f"udp/{step} #{n}"): Status.PASS
           for n in (1, 2) for step in ("reachability", "rfc5780-server", "mapping", "filtering")},
        ("local network", "verdict"): Status.PASS,
    }
    [finding] = judgement.findings
    assert (finding.id, finding.subject, finding.check, finding.step) == ("NAT-TYPE", LOCAL_NETWORK, "nat",
                                                                          "verdict")
    verdict = next(c for c in report.checks if c.name == "verdict")
    assert verdict.findings == [finding]
    assert verdict.message.startswith("port-restricted cone (endpoint-independent mapping")
    assert judgement.facts.nat_label == "port-restricted cone" and not judgement.facts.inconclusive
    assert report.exit_code == exitcodes.OK
    assert [(n.host, n.resolved) for n in judgement.facts.names] == [("lab", True)]


def test_server_without_rfc5780_is_inconclusive_on_its_own_step() -> None:
    bad = run(server_check=ServerCheck(primary="x", problems=["no OTHER-ADDRESS"]))
    judgement, report = judged([bad], hairpin=True)
    [finding] = judgement.findings
    assert (finding.id, finding.subject) == ("NAT-SERVER-NO-RFC5780", SERVER)
    assert finding.step == "rfc5780-server #1"
    assert cases(report) == {("stun:lab", "udp/reachability #1"): Status.PASS,
                             ("stun:lab", "udp/rfc5780-server #1"): Status.INCONCLUSIVE,
                             ("stun:lab", "udp/mapping #1"): Status.SKIP,
                             ("stun:lab", "udp/filtering #1"): Status.SKIP,
                             ("stun:lab", "udp/hairpin #1"): Status.SKIP,
                             ("local network", "verdict"): Status.INCONCLUSIVE}
    skipped = next(c for c in report.checks if c.name == "udp/mapping #1")
    assert "failed RFC 5780 validation" in skipped.message
    assert judgement.facts.inconclusive and judgement.facts.nat_label is None
    assert report.exit_code == exitcodes.INCONCLUSIVE


def test_inconsistent_and_undetermined_are_inconclusive_exit_3() -> None:
    sym = run(server="stun:b", mapping=Mapping.ADDRESS_AND_PORT_DEPENDENT, legacy=Legacy.SYMMETRIC)
    for runs in ([run(server="stun:a"), sym], [run(filtering=Filtering.UNKNOWN, legacy=Legacy.UNKNOWN)]):
        judgement, report = judged(runs)
        assert judgement.facts.inconclusive
        assert report.exit_code == exitcodes.INCONCLUSIVE
        assert cases(report)[("local network", "verdict")] is Status.INCONCLUSIVE
        assert all(f.subject == LOCAL_NETWORK and f.step == "verdict" for f in judgement.findings)


def test_udp_blocked_fails_reachability_and_needs_a_tcp_stun_answer() -> None:
    judgement, report = judged([run(udp_answered=False, tcp_answered=True, server_check=None)])
    [finding] = judgement.findings
    assert (finding.id, finding.subject, finding.step) == ("UDP-BLOCKED", SERVER, "reachability #1")
    assert cases(report)[("stun:lab", "udp/reachability #1")] is Status.FAIL
    assert cases(report)[("stun:lab", "udp/mapping #1")] is Status.SKIP
    assert judgement.facts.nat_label == "UDP blocked" and not judgement.facts.inconclusive
    assert report.exit_code == exitcodes.FINDING_ERROR
    # No STUN answer over TCP either (a TCP accept alone never counts): unreachable, inconclusive.
    judgement, report = judged([run(udp_answered=False, tcp_answered=False, server_check=None)])
    assert [(f.id, f.severity.value) for f in judgement.findings] == [("SERVER-UNREACHABLE", "warning")]
    assert cases(report)[("stun:lab", "udp/reachability #1")] is Status.INCONCLUSIVE
    assert report.exit_code == exitcodes.INCONCLUSIVE


def test_name_that_does_not_resolve() -> None:
    dns = run(error="unknown host lab", error_kind=ErrorKind.DNS, udp_answered=False, server_check=None)
    judgement, report = judged([dns])
    [finding] = judgement.findings
    assert (finding.id, finding.subject, finding.severity.value) == ("DNS-FAILURE", SERVER, "warning")
    assert "unknown host lab" in finding.symptom
    [name] = judgement.facts.names
    assert (name.host, name.resolved) == ("lab", False)
    assert report.exit_code == exitcodes.INCONCLUSIVE
    skipped = next(c for c in report.checks if c.name == "udp/filtering #1")
    assert skipped.status is Status.SKIP and "unknown host lab" in skipped.message


def test_repeats_keep_their_findings_on_their_own_run() -> None:
    bad = run(n=2, server_check=ServerCheck(primary="x", problems=["no OTHER-ADDRESS"]))
    _, report = judged([run(n=1), bad])
    by_name = {c.name: c for c in report.checks}
    assert by_name["udp/rfc5780-server #1"].findings == []
    assert [f.id for f in by_name["udp/rfc5780-server #2"].findings] == ["NAT-SERVER-NO-RFC5780"]


def test_hairpin_and_lifetime_steps_when_asked() -> None:
    tested = run(hairpin=False, hairpin_detail="11 requests never arrived",
                 tests=[NatTestRecord("hairpin", "hairpin", "203.0.113.1:40000",
                                      outcome=NatTestOutcome.SILENT)],
                 lifetime=LifetimeResult(alive_s=10.0, gone_s=20.0))
    judgement, report = judged([tested], hairpin=True, lifetime=True)
    by_name = {c.name: c for c in report.checks}
    assert by_name["udp/hairpin #1"].status is Status.PASS
    assert "hairpinning: no" in by_name["udp/hairpin #1"].message
    assert by_name["udp/lifetime #1"].message == "alive after 10 s, gone after 20 s"
    ids = {f.id: f for f in judgement.findings}
    assert {"NAT-NO-HAIRPIN", "NAT-SHORT-LIFETIME"} <= set(ids)
    assert all(f.subject == LOCAL_NETWORK for f in ids.values())
    assert by_name["verdict"].status is Status.WARN
    _, plain = judged([run()])
    assert not any("hairpin" in c.name or "lifetime" in c.name for c in plain.checks)


def test_tcp_runs_measure_nat_presence_only() -> None:
    tcp = run(transport="tcp", udp_answered=False, tcp_answered=True, server_check=None, nat_present=True,
              mapping=Mapping.UNKNOWN, filtering=Filtering.UNKNOWN, legacy=Legacy.UNKNOWN)
    judgement, report = judged([tcp], transport="tcp")
    assert judgement.findings == [] and not judgement.facts.inconclusive
    tcp_cases = {name: status for (_, name), status in cases(report).items()}
    assert tcp_cases["tcp/reachability #1"] is Status.PASS
    assert tcp_cases["tcp/mapping #1"] is Status.PASS
    assert tcp_cases["tcp/filtering #1"] is Status.SKIP
    assert "NAT present: yes" in next(c.message for c in report.checks if c.name == "verdict")


def test_actively_refused_server_is_refused_not_unreachable() -> None:
    def refused(name: str, transport: str) -> NatTestRecord:
        ex = Exchange(step=name, request="Binding request", transport=transport, server="203.0.113.10:3478",
                      outcome=ExchangeOutcome.TRANSPORT_ERROR, error="port unreachable",
                      error_kind=ErrorKind.REFUSED)
        return NatTestRecord(name, "mapping", "203.0.113.10:3478", outcome=NatTestOutcome.UNSURE,
                             exchanges=[ex])

    tests = [refused("mapping I", "udp"), refused("tcp binding", "tcp")]
    dead = run(udp_answered=False, tcp_answered=False, server_check=None, tests=tests)
    [finding] = judge(NatDiscovery([dead])).findings
    assert (finding.id, finding.severity.value) == ("SERVER-REFUSED", "warning")
    assert finding.step == "reachability #1"
    tests[1].exchanges[0].outcome, tests[1].exchanges[0].error_kind = "timeout", None
    [finding] = judge(NatDiscovery([dead])).findings
    assert finding.id == "SERVER-UNREACHABLE"


def test_local_socket_error_is_a_warning_in_words() -> None:
    broken = run(error="cannot bind UDP any port 40000: Address already in use", error_kind=ErrorKind.NETWORK,
                 udp_answered=False, server_check=None)
    judgement, report = judged([broken])
    [finding] = judgement.findings
    assert (finding.id, finding.severity.value, finding.step) == ("NO-ROUTE", "warning", "reachability #1")
    assert "Address already in use" in finding.symptom
    assert report.exit_code == exitcodes.INCONCLUSIVE


# --- the wrong words: no NAT is "no", a proven symmetric mapping stays symmetric ------------------------


def test_proven_dependent_mapping_survives_unsure_filtering() -> None:
    """Under loss the by-design silent filtering tests stay unsure; the mapping was already proven
    address-and-port-dependent, so the verdict is symmetric (filtering unknown), not inconclusive."""
    lossy = run(mapping=Mapping.ADDRESS_AND_PORT_DEPENDENT, filtering=Filtering.UNKNOWN,
                legacy=Legacy.SYMMETRIC, loss_upper=0.5,
                filtering_reason="a missing reply could be packet loss")
    result = triage([lossy])
    assert not result.inconclusive
    c = result.consensus
    assert (c.legacy, c.mapping, c.filtering) == (Legacy.SYMMETRIC, Mapping.ADDRESS_AND_PORT_DEPENDENT,
                                                   Filtering.UNKNOWN)
    assert {f.id for f in result.findings} == {"NAT-TYPE", "NAT-SYMMETRIC"}
    assert verdict_text(result).startswith(
        "symmetric (address-and-port-dependent mapping, unknown filtering)")
    _, report = judged([lossy])
    assert report.exit_code == exitcodes.OK


def test_mapped_equal_to_local_says_no_nat_even_without_rfc5780() -> None:
    single = run(server_check=ServerCheck(primary="x", problems=["no OTHER-ADDRESS"]),
                 mapping=Mapping.UNKNOWN, filtering=Filtering.UNKNOWN, legacy=Legacy.UNKNOWN,
                 nat_present=False,
                 local="203.0.113.5:40000", mapped="203.0.113.5:40000")
    result = triage([single])
    assert result.inconclusive and result.consensus.nat_present is False
    assert "no NAT" in verdict_text(result) and "unknown" not in verdict_text(result).split(";")[0]


# --- a server list without RFC 5780: the mapping across servers ------------------------------------------


def _hp(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def across(mapped: list[str | None], local: str = "192.168.77.2:40000") -> ServerMappingRun:
    """What probes.nat.discover_across records: one socket, one test per server, the classified mapping."""
    dests = ["203.0.113.20:3478", "203.0.113.21:3478", "203.0.113.22:3478"][:len(mapped)]
    plain = ServerMappingRun(servers=[f"stun:{d}" for d in dests], local=local, family=4)
    plain.tests = [NatTestRecord(f"mapping via stun:{d}", "mapping", d, mapped=m,
                                 outcome=NatTestOutcome.REPLIED if m else NatTestOutcome.UNSURE)
                   for d, m in zip(dests, mapped, strict=True)]
    seen = [(_hp(t.dest), _hp(t.mapped) if t.mapped else None) for t in plain.tests]
    verdict = classify_mapping_across_servers(_hp(local), seen)
    plain.mapping, plain.nat_present = verdict.behaviour, verdict.nat_present
    plain.mapping_reason = verdict.reason
    return plain


def no_rfc5780(server: str) -> NatRun:
    return run(server=server, server_check=ServerCheck(primary="x", problems=["no OTHER-ADDRESS"]),
               mapping=Mapping.UNKNOWN, filtering=Filtering.UNKNOWN, legacy=Legacy.UNKNOWN)


def judged_across(runs: list[NatRun], plain: ServerMappingRun) -> tuple[Judgement, Report]:
    judgement = judge(NatDiscovery(runs, NatOptions(), across=plain))
    return judgement, build_report("nat-type", judgement)


def test_list_without_rfc5780_gives_the_mapping_stun_works() -> None:
    plain = across(["198.51.100.1:40000", "198.51.100.1:40000"])
    _, report = judged_across([no_rfc5780("stun:a"), no_rfc5780("stun:b")], plain)
    assert report.exit_code == exitcodes.OK
    by_id = {f.id: f for f in report.findings}
    assert by_id["NAT-MAPPING"].severity.value == "info"
    assert "STUN works" in by_id["NAT-MAPPING"].title and "Filtering is unknown" in by_id["NAT-MAPPING"].cause
    assert by_id["NAT-SERVER-NO-RFC5780"].severity.value == "info"  # expected in a list of public servers
    assert "NAT-SYMMETRIC" not in by_id
    c = cases(report)
    assert c[("local network", "mapping across servers")] is Status.PASS
    assert c[("local network", "filtering across servers")] is Status.SKIP
    result = triage([no_rfc5780("stun:a"), no_rfc5780("stun:b")], plain)
    assert result.consensus.source is Source.ACROSS and result.consensus.filtering is Filtering.UNKNOWN
    assert verdict_text(result).startswith("STUN works (endpoint-independent mapping")


def test_list_without_rfc5780_symmetric_needs_turn() -> None:
    plain = across(["198.51.100.1:1000", "198.51.100.1:2000"])
    _, report = judged_across([no_rfc5780("stun:a"), no_rfc5780("stun:b")], plain)
    ids_found = {f.id for f in report.findings}
    assert {"NAT-MAPPING", "NAT-SYMMETRIC"} <= ids_found
    assert report.exit_code == exitcodes.OK  # a warning about the network, the verdict is sure
    result = triage([no_rfc5780("stun:a"), no_rfc5780("stun:b")], plain)
    assert result.consensus.legacy is Legacy.SYMMETRIC
    assert verdict_text(result).startswith("symmetric NAT, you will need TURN (endpoint-dependent mapping")


def test_list_with_one_answering_ip_is_too_few() -> None:
    plain = across(["198.51.100.1:1000", None])
    _, report = judged_across([no_rfc5780("stun:a")], plain)
    assert "NAT-TOO-FEW-SERVERS" in {f.id for f in report.findings}
    assert report.exit_code == exitcodes.INCONCLUSIVE


def test_offline_list_is_one_finding_exit_3() -> None:
    dead = [run(server=f"stun:s{i}.example", host=f"s{i}.example", udp_answered=False, tcp_answered=False,
                server_check=None, error="s.example: name does not resolve", error_kind=ErrorKind.DNS)
            for i in range(3)]
    plain = ServerMappingRun(servers=[r.server for r in dead], unresolved={r.server: "no" for r in dead})
    _, report = judged_across(dead, plain)
    assert [f.id for f in report.findings] == ["NAT-OFFLINE"]  # not DNS-NOT-WORKING + one per server
    assert report.exit_code == exitcodes.INCONCLUSIVE
    assert "DNS failed for s0.example, s1.example, s2.example" in report.findings[0].symptom

"""DNS input parsing, RFC 2782 ordering and the DNS triage rules, on recorded results."""

from __future__ import annotations

import pytest

from rtcdiag.commands.dns import normalise_name, parse_nameserver
from rtcdiag.errors import UsageError
from rtcdiag.probes.dns import (
    SRV_SERVICES,
    DnsResult,
    Ipv6Check,
    QueryResult,
    SrvRecord,
    srv_order,
)
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report, Status
from rtcdiag.triage import dns as rules
from rtcdiag.triage.finding import Subject
from rtcdiag.triage.judgement import Judgement, NameFact

NAME = "turn.example.net"  # not a well-known name: its failure alone is not "no DNS at all"


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.53", ("192.0.2.53", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("[::1]:5353", ("::1", 5353)), ("::1", ("::1", 53)), ("2001:db8::1", ("2001:db8::1", 53)),
])
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["dns.google", "1.2.3.4:x", "[::1]:0", "127.0.0.1:70000", ""])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--nameserver"):
        parse_nameserver(text)


def test_normalise_name() -> None:
    assert normalise_name(" Example.COM. ") == "Example.COM"
    assert normalise_name("bücher.example") == "xn--bcher-kva.example"  # IDNA
    for bad in ("", "192.0.2.1", "a..b", "x" * 64 + ".com"):
        with pytest.raises(UsageError):
            normalise_name(bad)


def test_srv_order_priority_then_heavier_weight() -> None:
    recs = [SrvRecord("_turn._udp", 20, 100, 3478, "c"), SrvRecord("_turn._udp", 10, 10, 3478, "b"),
            SrvRecord("_turn._udp", 10, 60, 3478, "a"), SrvRecord("_turn._udp", 10, 60, 3478, "0")]
    assert [(r.priority, r.weight, r.target) for r in srv_order(recs)] == [
        (10, 60, "0"), (10, 60, "a"), (10, 10, "b"), (20, 100, "c")]


def _q(qname: str, rdtype: str, outcome: str, records: list[str] | None = None, rtt: float = 3.0,
       canonical: str | None = None) -> QueryResult:
    return QueryResult(qname=qname, rdtype=rdtype, outcome=outcome, records=records or [], rtt_ms=rtt,
                       canonical_name=canonical)


def _result(a: list[str], aaaa: list[str], srv: list[SrvRecord] | None = None,
            outcome_missing: str = "nodata") -> DnsResult:
    result = DnsResult(name=NAME, nameservers=["192.0.2.53:53"], resolver_source="--nameserver")
    result.ipv4, result.ipv6 = a, aaaa
    result.queries = [_q(NAME, "A", "answer" if a else outcome_missing, a),
                      _q(NAME, "AAAA", "answer" if aaaa else outcome_missing, aaaa)]
    srv = srv or []
    for service in SRV_SERVICES:
        mine = [r for r in srv if r.service == service]
        result.queries.append(_q(f"{service}.{NAME}", "SRV", "answer" if mine else "nxdomain",
                                 [f"{r.priority} {r.weight} {r.port} {r.target}." for r in mine]))
    result.srv = srv
    return result


def ids(result: DnsResult) -> list[str]:
    return sorted(f.id for f in rules.judge(result).findings)


def report(result: DnsResult) -> Report:
    return build_report("dns", rules.judge(result))


def statuses(result: DnsResult) -> dict[str, Status]:
    return {c.name: c.status for c in report(result).checks}


def _srv(service: str, target: str, addresses: list[str], alias: str | None = None) -> SrvRecord:
    return SrvRecord(service, 0, 0, 3478, target, addresses=addresses, target_alias_of=alias,
                     target_queries=[_q(target, "A", "answer" if addresses else "nxdomain", addresses)])


def _resolver_down(source: str = "/etc/resolv.conf") -> DnsResult:
    """This machine's resolver (or, with ``source="--nameserver"``, the one named) answered nothing."""
    result = _result([], [], outcome_missing="timeout")
    result.resolver_source = source
    for q in result.queries:
        q.outcome, q.error = "timeout", "no answer before the timeout"
    return result


def test_a_named_resolver_that_never_answers_is_said_so_not_the_name() -> None:
    """--nameserver X and X answers nothing: "the name server does not answer" (issue 22), not DNS-FAILURE's
    "the name is misspelled"; the other questions are undecided, not failed again."""
    result = _resolver_down("--nameserver")
    [finding] = rules.judge(result).findings
    assert (finding.id, finding.step) == ("DNS-RESOLVER-SILENT", f"A {NAME}")
    assert finding.title == "The name server 192.0.2.53:53 does not answer"
    assert finding.snippet == [f"dig @192.0.2.53 -p 53 {NAME} A +tries=1 +time=2"]
    cases = statuses(result)
    assert cases.pop(f"A {NAME}") == Status.FAIL and set(cases.values()) == {Status.INCONCLUSIVE}


SUBJECT = Subject(server=f"dns:{NAME}", host=NAME)


def test_one_step_per_question_named_as_before() -> None:
    judgement = rules.judge(_result(["192.0.2.1"], []))
    assert [s.step for s in judgement.steps] == [f"A {NAME}", f"AAAA {NAME}",
                                                 *(f"SRV {s}" for s in SRV_SERVICES)]
    assert {s.subject for s in judgement.steps} == {SUBJECT}
    assert {s.check for s in judgement.steps} == {"dns"}
    assert all(s.duration_s == 0.003 for s in judgement.steps)  # the query's own RTT


def test_healthy_name_with_srv_has_no_findings() -> None:
    result = _result(["192.0.2.1"], [], [_srv("_turn._udp", "turn.example.com", ["192.0.2.1"])])
    judgement = rules.judge(result)
    assert judgement.findings == []
    assert judgement.facts.names == [NameFact(NAME, True, well_known=False, detail="")]
    cases = statuses(result)
    assert cases[f"A {NAME}"] == Status.PASS and cases["SRV _turn._udp"] == Status.PASS
    assert cases["SRV _turns._tcp"] == Status.SKIP  # not published: not applicable, not a failure
    assert report(result).exit_code == 0


def test_no_srv_is_info_only_on_the_first_srv_step() -> None:
    result = _result(["192.0.2.1"], [])
    findings = rules.judge(result).findings
    assert [(f.id, f.severity.value, f.step) for f in findings] == [("DNS-NO-SRV", "info", "SRV _stun._udp")]
    assert report(result).exit_code == 0


def test_nxdomain_everywhere_is_one_finding_on_the_a_step() -> None:
    result = _result([], [], outcome_missing="nxdomain")
    (finding,) = rules.judge(result).findings
    assert (finding.id, finding.subject, finding.check, finding.step) == (
        "DNS-NXDOMAIN", SUBJECT, "dns", f"A {NAME}")
    cases = statuses(result)
    assert cases[f"A {NAME}"] == Status.FAIL
    assert cases[f"AAAA {NAME}"] == Status.SKIP  # the name does not exist: said once, on A
    assert cases["SRV _turn._udp"] == Status.SKIP
    assert rules.judge(result).facts.names == [
        NameFact(NAME, False, well_known=False, detail=rules.describe_query(result.queries[0]) + "; "
                 + rules.describe_query(result.queries[1]))]


def test_no_address_and_no_srv() -> None:
    result = _result([], [])
    assert ids(result) == ["DNS-NO-ADDRESS", "DNS-NO-SRV"]
    # The resolver answered (NODATA): the name exists and DNS works, so it counts as resolved for the
    # "no DNS at all" diagnosis.
    assert rules.judge(result).facts.names[0].resolved is True
    assert statuses(result)[f"A {NAME}"] == Status.FAIL


def test_srv_target_without_address_cname_and_dot() -> None:
    alias = _srv("_turn._tcp", "alias.example.com", ["192.0.2.1"], alias="turn.example.com")
    result = _result([], [], [_srv("_turn._udp", "ghost.example.com", []), alias,
                              SrvRecord("_turns._tcp", 0, 0, 0, ".")])
    findings = rules.judge(result).findings
    assert sorted((f.id, f.step) for f in findings) == [
        ("DNS-SRV-TARGET-CNAME", "SRV _turn._tcp"), ("DNS-SRV-TARGET-NO-ADDRESS", "SRV _turn._udp")]
    assert {f.subject for f in findings} == {SUBJECT}
    ghost = next(f for f in findings if f.id == "DNS-SRV-TARGET-NO-ADDRESS")
    assert ghost.title == "SRV _turn._udp points at ghost.example.com, which has no address"
    cases = statuses(result)
    assert cases["SRV _turn._udp"] == Status.FAIL and cases["SRV _turn._tcp"] == Status.WARN
    assert cases[f"A {NAME}"] == Status.PASS  # SRV records exist: a bare A/AAAA is not required


def test_ipv6_unreachable_only_when_every_test_of_that_address_failed() -> None:
    result = _result(["192.0.2.1"], ["2001:db8::1", "2001:db8::2"])
    result.ipv6_checks = [
        Ipv6Check("2001:db8::1", 3478, "udp", f"AAAA {NAME}", False, detail="timeout"),
        Ipv6Check("2001:db8::1", 3478, "tcp", f"AAAA {NAME}", True, rtt_ms=20.0, detail="open"),
        Ipv6Check("2001:db8::2", 3478, "udp", f"AAAA {NAME}", False, detail="timeout"),
        Ipv6Check("2001:db8::2", 3478, "tcp", f"AAAA {NAME}", False, detail="Network is unreachable"),
    ]
    findings = [f for f in rules.judge(result).findings if f.id == "DNS-IPV6-UNREACHABLE"]
    assert [f.title for f in findings] == ["IPv6 address 2001:db8::2 is published but unreachable"]
    assert "UDP 3478, TCP 3478" in findings[0].symptom
    assert findings[0].severity.value == "warning" and findings[0].step == "ipv6 reachability"
    assert statuses(result)["ipv6 reachability"] == Status.WARN
    result.ipv6_checks = result.ipv6_checks[:2]
    assert statuses(result)["ipv6 reachability"] == Status.PASS


def test_slow_resolver_names_the_slowest_query_on_its_step() -> None:
    result = _result(["192.0.2.1"], [])
    result.queries[1].rtt_ms = 900.0
    slow = next(f for f in rules.judge(result).findings if f.id == "DNS-SLOW-RESOLVER")
    assert slow.title == "Slow DNS resolver (900 ms)" and slow.step == f"AAAA {NAME}"
    assert f"AAAA {NAME}" in slow.symptom and "192.0.2.53:53" in slow.symptom
    assert statuses(result)[f"AAAA {NAME}"] == Status.WARN
    result.queries[1].rtt_ms = rules.SLOW_QUERY_MS
    assert "DNS-SLOW-RESOLVER" not in ids(result)


def test_resolver_down_is_one_dns_failure_and_the_other_questions_undecided() -> None:
    result = _resolver_down()  # no control question in this result
    judgement = rules.judge(result)
    assert [(f.id, f.step) for f in judgement.findings] == [("DNS-FAILURE", f"A {NAME}")]
    assert "192.0.2.53:53" in judgement.findings[0].symptom
    cases = statuses(result)
    assert cases.pop(f"A {NAME}") == Status.FAIL
    assert set(cases.values()) == {Status.INCONCLUSIVE}  # not a second failure in other words
    built = report(result)
    assert [r.id for r in built.roots] == ["DNS-FAILURE"] and built.exit_code == 1


def test_a_well_known_name_that_fails_is_itself_evidence_of_no_dns() -> None:
    result = _resolver_down()
    result.name = "example.com"
    for q in result.queries:
        q.qname = q.qname.replace(NAME, result.name)
    built = report(result)
    assert [r.id for r in built.roots] == ["DNS-NOT-WORKING"]
    assert [f.explained_by for f in built.findings if f.id == "DNS-FAILURE"] == [built.roots[0].ref]


def test_partial_timeout_is_undecided_not_a_failure() -> None:
    result = _result(["192.0.2.1"], [])
    result.queries[1].outcome, result.queries[1].error = "timeout", "no answer before the timeout"
    assert "DNS-FAILURE" not in ids(result)
    assert statuses(result)[f"AAAA {NAME}"] == Status.INCONCLUSIVE


def _control(outcome: str) -> QueryResult:
    records = ["93.184.215.14"] if outcome == "answer" else []
    return QueryResult(qname="example.com", rdtype="A", outcome=outcome, records=records, rtt_ms=4.0,
                       error=None if outcome == "answer" else "no answer before the timeout")


def test_control_name_fact_and_dns_not_working_when_it_fails_too() -> None:
    result = _resolver_down()
    result.control = _control("timeout")
    facts = rules.judge(result).facts.names
    assert [(f.host, f.resolved, f.well_known) for f in facts] == [
        (NAME, False, False), ("example.com", False, True)]
    built = report(result)
    assert [r.id for r in built.roots] == ["DNS-NOT-WORKING"]
    failure = next(f for f in built.findings if f.id == "DNS-FAILURE")
    assert failure.explained_by == built.roots[0].ref
    assert built.exit_code == 1


def test_control_answered_keeps_the_name_as_the_root_cause() -> None:
    result = _result([], [], outcome_missing="nxdomain")
    result.control = _control("answer")
    assert [(f.host, f.resolved) for f in rules.judge(result).facts.names] == [
        (NAME, False), ("example.com", True)]
    built = report(result)
    assert [r.id for r in built.roots] == ["DNS-NXDOMAIN"]
    assert not any(f.id == "DNS-NOT-WORKING" for f in built.findings)


def test_other_checks_that_cannot_resolve_the_name_fold_under_the_dns_checks_words() -> None:
    from rtcdiag.probes.reach import PortTarget, ReachResult
    from rtcdiag.triage import reach

    unresolved = ReachResult(host=NAME, address=None, resolve_error=f"cannot resolve {NAME}: not known",
                             planned=[PortTarget("udp", 3478)])
    for dns_result, root_id in ((_result([], [], outcome_missing="nxdomain"), "DNS-NXDOMAIN"),
                                (_result([], []), "DNS-NO-ADDRESS")):
        merged = Judgement.merge([rules.judge(dns_result), reach.judge(unresolved)])
        built = build_report("check", merged)
        assert [(r.id, r.check) for r in built.roots] == [(root_id, "dns")]  # said once, precisely
        failure = next(f for f in built.findings if f.id == "DNS-FAILURE")
        assert (failure.check, failure.explained_by) == ("ports", built.roots[0].ref)

"""ICE judge on recorded probe runs (no network): findings, subjects, steps, statuses and facts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rtcdiag.checks.ice import ice_servers_from_targets, server_cell, summary_table
from rtcdiag.probes.ice import RETRIED_437, CandidateInfo, GatherEvent, IceResult, IceRun, SelectedPair
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Status
from rtcdiag.targets import parse_targets
from rtcdiag.triage.finding import Subject
from rtcdiag.triage.ice import judge, judge_run, subject
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState

URL = "turn:turn.example.com:3478?transport=udp"


def relay(address: str = "93.184.216.7", agent: str = "relay-only") -> CandidateInfo:
    return CandidateInfo(agent=agent, type="relay", foundation="f" * 32, component=1, protocol="udp",
                         address=address, port=50000, priority=1, related_address=None, related_port=None,
                         relay_protocol="udp", url=URL)


def connected(**kw: object) -> IceRun:
    run = IceRun(url=URL, server_host="turn.example.com", scheme="turn", relay_protocol="udp",
                 agents=["full", "relay-only"], port=3478, candidates=[relay(), relay(agent="full")],
                 gather_ms=40.0, attempted_connect=True, connected=True, connect_ms=90.0,
                 selected_pair=SelectedPair("relay", "93.184.216.7:50000", "relay", "93.184.216.7:50001"),
                 packets_sent=3, packets_received=3, rtts_ms=[20.0, 22.0, 24.0], duration_ms=200.0)
    for key, value in kw.items():
        setattr(run, key, value)
    return run


def refused_401() -> IceRun:
    events = [GatherEvent(agent, "relay", 12.0, "the server answered 401 Unauthorized", "error-response")
              for agent in ("full", "relay-only")]
    return connected(candidates=[], gather_events=events, attempted_connect=False, connected=False,
                     connect_ms=None, selected_pair=None, packets_sent=0, packets_received=0, rtts_ms=[],
                     ice_error="no candidates to pair: the relay-only agent has no relay candidate")


def statuses(judgement: Judgement) -> dict[str, Status]:
    return {c.name: c.status for c in build_report("ice", judgement).checks}


@pytest.mark.parametrize("url,scheme,relay_protocol,transport", [
    ("turn:h:3478?transport=udp", "turn", "udp", "udp"),
    ("turn:h:3478?transport=tcp", "turn", "tcp", "tcp"),
    ("turns:h:5349", "turns", "tls", "tls"),
    ("stun:h:3478", "stun", "udp", "udp"),
])
def test_subject_transport_comes_from_the_url(url: str, scheme: str, relay_protocol: str,
                                              transport: str) -> None:
    run = IceRun(url=url, server_host="h", scheme=scheme, relay_protocol=relay_protocol, agents=[], port=3478)
    assert subject(run) == Subject(server=url, host="h", port=3478, transport=transport)


def test_healthy_run_passes_every_step_and_states_the_relay_and_rtts() -> None:
    judgement = judge_run(connected())
    assert judgement.findings == []
    assert statuses(judgement) == {"udp/gather-relay": Status.PASS, "udp/connect": Status.PASS,
                                   "udp/data": Status.PASS}
    [fact] = judgement.facts.relays
    assert (fact.server, fact.works) == ("turn.example.com", True)
    assert "3/3 packets echoed" in fact.evidence
    assert [r.rtt_ms for r in judgement.facts.rtts] == [20.0, 22.0, 24.0]
    assert {r.server for r in judgement.facts.rtts} == {"turn.example.com"}
    [name] = judgement.facts.names
    assert (name.host, name.resolved) == ("turn.example.com", True)


def test_failed_gather_skips_connect_and_data_with_the_reason() -> None:
    judgement = judge_run(refused_401())
    [finding] = judgement.findings
    assert (finding.id, finding.check, finding.step) == ("ICE-NO-RELAY", "ice", "gather-relay")
    assert finding.subject == Subject(URL, "turn.example.com", 3478, "udp")
    assert "401 Unauthorized" in finding.symptom
    steps = {s.step: s for s in judgement.steps}
    assert steps["connect"].state is StepState.SKIPPED and steps["data"].state is StepState.SKIPPED
    assert steps["connect"].detail == "no relay candidate: the server answered 401 Unauthorized"
    assert statuses(judgement) == {"udp/gather-relay": Status.FAIL, "udp/connect": Status.SKIP,
                                   "udp/data": Status.SKIP}
    [fact] = judgement.facts.relays
    assert not fact.works and "401" in fact.evidence
    assert judgement.facts.rtts == []


_RETRIED = GatherEvent("relay-only", "relay", 5.0, "the server answered 437 Allocation Mismatch (an "
                       "allocation the server still held for this local port): retried from a new one",
                       RETRIED_437)


def test_a_437_retried_from_a_new_port_is_evidence_never_a_finding_or_the_reason() -> None:
    # The relay came on the new port: nothing to report, the step passes.
    judgement = judge_run(connected(gather_events=[_RETRIED]))
    assert judgement.findings == [] and statuses(judgement)["udp/gather-relay"] is Status.PASS
    # The retry failed for another reason: that reason is the finding's; the 437 stays in the evidence.
    failed = replace(refused_401(), gather_events=[_RETRIED, *refused_401().gather_events])
    [finding] = judge_run(failed).findings
    assert finding.id == "ICE-NO-RELAY" and "401 Unauthorized" in finding.symptom
    assert "437" not in finding.symptom and any("retried from a new one" in line for line in finding.evidence)


def test_unresolvable_name_is_said_in_words_and_recorded_as_a_name_fact() -> None:
    text = "the server name does not resolve (Name or service not known)"
    events = [GatherEvent("full", "relay", 3.0, text, "dns")]
    judgement = judge_run(replace(refused_401(), gather_events=events))
    [finding] = judgement.findings
    assert "the name turn.example.com does not resolve" in finding.symptom
    assert "gaierror" not in " ".join([finding.symptom, *finding.evidence])
    [name] = judgement.facts.names
    assert (name.host, name.resolved, name.well_known) == ("turn.example.com", False, False)


def test_ip_literal_servers_have_no_name_fact() -> None:
    assert judge_run(connected(server_host="93.184.216.1")).facts.names == []


def test_ice_failure_fails_connect_and_skips_data() -> None:
    judgement = judge_run(connected(connected=False, connect_ms=None, selected_pair=None, packets_sent=0,
                                    packets_received=0, rtts_ms=[],
                                    ice_error="connectivity checks did not complete within 5 s"))
    assert [(f.id, f.step) for f in judgement.findings] == [("ICE-FAILED", "connect")]
    assert statuses(judgement) == {"udp/gather-relay": Status.PASS, "udp/connect": Status.FAIL,
                                   "udp/data": Status.SKIP}
    assert not judgement.facts.relays[0].works


def test_lost_echo_packets_fail_the_data_step_only() -> None:
    judgement = judge_run(connected(packets_received=1, rtts_ms=[20.0]))
    [finding] = judgement.findings
    assert (finding.id, finding.step) == ("ICE-NO-DATA", "data")
    assert "1/3" in finding.symptom
    assert statuses(judgement)["udp/data"] is Status.FAIL
    assert statuses(judgement)["udp/connect"] is Status.PASS
    assert judgement.facts.relays[0].works  # some data went through the relay


def test_private_relay_from_public_server_is_an_error_but_noted_on_a_lan() -> None:
    private = [relay("10.0.0.5"), relay("10.0.0.5", agent="full")]
    public = judge_run(connected(server_host="93.184.216.1", candidates=private))
    assert [(f.id, f.step) for f in public.findings] == [("ICE-RELAY-PRIVATE", "gather-relay")]
    lan = judge_run(connected(server_host="10.0.0.1", candidates=private))
    assert [f.id for f in lan.findings] == ["ICE-RELAY-INTERNAL-NOTED"]
    assert statuses(lan)["udp/gather-relay"] is Status.PASS


def test_relay_reachability_uses_address_scopes_not_is_private() -> None:
    """A documentation (RFC 5737) server stands for the internet: a private relay behind it is unreachable,
    a documentation relay behind it is fine; a loopback relay behind a LAN server is unreachable too."""
    def both(address: str) -> list[CandidateInfo]:
        return [relay(address), relay(address, agent="full")]
    doc = judge_run(connected(server_host="198.51.100.10", candidates=both("10.99.0.10")))
    assert [f.id for f in doc.findings] == ["ICE-RELAY-PRIVATE"]
    lab = judge_run(connected(server_host="198.51.100.10", candidates=both("198.51.100.20")))
    assert lab.findings == []
    lan = judge_run(connected(server_host="10.0.0.1", candidates=both("127.0.0.1")))
    assert [f.id for f in lan.findings] == ["ICE-RELAY-PRIVATE"]


def test_local_error_is_ice_error_and_skips_the_rest() -> None:
    run = connected(candidates=[], attempted_connect=False, connected=False, error="no route to the server",
                    error_kind="unreachable")
    judgement = judge_run(run)
    assert [(f.id, f.step) for f in judgement.findings] == [("ICE-ERROR", "gather-relay")]
    assert statuses(judgement) == {"udp/gather-relay": Status.FAIL, "udp/connect": Status.SKIP,
                                   "udp/data": Status.SKIP}


def test_stun_url_has_one_gather_srflx_step() -> None:
    stun = IceRun(url="stun:stun.example.com:3478", server_host="stun.example.com", scheme="stun",
                  relay_protocol="udp", agents=["full"], port=3478, gather_ms=30.0,
                  gather_events=[GatherEvent("full", "srflx", 5.0, "no answer before the gathering timeout",
                                             "timeout")])
    judgement = judge(IceResult(relay_only=False, runs=[stun]))
    assert [(f.id, f.step, f.severity.value) for f in judgement.findings] == [
        ("ICE-NO-SRFLX", "gather-srflx", "warning")]
    assert statuses(judgement) == {"udp/gather-srflx": Status.WARN}
    assert judgement.facts.relays == [] and judgement.facts.names == []  # a timeout proves nothing


def test_multi_check_reports_prefix_the_check() -> None:
    judgement = judge_run(connected())
    judgement.steps.append(StepOutcome(Subject("stun:x", "x", 3478, "udp"), "stun", "binding"))
    names = {c.name for c in build_report("check", judgement).checks}
    assert {"ice/udp/gather-relay", "ice/udp/connect", "ice/udp/data", "stun/udp/binding"} == names


def test_targets_become_browser_style_ice_urls() -> None:
    targets = parse_targets(["turn:t.example:3478", "turn:t.example:3478?transport=tcp", "turns:t.example",
                             "stun:s.example", "stuns:s.example"], default_scheme="turn",
                            username="u", credential="pw-x")
    servers = ice_servers_from_targets(targets)
    assert [(s.url, s.transport, s.relay_protocol) for s in servers] == [
        ("turn:t.example:3478?transport=udp", "udp", "udp"),
        ("turn:t.example:3478?transport=tcp", "tcp", "tcp"),
        ("turns:t.example:5349", "tcp", "tls"),
        ("stun:s.example:3478", "udp", "udp"),
    ]
    assert all(s.username == "u" and s.password == "pw-x" for s in servers)


def test_tables_and_cells() -> None:
    result = IceResult(relay_only=True, runs=[connected(), refused_401()])
    rows = summary_table(result).rows
    assert rows[0][4] == "90 ms" and rows[0][5].startswith("relay 93.184.216.7:50000 <-> relay")
    assert rows[1][4] == "not tried"
    assert server_cell(connected()) == ("udp", "connected 90 ms, 3/3 echoed")
    assert server_cell(refused_401()) == ("udp", "no relay")


def test_one_agent_without_a_relay_candidate_is_no_relay() -> None:
    events = [GatherEvent("relay-only", "relay", 12.0, "no answer before the gathering timeout", "timeout")]
    run = refused_401()
    run.candidates, run.gather_events = [relay(agent="full")], events
    judgement = judge_run(run)
    [finding] = judgement.findings
    assert finding.id == "ICE-NO-RELAY"
    assert "relay-only agent: no answer before the gathering timeout" in finding.symptom
    assert statuses(judgement)["udp/connect"] is Status.SKIP


def test_one_name_fact_per_host_for_several_urls() -> None:
    tcp = connected(url="turn:turn.example.com:3478?transport=tcp", relay_protocol="tcp")
    judgement = judge(IceResult(relay_only=False, runs=[connected(), tcp]))
    assert [(n.host, n.resolved) for n in judgement.facts.names] == [("turn.example.com", True)]
    assert len(judgement.facts.relays) == 2
    assert {c.name for c in build_report("ice", judgement).checks} == {
        f"{t}/{step}" for t in ("udp", "tcp") for step in ("gather-relay", "connect", "data")}

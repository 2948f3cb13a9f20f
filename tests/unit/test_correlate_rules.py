"""The correlation's own rules on hand-made facts, for the shapes no local call produces (two machines'
clocks hours apart, a coturn log without absolute times, a URL naming a host, a hostile log's user names),
and the diagnosis' explicit links (``Facts.explained``): what a folded finding explained moves with it. The
real calls are judged in test_correlate_fixtures.py."""

from __future__ import annotations

from rtcdiag.report.build import build_report
from rtcdiag.triage.call_facts import (
    CaptureCall,
    DumpCall,
    DumpError,
    Endpoint,
    LogCall,
    LogRefusal,
    TurnFlow,
    Window,
    ice_server,
    parse_endpoint,
)
from rtcdiag.triage.call_match import Relation, match_capture_log, match_dump_capture, match_dump_log
from rtcdiag.triage.correlate import correlate
from rtcdiag.triage.diagnosis import diagnose
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Explained, Facts, Judgement

T = 1_796_607_568.0  # a call's time (seconds since the epoch)
SERVER = Endpoint("203.0.113.5", 3478)


def dump(**changes: object) -> DumpCall:
    server = ice_server("turn:203.0.113.5:3478")
    assert server is not None
    host = Endpoint("198.51.100.7", 50000)
    base: dict[str, object] = dict(
        source="d.json", ufrags=frozenset({"aaaa", "bbbb"}), candidates=frozenset({host}), relays=frozenset(),
        servers=(server,), errors=(), window=Window(T, T + 5), connected=False)
    base.update(changes)
    return DumpCall(**base)  # type: ignore[arg-type]


def capture(**changes: object) -> CaptureCall:
    base: dict[str, object] = dict(source="c.pcap", ufrags=frozenset(), endpoints=frozenset({SERVER}),
                                   relays=frozenset(), turn=(), tls=(), silent=(), window=Window(T, T + 6))
    base.update(changes)
    return CaptureCall(**base)  # type: ignore[arg-type]


def refused_flow(user: str, at: float) -> TurnFlow:
    return TurnFlow(flow=1, label="udp 198.51.100.7:50000 <-> 203.0.113.5:3478",
                    client=Endpoint("198.51.100.7", 50000), server=SERVER, transport="udp", users=(user,),
                    relays=(), relayed_both_ways=False, refused=2, refused_packets=(4, 8), refused_time=at)


def test_endpoints_are_compared_by_meaning() -> None:
    assert parse_endpoint("[::1]:3478") == parse_endpoint("[0:0::1]:3478") == Endpoint("::1", 3478)
    assert parse_endpoint("host.example:3478") is None and parse_endpoint("1.2.3.4:99999") is None
    plain, spelled = ice_server("turn:203.0.113.5:3478"), ice_server("TURN:203.0.113.5:3478?transport=udp")
    assert plain is not None and spelled is not None and plain.transport == spelled.transport == "udp"
    named = ice_server("turns:turn.example.org:443?transport=tcp")
    assert named is not None and named.transport == "tls"
    assert named.reached_at(Endpoint("192.0.2.1", 443)) and not named.reached_at(Endpoint("192.0.2.1", 3478))


def test_a_shared_ufrag_is_one_call_even_when_clocks_disagree() -> None:
    match = match_dump_capture(dump(window=Window(T + 7200, T + 7205)), capture(ufrags=frozenset({"bbbb"})))
    assert match.relation is Relation.SAME and "bbbb" in match.reasons[0]


def test_times_hours_apart_are_two_calls() -> None:
    match = match_dump_capture(dump(), capture(window=Window(T + 7200, T + 7260)))
    assert match.relation is Relation.DIFFERENT and "times do not meet" in match.reasons[0]


def test_ufrags_or_relays_that_all_differ_are_two_calls() -> None:
    ufrags = match_dump_capture(dump(), capture(ufrags=frozenset({"cccc", "dddd"})))
    assert ufrags.relation is Relation.DIFFERENT and "no ICE ufrag in common" in ufrags.reasons[0]
    relay = Endpoint("203.0.113.5", 50001)
    relays = match_dump_capture(dump(relays=frozenset({relay})),
                                capture(relays=frozenset({Endpoint("203.0.113.5", 50002)})))
    assert relays.relation is Relation.DIFFERENT


def test_the_same_refusal_at_the_same_moment_is_one_call_and_a_minute_later_is_not() -> None:
    server = ice_server("turn:203.0.113.5:3478")
    assert server is not None
    error = DumpError(server=server, code=401, text="Unauthorized.", time=T + 1, connection="pc 1-1")
    same = match_dump_capture(dump(errors=(error,)), capture(turn=(refused_flow("alice", T + 1.2),)))
    assert same.relation is Relation.SAME
    later = match_dump_capture(dump(errors=(error,)), capture(turn=(refused_flow("alice", T + 40),)))
    assert later.relation is Relation.UNKNOWN


def test_a_log_without_absolute_times_cannot_tell_a_401_call_apart() -> None:
    server = ice_server("turn:203.0.113.5:3478")
    assert server is not None
    error = DumpError(server=server, code=401, text="Unauthorized.", time=T + 1, connection="pc 1-1")
    refusal = LogRefusal(user="alice", count=2, lines=(10, 12), first="12 s after start", time=None,
                         reason="")
    log = LogCall(source="turn.log", sessions=(), refusals=(refusal,), window=None)
    match = match_dump_log(dump(errors=(error,)), log)
    assert match.relation is Relation.UNKNOWN and "new-log-timestamp" in match.reasons[0]
    # nor a capture: a user's name alone, without a time, could be any of a busy server's refusals
    assert match_capture_log(capture(turn=(refused_flow("alice", T + 1),)), log).relation is Relation.UNKNOWN


def test_a_hostile_user_name_reaches_the_report_escaped() -> None:
    refusal = LogRefusal(user="mallory\x1b[31m", count=1, lines=(3,), first="2026-12-07T01:39:38+0000",
                         time=T + 1.0, reason="no such user")
    log = LogCall(source="turn.log", sessions=(), refusals=(refusal,), window=Window(T - 10, T + 10))
    flow = refused_flow("mallory\x1b[31m", T + 1.1)
    judgement = correlate([], [capture(turn=(flow,))], [log], [], [], [])
    root = next(f for f in judgement.findings if f.id == "CORRELATE-TURN-CREDENTIALS")
    assert "\x1b" not in root.title and "no such user" in root.title


def test_an_explicit_link_folds_a_finding_and_what_it_explained() -> None:
    url = "turn:203.0.113.5:3478"
    turn401 = make_finding("ANALYZE-TURN-401", Subject(url, "203.0.113.5", 3478, "udp"), check="analyze",
                           step="gather", url=url, text="Unauthorized.", count=2, when="-", pcs="pc 1-1")
    consequence = make_finding("ANALYZE-RELAY-ONLY-NO-CANDIDATE", Subject("pc 1-1", "203.0.113.5"),
                               check="analyze", step="gathering", pc="pc 1-1", gathering="no candidates")
    root = make_finding("CORRELATE-TURN-CREDENTIALS", Subject(url, "call", 3478, "udp"), check="analyze",
                        step="correlate", url=url, user="alice", reason="", which="-", seen="The dump")
    alone = diagnose([turn401, consequence])
    assert consequence.explained_by == turn401.ref and turn401 in alone.roots
    linked = diagnose([turn401, consequence, root], explained=[Explained(root, turn401)])
    assert linked.roots == [root]
    assert turn401.explained_by == root.ref and consequence.explained_by == root.ref  # moved with it
    report = build_report("analyze", Judgement(findings=[turn401, consequence, root],
                                               facts=Facts(explained=[Explained(root, turn401)])))
    assert report.exit_code == 1 and [r.id for r in report.roots] == ["CORRELATE-TURN-CREDENTIALS"]

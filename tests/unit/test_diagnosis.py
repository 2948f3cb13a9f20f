"""Diagnosis: root causes and the findings they explain (rtcdiag.triage.diagnosis), on recorded findings."""

from __future__ import annotations

from rtcdiag import exitcodes
from rtcdiag.report.build import build_report
from rtcdiag.triage.catalogue import CATALOGUE
from rtcdiag.triage.diagnosis import LAYERS, Layer, diagnose, layer_of
from rtcdiag.triage.finding import Finding, Identity, Subject, make_finding, needing
from rtcdiag.triage.judgement import Facts, Judgement, NameFact


def _down(host: str, transport: str, check: str, port: int = 3478) -> Finding:
    subject = Subject(f"turn:{host}:{port}", host, port, transport)
    return make_finding("SERVER-UNREACHABLE", subject, check=check, step="connect", server=f"{host}:{port}",
                        transport=transport.upper(), host=host, detail="no reply to 7 request(s)")


def _dns(host: str) -> Finding:
    return make_finding("DNS-FAILURE", Subject(f"dns:{host}", host), check="dns", step="A", host=host,
                        detail="no usable answer from 127.0.0.53 (timeout)")


def _ice(host: str, transport: str = "udp", finding_id: str = "ICE-NO-RELAY") -> Finding:
    url = f"turn:{host}:3478?transport={transport}"
    return make_finding(finding_id, Subject(url, host, 3478, transport), check="ice", step="gather-relay",
                        url=url, reason="no relay candidate", sent=3, received=0)


def _expect_relay(host: str) -> Finding:
    return make_finding("EXPECT-RELAY", Subject(host, host), check="expect", step="relay", server=host,
                        reason="no relay worked", failed=1, total=1)


def _auth(host: str) -> Finding:
    subject = Subject(f"turn:{host}:3478", host, 3478, "udp")
    return make_finding("TURN-AUTH-401", subject, check="turn", step="allocate", transport="UDP",
                        server=f"{host}:3478", host=host, detail="(user and realm 'r')")


def test_every_catalogue_entry_carries_its_layer_and_its_explanations_name_known_ids() -> None:
    """The diagnosis data is on the entries (no id list elsewhere): every entry has a layer, the ids an entry
    explains exist and sit on its own layer (the only explanations ``explains`` adds), and the views by id
    are exactly the entries' data."""
    assert set(LAYERS) == set(CATALOGUE)
    assert all(isinstance(entry.layer, Layer) for entry in CATALOGUE.values())
    assert {layer_of(fid) for fid in CATALOGUE} == set(Layer)
    for fid, entry in CATALOGUE.items():
        assert entry.explains <= set(CATALOGUE), fid
        assert all(CATALOGUE[other].layer is entry.layer for other in entry.explains), fid
        assert fid not in entry.explains, fid
        if entry.same_transport_only or entry.any_transport:
            assert entry.layer in (Layer.ENDPOINT, Layer.SERVICE), fid


def test_an_unknown_id_has_no_layer() -> None:
    """An id the catalogue does not know is a bug, never silently a SERVICE finding."""
    import pytest

    from rtcdiag.triage.finding import CatalogueError

    with pytest.raises(CatalogueError):
        layer_of("NO-SUCH-ID")


def test_no_dns_at_all_is_one_root_cause_for_every_named_host() -> None:
    names = [NameFact("stun.l.google.com", False, well_known=True, detail="timeout"),
             NameFact("turn.example.org", False, detail="timeout")]
    findings = [_dns("stun.l.google.com"), _dns("turn.example.org"), _down("turn.example.org", "udp", "stun"),
                _ice("turn.example.org"), _expect_relay("turn.example.org")]
    report = build_report("check", Judgement(findings=findings, facts=_facts(names)))
    assert [r.id for r in report.roots] == ["DNS-NOT-WORKING"]
    root = report.roots[0]
    assert {f.id for f in report.explained(root)} == {"DNS-FAILURE", "SERVER-UNREACHABLE", "ICE-NO-RELAY",
                                                       "EXPECT-RELAY"}
    assert all(f.explained_by == root.ref for f in findings)
    assert "stun.l.google.com" in root.symptom and report.exit_code == exitcodes.FINDING_ERROR


def test_an_ip_literal_server_is_not_explained_by_broken_dns() -> None:
    names = [NameFact("stun.l.google.com", False, well_known=True)]
    literal = _down("192.0.2.10", "udp", "stun")
    diagnosis = diagnose([_dns("stun.l.google.com"), literal], names)
    assert [r.id for r in diagnosis.roots] == ["DNS-NOT-WORKING", "SERVER-UNREACHABLE"]
    assert literal.explained_by is None


def test_dns_works_when_one_name_resolves_or_no_well_known_name_failed() -> None:
    assert diagnose([], [NameFact("stun.l.google.com", True, True), NameFact("x.example", False)]).added == []
    only_mine = [NameFact("turn.internal.example", False)]
    failure = _dns("turn.internal.example")
    diagnosis = diagnose([failure, _down("turn.internal.example", "udp", "turn")], only_mine)
    assert diagnosis.added == [] and [r.id for r in diagnosis.roots] == ["DNS-FAILURE"]


def test_a_tcp_port_that_speaks_no_stun_explains_the_udp_silence_on_it() -> None:
    host = "127.0.0.1"
    tcp = Subject(f"stun:{host}:3478", host, 3478, "tcp")
    not_stun = make_finding("PORT-NOT-STUN", tcp, check="stun", step="binding", transport="TCP", port=3478,
                            server="127.0.0.1:3478", detail="no reply after the TCP connection was accepted")
    udp_stun, udp_turn = _down(host, "udp", "stun"), _down(host, "udp", "turn")
    diagnosis = diagnose([udp_turn, udp_stun, not_stun])
    assert [r.id for r in diagnosis.roots] == ["PORT-NOT-STUN"]
    assert udp_stun.explained_by == udp_turn.explained_by == not_stun.ref
    other_port = _down(host, "udp", "stun", port=9999)
    assert diagnose([not_stun, other_port]).roots == [not_stun, other_port]


def test_the_same_statement_by_several_checks_is_said_once() -> None:
    ports, stun, turn = _down("192.0.2.1", "udp", "ports"), _down("192.0.2.1", "udp", "stun"), \
        _down("192.0.2.1", "udp", "turn")
    tcp = _down("192.0.2.1", "tcp", "stun")
    diagnosis = diagnose([turn, stun, tcp, ports])
    assert diagnosis.roots == [ports, tcp]
    assert stun.explained_by == turn.explained_by == ports.ref


def test_udp_blocked_explains_udp_silence_only() -> None:
    subject = Subject("stun:192.0.2.1:3478", "192.0.2.1", 3478, "udp")
    blocked = make_finding("UDP-BLOCKED", subject, check="stun", step="binding", server="192.0.2.1:3478",
                           detail="no UDP reply while STUN over TCP answered")
    udp, tcp_ice = _down("192.0.2.1", "udp", "turn"), _ice("192.0.2.1", "tcp", "ICE-FAILED")
    diagnose([blocked, udp, tcp_ice])
    assert udp.explained_by == blocked.ref and tcp_ice.explained_by is None


def test_a_refused_allocation_explains_ice_and_expectations_of_its_host_only() -> None:
    auth, ice_same, ice_other = _auth("a.example"), _ice("a.example"), _ice("b.example")
    expect = _expect_relay("a.example")
    diagnosis = diagnose([ice_same, expect, ice_other, auth])
    assert ice_same.explained_by == expect.explained_by == auth.ref
    assert ice_other.explained_by is None
    assert diagnosis.roots == [auth, ice_other]


def test_a_root_never_explains_something_more_severe() -> None:
    subject = Subject("turn:a.example:3478", "a.example", 3478, "udp")
    warning = make_finding("STUN-HIGH-RTT", subject, check="stun", step="binding", server="a",
                           transport="UDP", detail="400 ms")
    error = _ice("a.example")
    diagnose([warning, error])
    assert error.explained_by is None


def test_explained_errors_do_not_set_the_exit_code_but_an_internal_error_does() -> None:
    ports, stun = _down("192.0.2.1", "udp", "ports"), _down("192.0.2.1", "udp", "stun")
    report = build_report("check", Judgement(findings=[ports, stun]))
    assert report.exit_code == exitcodes.FINDING_ERROR and len(report.roots) == 1
    bug = make_finding("INTERNAL-ERROR", Subject("ports"), check="ports", step="run", check_name="ports",
                       about="ports", detail="ValueError: boom")
    assert build_report("check", Judgement(findings=[bug])).exit_code == exitcodes.INTERNAL


def _facts(names: list[NameFact]) -> Facts:


    return Facts(names=names)


def test_a_wrong_password_over_three_transports_is_one_cause() -> None:
    findings = []
    for transport in ("udp", "tcp", "tls"):
        subject = Subject("turn:a.example:3478", "a.example", 5349 if transport == "tls" else 3478, transport)
        findings.append(make_finding("TURN-AUTH-401", subject, check="turn", step="allocate",
                                     transport=transport.upper(), server="a.example:3478", host="a.example",
                                     detail="(user and realm 'r')"))
    diagnosis = diagnose(findings)
    assert diagnosis.roots == [findings[0]]
    assert findings[1].explained_by == findings[2].explained_by == findings[0].ref
    other_host = _auth("b.example")
    assert diagnose([*findings, other_host]).roots == [findings[0], other_host]


def _naive_explained_by(findings: list[Finding]) -> dict[int, str | None]:
    """The diagnosis as first written: every earlier finding of the host tested in order (quadratic)."""
    from rtcdiag.triage.diagnosis import _order, _same_statement, explains

    problems = [f for f in findings if f.severity.rank >= 1]
    explained: dict[int, str | None] = {id(f): None for f in findings}
    refs = {f.ref: f for f in problems}
    by_host: dict[str, list[Finding]] = {}
    for finding in problems:
        by_host.setdefault(finding.subject.host, []).append(finding)
    for group in by_host.values():
        ordered = sorted(group, key=_order)
        for index, finding in enumerate(ordered):
            for candidate in ordered[:index]:
                if explains(candidate, finding) or _same_statement(candidate, finding):
                    root = candidate
                    while explained[id(root)] is not None and explained[id(root)] in refs:
                        root = refs[explained[id(root)] or ""]
                    explained[id(finding)] = root.ref
                    break
    return explained


def test_the_indexed_search_finds_the_same_roots_as_testing_every_earlier_finding() -> None:
    """Random findings over a few hosts, ports, transports and checks: the same explanation for each as
    the quadratic search (the index only skips candidates that cannot explain)."""
    import random

    from rtcdiag.triage.finding import Severity

    rng = random.Random(9)
    below_service = sorted(fid for fid, layer in LAYERS.items() if layer is not Layer.SERVICE)
    ids = [*below_service, "TURN-AUTH-401", "TURN-QUOTA-486", "STUN-HIGH-RTT", "TLS-EXPIRING-SOON",
           "TURN-NO-DATA", "TURN-SERVER-STOPPED", "ANALYZE-TURN-401", "ANALYZE-NO-REMOTE-CANDIDATES"]
    ids = [fid for fid in ids if fid in CATALOGUE and fid != "DNS-NOT-WORKING"]
    checks = ["dns", "ports", "stun", "turn", "ice", "expect", "nat"]
    for _ in range(300):
        findings = []
        for n in range(rng.randint(1, 40)):
            fid = rng.choice(ids)
            host = rng.choice(["a.example", "192.0.2.1", ""])
            port = rng.choice([None, 3478, 5349])
            transport = rng.choice([None, "udp", "tcp", "tls"])
            entry = rng.choice([None, "one", "two"])
            subject = Subject(f"s{n}:{host}", host, port, transport, entry)
            needed = Identity(rng.choice([entry, "two"]), host, rng.choice([None, 3478, 5349]),
                              rng.choice([None, "udp"]))
            basis = rng.choice([None, None, (), (needed,)])
            findings.append(Finding(entry=CATALOGUE[fid], subject=subject, check=rng.choice(checks),
                                    step=f"step{n}", severity=rng.choice(list(Severity)), basis=basis))
        expected = _naive_explained_by(findings)
        diagnose(findings)
        assert {id(f): f.explained_by for f in findings} == expected


# --- the identity of a subject: server entry, host, port, transport (issue 20 item 7) ----------------------

def _in(entry: str, finding: Finding) -> Finding:
    """``finding`` as a check of the server entry ``entry`` states it (rtcdiag check labels its subjects)."""
    s = finding.subject
    finding.subject = Subject(f"{s.server} ({entry})", s.host, s.port, s.transport, entry)
    return finding


def _auth_on(host: str, port: int, transport: str) -> Finding:
    subject = Subject(f"turn:{host}:{port}?transport={transport}", host, port, transport)
    return make_finding("TURN-AUTH-401", subject, check="turn", step="allocate", transport=transport.upper(),
                        server=f"{host}:{port}", host=host, detail="(user and realm 'r')")


def test_a_refused_port_of_one_entry_never_explains_the_401_of_another_entry_on_the_same_host() -> None:
    refused = _in("dead", make_finding("SERVER-REFUSED", Subject("turn:h", "127.0.0.1", 3479, "tcp"),
                                       check="turn", step="connect", server="127.0.0.1:3479", transport="TCP",
                                       host="127.0.0.1", detail="refused"))
    auth = _in("badpw", _auth_on("127.0.0.1", 3478, "tcp"))
    ice = _in("badpw", _ice("127.0.0.1", "tcp"))
    diagnosis = diagnose([refused, auth, ice])
    assert diagnosis.roots == [refused, auth]
    assert ice.explained_by == auth.ref


def test_two_entries_with_wrong_passwords_on_one_host_are_two_causes_over_two_transports_one() -> None:
    a_udp, a_tcp = _in("a", _auth_on("127.0.0.1", 3478, "udp")), _in("a", _auth_on("127.0.0.1", 3478, "tcp"))
    b_udp = _in("b", _auth_on("127.0.0.1", 3478, "udp"))
    diagnosis = diagnose([a_udp, a_tcp, b_udp])
    assert diagnosis.roots == [a_udp, b_udp] and a_tcp.explained_by == a_udp.ref


def test_a_root_about_one_port_never_explains_a_finding_about_another_port() -> None:
    auth, ice_other_port = _auth_on("a.example", 3478, "udp"), _ice("a.example")
    ice_other_port.subject = Subject("turn:a.example:3479", "a.example", 3479, "udp")
    diagnose([auth, ice_other_port])
    assert ice_other_port.explained_by is None


def _tls(finding_id: str, port: int, **params: object) -> Finding:
    subject = Subject("ports:turn.example", "turn.example", port, "tls")
    return make_finding(finding_id, subject, check="ports", step=str(port), **{
        "port": port, "transport": "TLS", "host": "turn.example", "server": f"turn.example:{port}",
        "detail": "x", "state": "open", **params})


def test_what_is_seen_of_a_port_is_never_folded_under_its_failure() -> None:
    """A certificate about to expire is its own cause beside a name mismatch, on the same port or another."""
    for expiring_port in (5349, 443):
        hostname = _tls("TLS-HOSTNAME", 5349)
        expiring = _tls("TLS-EXPIRING-SOON", expiring_port, days=5, not_after="soon", cert_subject="CN=x")
        diagnosis = diagnose([hostname, expiring])
        assert diagnosis.roots == [hostname, expiring] and expiring.explained_by is None


def test_expect_relay_is_explained_only_through_the_relays_that_failed() -> None:
    """The entry's UDP relay failed on a 401; its TLS port is refused too. EXPECT-RELAY needed the UDP relay
    (its basis): the 401 explains it, the refused TLS port (ordered first) does not."""
    refused = make_finding("SERVER-REFUSED", Subject("ports:h", "h.example", 5349, "tls"), check="ports",
                           step="5349", server="h.example:5349", transport="TLS", host="h.example",
                           detail="x")
    auth = _auth_on("h.example", 3478, "udp")
    expect = needing(_expect_relay("h.example"), (auth.subject.identity,))
    diagnosis = diagnose([expect, refused, auth])
    assert expect.explained_by == auth.ref and diagnosis.roots == [refused, auth]
    nothing = needing(_expect_relay("h.example"), ())  # needed nothing that can fail: a fact of its own
    diagnose([nothing, refused, auth])
    assert nothing.explained_by is None


def test_udp_blocked_needs_an_answer_within_the_port_family() -> None:
    from rtcdiag.triage.failures import udp_blocked_ports

    outcomes = [("h", 3478, "udp", "timeout"), ("h", 3479, "udp", "timeout"), ("h", 3478, "tcp", "success"),
                ("g", 3478, "udp", "timeout"), ("g", 5349, "tls", "error-response"),
                ("k", 3478, "udp", "timeout"), ("k", 3478, "tcp", "timeout")]
    assert udp_blocked_ports(outcomes) == {("h", 3478), ("g", 3478)}


def test_every_layer_pair_has_a_declared_scope_or_none() -> None:
    from rtcdiag.triage.diagnosis import OBSERVATIONS, SERVER_WIDE, Scope, reach

    assert reach("DNS-NOT-WORKING", "ICE-NO-RELAY") is Scope.RUN
    assert reach("DNS-FAILURE", "TURN-AUTH-401") is Scope.NAME
    assert reach("SERVER-REFUSED", "TURN-AUTH-401") is Scope.ENDPOINT
    assert reach("PORT-NOT-STUN", "SERVER-REFUSED") is Scope.PORT
    assert reach("UDP-BLOCKED", "SERVER-UNREACHABLE") is Scope.ENDPOINT
    assert all(reach(fid, fid) is Scope.ENTRY for fid in SERVER_WIDE)
    assert OBSERVATIONS and all(reach(root, fid) is None for fid in OBSERVATIONS
                                for root in ("TLS-HOSTNAME", "SERVER-REFUSED", "PORT-NOT-STUN"))
    assert reach("TURN-AUTH-401", "TURN-QUOTA-486") is None and reach("ICE-NO-RELAY", "EXPECT-RELAY") is None
    # a connection's finding (no port, no transport) under the TURN refusal on its host, whatever its port
    assert reach("ANALYZE-TURN-401", "ANALYZE-NO-REMOTE-CANDIDATES") is Scope.ENTRY

"""The TURN judge on recorded TurnCheckResults (no network): findings, steps, statuses, facts, diagnosis."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rtcdiag.probes.record import ErrorKind, Exchange, Outcome, Redirect
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    RestCredentialInfo,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report, Status
from rtcdiag.triage import turn as rules
from rtcdiag.triage.failures import failure_id
from rtcdiag.triage.finding import Severity, Subject
from rtcdiag.triage.judgement import Judgement, RelayFact, StepState
from rtcdiag.triage.turn_errors import ERROR_CODE_FINDINGS
from rtcdiag.triage.turn_exchanges import CHECK_STEPS, subject

HOST = "198.51.100.7"
TARGET = f"turn:{HOST}:3478"
STEPS = CHECK_STEPS
AFTER_CONNECT = STEPS[1:]


def _exchange(step: str, outcome: str = "success", code: int | None = None, response: str = "",
              transport: str = "udp") -> Exchange:
    return Exchange(step=step, request=step.split(" ")[0].title() + " request", transport=transport,
                    server=f"{HOST}:3478", outcome=outcome, error_code=code,
                    response=response or None,
                    rtt_ms=1.5 if outcome in ("success", "error-response") else None,
                    attempts=1 if outcome != "timeout" else 7)


def _data(method: str, sent: int = 5, received: int = 5,
          steps: list[Exchange] | None = None) -> DataPathResult:
    control = "create-permission" if method == METHOD_INDICATION else "channel-bind"
    return DataPathResult(method=method, peer="198.51.100.9:40000", packets_sent=sent,
                          packets_received=received, rtts_ms=[1.0, 2.0, 3.0][: min(received, 3)],
                          steps=[_exchange(control)] if steps is None else steps)


def _healthy(transport: str = "udp", relay: str = HOST, scope: str = "public",
             port: int = 3478) -> TransportResult:
    return TransportResult(
        transport=transport, server=f"{HOST}:{port}", port=port, connected=True,
        connect_ms=2.5 if transport != "udp" else None,
        steps=[_exchange("allocate (unauthenticated)", "error-response", 401, "401 Unauthorized", transport),
               _exchange("allocate (authenticated)", transport=transport),
               _exchange("refresh", transport=transport),
               _exchange("refresh (release, LIFETIME=0)", transport=transport)],
        challenge_code=401, challenge_answered=True, realm="example.org", nonce_seen=True,
        authenticated=True, auth_algorithm="md5", allocated=True, relayed_address=f"{relay}:50000",
        relayed_ip=relay, relay_scope=scope, mapped_address="203.0.113.5:6000", lifetime_s=600,
        data_paths=[_data(METHOD_INDICATION), _data(METHOD_CHANNEL)], refreshed=True, released=True,
        duration_ms=20.0,
    )


def _silent(transport: str = "udp", accepted: bool = False) -> TransportResult:
    """No answer to the first Allocate (UDP: nothing came back; TCP: accepted, then silence)."""
    return TransportResult(transport=transport, server=f"{HOST}:3478", port=3478, connected=True,
                           connect_ms=1.0 if accepted else None,
                           steps=[_exchange("allocate (unauthenticated)", "timeout", transport=transport)],
                           duration_ms=1500.0)


def _result(*transports: TransportResult, server_scope: str = "public", host: str = HOST,
            rest: RestCredentialInfo | None = None, peer_test: bool = True) -> TurnCheckResult:
    return TurnCheckResult(target=f"turn:{host}:3478", host=host, port=3478, server_ip=HOST,
                           server_scope=server_scope, username="alice",
                           credential_kind="rest" if rest else "long-term", rest=rest, peer_test=peer_test,
                           transports=list(transports))


def _report(*results: TurnCheckResult) -> Report:
    return build_report("turn-check", rules.judge_all(results))


def _ids(result: TurnCheckResult) -> list[str]:
    return sorted(f.id for f in rules.judge(result).findings)


def _statuses(report: Report) -> dict[str, Status]:
    return {c.name: c.status for c in report.checks}


def _where(judgement: Judgement) -> list[tuple[str, str | None, str]]:
    """(id, transport, step) of every finding."""
    return sorted(((f.id, f.subject.transport, f.step) for f in judgement.findings),
                  key=lambda w: (w[0], w[1] or "", w[2]))


def _step(judgement: Judgement, transport: str | None, step: str) -> tuple[StepState, str]:
    [outcome] = [s for s in judgement.steps if s.subject.transport == transport and s.step == step]
    return outcome.state, outcome.detail


# --- healthy ------------------------------------------------------------------------------------------------


def test_healthy_public_server_has_no_findings_and_every_step_passes() -> None:
    result = _result(_healthy("udp"), _healthy("tcp"), _healthy("tls", port=5349))
    judgement = rules.judge(result)
    assert judgement.findings == []
    report = _report(result)
    assert [c.name for c in report.checks] == [f"{t}/{s}" for t in ("udp", "tcp", "tls") for s in STEPS]
    assert {c.status for c in report.checks} == {Status.PASS}
    assert {c.suite for c in report.checks} == {TARGET}
    assert report.exit_code == 0 and not report.roots


def test_subjects_carry_host_transport_and_the_port_of_that_transport() -> None:
    judgement = rules.judge(_result(_healthy("udp"), _healthy("tls", port=5349)))
    subjects = {s.subject for s in judgement.steps}
    assert subjects == {Subject(TARGET, HOST, 3478, "udp"), Subject(TARGET, HOST, 5349, "tls")}


def test_step_durations_are_the_measured_times() -> None:
    judgement = rules.judge(_result(_healthy("tcp")))
    durations = {s.step: s.duration_s for s in judgement.steps}
    assert durations["connect"] == pytest.approx(0.0025)
    assert durations["challenge"] == pytest.approx(0.0015)
    assert durations["allocate"] == pytest.approx(0.0015)
    assert durations["refresh"] == pytest.approx(0.003)  # Refresh and the release
    assert durations["data-send-indication"] == pytest.approx(0.0015 + 0.003)  # control + slowest echo


def test_facts_relay_works_and_rtts_per_data_path() -> None:
    facts = rules.judge(_result(_healthy("udp"))).facts
    assert [(f.server, f.works) for f in facts.relays] == [(HOST, True)]
    assert sorted((f.what, f.rtt_ms) for f in facts.rtts) == [
        ("TURN data udp (channel-data), average", 2.0), ("TURN data udp (send-indication), average", 2.0)]
    assert facts.names == [] and not facts.inconclusive  # an IP literal is no name lookup


def test_named_host_gives_a_name_fact() -> None:
    result = _result(_healthy(), host="turn.example.org")
    [fact] = rules.judge(result).facts.names
    assert (fact.host, fact.resolved, fact.well_known) == ("turn.example.org", True, False)


# --- the challenge ------------------------------------------------------------------------------------------


def test_open_relay_is_an_error_on_the_challenge_step() -> None:
    t = _healthy()
    t.challenge_code, t.open_relay, t.authenticated, t.realm, t.nonce_seen = None, True, False, None, False
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-OPEN-RELAY", "udp", "challenge")]
    finding = judgement.findings[0]
    assert finding.severity is Severity.ERROR and "198.51.100.7:50000" in finding.symptom
    assert finding.subject == Subject(TARGET, HOST, 3478, "udp")
    statuses = _statuses(_report(_result(t)))
    assert statuses["udp/challenge"] is Status.FAIL
    assert statuses["udp/allocate"] is Status.PASS and statuses["udp/data-channel-data"] is Status.PASS


def test_challenge_without_nonce_is_invalid_and_skips_the_rest_with_the_reason() -> None:
    t = _healthy()
    t.nonce_seen, t.authenticated, t.allocated, t.data_paths = False, False, False, []
    t.steps = t.steps[:1]
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-CHALLENGE-INVALID", "udp", "challenge")]
    assert "got 401 without NONCE instead" in judgement.findings[0].symptom
    state, detail = _step(judgement, "udp", "allocate")
    assert state is StepState.SKIPPED and "no NONCE" in detail
    report = _report(_result(t))
    assert [c.status for c in report.checks] == [Status.PASS, Status.FAIL, *[Status.SKIP] * 5]


def test_no_credentials_is_info_and_inconclusive() -> None:
    t = TransportResult(transport="udp", server=f"{HOST}:3478", port=3478, connected=True, challenge_code=401,
                        challenge_answered=True, realm="example.org", nonce_seen=True,
                        steps=[_exchange("allocate (unauthenticated)", "error-response", 401, "401")])
    result = _result(t)
    judgement = rules.judge(result)
    assert [(f.id, f.severity, f.step) for f in judgement.findings] == [
        ("TURN-NO-CREDENTIALS", Severity.INFO, "challenge")]
    assert judgement.facts.inconclusive and rules.is_inconclusive(result)
    assert judgement.facts.relays == []  # nothing was tested: no relay fact either way
    state, detail = _step(judgement, "udp", "allocate")
    assert state is StepState.SKIPPED and "no credentials given" in detail and "example.org" in detail
    assert _report(result).exit_code == 3
    assert not rules.judge(_result(_healthy())).facts.inconclusive


# --- the allocation -----------------------------------------------------------------------------------------


def _failed(code: int, reason: str = "", *, step: str = "authenticated Allocate request") -> TransportResult:
    t = _healthy()
    t.allocated, t.relayed_address, t.relayed_ip, t.relay_scope, t.data_paths = False, None, None, None, []
    t.refreshed = t.released = None
    t.error_code, t.error_reason, t.error_step = code, reason, step
    t.steps = [t.steps[0], _exchange("allocate (authenticated)", "error-response", code, f"{code} {reason}")]
    return t


@pytest.mark.parametrize("code", sorted(ERROR_CODE_FINDINGS))
def test_every_turn_error_code_maps_to_its_own_finding_on_allocate(code: int) -> None:
    result = _result(_failed(code, "whatever"))
    judgement = rules.judge(result)
    assert _where(judgement) == [(ERROR_CODE_FINDINGS[code], "udp", "allocate")]
    state, detail = _step(judgement, "udp", "relay-address")
    assert state is StepState.SKIPPED and f"answered {code} whatever" in detail
    assert [(f.works, f.server) for f in judgement.facts.relays] == [(False, HOST)]


def test_unexpected_error_code_is_error_other() -> None:
    assert _ids(_result(_failed(599, "Odd"))) == ["TURN-ERROR-OTHER"]


def test_wrong_password_finding_names_the_realm() -> None:
    found = rules.judge(_result(_failed(401, "Unauthorized"))).findings
    assert found[0].id == "TURN-AUTH-401"
    assert "'example.org'" in found[0].symptom
    assert any("401 Unauthorized" in line for line in found[0].evidence)


def test_error_on_the_unauthenticated_allocate_is_on_the_challenge_step() -> None:
    t = _failed(420, "Unknown Attribute", step="unauthenticated Allocate request")
    t.steps = [_exchange("allocate (unauthenticated)", "error-response", 420, "420 Unknown Attribute")]
    t.challenge_code, t.authenticated, t.realm, t.nonce_seen = 420, False, None, False
    t.unknown_attributes = ["0x0019 REQUESTED-TRANSPORT"]
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-UNKNOWN-ATTR-420", "udp", "challenge")]
    assert "0x0019 REQUESTED-TRANSPORT" in judgement.findings[0].symptom
    state, detail = _step(judgement, "udp", "allocate")
    assert state is StepState.SKIPPED and "420" in detail


def test_allocate_438_retried_once_is_judged_on_the_retry() -> None:
    t = _healthy()
    t.steps.insert(1, _exchange("allocate (authenticated)", "error-response", 438, "438 Stale Nonce"))
    t.steps[2].step = "allocate (authenticated) (retry with new nonce)"
    t.stale_nonce_retries = 1
    judgement = rules.judge(_result(t))
    assert judgement.findings == []
    state, detail = _step(judgement, "udp", "allocate")
    assert state is StepState.DONE and "after a 438 Stale Nonce retry" in detail
    # ...and a retry that is stale again is the 438 finding, on allocate.
    stale = _failed(438, "Stale Nonce")
    stale.steps.append(_exchange("allocate (authenticated) (retry with new nonce)", "error-response", 438,
                                 "438 Stale Nonce"))
    assert _where(rules.judge(_result(stale))) == [("TURN-STALE-NONCE-438", "udp", "allocate")]


def test_authenticated_allocate_timeout() -> None:
    t = _failed(401)
    t.error_code = t.error_step = None
    t.steps[1] = _exchange("allocate (authenticated)", "timeout")
    t.timed_out_step = "authenticated Allocate request"
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-ALLOCATE-TIMEOUT", "udp", "allocate")]


def test_expired_rest_credentials_are_a_credentials_step_and_the_servers_401() -> None:
    rest = RestCredentialInfo(username="1000:alice", expiry=1000, local_time=5000, generated=False)
    judgement = rules.judge(_result(_failed(401, "Unauthorized"), rest=rest))
    assert _where(judgement) == [("TURN-REST-EXPIRED", None, "credentials"),
                                 ("TURN-REST-EXPIRED", "udp", "allocate")]
    from_server = next(f for f in judgement.findings if f.step == "allocate")
    assert "server answered 401 over UDP" in from_server.evidence[0]
    assert _statuses(_report(_result(_failed(401), rest=rest)))["credentials"] is Status.FAIL


def test_rest_expiry_far_ahead_is_clock_skew_unless_we_generated_it() -> None:
    far = RestCredentialInfo(username="x:alice", expiry=5000 + 30 * 86400, local_time=5000, generated=False)
    assert _where(rules.judge(_result(_healthy(), rest=far))) == [("TURN-CLOCK-SKEW", None, "credentials")]
    far.generated = True
    assert _ids(_result(_healthy(), rest=far)) == []


def test_alternate_server_is_reported_even_when_the_redirect_worked() -> None:
    t = _healthy()
    t.alternate_server = "198.51.100.8:3478"
    t.steps.insert(0, _exchange("allocate (unauthenticated)", "error-response", 300, "300 Try Alternate"))
    judgement = rules.judge(_result(t))
    assert [(f.id, f.severity, f.step) for f in judgement.findings] == [
        ("TURN-ALTERNATE-SERVER", Severity.WARNING, "challenge")]
    assert "198.51.100.8:3478" in judgement.findings[0].symptom
    assert _report(_result(t)).exit_code == 0


# --- the relay address --------------------------------------------------------------------------------------


def test_private_relay_from_public_server_is_external_ip_missing() -> None:
    judgement = rules.judge(_result(_healthy(relay="172.17.0.2", scope="private"), server_scope="public"))
    assert _where(judgement) == [("TURN-RELAY-PRIVATE", "udp", "relay-address")]
    assert judgement.findings[0].severity is Severity.ERROR
    assert "172.17.0.2:50000" in judgement.findings[0].symptom


def test_private_relay_from_loopback_server_is_only_noted() -> None:
    result = _result(_healthy(relay="127.0.0.1", scope="loopback"), server_scope="loopback")
    judgement = rules.judge(result)
    assert [(f.id, f.severity) for f in judgement.findings] == [("TURN-RELAY-LOCAL", Severity.INFO)]
    assert {c.status for c in _report(result).checks} == {Status.PASS}


def test_shared_cgnat_relay_counts_as_private() -> None:
    assert _ids(_result(_healthy(relay="100.64.1.1", scope="shared"))) == ["TURN-RELAY-PRIVATE"]


def test_documentation_server_relaying_from_private_is_relay_private_not_local() -> None:
    """A server reached at 198.51.100.10 (RFC 5737: public-like, not private) relaying from 10.99.0.10."""
    result = _result(_healthy(relay="10.99.0.10", scope="private"), server_scope="documentation")
    judgement = rules.judge(result)
    assert _where(judgement) == [("TURN-RELAY-PRIVATE", "udp", "relay-address")]
    assert "10.99.0.10:50000 (private)" in judgement.findings[0].symptom
    assert _report(result).exit_code == 1


@pytest.mark.parametrize(("relay", "relay_scope", "server_scope", "expected"), [
    ("198.51.100.20", "documentation", "documentation", []),  # a lab's "public" relay behind its server
    ("10.0.0.2", "private", "private", ["TURN-RELAY-LOCAL"]),  # a LAN server
    ("127.0.0.1", "loopback", "private", ["TURN-RELAY-PRIVATE"]),  # LAN clients cannot reach loopback
    ("169.254.1.1", "link-local", "public", ["TURN-RELAY-PRIVATE"]),
    ("0.0.0.0", "unspecified", "loopback", ["TURN-RELAY-PRIVATE"]),
    ("100.64.1.1", "shared", "private", ["TURN-RELAY-PRIVATE"]),
])
def test_relay_reachability_by_scope(relay: str, relay_scope: str, server_scope: str,
                                     expected: list[str]) -> None:
    assert _ids(_result(_healthy(relay=relay, scope=relay_scope), server_scope=server_scope)) == expected


# --- redirects (300 Try Alternate) --------------------------------------------------------------------------


def _redirected(redirect: Redirect, detail: str | None = None) -> TransportResult:
    """The first Allocate answered 300 ALTERNATE-SERVER 169.254.169.254:3478 or 198.51.100.50:3478."""
    alternate = "169.254.169.254:3478" if redirect is Redirect.REFUSED else "198.51.100.50:3478"
    return TransportResult(
        transport="udp", server=f"{HOST}:3478", port=3478, connected=True,
        steps=[_exchange("allocate (unauthenticated)", "error-response", 300, "300 Try Alternate")],
        challenge_code=300, challenge_answered=True, error_code=300, error_step="unauthenticated Allocate",
        alternate_server=alternate, alternate_scope="link-local" if redirect is Redirect.REFUSED
        else "documentation", redirect=redirect, redirect_detail=detail, duration_ms=3.0)


def test_refused_redirect_is_an_error_naming_where_it_pointed() -> None:
    t = _redirected(Redirect.REFUSED, "link-local address (169.254.169.254 is the cloud metadata service): "
                                      "never a STUN/TURN server")
    result = _result(t)
    judgement = rules.judge(result)
    assert _where(judgement) == [("REDIRECT-REFUSED", "udp", "challenge")]
    finding = judgement.findings[0]
    assert finding.severity is Severity.ERROR
    assert "169.254.169.254:3478 (link-local), not followed" in finding.symptom
    skipped = [s for s in judgement.steps if s.state is StepState.SKIPPED]
    assert {s.step for s in skipped} == set(STEPS[2:])
    assert all("169.254.169.254" in s.detail for s in skipped)
    assert _report(result).exit_code == 1


def test_no_follow_reports_the_redirect_and_is_inconclusive() -> None:
    result = _result(_redirected(Redirect.NOT_FOLLOWED, "--no-follow"))
    judgement = rules.judge(result)
    assert _where(judgement) == [("TURN-ALTERNATE-SERVER", "udp", "challenge")]
    assert "198.51.100.50:3478 (documentation), not followed (--no-follow)" in judgement.findings[0].symptom
    assert judgement.facts.inconclusive
    assert _report(result).exit_code == 3


def test_withheld_credentials_at_an_alternate_in_another_realm() -> None:
    t = _healthy()
    t.allocated, t.authenticated = False, False
    t.relayed_address = t.relayed_ip = t.relay_scope = None
    t.data_paths, t.refreshed, t.released = [], None, None
    t.steps = [_exchange("allocate (unauthenticated)", "error-response", 300, "300 Try Alternate"),
               _exchange("realm of the redirecting server (unauthenticated Refresh)", "error-response", 401),
               _exchange("allocate (unauthenticated)", "error-response", 401, "401 Unauthorized")]
    t.alternate_server, t.alternate_scope, t.realm = "198.51.100.50:3478", "documentation", "elsewhere"
    t.redirect, t.redirect_realm = Redirect.CREDENTIALS_WITHHELD, "example.org"
    t.redirect_detail = "the alternate server's realm 'elsewhere' is not the redirecting server's realm " \
                        "'example.org'"
    result = _result(t)
    judgement = rules.judge(result)
    assert _where(judgement) == [("TURN-REDIRECT-REALM", "udp", "challenge")]
    assert "'elsewhere' is not the redirecting server's realm 'example.org'" in judgement.findings[0].symptom
    assert judgement.findings[0].severity is Severity.WARNING
    assert _report(result).exit_code == 3


def test_followed_redirect_is_reported_and_the_alternate_judged() -> None:
    t = _healthy()
    t.steps.insert(0, _exchange("allocate (unauthenticated)", "error-response", 300, "300 Try Alternate"))
    t.alternate_server, t.alternate_scope = "198.51.100.50:3478", "documentation"
    t.redirect = Redirect.FOLLOWED
    result = _result(t)
    judgement = rules.judge(result)
    assert _where(judgement) == [("TURN-ALTERNATE-SERVER", "udp", "challenge")]
    assert "(documentation), followed once" in judgement.findings[0].symptom
    assert _report(result).exit_code == 0


# --- the data path ------------------------------------------------------------------------------------------


def test_no_data_through_relay_fails_only_its_own_step() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION, 5, 0), _data(METHOD_CHANNEL)]
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-NO-DATA", "udp", "data-send-indication")]
    assert "Send/Data indications" in judgement.findings[0].symptom
    statuses = _statuses(_report(_result(t)))
    assert statuses["udp/data-send-indication"] is Status.FAIL
    assert statuses["udp/data-channel-data"] is Status.PASS
    assert statuses["udp/allocate"] is Status.PASS and statuses["udp/refresh"] is Status.PASS
    assert [f.works for f in judgement.facts.relays] == [True]  # ChannelData did flow


def test_no_data_by_either_method_is_a_relay_that_does_not_work() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION, 5, 0), _data(METHOD_CHANNEL, 5, 0)]
    result = _result(t)
    judgement = rules.judge(result)
    assert [f.id for f in judgement.findings] == ["TURN-NO-DATA", "TURN-NO-DATA"]
    assert {f.step for f in judgement.findings} == {"data-send-indication", "data-channel-data"}
    # The fact names the endpoint it measured (what an EXPECT-RELAY over it needed).
    assert judgement.facts.relays == [RelayFact(HOST, False, judgement.facts.relays[0].evidence,
                                                subject(result, t).identity)]
    assert judgement.facts.rtts == []


def test_partial_loss_is_a_warning() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION), _data(METHOD_CHANNEL, 10, 7)]
    assert t.data_paths[1].loss_pct == 30.0 and t.data_paths[1].rtt_max_ms == 3.0
    judgement = rules.judge(_result(t))
    assert [(f.id, f.severity, f.step) for f in judgement.findings] == [
        ("TURN-DATA-LOSS", Severity.WARNING, "data-channel-data")]
    assert "30.0% loss" in judgement.findings[0].symptom
    assert _statuses(_report(_result(t)))["udp/data-channel-data"] is Status.WARN


@pytest.mark.parametrize(("transport", "scope", "said"), [
    ("udp", "loopback", None),
    ("tcp", "public", "over TCP nothing is lost between the client and the server"),
    ("tls", "loopback", "over TLS to a server on this machine no network is in between"),
])
def test_loss_over_a_stream_is_never_the_network_between_client_and_server(transport: str, scope: str,
                                                                           said: str | None) -> None:
    t = _healthy(transport, port=5349 if transport == "tls" else 3478)
    t.data_paths = [_data(METHOD_INDICATION), _data(METHOD_CHANNEL, 10, 7)]
    findings = [f for f in rules.judge(_result(t, server_scope=scope)).findings if f.id != "TURN-RELAY-LOCAL"]
    [finding] = findings
    assert finding.id == "TURN-DATA-LOSS" and "30.0% loss" in finding.symptom
    if said is None:
        assert "network" not in finding.symptom
    else:
        assert said in finding.symptom


def test_a_flood_of_unsolicited_packets_is_its_own_finding_and_loss_is_not_judged() -> None:
    """A server flooding Data indications / ChannelData nobody sent: the flood is stated, and missing echoes
    under it are undecided (inconclusive), never loss or a dead relay."""
    t = _healthy()
    flooded = _data(METHOD_CHANNEL, 10, 7)
    flooded.unexpected_packets = 2500
    silent = _data(METHOD_INDICATION, 5, 0)
    silent.unexpected_packets, silent.dropped_packets = 1024, 300
    t.data_paths = [silent, flooded]
    result = _result(t)
    judgement = rules.judge(result)
    assert _where(judgement) == [("REPLY-FLOOD", "udp", "data-channel-data"),
                                 ("REPLY-FLOOD", "udp", "data-send-indication")]
    assert "client's inbox was full" in " ".join(f.symptom for f in judgement.findings)
    assert _step(judgement, "udp", "data-channel-data")[0] is StepState.UNDECIDED
    assert _step(judgement, "udp", "data-send-indication")[0] is StepState.UNDECIDED
    assert judgement.facts.inconclusive
    assert judgement.facts.relays == [RelayFact(HOST, True, judgement.facts.relays[0].evidence,
                                                subject(result, t).identity)]
    assert judgement.facts.rtts == []  # RTTs measured under a flood are not facts


def test_a_few_stray_packets_are_no_flood() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION), _data(METHOD_CHANNEL, 10, 7)]
    t.data_paths[1].unexpected_packets = 3
    assert [f.id for f in rules.judge(_result(t)).findings] == ["TURN-DATA-LOSS"]


def test_a_438_whose_new_nonce_cannot_be_echoed_blames_the_server_not_the_relay() -> None:
    """CreatePermission got 438 with an unusable NONCE: the retry (and every later authenticated request)
    was not sent. That is TURN-CHALLENGE-UNUSABLE on those steps, never "no data" or a dead relay."""
    t = _healthy()
    t.challenge_problem = "NONCE contains the control character U+001B (not allowed in a quoted-string)"
    not_sent = Exchange(step="create-permission", request="CreatePermission request", transport="udp",
                        server=f"{HOST}:3478", outcome=Outcome.NOT_SENT,
                        error=f"not sent: {t.challenge_problem}")
    t.data_paths = [_data(METHOD_INDICATION, 0, 0, steps=[not_sent]), _data(METHOD_CHANNEL)]
    t.steps[2] = replace(not_sent, step="refresh", request="Refresh request")
    t.refreshed = False
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-CHALLENGE-UNUSABLE", "udp", "data-send-indication"),
                                 ("TURN-CHALLENGE-UNUSABLE", "udp", "refresh")]
    assert [f.works for f in judgement.facts.relays] == [True]  # ChannelData flowed; the rest decides nothing
@pytest.mark.parametrize(("field", "shown"), [("socket_drops", "in a full socket receive buffer"),
                                              ("dropped_packets", "in a full inbox"),
                                              ("send_drops", "in a full send buffer")])
def test_loss_while_the_tool_dropped_packets_itself_is_inconclusive(field: str, shown: str) -> None:
    t = _healthy()
    lossy = _data(METHOD_CHANNEL, 1000, 744)
    setattr(lossy, field, 256)
    lossy.summarize()
    t.data_paths = [_data(METHOD_INDICATION), lossy]
    judgement = rules.judge(_result(t))
    assert judgement.findings == []  # never TURN-DATA-LOSS: the network is not to blame
    state, detail = _step(judgement, "udp", "data-channel-data")
    assert state is StepState.UNDECIDED and f"rtcdiag itself dropped 256 {shown}" in detail
    assert judgement.facts.inconclusive
    assert _statuses(_report(_result(t)))["udp/data-channel-data"] is Status.INCONCLUSIVE
    assert _report(_result(t)).exit_code == 3


def test_tool_drops_without_loss_change_nothing() -> None:
    t = _healthy()
    t.data_paths[1].socket_drops = 4  # e.g. a flood of unexpected packets; every echo came back
    t.data_paths[1].summarize()
    judgement = rules.judge(_result(t))
    state, detail = _step(judgement, "udp", "data-channel-data")
    assert state is StepState.DONE and not judgement.facts.inconclusive
    assert "4 packet(s) dropped by rtcdiag's own full socket receive buffer" in detail


def test_permission_refused_for_peer_is_403_on_its_data_step() -> None:
    t = _healthy()
    refused = _data(METHOD_INDICATION, 0, 0,
                    [_exchange("create-permission", "error-response", 403, "403 Forbidden")])
    refused.error = "CreatePermission got 403 Forbidden"
    t.data_paths = [refused, _data(METHOD_CHANNEL)]
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-FORBIDDEN-403", "udp", "data-send-indication")]
    assert "198.51.100.9:40000" in judgement.findings[0].symptom
    statuses = _statuses(_report(_result(t)))
    assert statuses["udp/data-send-indication"] is Status.FAIL
    assert statuses["udp/data-channel-data"] is Status.PASS


@pytest.mark.parametrize("method", [METHOD_INDICATION, METHOD_CHANNEL])
def test_438_on_permission_or_channel_bind_then_success_is_no_error(method: str) -> None:
    control = "create-permission" if method == METHOD_INDICATION else "channel-bind"
    t = _healthy()
    retried = _data(method, steps=[_exchange(control, "error-response", 438, "438 Stale Nonce"),
                                   _exchange(f"{control} (retry with new nonce)")])
    t.data_paths = [retried if dp.method == method else dp for dp in t.data_paths]
    judgement = rules.judge(_result(t))
    assert judgement.findings == []
    state, detail = _step(judgement, "udp", "data-" + method)
    assert state is StepState.DONE and "after a 438 Stale Nonce retry" in detail
    assert _statuses(_report(_result(t)))[f"udp/data-{method}"] is Status.PASS


def test_438_again_after_the_retry_is_the_stale_nonce_finding_on_that_step() -> None:
    t = _healthy()
    stale = _data(METHOD_CHANNEL, 0, 0, [_exchange("channel-bind", "error-response", 438, "438 Stale Nonce"),
                                         _exchange("channel-bind (retry with new nonce)", "error-response",
                                                   438, "438 Stale Nonce")])
    t.data_paths = [_data(METHOD_INDICATION), stale]
    assert _where(rules.judge(_result(t))) == [("TURN-STALE-NONCE-438", "udp", "data-channel-data")]


def test_data_steps_skipped_without_peer_test() -> None:
    t = _healthy()
    t.data_paths = []
    judgement = rules.judge(_result(t, peer_test=False))
    state, detail = _step(judgement, "udp", "data-channel-data")
    assert state is StepState.SKIPPED and "--no-peer-test" in detail
    assert judgement.facts.relays == []  # allocated, but no data was sent: no claim either way


# --- refresh ------------------------------------------------------------------------------------------------


def test_refused_release_is_a_warning_on_refresh() -> None:
    t = _healthy()
    t.released = False
    t.steps[-1] = _exchange("refresh (release, LIFETIME=0)", "error-response", 437, "437 Allocation Mismatch")
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-REFRESH-FAILED", "udp", "refresh")]
    assert _statuses(_report(_result(t)))["udp/refresh"] is Status.WARN


def test_unanswered_release_after_everything_else_is_a_server_that_stopped() -> None:
    """The release is the last request: no answer to it, after every earlier one was answered, is the same
    silence as anywhere else in the session (an error of its own, not a failed-refresh warning)."""
    t = _healthy()
    t.released = False
    t.steps[-1] = _exchange("refresh (release, LIFETIME=0)", "timeout")
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-SERVER-STOPPED", "udp", "refresh")]
    report = _report(_result(t))
    assert _statuses(report)["udp/refresh"] is Status.FAIL and report.exit_code == 1


def test_refresh_438_then_success_is_no_error() -> None:
    t = _healthy()
    t.steps[2:3] = [_exchange("refresh", "error-response", 438, "438 Stale Nonce"),
                    _exchange("refresh (retry with new nonce)")]
    assert rules.judge(_result(t)).findings == []


# --- reachability and the diagnosis -------------------------------------------------------------------------


def test_silent_server_fails_connect_once_and_skips_the_rest_with_the_reason() -> None:
    result = _result(_silent("udp"))
    judgement = rules.judge(result)
    assert _where(judgement) == [("SERVER-UNREACHABLE", "udp", "connect")]
    for step in AFTER_CONNECT:
        state, detail = _step(judgement, "udp", step)
        assert state is StepState.SKIPPED and detail.startswith("no answer over UDP from")
    report = _report(result)
    assert [c.status for c in report.checks] == [Status.FAIL, *[Status.SKIP] * 6]
    assert all(c.message.startswith("no answer over UDP") for c in report.checks[1:])
    assert [r.id for r in report.roots] == ["SERVER-UNREACHABLE"]
    connect = next(s for s in judgement.steps if s.step == "connect")
    assert connect.duration_s == pytest.approx(1.5)  # how long it waited


def test_udp_silent_while_tcp_answers_is_udp_blocked_and_one_root() -> None:
    result = _result(_silent("udp"), _healthy("tcp"))
    judgement = rules.judge(result)
    assert _where(judgement) == [("UDP-BLOCKED", "udp", "connect")]
    report = _report(result)
    assert [r.id for r in report.roots] == ["UDP-BLOCKED"]
    assert all(c.status is Status.PASS for c in report.checks if c.name.startswith("tcp/"))


def test_udp_blocked_knows_tcp_answers_of_other_targets_of_the_same_host() -> None:
    udp_only = _result(_silent("udp"))
    tcp_only = _result(_healthy("tcp"))
    tcp_only.target = f"turn:{HOST}:3478?transport=tcp"
    assert [f.id for f in rules.judge_all([udp_only, tcp_only]).findings] == ["UDP-BLOCKED"]


def test_accepted_but_silent_tcp_is_port_not_stun_and_explains_the_udp_silence() -> None:
    result = _result(_silent("udp"), _silent("tcp", accepted=True))
    judgement = rules.judge(result)
    assert _where(judgement) == [("PORT-NOT-STUN", "tcp", "challenge"),
                                 ("SERVER-UNREACHABLE", "udp", "connect")]
    port_not_stun = next(f for f in judgement.findings if f.id == "PORT-NOT-STUN")
    assert port_not_stun.title == "Not a STUN/TURN server on TCP port 3478"
    report = _report(result)
    assert [r.id for r in report.roots] == ["PORT-NOT-STUN"]
    statuses = _statuses(report)
    assert statuses["tcp/connect"] is Status.PASS and statuses["tcp/challenge"] is Status.FAIL
    assert statuses["tcp/allocate"] is Status.SKIP


def test_tcp_closed_after_accept_is_port_not_stun() -> None:
    t = _silent("tcp", accepted=True)
    t.steps = [Exchange(step="allocate (unauthenticated)", request="Allocate request", transport="tcp",
                        server=f"{HOST}:3478", outcome="transport-error", error="connection closed",
                        error_kind="closed", attempts=1)]
    t.connected, t.failure_kind, t.connect_error = False, "closed", "connection closed"
    assert _where(rules.judge(_result(t))) == [("PORT-NOT-STUN", "tcp", "challenge")]


def test_garbage_over_udp_is_malformed_reply_on_the_challenge() -> None:
    t = _silent("udp")
    t.steps[0].outcome, t.steps[0].rejected = "rejected", ["malformed reply: too short (from x)"]
    t.failure_kind = "malformed"
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("MALFORMED-REPLY", "udp", "challenge")]
    assert _step(judgement, "udp", "connect")[0] is StepState.DONE


def test_dns_failure_is_one_finding_and_every_transport_step_is_skipped() -> None:
    legs = [TransportResult(transport=t, server=f"turn.invalid:{p}", port=p, server_name="turn.invalid",
                            connect_error="no such name", failure_kind="dns")
            for t, p in (("udp", 3478), ("tcp", 3478), ("tls", 5349))]
    result = _result(*legs, host="turn.invalid")
    result.resolve_error, result.server_ip, result.server_scope = "turn.invalid: no such name", None, None
    judgement = rules.judge(result)
    assert [(f.id, f.subject.transport, f.step, f.subject.host) for f in judgement.findings] == [
        ("DNS-FAILURE", None, "resolve", "turn.invalid")]
    transport_steps = [s for s in judgement.steps if s.subject.transport is not None]
    assert len(transport_steps) == 3 * len(STEPS)
    assert all(s.state is StepState.SKIPPED and s.detail.startswith("name does not resolve")
               for s in transport_steps)
    assert [(f.host, f.resolved) for f in judgement.facts.names] == [("turn.invalid", False)]
    assert [(f.server, f.works) for f in judgement.facts.relays] == [("turn.invalid", False)] * 3
    report = _report(result)
    assert _statuses(report)["resolve"] is Status.FAIL and [r.id for r in report.roots] == ["DNS-FAILURE"]


@pytest.mark.parametrize(("kind", "expected"), [
    (ErrorKind.TLS_UNTRUSTED, "TLS-UNTRUSTED"), (ErrorKind.TLS_EXPIRED, "TLS-EXPIRED"),
    (ErrorKind.TLS_HOSTNAME_MISMATCH, "TLS-HOSTNAME"), (ErrorKind.TLS_HANDSHAKE, "TLS-HANDSHAKE"),
    (ErrorKind.REFUSED, "SERVER-REFUSED"),  # also ICMP port unreachable (the transport's RefusedError)
    (ErrorKind.UNREACHABLE, "NO-ROUTE"), (ErrorKind.CONNECT_TIMEOUT, "SERVER-UNREACHABLE"),
    (ErrorKind.TRANSPORT, "SERVER-UNREACHABLE"), (None, "SERVER-UNREACHABLE")])
def test_transport_failures_map_to_general_findings(kind: ErrorKind | None, expected: str) -> None:
    assert failure_id(kind) == expected


def test_tls_failure_is_on_tls_connect_with_the_tls_port() -> None:
    t = TransportResult(transport="tls", server=f"{HOST}:5349", port=5349, server_name="turn.example.org",
                        connected=False, connect_error="certificate verify failed",
                        failure_kind="tls:hostname-mismatch", duration_ms=3.0)
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TLS-HOSTNAME", "tls", "connect")]
    finding = judgement.findings[0]
    assert "turn.example.org" in finding.symptom
    assert finding.subject == Subject(TARGET, HOST, 5349, "tls")
    state, detail = _step(judgement, "tls", "challenge")
    assert state is StepState.SKIPPED and detail == "no connection: certificate verify failed"


def test_udp_icmp_refused_is_server_refused_on_connect() -> None:
    t = _silent("udp")
    t.steps[0] = Exchange(step="allocate (unauthenticated)", request="Allocate request", transport="udp",
                          server=f"{HOST}:3478", outcome="transport-error",
                          error="ICMP port unreachable from 198.51.100.7 port 3478", error_kind="refused")
    t.connected, t.failure_kind = False, "refused"
    judgement = rules.judge(_result(t, _healthy("tcp")))
    assert _where(judgement) == [("SERVER-REFUSED", "udp", "connect")]  # refused, not "blocked"


def test_allocation_without_relayed_address_is_undecided_and_inconclusive() -> None:
    t = _healthy()
    t.relayed_address = t.relayed_ip = t.relay_scope = None
    t.data_paths, t.refreshed = [], None
    judgement = rules.judge(_result(t))
    assert judgement.findings == []
    state, detail = _step(judgement, "udp", "relay-address")
    assert state is StepState.UNDECIDED and "XOR-RELAYED-ADDRESS" in detail
    assert _step(judgement, "udp", "data-send-indication")[0] is StepState.SKIPPED
    assert judgement.facts.inconclusive
    assert _report(_result(t)).exit_code == 3


def test_unreachable_alternate_server_is_reported_on_the_challenge() -> None:
    t = TransportResult(transport="udp", server="198.51.100.8:3478", port=3478, connected=True,
                        alternate_server="198.51.100.8:3478", duration_ms=900.0,
                        steps=[_exchange("allocate (unauthenticated)", "error-response", 300,
                                         "300 Try Alternate"),
                               _exchange("allocate (unauthenticated)", "timeout")])
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("SERVER-UNREACHABLE", "udp", "challenge"),
                                 ("TURN-ALTERNATE-SERVER", "udp", "challenge")]
    unreachable = next(f for f in judgement.findings if f.id == "SERVER-UNREACHABLE")
    assert "alternate server 198.51.100.8:3478" in unreachable.symptom
    assert _step(judgement, "udp", "connect")[0] is StepState.DONE  # the first server did answer


def test_data_line_counts_unexpected_and_dropped_packets() -> None:
    t = _healthy()
    t.data_paths[1].unexpected_packets, t.data_paths[1].dropped_packets = 3, 2
    state, detail = _step(rules.judge(_result(t)), "udp", "data-channel-data")
    assert state is StepState.DONE
    assert "3 unexpected packet(s) ignored, 2 packet(s) dropped: client inbox full" in detail


def test_userhash_that_cannot_be_computed_is_in_the_401_evidence() -> None:
    t = _failed(401, "Unauthorized")
    t.userhash_error = "the server asked for USERHASH, which cannot be computed: bad realm"
    [finding] = rules.judge(_result(t)).findings
    assert finding.id == "TURN-AUTH-401" and t.userhash_error in finding.evidence


def test_rejected_count_beyond_the_kept_replies_is_reported() -> None:
    t = _silent("udp")
    t.steps[0].outcome, t.steps[0].rejected, t.steps[0].rejected_count = "rejected", ["bad (from x)"] * 5, 40
    [finding] = rules.judge(_result(t)).findings
    assert finding.id == "MALFORMED-REPLY" and "40 reply(ies) rejected" in finding.symptom


def test_data_step_duration_spans_to_the_next_request_of_the_probe() -> None:
    t = _healthy()
    for ex, at in zip(t.steps, (1.0, 3.0, 40.0, 42.0), strict=True):  # challenge, allocate, refresh, release
        ex.started_ms = at
    t.data_paths[0].steps[0].started_ms = 5.0  # CreatePermission, then the echoes ...
    t.data_paths[1].steps[0].started_ms = 21.0  # ... until ChannelBind, then its echoes until the Refresh
    durations = {s.step: s.duration_s for s in rules.judge(_result(t)).steps}
    assert durations["data-send-indication"] == pytest.approx(0.016)
    assert durations["data-channel-data"] == pytest.approx(0.019)


# --- the session as a whole, trust in responses, channels, lifetimes, realms (issue 9, item 3 and 10) ------


def _timeout(step: str) -> Exchange:
    return _exchange(step, "timeout")


def test_server_silent_after_the_allocation_is_its_own_error_and_explains_the_rest() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION, 5, 0, [_exchange("create-permission")]),
                    _data(METHOD_CHANNEL, 0, 0, [_timeout("channel-bind")])]
    t.steps[2:] = [_timeout("refresh (release, LIFETIME=0)")]
    t.refreshed, t.released = None, False
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-NO-DATA", "udp", "data-send-indication"),
                                 ("TURN-SERVER-STOPPED", "udp", "data-channel-data")]
    state, detail = _step(judgement, "udp", "refresh")
    assert state is StepState.SKIPPED and "stopped answering at channel-bind" in detail
    report = _report(_result(t))
    assert [r.id for r in report.roots] == ["TURN-SERVER-STOPPED"] and report.exit_code == 1
    [stopped] = [f for f in judgement.findings if f.id == "TURN-SERVER-STOPPED"]
    assert "channel-bind got no reply to 7 request(s)" in stopped.symptom
    assert any("first unanswered" in line for line in stopped.evidence)


def test_a_lost_request_answered_later_is_not_a_server_that_stopped() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION, 0, 0, [_timeout("create-permission")]), _data(METHOD_CHANNEL)]
    judgement = rules.judge(_result(t))
    assert "TURN-SERVER-STOPPED" not in {f.id for f in judgement.findings}
    assert _where(judgement) == [("TURN-NO-DATA", "udp", "data-send-indication")]


def test_server_reset_at_the_refresh_is_stopped_on_refresh_not_a_refresh_warning() -> None:
    t = _healthy()
    reset = _exchange("refresh", "transport-error")
    reset.error = "connection reset by peer"
    t.steps[2:] = [reset]
    t.refreshed, t.released = False, False
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-SERVER-STOPPED", "udp", "refresh")]
    assert "refresh failed (connection reset by peer)" in judgement.findings[0].symptom


def test_channeldata_lost_where_send_data_works_is_the_servers_fault() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION), _data(METHOD_CHANNEL, 5, 0)]
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-CHANNELDATA-NOT-RELAYED", "udp", "data-channel-data")]
    assert "Send/Data indications: 5/5 echoed back" in judgement.findings[0].symptom
    # both methods silent: the relay itself does not work (firewall, external-ip), not a channel problem
    t.data_paths = [_data(METHOD_INDICATION, 5, 0), _data(METHOD_CHANNEL, 5, 0)]
    assert [w[0] for w in _where(rules.judge(_result(t)))] == ["TURN-NO-DATA", "TURN-NO-DATA"]


def _unsigned(step: str, success: bool = True) -> Exchange:
    ex = _exchange(step, "rejected")
    ex.unverified_count, ex.unverified_success = 3, success
    ex.unverified_response = f"{step.split(' ')[0].title()} {'success' if success else 'error'} response"
    return ex


def test_unsigned_allocate_success_is_not_an_allocation() -> None:
    t = _failed(0, "")
    t.steps[-1] = _unsigned("allocate (authenticated)")
    t.error_code = None
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-RESPONSE-NO-INTEGRITY", "udp", "allocate")]
    state, detail = _step(judgement, "udp", "allocate")
    assert state is StepState.DONE and "not an allocation" in detail
    assert _step(judgement, "udp", "relay-address")[0] is StepState.SKIPPED


def test_unsigned_channel_bind_success_is_reported_and_the_packets_still_judged() -> None:
    t = _healthy()
    t.data_paths = [_data(METHOD_INDICATION), _data(METHOD_CHANNEL, 5, 5, [_unsigned("channel-bind")])]
    assert _where(rules.judge(_result(t))) == [("TURN-RESPONSE-NO-INTEGRITY", "udp", "data-channel-data")]
    t.data_paths[1] = _data(METHOD_CHANNEL, 5, 0, [_unsigned("channel-bind")])
    assert _where(rules.judge(_result(t))) == [("TURN-CHANNELDATA-NOT-RELAYED", "udp", "data-channel-data"),
                                               ("TURN-RESPONSE-NO-INTEGRITY", "udp", "data-channel-data")]


def test_refresh_lifetime_zero_is_reported_and_a_lower_lifetime_only_recorded() -> None:
    t = _healthy()
    t.refresh_requested_s, t.refresh_lifetime_s = 600, 0
    t.steps.pop()  # no release: the Refresh deleted the allocation
    t.released = None
    judgement = rules.judge(_result(t))
    assert _where(judgement) == [("TURN-REFRESH-LIFETIME-ZERO", "udp", "refresh")]
    t = _healthy()
    t.refresh_requested_s, t.refresh_lifetime_s = 600, 300
    judgement = rules.judge(_result(t))
    assert judgement.findings == []
    assert "lifetime 300 s of 600 s asked: capped by the server" in _step(judgement, "udp", "refresh")[1]


def test_release_438_then_success_is_no_error() -> None:
    t = _healthy()
    t.steps[3:] = [_exchange("refresh (release, LIFETIME=0)", "error-response", 438, "438 Stale Nonce"),
                   _exchange("refresh (release, LIFETIME=0) (retry with new nonce)")]
    judgement = rules.judge(_result(t))
    assert judgement.findings == []
    assert "after a 438 Stale Nonce retry" in _step(judgement, "udp", "refresh")[1]


def test_401_names_the_servers_realm_and_the_realm_of_the_hash() -> None:
    t = _failed(401, "Unauthorized")
    t.realm, t.hash_realm = "a", "b"
    [finding] = rules.judge(_result(t)).findings
    assert finding.id == "TURN-AUTH-401"
    assert "server realm 'a'" in finding.symptom
    assert "hashed (md5) with realm 'b' from --realm" in finding.symptom
    t.hash_realm = "a"
    [finding] = rules.judge(_result(t)).findings
    assert "hashed (md5) with the same realm 'a'" in finding.symptom

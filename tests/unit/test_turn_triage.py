"""Triage rules of turn-check, on recorded TurnCheckResults (no network)."""

from __future__ import annotations

from rtcdiag.probes.record import Exchange
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    DataPathResult,
    RestCredentialInfo,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.report.model import Status
from rtcdiag.triage import turn as rules
from rtcdiag.triage.finding import Severity


def _exchange(step: str, outcome: str = "success", code: int | None = None, response: str = "") -> Exchange:
    return Exchange(step=step, request=step.split(" ")[0].title() + " request", transport="udp",
                    server="198.51.100.7:3478", outcome=outcome, error_code=code,
                    response=response or None, rtt_ms=1.5 if outcome != "timeout" else None)


def _data(method: str, sent: int = 5, received: int = 5) -> DataPathResult:
    return DataPathResult(method=method, peer="198.51.100.9:40000", packets_sent=sent,
                          packets_received=received, rtts_ms=[1.0, 2.0, 3.0][: min(received, 3)])


def _healthy_transport(transport: str = "udp", relay: str = "198.51.100.7", scope: str = "public",
                       server: str = "198.51.100.7:3478") -> TransportResult:
    return TransportResult(
        transport=transport, server=server, connected=True,
        steps=[_exchange("allocate (unauthenticated)", "error-response", 401, "401 Unauthorized"),
               _exchange("allocate (authenticated)"), _exchange("refresh"), _exchange("refresh (release)")],
        challenge_code=401, challenge_answered=True, realm="example.org", nonce_seen=True,
        authenticated=True, auth_algorithm="md5", allocated=True, relayed_address=f"{relay}:50000",
        relayed_ip=relay, relay_scope=scope, mapped_address="203.0.113.5:6000", lifetime_s=600,
        data_paths=[_data(METHOD_INDICATION), _data(METHOD_CHANNEL)], refreshed=True, released=True,
    )


def _result(*transports: TransportResult, server_scope: str = "public",
            rest: RestCredentialInfo | None = None) -> TurnCheckResult:
    return TurnCheckResult(target="turn:198.51.100.7:3478", host="198.51.100.7", port=3478,
                           server_ip="198.51.100.7", server_scope=server_scope, username="alice",
                           credential_kind="rest" if rest else "long-term", rest=rest,
                           transports=list(transports))


def _ids(result: TurnCheckResult) -> list[str]:
    return sorted(f.id for f in rules.findings(result))


def test_healthy_public_server_has_no_findings_and_all_checks_pass() -> None:
    result = _result(_healthy_transport("udp"), _healthy_transport("tcp"))
    found = rules.findings(result)
    assert found == []
    cases = rules.checks(result, found)
    assert {c.status for c in cases} == {Status.PASS}
    assert len(cases) == 2 * len(rules.CHECK_STEPS)
    assert "udp/data-channel-data" in {c.name for c in cases}


def test_open_relay_is_an_error() -> None:
    t = _healthy_transport()
    t.challenge_code, t.open_relay, t.authenticated, t.realm, t.nonce_seen = None, True, False, None, False
    found = rules.findings(_result(t))
    assert [f.id for f in found] == ["TURN-OPEN-RELAY"]
    assert found[0].severity is Severity.ERROR
    assert "198.51.100.7:50000" in found[0].symptom
    assert found[0].subject == "turn:198.51.100.7:3478?transport=udp"


def test_challenge_without_nonce_is_invalid() -> None:
    t = _healthy_transport()
    t.nonce_seen, t.allocated, t.data_paths = False, False, []
    found = rules.findings(_result(t))
    assert [f.id for f in found] == ["TURN-CHALLENGE-INVALID"]
    assert "got 401 without NONCE instead" in found[0].symptom


def test_no_credentials_is_info_and_inconclusive() -> None:
    t = TransportResult(transport="udp", server="198.51.100.7:3478", connected=True, challenge_code=401,
                        challenge_answered=True, realm="example.org", nonce_seen=True)
    result = _result(t)
    found = rules.findings(result)
    assert [(f.id, f.severity) for f in found] == [("TURN-NO-CREDENTIALS", Severity.INFO)]
    assert rules.is_inconclusive(result)
    assert not rules.is_inconclusive(_result(_healthy_transport()))


def _failed(code: int, reason: str = "", step: str = "Allocate request") -> TransportResult:
    t = _healthy_transport()
    t.allocated, t.relayed_address, t.relayed_ip, t.relay_scope, t.data_paths = False, None, None, None, []
    t.refreshed = t.released = None
    t.error_code, t.error_reason, t.error_step = code, reason, step
    return t


def test_every_turn_error_code_maps_to_its_own_finding() -> None:
    for code, expected in rules.ERROR_CODE_FINDINGS.items():
        assert _ids(_result(_failed(code, "whatever"))) == [expected], code
    assert _ids(_result(_failed(599, "Odd"))) == ["TURN-ERROR-OTHER"]


def test_wrong_password_finding_names_the_realm() -> None:
    found = rules.findings(_result(_failed(401, "Unauthorized")))
    assert found[0].id == "TURN-AUTH-401"
    assert "'example.org'" in found[0].symptom
    assert any("401 Unauthorized" in line for line in found[0].evidence)


def test_420_lists_unknown_attributes() -> None:
    t = _failed(420, "Unknown Attribute")
    t.unknown_attributes = ["0x0019 REQUESTED-TRANSPORT"]
    found = rules.findings(_result(t))
    assert found[0].id == "TURN-UNKNOWN-ATTR-420"
    assert "0x0019 REQUESTED-TRANSPORT" in found[0].symptom


def test_expired_rest_credentials_replace_the_401() -> None:
    rest = RestCredentialInfo(username="1000:alice", expiry=1000, local_time=5000, generated=False)
    ids = _ids(_result(_failed(401, "Unauthorized"), rest=rest))
    assert ids == ["TURN-REST-EXPIRED", "TURN-REST-EXPIRED"]  # the credential itself, and the server's 401


def test_rest_expiry_far_ahead_is_clock_skew_unless_we_generated_it() -> None:
    far = RestCredentialInfo(username="x:alice", expiry=5000 + 30 * 86400, local_time=5000, generated=False)
    assert _ids(_result(_healthy_transport(), rest=far)) == ["TURN-CLOCK-SKEW"]
    far.generated = True
    assert _ids(_result(_healthy_transport(), rest=far)) == []


def test_private_relay_from_public_server_is_external_ip_missing() -> None:
    t = _healthy_transport(relay="172.17.0.2", scope="private")
    found = rules.findings(_result(t, server_scope="public"))
    assert [f.id for f in found] == ["TURN-RELAY-PRIVATE"]
    assert found[0].severity is Severity.ERROR
    assert "172.17.0.2:50000" in found[0].symptom


def test_private_relay_from_loopback_server_is_only_noted() -> None:
    t = _healthy_transport(relay="127.0.0.1", scope="loopback", server="127.0.0.1:3478")
    result = _result(t, server_scope="loopback")
    found = rules.findings(result)
    assert [(f.id, f.severity) for f in found] == [("TURN-RELAY-LOCAL", Severity.INFO)]
    assert all(c.status is Status.PASS for c in rules.checks(result, found))


def test_cgnat_relay_counts_as_private() -> None:
    t = _healthy_transport(relay="100.64.1.1", scope="cgnat")
    assert _ids(_result(t)) == ["TURN-RELAY-PRIVATE"]


def test_no_data_through_relay_is_its_own_error_and_fails_only_that_check() -> None:
    t = _healthy_transport()
    t.data_paths = [_data(METHOD_INDICATION, 5, 0), _data(METHOD_CHANNEL)]
    result = _result(t)
    found = rules.findings(result)
    assert [f.id for f in found] == ["TURN-NO-DATA"]
    assert "Send/Data indications" in found[0].symptom
    statuses = {c.name: c.status for c in rules.checks(result, found)}
    assert statuses["udp/data-send-indication"] is Status.FAIL
    assert statuses["udp/data-channel-data"] is Status.PASS
    assert statuses["udp/allocate"] is Status.PASS


def test_partial_loss_is_a_warning() -> None:
    t = _healthy_transport()
    t.data_paths = [_data(METHOD_INDICATION), _data(METHOD_CHANNEL, 10, 7)]
    assert t.data_paths[1].loss_pct == 30.0 and t.data_paths[1].rtt_max_ms == 3.0
    found = rules.findings(_result(t))
    assert [(f.id, f.severity) for f in found] == [("TURN-DATA-LOSS", Severity.WARNING)]
    assert "30.0% loss" in found[0].symptom


def test_permission_refused_for_peer_is_403_on_the_data_path() -> None:
    t = _healthy_transport()
    refused = DataPathResult(method=METHOD_INDICATION, peer="127.0.0.1:4000",
                             steps=[_exchange("create-permission", "error-response", 403, "403 Forbidden")],
                             error="CreatePermission refused")
    t.data_paths = [refused]
    result = _result(t)
    found = rules.findings(result)
    assert [f.id for f in found] == ["TURN-FORBIDDEN-403"]
    assert "127.0.0.1:4000" in found[0].symptom
    statuses = {c.name: c.status for c in rules.checks(result, found)}
    assert statuses["udp/data-send-indication"] is Status.FAIL
    assert statuses["udp/data-channel-data"] is Status.SKIP


def test_authenticated_allocate_timeout() -> None:
    t = _failed(401)
    t.error_code = None
    t.timed_out_step = "allocate (authenticated)"
    assert _ids(_result(t)) == ["TURN-ALLOCATE-TIMEOUT"]


def test_alternate_server_is_reported_even_when_the_redirect_worked() -> None:
    t = _healthy_transport()
    t.alternate_server = "198.51.100.8:3478"
    found = rules.findings(_result(t))
    assert [(f.id, f.severity) for f in found] == [("TURN-ALTERNATE-SERVER", Severity.WARNING)]
    assert "198.51.100.8:3478" in found[0].symptom


def test_failed_release_is_reported() -> None:
    t = _healthy_transport()
    t.released = False
    t.steps[-1] = _exchange("refresh (release)", "timeout")
    result = _result(t)
    found = rules.findings(result)
    assert [f.id for f in found] == ["TURN-REFRESH-FAILED"]
    assert {c.name: c.status for c in rules.checks(result, found)}["udp/refresh"] is Status.WARN


def test_tls_subject_uses_turns_scheme() -> None:
    t = _healthy_transport("tls", server="198.51.100.7:5349")
    assert rules.subject(_result(t), t) == "turns:198.51.100.7:5349?transport=tcp"


def test_udp_silent_while_tcp_answers_is_udp_blocked() -> None:
    udp = TransportResult(transport="udp", server="198.51.100.7:3478", connected=True,
                          steps=[_exchange("allocate (unauthenticated)", "timeout")])
    result = _result(udp, _healthy_transport("tcp"))
    assert _ids(result) == ["UDP-BLOCKED"]
    alone = _result(TransportResult(transport="udp", server="198.51.100.7:3478", connected=True))
    assert _ids(alone) == ["SERVER-UNREACHABLE"]


def test_transport_failures_map_to_general_findings() -> None:
    assert rules.failure_finding_id("tls:untrusted-certificate", "") == "TLS-UNTRUSTED"
    assert rules.failure_finding_id("tls:expired-certificate", "") == "TLS-EXPIRED"
    assert rules.failure_finding_id("tls:hostname-mismatch", "") == "TLS-HOSTNAME"
    assert rules.failure_finding_id("tls:handshake-failure", "") == "TLS-HANDSHAKE"
    assert rules.failure_finding_id("refused", "") == "SERVER-REFUSED"
    assert rules.failure_finding_id("unreachable", "ICMP port unreachable") == "SERVER-REFUSED"
    assert rules.failure_finding_id("unreachable", "ICMP host unreachable") == "NO-ROUTE"
    assert rules.failure_finding_id("connect-timeout", "") == "SERVER-UNREACHABLE"
    t = TransportResult(transport="tls", server="198.51.100.7:5349", server_name="turn.example.org",
                        connected=False, connect_error="certificate verify failed",
                        failure_kind="tls:hostname-mismatch")
    found = rules.findings(_result(t))
    assert [f.id for f in found] == ["TLS-HOSTNAME"]
    assert "turn.example.org" in found[0].symptom

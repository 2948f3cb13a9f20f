"""STUN triage rules on recorded Binding results (no network)."""

from __future__ import annotations

from dataclasses import replace

from rtcdiag.probes.binding import BindingResult
from rtcdiag.probes.record import Exchange, Redirect
from rtcdiag.triage.stun import triage

# Server at a global address (scope PUBLIC; documentation ranges count as reserved). No traffic is sent.
OK = BindingResult(target="stun:93.184.216.34:3478?transport=udp", host="93.184.216.34", port=3478,
                   transport="udp", server_address="93.184.216.34:3478", outcome="success",
                   mapped_address="198.51.100.2:50000", mapped_from="XOR-MAPPED-ADDRESS",
                   xor_mapped_address="198.51.100.2:50000", response_source="93.184.216.34:3478",
                   fingerprint=True, rtt_ms=20.0, attempts=1)


def ids(results: list[BindingResult]) -> list[str]:
    return sorted(f.id for f in triage(results))


def test_healthy_reply_has_no_findings() -> None:
    assert ids([OK]) == []


def test_udp_timeout_with_tcp_answer_is_udp_blocked_not_unreachable() -> None:
    udp = replace(OK, outcome="timeout", mapped_address=None, attempts=7)
    tcp = replace(OK, target="stun:93.184.216.34:3478?transport=tcp", transport="tcp")
    assert ids([udp, tcp]) == ["UDP-BLOCKED"]
    assert ids([udp]) == ["SERVER-UNREACHABLE"]


def test_internal_other_address_from_public_server_is_a_leak() -> None:
    leaky = replace(OK, other_address="10.0.0.5:3479", response_origin="93.184.216.34:3478")
    (finding,) = triage([leaky])
    assert finding.id == "STUN-INTERNAL-ADDRESS-LEAK"
    assert "OTHER-ADDRESS 10.0.0.5:3479" in finding.symptom
    # the same on a server reached at a private address (a LAN, the tests) is expected, not a leak
    lan = replace(leaky, server_address="10.0.0.5:3478", response_source="10.0.0.5:3478")
    assert ids([lan]) == []


def test_alg_rewrite_and_legacy_server() -> None:
    alg = replace(OK, plain_mapped_address="192.168.1.10:50000")
    assert ids([alg]) == ["STUN-ALG-REWRITE"]
    legacy = replace(OK, xor_mapped_address=None, plain_mapped_address="198.51.100.2:50000",
                     mapped_from="MAPPED-ADDRESS", legacy_rfc3489=True, fingerprint=False)
    assert ids([legacy]) == ["STUN-NO-FINGERPRINT", "STUN-RFC3489-ONLY"]


def _answered(attempts: int, answers: int) -> Exchange:
    """The exchange of a transaction with ``attempts`` sends of which ``answers`` were answered."""
    return Exchange(step="binding (udp)", request="Binding request", transport="udp",
                    server="93.184.216.34:3478", attempts=attempts, answers=answers)


def test_loss_rtt_asymmetry_and_errors() -> None:
    lossy = replace(OK, attempts=3, retransmissions=2, exchange=_answered(3, 1))
    assert ids([lossy]) == ["STUN-PACKET-LOSS"]
    (finding,) = triage([lossy])
    assert "only 1 of them answered: 2 lost" in finding.symptom
    # every send answered: the RTO was only shorter than the round trip, nothing was lost
    assert ids([replace(lossy, exchange=_answered(3, 3))]) == []
    # retransmissions whose answers were not counted prove nothing
    assert ids([replace(OK, attempts=3, retransmissions=2)]) == []
    assert ids([replace(OK, rtt_ms=450.0)]) == ["STUN-HIGH-RTT"]
    assert ids([replace(OK, response_source="93.184.216.35:3478")]) == ["STUN-ASYMMETRIC-RESPONSE"]
    assert ids([replace(OK, outcome="error-response", error_code=401)]) == ["STUN-ERROR-RESPONSE"]
    assert ids([replace(OK, outcome="error-response", error_code=300,
                        alternate_server="93.184.216.36:3478")]) == ["STUN-ALTERNATE-SERVER"]


def test_transport_failures_map_to_general_findings() -> None:
    cases = {"dns": "DNS-FAILURE", "refused": "SERVER-REFUSED", "tls:expired-certificate": "TLS-EXPIRED",
             "tls:hostname-mismatch": "TLS-HOSTNAME", "tls:untrusted-certificate": "TLS-UNTRUSTED"}
    for kind, expected in cases.items():
        failed = replace(OK, outcome="transport-error", error_kind=kind, error="boom")
        assert ids([failed]) == [expected], kind
    rejected = replace(OK, outcome="rejected", rejected=["FINGERPRINT does not match"])
    assert ids([rejected]) == ["MALFORMED-REPLY"]


def test_every_redirect_is_reported_with_what_was_done() -> None:
    redirect = replace(OK, outcome="error-response", error_code=300, mapped_address=None,
                       alternate_server="169.254.169.254:3478", alternate_scope="link-local",
                       redirect=Redirect.REFUSED,
                       redirect_detail="link-local address: never a STUN/TURN server")
    (finding,) = triage([redirect])
    assert finding.id == "REDIRECT-REFUSED" and "169.254.169.254:3478 (link-local), not followed" in \
        finding.symptom
    no_follow = replace(redirect, alternate_server="8.8.8.8:3478", alternate_scope="public",
                        redirect=Redirect.NOT_FOLLOWED, redirect_detail="--no-follow")
    (finding,) = triage([no_follow])
    assert finding.id == "STUN-ALTERNATE-SERVER" and "not followed (--no-follow)" in finding.symptom
    followed = replace(OK, alternate_server="8.8.8.8:3478", alternate_scope="public",
                       redirect=Redirect.FOLLOWED, server_address="8.8.8.8:3478",
                       response_source="8.8.8.8:3478")
    assert ids([followed]) == ["STUN-ALTERNATE-SERVER"]
    assert "8.8.8.8:3478 (public), followed once" in triage([followed])[0].symptom


def test_leak_judged_by_reachability_not_python_is_private() -> None:
    """A server at a documentation address (a lab's internet) leaking a private OTHER-ADDRESS is a leak."""
    lab = replace(OK, server_address="198.51.100.10:3478", response_source="198.51.100.10:3478",
                  other_address="10.0.0.5:3479")
    assert ids([lab]) == ["STUN-INTERNAL-ADDRESS-LEAK"]


def test_a_reply_flood_is_stated_and_is_not_called_loss_or_high_rtt() -> None:
    # 134,768 replies for other transactions before the answer (measured against a flooding server): the
    # retransmissions and the 1.4 s RTT are the flood's doing, not the network's.
    flooded = replace(OK, attempts=6, retransmissions=5, rtt_ms=1419.0, rejected_count=134768,
                      rejected=["transaction id 00 does not match the request (from 93.184.216.34:3478)"])
    assert ids([flooded]) == ["REPLY-FLOOD"]
    (finding,) = triage([flooded])
    assert "134768 replies that answer nothing for 6 request(s)" in finding.symptom
    # a couple of stray replies are no flood: loss is still loss
    assert ids([replace(flooded, rejected_count=2, rtt_ms=20.0, exchange=_answered(6, 1))]) == \
        ["STUN-PACKET-LOSS"]


def test_a_malformed_mapped_address_is_not_called_absent() -> None:
    bad = replace(OK, xor_mapped_address=None, mapped_address=None, mapped_from=None,
                  malformed_mapped=["XOR-MAPPED-ADDRESS: unknown address family 0x07"])
    assert ids([bad]) == ["STUN-MALFORMED-MAPPED-ADDRESS"]
    # a malformed XOR form next to a good MAPPED-ADDRESS: malformed, not "RFC 3489 only"
    both = replace(bad, plain_mapped_address="198.51.100.2:50000", mapped_address="198.51.100.2:50000",
                   mapped_from="MAPPED-ADDRESS")
    assert ids([both]) == ["STUN-MALFORMED-MAPPED-ADDRESS"]
    assert ids([replace(OK, xor_mapped_address=None, mapped_address=None, mapped_from=None)]) == [
        "STUN-NO-MAPPED-ADDRESS"]

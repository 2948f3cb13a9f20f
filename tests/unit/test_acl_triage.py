"""``turn-check --acl``: the pure judgement of the ACL probe's answers, the peer list and --acl-peers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rtcdiag.probes.turn_acl import SENSITIVE_PEERS, acl_peers, peer_of
from rtcdiag.probes.turn_result import AclProbe, AclResult, AclVerdict, TransportResult, TurnCheckResult
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Status
from rtcdiag.triage.acl import judge_acl


def result(*probes: AclProbe, stopped: str | None = None, allocated: bool = True) -> TurnCheckResult:
    t = TransportResult(transport="udp", server="192.0.2.10:3478", port=3478, server_name="192.0.2.10",
                        connected=True, allocated=allocated)
    if allocated:
        t.acl = AclResult(list(probes), stopped)
    return TurnCheckResult(target="turn:192.0.2.10:3478?transport=udp", host="192.0.2.10", port=3478,
                           server_ip="192.0.2.10", server_scope="documentation", transports=[t])


def probe(peer: str, method: str, verdict: AclVerdict, code: int | None = None) -> AclProbe:
    return AclProbe(peer=peer, label="test", method=method, verdict=verdict, error_code=code,
                    response=f"{method} response")


def test_each_permitted_peer_is_one_error_on_the_acl_step() -> None:
    judgement = judge_acl([result(
        probe("10.0.0.1", "CreatePermission", AclVerdict.PERMITTED),
        probe("10.0.0.1", "ChannelBind", AclVerdict.PERMITTED),
        probe("127.0.0.1", "CreatePermission", AclVerdict.DENIED, 403),
        probe("::1", "CreatePermission", AclVerdict.FAMILY_MISMATCH, 443),
    )])
    assert [(f.id, f.params["peer"], f.params["method"]) for f in judgement.findings] == [
        ("TURN-ACL-PEER-PERMITTED", "10.0.0.1", "CreatePermission and ChannelBind")]
    (step,) = judgement.steps
    assert (step.check, step.step, step.subject.transport) == ("turn", "acl", "udp")
    assert "1 permitted" in step.detail and "1 refused" in step.detail and "not judged: ::1" in step.detail
    report = build_report("turn-check", judgement)
    (case,) = report.checks
    assert case.name == "udp/acl" and case.status is Status.FAIL


def test_all_refused_passes_and_silence_is_inconclusive() -> None:
    refused = judge_acl([result(probe("127.0.0.1", "CreatePermission", AclVerdict.DENIED, 403))])
    assert refused.findings == [] and build_report("t", refused).checks[0].status is Status.PASS
    silent = judge_acl([result(probe("127.0.0.1", "CreatePermission", AclVerdict.UNDECIDED),
                               stopped="the server did not answer")])
    assert silent.facts.inconclusive
    assert build_report("t", silent).checks[0].status is Status.INCONCLUSIVE


def test_no_allocation_skips_the_step_with_the_reason() -> None:
    judgement = judge_acl([result(allocated=False)])
    assert judgement.findings == []
    assert judgement.steps[0].detail == "no allocation to ask permissions on"
    assert build_report("t", judgement).checks[0].status is Status.SKIP


def test_peer_list_covers_the_issue_and_adds_own_and_operator_addresses() -> None:
    listed = {ip for ip, _ in SENSITIVE_PEERS}
    assert {"127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "169.254.169.254", "fd00:ec2::254", "10.0.0.1",
            "172.16.0.1", "192.168.0.1", "100.64.0.1", "224.0.0.1"} == listed
    peers = acl_peers(["127.0.0.1", "198.51.100.7"], ("10.20.0.0/16", "10.30.0.5-10.30.0.9", "::FFFF:7f00:1"))
    ips = [ip for ip, _ in peers]
    assert ips.count("127.0.0.1") == 1 and ips.count("::ffff:127.0.0.1") == 1
    assert "198.51.100.7" in ips and "10.20.0.1" in ips and "10.30.0.5" in ips
    with pytest.raises(ValueError):
        peer_of("intranet.example")


@pytest.mark.parametrize(("args", "message"), [
    (["--acl-peers", "10.0.0.1"], "--acl-peers only applies with --acl"),
    (["--acl", "--acl-peers", "10.0.0.0/8,not-an-ip"], "'not-an-ip' is not an IP address"),
])
def test_acl_peers_usage_errors_before_any_traffic(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "rtcdiag", "turn-check", "192.0.2.1", *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr


def test_software_version_is_checked_against_the_advisories_as_warnings() -> None:
    from rtcdiag.triage.acl import judge_software_advisories

    old = result()
    old.transports[0].software = "Coturn-4.6.1 'Gorst'"
    judgement = judge_software_advisories([old])
    ids = {f.params["id"].split(" ")[0] for f in judgement.findings}
    assert {"CVE-2026-27624", "GHSA-w4hf-cr3w-6h79"} <= ids and "CVE-2020-26262" not in ids
    assert all(f.severity.value == "warning" and f.step == "advisories" for f in judgement.findings)
    new = result()
    new.transports[0].software = "Coturn-4.17.1 'Gorst'"
    assert judge_software_advisories([new]).findings == []
    silent = judge_software_advisories([result()])
    assert silent.findings == [] and "no SOFTWARE" in silent.steps[0].detail

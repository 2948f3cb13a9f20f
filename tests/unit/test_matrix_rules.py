"""The rules the matrix's last verdicts rest on (issue 19), each on the real call that needs it
(tests/fixtures/matrix/<cell>/: Debian's Chromium through coturn, its ground truth in truth.json), with what
each rule must not say beside it. tests/unit/test_matrix.py checks the three claims over the whole matrix;
this file pins the statements themselves: which finding, about what, folded under which root.

The one derived file: a capture of a real call cut to its middle (its first seconds dropped by this test),
what a capture started mid-call looks like; no local peer starts a capture late on purpose.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

from correlate_calls import report_of
from matrix import FILES, MATRIX, load_truth

FORMS = ("dump", "rtcstats", "getstats", "capture", "coturn-log")


def files(cell: str, *forms: str) -> list[Path]:
    wanted = forms or FORMS
    return [MATRIX / cell / FILES[f] for f in wanted if (MATRIX / cell / FILES[f]).exists()]


def by_id(report: dict[str, Any], fid: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["id"] == fid]


def roots(report: dict[str, Any]) -> set[str]:
    """Ids of the unexplained warnings and errors."""
    return {f["id"] for f in report["findings"] if f["severity"] in ("warning", "error")
            and f["explained_by"] is None}


def under(report: dict[str, Any], fid: str) -> str:
    """The id of the root a finding is folded under (its chain's end)."""
    refs = {f["ref"]: f for f in report["findings"]}
    [finding] = by_id(report, fid)[:1] or [None]
    assert finding is not None, fid
    assert finding["explained_by"] is not None, f"{fid} stands as a root"
    return str(refs[finding["explained_by"]]["id"])


# ---- one file at a time -----------------------------------------------------------------------------------

def test_a_dtls_client_alone_says_both_causes_and_with_the_other_end_the_conflict() -> None:
    """dtls-both-client: both transports say dtlsRole client. The caller's getStats alone cannot tell a role
    conflict from a certificate that does not match: it says both. With the callee's connection in the same
    run (the dump) the same getStats connection is a role conflict."""
    truth = load_truth("dtls-both-client")
    assert truth["page"]["final"]["a"]["dtlsRole"] == truth["page"]["final"]["b"]["dtlsRole"] == "client"
    alone = report_of(files("dtls-both-client", "getstats"))
    assert roots(alone) == {"ANALYZE-DTLS-FAILED-AS-CLIENT"} and alone["exit_code"] == 1
    [either] = by_id(alone, "ANALYZE-DTLS-FAILED-AS-CLIENT")
    assert "both sides DTLS client" in either["title"] and "fingerprint" in either["title"]
    both = report_of(files("dtls-both-client", "getstats", "dump"))
    assert roots(both) == {"ANALYZE-DTLS-ROLE-CONFLICT"}
    conflicts = by_id(both, "ANALYZE-DTLS-ROLE-CONFLICT")
    assert any(f["subject"].endswith("pc getStats") for f in conflicts)  # the getStats end found its peer
    assert not by_id(both, "ANALYZE-DTLS-FAILED-AS-CLIENT") and not by_id(both, "ANALYZE-DTLS-FAILED")


def test_a_dtls_server_whose_handshake_failed_is_the_fingerprint() -> None:
    """dtls-fingerprint: the caller is the DTLS server (it got a ClientHello: the other end was a client),
    so the failure is the certificate check, from the caller's getStats alone."""
    assert load_truth("dtls-fingerprint")["page"]["final"]["a"]["dtlsRole"] == "server"
    report = report_of(files("dtls-fingerprint", "getstats"))
    assert roots(report) == {"ANALYZE-DTLS-FAILED"}


def test_failed_ice_with_nothing_to_say_why_is_undecided() -> None:
    """peer-acl-403: the caller's getStats holds a relay candidate, ICE "failed", no remote candidate and no
    signalling: never a pass, no cause named."""
    report = report_of(files("peer-acl-403", "getstats"))
    assert report["exit_code"] == 3 and not roots(report)
    details = [c["message"] for c in report["checks"] if c["status"] == "inconclusive"]
    assert any("ICE failed" in d and "getStats" in d for d in details), details


def test_a_dump_of_getusermedia_calls_only_is_inconclusive_yet_a_failed_one_is_judged() -> None:
    """Chromium drops closed connections from webrtc-internals: what is left of dtls-fingerprint-hung-up is
    its getUserMedia calls, which worked; gum-overconstrained's dump holds the failure (Chromium spells it
    OverConstrainedError)."""
    dump = json.loads(gzip.decompress((MATRIX / "dtls-fingerprint-hung-up" / FILES["dump"]).read_bytes()))
    assert not dump["PeerConnections"] and dump["getUserMedia"]
    assert report_of(files("dtls-fingerprint-hung-up", "dump"))["exit_code"] == 3
    failed = json.loads(gzip.decompress((MATRIX / "gum-overconstrained" / FILES["dump"]).read_bytes()))
    assert any(e.get("error") == "OverConstrainedError" for e in failed["getUserMedia"])
    assert roots(report_of(files("gum-overconstrained", "dump"))) == {"ANALYZE-GUM-OVERCONSTRAINED"}


# ---- captures ---------------------------------------------------------------------------------------------

def test_refused_tcp_is_said_for_the_server_only() -> None:
    """dead-port-tcp: the browser's SYNs to 203.0.113.1:3999 answered by RST. The same capture holds the
    harness's own refused connections to localhost:80 (every cell's does): never named, never a cause."""
    report = report_of(files("dead-port-tcp", "capture"))
    assert report["exit_code"] == 1 and roots(report) == {"CAPTURE-TCP-REFUSED"}
    [refused] = by_id(report, "CAPTURE-TCP-REFUSED")
    assert refused["params"]["servers"] == "203.0.113.1:3999" and refused["params"]["count"] == "2"
    for cell in ("gum-not-found", "glare", "no-servers-relay"):  # only the localhost:80 refusals in them
        assert report_of(files(cell, "capture"))["exit_code"] == 3, cell


def test_ice_up_without_one_dtls_record_is_a_finding() -> None:
    """dtls-both-server: ICE answered both ways for 13 s, both ends waited for a ClientHello."""
    report = report_of(files("dtls-both-server", "capture"))
    assert roots(report) == {"CAPTURE-DTLS-NOT-STARTED"}
    [finding] = by_id(report, "CAPTURE-DTLS-NOT-STARTED")
    assert float(finding["params"]["seconds"]) >= 10


def _cut(source: Path, target: Path, after_s: float) -> None:
    """A classic pcap without its packets of the first ``after_s`` seconds."""
    data = gzip.decompress(source.read_bytes())
    header, rest = data[:24], data[24:]
    magic = struct.unpack("<I", header[:4])[0]
    assert magic == 0xA1B2C3D4, hex(magic)  # tcpdump's microsecond pcap, little-endian
    out, pos, first = [header], 0, None
    while pos + 16 <= len(rest):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", rest, pos)
        t = sec + usec / 1e6
        first = t if first is None else first
        if t - first >= after_s:
            out.append(rest[pos:pos + 16 + caplen])
        pos += 16 + caplen
    target.write_bytes(b"".join(out))


def test_a_capture_started_mid_call_does_not_claim_dtls_never_started(tmp_path: Path) -> None:
    """The same call's capture without its first 2 s (ICE's paced checks and nothing else): only consent
    checks remain, as in a capture started in the middle of an idle data-channel call. No DTLS record is
    then no evidence that DTLS never started."""
    cut = tmp_path / "mid-call.pcap"
    _cut(MATRIX / "dtls-both-server" / FILES["capture"], cut, 2.0)
    report = report_of([cut])
    assert not by_id(report, "CAPTURE-DTLS-NOT-STARTED") and report["exit_code"] == 0


def test_dtls13_handshake_then_nothing_is_a_finding_or_undecided_never_a_pass() -> None:
    """dtls-fingerprint: ICE goes on 2 s after the handshake while nothing goes over DTLS (one SRTP packet
    from the client, none back): DTLS did not complete. dtls-fingerprint-hung-up: the call stopped at once;
    a refusal and a hang-up look alike: undecided (exit 3), never a pass."""
    failed = report_of(files("dtls-fingerprint", "capture"))
    assert roots(failed) == {"CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE"}
    [finding] = by_id(failed, "CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE")
    assert "SRTP one way only" in finding["symptom"]
    stopped = report_of(files("dtls-fingerprint-hung-up", "capture"))
    assert stopped["exit_code"] == 3 and not roots(stopped)
    assert by_id(stopped, "CAPTURE-DTLS-UNDECIDED")


def test_a_callee_that_vanished_is_consent_lost_and_one_that_hung_up_is_not() -> None:
    """callee-vanishes: the callee's relay path dropped mid-call (no close): consent lost, from every form.
    event-callee-close-stays: the callee closed (its TURN allocation deleted, an encrypted close_notify),
    the caller's checks went unanswered until it failed: a hang-up, said as such, exit 0."""
    vanished = report_of(files("callee-vanishes", "capture"))
    assert roots(vanished) == {"CAPTURE-ICE-CONSENT-LOST"} and not by_id(vanished, "CAPTURE-ICE-PEER-HUNG-UP")
    truth = load_truth("event-callee-close-stays")["page"]
    assert truth["lost"] == "failed"  # the caller's own connection did fail after the hang-up
    hung_up = report_of(files("event-callee-close-stays", "capture"))
    assert hung_up["exit_code"] == 0 and not by_id(hung_up, "CAPTURE-ICE-CONSENT-LOST")
    [said] = by_id(hung_up, "CAPTURE-ICE-PEER-HUNG-UP")
    assert int(said["params"]["count"]) > 50  # checks went unanswered for seconds: timing alone is not it


# ---- every file of a call at once -------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "root", "folded"), [
    ("quota-486", "ANALYZE-TURN-486", {"CAPTURE-TURN-486", "COTURN-LOG-QUOTA"}),
    ("capacity-508", "ANALYZE-TURN-508", {"CAPTURE-TURN-508", "COTURN-LOG-QUOTA"}),
    ("peer-acl-403", "ANALYZE-RELAY-REFUSED", {"CAPTURE-TURN-403-PEER", "COTURN-LOG-403"}),
    ("auth-wrong-password", "CORRELATE-TURN-CREDENTIALS", {"ANALYZE-TURN-401", "CAPTURE-TURN-401-LOOP",
                                                           "COTURN-LOG-401"}),
    ("dead-port-tcp", "CORRELATE-TURN-UNREACHABLE", {"ANALYZE-TURN-UNREACHABLE", "CAPTURE-TCP-REFUSED"}),
    ("turns-self-signed", "CORRELATE-TURNS-TLS-REFUSED", {"CAPTURE-TLS-CERTIFICATE-REFUSED",
                                                          "COTURN-LOG-TLS-FAILED"}),
    ("dtls-both-client", "ANALYZE-DTLS-ROLE-CONFLICT", {"CAPTURE-DTLS-ROLE-CONFLICT"}),
    ("dtls-fingerprint", "ANALYZE-DTLS-FAILED", {"CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE"}),
    ("dtls-both-server", "ANALYZE-DTLS-STUCK", {"CAPTURE-DTLS-NOT-STARTED"}),
    ("callee-vanishes", "ANALYZE-CONNECTION-LOST", {"CAPTURE-ICE-CONSENT-LOST"}),
])
def test_the_same_failure_seen_by_every_file_is_one_statement(cell: str, root: str, folded: set[str]) -> None:
    report = report_of(files(cell))
    assert roots(report) == {root}, roots(report)
    for fid in folded:
        assert under(report, fid) == root, fid


def test_the_certificate_root_quotes_what_tshark_sees() -> None:
    """turns-self-signed: the ServerHello packets the root quotes are tshark's ServerHellos on the TLS port,
    and the browser's alert is certificate_unknown."""
    report = report_of(files("turns-self-signed"))
    [root] = by_id(report, "CORRELATE-TURNS-TLS-REFUSED")
    assert "certificate" in root["title"] and "certificate_unknown" in root["symptom"]
    quoted = {int(line.split("certificate (packet ", 1)[1].split(")", 1)[0]) for line in root["evidence"]
              if "certificate (packet " in line}
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    pcap = gzip.decompress((MATRIX / "turns-self-signed" / FILES["capture"]).read_bytes())
    proc = subprocess.run(["tshark", "-r", "-", "-d", "tcp.port==5349,tls", "-Y", "tls.handshake.type == 2",
                           "-T", "fields", "-e", "frame.number"], input=pcap, capture_output=True,
                          timeout=60, check=False)
    assert quoted and quoted == {int(n) for n in proc.stdout.split()}


def test_a_log_of_another_server_is_not_folded_into_the_call() -> None:
    """The refusals of a coturn log tied to nothing fold under the call's credentials root only when that
    log's server listens at the call's TURN server: another server's log (tests/fixtures/correlate, on
    127.0.0.1) keeps its own root."""
    other = MATRIX.parent / "correlate" / "wrong-password.turnserver.log.gz"
    report = report_of([*files("auth-wrong-password", "dump", "capture"), other])
    assert {"CORRELATE-TURN-CREDENTIALS", "COTURN-LOG-401"} <= roots(report)


def test_a_blank_file_beside_one_that_decides_changes_nothing() -> None:
    """stun-only: coturn allocated nothing (Chromium never asked it for a relay): the log alone is
    inconclusive, beside the dump it changes nothing (exit 0); two blank files are still inconclusive."""
    assert report_of(files("stun-only", "coturn-log"))["exit_code"] == 3
    assert report_of(files("stun-only", "dump", "coturn-log"))["exit_code"] == 0
    blank = report_of([*files("stun-only", "coturn-log"), *files("gum-not-found", "capture")])
    assert blank["exit_code"] == 3

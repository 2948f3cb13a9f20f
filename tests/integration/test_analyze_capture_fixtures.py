"""Committed real captures of Chromium calls that are long, or whose shape a live run makes only now and then.

Made by tests/integration/test_analyze_capture_browser.py and test_analyze_capture_calls.py
(``RTCDIAG_BROWSER_ALL=1 RTCDIAG_SAVE_CAPTURES=1``): real headless Chromium calls through a real coturn on
loopback (or on this machine's own addresses), captured with tcpdump, the page's own ground truth beside
(``NAME.json``) and coturn's session lines of the same run (``NAME.log.gz``) —
``killed``: coturn SIGKILLed mid-call; ``callee-hangs-up``: the callee closes mid-call, the caller's app
does not (~47 s each; a hang-up, its allocation deleted: never consent lost); ``callee-hangs-up-17s``: the
same, the capture stopped 17 s later; ``allocation-deleted``: coturn's admin CLI
cancels the callee's session mid-call; ``dualstack``: a host call whose ClientHello went over IPv4 and
ServerHello over IPv6 (about one call in five makes that shape); ``datachannel``: a DTLS 1.3 call without
SRTP; ``turns-self-signed``: Chromium refusing coturn's self-signed certificate; ``hangup``: a call hung up
while another goes on 18 s; and the calls the default run no longer makes live (it samples one: the healthy
relay call) — ``tls13-refused``: Chromium refusing a TLS 1.3 server's certificate (openssl s_server);
``turns-accepted``: a healthy ``turns:`` call; ``denied``: coturn's peer ACL refusing both clients (403);
``restart``: an ICE restart that keeps the call; ``sendonly`` and ``notrack``: RTP one way by negotiation or
by a callee without a track (healthy); ``fingerprint``: the answer's DTLS fingerprint changed;
``roles``: both sides DTLS client. CI judges these captures
with the same assertions as the live tests. No credential is in them: TURN carries only the user name and a
MESSAGE-INTEGRITY, never the password.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from test_analyze_capture_browser import (
    PASSWORD,
    check_callee_hung_up,
    check_fingerprint_mismatch,
    check_no_track,
    check_role_conflict,
    check_sendonly,
    check_server_killed,
)
from test_analyze_capture_calls import PASSWORD as CALLS_PASSWORD
from test_analyze_capture_calls import (
    check_allocation_deleted,
    check_data_channel_call,
    check_dual_stack_call,
    check_hang_up,
    check_hang_up_caller_stays,
    check_ice_restart,
    check_peer_acl,
    check_split_handshake,
    check_tls13_refused,
    check_tls_refused,
    check_turns_accepted,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "capture"


def _meta(name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return meta


def test_committed_capture_of_coturn_killed_mid_call_names_the_server() -> None:
    meta = _meta("killed")
    check_server_killed(FIXTURES / "killed.pcap.gz", meta["server_port"], meta["page"])


def test_committed_capture_of_the_callee_hanging_up_is_a_hang_up() -> None:
    check_callee_hung_up(FIXTURES / "callee-hangs-up.pcap.gz", _meta("callee-hangs-up")["page"])


def test_committed_dual_stack_call_with_its_handshake_over_two_families_passes() -> None:
    meta = _meta("dualstack")
    check_dual_stack_call(FIXTURES / "dualstack.pcap.gz", meta["page"])
    check_split_handshake(FIXTURES / "dualstack.pcap.gz", meta["page"])


def test_committed_data_channel_call_over_dtls13_passes() -> None:
    check_data_channel_call(FIXTURES / "datachannel.pcap.gz", _meta("datachannel")["page"])


def test_committed_self_signed_turns_capture_and_log() -> None:
    check_tls_refused(FIXTURES / "turns-self-signed.pcap.gz", FIXTURES / "turns-self-signed.log.gz",
                      _meta("turns-self-signed")["page"])


def test_committed_capture_stopped_17_s_after_the_callee_hung_up_is_a_hang_up() -> None:
    check_hang_up_caller_stays(FIXTURES / "callee-hangs-up-17s.pcap.gz", _meta("callee-hangs-up-17s")["page"])


def test_committed_capture_of_a_hang_up_while_another_call_goes_on_passes() -> None:
    check_hang_up(FIXTURES / "hangup.pcap.gz", _meta("hangup")["page"])


def test_committed_capture_of_an_allocation_deleted_by_coturn() -> None:
    check_allocation_deleted(FIXTURES / "allocation-deleted.pcap.gz", _meta("allocation-deleted")["page"],
                             FIXTURES / "allocation-deleted.log.gz")


def test_committed_capture_of_a_tls13_server_refused_is_the_clients_encrypted_alert() -> None:
    check_tls13_refused(FIXTURES / "tls13-refused.pcap.gz", _meta("tls13-refused")["page"])


def test_committed_turns_call_with_an_accepted_certificate_passes(tmp_path: Path) -> None:
    check_turns_accepted(FIXTURES / "turns-accepted.pcap.gz", _meta("turns-accepted")["page"], tmp_path)


def test_committed_capture_of_the_peer_acl_refusing_both_clients() -> None:
    meta = _meta("denied")
    check_peer_acl(FIXTURES / "denied.pcap.gz", meta["page"], FIXTURES / "denied.log.gz", meta["server_port"])


def test_committed_capture_of_an_ice_restart_keeps_the_call() -> None:
    check_ice_restart(FIXTURES / "restart.pcap.gz", _meta("restart")["page"])


def test_committed_sendonly_call_is_not_one_way_media() -> None:
    check_sendonly(FIXTURES / "sendonly.pcap.gz", _meta("sendonly")["page"])


def test_committed_call_without_the_callees_track_is_not_one_way_media() -> None:
    check_no_track(FIXTURES / "notrack.pcap.gz", _meta("notrack")["page"])


def test_committed_fingerprint_mismatch_is_nothing_after_the_handshake() -> None:
    check_fingerprint_mismatch(FIXTURES / "fingerprint.pcap.gz", _meta("fingerprint")["page"])


def test_committed_dtls_role_conflict() -> None:
    check_role_conflict(FIXTURES / "roles.pcap.gz", _meta("roles")["page"])


def test_committed_captures_hold_no_password() -> None:
    for path in FIXTURES.iterdir():
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert PASSWORD.encode() not in data and CALLS_PASSWORD.encode() not in data, path.name
        assert b"rtcdiag-cli" not in data, path.name  # the admin CLI password of allocation-deleted

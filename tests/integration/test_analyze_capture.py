"""`rtcdiag analyze` on real packet captures and real coturn logs (issue 13).

Every capture is made here: tcpdump on loopback (started and stopped by PID, filtered to this test's coturn
ports and relay range) while real clients run real sessions through a real coturn: ``rtcdiag turn-check``
(healthy, wrong password, denied peer, quota), a minimal TURN client made of rtcdiag's codec for what
turn-check never does on purpose (it always gets data back and always refreshes), openssl's DTLS client and
server, aioice agents. The coturn logs are those of the same runs. The packet numbers given as evidence are
checked against tshark's own dissection of the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.protocol import (
    Address,
    AttrType,
    Message,
    MessageClass,
    Method,
    RequestedTransport,
    long_term_key,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wire_capture import HAVE_TCPDUMP, analyze, relay_range, tcpdump, turn_check

pytestmark = pytest.mark.skipif(not HAVE_TCPDUMP, reason="tcpdump is not installed (apt-get install tcpdump)")
HAVE_TSHARK = shutil.which("tshark") is not None
Factory = Callable[[CoturnOptions], RunningCoturn]
PASSWORD = "alice-" + secrets.token_hex(8)


@dataclass
class Run:
    capture: Path
    log: Path
    coturn: RunningCoturn
    turn_check: dict[str, Any]


def _wait_log(server: RunningCoturn, text: str, count: int = 1, timeout: float = 6.0) -> None:
    """coturn writes a UDP session's usage and close lines on its next timer tick after the release."""
    deadline = time.monotonic() + timeout
    while server.log_path.read_text(errors="replace").count(text) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def _scenario(factory: Factory, tmp: Path, name: str, args: list[str], password: str, closes: int,
              one_relay_port: bool = False, **options: Any) -> Run:
    lo, hi = relay_range()
    hi = lo if one_relay_port else hi
    server = factory(CoturnOptions(**{"users": {"alice": PASSWORD}, "self_signed": True, "verbose": True,
                                      "min_relay_port": lo, "max_relay_port": hi, **options}))
    assert server.tls_port is not None and server.ca_cert is not None
    capture = tmp / f"{name}.pcap"
    with tcpdump(capture, [server.port, server.tls_port], [(lo, hi)]):
        proc = turn_check([f"127.0.0.1:{server.port}", "--tls-port", str(server.tls_port), "--ca",
                           str(server.ca_cert), "-u", "alice", *args], {"RTCDIAG_TURN_PASSWORD": password})
    _wait_log(server, "closed (2nd stage)", closes)
    log = tmp / f"{name}.log"
    shutil.copy(server.log_path, log)
    return Run(capture, log, server, json.loads(proc.stdout))


@pytest.fixture(scope="module")
def runs(coturn_factory: Factory, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("wire")
    return {
        "healthy": _scenario(coturn_factory, tmp, "healthy", [], PASSWORD, 3),
        "wrong-password": _scenario(coturn_factory, tmp, "wrong-password", ["--transport", "udp,tcp"],
                                    "not-the-password", 1),
        "denied": _scenario(coturn_factory, tmp, "denied", ["--transport", "udp"], PASSWORD, 1,
                            denied_peer_ips=("127.0.0.1",)),
        "quota": _scenario(coturn_factory, tmp, "quota", ["--transport", "udp,tcp"], PASSWORD, 1,
                           user_quota=1),
        "quiet": _scenario(coturn_factory, tmp, "quiet", ["--transport", "udp"], PASSWORD, 0, verbose=False),
        "capacity": _scenario(coturn_factory, tmp, "capacity", ["--transport", "udp,tcp"], PASSWORD, 1,
                              one_relay_port=True),
    }


def report_of(*files: Path, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    proc = analyze([*(str(f) for f in files), "--json", *extra])
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def findings(report: dict[str, Any], fid: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["id"] == fid]


def table(report: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(t for t in report["tables"] if t["title"].endswith(suffix))


def tshark_frames(capture: Path, display_filter: str, stun_tcp_port: int | None = None) -> list[int]:
    """Frame numbers tshark's own dissectors select (STUN over TCP on ``stun_tcp_port`` decoded as such)."""
    decode = ["-d", f"tcp.port=={stun_tcp_port},stun", "-d", f"udp.port=={stun_tcp_port},stun"] \
        if stun_tcp_port else []
    proc = subprocess.run(["tshark", "-r", str(capture), *decode, "-Y", display_filter, "-T", "fields", "-e",
                           "frame.number"], capture_output=True, text=True, timeout=60)
    return [int(n) for n in proc.stdout.split()]


# tshark splits ERROR-CODE into its class (hundreds) and number (RFC 8489 §14.8)
_STUN_401 = "stun.att.error.class == 4 && stun.att.error == 1"
_STUN_486 = "stun.att.error.class == 4 && stun.att.error == 86"


def evidence_packets(finding: dict[str, Any]) -> list[int]:
    text = " ".join(finding["evidence"])
    numbers = text.split("packets ", 1)[1].split(" (first", 1)[0]
    return [int(n) for n in numbers.replace(", ...", "").split(", ")]


def test_healthy_capture_passes_with_every_allocation_and_its_lifecycle(runs: dict[str, Run]) -> None:
    run = runs["healthy"]
    assert run.turn_check["status"] == "pass"
    code, report = report_of(run.capture)
    assert code == 0, report["findings"]
    assert not [f for f in report["findings"] if f["severity"] in ("error", "warning")]
    allocations = table(report, "TURN allocations")["rows"]
    # turn-check allocates once per transport (its echo peer is a plain UDP socket); TLS is not readable
    # (the transports run concurrently: the capture lists the allocations in the order they happened)
    relayed = sorted(row[1] for row in allocations)
    legs = [leg for s in run.turn_check["results"]["turn"] for leg in s["transports"]]
    assert relayed == sorted(leg["relayed_address"] for leg in legs if leg["transport"] in ("udp", "tcp"))
    deleted = [row for row in allocations if row[9] != "-"]
    assert len(deleted) == 2  # released with Refresh LIFETIME 0
    assert all(row[8] == "10 / 10" for row in allocations)  # 5 Send + 5 ChannelData each way
    assert all(row[3] != "-" and row[4] == "600" for row in allocations)
    flows = table(report, "flows (--ladder N shows one)")["rows"]
    assert any(row[1] == "tcp" and row[6] == "TURN client-server" for row in flows)  # reassembled TCP
    assert any(row[6] == "TLS" for row in flows)
    methods = {row[1] for row in table(report, "answered STUN transactions")["rows"]}
    assert {"Allocate", "CreatePermission", "ChannelBind", "Refresh"} <= methods


def test_ladder_shows_the_allocation_sequence(runs: dict[str, Run]) -> None:
    run = runs["healthy"]
    proc = analyze([str(run.capture), "--ladder", "1"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("flow 1 of ") and "TURN client-server" in lines[0]
    order = [next(i for i, line in enumerate(lines) if text in line) for text in (
        "Allocate request ", "Allocate error 401", "Allocate request (authenticated)",
        "Allocate success relayed",
        "Refresh request (authenticated) LIFETIME 0", "Refresh success LIFETIME 0")]
    assert order == sorted(order)
    assert "|<-" in lines[order[1]] and "->|" in lines[order[0]]  # direction of each arrow
    bad = analyze([str(run.capture), "--ladder", "99999"])
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_wrong_password_is_a_401_loop_with_the_packets_tshark_sees(runs: dict[str, Run]) -> None:
    run = runs["wrong-password"]
    code, report = report_of(run.capture)
    assert code == 1
    loops = findings(report, "CAPTURE-TURN-401-LOOP")
    assert {f["host"] for f in loops} == {"127.0.0.1"} and len(loops) == 2  # udp and tcp
    assert "user alice" in loops[0]["cause"]
    if HAVE_TSHARK:
        port = run.coturn.port
        errors = tshark_frames(run.capture, f"{_STUN_401} && udp.port == {port}", port)
        numbers = [n for f in loops for n in evidence_packets(f)]
        udp_loop = next(f for f in loops if " udp " in f["symptom"])
        # tshark sees two 401s on UDP (challenge, then refusal); ours is the second: the refusal
        assert evidence_packets(udp_loop) == errors[1:], (errors, numbers)


def test_denied_peer_is_a_403_on_create_permission(runs: dict[str, Run]) -> None:
    code, report = report_of(runs["denied"].capture)
    assert code == 1
    denied = findings(report, "CAPTURE-TURN-403-PEER")
    assert denied and all(f["title"].endswith("(403 on CreatePermission)") for f in denied)
    assert all("127.0.0.1:" in f["title"] for f in denied)
    assert not findings(report, "CAPTURE-TURN-NO-DATA-BACK")  # the 403 explains it: said once


def test_quota_is_a_486(runs: dict[str, Run]) -> None:
    code, report = report_of(runs["quota"].capture)
    assert code == 1
    quota = findings(report, "CAPTURE-TURN-486")
    assert len(quota) == 1 and "Allocation Quota Reached" in quota[0]["symptom"]
    if HAVE_TSHARK:
        run = runs["quota"]
        assert evidence_packets(quota[0]) == tshark_frames(run.capture, _STUN_486, run.coturn.port)


def test_one_relay_port_is_a_508(runs: dict[str, Run]) -> None:
    code, report = report_of(runs["capacity"].capture)
    assert code == 1
    capacity = findings(report, "CAPTURE-TURN-508")
    assert len(capacity) == 1 and "Cannot create socket" in capacity[0]["symptom"]
    code, report = report_of(runs["capacity"].log)
    assert "508 Cannot create socket" in findings(report, "COTURN-LOG-QUOTA")[0]["title"]


def test_coturn_logs_of_the_same_runs(runs: dict[str, Run]) -> None:
    code, report = report_of(runs["healthy"].log)
    assert code == 0, report["findings"]
    sessions = table(report, "sessions")["rows"]
    assert len(sessions) == 3 and {row[1] for row in sessions} == {"alice"}
    assert all(row[2] == "rtcdiag.test" and row[3].startswith("127.0.0.1:") for row in sessions)
    assert any(row[6] == "TLSv1.2" for row in sessions)  # the turns: session
    assert all(int(row[10].split("/")[0]) > 0 for row in sessions)  # usage rb > 0
    usage = table(report, "relay usage per user")["rows"]
    assert usage[0][0] == "alice" and usage[0][1] == "3" and int(usage[0][3]) > 0  # peer-side bytes relayed
    code, report = report_of(runs["wrong-password"].log)
    assert code == 1
    refused = findings(report, "COTURN-LOG-401")
    assert len(refused) == 1
    assert refused[0]["title"].startswith("coturn refused the credentials of user alice")
    assert "2 time(s)" in refused[0]["title"]  # udp and tcp
    code, report = report_of(runs["denied"].log)
    assert findings(report, "COTURN-LOG-403")[0]["title"] == "coturn refused peer 127.0.0.1 (403)"
    code, report = report_of(runs["quota"].log)
    assert "486 Allocation Quota Reached" in findings(report, "COTURN-LOG-QUOTA")[0]["title"]


def test_a_coturn_log_without_verbose_is_inconclusive(runs: dict[str, Run]) -> None:
    """coturn writes no session line without `verbose`: nothing to judge is exit 3, not a pass."""
    code, report = report_of(runs["quiet"].log)
    assert code == 3
    assert report["checks"][0]["status"] == "inconclusive" and "verbose" in report["checks"][0]["message"]
    code, report = report_of(runs["quiet"].capture)  # the capture of the same run still says it all
    assert code == 0 and table(report, "TURN allocations")["rows"]


def test_capture_and_log_together_and_pcapng(runs: dict[str, Run], tmp_path: Path) -> None:
    run = runs["wrong-password"]
    code, report = report_of(run.capture, run.log)
    assert code == 1
    assert findings(report, "CAPTURE-TURN-401-LOOP") and findings(report, "COTURN-LOG-401")
    if shutil.which("editcap"):
        ng = tmp_path / "wrong.pcapng"
        subprocess.run(["editcap", "-F", "pcapng", str(run.capture), str(ng)], check=True, timeout=60)
        code_ng, report_ng = report_of(ng)
        assert code_ng == 1
        assert [evidence_packets(f) for f in findings(report_ng, "CAPTURE-TURN-401-LOOP")] == \
            [evidence_packets(f) for f in findings(report, "CAPTURE-TURN-401-LOOP")]


def test_truncated_capture_is_analyzed_up_to_the_cut(runs: dict[str, Run], tmp_path: Path) -> None:
    data = runs["wrong-password"].capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])  # inside the last packet
    code, report = report_of(cut)
    assert code == 1 and findings(report, "CAPTURE-TURN-401-LOOP")
    assert any("cut short" in note for note in report["notes"])


def test_a_file_that_is_neither_is_one_line_and_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02not evidence\x1b[31m")
    proc = analyze([str(junk)])
    assert proc.returncode == 2 and not proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and "packet capture" in proc.stderr
    sdp = tmp_path / "offer.sdp"
    sdp.write_text("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
    capture = tmp_path / "empty.pcap"
    capture.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))  # header only
    # A capture and a dump (here an SDP) are read in one run (issue 19), and a bad file among them is still
    # one line and exit 2, before any report
    mixed = analyze([str(capture), str(sdp), str(junk)])
    assert mixed.returncode == 2 and not mixed.stdout and len(mixed.stderr.strip().splitlines()) == 1
    assert "junk.bin" in mixed.stderr
    together = analyze([str(capture), str(sdp), "--json"])
    # the capture holds nothing to judge (said, its step inconclusive); beside a file that holds something
    # (the SDP, judged by its own rules) it decides nothing and contradicts nothing: the SDP's verdict
    assert together.returncode == 0, together.stderr
    report = json.loads(together.stdout)
    assert {"CAPTURE-NO-WEBRTC"} <= {f["id"] for f in report["findings"]}
    assert any(c["status"] == "inconclusive" and c["suite"] == str(capture) for c in report["checks"])
    empty = analyze([str(capture), "--json"])  # a capture with no packet: nothing to judge
    assert empty.returncode == 3 and json.loads(empty.stdout)["findings"][0]["id"] == "CAPTURE-NO-WEBRTC"


def test_server_that_never_answers(tmp_path: Path) -> None:
    """turn-check against a bound UDP socket that never answers: its retransmitted requests, unanswered."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    capture = tmp_path / "silent-server.pcap"
    try:
        with tcpdump(capture, [port]):
            turn_check([f"127.0.0.1:{port}", "--transport", "udp", "-u", "alice", "--timeout", "3"],
                       {"RTCDIAG_TURN_PASSWORD": "x"})
    finally:
        silent.close()
    code, report = report_of(capture)
    assert code == 1, report["findings"]
    unanswered = findings(report, "CAPTURE-TURN-UNANSWERED")
    assert len(unanswered) == 1
    assert unanswered[0]["title"] == f"STUN/TURN requests to 127.0.0.1:{port} were never answered"


# ---- what turn-check never does: a minimal TURN client of rtcdiag's codec against the real coturn --------

class MiniTurn:
    """Allocate (with the 401 challenge), CreatePermission, Send, Refresh: rtcdiag's codec over a socket."""

    def __init__(self, server: tuple[str, int], user: str, password: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2.0)
        self.server, self.user, self.password = server, user, password
        self.key = b""
        self.nonce = b""
        self.realm = ""

    def request(self, msg: Message, renew_nonce: bool = True) -> Message:
        if self.key:
            msg.add(AttrType.USERNAME, self.user).add(AttrType.REALM, self.realm).add(AttrType.NONCE,
                                                                                      self.nonce.decode())
        self.sock.sendto(msg.encode(integrity_key=self.key or None, fingerprint=True), self.server)
        while True:
            reply = Message.decode(self.sock.recv(4096))
            if reply.transaction_id != msg.transaction_id:
                continue
            if reply.error_code == 438 and self.key and renew_nonce:  # stale nonce: retry with the new one
                self.nonce = reply.get_raw(AttrType.NONCE) or b""
                retry = Message(msg.method, msg.msg_class)
                retry.attributes = [a for a in msg.attributes if a.type in (
                    AttrType.REQUESTED_TRANSPORT, AttrType.LIFETIME, AttrType.XOR_PEER_ADDRESS)]
                return self.request(retry)
            return reply

    def allocate(self) -> Message:
        challenge = self.request(Message(Method.ALLOCATE, MessageClass.REQUEST).add(
            AttrType.REQUESTED_TRANSPORT, RequestedTransport(17)))
        assert challenge.error_code == 401
        self.realm = str(challenge.get(AttrType.REALM))
        self.nonce = challenge.get_raw(AttrType.NONCE) or b""
        self.key = long_term_key(self.user, self.realm, self.password)
        return self.request(Message(Method.ALLOCATE, MessageClass.REQUEST).add(
            AttrType.REQUESTED_TRANSPORT, RequestedTransport(17)))

    def permit_and_send(self, peer: tuple[str, int], count: int) -> None:
        reply = self.request(Message(Method.CREATE_PERMISSION, MessageClass.REQUEST).add(
            AttrType.XOR_PEER_ADDRESS, Address.of(*peer)))
        assert reply.msg_class == MessageClass.SUCCESS
        for i in range(count):
            send = Message(Method.SEND, MessageClass.INDICATION)
            send.add(AttrType.XOR_PEER_ADDRESS, Address.of(*peer))
            send.add(AttrType.DATA, b"hello %d" % i)
            self.sock.sendto(send.encode(), self.server)


def test_no_data_back_and_refresh_missing(coturn_factory: Factory, tmp_path: Path) -> None:
    """A client that allocates (lifetime 3 s: max-allocate-lifetime), sends to a peer that never answers and
    never refreshes; a late Refresh after the expiry is answered 437 by coturn."""
    lo, hi = relay_range()
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True, min_relay_port=lo,
                                          max_relay_port=hi, extra_lines=("max-allocate-lifetime=3",)))
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the peer: receives, never answers
    silent.bind(("127.0.0.1", 0))
    peer = silent.getsockname()
    capture = tmp_path / "silent.pcap"
    client = MiniTurn(("127.0.0.1", server.port), "alice", PASSWORD)
    try:
        with tcpdump(capture, [server.port, peer[1]], [(lo, hi)]):
            reply = client.allocate()
            assert reply.msg_class == MessageClass.SUCCESS and reply.get(AttrType.LIFETIME) == 3
            client.permit_and_send(peer, 4)
            silent.settimeout(2.0)
            assert silent.recv(100).startswith(b"hello")  # the relay delivered: the peer just never answers
            started = time.monotonic()
            while time.monotonic() - started < 4.5:  # the 3 s lifetime runs out without a Refresh
                time.sleep(0.5)
            late = client.request(Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, 600))
            assert late.error_code == 437  # coturn: the allocation is gone
    finally:
        silent.close()
        client.sock.close()
    code, report = report_of(capture)
    assert code == 1, report["findings"]
    no_data = findings(report, "CAPTURE-TURN-NO-DATA-BACK")
    assert len(no_data) == 1 and "sent 4 Send" in no_data[0]["symptom"]
    expired = findings(report, "CAPTURE-TURN-REFRESH-MISSING")
    assert len(expired) == 1
    assert "(3 s lifetime)" in expired[0]["symptom"] and "never" in expired[0]["symptom"]


def test_stale_nonce_loop(coturn_factory: Factory, tmp_path: Path) -> None:
    """coturn with 1 s nonces (`stale-nonce=1`) and a client that keeps its old NONCE (a real client bug):
    every authenticated request is answered 438."""
    lo, hi = relay_range()
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True, min_relay_port=lo,
                                          max_relay_port=hi, extra_lines=("stale-nonce=1",)))
    client = MiniTurn(("127.0.0.1", server.port), "alice", PASSWORD)
    capture = tmp_path / "stale.pcap"
    try:
        with tcpdump(capture, [server.port], [(lo, hi)]):
            assert client.allocate().msg_class == MessageClass.SUCCESS
            time.sleep(2.2)  # the nonce goes stale
            codes = [client.request(Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, 600),
                                    renew_nonce=False).error_code for _ in range(3)]
    finally:
        client.sock.close()
    assert codes == [438, 438, 438]
    code, report = report_of(capture)
    assert code == 1
    stale = findings(report, "CAPTURE-TURN-438-LOOP")
    assert len(stale) == 1 and "3 requests were answered 438" in stale[0]["symptom"]


# ---- DTLS: openssl's own client and server ------------------------------------------------------------

def _openssl_cert(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "k.pem", tmp / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=dtls", "-days", "1"],
                   check=True, capture_output=True, timeout=30)
    return key, cert


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_dtls_clienthello_unanswered_and_handshake_alert(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    silent_port = silent.getsockname()[1]
    key, cert = _openssl_cert(tmp_path)
    server_port = _free_udp_port()
    capture = tmp_path / "dtls.pcap"
    server = subprocess.Popen(["openssl", "s_server", "-dtls1_2", "-accept", str(server_port), "-key",
                               str(key), "-cert", str(cert), "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256",
                               "-quiet"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with tcpdump(capture, [silent_port, server_port]):
            time.sleep(0.3)  # s_server binds after its start-up
            # no common cipher: the server answers the ClientHello with a handshake_failure alert
            subprocess.run(["openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{server_port}",
                            "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=20)
            # nobody answers: the client retransmits its ClientHello (after 1 s)
            with pytest.raises(subprocess.TimeoutExpired):
                subprocess.run(["openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{silent_port}"],
                               stdin=subprocess.PIPE, capture_output=True, timeout=2.5)
    finally:
        server.kill()
        server.wait()
        silent.close()
    code, report = report_of(capture)
    assert code == 1, report["findings"]
    unanswered = findings(report, "CAPTURE-DTLS-NO-SERVERHELLO")
    assert len(unanswered) == 1 and f":{silent_port}" in unanswered[0]["symptom"]
    alerts = findings(report, "CAPTURE-DTLS-ALERT")
    assert len(alerts) == 1 and "handshake_failure" in alerts[0]["title"] and "fatal" in alerts[0]["title"]
    if HAVE_TSHARK:
        assert evidence_packets(alerts[0]) == tshark_frames(capture, "dtls.alert_message")


def test_dtls_role_conflict_and_one_way_media(tmp_path: Path) -> None:
    """HAND-WRITTEN PACKETS, edge shapes only: the role conflict itself is proven from a real Chromium call
    (test_analyze_capture_browser.py::test_chromium_dtls_role_conflict, where Chromium also sends a fatal
    unexpected_message alert); here the silent shape, two bare ClientHellos and no alert. RTP one way with
    nothing at all back (no RTP, no RTCP: a dropped return path) stays hand-written: no local peer drops
    the return path of a live call (a sendrecv sender without a track still sends RTCP, see
    test_chromium_sendrecv_without_track_is_not_one_way_media). Real sockets, real tcpdump."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    body = bytes.fromhex("fefd") + bytes(32) + b"\x00\x00" + bytes.fromhex("0002c02b0100")  # RFC 6347 §4.2
    size = len(body).to_bytes(3, "big")
    handshake = b"\x01" + size + bytes(2) + bytes(3) + size + body  # type, length, seq, offset, fragment
    hello = bytes.fromhex("16fefd") + bytes(8) + len(handshake).to_bytes(2, "big") + handshake
    rtp = [bytes([0x80, 111]) + i.to_bytes(2, "big") + bytes(8) + bytes(100) for i in range(60)]
    capture = tmp_path / "roles.pcap"
    try:
        with tcpdump(capture, [a.getsockname()[1], b.getsockname()[1]]):
            a.sendto(hello, b.getsockname())
            b.sendto(hello, a.getsockname())
            for packet in rtp:
                a.sendto(packet, b.getsockname())
    finally:
        a.close()
        b.close()
    code, report = report_of(capture)
    assert code == 1
    assert len(findings(report, "CAPTURE-DTLS-ROLE-CONFLICT")) == 1
    assert not findings(report, "CAPTURE-DTLS-NO-SERVERHELLO")  # said once, as the role conflict
    one_way = findings(report, "CAPTURE-MEDIA-ONE-WAY")
    assert len(one_way) == 1 and "60 RTP packet(s)" in one_way[0]["symptom"]


# ---- ICE: a real aioice agent checking a candidate that never answers ----------------------------------

async def _ice_agent(port: int, peer: socket.socket | None) -> None:
    """A real aioice agent (controlling) whose only remote candidate is 127.0.0.1:``port``. With ``peer``,
    that socket also sends ICE checks to the agent's own candidate (hand-written, see the test)."""
    import aioice

    conn = aioice.Connection(ice_controlling=True, components=1, use_ipv6=False)
    try:
        await conn.gather_candidates()
        conn.remote_username, conn.remote_password = "peer", "p" * 22
        await conn.add_remote_candidate(aioice.Candidate(
            foundation="1", component=1, transport="udp", priority=2130706431, host="127.0.0.1",
            port=port, type="host"))
        await conn.add_remote_candidate(None)
        if peer is not None:
            local = conn.local_candidates[0]
            for _ in range(3):
                check = Message(Method.BINDING, MessageClass.REQUEST)
                check.add(AttrType.USERNAME, f"{conn.local_username}:peer").add(AttrType.PRIORITY, 1853824767)
                peer.sendto(check.encode(integrity_key=conn.local_password.encode(), fingerprint=True),
                            (local.host, local.port))
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(conn.connect(), timeout=4.0)
    finally:
        await conn.close()


def test_ice_checks_without_response(tmp_path: Path) -> None:
    """A real aioice agent checks a candidate (a bound socket) that never answers."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    capture = tmp_path / "ice.pcap"
    try:
        with tcpdump(capture, [port]):
            asyncio.run(_ice_agent(port, None))
    finally:
        silent.close()
    code, report = report_of(capture)
    assert code == 1, report["findings"]
    checks = findings(report, "CAPTURE-ICE-NO-RESPONSE")
    assert len(checks) == 1 and checks[0]["host"] == "127.0.0.1"
    assert not findings(report, "CAPTURE-ICE-ONE-WAY")
    if HAVE_TSHARK:
        sent = tshark_frames(capture, "stun.type == 0x0001 && stun.att.priority", port)
        assert evidence_packets(checks[0]) == sent[:8]


def test_ice_one_way(tmp_path: Path) -> None:
    """HAND-WRITTEN PEER (asymmetric filtering needs a firewall no loopback peer has): the peer's checks,
    made with rtcdiag's codec and the agent's real credentials, reach the real aioice agent, which answers
    them; the agent's own checks to the peer are never answered."""
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    port = peer.getsockname()[1]
    capture = tmp_path / "ice-one-way.pcap"
    try:
        with tcpdump(capture, [port]):
            asyncio.run(_ice_agent(port, peer))
    finally:
        peer.close()
    code, report = report_of(capture)
    assert code == 1, report["findings"]
    one_way = findings(report, "CAPTURE-ICE-ONE-WAY")
    assert len(one_way) == 1 and "(3 seen)" in one_way[0]["symptom"], report["findings"]
    assert not findings(report, "CAPTURE-ICE-NO-RESPONSE")


def test_ice_through_the_relay_is_read_inside_channel_data(coturn_factory: Factory, tmp_path: Path) -> None:
    """`rtcdiag ice --relay-only`: two real aioice agents connect relay to relay through coturn; their ICE
    checks travel inside ChannelData and are read as flows of their own (client <-> peer via the relay)."""
    lo, hi = relay_range()
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, min_relay_port=lo, max_relay_port=hi))
    capture = tmp_path / "ice-relay.pcap"
    with tcpdump(capture, [server.port], [(lo, hi)]):
        proc = subprocess.run([sys.executable, "-m", "rtcdiag", "ice", f"turn:127.0.0.1:{server.port}", "-u",
                               "alice", "--password-env", "PW", "--relay-only", "--json"],
                              env={**os.environ, "PW": PASSWORD}, capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout)["status"] == "pass"
    code, report = report_of(capture)
    assert code == 0, report["findings"]
    flows = table(report, "flows (--ladder N shows one)")["rows"]
    relayed = [row for row in flows if row[1] == "relayed-udp"]
    assert len(relayed) == 2 and all(row[6] == "ICE" for row in relayed)
    answered = {row[0]: row for row in table(report, "answered STUN transactions")["rows"]
                if row[1] == "Binding"}
    assert all(row[0] in answered for row in relayed)  # the checks inside ChannelData were answered


def test_env_has_no_secret_leak(runs: dict[str, Run]) -> None:
    """The capture holds MESSAGE-INTEGRITY, never the password; the report must not contain it either."""
    proc = analyze([str(runs["healthy"].capture), str(runs["healthy"].log)])
    assert PASSWORD not in proc.stdout + proc.stderr


def test_allocation_mismatch_437(coturn_factory: Factory, tmp_path: Path) -> None:
    """Two real 437s from coturn: a client that allocates twice from the same local port (a new transaction
    ID, not a retransmission), and one whose Refresh comes from a port that has no allocation (as after a
    NAT rebinding). Each is named with its packets, which tshark's dissection confirms."""
    lo, hi = relay_range()
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, verbose=True, min_relay_port=lo,
                                          max_relay_port=hi))
    twice = MiniTurn(("127.0.0.1", server.port), "alice", PASSWORD)
    moved = MiniTurn(("127.0.0.1", server.port), "alice", PASSWORD)
    capture = tmp_path / "mismatch.pcap"
    try:
        with tcpdump(capture, [server.port], [(lo, hi)]):
            assert twice.allocate().msg_class == MessageClass.SUCCESS
            again = twice.request(Message(Method.ALLOCATE, MessageClass.REQUEST).add(
                AttrType.REQUESTED_TRANSPORT, RequestedTransport(17)))
            assert again.error_code == 437
            moved.key, moved.realm, moved.nonce = twice.key, twice.realm, twice.nonce  # same credentials
            lost = moved.request(Message(Method.REFRESH, MessageClass.REQUEST).add(AttrType.LIFETIME, 600))
            assert lost.error_code == 437
    finally:
        twice.sock.close()
        moved.sock.close()
    code, report = report_of(capture)
    assert code == 1
    mismatch = findings(report, "CAPTURE-TURN-437")
    assert len(mismatch) == 2, report["findings"]
    by_method = {f["symptom"].split(": ", 1)[1].split(" was answered", 1)[0]: f for f in mismatch}
    assert set(by_method) == {"Allocate", "Refresh"}
    assert "allocated twice from the same local port" in by_method["Allocate"]["cause"]
    assert "no allocation for this 5-tuple" in by_method["Refresh"]["cause"]
    assert all(f["title"] == f"TURN server 127.0.0.1:{server.port} answered 437 Allocation Mismatch"
               for f in mismatch)
    if HAVE_TSHARK:
        assert sorted(n for f in mismatch for n in evidence_packets(f)) == \
            tshark_frames(capture, "stun.att.error.class == 4 && stun.att.error == 37")


def test_json_results_of_a_capture_and_a_coturn_log(runs: dict[str, Run]) -> None:
    """`--json` carries the facts behind the tables (flows, allocations, transactions with RTTs, sessions,
    usage), schema-valid, bounded, without the password."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")
    from rtcdiag.report import json_report

    run = runs["healthy"]
    proc = analyze([str(run.capture), str(run.log), "--json"])
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout
    report = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(json_report.load_schema()).validate(report)
    results = report["results"]
    capture, = results["captures"]
    assert capture["packets"] > 0 and capture["format"] == "pcap" and not capture["truncated"]
    rows = table(report, "TURN allocations")["rows"]
    assert [a["relayed"] for a in capture["allocations"]] == [row[1] for row in rows]
    for alloc in capture["allocations"]:
        assert alloc["username"] == "alice" and alloc["lifetime_s"] == 600
        assert alloc["data_sent"] == alloc["data_received"] == 10 and alloc["bytes_received"] > 0
        assert alloc["permissions"] and alloc["deleted_packet"] is not None
    by_method = {(t["flow"], t["method"]): t for t in capture["transactions"]}
    allocate = [t for (_, m), t in by_method.items() if m == "Allocate"]
    assert allocate and all(0 <= t["rtt_min_ms"] <= t["rtt_avg_ms"] <= t["rtt_max_ms"] for t in allocate)
    turn_flows = [f for f in capture["flows"] if f["role"] == "TURN client-server"]
    assert {f["transport"] for f in turn_flows} == {"udp", "tcp"}
    assert all(f["messages"]["stun"][0] > 0 and f["messages"]["stun"][1] > 0 for f in turn_flows)
    log, = results["logs"]
    assert log["sessions_total"] == 3 and {s["user"] for s in log["sessions"]} == {"alice"}
    assert all(s["rb"] > 0 for s in log["sessions"])
    usage, = log["usage"]
    assert usage["user"] == "alice" and usage["sessions"] == 3 and usage["peer_bytes"] > 0
    assert sum(n for _, n in log["busiest_hours"]) == 3
    code, wrong = report_of(runs["wrong-password"].log)
    assert code == 1 and wrong["results"]["logs"][0]["refused_401"] == {"alice": 2}


# ---- TLS handshakes that never complete: openssl's client against the real coturn ---------------------

@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_clienthello_never_answered(coturn_factory: Factory, tmp_path: Path) -> None:
    """openssl s_client offering only TLS 1.1 to coturn (`no-tlsv1_1`): coturn 4.6 says nothing at all; and
    s_client to a TCP port that accepts and never speaks. Both ClientHellos go unanswered until the client
    gives up: one finding per server, the offered version in the evidence."""
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, self_signed=True, verbose=True))
    assert server.tls_port is not None
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    quiet_port = silent.getsockname()[1]
    capture = tmp_path / "tls-unanswered.pcap"
    try:
        with tcpdump(capture, [server.tls_port, quiet_port], host="127.0.0.1"):
            tls11_only = ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]
            for port, extra in ((server.tls_port, tls11_only), (quiet_port, [])):
                with pytest.raises(subprocess.TimeoutExpired):  # no answer: s_client waits on
                    subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *extra],
                                   stdin=subprocess.PIPE, capture_output=True, timeout=3)
    finally:
        silent.close()
    code, report = report_of(capture)
    assert code == 1
    unanswered = findings(report, "CAPTURE-TLS-NO-SERVERHELLO")
    assert {f["params"]["server"] for f in unanswered} == {f"127.0.0.1:{server.tls_port}",
                                                          f"127.0.0.1:{quiet_port}"}
    assert len(unanswered) == 2 and len(report["findings"]) == 2
    to_coturn = next(f for f in unanswered if f["params"]["server"].endswith(f":{server.tls_port}"))
    assert to_coturn["params"]["offered"] == "TLS 1.1"
    if HAVE_TSHARK:
        decode = ["-d", f"tcp.port=={quiet_port},tls"]
        hellos = subprocess.run(["tshark", "-r", str(capture), *decode, "-Y", "tls.handshake.type == 1", "-T",
                                 "fields", "-e", "frame.number"], capture_output=True, text=True, timeout=60)
        ours = sorted(int(f["params"]["packet"]) for f in unanswered)
        assert ours == [int(n) for n in hellos.stdout.split()]
        answers = subprocess.run(["tshark", "-r", str(capture), *decode, "-Y", "tls && tcp.srcport in "
                                  f"{{{server.tls_port} {quiet_port}}}"], capture_output=True, text=True,
                                 timeout=60)
        assert not answers.stdout.strip()  # not one TLS record from either server


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_coturn_log_of_connections_closed_before_any_request(coturn_factory: Factory, tmp_path: Path) -> None:
    """coturn's own closing reasons for connections that never sent a request: openssl s_client completing
    TLS and leaving (inconclusive: nothing allocated, nothing failed), then, with a real allocation beside
    it (turn-check), s_client refusing coturn's self-signed certificate (`-verify_return_error`): the
    failed TLS handshake is a warning next to a session that worked, not the verdict of the log."""
    server = coturn_factory(CoturnOptions(users={"alice": PASSWORD}, self_signed=True, verbose=True))
    assert server.tls_port is not None
    target = f"127.0.0.1:{server.tls_port}"

    def s_client(*extra: str) -> None:
        subprocess.run(["openssl", "s_client", "-connect", target, *extra], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=20)

    s_client()  # the handshake completes (no verification), then s_client closes
    _wait_log(server, "closed (2nd stage)")
    left = tmp_path / "left.log"
    shutil.copy(server.log_path, left)
    code, report = report_of(left)
    assert code == 3 and [f["id"] for f in report["findings"]] == ["COTURN-LOG-CLOSED-BEFORE-REQUEST"]
    assert report["checks"][0]["status"] == "inconclusive"
    s_client("-verify_return_error")  # refuses the self-signed certificate: coturn's SSL read fails
    proc = turn_check([f"127.0.0.1:{server.port}", "--transport", "udp", "-u", "alice"],
                      {"RTCDIAG_TURN_PASSWORD": PASSWORD})
    assert json.loads(proc.stdout)["status"] == "pass"
    _wait_log(server, "closed (2nd stage)", 3)
    both = tmp_path / "both.log"
    shutil.copy(server.log_path, both)
    code, report = report_of(both)
    assert code == 0, report["findings"]
    failed = findings(report, "COTURN-LOG-TLS-FAILED")
    assert len(failed) == 1 and failed[0]["severity"] == "warning" and failed[0]["params"]["count"] == "1"
    assert failed[0]["params"]["allocated"] == "1"
    assert not findings(report, "COTURN-LOG-CLOSED-BEFORE-REQUEST")  # a session allocated: said nothing

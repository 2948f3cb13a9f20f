"""`rtcdiag analyze` on packet captures of real headless-Chromium calls (issue 13).

tcpdump on loopback (tests/wire_capture.py, filtered to this test's coturn port and relay range) while
Debian's Chromium (Playwright, ``executable_path`` = the system chromium) runs a relay-only call: two
RTCPeerConnections in one page, fake microphone (``--use-fake-device-for-media-stream``), a data channel,
through a real coturn. Nothing here is hand-written: every packet is Chromium's or coturn's. The evidence
(packet numbers) is checked against tshark's own dissection of the same file where tshark is installed.

Scenarios: a healthy call; the same call with the coturn killed (SIGKILL, by PID) mid-call; the callee
hanging up mid-call while the caller keeps its connection open (a hang-up, not consent lost: the callee's
browser deletes its TURN allocation and sends a close_notify DTLS 1.3 encrypts; a callee that vanishes without
a word is the matrix's callee-vanishes cell); a one-way (sendonly/recvonly) call, which is not a
fault; a sendrecv call whose callee has no track (RTP one way, RTCP back: not a fault the capture can see);
both sides DTLS client (a=setup munged: the role conflict).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.probes.browser import BrowserOptions, run_script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live_sample import opt_in
from wire_capture import CAPTURE_FIXTURES as FIXTURES
from wire_capture import HAVE_TSHARK, analyze, browser_call_unavailable, relay_range, tcpdump

REASON = browser_call_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
# The two calls that must outlast RFC 7675's 30 s consent timeout take ~47 s each: run live with
# RTCDIAG_BROWSER_ALL=1. Their real captures (made by these tests with RTCDIAG_SAVE_CAPTURES=1) are committed
# and judged with the same assertions in tests/integration/test_analyze_capture_fixtures.py on every run.
LONG = pytest.mark.skipif(not os.environ.get("RTCDIAG_BROWSER_ALL"),
                          reason="outlasts the 30 s consent timeout (RTCDIAG_BROWSER_ALL=1 runs it live); "
                                 "its committed real capture is checked in test_analyze_capture_fixtures.py")
# The default run makes one call live (the healthy one: the page, tcpdump and the reader still agree on
# today's Chromium); the other shapes run live with RTCDIAG_BROWSER_ALL=1 and their committed captures are
# judged with the same assertions on every run (the suite must stay quick on a shared 2-core machine).
SAMPLED = opt_in("the healthy call", "test_analyze_capture_fixtures.py")
Factory = Callable[[CoturnOptions], RunningCoturn]
USER, PASSWORD = "caller", "chromium-capture-pw"

# a: caller (fake microphone, data channel), b: callee. direction: a's audio transceiver ("sendonly" makes b
# recvonly). mode "no-track": b's sendrecv transceiver gets no track; "role-conflict": the answer a applies
# says a=setup:passive (b's own says active); "kill": hold the call until a's ICE fails (the test kills
# coturn); "hang-up": b closes mid-call (a hang-up a's app does not act on: a's consent checks go unanswered,
# RFC 7675), then wait until a's ICE fails.
PAGE = r"""
async (s) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  const cfg = {iceServers: s.servers, iceTransportPolicy: 'relay'};
  const a = new RTCPeerConnection(cfg), b = new RTCPeerConnection(cfg);
  a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  a.addTransceiver(mic.getTracks()[0], {direction: s.direction, streams: [mic]});
  const dc = a.createDataChannel('rtcdiag');
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  if (s.direction === 'sendrecv' && s.mode === 'no-track') {
    // sendrecv negotiated both ways, but b's sender never gets a track: b sends no RTP
    b.getTransceivers().forEach(t => { t.direction = 'sendrecv'; });
  } else if (s.direction === 'sendrecv') {
    const mic2 = await navigator.mediaDevices.getUserMedia({audio: true});
    b.getTransceivers().forEach(t => {
      t.direction = 'sendrecv'; t.sender.replaceTrack(mic2.getTracks()[0]);
    });
  } else {
    b.getTransceivers().forEach(t => { t.direction = 'recvonly'; });
  }
  await b.setLocalDescription();
  const answer = {type: 'answer', sdp: b.localDescription.sdp};
  if (s.mode === 'fingerprint') {  // the answer's DTLS fingerprint changed in transit: DTLS must fail
    answer.sdp = answer.sdp.replace(/(a=fingerprint:sha-256 )([0-9A-F]{2})/g,
      (m, p, h) => p + (h === '00' ? '01' : '00'));
  }
  if (s.mode === 'role-conflict') {  // b answered active (it stays DTLS client); a is told b is passive,
    answer.sdp = answer.sdp.replace(/a=setup:active/g, 'a=setup:passive');  // so a takes the client role too
  }
  await a.setRemoteDescription(answer);
  const out = {answerSetup: (b.localDescription.sdp.match(/a=setup:\w+/g) || []).join(' '),
               appliedSetup: (answer.sdp.match(/a=setup:\w+/g) || []).join(' ')};
  out.state = await within(new Promise(res => {
    const c = () => { if (['connected', 'failed'].includes(a.connectionState)) res(a.connectionState); };
    a.addEventListener('connectionstatechange', c); c();
  }), s.mode === 'role-conflict' ? 8000 : 15000);
  out.dc = await within(new Promise(r => {
    if (dc.readyState === 'open') r('open'); dc.onopen = () => r('open');
  }), s.mode === 'role-conflict' ? 1000 : 5000);
  for (let i = 0; i < 20 && dc.readyState === 'open'; i++) { dc.send('x'.repeat(100)); await sleep(100); }
  if (s.mode === 'hang-up') b.close();
  if (s.mode === 'kill' || s.mode === 'hang-up') {
    const state = wanted => new Promise(res => {
      const c = () => { if (wanted.includes(a.iceConnectionState)) res(a.iceConnectionState); };
      a.addEventListener('iceconnectionstatechange', c); c();
    });
    out.lost = await within(state(['disconnected', 'failed']), 20000);
    // RFC 7675 §5.1: consent is lost 30 s after the last answer; the capture must run past that (Chromium
    // does not always go to "failed" with a relay candidate, so the wait is bounded).
    out.after = await within(state(['failed']), 34000);
  } else {
    await sleep(3000);  // 3 s of media
  }
  out.ice = a.iceConnectionState;
  const rtpSent = async pc => {  // RTP packets each side's own stats say it sent
    let n = 0;
    (await pc.getStats()).forEach(r => { if (r.type === 'outbound-rtp') n += r.packetsSent || 0; });
    return n;
  };
  out.rtpSent = [await rtpSent(a), await rtpSent(b)];
  return out;
}
"""


def _call(factory: Factory, tmp: Path, name: str, direction: str = "sendrecv", mode: str = "call"
          ) -> tuple[Path, RunningCoturn, dict[str, Any]]:
    lo, hi = relay_range()
    server = factory(CoturnOptions(users={USER: PASSWORD}, verbose=True, min_relay_port=lo,
                                   max_relay_port=hi))
    capture = tmp / f"{name}.pcap"
    servers = [{"urls": f"turn:127.0.0.1:{server.port}?transport=udp", "username": USER,
                "credential": PASSWORD}]
    params = {"servers": servers, "direction": direction, "mode": mode}

    async def run() -> Any:
        task = asyncio.create_task(run_script(PAGE, params, BrowserOptions(rtcstats_dump=False)))
        if mode == "kill":
            # Mid-call: both sides bound their channel (the call is up), then ~60 kB more of relayed media.
            deadline = time.monotonic() + 30
            while (server.log_path.read_text(errors="replace").count("CHANNEL_BIND processed, success") < 2
                   and time.monotonic() < deadline and not task.done()):
                await asyncio.sleep(0.1)
            size = capture.stat().st_size
            while capture.stat().st_size < size + 60_000 and time.monotonic() < deadline and not task.done():
                await asyncio.sleep(0.1)
            assert not task.done(), "the call ended before coturn was killed"
            os.kill(server.process.pid, signal.SIGKILL)  # the coturn this test started, by PID
        return (await task).result

    # every packet of the call has coturn's 127.0.0.1 at one end (client <-> server, relay <-> relay)
    with tcpdump(capture, [server.port], [(lo, hi)], host="127.0.0.1"):
        result = asyncio.run(run())
    if os.environ.get("RTCDIAG_SAVE_CAPTURES"):  # regenerate the committed fixtures (see LONG below)
        FIXTURES.mkdir(parents=True, exist_ok=True)
        (FIXTURES / f"{name}.pcap.gz").write_bytes(gzip.compress(capture.read_bytes(), mtime=0))
        (FIXTURES / f"{name}.json").write_text(json.dumps({"server_port": server.port, "page": result}))
    return capture, server, result


def _report(capture: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = analyze([str(capture), "--json", *extra])
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _ids(report: dict[str, Any]) -> list[str]:
    return [f["id"] for f in report["findings"]]


def _rows(report: dict[str, Any], suffix: str) -> list[dict[str, str]]:
    t = next(t for t in report["tables"] if t["title"].endswith(suffix))
    return [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]


def _messages(row: dict[str, str]) -> dict[str, tuple[int, int]]:
    out = {}
    for part in row["Messages A>B / B>A"].split(", "):
        kind, counts = part.split(" ")
        fwd, back = counts.split("/")
        out[kind] = (int(fwd), int(back))
    return out


def _tshark(capture: Path, display_filter: str, field: str = "frame.number") -> list[str]:
    proc = subprocess.run(["tshark", "-r", str(capture), "-Y", display_filter, "-T", "fields", "-e", field],
                          capture_output=True, text=True, timeout=60)
    return proc.stdout.split()


def test_chromium_relay_call_passes(coturn_factory: Factory, tmp_path: Path) -> None:
    """A healthy relay-only call: both allocations with data both ways, DTLS handshake and RTP both ways
    inside the relayed flows, exit 0 and no finding."""
    capture, server, page = _call(coturn_factory, tmp_path, "healthy")
    assert page["state"] == "connected" and page["dc"] == "open", page
    code, report = _report(capture)
    assert code == 0 and _ids(report) == [], report["findings"]
    allocations = _rows(report, "TURN allocations")
    assert len(allocations) == 2
    for alloc in allocations:
        sent, back = (int(n) for n in alloc["Data sent / back (msgs)"].split(" / "))
        assert sent > 50 and back > 50, alloc  # media and data channel relayed both ways
        assert alloc["User"] == USER and alloc["Channels"] != "-"
    relayed = [r for r in _rows(report, "(--ladder N shows one)") if r["Transport"] == "relayed-udp"]
    assert len(relayed) == 2  # one per TURN client, read inside its ChannelData / Send / Data
    for row in relayed:
        kinds = _messages(row)
        assert kinds["rtp"][0] > 50 and kinds["rtp"][1] > 50, row
        assert kinds["dtls"][0] and kinds["dtls"][1] and row["Role"] == "ICE"
        ladder = analyze([str(capture), "--ladder", row["Flow"]]).stdout
        assert "DTLS ClientHello" in ladder and "DTLS ServerHello" in ladder
        assert "Binding success" in ladder  # ICE checks through the relay answered
    methods = {r["Method"] for r in _rows(report, "answered STUN transactions")}
    assert {"Allocate", "CreatePermission", "ChannelBind", "Binding"} <= methods
    if HAVE_TSHARK:  # tshark's count of the ChannelData messages on the client flows agrees
        ours = sum(int(a["Data sent / back (msgs)"].split(" / ")[0]) + int(a["Data sent / back (msgs)"]
                   .split(" / ")[1]) for a in allocations)
        theirs = len(_tshark(capture, f"udp.port == {server.port} && (stun.channel || stun.type == 0x0016 || "
                                      "stun.type == 0x0017)"))
        assert ours == theirs


@LONG
def test_chromium_call_with_the_turn_server_killed(coturn_factory: Factory, tmp_path: Path) -> None:
    """The same call; coturn is killed (SIGKILL) mid-call. The capture shows the server's last packet, the
    clients sending on (media, consent checks in ChannelData, Binding keepalives retransmitted) with no
    reply: the server stopped, said once per client flow (the consent loss inside the relay is its
    consequence, not a second root cause)."""
    capture, server, page = _call(coturn_factory, tmp_path, "killed", mode="kill")
    assert not server.alive()
    check_server_killed(capture, server.port, page)


def check_server_killed(capture: Path, port: int, page: dict[str, Any]) -> None:
    assert page["state"] == "connected" and page["lost"] in ("disconnected", "failed"), page
    code, report = _report(capture)
    assert code == 1
    # one statement about the server, both of its clients in the evidence (no consent-lost beside it)
    assert _ids(report) == ["CAPTURE-TURN-SERVER-STOPPED"], report["findings"]
    stopped = report["findings"][0]
    assert stopped["title"] == f"TURN server 127.0.0.1:{port} stopped answering mid-call"
    clients = stopped["params"]["flows"].split("; ")
    assert len(clients) == 2 and all(c.endswith(f" <-> 127.0.0.1:{port}") for c in clients), clients
    assert len(stopped["evidence"]) == 2
    if HAVE_TSHARK:
        from_server = [int(n) for n in _tshark(capture, f"udp.srcport == {port}")]
        for line in stopped["evidence"]:  # one line per client flow
            last = int(line.split(": packet ", 1)[1].split(" ", 1)[0])
            assert last in from_server
            unanswered = line.split("unanswered requests: packets ", 1)[1].split(" ", 1)[0]
            first = int(unanswered.rstrip(",").split(",")[0])
            assert first > max(from_server)  # sent after the server's very last packet
            assert str(first) in _tshark(capture, "stun.type == 0x0001")  # a Binding request, per tshark


@LONG
def test_chromium_callee_hangs_up_caller_stays_open(coturn_factory: Factory, tmp_path: Path) -> None:
    """The callee closes mid-call (its allocation deleted, the relay alive), the caller's app does not: its
    consent checks through the relay go unanswered until Chromium fails ICE (RFC 7675 §5.1). A hang-up."""
    capture, _, page = _call(coturn_factory, tmp_path, "callee-hangs-up", mode="hang-up")
    check_callee_hung_up(capture, page)


def check_callee_hung_up(capture: Path, page: dict[str, Any]) -> None:
    assert page["state"] == "connected" and page["lost"] in ("disconnected", "failed"), page
    code, report = _report(capture)
    # a hang-up (the callee's allocation deleted as its answers stopped), not consent lost nor the server's
    # fault; one statement for the call: the caller's checks inside its relay, on coturn's relay-to-relay
    # leg and inside the callee's relayed flow are the same checks
    assert code == 0 and _ids(report) == ["CAPTURE-ICE-PEER-HUNG-UP"], report["findings"]
    hung_up = report["findings"][0]
    assert hung_up["severity"] == "info"
    paths = hung_up["params"]["flows"].split("; ")
    assert sorted(p.split(" ", 1)[0] for p in paths) == ["relayed-udp", "relayed-udp", "udp"], paths
    assert int(hung_up["params"]["count"]) > 100  # not three times the same checks
    if HAVE_TSHARK:
        # the deallocation is a Refresh (0x0004) the server answered (0x0104), the unanswered checks ride in
        # ChannelData
        refresh = hung_up["evidence"][0].split("packet ", 1)[1].split(" ", 1)[0]
        assert refresh in _tshark(capture, "stun.type == 0x0104")
        first = hung_up["evidence"][1].split("unanswered: packets ", 1)[1].split(",", 1)[0]
        assert first in _tshark(capture, "stun.channel")


@SAMPLED
def test_chromium_sendonly_call_is_not_one_way_media(coturn_factory: Factory, tmp_path: Path) -> None:
    """A sendonly/recvonly call: RTP one way only, RTCP receiver reports back. That is what was negotiated,
    not a broken path: no CAPTURE-MEDIA-ONE-WAY (media one way with nothing back is still hand-written in
    test_analyze_capture.py: no local peer drops the return path of a live call)."""
    capture, _, page = _call(coturn_factory, tmp_path, "sendonly", direction="sendonly")
    check_sendonly(capture, page)


def check_sendonly(capture: Path, page: dict[str, Any]) -> None:
    assert page["state"] == "connected", page
    code, report = _report(capture)
    assert code == 0 and _ids(report) == [], report["findings"]
    relayed = [_messages(r) for r in _rows(report, "(--ladder N shows one)")
               if r["Transport"] == "relayed-udp"]
    assert len(relayed) == 2
    one_way = [k for k in relayed if min(k.get("rtp", (0, 0))) == 0 and max(k.get("rtp", (0, 0))) > 50]
    assert len(one_way) == 2  # RTP one way in both relayed flows...
    assert all(k["rtcp"][0] and k["rtcp"][1] for k in one_way)  # ...with RTCP both ways


@SAMPLED
def test_chromium_fingerprint_mismatch_dtls_nothing_after_handshake(coturn_factory: Factory,
                                                                    tmp_path: Path) -> None:
    """The answer's a=fingerprint changed in transit: ICE connects through the relay, the DTLS handshake
    runs, then Chromium drops the session without an alert on the wire; no SCTP, no SRTP ever follows while
    consent checks go on being answered. Named from what the capture really shows."""
    capture, server, page = _call(coturn_factory, tmp_path, "fingerprint", mode="fingerprint")
    check_fingerprint_mismatch(capture, page)
    assert server.alive()


def check_fingerprint_mismatch(capture: Path, page: dict[str, Any]) -> None:
    assert page["state"] == "failed" and page["dc"] == "timeout", page
    code, report = _report(capture)
    assert code == 1
    assert _ids(report) == ["CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE"], report["findings"]  # once for the call
    finding = report["findings"][0]
    flows = set(finding["params"]["flows"].split("; "))
    relayed = {f"relayed-udp {r['A (first sender)']} <-> {r['B']}" for r in _rows(report, "shows one)")
               if r["Transport"] == "relayed-udp"}
    assert relayed <= flows  # both callers' relayed flows (and the relay-to-relay leg coturn sends on)
    assert "DTLS 1.3" in finding["symptom"]  # Chromium 156 negotiates DTLS 1.3: its records are read
    if HAVE_TSHARK:  # tshark agrees: handshake records only, not one application_data record
        ports = {r["B"].rsplit(":", 1)[1] for r in _rows(report, "shows one)") if r["Transport"] == "udp"
                 and r["Role"] == "ICE"}
        decode = [arg for p in ports for arg in ("-d", f"udp.port=={p},dtls")]


        def records(content_type: int) -> list[str]:
            proc = subprocess.run(["tshark", "-r", str(capture), *decode, "-Y",
                                   f"dtls.record.content_type == {content_type}", "-T", "fields", "-e",
                                   "frame.number"], capture_output=True, text=True, timeout=60)
            return proc.stdout.split()

        assert records(22)  # the handshake, on the relay-to-relay leg
        assert records(23) == []


def _numbers(finding: dict[str, Any]) -> list[int]:
    return [int(n) for n in finding["params"]["packets"].split(", ") if n != "..."]


@SAMPLED
def test_chromium_dtls_role_conflict(coturn_factory: Factory, tmp_path: Path) -> None:
    """Both sides DTLS client: b answers a=setup:active (so b is the client), the answer a applies is munged
    to a=setup:passive (so a takes the client role too, RFC 5763 §5). ICE connects through the relay, both
    send ClientHellos (Chromium's come in two fragments), no ServerHello ever; the client that gets the
    other's ClientHello aborts with a fatal unexpected_message alert. One root cause per flow: the role
    conflict, the alert in its evidence (the two relayed flows and coturn's relay-to-relay leg carry the same
    handshake, so it is said on each)."""
    capture, _, page = _call(coturn_factory, tmp_path, "roles", mode="role-conflict")
    check_role_conflict(capture, page)


def check_role_conflict(capture: Path, page: dict[str, Any]) -> None:
    assert "a=setup:active" in page["answerSetup"] and "active" not in page["appliedSetup"], page
    assert page["state"] != "connected" and page["dc"] == "timeout", page
    code, report = _report(capture)
    assert code == 1
    # one root cause for the call (its two relayed flows and coturn's leg carry the same handshake), the
    # alert in its evidence, not a separate finding
    assert _ids(report) == ["CAPTURE-DTLS-ROLE-CONFLICT"], report["findings"]
    finding = report["findings"][0]
    paths = finding["params"]["flows"].split("; ")
    rows = _rows(report, "shows one)")
    relayed = {f"relayed-udp {r['A (first sender)']} <-> {r['B']}" for r in rows
               if r["Transport"] == "relayed-udp"}
    legs = [label for label in paths if label.startswith("udp ")]
    assert len(relayed) == 2 and relayed <= set(paths) and len(legs) == 1, paths
    hello_lines = [line for line in finding["evidence"] if ": ClientHello from " in line]
    assert len(hello_lines) == 2  # a ClientHello from each end of the call
    alert_lines = [line for line in finding["evidence"] if "unexpected_message" in line]
    assert alert_lines, finding["evidence"]
    if HAVE_TSHARK:
        # coturn's relay-to-relay leg is plain DTLS: tshark dissects its ClientHellos and alerts itself;
        # inside the relayed flows they ride in Send/Data indications or ChannelData
        ports = [p.rsplit(":", 1)[1] for p in legs[0].split(" ", 1)[1].split(" <-> ")]
        decode = [arg for p in ports for arg in ("-d", f"udp.port=={p},dtls")]

        def frames(display_filter: str) -> set[str]:
            argv = ["tshark", "-r", str(capture), *decode, "-Y", display_filter, "-T", "fields", "-e",
                    "frame.number"]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            return set(proc.stdout.split())

        carried = set(_tshark(capture, "stun.type == 0x0016 || stun.type == 0x0017 || stun.channel"))
        hellos = frames("dtls.handshake.type == 1") | carried
        for line in hello_lines:
            numbers = line.split(": packets ", 1)[1].replace(", ...", "").split(", ")
            assert numbers and set(numbers) <= hellos, (line, sorted(hellos))
        alerts = frames("dtls.alert_message.desc == 10") | carried  # 10: unexpected_message
        for line in alert_lines:
            numbers = line.split(": packets ", 1)[1].replace(", ...", "").split(", ")
            assert set(numbers) <= alerts, line


@SAMPLED
def test_chromium_sendrecv_without_track_is_not_one_way_media(coturn_factory: Factory,
                                                              tmp_path: Path) -> None:
    """sendrecv negotiated both ways, but the callee's sender never gets a track: its own stats say it sent
    no RTP, so RTP flows one way while the SDP said both. What the capture shows is the same as the
    negotiated sendonly/recvonly call above: RTP one way, RTCP (receiver reports, transport-cc feedback)
    back. The path works both ways, so CAPTURE-MEDIA-ONE-WAY (media with nothing at all back: a dropped
    return path) is rightly not said; the capture alone cannot tell "sendrecv without a track" from a
    negotiated recvonly (the SDP is not in it; SRTCP shows only the first packet's type and sender SSRC:
    libwebrtc's receive-only 0xFA17FA17 vs the unused sender's own SSRC, an implementation detail, not a
    protocol signal). Media one way with nothing back stays hand-written in test_analyze_capture.py."""
    capture, _, page = _call(coturn_factory, tmp_path, "notrack", mode="no-track")
    check_no_track(capture, page)


def check_no_track(capture: Path, page: dict[str, Any]) -> None:
    assert page["state"] == "connected" and page["dc"] == "open", page
    assert page["rtpSent"][0] > 50 and page["rtpSent"][1] == 0, page  # b's own outbound-rtp: nothing sent
    code, report = _report(capture)
    assert code == 0 and _ids(report) == [], report["findings"]
    rows = _rows(report, "(--ladder N shows one)")
    relayed = [_messages(r) for r in rows if r["Transport"] == "relayed-udp"]
    assert len(relayed) == 2
    for kinds in relayed:
        rtp = kinds.get("rtp", (0, 0))
        assert min(rtp) == 0 and max(rtp) > 50, kinds  # RTP one way only...
        assert kinds["rtcp"][0] and kinds["rtcp"][1], kinds  # ...RTCP both ways: the return path works
    if HAVE_TSHARK:  # tshark, decoding coturn's relay-to-relay leg as RTCP, counts the same RTCP each way
        leg = next(r for r in rows if r["Transport"] == "udp" and r["Role"] == "ICE")
        ports = [leg["A (first sender)"].rsplit(":", 1)[1], leg["B"].rsplit(":", 1)[1]]
        ours = _messages(leg)["rtcp"]
        for port, count in zip(ports, ours, strict=True):
            # RTCP packet types 200-207 (RFC 3550 §12.1, RFC 4585 §6.1); RTP, STUN, DTLS fall outside
            argv = ["tshark", "-r", str(capture), "-d", f"udp.port=={port},rtcp", "-Y",
                    f"udp.srcport == {port} && rtcp.pt >= 200 && rtcp.pt <= 207", "-T", "fields", "-e",
                    "frame.number"]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert len(proc.stdout.split()) == count > 0, (port, count)

"""Make the real-browser fixtures of ``rtcdiag analyze``: drive Debian's headless Chromium (Playwright for
Python, ``executable_path`` = the system chromium) through failure scenarios against a coturn on loopback,
and save the dumps chrome://webrtc-internals downloads ("Create a WebRTC-Internals dump").

    .venv/bin/python tests/browser/make_fixtures.py [SCENARIO...]   # writes tests/fixtures/analyze/
    .venv/bin/python tests/browser/make_fixtures.py --matrix [CELL...]   # the ground-truth matrix (matrix.py)

Each scenario is two RTCPeerConnections in one page signalling to each other directly (or a getUserMedia call
alone). Every dump is the browser's own, saved as downloaded (gzip). A dump never holds TURN credentials (only
the server URLs of rtcConfiguration): ``tests/unit/test_analyze_fixtures.py`` checks that, and this script
refuses to save a dump that contains the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn
from rtcdiag.probes.browser import BrowserOptions, BrowserRun, run_script

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analyze"
TURN_USER = "fixture-user"
TURN_PASSWORD = "fixture-Pa55-not-in-dumps"  # the test checks no dump contains it

# One page script for every scenario: two peer connections, `a` (caller) and `b` (callee), with trickle
# signalling done in the page; the scenario's `mode` says what goes wrong. Bounded waits only.
PAGE_SCRIPT = r"""
async (s) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  const out = {errors: []};
  const note = (what, e) => out.errors.push(what + ': ' + (e && e.name) + ': ' + (e && e.message));
  if (s.mode === 'gum') {
    try { await navigator.mediaDevices.getUserMedia(s.constraints); out.gum = 'ok'; }
    catch (e) { note('getUserMedia', e); }
    await sleep(1000);  // the result reaches chrome://webrtc-internals asynchronously
    return out;
  }
  const cfg = {iceServers: s.servers || [], iceTransportPolicy: s.policy || 'all'};
  const a = new RTCPeerConnection(cfg), b = new RTCPeerConnection(cfg);
  window.rtcdiagPcs = [a, b];
  const gathered = pc => new Promise(res => {
    const check = () => { if (pc.iceGatheringState === 'complete') res('complete'); };
    pc.addEventListener('icegatheringstatechange', check); check();
  });
  const settled = pc => new Promise(res => {
    const done = ['connected', 'failed', 'closed'];
    const check = () => { if (done.includes(pc.connectionState)) res(pc.connectionState); };
    pc.addEventListener('connectionstatechange', check); check();
  });
  const relay = (to, name) => e => {
    if (e.candidate) to.addIceCandidate(e.candidate).catch(err => note(name, err));
  };
  if (s.mode !== 'no-trickle') {  // no-trickle: the app never sends its candidates to the other side
    a.onicecandidate = relay(b, 'b.addIceCandidate');
    b.onicecandidate = relay(a, 'a.addIceCandidate');
  }
  if (s.audio) {
    const stream = await navigator.mediaDevices.getUserMedia({audio: true});
    stream.getTracks().forEach(t => a.addTrack(t, stream));
  }
  if (s.video) {
    const camera = await navigator.mediaDevices.getUserMedia({video: true});
    camera.getTracks().forEach(t => a.addTrack(t, camera));
  }
  if (s.mode === 'h264') {
    // Video offered as H.264 Constrained Baseline, packetization-mode=1 only (the codec list an app
    // restricts with setCodecPreferences).
    const h264 = RTCRtpReceiver.getCapabilities('video').codecs.filter(c => c.mimeType === 'video/H264'
      && /packetization-mode=1/.test(c.sdpFmtpLine || '') && /42e01f/.test(c.sdpFmtpLine || ''));
    a.getTransceivers().filter(t => t.sender.track && t.sender.track.kind === 'video')
      .forEach(t => t.setCodecPreferences(h264));
  }
  a.createDataChannel('rtcdiag');
  if (s.mode === 'glare') {
    // Both sides offer at once and both apply the other's offer (an implicit rollback in today's
    // browsers), answer it, then receive the other's answer in "stable": the glare signature.
    b.createDataChannel('rtcdiag-b');
    await a.setLocalDescription();
    await b.setLocalDescription();
    const offerA = a.localDescription, offerB = b.localDescription;
    try { await a.setRemoteDescription(offerB); await a.setLocalDescription(); } catch (e) { note('a', e); }
    try { await b.setRemoteDescription(offerA); await b.setLocalDescription(); } catch (e) { note('b', e); }
    try { await a.setRemoteDescription(b.localDescription); } catch (e) { note('a answer', e); }
    try { await b.setRemoteDescription(a.localDescription); } catch (e) { note('b answer', e); }
    await sleep(1500);
    out.state = a.signalingState;
    return out;
  }
  await a.setLocalDescription();
  let offer = {type: 'offer', sdp: a.localDescription.sdp};
  if (s.mode === 'dtls-stuck') {
    // Both sides end up DTLS server (a=setup:passive): b is told the offerer is active and answers
    // passive; a is told the answerer is active and becomes passive. Nobody sends a ClientHello.
    offer.sdp = offer.sdp.replace(/a=setup:actpass/g, 'a=setup:active');
  }
  await b.setRemoteDescription(offer);
  await b.setLocalDescription();
  let answer = {type: 'answer', sdp: b.localDescription.sdp};
  if (s.mode === 'dtls-stuck') answer.sdp = answer.sdp.replace(/a=setup:passive/g, 'a=setup:active');
  if (s.mode === 'sctp-reject') {
    // The answer rejects the m=application section (port 0, out of BUNDLE): a munging signalling server,
    // or an answerer without data channel support. (Munging a=sctp-port instead: Chromium opens anyway.)
    answer.sdp = answer.sdp.replace(/m=application 9 /, 'm=application 0 ')
      .replace(/a=group:BUNDLE 0 1/, 'a=group:BUNDLE 0');
  }
  if (s.mode === 'h264') {
    // The answer's H.264 fmtp munged on the way (packetization-mode 1 -> 0): RFC 6184 §8.2.2 forbids it.
    answer.sdp = answer.sdp.replace(/packetization-mode=1/g, 'packetization-mode=0');
    out.offer = a.localDescription.sdp;
    out.answer = answer.sdp;
  }
  if (s.mode === 'fingerprint') {
    // The answer's DTLS fingerprint changed in transit (munged SDP): ICE connects, DTLS must fail.
    answer.sdp = answer.sdp.replace(/(a=fingerprint:sha-256 )([0-9A-F]{2})/g,
      (m, p, h) => p + (h === '00' ? '01' : '00'));
  }
  await a.setRemoteDescription(answer);
  // What an app saves: pc.getStats() every 2 s (an array of RTCStats dictionaries per report), as
  // monitoring code does; the list of reports over time is returned with the page's result.
  const snapshot = async () => [...(await a.getStats()).values()];
  const snapshots = [];
  const sampler = s.getStats ? setInterval(() => snapshot().then(r => snapshots.push(r)), 2000) : null;
  if (s.mode === 'answer-twice') {
    try { await a.setRemoteDescription(answer); } catch (e) { note('answer-twice', e); }
  }
  out.gathering = await within(Promise.all([gathered(a), gathered(b)]), s.gatherMs || 10000);
  out.state = await within(settled(a), s.settleMs || 10000);
  if (s.mode === 'lost') {
    // The other side goes away mid-call without a word (a crashed tab, a dead network): consent
    // freshness (RFC 7675) fails, ICE goes disconnected, then failed; the app never restarts ICE.
    b.close();
    const failed = new Promise(res => a.addEventListener('iceconnectionstatechange',
      () => a.iceConnectionState === 'failed' && res('failed')));
    out.lost = await within(failed, s.lostMs || 45000);
  }
  await sleep(2200);  // webrtc-internals samples getStats once a second: let it see the end state
  if (sampler !== null) {
    clearInterval(sampler); snapshots.push(await snapshot()); out.getStats = snapshots;
  }
  out.connectionState = a.connectionState;
  out.iceConnectionState = a.iceConnectionState;
  return out;
}
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    expect: str  # the catalogue id `rtcdiag analyze` must give as the (first) root cause
    doc: str
    params: dict[str, Any] = field(default_factory=dict)
    turn: str = ""  # "" no TURN; "ok" right credentials; "wrong" wrong password; "dead" nothing listening
    fake_media: bool = True
    auto_accept: bool = True
    expect_exit: int = 1
    # The rtcstats dump of the same run, when it must read differently (it has no dump time, for one).
    rtcstats_expect: str | None = None
    rtcstats_exit: int | None = None
    # How the page's own pc.getStats() output is saved as {name}.getstats.json (params getStats: true):
    # "snapshots" a list of reports (each an array of RTCStats), "map" the last report as {id: stats},
    # "wrapped" {"stats": [RTCStats...]} (the last report).
    getstats_shape: str = "snapshots"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("healthy-relay", "", "relay-only call through coturn that connects",
             {"mode": "call", "audio": True, "policy": "relay", "getStats": True}, turn="ok", expect_exit=0,
             getstats_shape="wrapped"),
    Scenario("turn-wrong-password", "ANALYZE-TURN-401", "relay-only, wrong TURN password",
             {"mode": "call", "policy": "relay", "settleMs": 3000}, turn="wrong"),
    # Over UDP Chromium reports 701 "TURN allocate request timed out." only after ~40 s of retransmissions
    # (and a 701 for the STUN binding it sends to the same address); gatherMs waits for it.
    Scenario("turn-dead-port", "ANALYZE-TURN-UNREACHABLE", "relay-only, nothing listens on the TURN UDP port",
             {"mode": "call", "policy": "relay", "gatherMs": 60000, "settleMs": 2000}, turn="dead"),
    Scenario("turn-dead-tcp", "ANALYZE-TURN-UNREACHABLE", "relay-only, TURN over TCP to a closed port (701)",
             {"mode": "call", "policy": "relay", "gatherMs": 60000, "settleMs": 2000}, turn="dead-tcp"),
    # Media relayed over TCP to the TURN server: the call works, with a warning about the extra latency.
    Scenario("relay-over-tcp", "ANALYZE-RELAY-TCP", "relay-only call through coturn over TCP",
             {"mode": "call", "audio": True, "policy": "relay"}, turn="ok-tcp", expect_exit=0),
    # coturn refuses the peer (denied-peer-ip covers the other side's relay address): both sides gather a
    # relay candidate, CreatePermission is refused (403) and Chromium fails ICE within milliseconds.
    Scenario("turn-peer-acl", "ANALYZE-RELAY-REFUSED", "relay-only, coturn's ACL refuses the peer",
             {"mode": "call", "policy": "relay", "settleMs": 10000}, turn="acl"),
    # The rtcstats dump ends with the last event (ICE "new" 0.1 s after the answer) and says nothing of
    # the 12 s that followed: inconclusive there, not a verdict.
    Scenario("no-trickle", "ANALYZE-NO-REMOTE-CANDIDATES", "the app never sends its ICE candidates",
             {"mode": "no-trickle", "settleMs": 12000}, rtcstats_expect="", rtcstats_exit=3),
    # b.close() is the other side hanging up, not vanishing: a's DTLS goes "closed" (close_notify) before its
    # ICE goes disconnected and failed. That is ANALYZE-REMOTE-CLOSED (info), so what remains is this
    # machine's private-host warning. A connection really lost in the network (coturn killed mid-call):
    # turn-killed, tests/integration/analyze_dump_scenarios.py.
    Scenario("connection-lost", "ANALYZE-PRIVATE-HOST-ONLY", "the other side closes mid-call (pc.close()), "
             "this side's app never closes", {"mode": "lost", "audio": True}, expect_exit=0),
    Scenario("dtls-fingerprint", "ANALYZE-DTLS-FAILED", "answer's fingerprint changed: DTLS fails",
             {"mode": "fingerprint", "audio": True, "getStats": True}, getstats_shape="map"),
    # The call still connects (the second answer is rejected): a warning about the app, exit 0.
    Scenario("answer-twice", "ANALYZE-SDP-WRONG-STATE-STABLE", "the same answer applied twice",
             {"mode": "answer-twice", "audio": True}, expect_exit=0),
    Scenario("glare", "ANALYZE-SDP-GLARE", "both sides sent an offer at once", {"mode": "glare"}),
    Scenario("gum-no-camera", "ANALYZE-GUM-NOT-FOUND", "getUserMedia for a camera on a machine without one",
             {"mode": "gum", "constraints": {"video": True}}, fake_media=False),
    Scenario("gum-denied", "ANALYZE-GUM-NOT-ALLOWED", "getUserMedia, permission prompt denied",
             {"mode": "gum", "constraints": {"audio": True}}, auto_accept=False),
    Scenario("no-ice-servers-mdns", "ANALYZE-MDNS-ONLY", "no ICE servers, no media permission: mDNS hosts",
             {"mode": "call", "settleMs": 8000}, auto_accept=False, expect_exit=0),
    # Both sides DTLS server (a=setup munged on the way): ICE connects, DTLS never starts.
    Scenario("dtls-stuck", "ANALYZE-DTLS-STUCK", "a=setup munged: both sides passive, DTLS stays connecting",
             {"mode": "dtls-stuck", "audio": True, "settleMs": 12000, "getStats": True}),
    # Media permission granted (no mDNS), no ICE servers: only this machine's private/ULA host addresses.
    # The answer's H.264 packetization-mode munged from 1 to 0: Chromium applies it; the SDP says why video
    # would not decode. Its offer and answer are also saved as SDP files.
    Scenario("h264-mismatch", "ANALYZE-H264-MISMATCH", "answer's H.264 packetization-mode changed in transit",
             {"mode": "h264", "video": True}),
    # The answer rejects m=application: the call connects (audio), the data channel can never open
    # (Chromium closes it; it leaves the stats, so the SDP and the createDataChannel call are the evidence).
    Scenario("datachannel-rejected", "ANALYZE-DATACHANNEL-REJECTED", "the answer rejected m=application",
             {"mode": "sctp-reject", "audio": True}),
    Scenario("private-host", "ANALYZE-PRIVATE-HOST-ONLY", "no ICE servers: private host candidates only",
             {"mode": "call", "audio": True, "settleMs": 8000, "getStats": True}, expect_exit=0),
)
BY_NAME = {s.name: s for s in SCENARIOS}


def fixture_path(name: str) -> Path:
    return FIXTURES / f"{name}.webrtc-internals.json.gz"


def rtcstats_path(name: str) -> Path:
    return FIXTURES / f"{name}.rtcstats.gz"


def _dead_port() -> int:
    """A loopback port nothing listens on (UDP: ICMP port unreachable; TCP: RST), found by binding a TCP
    socket to port 0 and closing it (a TCP port free then is almost always free for UDP as well)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def _coturn(turn: str) -> Iterator[RunningCoturn | None]:
    if turn not in ("ok", "ok-tcp", "wrong", "acl"):
        yield None
        return
    denied = ("127.0.0.0-127.255.255.255",) if turn == "acl" else ()
    options = CoturnOptions(users={TURN_USER: TURN_PASSWORD}, allow_loopback_peers=True,
                            denied_peer_ips=denied)
    with start_coturn(options) as server:
        yield server


def _servers(scenario: Scenario, coturn: RunningCoturn | None) -> list[dict[str, Any]]:
    if scenario.turn in ("dead", "dead-tcp"):
        transport = "udp" if scenario.turn == "dead" else "tcp"
        return [{"urls": f"turn:127.0.0.1:{_dead_port()}?transport={transport}", "username": TURN_USER,
                 "credential": TURN_PASSWORD}]
    if coturn is None:
        return []
    password = "wrong-" + TURN_PASSWORD[::-1] if scenario.turn == "wrong" else TURN_PASSWORD
    url = f"turn:{coturn.hostport()}?transport={'tcp' if scenario.turn == 'ok-tcp' else 'udp'}"
    return [{"urls": url, "username": TURN_USER, "credential": password}]


async def generate(scenario: Scenario) -> BrowserRun:
    """Run one scenario in a fresh Chromium (and a fresh coturn when it needs one)."""
    with _coturn(scenario.turn) as coturn:
        params = {**scenario.params, "servers": _servers(scenario, coturn)}
        options = BrowserOptions(fake_media=scenario.fake_media, auto_accept=scenario.auto_accept)
        return await run_script(PAGE_SCRIPT, params, options)


def getstats_path(name: str) -> Path:
    return FIXTURES / f"{name}.getstats.json"


def save_getstats(scenario: Scenario, run: BrowserRun, directory: Path = FIXTURES) -> Path | None:
    """The page's own pc.getStats() output, shaped as an app would save it (see Scenario.getstats_shape)."""
    import json

    snapshots = run.result.get("getStats") if isinstance(run.result, dict) else None
    if not snapshots:
        return None
    shaped: Any = snapshots
    if scenario.getstats_shape == "map":
        shaped = {stats["id"]: stats for stats in snapshots[-1]}
    elif scenario.getstats_shape == "wrapped":
        shaped = {"stats": snapshots[-1]}
    text = json.dumps(shaped, separators=(",", ":"))
    if TURN_PASSWORD in text or TURN_PASSWORD[::-1] in text:
        raise SystemExit(f"{scenario.name}: the getStats output contains the TURN password; not saved")
    path = directory / getstats_path(scenario.name).name
    path.write_text(text + "\n")
    return path


def save(scenario: Scenario, run: BrowserRun, directory: Path = FIXTURES) -> Path:
    import gzip

    for blob in (run.internals_dump, run.rtcstats_dump):
        text = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        if TURN_PASSWORD.encode() in text or TURN_PASSWORD[::-1].encode() in text:
            raise SystemExit(f"{scenario.name}: the dump contains the TURN password; not saved")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / fixture_path(scenario.name).name
    path.write_bytes(run.internals_dump)
    (directory / f"{scenario.name}.rtcstats.gz").write_bytes(run.rtcstats_dump)
    return path


def main(names: list[str]) -> int:
    """``--getstats-only``: save only the getStats files (the dumps already committed stay as they are).
    ``--matrix [CELL...]``: make the ground-truth matrix instead (tests/browser/matrix.py, root needed)."""
    if names[:1] == ["--matrix"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from matrix import main as matrix_main

        return matrix_main(names[1:])
    only_getstats = "--getstats-only" in names
    names = [n for n in names if n != "--getstats-only"]
    chosen = [BY_NAME[n] for n in names] if names else list(SCENARIOS)
    for scenario in chosen:
        run = asyncio.run(generate(scenario))
        stats_path = save_getstats(scenario, run)
        if only_getstats:
            print(f"{scenario.name}: getStats {stats_path}, page said {run.result.get('state')}")
            continue
        path = save(scenario, run)
        for kind in ("offer", "answer"):
            if isinstance(run.result, dict) and isinstance(run.result.get(kind), str):
                (FIXTURES / f"{scenario.name}.{kind}.sdp").write_text(run.result[kind])
        said = ({k: v for k, v in run.result.items() if k not in ("getStats", "offer", "answer")}
                if isinstance(run.result, dict)
                else run.result)
        print(f"{scenario.name}: {path.stat().st_size} bytes, page said {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

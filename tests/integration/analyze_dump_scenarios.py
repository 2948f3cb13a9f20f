"""Real Chromium calls for the dump-side verdicts of ``rtcdiag analyze`` (issue 19): the URL spellings apps
really write (``turn:host:port`` with no ``?transport=``, several URLs in one iceServers entry, stun and turn
mixed), a TURN refusal on the callee only, ``turns:`` with a self-signed certificate, and the healthy events
a call goes through (ICE restart, renegotiation, the callee closing, the callee's page going away).

    .venv/bin/python tests/integration/analyze_dump_scenarios.py [NAME...]   # writes tests/fixtures/analyze/

Each call is two RTCPeerConnections in one page of Debian's headless Chromium (driven by
``rtcdiag.probes.browser.run_script``, as tests/browser/make_fixtures.py does) against a coturn on loopback.
Saved per scenario: the webrtc-internals dump and the rtcstats dump as Chromium downloaded them (gzip), the
page's own getStats output when asked for, and ``{name}.truth.json``: the **ground truth** the page itself saw
(each side's connectionState / iceConnectionState transitions, its icecandidateerror events, data-channel
messages received) and what coturn logged about allocations. The dumps are checked for the TURN password by
make_fixtures.save (it refuses to save one that holds it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn
from rtcdiag.probes.browser import BrowserOptions, BrowserRun, run_script

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from make_fixtures import FIXTURES, TURN_PASSWORD, TURN_USER
from make_fixtures import Scenario as FixtureScenario
from make_fixtures import save as save_dumps

# a: caller, b: callee (in an iframe for "iframe-close": removing it is the callee's page going away).
# Ground truth is recorded by the page itself; every wait is bounded.
PAGE = r"""
async (s) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  const out = {errors: [], states: {a: [], b: []}, candidateErrors: {a: [], b: []}, received: 0,
               candidates: {a: [], b: []}};
  const note = (what, e) => out.errors.push(what + ': ' + (e && e.name) + ': ' + (e && e.message));
  let B = RTCPeerConnection, frame = null;
  if (s.mode === 'iframe-close') {
    frame = document.createElement('iframe');
    const loaded = new Promise(r => { frame.onload = r; });
    frame.src = location.href;
    document.body.appendChild(frame);
    await loaded;
    B = frame.contentWindow.RTCPeerConnection;
  }
  const cfg = servers => ({iceServers: servers || [], iceTransportPolicy: s.policy || 'all'});
  const a = new RTCPeerConnection(cfg(s.serversA)), b = new B(cfg(s.serversB || s.serversA));
  const t0 = performance.now();
  const since = () => Math.round(performance.now() - t0);
  for (const [name, pc] of [['a', a], ['b', b]]) {
    pc.addEventListener('connectionstatechange',
      () => out.states[name].push(['connection', pc.connectionState, since()]));
    pc.addEventListener('iceconnectionstatechange',
      () => out.states[name].push(['ice', pc.iceConnectionState, since()]));
    pc.addEventListener('icecandidateerror',
      e => out.candidateErrors[name].push([e.url, e.errorCode, e.errorText, since()]));
    pc.addEventListener('icecandidate', e => {
      if (e.candidate && out.candidates[name].length < 50)
        out.candidates[name].push([e.candidate.type, e.candidate.protocol, e.candidate.relayProtocol || '',
                                   e.url || '', since()]);
    });
  }
  const gathered = pc => new Promise(res => {
    const check = () => { if (pc.iceGatheringState === 'complete') res('complete'); };
    pc.addEventListener('icegatheringstatechange', check); check();
  });
  const state = (pc, wanted) => new Promise(res => {
    const check = () => { if (wanted.includes(pc.connectionState)) res(pc.connectionState); };
    pc.addEventListener('connectionstatechange', check); check();
  });
  const iceState = (pc, wanted) => new Promise(res => {
    const check = () => { if (wanted.includes(pc.iceConnectionState)) res(pc.iceConnectionState); };
    pc.addEventListener('iceconnectionstatechange', check); check();
  });
  // Trickle both ways, after the remote description is set (candidates that come earlier wait).
  const pending = {a: [], b: []};
  const deliver = (to, key, c) => {
    if (to.remoteDescription) to.addIceCandidate(c).catch(e => note(key + '.addIceCandidate', e));
    else pending[key].push(c);
  };
  const flush = (to, key) => { pending[key].splice(0).forEach(c => deliver(to, key, c)); };
  if (s.mode !== 'quota') a.onicecandidate = e => { if (e.candidate) deliver(b, 'b', e.candidate.toJSON()); };
  b.onicecandidate = e => { if (e.candidate) deliver(a, 'a', e.candidate.toJSON()); };
  b.ondatachannel = e => { e.channel.onmessage = () => { out.received += 1; }; };
  if (s.audio) {
    const mic = await navigator.mediaDevices.getUserMedia({audio: true});
    mic.getTracks().forEach(t => a.addTrack(t, mic));
  }
  const dc = a.createDataChannel('rtcdiag');
  const negotiate = async () => {
    await a.setLocalDescription();
    // quota: a allocates first, so b's Allocate is the one over the quota
    if (s.mode === 'quota') await within(gathered(a), 10000);
    await b.setRemoteDescription({type: 'offer', sdp: a.localDescription.sdp});
    flush(b, 'b');
    await b.setLocalDescription();
    await a.setRemoteDescription({type: 'answer', sdp: b.localDescription.sdp});
    flush(a, 'a');
  };
  try { await negotiate(); } catch (e) { note('negotiate', e); }
  // What an app saves: the caller's pc.getStats() every 2 s while the call runs (a list of reports).
  const snapshots = [];
  const sample = async () => {
    if (snapshots.length < 60) snapshots.push([...(await a.getStats()).values()]);
  };
  const sampler = s.getStats ? setInterval(sample, 2000) : null;
  const opened = () => new Promise(r => {
    if (dc.readyState === 'open') r('open');
    dc.onopen = () => r('open');
  });
  const talk = async n => {
    for (let i = 0; i < n && dc.readyState === 'open'; i++) { dc.send('x'); await sleep(100); }
  };
  out.first = await within(state(a, ['connected', 'failed']), s.settleMs || 10000);
  out.dc = await within(opened(), out.first === 'connected' ? 5000 : 10);
  await talk(10);
  if (s.mode === 'restart') {
    // ICE restart in the middle of a good call (restartIce + a new offer): new ufrag, new candidates.
    a.restartIce();
    try { await negotiate(); } catch (e) { note('restart', e); }
    await sleep(3000);
    await talk(10);
  } else if (s.mode === 'renegotiate') {
    // A track added later (the user turns the microphone on): a second offer/answer, same transport.
    const mic = await navigator.mediaDevices.getUserMedia({audio: true});
    mic.getTracks().forEach(t => a.addTrack(t, mic));
    try { await negotiate(); } catch (e) { note('renegotiate', e); }
    await sleep(2000);
    await talk(10);
  } else if (s.mode === 'callee-close') {
    b.close();  // the callee hangs up (its app closes its peer connection); a's app is not told
    await sleep(s.afterMs || 8000);
  } else if (s.mode === 'iframe-close') {
    frame.remove();  // the callee's page goes away: the browser closes its peer connection
    out.after = await within(iceState(a, ['failed']), s.afterMs || 40000);
  } else if (s.mode === 'hold') {
    out.ready = true;  // the generator kills coturn now (by PID); a's ICE must fail
    out.after = await within(iceState(a, ['failed']), s.afterMs || 45000);
  } else {
    await sleep(1500);
  }
  await sleep(2200);  // webrtc-internals samples getStats once a second: let it see the end state
  if (sampler !== null) { clearInterval(sampler); await sample(); out.getStats = snapshots; }
  out.final = {a: [a.connectionState, a.iceConnectionState], b: [b.connectionState, b.iceConnectionState]};
  return out;
}
"""


@dataclass(frozen=True)
class Call:
    name: str
    doc: str
    mode: str = "call"  # call, quota, restart, renegotiate, callee-close, iframe-close, hold
    policy: str = "relay"
    # The caller's and the callee's iceServers: "{turn}" is coturn's host:port, "{port}" its port, "{tls}"
    # its TLS port, "{dead}" a port nothing listens on; TURN entries get the user and the password (a wrong
    # one with wrong_a / wrong_b).
    servers_a: tuple[tuple[str, ...], ...] = (("turn:{turn}",),)
    servers_b: tuple[tuple[str, ...], ...] | None = None
    wrong_a: bool = False
    wrong_b: bool = False
    audio: bool = True
    get_stats: bool = False
    coturn: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # Where coturn listens: loopback, or this machine's own first global IPv4 address ("host"). With
    # iceTransportPolicy "all" Chromium gathers on the machine's interfaces only and never reaches a server
    # on 127.0.0.1 from them (no relay, no srflx and no error: seen on this machine); the packets still never
    # leave this host.
    listen: str = "loopback"
    # What ``rtcdiag analyze`` must say: the root-cause ids and exit code from the webrtc-internals and
    # rtcstats dumps; ``getstats_exit`` when the getStats output must read otherwise (3: it cannot tell,
    # never a contradiction).
    expect: tuple[str, ...] = ()
    expect_exit: int = 0
    getstats_exit: int | None = None
    long: bool = False  # outlasts the 30 s consent timeout: live only with RTCDIAG_BROWSER_ALL=1


CALLS: tuple[Call, ...] = (
    Call("healthy-relay-plain-url", "relay-only call, iceServers turn:host:port (no ?transport=)",
         get_stats=True),
    Call("healthy-relay-hostname", "relay-only call, turn:localhost:port (a name, no ?transport=)",
         servers_a=(("turn:localhost:{port}",),)),
    Call("healthy-relay-ipv6", "relay-only call, turn:[::1]:port (an IPv6 literal, no ?transport=)",
         servers_a=(("turn:{turn}",),), listen="loopback6", coturn={"relay_ips": ("127.0.0.1", "::1")}),
    # The same with coturn relaying on ::1 only: Chromium asks for an IPv4 relay (RFC 8656 §7.2: no
    # REQUESTED-ADDRESS-FAMILY) and coturn refuses it, 440.
    Call("turn-ipv6-family-440", "relay-only, turn:[::1]:port, coturn relays on ::1 only: 440",
         servers_a=(("turn:{turn}",),), listen="loopback6", params={"settleMs": 4000},
         expect=("ANALYZE-TURN-ERROR",), expect_exit=1),
    Call("mixed-urls-relay", "relay-only; one iceServers entry with stun:, turn: and turn:?transport=tcp",
         servers_a=(("stun:{turn}", "turn:{turn}", "turn:{turn}?transport=tcp"),)),
    Call("turn-wrong-password-plain-url", "relay-only call, turn:host:port, wrong password",
         wrong_a=True, wrong_b=True, params={"settleMs": 4000}, expect=("ANALYZE-TURN-401",), expect_exit=1),
    Call("mixed-urls", "one iceServers entry with stun:, turn: and TURN:?transport=tcp (upper case); "
         "policy all", policy="all", listen="host",
         servers_a=(("stun:{turn}", "turn:{turn}", "TURN:{turn}?transport=tcp"),)),
    # The caller's offer has two m-lines: before BUNDLE is agreed it allocates on both transports. Its
    # getStats output has no signalling and no candidate error: it cannot tell why (inconclusive).
    Call("callee-quota-486", "relay-only; the caller allocates first (twice: two m-lines before BUNDLE), the "
         "callee's Allocate is over user-quota 2 (486): the caller never gets a remote candidate",
         mode="quota", coturn={"user_quota": 2}, params={"settleMs": 8000}, get_stats=True,
         expect=("ANALYZE-TURN-486",), expect_exit=1, getstats_exit=3),
    Call("quota-486-both", "relay-only, user-quota 1: the caller's second Allocate and the callee's are "
         "refused (486); the caller keeps one relay candidate and gets no remote one",
         mode="quota", coturn={"user_quota": 1}, params={"settleMs": 8000},
         expect=("ANALYZE-TURN-486",), expect_exit=1),
    Call("turns-self-signed", "relay-only, turns: to a coturn whose certificate is self-signed",
         servers_a=(("turns:127.0.0.1:{tls}",),), coturn={"self_signed": True}, params={"settleMs": 8000},
         get_stats=True, expect=("ANALYZE-TURNS-CONNECT-FAILED",), expect_exit=1, getstats_exit=3),
    Call("turns-dead-port", "relay-only, turns: to a port nothing listens on",
         servers_a=(("turns:127.0.0.1:{dead}",),), params={"settleMs": 8000},
         expect=("ANALYZE-TURNS-CONNECT-FAILED",), expect_exit=1),
    Call("ice-restart", "relay-only call, ICE restart mid-call (restartIce + new offer); stays connected",
         get_stats=True, mode="restart"),
    Call("renegotiate", "data-channel call, a microphone track added later (second offer/answer)",
         mode="renegotiate", audio=False, policy="all", listen="host",
         servers_a=(("stun:{turn}", "turn:{turn}"),)),
    Call("callee-close", "relay-only call; the callee calls pc.close() after a good call; the dump 8 s later",
         mode="callee-close", get_stats=True),
    Call("callee-page-closed", "relay-only call; the callee's page (an iframe) goes away; the caller's ICE "
         "fails after the consent timeout", mode="iframe-close", get_stats=True, long=True),
    Call("turn-killed", "relay-only call; coturn is killed (SIGKILL, by PID) mid-call: the connection is "
         "really lost (no DTLS close from anybody)", mode="hold", get_stats=True, long=True,
         expect=("ANALYZE-CONNECTION-LOST",), expect_exit=1),
)
BY_NAME = {c.name: c for c in CALLS}


def _dead_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _host_address() -> str:
    """This machine's first global IPv4 address (``ip -4 -o addr show scope global``)."""
    import subprocess

    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True, check=True, timeout=10).stdout
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    raise RuntimeError("no global IPv4 address on this machine")


@contextlib.contextmanager
def _coturn(call: Call) -> Iterator[RunningCoturn | None]:
    uses = any(f"{{{name}}}" in u for e in (*call.servers_a, *(call.servers_b or ())) for u in e
               for name in ("turn", "tls", "port"))
    if not uses:
        yield None
        return
    ips = {"loopback": ("127.0.0.1",), "loopback6": ("::1",)}.get(call.listen) or (_host_address(),)
    options = CoturnOptions(users={TURN_USER: TURN_PASSWORD}, allow_loopback_peers=True, verbose=True,
                            listening_ips=ips, **call.coturn)
    with start_coturn(options) as server:
        yield server


def _servers(entries: tuple[tuple[str, ...], ...], coturn: RunningCoturn | None, dead: int,
             wrong: bool) -> list[dict[str, Any]]:
    password = "wrong-" + TURN_PASSWORD[::-1] if wrong else TURN_PASSWORD
    values = {"turn": coturn.hostport() if coturn else "", "tls": coturn.tls_port if coturn else "",
              "port": coturn.port if coturn else "", "dead": dead}
    out: list[dict[str, Any]] = []
    for entry in entries:
        urls = [u.format(**values) for u in entry]
        server: dict[str, Any] = {"urls": urls if len(urls) > 1 else urls[0]}
        if any(u.lower().startswith("turn") for u in urls):
            server |= {"username": TURN_USER, "credential": password}
        out.append(server)
    return out


def _allocations(coturn: RunningCoturn | None) -> dict[str, int]:
    """What coturn logged: allocations made and refused (its own words counted)."""
    if coturn is None:
        return {}
    text = coturn.log_path.read_text(errors="replace")
    return {"allocate success": text.count("ALLOCATE processed, success"),
            "allocate error": text.count("ALLOCATE processed, error"),
            # a wrong password: coturn says "user <name>: incoming packet message processed, error 401"
            "authenticated 401": sum(1 for line in text.splitlines()
                                     if f"user <{TURN_USER}>" in line and "error 401" in line),
            "channel bind success": text.count("CHANNEL_BIND processed, success")}


async def generate(call: Call) -> tuple[BrowserRun, dict[str, Any]]:
    """Run one call in a fresh Chromium against a fresh coturn; (the run, the ground truth)."""
    with _coturn(call) as coturn:
        dead = _dead_port()
        params = {**call.params, "mode": call.mode, "policy": call.policy, "audio": call.audio,
                  "getStats": call.get_stats,
                  "serversA": _servers(call.servers_a, coturn, dead, call.wrong_a),
                  "serversB": _servers(call.servers_b or call.servers_a, coturn, dead, call.wrong_b)}
        task = asyncio.create_task(run_script(PAGE, params, BrowserOptions(timeout_s=120)))
        killed = False
        if call.mode == "hold" and coturn is not None:
            deadline = time.monotonic() + 30
            while (coturn.log_path.read_text(errors="replace").count("CHANNEL_BIND processed, success") < 2
                   and time.monotonic() < deadline and not task.done()):
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # two seconds of relayed media
            if not task.done():
                os.kill(coturn.pid, signal.SIGKILL)  # the coturn this script started, by PID
                killed = True
        run = await task
        result = run.result if isinstance(run.result, dict) else {}
        truth = {k: v for k, v in result.items() if k != "getStats"}
        truth |= {"coturn": _allocations(coturn), "coturn_killed": killed, "user_agent": run.user_agent,
                  "doc": call.doc}
        return run, truth


def save(call: Call, run: BrowserRun, truth: dict[str, Any], directory: Path = FIXTURES) -> Path:
    """The two dumps (refused when they hold the TURN password), the getStats output, the ground truth."""
    path = save_dumps(FixtureScenario(call.name, "", call.doc), run, directory)
    snapshots = run.result.get("getStats") if isinstance(run.result, dict) else None
    if snapshots:
        text = json.dumps(snapshots, separators=(",", ":"))
        if TURN_PASSWORD in text or TURN_PASSWORD[::-1] in text:
            raise SystemExit(f"{call.name}: the getStats output contains the TURN password; not saved")
        packed = gzip.compress(text.encode() + b"\n", mtime=0)
        (directory / f"{call.name}.getstats.json.gz").write_bytes(packed)
    (directory / f"{call.name}.truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    return path


def main(args: list[str]) -> int:
    """``--out DIR``: write there instead of tests/fixtures/analyze/."""
    directory = FIXTURES
    if "--out" in args:
        at = args.index("--out")
        directory = Path(args[at + 1])
        args = args[:at] + args[at + 2:]
    chosen = [BY_NAME[n] for n in args] if args else list(CALLS)
    for call in chosen:
        started = time.monotonic()
        run, truth = asyncio.run(generate(call))
        path = save(call, run, truth, directory)
        print(f"{call.name}: {path.stat().st_size} bytes in {time.monotonic() - started:.0f} s; "
              f"a: {truth.get('states', {}).get('a')}; errors {truth.get('candidateErrors')}; "
              f"page errors {truth.get('errors')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

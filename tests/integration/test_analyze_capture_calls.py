"""`rtcdiag analyze` on captures of real Chromium 156 calls whose shape the older calls never had (issue 19).

Every packet is Chromium's, coturn's or openssl's: tcpdump on loopback while Debian's headless Chromium
(Playwright, ``executable_path``) runs two RTCPeerConnections in one page. Ground truth is what the page
itself saw (connection states, data-channel echoes, the selected candidate pair of each side from its own
getStats, the DTLS version it negotiated) and coturn's log of the same run.

- a data-channel-only call: DTLS 1.3 (RFC 9147) and no SRTP at all, so only the unified-header records say
  that data flowed;
- a dual-stack call whose two directions take different paths (a's candidates signalled to b only over
  IPv6, b's to a only over IPv4): the ClientHello on one 5-tuple, the ServerHello on another;
- ``turns:`` to a coturn with a self-signed certificate (Chromium refuses it: the page sees 701), the capture
  and coturn's log of the same run; the same refusal against a TLS 1.3 server (openssl s_server, since this
  coturn 4.6.1 negotiates TLS 1.2 only); and a ``turns:`` call whose certificate Chromium accepts;
- an ICE restart that keeps the call; the callee gone without a word (capture stopped 17 s later); the
  callee's allocation deleted by coturn itself (its admin CLI, ``cs``) while both pages live.

Host-candidate calls use this machine's own non-loopback addresses (Chromium gathers no loopback candidate):
packets to a local address never leave the host. Their capture is taken on ``lo`` for those addresses and
then cut down to the call's own ports (from the candidates the page logged), so other tests' traffic stays
out. The calls that last longer than ~20 s run live with RTCDIAG_BROWSER_ALL=1; their real captures are
committed (RTCDIAG_SAVE_CAPTURES=1 remakes them) and judged on every run in test_analyze_capture_fixtures.py.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
LONG = pytest.mark.skipif(not os.environ.get("RTCDIAG_BROWSER_ALL"),
                          reason="a call of more than 20 s (RTCDIAG_BROWSER_ALL=1 runs it live); its "
                                 "committed real capture is checked in test_analyze_capture_fixtures.py")
# The default run makes one capture call live (test_analyze_capture_browser.py's healthy call); these calls
# run live with RTCDIAG_BROWSER_ALL=1, and their committed real captures are judged with the same assertions
# on every run (the suite must stay quick on a shared 2-core machine).
SAMPLED = opt_in("test_analyze_capture_browser.py's healthy call", "test_analyze_capture_fixtures.py")
Factory = Callable[[CoturnOptions], RunningCoturn]
USER, PASSWORD = "caller", "chromium-calls-pw"

# a: caller (data channel; with s.audio a fake microphone too), b: callee, in one page. s.keepA / s.keepB:
# "v4" or "v6": only those of a's (b's) candidates are signalled to the other side. Modes: "call" (messages
# echoed, then a short tail), "hang-up" (b closes, a does not, then s.afterMs), "hold" (after the
# messages, wait until a's ICE leaves "connected", then s.afterMs: the test acts meanwhile), "hangup" (b
# closes, a closes a second later, then s.afterMs of capture), "restart"
# (restartIce() and a new offer/answer mid-call, then more messages).
PAGE = r"""
async (s) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  const a = new RTCPeerConnection({iceServers: s.servers, iceTransportPolicy: s.policy});
  const b = new RTCPeerConnection({iceServers: s.servers, iceTransportPolicy: s.policy});
  const out = {candidates: [], errors: []};
  const keep = (c, family) => !family || (family === 'v6') === (c.address || '').includes(':');
  const signal = (from, to, family, name) => from.onicecandidate = e => {
    if (!e.candidate) return;
    out.candidates.push(name + ' ' + e.candidate.candidate);
    if (keep(e.candidate, family)) to.addIceCandidate(e.candidate);
  };
  signal(a, b, s.keepA, 'a'); signal(b, a, s.keepB, 'b');
  a.onicecandidateerror = e => out.errors.push(`a ${e.url} ${e.errorCode}`);
  b.onicecandidateerror = e => out.errors.push(`b ${e.url} ${e.errorCode}`);
  const media = await navigator.mediaDevices.getUserMedia({audio: true});  // real host addresses, no mDNS
  if (s.audio) a.addTransceiver(media.getTracks()[0], {direction: 'sendrecv', streams: [media]});
  else media.getTracks().forEach(t => t.stop());
  const dc = a.createDataChannel('rtcdiag');
  let echoed = 0;
  b.ondatachannel = e => { e.channel.onmessage = m => e.channel.send(m.data); };
  dc.onmessage = () => echoed++;
  const negotiate = async () => {
    await a.setLocalDescription(); await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(); await a.setRemoteDescription(b.localDescription);
  };
  await negotiate();
  const state = (pc, wanted, ms) => within(new Promise(res => {
    const c = () => { if (wanted.includes(pc.iceConnectionState)) res(pc.iceConnectionState); };
    pc.addEventListener('iceconnectionstatechange', c); c();
  }), ms);
  out.connection = await within(new Promise(res => {
    const c = () => { if (['connected', 'failed'].includes(a.connectionState)) res(a.connectionState); };
    a.addEventListener('connectionstatechange', c); c();
  }), 15000);
  out.dc = await within(new Promise(r => {
    if (dc.readyState === 'open') r('open'); dc.onopen = () => r('open');
  }), 5000);
  const send = async n => {
    for (let i = 0; i < n && dc.readyState === 'open'; i++) { dc.send('x'.repeat(100)); await sleep(60); }
    await sleep(300);
  };
  await send(s.messages);
  out.echoed = echoed;
  const selected = async pc => {  // the pair each side itself sends on, and its DTLS, from its own stats
    const stats = await pc.getStats(); let t = null;
    stats.forEach(r => { if (r.type === 'transport') t = r; });
    if (!t) return null;
    const pair = stats.get(t.selectedCandidatePairId);
    const at = id => {
      const c = id && stats.get(id); return c ? `${c.address}:${c.port} ${c.candidateType}` : '';
    };
    return {local: pair ? at(pair.localCandidateId) : '', remote: pair ? at(pair.remoteCandidateId) : '',
            tls: t.tlsVersion || '', dtlsState: t.dtlsState, dtlsRole: t.dtlsRole || ''};
  };
  out.a = await selected(a); out.b = await selected(b);
  out.ufrags = [a, b].map(pc => ((pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1]));
  if (s.mode === 'restart') {
    a.restartIce(); await negotiate();
    out.ufragsAfter = [a, b].map(pc => ((pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1]));
    out.restarted = await state(a, ['connected', 'completed', 'failed'], 10000);
    const before = echoed;
    await send(s.messages);
    out.echoedAfterRestart = echoed - before;
    await sleep(4000);  // consent checks on the new pair only (RFC 7675: every ~5 s)
  } else if (s.mode === 'hangup') {  // the app hangs up: the callee first, the caller a second later,
    // while another call through the same server goes on (so the capture runs on after the first)
    const c = new RTCPeerConnection({iceServers: s.servers, iceTransportPolicy: s.policy});
    const d = new RTCPeerConnection({iceServers: s.servers, iceTransportPolicy: s.policy});
    c.onicecandidate = e => e.candidate && d.addIceCandidate(e.candidate);
    d.onicecandidate = e => e.candidate && c.addIceCandidate(e.candidate);
    d.ondatachannel = e => { e.channel.onmessage = m => e.channel.send(m.data); };
    const other = c.createDataChannel('other');
    let otherEchoed = 0;
    other.onmessage = () => otherEchoed++;
    await c.setLocalDescription(); await d.setRemoteDescription(c.localDescription);
    await d.setLocalDescription(); await c.setRemoteDescription(d.localDescription);
    await within(new Promise(r => { other.onopen = () => r('open'); }), 10000);
    b.close(); await sleep(1000); a.close();
    out.closed = [a.connectionState, b.connectionState];
    const until = Date.now() + s.afterMs;
    while (Date.now() < until && other.readyState === 'open') { other.send('y'); await sleep(500); }
    out.otherEchoed = otherEchoed;
    c.close(); d.close();
  } else if (s.mode === 'hang-up') {
    b.close();
    out.lost = await state(a, ['disconnected', 'failed'], 10000);
    await sleep(s.afterMs);
  } else if (s.mode === 'hold') {
    out.lost = await state(a, ['disconnected', 'failed'], 30000);
    await sleep(s.afterMs);
  } else {
    await sleep(1000);
  }
  out.ice = a.iceConnectionState;
  return out;
}
"""


@dataclass
class Call:
    capture: Path
    page: dict[str, Any]
    log: Path | None = None  # coturn's log of the same run
    server_port: int = 0


def _page(params: dict[str, Any], *extra_args: str) -> Awaitable[Any]:
    defaults = {"servers": [], "policy": "relay", "messages": 30, "mode": "call", "afterMs": 0}
    options = BrowserOptions(rtcstats_dump=False, timeout_s=120, extra_args=extra_args)
    return run_script(PAGE, {**defaults, **params}, options)


def _relay_call(factory: Factory, tmp: Path, name: str, url: str = "turn:127.0.0.1:{port}?transport=udp",
                during: Callable[[RunningCoturn, asyncio.Task[Any]], Awaitable[None]] | None = None,
                extra_args: tuple[str, ...] = (), **params: Any) -> Call:
    """A call through a real coturn (relay only unless told), captured on loopback (coturn's ports and
    relay range). ``during``: run while the page runs (the test's mid-call action)."""
    lo, hi = relay_range()
    options = CoturnOptions(users={USER: PASSWORD}, verbose=True, min_relay_port=lo, max_relay_port=hi,
                            self_signed="turns:" in url, **params.pop("coturn", {}))
    server = factory(options)
    capture = tmp / f"{name}.pcap"
    servers = [{"urls": url.format(port=server.port, tls_port=server.tls_port), "username": USER,
                "credential": PASSWORD}]

    async def run() -> Any:
        task = asyncio.create_task(_page({"servers": servers, **params}, *extra_args))
        if during is not None:
            await during(server, task)
        return (await task).result

    ports = [server.port] + ([server.tls_port] if server.tls_port else [])
    with tcpdump(capture, ports, [(lo, hi)], host="127.0.0.1"):
        page = asyncio.run(run())
    log = tmp / f"{name}.log"
    _wait_for(lambda: server.log_path.read_text(errors="replace").count("closed (2nd stage)") >= 2, 5.0)
    shutil.copy(server.log_path, log)
    call = Call(capture, page, log, server.port)
    _save(name, call)
    return call


def _host_addresses() -> tuple[str, str] | None:
    """A non-loopback IPv4 and a global or unique-local IPv6 address of this machine (Chromium gathers host
    candidates on them), or None."""
    try:
        proc = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=10)
        found = [a["local"] for link in json.loads(proc.stdout) for a in link.get("addr_info", [])]
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        return None
    ips = [ipaddress.ip_address(a) for a in found]
    v4 = [str(ip) for ip in ips if ip.version == 4 and not ip.is_loopback]
    v6 = [str(ip) for ip in ips if ip.version == 6 and not ip.is_loopback and not ip.is_link_local]
    return (v4[0], v6[0]) if v4 and v6 else None


def _host_call(tmp: Path, name: str, addresses: tuple[str, str], **params: Any) -> Call:
    """A call on host candidates only (no ICE server), captured on lo for this machine's two addresses,
    then cut to the ports of the call's own candidates."""
    raw, capture = tmp / f"{name}.raw.pcap", tmp / f"{name}.pcap"
    with tcpdump(raw, [], extra=f"host {addresses[0]} or host {addresses[1]}"):
        page = asyncio.run(_page({"policy": "all", **params})).result
    ports = sorted({int(p) for line in page["candidates"] for p in re.findall(r" (\d+) typ host", line)})
    assert ports, page["candidates"]
    only_the_call = " or ".join(f"udp port {p}" for p in ports)
    subprocess.run(["tcpdump", "-r", str(raw), "-w", str(capture), only_the_call], check=True,
                   capture_output=True, timeout=60)
    call = Call(capture, page)
    _save(name, call)
    return call


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def _save(name: str, call: Call) -> None:
    """RTCDIAG_SAVE_CAPTURES=1: the committed fixtures are remade from this run (no credential is in them:
    TURN carries the user name and MESSAGE-INTEGRITY, never the password)."""
    if not os.environ.get("RTCDIAG_SAVE_CAPTURES"):
        return
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / f"{name}.pcap.gz").write_bytes(gzip.compress(call.capture.read_bytes(), mtime=0))
    meta: dict[str, Any] = {"server_port": call.server_port, "page": call.page}
    if call.log is not None:
        lines = [line for line in call.log.read_text(errors="replace").splitlines()
                 if "session" in line or "connected to" in line]  # what the judge reads, not the set-up
        (FIXTURES / f"{name}.log.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    (FIXTURES / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def report_of(*files: Path) -> tuple[int, dict[str, Any]]:
    proc = analyze([*(str(f) for f in files), "--json"])
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def ids(report: dict[str, Any]) -> list[str]:
    return [f["id"] for f in report["findings"]]


def sessions(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in report["results"]["captures"][0]["sessions"] if s["agents"]]


def _tshark(capture: Path, display_filter: str, *fields: str,
            decode: tuple[str, ...] = ()) -> list[list[str]]:
    argv = ["tshark", "-r", str(capture), *decode, "-Y", display_filter, "-T", "fields"]
    for name in fields or ("frame.number",):
        argv += ["-e", name]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return [line.split("\t") for line in proc.stdout.splitlines()]


# ---- checks shared with the committed captures (test_analyze_capture_fixtures.py) -------------------------

def check_data_channel_call(capture: Path, page: dict[str, Any]) -> None:
    """DTLS 1.3 without SRTP: the unified-header records both ways are the data; exit 0, nothing said."""
    assert page["connection"] == "connected" and page["echoed"] == 30, page
    assert page["a"]["tls"] == "FEFC" and page["b"]["tls"] == "FEFC"  # both sides say DTLS 1.3
    code, report = report_of(capture)
    assert code == 0 and ids(report) == [], report["findings"]
    call, = sessions(report)
    assert call["dtls_version"] == "DTLS 1.3" and call["dtls_established"] and not call["media"], call
    assert len(call["flows"]) == 3  # both relayed flows and coturn's relay-to-relay leg: one call
    assert all(agent["application"] > 30 for agent in call["agents"])  # 30 messages, each echoed
    if HAVE_TSHARK:
        # tshark reads the ServerHello on coturn's leg (its unified-header records it leaves undissected):
        # the version it selected is DTLS 1.3 (0xfefc), as we say
        leg = next(f for f in report["results"]["captures"][0]["flows"] if f["transport"] == "udp"
                   and f["index"] in call["flows"])
        ports = [end.rsplit(":", 1)[1] for end in (leg["a"], leg["b"])]
        decode = tuple(arg for port in ports for arg in ("-d", f"udp.port=={port},dtls"))
        selected = _tshark(capture, "dtls.handshake.type == 2", "dtls.handshake.extensions.supported_version",
                           decode=decode)
        assert selected and {row[0] for row in selected} == {"0xfefc"}, selected
        # tshark 4.0 does not dissect the unified header: count the leg's datagrams whose first byte is in
        # its range (0x20-0x3f, RFC 9443): as many as the encrypted records we read each way (Chromium
        # sends one record per datagram)
        for index, port in enumerate(ports):
            unified = "udp.payload[0] >= 0x20 && udp.payload[0] <= 0x3f"
            rows = _tshark(capture, f"udp.srcport == {port} && {unified}")
            assert len(rows) == leg["dtls_application"][index] + leg["dtls_encrypted_handshake"][index]


def check_dual_stack_call(capture: Path, page: dict[str, Any]) -> dict[str, Any]:
    """A healthy host call: exit 0; one call over the paths of both families; returns the call."""
    assert page["connection"] == "connected" and page["echoed"] == 30, page
    code, report = report_of(capture)
    assert code == 0 and ids(report) == [], report["findings"]
    call, = sessions(report)
    assert call["dtls_established"] and call["key"] == "/".join(sorted(page["ufrags"]))
    return call


def check_tls_refused(capture: Path, log: Path, page: dict[str, Any]) -> None:
    """coturn (TLS 1.2, self-signed): Chromium reads the certificate and sends a readable fatal alert; the
    capture names it once for both connections, coturn's log says its TLS handshakes failed."""
    assert page["connection"] != "connected" and page["candidates"] == [], page
    assert sorted(e.split(" ", 2)[2] for e in page["errors"]) == ["701", "701"], page  # a and b
    code, report = report_of(capture)
    assert code == 1 and ids(report) == ["CAPTURE-TLS-CERTIFICATE-REFUSED"], report["findings"]
    refused = report["findings"][0]
    assert "certificate_unknown (46)" in refused["title"] and "TLS 1.2" in refused["symptom"]
    assert len(refused["evidence"]) == 2  # both peer connections' TLS connections, one statement
    tls = report["results"]["captures"][0]["tls"]
    assert [t["outcome"] for t in tls] == ["client alert", "client alert"]
    assert all("Certificate" in t["server_handshake"] for t in tls)
    if HAVE_TSHARK:  # tshark's own TLS dissection: the same alert, in the same packets
        alerts = [row[0] for row in _tshark(capture, "tls.alert_message.desc == 46")]
        ours = [line.split(" at packet ", 1)[1].split(" ", 1)[0] for line in refused["evidence"]]
        assert ours == alerts
    code, report = report_of(log)
    assert code == 1 and ids(report) == ["COTURN-LOG-TLS-FAILED"], report["findings"]
    assert report["findings"][0]["params"]["count"] == "2"


def check_hang_up_caller_stays(capture: Path, page: dict[str, Any]) -> None:
    """b closed (a hang-up: its TURN allocation deleted, an encrypted close_notify), a did not; the capture
    stops 17 s later: a's checks unanswered all that time, Chromium has given the path up (the page says
    so). A hang-up, said once, exit 0: never consent lost."""
    assert page["connection"] == "connected" and page["lost"] in ("disconnected", "failed"), page
    code, report = report_of(capture)
    assert code == 0 and ids(report) == ["CAPTURE-ICE-PEER-HUNG-UP"], report["findings"]
    hung_up = report["findings"][0]
    assert int(hung_up["params"]["after"]) >= 15 and int(hung_up["params"]["count"]) >= 20, hung_up["params"]
    call, = sessions(report)
    caller = next(a for a in call["agents"] if a["ufrag"] == page["ufrags"][0])
    assert caller["late_unanswered"] == int(hung_up["params"]["count"])  # the caller's checks, counted once


def check_allocation_deleted(capture: Path, page: dict[str, Any], log: Path) -> None:
    """coturn cancelled the callee's session (its allocation gone, both pages alive): both agents' checks go
    unanswered through the relay; one consent loss for the call, both agents in its evidence."""
    assert page["connection"] == "connected" and page["lost"] in ("disconnected", "failed"), page
    raw = gzip.decompress(log.read_bytes()) if log.suffix == ".gz" else log.read_bytes()
    text = raw.decode(errors="replace")
    assert "reason: Forceful shutdown" in text  # coturn's own word: it cancelled the callee's session
    code, report = report_of(capture)
    assert code == 1 and ids(report) == ["CAPTURE-ICE-CONSENT-LOST"], report["findings"]
    lost = report["findings"][0]
    assert len([line for line in lost["evidence"] if "check packet(s) unanswered" in line]) == 2
    assert len(lost["params"]["flows"].split("; ")) == 3


# ---- live calls --------------------------------------------------------------------------------------------

@SAMPLED
def test_data_channel_only_call_over_dtls13_passes(coturn_factory: Factory, tmp_path: Path) -> None:
    """Before DTLS 1.3 was read this healthy call was CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE, three times."""
    call = _relay_call(coturn_factory, tmp_path, "datachannel")
    check_data_channel_call(call.capture, call.page)


@SAMPLED
def test_dual_stack_call_pairs_its_handshake_over_both_paths(tmp_path: Path) -> None:
    """a's candidates reach b over IPv4 only, b's reach a over IPv6 only: each side's own first pair is of
    another family. Now and then (about one call in five here: it depends on which pair each side has
    selected when DTLS starts) the DTLS client's ClientHello travels one family and the server's ServerHello
    the other. Every attempt is a healthy call and must pass; a split one must be read as one handshake.
    Before, a split call was CAPTURE-DTLS-NO-SERVERHELLO (and 30/30 messages were echoed)."""
    addresses = _host_addresses()
    if addresses is None:
        pytest.skip("no non-loopback IPv4 and IPv6 address: Chromium has no dual-stack host candidates")
    attempts = 3
    for _ in range(attempts):
        call = _host_call(tmp_path, "dualstack", addresses, keepA="v4", keepB="v6")
        found = check_dual_stack_call(call.capture, call.page)
        client = next(a for a in found["agents"] if a["client_hello"])
        server = next(a for a in found["agents"] if a["server_hello"])
        if client["client_hello_flow"] != server["server_hello_flow"]:
            check_split_handshake(call.capture, call.page)
            return
    pytest.skip(f"{attempts} healthy dual-stack calls passed; none split its handshake this time (the "
                "committed capture of one that did is judged in test_analyze_capture_fixtures.py)")


def check_split_handshake(capture: Path, page: dict[str, Any]) -> None:
    """The call's ClientHello and ServerHello are on two flows of different IP families (tshark's own DTLS
    dissection says so too), the ClientHello from the side whose stats say it is the DTLS client; one call,
    healthy, nothing said."""
    code, report = report_of(capture)
    assert code == 0 and ids(report) == [], report["findings"]
    call, = sessions(report)
    flows = {f["index"]: f for f in report["results"]["captures"][0]["flows"]}
    client = next(a for a in call["agents"] if a["client_hello"])
    server = next(a for a in call["agents"] if a["server_hello"])
    hello, answer = flows[client["client_hello_flow"]], flows[server["server_hello_flow"]]
    hello_v6, answer_v6 = hello["a"].startswith("["), answer["a"].startswith("[")
    assert hello["index"] != answer["index"] and hello_v6 != answer_v6, (hello, answer)
    role = {page["ufrags"][0]: page["a"]["dtlsRole"], page["ufrags"][1]: page["b"]["dtlsRole"]}
    assert role[client["ufrag"]] == "client" and role[server["ufrag"]] == "server", role
    if HAVE_TSHARK:
        ports = {end.rsplit(":", 1)[1] for flow in (hello, answer) for end in (flow["a"], flow["b"])}
        decode = tuple(arg for port in sorted(ports) for arg in ("-d", f"udp.port=={port},dtls"))
        in_v6 = {kind: bool(_tshark(capture, f"dtls.handshake.type == {kind} && ipv6", decode=decode))
                 for kind in (1, 2)}
        in_v4 = {kind: bool(_tshark(capture, f"dtls.handshake.type == {kind} && ip", decode=decode))
                 for kind in (1, 2)}
        assert in_v6 == {1: hello_v6, 2: answer_v6} and in_v4 == {1: not hello_v6, 2: not answer_v6}


@SAMPLED
def test_turns_self_signed_certificate_is_refused_capture_and_log(coturn_factory: Factory,
                                                                  tmp_path: Path) -> None:
    """Before: the capture was CAPTURE-NO-WEBRTC (exit 3: "the capture missed the call"), the log passed."""
    call = _relay_call(coturn_factory, tmp_path, "turns-self-signed",
                       url="turns:127.0.0.1:{tls_port}?transport=tcp", messages=0)
    assert call.log is not None
    check_tls_refused(call.capture, call.log, call.page)


@SAMPLED
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls13_server_certificate_refused(tmp_path: Path) -> None:
    """The same refusal against a TLS 1.3 server (openssl s_server with a self-signed certificate stands in
    for a TURN server: this coturn 4.6.1 negotiates TLS 1.2 only). TLS 1.3 encrypts the certificate and the
    client's alert: what shows is the client's one short encrypted record after the server's flight, never
    answered, and the connection closing. Said as such, not as a named alert."""
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost", "-days", "1"],
                   check=True, capture_output=True, timeout=30)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["openssl", "s_server", "-tls1_3", "-accept", str(port), "-key", str(key),
                               "-cert", str(cert), "-quiet"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    capture = tmp_path / "tls13.pcap"
    try:
        _wait_for(lambda: _listening(port), 5.0)
        url = f"turns:127.0.0.1:{port}?transport=tcp"
        servers = [{"urls": url, "username": USER, "credential": PASSWORD}]
        with tcpdump(capture, [port], host="127.0.0.1"):
            page = asyncio.run(_page({"servers": servers, "messages": 0})).result
    finally:
        server.kill()
        server.wait()
    call = Call(capture, page, server_port=port)
    _save("tls13-refused", call)
    check_tls13_refused(call.capture, call.page)


def check_tls13_refused(capture: Path, page: dict[str, Any]) -> None:
    """Chromium refused a TLS 1.3 server's certificate: the client's one encrypted alert-sized record."""
    assert page["connection"] != "connected" and page["errors"], page
    code, report = report_of(capture)
    assert code == 1 and ids(report) == ["CAPTURE-TLS-CLIENT-ENDED"], report["findings"]
    ended = report["findings"][0]
    assert "TLS 1.3" in ended["symptom"] and "encrypted alert" in ended["symptom"]
    tls = report["results"]["captures"][0]["tls"]
    assert tls and all(t["version"] == "TLS 1.3" and t["outcome"] == "ended by the client" for t in tls)
    assert all(t["client_encrypted"] == [19] for t in tls)  # one 19-byte record: an alert's size
    if HAVE_TSHARK:  # tshark: the ServerHello selects TLS 1.3, the client's record is application_data
        versions = _tshark(capture, "tls.handshake.type == 2", "tls.handshake.extensions.supported_version")
        assert versions and {row[0] for row in versions} == {"0x0304"}
        client_ports = {t["client"].rsplit(":", 1)[1] for t in tls}
        # TLS 1.3 records are typed application_data on the wire (tshark: opaque_type 23); the client's is
        # behind a ChangeCipherSpec (middlebox compatibility, RFC 8446 §D.4) in the same segment
        rows = _tshark(capture, "tls.record.opaque_type == 23", "tcp.srcport", "tls.record.length")
        from_clients = {(port, lengths.split(",")[-1]) for port, lengths in rows if port in client_ports}
        assert from_clients == {(p, "19") for p in client_ports}  # application_data, 19 bytes, from each


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@SAMPLED
def test_turns_call_with_an_accepted_certificate_passes(coturn_factory: Factory, tmp_path: Path) -> None:
    """The healthy turns: cell: Chromium told to accept the self-signed certificate. The TLS connections
    complete (their content is encrypted), the call runs over coturn's relay-to-relay leg in clear."""
    call = _relay_call(coturn_factory, tmp_path, "turns-accepted",
                       url="turns:127.0.0.1:{tls_port}?transport=tcp",
                       extra_args=("--ignore-certificate-errors",))
    check_turns_accepted(call.capture, call.page, tmp_path)


def check_turns_accepted(capture: Path, page: dict[str, Any], tmp_path: Path) -> None:
    """The TLS connections complete, the relayed call is read in clear; the capture cut to the TLS port
    alone is inconclusive (CAPTURE-TLS-ONLY)."""
    assert page["connection"] == "connected" and page["echoed"] == 30, page
    code, report = report_of(capture)
    assert code == 0 and not [f for f in report["findings"] if f["severity"] != "info"], report["findings"]
    tls = report["results"]["captures"][0]["tls"]
    assert len(tls) == 2 and {t["outcome"] for t in tls} == {"established"}
    assert sessions(report)[0]["dtls_established"]
    # the same capture cut to the TLS port alone (a capture of the client's side, say): nothing is in clear,
    # so nothing can be judged: inconclusive, never "the capture missed the call"
    port = tls[0]["server"].rsplit(":", 1)[1]
    if capture.suffix == ".gz":  # a committed capture: tcpdump reads it uncompressed
        plain = tmp_path / "turns-accepted.pcap"
        plain.write_bytes(gzip.decompress(capture.read_bytes()))
        capture = plain
    only_tls = tmp_path / "only-tls.pcap"
    subprocess.run(["tcpdump", "-r", str(capture), "-w", str(only_tls), f"tcp port {port}"], check=True,
                   capture_output=True, timeout=60)
    code, report = report_of(only_tls)
    assert code == 3 and ids(report) == ["CAPTURE-TLS-ONLY"], report["findings"]
    assert report["findings"][0]["params"]["count"] == "2"


@SAMPLED
def test_peer_acl_refusing_both_clients_is_one_finding(coturn_factory: Factory, tmp_path: Path) -> None:
    """coturn denies the peers (`denied-peer-ip`): each client's CreatePermission for the other's relay
    address is answered 403. One statement about the server's ACL, both refusals in its evidence, and no ICE
    or DTLS finding beside it (Chromium sends nothing to a peer it has no permission for). Before: the
    same 403 twice."""
    call = _relay_call(coturn_factory, tmp_path, "denied", messages=0,
                       coturn={"denied_peer_ips": ("127.0.0.1",)})
    assert call.log is not None
    check_peer_acl(call.capture, call.page, call.log, call.server_port)


def check_peer_acl(capture: Path, page: dict[str, Any], log: Path, port: int) -> None:
    """Both clients' CreatePermission answered 403 (coturn's log says so): one CAPTURE-TURN-403-PEER."""
    assert page["connection"] != "connected", page
    raw = gzip.decompress(log.read_bytes()) if log.suffix == ".gz" else log.read_bytes()
    assert raw.decode(errors="replace").count("error 403") >= 2
    code, report = report_of(capture)
    assert code == 1 and ids(report) == ["CAPTURE-TURN-403-PEER"], report["findings"]
    denied = report["findings"][0]
    assert len(denied["evidence"]) == 2 and len(denied["params"]["peer"].split(", ")) == 2
    if HAVE_TSHARK:
        refusals = _tshark(capture, f"udp.srcport == {port} && stun.att.error.class == 4 && "
                           "stun.att.error == 3")  # 403 (RFC 8489 §14.8: class 4, number 3)
        ours = sorted(int(line.split(": packets ", 1)[1].split(" ", 1)[0]) for line in denied["evidence"])
        assert ours == sorted(int(row[0]) for row in refusals)


@SAMPLED
def test_ice_restart_keeps_the_call(coturn_factory: Factory, tmp_path: Path) -> None:
    """restartIce() mid-call: new ufrags, new relay candidates, the same DTLS session on the new pair. Two
    ICE sessions in the capture, the second without a handshake of its own; nothing to report."""
    call = _relay_call(coturn_factory, tmp_path, "restart", mode="restart")
    check_ice_restart(call.capture, call.page)


def check_ice_restart(capture: Path, page: dict[str, Any]) -> None:
    """Both ICE sessions in the capture, the second continuing the first's DTLS session; exit 0."""
    assert page["restarted"] in ("connected", "completed") and page["echoedAfterRestart"] == 30, page
    assert set(page["ufragsAfter"]).isdisjoint(page["ufrags"])
    code, report = report_of(capture)
    assert code == 0 and ids(report) == [], report["findings"]
    keys = {s["key"] for s in sessions(report)}
    assert {"/".join(sorted(page["ufrags"])), "/".join(sorted(page["ufragsAfter"]))} <= keys
    after = next(s for s in sessions(report) if s["key"] == "/".join(sorted(page["ufragsAfter"])))
    assert not any(a["client_hello"] for a in after["agents"])  # the DTLS session of before, continued
    assert all(a["application"] for a in after["agents"])


@LONG
def test_hang_up_caller_stays_capture_stopped_before_30_s(coturn_factory: Factory, tmp_path: Path) -> None:
    """Before: exit 0 (consent was only lost after 30 s, and this capture stops at 17 s)."""
    call = _relay_call(coturn_factory, tmp_path, "callee-hangs-up-17s", mode="hang-up", afterMs=17000)
    check_hang_up_caller_stays(call.capture, call.page)


@LONG
def test_hang_up_with_the_capture_running_on_is_not_a_lost_call(coturn_factory: Factory,
                                                                tmp_path: Path) -> None:
    """Both sides close (the callee first, the caller a second later: a few of its checks go unanswered
    meanwhile) while another call goes on 18 s more. A healthy end: no consent loss, no warning."""
    call = _relay_call(coturn_factory, tmp_path, "hangup", mode="hangup", afterMs=18000)
    check_hang_up(call.capture, call.page)


def check_hang_up(capture: Path, page: dict[str, Any]) -> None:
    """Two calls: the first hangs up (a few of the caller's checks unanswered in the second between the two
    closes), the second goes on 18 s more. Both healthy: nothing to say."""
    assert page["connection"] == "connected" and page["echoed"] == 30, page
    assert page["closed"] == ["closed", "closed"] and page["otherEchoed"] > 20, page
    code, report = report_of(capture)
    assert code == 0 and ids(report) == [], report["findings"]
    calls = sessions(report)
    assert len(calls) == 2 and all(c["dtls_established"] for c in calls)
    first = next(c for c in calls if c["key"] == "/".join(sorted(page["ufrags"])))
    last_answer = max(a["last_answered"] or 0 for a in first["agents"])
    end = max(a["last_answered"] or 0 for c in calls for a in c["agents"])
    assert end - last_answer > 15  # the capture went on long after the first call's last answer


@LONG
def test_callee_allocation_deleted_by_coturn(coturn_factory: Factory, tmp_path: Path) -> None:
    """coturn's admin CLI cancels the callee's session mid-call (`cs`): its allocation is gone while both
    pages live. Before: CAPTURE-DTLS-NOTHING-AFTER-HANDSHAKE and CAPTURE-ICE-CONSENT-LOST, 3 times each."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        cli_port = probe.getsockname()[1]

    async def cancel_callee(server: RunningCoturn, task: asyncio.Task[Any]) -> None:
        deadline = time.monotonic() + 30
        while (server.log_path.read_text(errors="replace").count("CHANNEL_BIND processed, success") < 2
               and time.monotonic() < deadline and not task.done()):
            await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)  # the 30 messages echoed
        sessions_text = await asyncio.to_thread(_cli, cli_port, ["ps"])
        ids_found = re.findall(r"id=(\d+), user <", sessions_text)
        assert len(ids_found) == 2 and not task.done(), sessions_text
        # the callee allocated second (its candidates come after the caller's offer)
        await asyncio.to_thread(_cli, cli_port, [f"cs {max(ids_found)}"])

    call = _relay_call(coturn_factory, tmp_path, "allocation-deleted", during=cancel_callee, mode="hold",
                       afterMs=20000, coturn={"no_cli": False, "extra_lines": (
                           "cli-ip=127.0.0.1", f"cli-port={cli_port}", "cli-password=rtcdiag-cli")})
    assert call.log is not None
    check_allocation_deleted(call.capture, call.page, call.log)


def _cli(port: int, commands: list[str]) -> str:
    """coturn's telnet CLI (on loopback, this test's coturn): the password, then each command."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.settimeout(0.5)

        def drain() -> None:
            nonlocal out
            try:
                while chunk := conn.recv(65536):
                    out += chunk
            except TimeoutError:
                pass

        drain()
        for line in ["rtcdiag-cli", *commands]:
            conn.sendall(line.encode() + b"\r\n")
            drain()
    return out.decode(errors="replace")

"""Real calls whose every piece of evidence is kept: Debian's headless Chromium (Playwright,
``executable_path`` = the system chromium) makes a relay-only call between two RTCPeerConnections of one page
through a real coturn on loopback, while tcpdump captures it (tests/wire_capture.py: filtered to this coturn's
ports and relay range) and coturn logs it (``verbose``). Kept: the webrtc-internals dump chrome://webrtc-internals
downloads, the capture, coturn's log and the page's own ground truth (its connection states and
icecandidateerror events).

    .venv/bin/python tests/correlate_calls.py [SCENARIO...]   # remakes tests/fixtures/correlate/

The integration test makes the same calls live; the committed sets are what the unit tests judge. A saved file
never holds the TURN password (checked before saving).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wire_capture import relay_range, tcpdump

from rtcdiag.coturn import CoturnOptions, RunningCoturn, start_coturn
from rtcdiag.probes.browser import BrowserOptions, run_script

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "correlate"
USER, PASSWORD = "call-user", "correlate-Pa55-never-saved"

# Two peer connections of one page, relay only, a data channel and a fake microphone; the page records what
# it saw itself. Bounded waits only.
PAGE = r"""
async (s) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'timeout')]);
  const cfg = {iceServers: s.servers, iceTransportPolicy: 'relay'};
  const a = new RTCPeerConnection(cfg), b = new RTCPeerConnection(cfg);
  const out = {errors: [], states: {a: [], b: []}};
  for (const [name, pc] of [['a', a], ['b', b]]) {
    pc.onicecandidateerror = e => out.errors.push({pc: name, url: e.url, code: e.errorCode,
                                                   text: e.errorText});
    pc.onconnectionstatechange = () => out.states[name].push(pc.connectionState);
  }
  a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  a.addTrack(mic.getTracks()[0], mic);
  const dc = a.createDataChannel('rtcdiag');
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  out.state = await within(new Promise(res => {
    const c = () => { if (['connected', 'failed'].includes(a.connectionState)) res(a.connectionState); };
    a.addEventListener('connectionstatechange', c); c();
  }), s.wait_ms);
  out.dc = await within(new Promise(r => {
    if (dc.readyState === 'open') r('open'); dc.onopen = () => r('open');
  }), out.state === 'connected' ? 5000 : 10);
  for (let i = 0; i < 5 && dc.readyState === 'open'; i++) { dc.send('x'.repeat(100)); await sleep(100); }
  await sleep(300);
  out.final = {a: a.connectionState, b: b.connectionState, ice: a.iceConnectionState};
  return out;
}
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    doc: str
    url: Callable[[RunningCoturn, int], str]  # the page's ICE server URL (given the server and a dead port)
    password: str = PASSWORD
    username: str = USER
    tls: bool = False  # coturn with a self-signed certificate on its TLS port
    wait_ms: int = 15000


def _udp(server: RunningCoturn, dead: int) -> str:
    return f"turn:127.0.0.1:{server.port}"  # no ?transport=: what most apps write (Chromium: UDP)


def _free_udp_port() -> int:
    """A UDP port nothing listens on (bound, then closed: the kernel does not hand it out again soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SCENARIOS = {s.name: s for s in (
    Scenario("healthy", "a relay call that works", _udp),
    Scenario("wrong-password", "the right user with a wrong password: coturn answers 401", _udp,
             password="not-the-password"),
    Scenario("unknown-user", "a user coturn does not know: coturn answers 401", _udp, username="nobody-here"),
    Scenario("turns-self-signed", "turns: to a server whose certificate is self-signed", lambda s, dead:
             f"turns:127.0.0.1:{s.tls_port}?transport=tcp", tls=True, wait_ms=10000),
    # Chromium gives up on a silent UDP TURN server after ~40 s (its 701 comes then): a long call
    Scenario("dead-port", "a TURN URL whose UDP port nothing listens on", lambda s, dead:
             f"turn:127.0.0.1:{dead}?transport=udp", wait_ms=45000),
)}


@contextlib.contextmanager
def _coturn(scenario: Scenario, factory: Callable[[CoturnOptions], RunningCoturn] | None
            ) -> Iterator[tuple[RunningCoturn, tuple[int, int]]]:
    lo, hi = relay_range()
    options = CoturnOptions(users={USER: PASSWORD}, verbose=True, min_relay_port=lo, max_relay_port=hi,
                            self_signed=scenario.tls, extra_lines=("new-log-timestamp",))
    if factory is not None:
        yield factory(options), (lo, hi)
        return
    server = start_coturn(options)
    try:
        yield server, (lo, hi)
    finally:
        server.stop()


@dataclass
class Call:
    scenario: str
    dump: bytes  # the webrtc-internals dump, as downloaded (gzip)
    capture: bytes  # pcap
    log: bytes  # coturn's log
    truth: dict[str, Any]  # the page's own states and errors, and the server's ports


def make_call(scenario: Scenario, factory: Callable[[CoturnOptions], RunningCoturn] | None = None) -> Call:
    """One call of ``scenario``, with everything it left."""
    with _coturn(scenario, factory) as (server, relays), tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "call.pcap"
        dead = _free_udp_port()
        url = scenario.url(server, dead)
        servers = [{"urls": url, "username": scenario.username, "credential": scenario.password}]
        ports = [server.port, dead] + ([server.tls_port] if server.tls_port else [])
        with tcpdump(capture, ports, [relays], host="127.0.0.1"):
            run = asyncio.run(run_script(PAGE, {"servers": servers, "wait_ms": scenario.wait_ms},
                                         BrowserOptions(rtcstats_dump=False)))
        truth = {"page": run.result, "url": url, "user": scenario.username,
                 "server_port": server.port, "tls_port": server.tls_port, "user_agent": run.user_agent}
        return Call(scenario.name, run.internals_dump, capture.read_bytes(), server.log_path.read_bytes(),
                    truth)


def save(call: Call, directory: Path = FIXTURES) -> list[Path]:
    """Write the call's files (gzip, no password in any: checked) as ``<scenario>.*``."""
    files = {f"{call.scenario}.webrtc-internals.json.gz": _gzipped(call.dump),
             f"{call.scenario}.pcap.gz": gzip.compress(call.capture, mtime=0),
             f"{call.scenario}.turnserver.log.gz": gzip.compress(call.log, mtime=0),
             f"{call.scenario}.truth.json": json.dumps(call.truth, indent=1, sort_keys=True).encode()}
    for name, data in files.items():
        plain = gzip.decompress(data) if name.endswith(".gz") else data
        if PASSWORD.encode() in plain or b"not-the-password" in plain:
            raise RuntimeError(f"{name} holds a TURN password: not saved")
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in files.items():
        (directory / name).write_bytes(data)
        out.append(directory / name)
    return out


def _gzipped(data: bytes) -> bytes:
    return data if data[:2] == b"\x1f\x8b" else gzip.compress(data, mtime=0)


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        call = make_call(SCENARIOS[name])
        for path in save(call):
            print(path)
        print(json.dumps(call.truth["page"]))


if __name__ == "__main__":
    main(sys.argv[1:])


# ---- what the one diagnosis of a call must say, against the call's ground truth ---------------------------

def files_of(directory: Path, scenario: str) -> list[Path]:
    return [directory / f"{scenario}.webrtc-internals.json.gz", directory / f"{scenario}.pcap.gz",
            directory / f"{scenario}.turnserver.log.gz"]


def report_of(paths: list[Path]) -> dict[str, Any]:
    """``rtcdiag analyze --json PATH...`` as data, in this process (the command without click)."""
    from rtcdiag.checks.analyze import judge_evidence, read_files
    from rtcdiag.report.build import build_report
    from rtcdiag.report.json_report import to_data

    evidence = read_files(paths)
    report = build_report("analyze", judge_evidence(evidence), tables=[], started_at=0.0)
    return to_data(report)


def error_roots(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["severity"] == "error" and f["explained_by"] is None]


def folded_under(report: dict[str, Any], root: dict[str, Any]) -> set[str]:
    explained = next(r["explains"] for r in report["root_causes"] if r["ref"] == root["ref"])
    return {f["id"] for f in report["findings"] if f["ref"] in explained}


def check_call(report: dict[str, Any], truth: dict[str, Any], scenario: str) -> None:
    """The one diagnosis of a call's dump + capture + log, compared with what the page and coturn saw."""
    ids = [f["id"] for f in report["findings"]]
    assert ids.count("CORRELATE-SAME-CALL") == 1, ids  # the files were found to be one call
    page = truth["page"]
    roots = error_roots(report)
    if scenario == "healthy":
        assert page["state"] == "connected" and page["dc"] == "open" and not page["errors"], page
        assert report["exit_code"] == 0 and roots == [], roots  # zero false errors
        same = next(f for f in report["findings"] if f["id"] == "CORRELATE-SAME-CALL")
        assert "ICE ufrag" in same["symptom"] and "relayed address" in same["symptom"]
        return
    assert page["state"] != "connected" and page["errors"], page
    assert report["exit_code"] == 1 and len(roots) == 1, [r["id"] for r in roots]  # one root per failure
    root = roots[0]
    codes = {e["code"] for e in page["errors"]}
    folded = folded_under(report, root)
    if scenario in ("wrong-password", "unknown-user"):
        assert codes == {401}
        assert root["id"] == "CORRELATE-TURN-CREDENTIALS" and root["params"]["user"] == truth["user"]
        reason = "wrong password" if scenario == "wrong-password" else "no such user"
        assert root["title"].endswith(f"user {truth['user']}: {reason}"), root["title"]
        assert {"ANALYZE-TURN-401", "CAPTURE-TURN-401-LOOP", "COTURN-LOG-401"} <= folded, folded
        assert "ANALYZE-RELAY-ONLY-NO-CANDIDATE" in folded  # the dump's consequences move with its root
    elif scenario == "turns-self-signed":
        assert codes == {701} and all(e["url"].startswith("turns:") for e in page["errors"])
        assert root["id"] == "CORRELATE-TURNS-TLS-REFUSED" and root["params"]["url"] == truth["url"]
        assert {"ANALYZE-TURN-UNREACHABLE"} <= folded or {"ANALYZE-TURNS-CONNECT-FAILED"} <= folded, folded
        assert any("ServerHello" in line for line in root["evidence"])
        assert any("before any TURN request" in line for line in root["evidence"])  # coturn's own word
    elif scenario == "dead-port":
        assert codes == {701}
        assert root["id"] == "CORRELATE-TURN-UNREACHABLE" and root["params"]["url"] == truth["url"]
        assert "not one back" in root["symptom"]
        assert {"ANALYZE-TURN-UNREACHABLE", "CAPTURE-TURN-UNANSWERED"} <= folded, folded
    else:
        raise AssertionError(f"no expectation for {scenario}")
    for f in report["findings"]:  # every other problem is folded under the one root
        if f["severity"] != "info" and f["ref"] != root["ref"]:
            assert f["explained_by"] is not None, f["id"]

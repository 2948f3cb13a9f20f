"""Make the real-Firefox fixtures of ``rtcdiag analyze``: drive Debian's headless ``firefox-esr`` (Marionette,
rtcdiag.probes.firefox) through the failure scenarios of the Chromium fixtures against a coturn on loopback,
and save what Firefox itself gives (tests/fixtures/firefox/, each gzip-compressed):

- ``NAME.report.json.gz``: ``WebrtcGlobalInformation.getAllStats()`` (``{"reports": [...], "sdpHistories":
  [...]}``), what about:webrtc's "Copy Report" copies one report of (Copy Report also adds ``codecStat`` and
  ``remoteRtpStats`` copies inside the RTP stats, which getAllStats lacks);
- ``NAME.ice-log.txt.gz``: ``getLogging()``, about:webrtc's Connection Log, one line a line;
- ``NAME.aboutWebrtc.html.gz``: about:webrtc rendered in a new tab, its ``#content`` as "Save Page" writes it
  (``.no-print`` hidden, each UTF-16 unit's low byte);
- ``NAME.truth.json``: what the page itself saw (its connection states and errors).

    .venv/bin/python tests/browser/make_firefox_fixtures.py [SCENARIO...]

Same page script as the Chromium fixtures (two RTCPeerConnections in one page, or getUserMedia alone). No
file may hold the TURN username or password: the script refuses to save one that does.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import PAGE_SCRIPT, TURN_PASSWORD, TURN_USER, _coturn, _servers
from make_fixtures import Scenario as ChromiumScenario

from rtcdiag.probes.firefox import FirefoxOptions, FirefoxRun, run_script

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "firefox"
FORMS = ("report", "report+log", "page")


@dataclass(frozen=True)
class Scenario:
    name: str
    doc: str
    params: dict[str, Any]
    turn: str = ""  # as make_fixtures: "" / ok / wrong / dead / dead-tcp
    fake_media: bool = True
    auto_accept: bool = True
    extra_prefs: tuple[tuple[str, bool | int | str], ...] = ()
    # form -> (root cause ids, exit code): what rtcdiag analyze must say from that evidence.
    expect: dict[str, tuple[frozenset[str], int]] = field(default_factory=dict)


def _all(ids: set[str], code: int) -> dict[str, tuple[frozenset[str], int]]:
    return {form: (frozenset(ids), code) for form in FORMS}


NOTHING = "nothing to judge"  # no peer connection at all: inconclusive
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("healthy-relay", "relay-only call with audio through coturn that connects",
             {"mode": "call", "audio": True, "policy": "relay"}, turn="ok", expect=_all(set(), 0)),
    # The report alone cannot tell a 401 from a dead server (no candidate, no pair in both): unexplained,
    # inconclusive; its ICE log (or the saved page's Connection Log) says 401.
    Scenario("turn-wrong-password", "relay-only, wrong TURN password",
             {"mode": "call", "policy": "relay", "settleMs": 3000}, turn="wrong",
             expect={"report": (frozenset({"ANALYZE-TURN-NO-RELAY-UNEXPLAINED"}), 3),
                     "report+log": (frozenset({"ANALYZE-TURN-401"}), 1),
                     "page": (frozenset({"ANALYZE-TURN-401"}), 1)}),
    # Firefox gives up on a silent UDP TURN server after ~5 s ("Timed out"): the W3C 701.
    Scenario("turn-dead-port", "relay-only, nothing listens on the TURN UDP port",
             {"mode": "call", "policy": "relay", "gatherMs": 30000, "settleMs": 3000}, turn="dead",
             expect={"report": (frozenset({"ANALYZE-TURN-NO-RELAY-UNEXPLAINED"}), 3),
                     "report+log": (frozenset({"ANALYZE-TURN-UNREACHABLE"}), 1),
                     "page": (frozenset({"ANALYZE-TURN-UNREACHABLE"}), 1)}),
    Scenario("turn-dead-tcp", "relay-only, TURN over TCP to a closed port (connection refused)",
             {"mode": "call", "policy": "relay", "gatherMs": 30000, "settleMs": 3000}, turn="dead-tcp",
             expect={"report": (frozenset({"ANALYZE-TURN-NO-RELAY-UNEXPLAINED"}), 3),
                     "report+log": (frozenset({"ANALYZE-TURN-UNREACHABLE"}), 1),
                     "page": (frozenset({"ANALYZE-TURN-UNREACHABLE"}), 1)}),
    # ICE connects, DTLS fails: only transportStats' dtlsState says so. The saved page has no transport
    # states, and no data channel opened and no RTP arrived: it cannot tell (inconclusive), never a pass;
    # what it can say is the host-only warning (an error root from the report makes that a note).
    Scenario("dtls-fingerprint", "answer's fingerprint changed: DTLS fails",
             {"mode": "fingerprint", "audio": True, "settleMs": 8000},
             expect={"report": (frozenset({"ANALYZE-DTLS-FAILED"}), 1),
                     "report+log": (frozenset({"ANALYZE-DTLS-FAILED"}), 1),
                     "page": (frozenset({"ANALYZE-PRIVATE-HOST-ONLY"}), 3)}),
    # No ICE servers, host addresses shown (no mDNS): this machine's non-public host candidates only.
    Scenario("no-servers", "no ICE servers: host candidates only, call connects",
             {"mode": "call", "audio": True, "settleMs": 8000},
             expect=_all({"ANALYZE-PRIVATE-HOST-ONLY"}, 0)),
    # Firefox's about:webrtc keeps no getUserMedia record (no report, an empty log): inconclusive, said so.
    # (The ICE log is empty then: no log file, no "report+log" form.)
    Scenario("gum-no-camera", "getUserMedia for a camera with no camera (no fake devices)",
             {"mode": "gum", "constraints": {"video": True}}, fake_media=False,
             expect={"report": (frozenset(), 3), "page": (frozenset(), 3)}),
    Scenario("gum-denied", "getUserMedia, camera and microphone permission blocked",
             {"mode": "gum", "constraints": {"audio": True}}, auto_accept=False,
             extra_prefs=(("permissions.default.microphone", 2), ("permissions.default.camera", 2)),
             expect={"report": (frozenset(), 3), "page": (frozenset(), 3)}),
)
BY_NAME = {s.name: s for s in SCENARIOS}


def paths(name: str, directory: Path = FIXTURES) -> dict[str, Path]:
    return {"report": directory / f"{name}.report.json.gz", "log": directory / f"{name}.ice-log.txt.gz",
            "page": directory / f"{name}.aboutWebrtc.html.gz", "truth": directory / f"{name}.truth.json"}


def form_files(name: str, form: str, directory: Path = FIXTURES) -> list[Path]:
    files = paths(name, directory)
    return {"report": [files["report"]], "report+log": [files["report"], files["log"]],
            "page": [files["page"]]}[form]


async def generate(scenario: Scenario) -> FirefoxRun:
    """One scenario in a fresh Firefox (and a fresh coturn when it needs one)."""
    with _coturn(scenario.turn) as coturn:
        chromium_like = ChromiumScenario(scenario.name, "", scenario.doc, turn=scenario.turn)
        params = {**scenario.params, "servers": _servers(chromium_like, coturn)}
        options = FirefoxOptions(fake_media=scenario.fake_media, auto_accept=scenario.auto_accept,
                                 extra_prefs=scenario.extra_prefs, save_page=True, timeout_s=90.0)
        return await run_script(PAGE_SCRIPT, params, options)


def save(scenario: Scenario, run: FirefoxRun, directory: Path = FIXTURES) -> dict[str, Path]:
    report = json.dumps(run.report, separators=(",", ":")).encode()
    log = "\n".join(run.log).encode()
    blobs = {"report": report, "log": log, "page": run.page}
    for what, blob in blobs.items():
        for secret in (TURN_PASSWORD, TURN_PASSWORD[::-1], TURN_USER):
            if secret.encode() in blob:
                raise SystemExit(f"{scenario.name}: the {what} contains a TURN credential; not saved")
    directory.mkdir(parents=True, exist_ok=True)
    out = paths(scenario.name, directory)
    for what, blob in blobs.items():
        if blob.strip():  # an empty ICE log (a getUserMedia call alone) is not a file
            out[what].write_bytes(gzip.compress(blob, mtime=0))
        else:
            out.pop(what).unlink(missing_ok=True)
    result = run.result if isinstance(run.result, dict) else {"result": run.result}
    truth = {"scenario": scenario.name, "doc": scenario.doc, "firefox": run.version,
             "page": {k: v for k, v in result.items() if k not in ("getStats", "offer", "answer")}}
    out["truth"].write_text(json.dumps(truth, indent=1) + "\n")
    return out


def main(names: list[str]) -> int:
    for scenario in [BY_NAME[n] for n in names] if names else list(SCENARIOS):
        run = asyncio.run(generate(scenario))
        out = save(scenario, run)
        print(f"{scenario.name}: page said {run.result}; "
              + ", ".join(f"{k} {p.stat().st_size} B" for k, p in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

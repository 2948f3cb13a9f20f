"""``rtcdiag browser --engine firefox`` and the Chromium <-> Firefox interop call: Debian's firefox-esr driven
over Marionette (rtcdiag.probes.firefox) against a real coturn on loopback. Skipped with the reason when
Firefox is not installed (the README's test command installs it). By default two quick runs (~25 s);
``RTCDIAG_BROWSER_ALL=1`` adds the interop calls (healthy, and an injected H.264-only offer that Firefox,
without OpenH264 here, cannot answer) and regenerates every Firefox fixture scenario."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.probes.firefox import unavailable_reason

REASON = unavailable_reason()
ALL = bool(os.environ.get("RTCDIAG_BROWSER_ALL"))
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
USER = "firefox-user"
PASSWORD = "firefox-" + secrets.token_hex(10)


@pytest.fixture(scope="module")
def healthy(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={USER: PASSWORD}, allow_loopback_peers=True))


def rtcdiag(*args: str, password: str = PASSWORD) -> tuple[int, dict[str, Any], str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RTCDIAG_TURN_")}
    environ["RTCDIAG_TURN_PASSWORD"] = password
    done = subprocess.run([sys.executable, "-m", "rtcdiag", "browser", *args, "--json"], capture_output=True,
                          text=True, env=environ, timeout=300)
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, report, done.stdout + done.stderr


def test_firefox_passes_against_a_healthy_coturn(healthy: RunningCoturn, tmp_path: Path) -> None:
    url = f"turn:{healthy.hostport()}?transport=udp"
    saved = tmp_path / "firefox.json.gz"
    code, report, text = rtcdiag(url, "-u", USER, "--engine", "firefox", "--no-compare", "--save-dump",
                                 str(saved))
    assert code == 0, text[-3000:]
    assert PASSWORD not in text
    calls = {c["label"]: c for c in report["results"]["browser"]["calls"]}
    relay = calls["relay call"]  # the page's own record: connected through the relay and echoed
    assert relay["state"] == "connected" and relay["pair"]["local_type"] == "relay"
    assert relay["received"] == relay["sent"] == 10
    assert any(t["title"].startswith("Firefox calls") for t in report["tables"])
    # Firefox's own report and ICE log were saved; analyze reads them back to the same verdict.
    log = saved.with_name("firefox.ice-log.txt.gz")
    assert saved.exists() and log.exists()
    analyzed = subprocess.run([sys.executable, "-m", "rtcdiag", "analyze", str(saved), str(log)],
                              capture_output=True, text=True, timeout=60)
    assert analyzed.returncode == 0, analyzed.stdout[-2000:]


def test_firefox_wrong_password_is_401_from_its_own_ice_log(healthy: RunningCoturn) -> None:
    url = f"turn:{healthy.hostport()}?transport=udp"
    code, report, text = rtcdiag(url, "-u", USER, "--engine", "firefox", "--no-compare", "--relay-only",
                                 password="wrong-pass-789")
    assert code == 1, text[-3000:]
    roots = [f["id"] for f in report["findings"] if not f.get("explained_by")]
    assert roots == ["ANALYZE-TURN-401"]
    assert "wrong-pass-789" not in text
    failed = next(f for f in report["findings"] if f["id"] == "BROWSER-CALL-FAILED")
    assert failed["title"].startswith("Firefox's") and failed["explained_by"].startswith("ANALYZE-TURN-401@")


def _interop(server: RunningCoturn, codec: str) -> Any:
    from rtcdiag.checks.engine import Job, execute
    from rtcdiag.checks.interop import INTEROP, InteropPlan
    from rtcdiag.probes.ice import IceServer
    from rtcdiag.triage.finding import Subject

    servers = [IceServer(url=f"turn:{server.hostport()}?transport=udp", scheme="turn", host="127.0.0.1",
                         port=server.port, username=USER, password=PASSWORD)]
    return asyncio.run(execute(Job(INTEROP, InteropPlan(servers, timeout_s=8, messages=5, video_codec=codec),
                                   Subject("interop"))))


@pytest.mark.skipif(not ALL, reason="the interop calls take ~45 s each: RTCDIAG_BROWSER_ALL=1")
def test_interop_healthy_both_directions_relay_and_normal(healthy: RunningCoturn) -> None:
    ran = _interop(healthy, "")
    assert [c.label for c in ran.result.calls] == ["relay chromium->firefox", "relay firefox->chromium",
                                                   "all chromium->firefox", "all firefox->chromium"]
    for call in ran.result.calls:
        assert call.state == "connected" and call.received == call.sent == 5, call
        kinds = {(c.kind, c.direction) for side in call.sides for c in side.codecs}
        assert {("audio", "send"), ("video", "send"), ("audio", "recv"), ("video", "recv")} <= kinds
    assert not [f for f in ran.judgement.findings if f.severity.value == "error"]


@pytest.mark.skipif(not ALL, reason="the interop calls take ~45 s each: RTCDIAG_BROWSER_ALL=1")
def test_interop_names_an_injected_codec_mismatch(healthy: RunningCoturn) -> None:
    """Chromium offers video as H.264 only (setCodecPreferences); Firefox here has no OpenH264 (a closed
    network cannot download it): its answer rejects the video m-line."""
    ran = _interop(healthy, "H264")
    found = [f for f in ran.judgement.findings if f.id == "INTEROP-NO-COMMON-CODEC"]
    assert {f.params["call"] for f in found} == {"relay chromium->firefox", "all chromium->firefox"}
    assert "H264" in " ".join(found[0].evidence)


@pytest.mark.skipif(not ALL, reason="regenerating every Firefox scenario takes minutes: opt-in")
def test_regenerated_firefox_evidence_gives_the_committed_verdicts(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from make_firefox_fixtures import SCENARIOS, form_files, generate, save
    from test_firefox_fixtures import analyze

    for scenario in SCENARIOS:
        save(scenario, asyncio.run(generate(scenario)), tmp_path)
        for form, (roots, code) in scenario.expect.items():
            report = analyze(form_files(scenario.name, form, tmp_path))
            said = ({f.id for f in report.roots}, report.exit_code)
            assert said == (set(roots), code), (scenario.name, form)

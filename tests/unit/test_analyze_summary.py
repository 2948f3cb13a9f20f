"""``rtcdiag analyze --summary DIR`` over the real Chromium dumps: the numbers agree with what each scenario
is known to be (which calls connected, which were relayed over what, which TURN errors), and with the
per-file diagnoses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rtcdiag.checks.analyze import summarize_file, summarize_files, summary_numbers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from make_fixtures import SCENARIOS, fixture_path


def _rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "120"}, check=False)


def _dir(tmp_path: Path) -> Path:
    for scenario in SCENARIOS:
        shutil.copy(fixture_path(scenario.name), tmp_path)
    (tmp_path / "notes.txt").write_text("not a dump\n")
    return tmp_path


def test_summary_numbers_match_the_scenarios(tmp_path: Path) -> None:
    directory = _dir(tmp_path)
    result = _rtcdiag("analyze", "--json", "--summary", str(directory))
    assert result.returncode == 0, result.stderr
    numbers = json.loads(result.stdout)["results"]
    assert (numbers["files"], numbers["refused"]) == (len(SCENARIOS) + 1, 1)
    # Relayed: healthy-relay (UDP) and relay-over-tcp (TCP), both peer connections each.
    assert numbers["relay_protocols"] == {"udp": 2, "tcp": 2}
    # Connected (connection state, DTLS included): healthy-relay, relay-over-tcp, answer-twice,
    # no-ice-servers-mdns, private-host, h264-mismatch, datachannel-rejected (2 each),
    # connection-lost (1 left in the dump: it was connected first) and
    # dtls-fingerprint's answerer (Chromium showed it "connected" for a moment before "failed").
    assert numbers["connected"] == 16
    assert numbers["relay_ratio"] == 4 / 16
    wrong = [k for k in numbers["turn_errors"] if k.endswith(" 401")]
    assert len(wrong) == 1 and numbers["turn_errors"][wrong[0]] == 2
    expected: dict[str, int] = {}
    for scenario in SCENARIOS:
        if scenario.expect:
            expected[scenario.expect] = expected.get(scenario.expect, 0) + 1
    assert numbers["causes"] == expected


def test_parallel_and_serial_give_the_same_numbers(tmp_path: Path) -> None:
    paths = sorted(str(p) for p in _dir(tmp_path).iterdir())
    assert summarize_files(paths, workers=2) == [summarize_file(p) for p in paths]
    numbers = summary_numbers(summarize_files(paths, workers=1))
    assert numbers.connect_ms_p50 != "-" and float(numbers.connect_ms_p90) >= float(numbers.connect_ms_p50)


def test_summary_usage_errors(tmp_path: Path) -> None:
    assert _rtcdiag("analyze").returncode == 2
    both = _rtcdiag("analyze", "--summary", str(tmp_path), str(fixture_path("glare")))
    assert both.returncode == 2 and "--summary DIR takes no FILE" in both.stderr
    empty = _rtcdiag("analyze", "--summary", str(tmp_path))
    assert empty.returncode == 3  # nothing read: inconclusive

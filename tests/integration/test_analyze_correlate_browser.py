"""`rtcdiag analyze DUMP CAPTURE LOG` on calls a real headless Chromium makes now (issue 19): two
RTCPeerConnections of one page through a real coturn on loopback, tcpdump capturing, coturn logging
(tests/correlate_calls.py). The three files of each call must give one diagnosis that agrees with the page's
own ground truth; the committed sets of the same scenarios are judged on every run in
tests/unit/test_correlate_fixtures.py (where Chromium is missing too). One call runs live by default;
``RTCDIAG_BROWSER_ALL=1`` makes every scenario."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.probes.browser import unavailable_reason

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlate_calls import SCENARIOS, check_call, files_of, make_call, save
from live_sample import live_sample
from wire_capture import HAVE_TCPDUMP, analyze

REASON = unavailable_reason() or (None if HAVE_TCPDUMP else "tcpdump is not installed (apt-get install "
                                                             "tcpdump)")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
Factory = Callable[[CoturnOptions], RunningCoturn]
# The default run makes one call live (the healthy one: three files that must agree it is one call, the
# quickest); every scenario runs live with RTCDIAG_BROWSER_ALL=1 (the dead port waits ~40 s for its 701).
LIVE = live_sample(SCENARIOS, ["healthy"], "tests/unit/test_correlate_fixtures.py")


@pytest.mark.parametrize("scenario", LIVE)
def test_a_real_call_gives_one_diagnosis(coturn_factory: Factory, tmp_path: Path, scenario: str) -> None:
    call = make_call(SCENARIOS[scenario], coturn_factory)
    save(call, tmp_path)  # (refuses to write a file holding the password)
    proc = analyze([*(str(p) for p in files_of(tmp_path, scenario)), "--json"])
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    assert proc.returncode == report["exit_code"]
    check_call(report, call.truth, scenario)

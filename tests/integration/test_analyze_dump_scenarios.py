"""Make the calls of analyze_dump_scenarios.py again with a real headless Chromium and coturn, and check that
``rtcdiag analyze`` gives each form of each fresh call the verdict the committed one has (the committed calls
are judged on every run by tests/unit/test_analyze_dump_verdicts.py): the verdicts hold on today's browser,
not only on the files.

Needs Debian's ``chromium``, Playwright for Python and coturn; skipped with the reason otherwise. One quick
call runs live by default (the machine is shared); ``RTCDIAG_BROWSER_ALL=1`` runs every call (the two that
outlast RFC 7675's 30 s consent timeout take ~55 s each).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

from rtcdiag.checks.analyze import tables
from rtcdiag.evidence.load import load_all
from rtcdiag.probes.browser import unavailable_reason
from rtcdiag.report.build import build_report
from rtcdiag.triage.analyze import judge

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze_dump_scenarios import BY_NAME, CALLS, generate, save

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live_sample import live_sample

# one healthy call by default; the committed forms of every call are judged in test_analyze_dump_verdicts.py
CHOSEN = live_sample([c.name for c in CALLS], ["healthy-relay-plain-url"],
                     "tests/unit/test_analyze_dump_verdicts.py")
REASON = unavailable_reason() or (None if shutil.which("turnserver") else "coturn is not installed")

pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.mark.parametrize("name", CHOSEN)
def test_a_fresh_call_gets_the_verdict_of_the_committed_one(name: str, tmp_path: Path) -> None:
    call = BY_NAME[name]
    run, truth = asyncio.run(generate(call))
    save(call, run, truth, tmp_path)  # refuses a dump that holds the TURN password
    connected = any(kind == "connection" and state == "connected" for kind, state, _ in truth["states"]["a"])
    assert connected is (call.expect_exit == 0 or name == "turn-killed"), truth  # the page's own word
    forms = sorted(tmp_path.glob(f"{name}.*.gz"))
    assert len(forms) >= 2
    for path in forms:
        dumps = load_all([path])
        report = build_report("analyze", judge(dumps), tables=tables(dumps))
        getstats = path.name.endswith(".getstats.json.gz") and call.getstats_exit is not None
        roots = set() if getstats else set(call.expect)
        code = call.getstats_exit if getstats else call.expect_exit
        assert ({f.id for f in report.roots}, report.exit_code) == (roots, code), path.name

"""Regenerate browser evidence with a real headless Chromium and check ``rtcdiag analyze`` gives the same root
cause as on the committed fixture: the fixtures are what today's browser really writes, not a frozen guess.

Needs Debian's ``chromium`` and Playwright for Python (``pip install '.[browser]'``; ``playwright install`` is
never used) and coturn; skipped with the reason otherwise. One scenario runs live by default (the machine
is shared; the committed dumps of all are judged in tests/unit/test_analyze_fixtures.py);
``RTCDIAG_BROWSER_ALL=1`` runs every scenario of tests/browser/make_fixtures.py (the dead-UDP-port one waits
~40 s for Chromium's 701).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from rtcdiag.checks.analyze import tables
from rtcdiag.evidence.load import load_dump
from rtcdiag.probes.browser import unavailable_reason
from rtcdiag.report.build import build_report
from rtcdiag.triage.analyze import judge

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from make_fixtures import BY_NAME, SCENARIOS, fixture_path, generate, save

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live_sample import live_sample

# one failing scenario by default; the committed dumps of all are judged in test_analyze_fixtures.py
CHOSEN = live_sample([s.name for s in SCENARIOS], ["dtls-fingerprint"], "tests/unit/test_analyze_fixtures.py")
REASON = unavailable_reason()

pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def _roots(path: Path) -> tuple[set[str], int]:
    dumps = [load_dump(path)]
    report = build_report("analyze", judge(dumps), tables=tables(dumps))
    return {f.id for f in report.roots}, report.exit_code


@pytest.mark.parametrize("name", CHOSEN)
def test_regenerated_dump_gives_the_same_diagnosis(name: str, tmp_path: Path) -> None:
    scenario = BY_NAME[name]
    run = asyncio.run(generate(scenario))
    path = save(scenario, run, tmp_path)  # refuses a dump that holds the TURN password
    assert "HeadlessChrome" in run.user_agent or "Chrome" in run.user_agent
    fresh, fresh_exit = _roots(path)
    committed, committed_exit = _roots(fixture_path(name))
    assert fresh == committed == ({scenario.expect} if scenario.expect else set())
    assert fresh_exit == committed_exit == scenario.expect_exit

"""The ground-truth matrix, regenerated live: one quick cell of tests/browser/matrix.py is made again with
a real headless Chromium through a real coturn, and the fresh call must be the cell (its ground truth) and
give, form by form, the verdict its committed evidence gives (tests/unit/test_matrix.py judges those): the
committed files are what today's browser writes, not a frozen guess.

Needs root (each call runs in a network namespace of its own), Debian's ``chromium`` with Playwright for
Python, coturn and tcpdump; skipped with the reason otherwise. ``RTCDIAG_BROWSER_ALL=1`` regenerates every
cell (about 13 minutes; the dead UDP port and the silenced or hung-up callee wait 35-40 s each).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from rtcdiag.probes.browser import unavailable_reason

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from matrix import BY_NAME, CELLS, FILES, MATRIX, analyze, generate, load_truth, save, truth_problems

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from live_sample import live_sample

# one quick failing cell by default (a 401: every form must name it); the committed evidence of every cell is
# judged in test_matrix.py
CHOSEN = live_sample([c.name for c in CELLS], ["auth-wrong-password"], "tests/unit/test_matrix.py")


def _reason() -> str | None:
    if os.geteuid() != 0:
        return "the matrix runs each call in a network namespace of its own (root)"
    for tool in ("turnserver", "tcpdump", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return unavailable_reason()


REASON = _reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.mark.parametrize("name", CHOSEN)
def test_regenerated_cell_gives_the_committed_verdict(name: str, tmp_path: Path) -> None:
    cell = BY_NAME[name]
    run = asyncio.run(generate(cell))  # refuses evidence that holds a credential
    assert not truth_problems(cell, run.truth), f"generator broken: {truth_problems(cell, run.truth)}"
    folder = save(run, tmp_path)
    committed_forms = load_truth(name)["forms"]
    assert sorted(run.truth["forms"]) == sorted(committed_forms)
    for form in committed_forms:
        fresh = analyze([folder / FILES[form]])
        committed = analyze([MATRIX / name / FILES[form]])
        assert (fresh.exit, fresh.errors) == (committed.exit, committed.errors), (
            f"{name} {form}: fresh {fresh.show()}, committed {committed.show()}")

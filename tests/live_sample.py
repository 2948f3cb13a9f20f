"""The live sample of the browser matrix and the long calls (the project's rule: the whole browser matrix and
long calls run live opt-in, ``RTCDIAG_BROWSER_ALL=1``; their committed evidence is judged on every run; the
default run regenerates a small live sample of each kind, so that today's Chromium is still checked against
what the committed files say, and the suite stays quick on a shared 2-core machine)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pytest

ALL = bool(os.environ.get("RTCDIAG_BROWSER_ALL"))


def live_sample(names: Iterable[str], sample: Iterable[str], judged_in: str) -> list[Any]:
    """Parameters for a live test over ``names``: those in ``sample`` run by default, every one with
    RTCDIAG_BROWSER_ALL=1; the others are skipped with a reason naming where their evidence is judged."""
    chosen = set(sample)
    reason = (f"live only with RTCDIAG_BROWSER_ALL=1 (the default run samples {', '.join(sorted(chosen))}); "
              f"its committed evidence is judged in {judged_in}")
    return [name if ALL or name in chosen else pytest.param(name, marks=pytest.mark.skip(reason=reason))
            for name in names]


def opt_in(sample: str, judged_in: str) -> pytest.MarkDecorator:
    """The mark of a live test outside the default sample (``sample`` says what the default run makes)."""
    reason = (f"live only with RTCDIAG_BROWSER_ALL=1 (the default run samples {sample}); its committed "
              f"evidence is judged in {judged_in}")
    return pytest.mark.skipif(not ALL, reason=reason)

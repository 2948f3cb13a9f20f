"""The console report without rich (rtcdiag.report.plain) reads exactly like rich's, character for character:
the same reports rendered both ways at many widths. Reports whose prose holds wide or zero-width characters
are left to rich (render returns None) and are never printed differently."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from test_report_console import _hard_report
from test_report_samples import sample_report

from rtcdiag.report import console, plain
from rtcdiag.report.build import build_report
from rtcdiag.report.layout import Detail, View
from rtcdiag.report.model import Report, Table
from rtcdiag.triage.catalogue import CATALOGUE
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Judgement

WIDTHS = [20, 26, 27, 28, 29, 31, 33, 40, 57, 60, 79, 80, 81, 99, 100, 140, 200]
ASCII_WORDS = ["a", "longwordwithoutanyspaces" * 3, "x\ty", "two  spaces", "end.", "[bold]x[/]", "-" * 70,
               "line\nbreak", "   lead", "trail   ", "\x1b[31mred", "a" * 19, "b" * 20, "c" * 21, "\n\n", " "]


def _ascii_report(seed: int) -> Report:
    """Findings and tables of printable-ASCII text (after escaping) with the shapes that make wrapping
    hard: words longer than any line, runs of spaces, leading and trailing spaces, blank lines."""
    rng = random.Random(seed)

    def para(most: int = 25) -> str:
        return " ".join(rng.choice(ASCII_WORDS) for _ in range(rng.randint(1, most)))

    findings = []
    for n in range(rng.randint(1, 9)):
        fid = rng.choice(sorted(CATALOGUE))
        subject = Subject(rng.choice(["turn:h:1", para(4)]), rng.choice(["h", "h2"]), rng.choice([None, n]),
                          rng.choice([None, "udp", "tcp"]))
        params = {name: para() for name in CATALOGUE[fid].placeholders}
        snippet = [para(6) for _ in range(rng.randint(0, 3))] if rng.random() < 0.5 else None
        finding = make_finding(fid, subject, check=rng.choice(["stun", "turn"]), step=para(2),
                               evidence=[para() for _ in range(rng.randint(0, 3))], snippet=snippet, **params)
        findings.append(finding)
        if rng.random() < 0.4:
            findings.append(make_finding(fid, Subject(f"other {n}", subject.host, subject.port,
                                                      subject.transport), check=finding.check,
                                         step=finding.step, evidence=finding.evidence, **params))
    columns = [para(3) for _ in range(rng.randint(1, 7))]
    rows = [[para(6) for _ in range(rng.randint(0, len(columns)))] for _ in range(rng.randint(0, 5))]
    total = rng.choice([None, len(rows) + rng.randint(0, 300)])
    tables = [Table(para(8), columns, rows, total=total, unit=para(1))] if rng.random() < 0.7 else []
    summary_rows = [[para(2) for _ in range(rng.randint(1, 4))] for _ in range(rng.randint(0, 4))]
    summary = Table(para(3), ["a", "b", "c", "d"], summary_rows, total=rng.choice([None, 50])) \
        if rng.random() < 0.6 else None
    report = build_report("check", Judgement(findings=findings), tables=tables,
                          notes=[para(10) for _ in range(rng.randint(0, 2))], summary=summary,
                          detail_notes=[para(10) for _ in range(rng.randint(0, 2))])
    report.duration_s = rng.random() * 30
    return report


VIEWS = [View(), View(Detail.VERBOSE), View(Detail.QUIET), View(wide=True), View(Detail.VERBOSE, wide=True)]
SOME_WIDTHS = [20, 27, 40, 99]  # for the views whose text hardly depends on the width (-q, --wide)


@pytest.mark.parametrize("seed", range(40))
def test_plain_text_is_what_rich_prints(seed: int) -> None:
    """Every view (the default, -v, -q, --wide): the verdict and summary whole, snippets under the fix,
    warnings beside errors as one line, cut tables saying so."""
    report = _ascii_report(seed)
    for view in VIEWS:
        for width in WIDTHS if view.detail is not Detail.QUIET and not view.wide else SOME_WIDTHS:
            expected = console.render_plain(report, width=width, view=view)
            got = plain.render(report, width, view)
            if width < 27:  # too narrow for the laid-out blocks: rich's grids
                assert got is None
                continue
            assert got == expected, f"width {width}, {view}"


def test_samples_are_rendered_or_left_to_rich() -> None:
    """The sample report is rendered as rich would; texts with wide characters are left to rich."""
    rendered = left = 0
    for report in [sample_report("s3cret-value"), *(_hard_report(seed) for seed in range(12))]:
        for width in WIDTHS:
            for view in VIEWS:
                got = plain.render(report, width, view)
                if got is None:
                    left += 1
                else:
                    rendered += 1
                    assert got == console.render_plain(report, width=width, view=view)
    assert rendered and left


def _stdout_width(env: dict[str, str], stdout: int | None = None) -> str:
    code = "from rtcdiag.report import plain; print(plain.stdout_width())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          stdin=subprocess.DEVNULL)
    return done.stdout.strip()


def test_stdout_width_follows_rich_and_gives_way_to_colour() -> None:
    """No terminal: rich's width (COLUMNS, else 80 when no descriptor is a terminal); FORCE_COLOR or
    TTY_COMPATIBLE=1 make rich colour the output, so the plain path steps aside (None)."""
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    assert _stdout_width(base) == "80"
    assert _stdout_width({**base, "COLUMNS": "132"}) == "132"
    assert _stdout_width({**base, "COLUMNS": "wide"}) == "80"
    assert _stdout_width({**base, "FORCE_COLOR": "1"}) == "None"
    assert _stdout_width({**base, "FORCE_COLOR": ""}) == "80"
    assert _stdout_width({**base, "TTY_COMPATIBLE": "1"}) == "None"
    assert _stdout_width({**base, "TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}) == "80"

"""A subcommand's output: render the built report (console, JSON, Markdown, JUnit, HTML), write the files
asked for, and return the exit code."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rtcdiag import exitcodes
from rtcdiag.errors import OutputError
from rtcdiag.report.model import Report

if TYPE_CHECKING:

    from rtcdiag.report.layout import View

from rtcdiag.commands.shared.options import SUFFIX_FORMAT, OutputOptions, check_output_paths


def _render_text(report: Report, fmt: str) -> str:
    if fmt == "json":
        from rtcdiag.report import json_report

        return json_report.render(report)
    if fmt == "markdown":
        from rtcdiag.report import markdown

        return markdown.render(report)
    if fmt == "junit":
        from rtcdiag.report import junit

        return junit.render(report)
    if fmt == "html":
        from rtcdiag.report import html

        return html.render(report)
    from rtcdiag.report import plain
    from rtcdiag.report.layout import VERBOSE

    text = plain.render(report, PLAIN_WIDTH, VERBOSE)  # a file gets all of it, as -v shows it
    if text is not None:
        return text
    from rtcdiag.report import console

    return console.render_plain(report, PLAIN_WIDTH, VERBOSE)


PLAIN_WIDTH = 100  # --report-file x.txt


def _print_console(report: Report, view: View) -> None:
    """The console report on stdout, as much as ``view`` says: without rich when stdout gets no colour
    (rtcdiag.report.plain prints the same text, for less start-up time), else with rich."""
    from rtcdiag.report import plain

    width = plain.stdout_width()
    text = plain.render(report, width, view) if width is not None else None
    if text is not None:
        sys.stdout.write(text)
        return
    from rtcdiag.report import console

    console.print_report(report, view=view)


def _write(path: Path, text: str) -> str | None:
    """Write one report file; the one-line reason when it fails (no truncated file is left behind)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return f"cannot write {path}: {exc.strerror or exc}"
    return None


def _write_stdout(write: Callable[[], None]) -> str | None:
    """Print the report; a full disk or I/O error on stdout is one line, not an internal error."""
    try:
        write()
        sys.stdout.flush()
    except OSError as exc:
        # Nothing more can reach this stdout; point it at /dev/null so the exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if exc.errno == errno.EPIPE:
            return None  # the reader went away (`| head`): not an error of the run
        return f"cannot write the report to stdout: {exc.strerror or exc}"
    return None


def interruption_note(report: Report) -> str | None:
    """The note of a report cut short by a signal: when, and what had not finished (so is not in it)."""
    stopped = report.interrupted
    if stopped is None:
        return None
    after = max(stopped.at - report.started_at, 0.0)
    cut = f"--deadline {stopped.deadline_s:g} s reached" if stopped.deadline_s is not None else \
        f"Interrupted by {stopped.name} {after:.1f} s into the run"
    text = f"{cut}: this report shows only what had finished, judged on its own."
    if stopped.unfinished:
        text += f" Not finished (not judged): {', '.join(stopped.unfinished)}."
    return text


def emit(report: Report, output: OutputOptions, *, stdout: Callable[[], str] | None = None) -> int:
    """Render ``report`` to stdout and any requested files (each format built once); return its exit code.

    A run cut short by a signal (:mod:`rtcdiag.interrupt`) is reported as what had finished: the verdict
    says INTERRUPTED, a note names what had not, and the exit code is 128 + the signal. ``stdout``: the
    command's own console text instead of the console report (files are written as usual)."""
    from rtcdiag import interrupt

    stopped = interrupt.requested()
    if stopped is not None and report.interrupted is None:
        report.interrupted = stopped
        note = interruption_note(report)
        if note is not None:
            report.notes.append(note)
    if not report.duration_s:
        report.duration_s = round(time.time() - report.started_at, 3)
    rendered: dict[str, str] = {}

    def text(fmt: str) -> str:
        if fmt not in rendered:
            rendered[fmt] = _render_text(report, fmt)
        return rendered[fmt]

    check_output_paths(output.junit, output.report_file, output.html)  # callers without output_options

    def to_stdout() -> None:
        if stdout is not None:  # the command's own console form (lint speaks like a linter)
            sys.stdout.write(stdout())
        elif output.json:
            sys.stdout.write(text("json"))
            sys.stdout.write("\n")  # not concatenated: the JSON of a large check is megabytes
        elif output.markdown:
            sys.stdout.write(text("markdown"))
        else:
            _print_console(report, output.view)

    problems = [_write_stdout(to_stdout)]
    if stopped is not None:
        stopped.reported = True
    if output.junit is not None:
        problems.append(_write(output.junit, text("junit")))
    if output.report_file is not None:
        problems.append(_write(output.report_file, text(SUFFIX_FORMAT[output.report_file.suffix.lower()])))
    if output.html is not None:
        problems.append(_write(output.html, text("html")))
    failed = [p for p in problems if p]
    if failed:
        raise OutputError("; ".join(failed), exit_code=report.exit_code or exitcodes.USAGE)
    return report.exit_code

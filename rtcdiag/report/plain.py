"""The console report without rich, for a stdout that gets no colour (a pipe, a file, a CI log).

Character for character what :mod:`rtcdiag.report.console` prints there (a unit test compares the two over
many reports and widths), at a fraction of the start-up cost: rich's console, styles and tables are not
imported. Only text that rich would measure differently from one cell per character needs rich (wide or
zero-width characters in prose it must wrap), and a console too narrow for the laid-out finding blocks:
:func:`render` returns None for those and the caller prints with rich.
"""

from __future__ import annotations

import builtins
import os
import sys

from rtcdiag.report import layout
from rtcdiag.report.model import Report
from rtcdiag.textsafe import printable_lines
from rtcdiag.triage.finding import Finding

_RULE = "\u2500"  # the rule under a table's header: one cell wide


class _NeedsRich(Exception):
    """Text this module cannot measure exactly as rich does."""


def stdout_width() -> int | None:
    """The width rich's console would use for stdout when it would print no colour there (rich.console
    Console.is_terminal and Console.size); None when it would, or might, print colour."""
    env = os.environ
    if hasattr(builtins, "get_ipython") or getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return None
    tty_compatible = env.get("TTY_COMPATIBLE", "")
    if tty_compatible == "1":
        return None
    if tty_compatible != "0":
        force_color = env.get("FORCE_COLOR")
        if force_color is not None:
            if force_color != "":
                return None
        else:
            try:
                if sys.stdout.isatty():
                    return None
            except ValueError:  # a closed stdout: rich takes it for no terminal
                pass
    columns = env.get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns)
    width = 0
    for descriptor in (0, 1, 2):
        try:
            width = os.get_terminal_size(descriptor).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    return width or 80


def render(report: Report, width: int) -> str | None:
    """The report as rtcdiag.report.console prints it without colour at ``width``; None when only rich can
    say exactly (see the module's docstring)."""
    if not layout.fits_laid_out(width):
        return None
    try:
        chunks = list(_chunks(report, width))
    except _NeedsRich:
        return None
    lines = "".join(chunks).splitlines()
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _chunks(report: Report, width: int) -> list[str]:
    """What each of rtcdiag.report.console.renderables prints, in order."""
    out = [_text(f"rtcdiag {report.command}: {report.verdict}", width), "\n"]
    if report.roots:
        title = "Diagnosis: root cause" if report.root_count == 1 else \
            f"Diagnosis: {report.root_count} root causes"
        out += [_text(title, width), "\n"]
    for group in (*report.root_groups(), *report.info_groups()):
        out.append(_block(group, report, width))
    tables = report.tables or ([layout.checks_table(report)] if report.checks else [])
    for table in tables:
        pieces, fits = layout.table_pieces(table, width)
        out += [pieces.plain + "\n" if fits else _text(pieces.plain, width), "\n"]
    for note in report.notes:
        out.append(_text(printable_lines(f"Note: {note}"), width))
    footer = f"Took {report.duration_s:.2f} s."
    if report.findings:
        footer += " `rtcdiag explain ID` describes a finding."
    out.append(_text(printable_lines(footer), width))
    return out


def _text(value: str, width: int) -> str:
    """A rich Text printed at the console width: wrapped at word boundaries (rich's Text.wrap, overflow
    "fold"), then the line break rich ends it with."""
    return "\n".join(_wrap(value, width)) + "\n"


def _wrap(value: str, width: int) -> list[str]:
    if printable_lines(value.replace(_RULE, "-")) != value.replace(_RULE, "-"):
        raise _NeedsRich  # a control character: rich's Text drops some (strip_control_codes)
    return layout.fold_wrap(value, width)


def _block(group: list[Finding], report: Report, width: int) -> str:
    """rtcdiag.report.console._laid_out_block: the header, then label and value columns, then a blank."""
    first = group[0]
    explained = [f for root in group for f in report.explained(root)]
    rows = layout.block_rows(group, explained)
    label_width = max(layout.LABEL_WIDTH, *(layout.cell_len(label) for label, _, _ in rows))
    value_width = width - layout.BLOCK_INDENT - label_width - 1
    if value_width < 3:
        raise _NeedsRich
    indent = " " * layout.BLOCK_INDENT
    hang = " " * (label_width + 1)
    body: list[str] = [_text(layout.header_pieces(first, "").plain, width)]
    for label, value, _ in rows:
        lines: list[tuple[str, str]] = []
        if isinstance(value, str):
            lines = [("", line) for line in _wrap(value, value_width)]
        else:
            for item in value:
                wrapped = _wrap(item, value_width - 2)
                lines += [("- " if index == 0 else "  ", line) for index, line in enumerate(wrapped)]
        for index, (bullet, line) in enumerate(lines or [("", "")]):
            start = label + " " * (label_width - layout.cell_len(label) + 1) if index == 0 else hang
            body.append(f"{indent}{start}{bullet}{line}\n")
    body.append("\n")
    return "".join(body)

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


def render(report: Report, width: int, view: layout.View | None = None) -> str | None:
    """The report as rtcdiag.report.console prints it without colour at ``width`` and ``view``; None when
    only rich can say exactly (see the module's docstring)."""
    if not layout.fits_laid_out(width):
        return None
    try:
        chunks = [_item(item, width) for item in layout.report_items(report, width, view)]
    except _NeedsRich:
        return None
    lines = "".join(chunks).splitlines()
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _item(item: layout.Item, width: int) -> str:
    """What rtcdiag.report.console prints for one of rtcdiag.report.layout.report_items."""
    if isinstance(item, layout.Whole):
        return item.pieces.plain + "\n"  # never wrapped
    if isinstance(item, layout.Wrapped):
        return _text(item.pieces.plain, width)
    if isinstance(item, layout.Block):
        return _block(item, width)
    pieces, fits = layout.table_pieces(item.table, item.width)
    return pieces.plain + "\n" if fits else _text(pieces.plain, width)


def _text(value: str, width: int) -> str:
    """A rich Text printed at the console width: wrapped at word boundaries (rich's Text.wrap, overflow
    "fold"), then the line break rich ends it with."""
    return "\n".join(_wrap(value, width)) + "\n"


def _wrap(value: str, width: int, *, at_separators: bool = False) -> list[str]:
    if printable_lines(value.replace(_RULE, "-")) != value.replace(_RULE, "-"):
        raise _NeedsRich  # a control character: rich's Text drops some (strip_control_codes)
    return layout.fold_wrap(value, width, at_separators=at_separators)


def _block(block: layout.Block, width: int) -> str:
    """rtcdiag.report.console._laid_out_block: the header, then label and value columns (the fix's lines to
    paste, whole, after the fix), then a blank."""
    rows = block.rows
    label_width = max(layout.LABEL_WIDTH, *(layout.cell_len(label) for label, _, _ in rows))
    value_width = width - layout.BLOCK_INDENT - label_width - 1
    if value_width < 3:
        raise _NeedsRich
    body: list[str] = [_text(layout.header_pieces(block.group[0], "").plain, width)]
    if block.snippet:
        body += _rows(rows[:block.cut], label_width, value_width)
        body.append("\n".join(block.snippet) + "\n")
        body += _rows(rows[block.cut:], label_width, value_width)
    else:
        body += _rows(rows, label_width, value_width)
    body.append("\n")
    return "".join(body)


def _rows(rows: list[layout.Row], label_width: int, value_width: int) -> list[str]:
    indent = " " * layout.BLOCK_INDENT
    hang = " " * (label_width + 1)
    body: list[str] = []
    for label, value, _ in rows:
        lines: list[tuple[str, str]] = []
        if isinstance(value, str):
            lines = [("", line) for line in _wrap(value, value_width, at_separators=True)]
        else:
            for item in value:
                wrapped = _wrap(item, value_width - 2, at_separators=True)
                lines += [("- " if index == 0 else "  ", line) for index, line in enumerate(wrapped)]
        for index, (bullet, line) in enumerate(lines or [("", "")]):
            start = label + " " * (label_width - layout.cell_len(label) + 1) if index == 0 else hang
            body.append(f"{indent}{start}{bullet}{line}\n")
    return body

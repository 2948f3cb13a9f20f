"""Console report with rich: verdict line, findings (symptom / cause / fix / evidence), then the results.

What is shown, and in which order, for a :class:`View` (the default view, ``-v``, ``-q``, ``--wide``) is
decided once, in :func:`rtcdiag.report.layout.report_items`; this module turns those items into rich
renderables (rtcdiag.report.plain prints the same text without rich when there is no colour).

Colour only when stdout is a terminal, never with ``NO_COLOR`` set (rich honours both); the width comes from
the terminal or ``COLUMNS``. Text wraps at word boundaries: table columns are sized so that no word is cut
(a table too wide for the terminal is shown as one block per row instead). The verdict line, the summary and
a fix's lines to paste are never wrapped. The report model is already masked for secrets; every string is
made printable here (no control character from a server reaches the terminal) and each line bounded (a
server's 65,000-byte SOFTWARE is cut, its length said; --json has it).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table as RichTable
from rich.text import Span, Text

from rtcdiag.report import layout
from rtcdiag.report.layout import SEVERITY_STYLE, STATUS_STYLE, VERBOSE, WIDE_WIDTH, Detail, View, cell_len
from rtcdiag.report.model import Report, Table
from rtcdiag.triage.finding import Finding

__all__ = ["SEVERITY_STYLE", "STATUS_STYLE", "VERBOSE", "WIDE_WIDTH", "Detail", "View",
           "make_console", "print_items", "print_report", "render_items", "render_plain", "renderables",
           "table_renderable"]

_LABEL_WIDTH = layout.LABEL_WIDTH


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A console for reports: no markup or highlighting (server text may hold ``[...]``), no emoji."""
    return Console(file=file or sys.stdout, width=width, markup=False, highlight=False, emoji=False)


# --- findings -----------------------------------------------------------------------------------------------


def _header(finding: Finding) -> Text:
    return _styled(layout.header_pieces(finding, SEVERITY_STYLE[finding.severity]))


GROUP_SHOWN = layout.GROUP_SHOWN

_Row = tuple[str, "Text | list[Text]", str]  # label, prose or bullets, style of the value


def _rich_rows(rows: Sequence[layout.Row]) -> list[_Row]:
    """What a block says, one row per label (rtcdiag.report.layout.block_rows), as rich Text."""
    return [(label, Text(value) if isinstance(value, str) else [Text(item) for item in value], style)
            for label, value, style in rows]


def _group_block(group: Sequence[Finding], report: Report, width: int | None = None) -> list[RenderableType]:
    """One finding, or one statement made about several subjects, with what it explains; the fix's snippet
    (lines to paste) right under the fix, each line whole (never wrapped: a wrapped command does not paste).

    With ``width``, laid out here (:func:`_laid_out_block`); without, as nested rich grids (the reference
    layout, and the one used on a console too narrow for the fast path).
    """
    return _block(layout.block_item(group, report), width)


def _block(block: layout.Block, width: int | None) -> list[RenderableType]:
    rows = _rich_rows(block.rows)
    snippet = _unwrapped("\n".join(block.snippet)) if block.snippet else None
    if width is not None and layout.fits_laid_out(width):
        return _laid_out_block(block.group[0], rows, block.cut, snippet, width)
    return _grid_block(block.group[0], rows, block.cut, snippet)


def _grid(rows: list[_Row]) -> RichTable:
    grid = RichTable.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold", min_width=_LABEL_WIDTH)
    grid.add_column(overflow="fold")
    for label, value, style in rows:
        if isinstance(value, Text):
            grid.add_row(label, value)
            continue
        bullets = RichTable.grid(padding=(0, 1))
        bullets.add_column(no_wrap=True, style=style)
        bullets.add_column(overflow="fold", style=style)  # continuation lines hang under the text
        for item in value:
            bullets.add_row("-", item)
        grid.add_row(label, bullets)
    return grid


def _grid_block(first: Finding, rows: list[_Row], cut: int,
                snippet: _Unwrapped | None) -> list[RenderableType]:
    if snippet is None:
        return [Group(_header(first), Padding(_grid(rows), (0, 0, 1, 2), expand=False))]
    after: RenderableType = Padding(_grid(rows[cut:]), (0, 0, 1, 2), expand=False) if rows[cut:] else Text()
    return [Group(_header(first), Padding(_grid(rows[:cut]), (0, 0, 0, 2), expand=False)), snippet, after]


# --- the same blocks, laid out here ---------------------------------------------------------------------
#
# A rich grid measures every cell of every nested grid to size its columns, which made the console report of
# a 60-URL check cost more than its probes. The layout is fixed: a label column as wide as its longest label
# (at least "Evidence"), one space, and the value wrapped like rich's Text.wrap (overflow "fold", a word
# wider than the line folded after a separator: rtcdiag.report.layout.fold_breaks) in the rest of the width,
# bullets as "- " with a hanging indent; the block is indented by two and followed by a blank line. A unit
# test checks that the text is the same as the grids' at many widths.

_BLOCK_INDENT = layout.BLOCK_INDENT


def _wrap_lines(text: Text, width: int) -> list[Text]:
    """``text`` wrapped like rich's ``Text.wrap(overflow="fold")``, a long token folded at a separator."""
    lines: list[Text] = []
    for line in text.split(allow_blank=True):
        pieces = line.divide(layout.fold_breaks(line.plain, width, at_separators=True))
        for piece in pieces:
            piece.rstrip_end(width)
        lines.extend(pieces)
    return lines


def _laid_out_block(first: Finding, rows: list[_Row], cut: int, snippet: _Unwrapped | None,
                    width: int) -> list[RenderableType]:
    label_width = max(_LABEL_WIDTH, *(cell_len(label) for label, _, _ in rows))
    if snippet is None:
        return [Group(_header(first), _laid_out_rows(rows, label_width, width), Text())]
    return [Group(_header(first), _laid_out_rows(rows[:cut], label_width, width)), snippet,
            Group(_laid_out_rows(rows[cut:], label_width, width), Text())]


def _laid_out_rows(rows: list[_Row], label_width: int, width: int) -> Text:
    value_width = width - _BLOCK_INDENT - label_width - 1
    body = Text(no_wrap=True, overflow="ignore", end="")
    indent = " " * _BLOCK_INDENT
    hang = " " * (label_width + 1)
    for label, value, style in rows:
        lines: list[tuple[str, Text]] = []
        if isinstance(value, Text):
            lines = [("", line) for line in _wrap_lines(value, value_width)]
        else:
            for item in value:
                wrapped = _wrap_lines(item, value_width - 2)
                lines += [("- " if index == 0 else "  ", line) for index, line in enumerate(wrapped)]
        for index, (bullet, line) in enumerate(lines or [("", Text())]):
            body.append(indent)
            if index == 0:
                body.append(label, style="bold")
                body.append(" " * (label_width - cell_len(label) + 1))
            else:
                body.append(hang)
            if bullet:
                body.append(bullet, style=style)
            line.stylize(style)
            body.append_text(line)
            body.append("\n")
    return body


# --- tables (laid out by rtcdiag.report.layout) -------------------------------------------------------

_column_widths = layout.column_widths


def _styled(pieces: layout.Pieces, style: str = "") -> Text:
    return Text(pieces.plain, style=style,
                spans=[Span(start, end, piece_style) for start, end, piece_style in pieces.styled])


class _LaidOut(Group):
    """A Text whose every line fits the width, printed as it is: rich does not wrap it again. (A Group,
    because Console.print joins bare Text objects into a new one, dropping their overflow setting.)"""

    def __init__(self, text: Text) -> None:
        text.overflow = "ignore"
        super().__init__(text)
        self.text = text


class _Unwrapped(Text):
    """Lines printed as they are, never wrapped or cropped (the verdict, the summary, a fix's snippet)."""


def _unwrapped(value: str | layout.Pieces) -> _Unwrapped:
    pieces = value if isinstance(value, layout.Pieces) else None
    plain = pieces.plain if pieces is not None else str(value)
    spans = [Span(start, end, style) for start, end, style in pieces.styled] if pieces is not None else []
    return _Unwrapped(plain, no_wrap=True, overflow="ignore", end="", spans=spans)


def table_renderable(table: Table, width: int) -> RenderableType:
    """A grid (columns sized so that no word is cut), or one block per row when the columns cannot fit."""
    pieces, fits = layout.table_pieces(table, width)
    text = _styled(pieces)
    return _LaidOut(text) if fits else text


_checks_table = layout.checks_table


# --- the report ---------------------------------------------------------------------------------------------


def renderables(report: Report, width: int, view: View | None = None) -> Iterator[RenderableType]:
    """What the console shows, top to bottom (rtcdiag.report.layout.report_items), as rich renderables."""
    for item in layout.report_items(report, width, view):
        if isinstance(item, layout.Whole):
            yield _unwrapped(item.pieces)
        elif isinstance(item, layout.Wrapped):
            yield _styled(item.pieces, item.style)
        elif isinstance(item, layout.Block):
            yield from _block(item, width)
        else:
            yield table_renderable(item.table, item.width)


def render_items(console: Console, items: Iterable[RenderableType]) -> str:
    """What ``console`` would print for ``items``, trailing blanks stripped.

    Without colour, a laid-out text (a table whose lines already fit) is its plain text: rich would only
    turn it into segments and back (most of the console time of a 200-row table). A line never wrapped is
    printed with soft wrapping (a terminal folds it itself; a pipe gets it whole).
    """
    plain = console.color_system is None
    chunks: list[str] = []
    pending: list[RenderableType] = []

    def flush() -> None:
        if pending:
            with console.capture() as capture:
                for item in pending:
                    console.print(item, highlight=False, markup=False, emoji=False)
            chunks.append(capture.get())
            pending.clear()

    for item in items:
        if plain and isinstance(item, _LaidOut):
            flush()
            chunks.append(item.text.plain + "\n")
        elif isinstance(item, _Unwrapped):
            flush()
            if plain:
                chunks.append(item.plain + "\n")
            else:
                with console.capture() as capture:
                    console.print(item, highlight=False, markup=False, emoji=False, soft_wrap=True)
                chunks.append(capture.get())
        else:
            pending.append(item)
    flush()
    lines = "".join(chunks).splitlines()
    return "\n".join(line.rstrip() for line in lines) + "\n"


def print_items(items: Iterable[RenderableType], console: Console | None = None) -> None:
    """Print rich renderables like a report (used by ``rtcdiag explain``)."""
    console = console or make_console()
    console.file.write(render_items(console, items))
    console.file.flush()


def _render(console: Console, report: Report, view: View | None = None) -> str:
    return render_items(console, renderables(report, console.width, view))


def print_report(report: Report, console: Console | None = None, view: View | None = None) -> None:
    """Print the report to ``console`` (default: stdout, colour only on a terminal and without NO_COLOR), as
    much of it as ``view`` says (default: verdict, root causes, one line per server x transport)."""
    console = console or make_console()
    console.file.write(_render(console, report, view))
    console.file.flush()


def render_plain(report: Report, width: int = 100, view: View = VERBOSE) -> str:
    """The console report as plain text without colour codes (for ``--report-file x.txt``: all of it)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                      no_color=True, markup=False, highlight=False, emoji=False)
    return _render(console, report, view)

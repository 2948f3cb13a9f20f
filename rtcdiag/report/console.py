"""Console report with rich: verdict line, findings (symptom / cause / fix / evidence), then the tables.

The report opens with the diagnosis: each root cause with symptom, cause, fix and evidence, and the findings
it explains folded under it as one line each; then findings for the record (info), then the tables.

Colour only when stdout is a terminal, never with ``NO_COLOR`` set (rich honours both); the width comes from
the terminal or ``COLUMNS``. Text wraps at word boundaries: table columns are sized so that no word is cut
(a table too wide for the terminal is shown as one block per row instead). The report model is already
masked for secrets; every string is made printable here (no control character from a server reaches the
terminal) and each line bounded (a server's 65,000-byte SOFTWARE is cut, its length said; --json has it).
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
from rtcdiag.report.layout import cell_len
from rtcdiag.report.model import Report, Status, Table
from rtcdiag.textsafe import shown
from rtcdiag.triage.finding import Finding, Severity

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
STATUS_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red",
                "inconclusive": "bold yellow", "error": "bold red", "interrupted": "bold yellow"}
CHECK_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim",
               Status.INCONCLUSIVE: "yellow"}
_LABEL_WIDTH = layout.LABEL_WIDTH


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A console for reports: no markup or highlighting (server text may hold ``[...]``), no emoji."""
    return Console(file=file or sys.stdout, width=width, markup=False, highlight=False, emoji=False)


def _text(value: str, style: str = "") -> Text:
    return Text(shown(value), style=style)


# --- findings -----------------------------------------------------------------------------------------------


def _header(finding: Finding) -> Text:
    return _styled(layout.header_pieces(finding, SEVERITY_STYLE[finding.severity]))


GROUP_SHOWN = layout.GROUP_SHOWN

_Row = tuple[str, "Text | list[Text]", str]  # label, prose or bullets, style of the value


def _block_rows(group: Sequence[Finding], explained: Sequence[Finding]) -> list[_Row]:
    """What a block says, one row per label (rtcdiag.report.layout.block_rows), as rich Text."""
    return [(label, Text(value) if isinstance(value, str) else [Text(item) for item in value], style)
            for label, value, style in layout.block_rows(group, explained)]


def _group_block(group: Sequence[Finding], report: Report, width: int | None = None) -> RenderableType:
    """One finding, or one statement made about several subjects, with what it explains.

    With ``width``, laid out here (:func:`_laid_out_block`); without, as nested rich grids (the reference
    layout, and the one used on a console too narrow for the fast path).
    """
    explained = [f for root in group for f in report.explained(root)]
    rows = _block_rows(group, explained)
    if width is not None and layout.fits_laid_out(width):
        return _laid_out_block(group[0], rows, width)
    return _grid_block(group[0], rows)


def _grid_block(first: Finding, rows: list[_Row]) -> RenderableType:
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
    return Group(_header(first), Padding(grid, (0, 0, 1, 2), expand=False))


# --- the same blocks, laid out here ---------------------------------------------------------------------
#
# A rich grid measures every cell of every nested grid to size its columns, which made the console report of
# a 60-URL check cost more than its probes. The layout is fixed: a label column as wide as its longest label
# (at least "Evidence"), one space, and the value wrapped by rich itself (Text.wrap, overflow "fold") in the
# rest of the width, bullets as "- " with a hanging indent; the block is indented by two and followed by a
# blank line. A unit test checks that the text is the same as the grids' at many widths.

_BLOCK_INDENT = layout.BLOCK_INDENT
_WRAP_CONSOLE: list[Console] = []


def _wrap_lines(text: Text, width: int) -> list[Text]:
    if not _WRAP_CONSOLE:
        _WRAP_CONSOLE.append(Console(file=io.StringIO(), markup=False, highlight=False, emoji=False))
    return list(text.wrap(_WRAP_CONSOLE[0], width, overflow="fold"))


def _laid_out_block(first: Finding, rows: list[_Row], width: int) -> RenderableType:
    label_width = max(_LABEL_WIDTH, *(cell_len(label) for label, _, _ in rows))
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
    return Group(_header(first), body, Text())


# --- tables (laid out by rtcdiag.report.layout) -------------------------------------------------------

_column_widths = layout.column_widths


def _styled(pieces: layout.Pieces) -> Text:
    return Text(pieces.plain, spans=[Span(start, end, style) for start, end, style in pieces.styled])


class _LaidOut(Group):
    """A Text whose every line fits the width, printed as it is: rich does not wrap it again. (A Group,
    because Console.print joins bare Text objects into a new one, dropping their overflow setting.)"""

    def __init__(self, text: Text) -> None:
        text.overflow = "ignore"
        super().__init__(text)
        self.text = text


def table_renderable(table: Table, width: int) -> RenderableType:
    """A grid (columns sized so that no word is cut), or one block per row when the columns cannot fit."""
    pieces, fits = layout.table_pieces(table, width)
    text = _styled(pieces)
    return _LaidOut(text) if fits else text


_checks_table = layout.checks_table


# --- the report ---------------------------------------------------------------------------------------------


def renderables(report: Report, width: int) -> Iterator[RenderableType]:
    """What the console shows, top to bottom: verdict, diagnosis, findings for the record, tables."""
    verdict = Text()
    verdict.append(f"rtcdiag {report.command}: ", style="bold")
    verdict.append(report.verdict, style=STATUS_STYLE[report.status])
    yield verdict
    yield Text()
    if report.roots:
        title = "Diagnosis: root cause" if report.root_count == 1 else \
            f"Diagnosis: {report.root_count} root causes"
        yield Text(title, style="bold underline")
        yield Text()
    for group in report.root_groups():
        yield _group_block(group, report, width)
    for group in report.info_groups():
        yield _group_block(group, report, width)
    tables: Iterable[Table] = report.tables or ([_checks_table(report)] if report.checks else [])
    for table in tables:
        yield table_renderable(table, width)
        yield Text()
    for note in report.notes:
        yield _text(f"Note: {note}", "dim")
    footer = f"Took {report.duration_s:.2f} s."
    if report.findings:
        footer += " `rtcdiag explain ID` describes a finding."
    yield _text(footer, "dim")


def render_items(console: Console, items: Iterable[RenderableType]) -> str:
    """What ``console`` would print for ``items``, trailing blanks stripped.

    Without colour, a laid-out text (a table whose lines already fit) is its plain text: rich would only
    turn it into segments and back (most of the console time of a 200-row table).
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


def _render(console: Console, report: Report) -> str:
    return render_items(console, renderables(report, console.width))


def print_report(report: Report, console: Console | None = None) -> None:
    """Print the report to ``console`` (default: stdout, colour only on a terminal and without NO_COLOR)."""
    console = console or make_console()
    console.file.write(_render(console, report))
    console.file.flush()


def render_plain(report: Report, width: int = 100) -> str:
    """The console report as plain text without colour codes (for ``--report-file x.txt``)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                      no_color=True, markup=False, highlight=False, emoji=False)
    return _render(console, report)

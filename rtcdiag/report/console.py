"""Console report with rich: verdict line, findings (symptom / cause / fix / evidence), then the tables.

The report opens with the diagnosis: each root cause with symptom, cause, fix and evidence, and the findings
it explains folded under it as one line each; then findings for the record (info), then the tables.

Colour only when stdout is a terminal, never with ``NO_COLOR`` set (rich honours both); the width comes from
the terminal or ``COLUMNS``. Text wraps at word boundaries: table columns are sized so that no word is cut
(a table too wide for the terminal is shown as one block per row instead). The report model is already
masked for secrets; every string is made printable here (no control character from a server reaches the
terminal).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table as RichTable
from rich.text import Text

from rtcdiag.report.model import Report, Status, Table
from rtcdiag.textsafe import printable, printable_lines
from rtcdiag.triage.finding import Finding, Severity

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
STATUS_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red",
                "inconclusive": "bold yellow", "error": "bold red"}
CHECK_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim",
               Status.INCONCLUSIVE: "yellow"}
_CELL_OVERHEAD = 3  # padding left + right and one divider per column (box.SIMPLE_HEAD)
_LABEL_WIDTH = len("Evidence")


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A console for reports: no markup or highlighting (server text may hold ``[...]``), no emoji."""
    return Console(file=file or sys.stdout, width=width, markup=False, highlight=False, emoji=False)


def _text(value: str, style: str = "") -> Text:
    return Text(printable_lines(value), style=style)


def _words(value: str) -> list[str]:
    return value.split()


def _longest_word(value: str) -> int:
    return max((cell_len(w) for w in _words(value)), default=0)


def _longest_line(value: str) -> int:
    return max((cell_len(line) for line in value.splitlines()), default=0)


# --- findings -----------------------------------------------------------------------------------------------


def _header(finding: Finding) -> Text:
    header = Text()
    header.append(f"{finding.severity.value.upper()} ", style=SEVERITY_STYLE[finding.severity])
    header.append(f"{finding.id} ", style="bold")
    header.append(printable(finding.title))
    return header


def _subject_text(finding: Finding) -> str:
    s = finding.subject
    where = s.server + (f" over {s.transport.upper()}" if s.transport else "")
    return f"{where} ({finding.check} check, step {finding.step})"


def _finding_block(finding: Finding, explained: Sequence[Finding] = ()) -> RenderableType:
    grid = RichTable.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold", min_width=_LABEL_WIDTH)
    grid.add_column(overflow="fold")
    grid.add_row("Subject", _text(_subject_text(finding)))
    grid.add_row("Symptom", _text(finding.symptom))
    grid.add_row("Cause", _text(finding.cause))
    grid.add_row("Fix", _text(finding.fix))
    if finding.evidence:
        bullets = RichTable.grid(padding=(0, 1))
        bullets.add_column(no_wrap=True, style="dim")
        bullets.add_column(overflow="fold", style="dim")  # continuation lines hang under the text
        for line in finding.evidence:
            bullets.add_row("-", _text(printable(line)))
        grid.add_row("Evidence", bullets)
    if explained:
        folded = RichTable.grid(padding=(0, 1))
        folded.add_column(no_wrap=True, style="dim")
        folded.add_column(overflow="fold", style="dim")
        for other in explained:
            folded.add_row("-", _text(f"{other.id} {other.title} - {_subject_text(other)}"))
        grid.add_row("Explains", folded)
    return Group(_header(finding), Padding(grid, (0, 0, 1, 2), expand=False))


# --- tables -------------------------------------------------------------------------------------------------


def _column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int] | None:
    """Widths that fit ``width`` without cutting a word, or None if even the longest words do not fit.

    Each column gets its longest word, then the remaining space in proportion to how much more it wants.
    """
    cells = [[columns[i], *(row[i] if i < len(row) else "" for row in rows)] for i in range(len(columns))]
    natural = [max(_longest_line(c) for c in col) for col in cells]
    minimum = [max(_longest_word(c) for c in col) for col in cells]
    available = width - _CELL_OVERHEAD * len(columns) - 1
    if sum(natural) <= available:
        return natural
    if sum(minimum) > available:
        return None
    spare = available - sum(minimum)
    wants = [n - m for n, m in zip(natural, minimum, strict=True)]
    total_want = sum(wants) or 1
    widths = [m + spare * w // total_want for m, w in zip(minimum, wants, strict=True)]
    return widths


def _grid_table(table: Table, widths: list[int]) -> RenderableType:
    rich_table = RichTable(title=printable(table.title), title_justify="left", title_style="bold",
                           box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    for name, column_width in zip(table.columns, widths, strict=True):
        rich_table.add_column(_text(name), width=column_width, overflow="fold")
    for row in table.rows:
        cells = [*row, *[""] * (len(table.columns) - len(row))][: len(table.columns)]
        rich_table.add_row(*(_text(cell) for cell in cells))
    return rich_table


def _record_table(table: Table) -> RenderableType:
    """A table too wide for the terminal: one block of ``column  value`` lines per row."""
    blocks: list[RenderableType] = [_text(table.title, "bold")]
    for index, row in enumerate(table.rows):
        grid = RichTable.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(overflow="fold")
        for name, cell in zip(table.columns, row, strict=False):
            grid.add_row(_text(name), _text(cell))
        if index:
            blocks.append(Text())
        blocks.append(Padding(grid, (0, 0, 0, 2), expand=False))
    return Group(*blocks)


def table_renderable(table: Table, width: int) -> RenderableType:
    columns = [printable_lines(c) for c in table.columns]
    rows = [[printable_lines(c) for c in row] for row in table.rows]
    widths = _column_widths(columns, rows, width)
    if widths is None:
        return _record_table(table)
    return _grid_table(table, widths)


def _checks_table(report: Report) -> Table:
    return Table(title="Checks", columns=["server", "check", "status", "message"],
                 rows=[[c.suite, c.name, c.status.value, c.message] for c in report.checks])


# --- the report ---------------------------------------------------------------------------------------------


def renderables(report: Report, width: int) -> Iterator[RenderableType]:
    """What the console shows, top to bottom: verdict, diagnosis, findings for the record, tables."""
    verdict = Text()
    verdict.append(f"rtcdiag {report.command}: ", style="bold")
    verdict.append(report.verdict, style=STATUS_STYLE[report.status])
    yield verdict
    yield Text()
    if report.roots:
        title = "Diagnosis: root cause" if len(report.roots) == 1 else \
            f"Diagnosis: {len(report.roots)} root causes"
        yield Text(title, style="bold underline")
        yield Text()
    for root in report.roots:
        yield _finding_block(root, report.explained(root))
    for finding in report.unexplained_info():
        yield _finding_block(finding)
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
    """What ``console`` would print for ``items``, trailing blanks stripped."""
    with console.capture() as capture:
        for item in items:
            console.print(item, highlight=False, markup=False, emoji=False)
    lines = capture.get().splitlines()
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

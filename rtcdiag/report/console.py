"""Console report with rich: verdict line, findings (symptom / cause / fix / evidence), then the results.

Short when it passes, complete when it fails. The first line is the verdict, never wrapped (``| head -1`` in
CI gives all of it). Then the diagnosis: each root cause with symptom, cause, fix and evidence, and the
findings it explains folded under it as one line each; then one line per server x transport (the report's
``summary``). Findings for the record (info), the full tables and descriptive notes are shown with
``-v``/``--verbose`` (:class:`View`); ``-q``/``--quiet`` prints the verdict line only; ``--wide`` lays tables
out at their natural width (never as one block per row), like ``kubectl -o wide``. A command without a
summary shows its tables by default.

Colour only when stdout is a terminal, never with ``NO_COLOR`` set (rich honours both); the width comes from
the terminal or ``COLUMNS``. Text wraps at word boundaries: table columns are sized so that no word is cut
(a table too wide for the terminal is shown as one block per row instead). The report model is already
masked for secrets; every string is made printable here (no control character from a server reaches the
terminal) and each line bounded (a server's 65,000-byte SOFTWARE is cut, its length said; --json has it).
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import IO

from rich._wrap import words
from rich.cells import cell_len, chop_cells
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table as RichTable
from rich.text import Span, Text

from rtcdiag.report.model import Report, Status, Table, group_snippet, where
from rtcdiag.textsafe import shown, shown_line
from rtcdiag.triage.finding import Finding, Severity

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
STATUS_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red",
                "inconclusive": "bold yellow", "error": "bold red", "interrupted": "bold yellow"}
CHECK_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim",
               Status.INCONCLUSIVE: "yellow"}
_CELL_OVERHEAD = 3  # padding left + right and one divider per column (box.SIMPLE_HEAD)
_LABEL_WIDTH = len("Evidence")
WIDE_WIDTH = 10_000  # --wide: tables as wide as their content


class Detail(IntEnum):
    QUIET = 0  # the verdict line only (-q, like dig +short)
    NORMAL = 1  # verdict, root causes, one line per server x transport
    VERBOSE = 2  # also info findings, the full tables and descriptive notes (-v)


@dataclass(frozen=True)
class View:
    """How much of the report the console shows, and whether tables keep their natural width."""

    detail: Detail = Detail.NORMAL
    wide: bool = False


VERBOSE = View(Detail.VERBOSE)


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A console for reports: no markup or highlighting (server text may hold ``[...]``), no emoji."""
    return Console(file=file or sys.stdout, width=width, markup=False, highlight=False, emoji=False)


def _text(value: str, style: str = "") -> Text:
    return Text(shown(value), style=style)


def _words(value: str) -> list[str]:
    return value.split()


def _longest_whole_word(value: str) -> int:
    return max((cell_len(w) for w in _words(value)), default=0)


def _longest_word(value: str) -> int:
    """The widest piece of ``value`` that cannot be folded: a word, or a part of a long URL-like word up to
    a separator it may fold after (a table column need not be as wide as a whole URL)."""
    return max((cell_len(piece) for w in _words(value) for piece in _SEPARATED.findall(w)), default=0)


def _longest_line(value: str) -> int:
    return max((cell_len(line) for line in value.splitlines()), default=0)


# --- findings -----------------------------------------------------------------------------------------------


def _header(finding: Finding) -> Text:
    header = Text()
    header.append(f"{finding.severity.value.upper()} ", style=SEVERITY_STYLE[finding.severity])
    header.append(f"{finding.id} ", style="bold")
    header.append(shown_line(finding.title))
    return header


def _subject_text(finding: Finding) -> str:
    return f"{where(finding)} ({finding.check} check, step {finding.step})"


GROUP_SHOWN = 8  # subjects listed in full for a root cause shared by many; the rest are counted

_Row = tuple[str, "Text | list[Text]", str]  # label, prose or bullets, style of the value


def _more(count: int) -> Text:
    return _text(f"... and {count - GROUP_SHOWN} more (--json lists every one)")


def _block_rows(group: Sequence[Finding], explained: Sequence[Finding]) -> list[_Row]:
    """What a block says, one row per label: both layouts below render these rows."""
    first = group[0]
    rows: list[_Row] = []
    if len(group) == 1:
        rows.append(("Subject", _text(_subject_text(first)), ""))
        rows.append(("Symptom", _text(first.symptom), ""))
    else:
        lines = list(dict.fromkeys(f"{_subject_text(root)}: {root.symptom}" for root in group))
        subjects = [_text(line) for line in lines[:GROUP_SHOWN]]
        if len(lines) > GROUP_SHOWN:
            subjects.append(_more(len(lines)))
        rows.append((f"{len(group)} x", subjects, ""))
    rows.append(("Cause", _text(first.cause), ""))
    rows.append(("Fix", _text(first.fix), ""))
    if first.evidence:
        rows.append(("Evidence", [Text(shown_line(line)) for line in first.evidence], "dim"))
    if explained:
        folded = [_text(f"{other.id} {other.title} - {_subject_text(other)}")
                  for other in explained[:GROUP_SHOWN]]
        if len(explained) > GROUP_SHOWN:
            folded.append(_more(len(explained)))
        rows.append(("Explains", folded, "dim"))
    return rows


def _group_block(group: Sequence[Finding], report: Report, width: int | None = None) -> list[RenderableType]:
    """One finding, or one statement made about several subjects, with what it explains; the fix's snippet
    (lines to paste) right under the fix, each line whole (never wrapped: a wrapped command does not paste).

    With ``width``, laid out here (:func:`_laid_out_block`); without, as nested rich grids (the reference
    layout, and the one used on a console too narrow for the fast path).
    """
    explained = [f for root in group for f in report.explained(root)]
    rows = _block_rows(group, explained)
    cut = next(i for i, (label, _, _) in enumerate(rows) if label == "Fix") + 1
    snippet = _snippet(group_snippet(list(group)))
    if width is not None and width - _BLOCK_INDENT - _LABEL_WIDTH - 1 >= _MIN_VALUE_WIDTH:
        return _laid_out_block(group[0], rows, cut, snippet, width)
    return _grid_block(group[0], rows, cut, snippet)


_SNIPPET_INDENT = " " * (2 + _LABEL_WIDTH + 1 + 2)  # under the fix's text (block indent 2), two further in


def _snippet(lines: Sequence[str]) -> _Unwrapped | None:
    if not lines:
        return None
    return _Unwrapped("\n".join(_SNIPPET_INDENT + shown_line(line) for line in lines), no_wrap=True,
                      overflow="ignore", end="")


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
# (at least "Evidence"), one space, and the value wrapped by rich itself (Text.wrap, overflow "fold") in the
# rest of the width, bullets as "- " with a hanging indent; the block is indented by two and followed by a
# blank line. A unit test checks that the text is the same as the grids' at many widths.

_BLOCK_INDENT = 2
_MIN_VALUE_WIDTH = 16


# A word wider than the line is folded after one of these (an SDP fmtp folds after "packetization-mode=1;",
# a URL after a "/" or its "?"), never in the middle of a token that has them.
_FOLD_AFTER = frozenset(";,&/?")
_SEPARATED = re.compile(r"[^;,&/?]*[;,&/?]?")  # the pieces of a word, each with the separator that ends it


def _chop(word: str, width: int) -> list[str]:
    """``word`` in pieces of at most ``width`` cells, each ending after the last separator that fits (else
    cut where the cells run out, as rich does)."""
    pieces: list[str] = []
    while cell_len(word) > width:
        first = chop_cells(word, width)[0]
        cut = max((i + 1 for i, ch in enumerate(first) if ch in _FOLD_AFTER), default=0) or len(first)
        pieces.append(word[:cut])
        word = word[cut:]
    if word:
        pieces.append(word)
    return pieces


def _divide_line(text: str, width: int) -> list[int]:
    """rich's ``divide_line`` (word wrap, offsets to break at) with :func:`_chop` for words wider than a
    line."""
    breaks: list[int] = []
    offset = 0
    for start, _end, word in words(text):
        length = cell_len(word.rstrip())
        if width - offset >= length:
            offset += cell_len(word)
        elif length > width:
            pieces = _chop(word, width)
            for index, piece in enumerate(pieces):
                if start:
                    breaks.append(start)
                if index == len(pieces) - 1:
                    offset = cell_len(piece)
                else:
                    start += len(piece)
        elif offset and start:
            breaks.append(start)
            offset = cell_len(word)
    return breaks


def _wrap_lines(text: Text, width: int) -> list[Text]:
    """``text`` wrapped like rich's ``Text.wrap(overflow="fold")``, a long token folded at a separator."""
    lines: list[Text] = []
    for line in text.split(allow_blank=True):
        if "\t" in line.plain:
            line.expand_tabs(8)
        pieces = line.divide(_divide_line(line.plain, width))
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


# --- tables -------------------------------------------------------------------------------------------------


def _column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int] | None:
    """Widths that fit ``width`` without cutting a word, or None if even the longest words do not fit.

    Each column gets its longest word, then the remaining space in proportion to how much more it wants.
    When the whole words do not fit, a long URL-like word may fold after a separator (``?``, ``/``, ``;``):
    a grid of a few folded URLs reads better at 100 columns than one block per row.
    """
    cells = [[columns[i], *(row[i] if i < len(row) else "" for row in rows)] for i in range(len(columns))]
    natural = [max(_longest_line(c) for c in col) for col in cells]
    minimum = [max(_longest_whole_word(c) for c in col) for col in cells]
    available = width - _CELL_OVERHEAD * len(columns) - 1
    if sum(natural) <= available:
        return natural
    if sum(minimum) > available:
        minimum = [max(_longest_word(c) for c in col) for col in cells]
    if sum(minimum) > available:
        return None
    spare = available - sum(minimum)
    wants = [n - m for n, m in zip(natural, minimum, strict=True)]
    total_want = sum(wants) or 1
    widths = [m + spare * w // total_want for m, w in zip(minimum, wants, strict=True)]
    return widths


def _wrap(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` cells, broken at spaces (a longer word is folded)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, used = "", 0
        for word in paragraph.split():
            size = cell_len(word)
            if size > width:  # fold a word that cannot fit on any line (after a separator when it can)
                if line:
                    lines.append(line)
                    line, used = "", 0
                *folded, word = _chop(word, width)
                lines += folded
                size = cell_len(word)
            if not word:
                continue
            if line and used + 1 + size > width:
                lines.append(line)
                line, used = "", 0
            line, used = (f"{line} {word}", used + 1 + size) if line else (word, size)
        lines.append(line)
    return lines


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - cell_len(text), 0)


class _TextBuilder:
    """Pieces of plain text with optional styles, made into one rich Text at the end (a table of thousands of
    lines appended piece by piece to a Text spent most of its time in Text.append)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def append(self, text: str, style: str = "") -> None:
        if not text:
            return
        if style:
            self.spans.append(Span(self.length, self.length + len(text), style))
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> Text:
        return Text("".join(self.parts), spans=self.spans)


def _grid_table(table: Table, widths: list[int], width: int) -> RenderableType:
    """Header, a rule, then the rows; cells wrapped at word boundaries into their column width."""
    gap = " " * _CELL_OVERHEAD
    out = _TextBuilder()
    out.append(shown_line(table.title), style="bold")
    out.append("\n")
    header = [_wrap(shown(c), w) for c, w in zip(table.columns, widths, strict=True)]
    rows = [header, *([_wrap(shown(cell), w) for cell, w in
                       zip([*row, *[""] * (len(table.columns) - len(row))], widths, strict=False)]
                      for row in table.rows)]
    for index, cells in enumerate(rows):
        height = max(len(c) for c in cells)
        for line_no in range(height):
            parts = [_pad(c[line_no] if line_no < len(c) else "", w)
                     for c, w in zip(cells, widths, strict=True)]
            out.append(gap.join(parts).rstrip() + "\n", style="bold" if index == 0 else "")
        if index == 0:
            out.append("\u2500" * (sum(widths) + _CELL_OVERHEAD * (len(widths) - 1)) + "\n")
    text = out.text()
    text.rstrip()
    if cell_len(shown_line(table.title)) <= width:
        return _LaidOut(text)  # every line already fits (widths from _column_widths)
    return text


def _record_table(table: Table, width: int) -> RenderableType:
    """A table too wide for the terminal: one block of ``column  value`` lines per row."""
    out = _TextBuilder()
    out.append(shown_line(table.title), style="bold")
    label_width = max((cell_len(shown_line(c)) for c in table.columns), default=0)
    value_width = max(width - 2 - label_width - 1, 10)
    labels = [shown_line(name) for name in table.columns]
    blank = _pad("", label_width)
    for index, row in enumerate(table.rows):
        if index:
            out.append("\n")
        for name, cell in zip(labels, row, strict=False):
            for line_no, line in enumerate(_wrap(shown(cell), value_width)):
                out.append("\n  ")
                out.append(_pad(name, label_width) if line_no == 0 else blank, style="bold")
                out.append(" " + line if line else "")
    text = out.text()
    if 2 + label_width + 1 + value_width <= width and cell_len(shown_line(table.title)) <= width:
        return _LaidOut(text)  # every line already fits
    return text


class _LaidOut(Group):
    """A Text whose every line fits the width, printed as it is: rich does not wrap it again. (A Group,
    because Console.print joins bare Text objects into a new one, dropping their overflow setting.)"""

    def __init__(self, text: Text) -> None:
        text.overflow = "ignore"
        super().__init__(text)
        self.text = text


def table_renderable(table: Table, width: int) -> RenderableType:
    columns = [shown(c) for c in table.columns]
    rows = [[shown(c) for c in row] for row in table.rows]
    widths = _column_widths(columns, rows, width)
    if widths is None:
        return _record_table(table, width)
    return _grid_table(table, widths, width)


def _checks_table(report: Report) -> Table:
    return Table(title="Checks", columns=["server", "check", "status", "message"],
                 rows=[[c.suite, c.name, c.status.value, c.message] for c in report.checks])


# --- the report ---------------------------------------------------------------------------------------------


class _Unwrapped(Text):
    """A line printed as it is, never wrapped or cropped (the verdict; --wide tables)."""


def _verdict(report: Report) -> Text:
    verdict = _Unwrapped(no_wrap=True, overflow="ignore", end="")
    verdict.append(f"rtcdiag {report.command}: ", style="bold")
    verdict.append(shown_line(report.verdict), style=STATUS_STYLE[report.status])
    return verdict


def _summary_text(table: Table) -> Text:
    """One line per row, never wrapped (a terminal narrower than a row folds it itself; a pipe or a CI log
    gets one line per server x transport): the cells aligned in columns, two spaces apart, indented by two."""
    rows = [[shown_line(cell) for cell in row] for row in table.rows]
    columns = max((len(row) for row in rows), default=0)
    widths = [max((cell_len(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    lines = []
    for row in rows:
        cells = [_pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return _Unwrapped("\n".join(lines), no_wrap=True, overflow="ignore", end="")


def _hidden(report: Report, view: View, tables: Sequence[Table]) -> str:
    """What -v would add, in words: ``1 info finding, 2 tables``."""
    if view.detail is Detail.VERBOSE:
        return ""
    parts = []
    if any(g[0].severity is Severity.ERROR for g in report.root_groups()):
        brief = sum(g[0].severity is Severity.WARNING for g in report.root_groups())
        if brief:
            parts.append(f"the fix of {brief} warning" + ("" if brief == 1 else "s"))
    info = len(report.info_groups())
    if info:
        parts.append(f"{info} info finding" + ("" if info == 1 else "s"))
    if tables:
        parts.append(f"{len(tables)} table" + ("" if len(tables) == 1 else "s"))
    if report.detail_notes:
        parts.append(f"{len(report.detail_notes)} note" + ("" if len(report.detail_notes) == 1 else "s"))
    return ", ".join(parts)


def renderables(report: Report, width: int, view: View | None = None) -> Iterator[RenderableType]:
    """What the console shows, top to bottom: verdict, diagnosis, then (by ``view``) the summary, findings
    for the record and tables."""
    view = view or View()
    yield _verdict(report)
    if view.detail is Detail.QUIET:
        return
    verbose = view.detail is Detail.VERBOSE
    blocks = bool(report.roots) or (verbose and bool(report.info_groups()))
    if blocks:
        yield Text()
    if report.roots:
        word = "warning" if report.status == "warn" else "root cause"  # a pass has warnings, not causes
        title = f"Diagnosis: {word}" if report.root_count == 1 else f"Diagnosis: {report.root_count} {word}s"
        yield Text(title, style="bold underline")
        yield Text()
    # Beside errors, a warning is one line by default (the failure is the news; -v gives its whole block).
    brief = not verbose and any(g[0].severity is Severity.ERROR for g in report.root_groups())
    for group in report.root_groups():
        if brief and group[0].severity is Severity.WARNING:
            subjects = f" ({len(group)} subjects)" if len(group) > 1 else f" - {where(group[0])}"
            header = _header(group[0])
            header.append(subjects, style="dim")
            yield header
            continue
        yield from _group_block(group, report, width)
    if brief and any(g[0].severity is Severity.WARNING for g in report.root_groups()):
        yield Text()
    if verbose:
        for group in report.info_groups():
            yield from _group_block(group, report, width)
    all_tables: list[Table] = list(report.tables) or ([_checks_table(report)] if report.checks else [])
    summary = report.summary
    shown_tables = all_tables if verbose or summary is None else []
    if summary is not None and summary.rows and not verbose:
        if report.roots:
            yield Text(shown_line(summary.title), style="bold")
        yield _summary_text(summary)
        if summary.cut_note is not None:
            yield _text(f"  ({summary.cut_note}; --json lists every one)", "dim")
        if shown_tables or report.notes:
            yield Text()
    elif shown_tables and not blocks:
        yield Text()
    for table in shown_tables:
        yield table_renderable(table, WIDE_WIDTH if view.wide else width)
        if table.cut_note is not None:
            yield _text(f"({table.cut_note})", "dim")
        yield Text()
    for note in [*report.notes, *(report.detail_notes if verbose else [])]:
        yield _text(f"Note: {note}", "dim")
    footer = f"Took {report.duration_s:.2f} s."
    hidden = _hidden(report, view, all_tables if summary is not None else [])
    if hidden:
        footer += f" -v adds {hidden}."
    if report.roots or (verbose and report.findings):
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

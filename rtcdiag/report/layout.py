"""Text layout of the console report, without rich: what the report shows in which order for a :class:`View`
(:func:`report_items`), cell widths, word wrapping, table column widths and the texts as (text, style)
pieces. rich.console (rtcdiag.report.console) turns the items into styled rich renderables;
rtcdiag.report.plain joins them when there is no colour. rich is imported only to measure text that is not
plain printable ASCII (wide and zero-width characters).

Short when it passes, complete when it fails. The first line is the verdict, never wrapped (``| head -1`` in
CI gives all of it). Then the diagnosis: each root cause with symptom, cause, fix (and the lines to paste)
and evidence, the findings it explains folded under it as one line each; then one line per server x
transport (the report's ``summary``). Findings for the record (info), the full tables and descriptive notes
are shown with ``-v``/``--verbose``; ``-q``/``--quiet`` prints the verdict line only; ``--wide`` lays tables
out at their natural width (never as one block per row), like ``kubectl -o wide``. A command without a
summary shows its tables by default.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from rtcdiag.report.model import Report, Table, group_snippet, where
from rtcdiag.textsafe import shown, shown_line
from rtcdiag.triage.finding import Finding, Severity

CELL_OVERHEAD = 3  # padding left + right and one divider per column (box.SIMPLE_HEAD)
Piece = tuple[str, str]  # text, style ("" for none)
WIDE_WIDTH = 10_000  # --wide: tables as wide as their content

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
STATUS_STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red",
                "inconclusive": "bold yellow", "error": "bold red", "interrupted": "bold yellow"}


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


def cell_len(text: str) -> int:
    """Terminal cells ``text`` takes (rich.cells.cell_len; printable ASCII is one cell per character)."""
    if text.isascii() and text.isprintable():
        return len(text)
    from rich.cells import cell_len as measure

    return measure(text)


def longest_word(value: str) -> int:
    return max((cell_len(w) for w in value.split()), default=0)


# A word wider than the line is folded after one of these (an SDP fmtp folds after "packetization-mode=1;",
# a URL after a "/" or its "?"), never in the middle of a token that has them.
FOLD_AFTER = frozenset(";,&/?")
_SEPARATED = re.compile(r"[^;,&/?]*[;,&/?]?")  # the pieces of a word, each with the separator that ends it


def longest_piece(value: str) -> int:
    """The widest piece of ``value`` that cannot be folded: a word, or a part of a long URL-like word up to
    a separator it may fold after (a table column need not be as wide as a whole URL)."""
    return max((cell_len(piece) for w in value.split() for piece in _SEPARATED.findall(w)), default=0)


def _first_cells(word: str, width: int) -> str:
    """The first line rich's ``chop_cells`` makes of ``word`` at ``width`` cells."""
    if one_cell_each(word):
        return word[:width]
    from rich.cells import chop_cells

    return chop_cells(word, width)[0]


def chop(word: str, width: int) -> list[str]:
    """``word`` in pieces of at most ``width`` cells, each ending after the last separator that fits (else
    cut where the cells run out, as rich does)."""
    pieces: list[str] = []
    while cell_len(word) > width:
        first = _first_cells(word, width)
        cut = max((i + 1 for i, ch in enumerate(first) if ch in FOLD_AFTER), default=0) or max(len(first), 1)
        pieces.append(word[:cut])
        word = word[cut:]
    if word:
        pieces.append(word)
    return pieces


def longest_line(value: str) -> int:
    return max((cell_len(line) for line in value.splitlines()), default=0)


def column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int] | None:
    """Widths that fit ``width`` without cutting a word, or None if even the longest words do not fit.

    Each column gets its longest word, then the remaining space in proportion to how much more it wants.
    When the whole words do not fit, a long URL-like word may fold after a separator (``?``, ``/``, ``;``):
    a grid of a few folded URLs reads better at 100 columns than one block per row.
    """
    cells = [[columns[i], *(row[i] if i < len(row) else "" for row in rows)] for i in range(len(columns))]
    natural = [max(longest_line(c) for c in col) for col in cells]
    minimum = [max(longest_word(c) for c in col) for col in cells]
    available = width - CELL_OVERHEAD * len(columns) - 1
    if sum(natural) <= available:
        return natural
    if sum(minimum) > available:
        minimum = [max(longest_piece(c) for c in col) for col in cells]
    if sum(minimum) > available:
        return None
    spare = available - sum(minimum)
    wants = [n - m for n, m in zip(natural, minimum, strict=True)]
    total_want = sum(wants) or 1
    widths = [m + spare * w // total_want for m, w in zip(minimum, wants, strict=True)]
    return widths


def wrap(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` cells, broken at spaces (a longer word is folded, after a
    separator when it can be: :func:`chop`)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, used = "", 0
        for word in paragraph.split():
            size = cell_len(word)
            if size > width:  # fold a word that cannot fit on any line (after a separator when it can)
                if line:
                    lines.append(line)
                    line, used = "", 0
                *folded, word = chop(word, width)
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


def pad(text: str, width: int) -> str:
    return text + " " * max(width - cell_len(text), 0)


class Pieces:
    """Pieces of plain text with optional styles (a table of thousands of lines appended piece by piece to a
    rich Text spent most of its time in Text.append)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.styled: list[tuple[int, int, str]] = []  # start, end, style
        self.length = 0

    def append(self, text: str, style: str = "") -> None:
        if not text:
            return
        if style:
            self.styled.append((self.length, self.length + len(text), style))
        self.parts.append(text)
        self.length += len(text)

    @property
    def plain(self) -> str:
        return "".join(self.parts)

    def rstrip(self) -> None:
        """Drop trailing white space (line breaks too), and the styles over it (rich's Text.rstrip)."""
        plain = self.plain
        keep = len(plain.rstrip())
        if keep == len(plain):
            return
        self.parts = [plain[:keep]] if keep else []
        self.length = keep
        self.styled = [(start, min(end, keep), style) for start, end, style in self.styled if start < keep]


def grid_table(table: Table, widths: list[int], width: int) -> tuple[Pieces, bool]:
    """Header, a rule, then the rows; cells wrapped at word boundaries into their column width, trailing
    white space dropped. True when every line fits ``width`` (the widths come from :func:`column_widths`;
    only the title may not)."""
    gap = " " * CELL_OVERHEAD
    out = Pieces()
    out.append(shown_line(table.title), style="bold")
    out.append("\n")
    header = [wrap(shown(c), w) for c, w in zip(table.columns, widths, strict=True)]
    rows = [header, *([wrap(shown(cell), w) for cell, w in
                       zip([*row, *[""] * (len(table.columns) - len(row))], widths, strict=False)]
                      for row in table.rows)]
    for index, cells in enumerate(rows):
        height = max(len(c) for c in cells)
        for line_no in range(height):
            parts = [pad(c[line_no] if line_no < len(c) else "", w)
                     for c, w in zip(cells, widths, strict=True)]
            out.append(gap.join(parts).rstrip() + "\n", style="bold" if index == 0 else "")
        if index == 0:
            out.append("\u2500" * (sum(widths) + CELL_OVERHEAD * (len(widths) - 1)) + "\n")
    out.rstrip()
    return out, cell_len(shown_line(table.title)) <= width


def record_table(table: Table, width: int) -> tuple[Pieces, bool]:
    """A table too wide for the terminal: one block of ``column  value`` lines per row. True when every line
    fits ``width``."""
    out = Pieces()
    out.append(shown_line(table.title), style="bold")
    label_width = max((cell_len(shown_line(c)) for c in table.columns), default=0)
    value_width = max(width - 2 - label_width - 1, 10)
    labels = [shown_line(name) for name in table.columns]
    blank = pad("", label_width)
    for index, row in enumerate(table.rows):
        if index:
            out.append("\n")
        for name, cell in zip(labels, row, strict=False):
            for line_no, line in enumerate(wrap(shown(cell), value_width)):
                out.append("\n  ")
                out.append(pad(name, label_width) if line_no == 0 else blank, style="bold")
                out.append(" " + line if line else "")
    fits = 2 + label_width + 1 + value_width <= width and cell_len(shown_line(table.title)) <= width
    return out, fits


def table_pieces(table: Table, width: int) -> tuple[Pieces, bool]:
    """One table as a grid, or as records when even its longest words do not fit; True when every line
    fits ``width``."""
    columns = [shown(c) for c in table.columns]
    rows = [[shown(c) for c in row] for row in table.rows]
    widths = column_widths(columns, rows, width)
    if widths is None:
        return record_table(table, width)
    return grid_table(table, widths, width)


def checks_table(report: Report) -> Table:
    """The table shown when a command has no tables of its own: one row per testcase."""
    return Table(title="Checks", columns=["server", "check", "status", "message"],
                 rows=[[c.suite, c.name, c.status.value, c.message] for c in report.checks])


# --- finding blocks ---------------------------------------------------------------------------------------

GROUP_SHOWN = 8  # subjects listed in full for a root cause shared by many; the rest are counted
LABEL_WIDTH = len("Evidence")
BLOCK_INDENT = 2
MIN_VALUE_WIDTH = 16
Row = tuple[str, "str | list[str]", str]  # label, prose or bullets (printable text), style of the value


def header_pieces(finding: Finding, severity_style: str) -> Pieces:
    header = Pieces()
    header.append(f"{finding.severity.value.upper()} ", style=severity_style)
    header.append(f"{finding.id} ", style="bold")
    header.append(shown_line(finding.title))
    return header


def subject_text(finding: Finding) -> str:
    return f"{where(finding)} ({finding.check} check, step {finding.step})"


def _more(count: int) -> str:
    return shown(f"... and {count - GROUP_SHOWN} more (--json lists every one)")


def block_rows(group: Sequence[Finding], explained: Sequence[Finding]) -> list[Row]:
    """What a block says, one row per label (every layout renders these rows)."""
    first = group[0]
    rows: list[Row] = []
    if len(group) == 1:
        rows.append(("Subject", shown(subject_text(first)), ""))
        rows.append(("Symptom", shown(first.symptom), ""))
    else:
        lines = list(dict.fromkeys(f"{subject_text(root)}: {root.symptom}" for root in group))
        subjects = [shown(line) for line in lines[:GROUP_SHOWN]]
        if len(lines) > GROUP_SHOWN:
            subjects.append(_more(len(lines)))
        rows.append((f"{len(group)} x", subjects, ""))
    rows.append(("Cause", shown(first.cause), ""))
    rows.append(("Fix", shown(first.fix), ""))
    if first.evidence:
        rows.append(("Evidence", [shown_line(line) for line in first.evidence], "dim"))
    if explained:
        folded = [shown(f"{other.id} {other.title} - {subject_text(other)}")
                  for other in explained[:GROUP_SHOWN]]
        if len(explained) > GROUP_SHOWN:
            folded.append(_more(len(explained)))
        rows.append(("Explains", folded, "dim"))
    return rows


def fits_laid_out(width: int) -> bool:
    """Whether finding blocks are laid out here at ``width`` (else as rich grids: a very narrow console)."""
    return width - BLOCK_INDENT - LABEL_WIDTH - 1 >= MIN_VALUE_WIDTH


def snippet_lines(group: Sequence[Finding]) -> list[str]:
    """The fix's lines to paste (:func:`rtcdiag.report.model.group_snippet`), printable, each one whole
    (never wrapped: a wrapped command does not paste), indented under the fix's text."""
    return [SNIPPET_INDENT + shown_line(line) for line in group_snippet(list(group))]


SNIPPET_INDENT = " " * (BLOCK_INDENT + LABEL_WIDTH + 1 + 2)  # under the fix's text, two further in


# --- the report, item by item ---------------------------------------------------------------------------


@dataclass
class Wrapped:
    """Prose rich prints wrapped at the console width (rich's own word wrap, :func:`fold_wrap`), in
    ``style`` as a whole (an empty one is a blank line)."""

    pieces: Pieces = field(default_factory=Pieces)
    style: str = ""


@dataclass
class Whole:
    """Lines printed as they are, never wrapped or cropped: the verdict (``| head -1`` gives all of it), the
    summary (one line per server x transport) and a fix's lines to paste."""

    pieces: Pieces


@dataclass
class Block:
    """One finding, or one statement made about several subjects, with what it explains: the header, the
    label/value ``rows`` and, after the fix (``rows[:cut]``), its ``snippet`` (lines already indented)."""

    group: Sequence[Finding]
    rows: list[Row]
    cut: int
    snippet: list[str]


@dataclass
class TableAt:
    """A table laid out for ``width`` cells (:func:`table_pieces`; ``WIDE_WIDTH`` for ``--wide``)."""

    table: Table
    width: int


Item = Wrapped | Whole | Block | TableAt


def _prose(text: str, style: str = "") -> Wrapped:
    pieces = Pieces()
    pieces.append(shown(text))
    return Wrapped(pieces, style)


def _titled(text: str, style: str) -> Wrapped:
    pieces = Pieces()
    pieces.append(text)
    return Wrapped(pieces, style)


def block_item(group: Sequence[Finding], report: Report) -> Block:
    explained = [f for root in group for f in report.explained(root)]
    rows = block_rows(group, explained)
    cut = next(i for i, (label, _, _) in enumerate(rows) if label == "Fix") + 1
    return Block(group, rows, cut, snippet_lines(group))


def verdict_pieces(report: Report) -> Pieces:
    verdict = Pieces()
    verdict.append(f"rtcdiag {report.command}: ", style="bold")
    verdict.append(shown_line(report.verdict), style=STATUS_STYLE[report.status])
    return verdict


def summary_pieces(table: Table) -> Pieces:
    """One line per row, never wrapped (a terminal narrower than a row folds it itself; a pipe or a CI log
    gets one line per server x transport): the cells aligned in columns, two spaces apart, indented by two."""
    rows = [[shown_line(cell) for cell in row] for row in table.rows]
    columns = max((len(row) for row in rows), default=0)
    widths = [max((cell_len(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    lines = []
    for row in rows:
        cells = [pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    pieces = Pieces()
    pieces.append("\n".join(lines))
    return pieces


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def hidden(report: Report, view: View, tables: Sequence[Table]) -> str:
    """What -v would add, in words: ``1 info finding, 2 tables``."""
    if view.detail is Detail.VERBOSE:
        return ""
    parts = []
    if any(g[0].severity is Severity.ERROR for g in report.root_groups()):
        brief = sum(g[0].severity is Severity.WARNING for g in report.root_groups())
        if brief:
            parts.append(f"the fix of {_plural(brief, 'warning')}")
    info = len(report.info_groups())
    if info:
        parts.append(_plural(info, "info finding"))
    if tables:
        parts.append(_plural(len(tables), "table"))
    if report.detail_notes:
        parts.append(_plural(len(report.detail_notes), "note"))
    return ", ".join(parts)


def report_items(report: Report, width: int, view: View | None = None) -> Iterator[Item]:
    """What the console shows, top to bottom: verdict, diagnosis, then (by ``view``) the summary, findings
    for the record and tables, notes and the footer. Every renderer of the console report prints these."""
    view = view or View()
    yield Whole(verdict_pieces(report))
    if view.detail is Detail.QUIET:
        return
    verbose = view.detail is Detail.VERBOSE
    groups = report.root_groups()
    blocks = bool(report.roots) or (verbose and bool(report.info_groups()))
    if blocks:
        yield Wrapped()
    if report.roots:
        word = "warning" if report.status == "warn" else "root cause"  # a pass has warnings, not causes
        count = report.root_count
        yield _titled(f"Diagnosis: {word}" if count == 1 else f"Diagnosis: {count} {word}s", "bold underline")
        yield Wrapped()
    # Beside errors, a warning is one line by default (the failure is the news; -v gives its whole block).
    brief = not verbose and any(g[0].severity is Severity.ERROR for g in groups)
    for group in groups:
        if brief and group[0].severity is Severity.WARNING:
            header = header_pieces(group[0], SEVERITY_STYLE[group[0].severity])
            subjects = f" ({len(group)} subjects)" if len(group) > 1 else f" - {shown_line(where(group[0]))}"
            header.append(subjects, style="dim")
            yield Wrapped(header)
            continue
        yield block_item(group, report)
    if brief and any(g[0].severity is Severity.WARNING for g in groups):
        yield Wrapped()
    if verbose:
        for group in report.info_groups():
            yield block_item(group, report)
    all_tables: list[Table] = list(report.tables) or ([checks_table(report)] if report.checks else [])
    summary = report.summary
    shown_tables = all_tables if verbose or summary is None else []
    if summary is not None and summary.rows and not verbose:
        if report.roots:
            yield _titled(shown_line(summary.title), "bold")
        yield Whole(summary_pieces(summary))
        if summary.cut_note is not None:
            yield _prose(f"  ({summary.cut_note}; --json lists every one)", "dim")
        if shown_tables or report.notes:
            yield Wrapped()
    elif shown_tables and not blocks:
        yield Wrapped()
    for table in shown_tables:
        yield TableAt(table, WIDE_WIDTH if view.wide else width)
        if table.cut_note is not None:
            yield _prose(f"({table.cut_note})", "dim")
        yield Wrapped()
    for note in [*report.notes, *(report.detail_notes if verbose else [])]:
        yield _prose(f"Note: {note}", "dim")
    footer = f"Took {report.duration_s:.2f} s."
    more = hidden(report, view, all_tables if summary is not None else [])
    if more:
        footer += f" -v adds {more}."
    if report.roots or (verbose and report.findings):
        footer += " `rtcdiag explain ID` describes a finding."
    yield _prose(footer, "dim")


# --- rich's word wrap (Text.wrap, overflow "fold") ------------------------------------------------------

_WORD = re.compile(r"\s*\S+\s*")  # rich._wrap.re_word: a word and the white space to its right
_TRAILING_SPACE = re.compile(r"\s+$")


def fold_wrap(text: str, width: int, *, at_separators: bool = False) -> list[str]:
    """The lines rich.text.Text.wrap makes of ``text`` with overflow "fold" and no justification (text
    without control characters but line breaks, as every printed text here is: rtcdiag.textsafe).
    ``at_separators``: a word wider than the line folds after a separator (:func:`chop`), as the finding
    blocks' values do (:func:`fold_breaks`)."""
    measure: Callable[[str], int] = len
    crop: Callable[[str, int], str] = _crop
    if not one_cell_each(text):  # wide, zero-width or combining characters: rich's own measures
        from rich.cells import cell_len, set_cell_size

        measure, crop = cell_len, set_cell_size
    lines: list[str] = []
    for line in text.split("\n"):
        for part in _divide(line, fold_breaks(line, width, at_separators=at_separators)):
            if len(part) > width:  # Text.rstrip_end: white space beyond the width goes (in characters)
                space = _TRAILING_SPACE.search(part)
                if space is not None:
                    part = part[: len(part) - min(len(space.group(0)), len(part) - width)]
            lines.append(crop(part, width) if measure(part) > width else part)  # Text.truncate("fold")
    return lines


def fold_breaks(text: str, width: int, *, at_separators: bool = False) -> list[int]:
    """Where to break one line of ``text`` to wrap it at ``width`` cells: rich._wrap.divide_line(text,
    width, fold=True), or with ``at_separators`` the same with a word wider than a line folded by
    :func:`chop` (after a ``;``, ``/``, ``?``... when it has one, not where the cells run out)."""
    ascii_only = one_cell_each(text)
    if at_separators:
        return _breaks(text, width, len if ascii_only else cell_len, chop)
    if ascii_only:
        return _breaks(text, width, len, _chunks)
    from rich._wrap import divide_line

    return divide_line(text, width, fold=True)


def one_cell_each(text: str) -> bool:
    """Every character of ``text`` is printable ASCII (line breaks allowed): one cell each."""
    return text.isascii() and text.replace("\n", "").isprintable()


def _crop(text: str, width: int) -> str:
    return text[:width]


def _chunks(word: str, width: int) -> list[str]:
    """rich.cells.chop_cells for text of one cell per character."""
    return [word[i: i + width] for i in range(0, len(word), width)]


def _breaks(text: str, width: int, measure: Callable[[str], int],
            fold: Callable[[str, int], list[str]]) -> list[int]:
    """rich._wrap.divide_line(text, width, fold=True), measuring with ``measure`` and folding a word wider
    than a line with ``fold``."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = measure(word.rstrip())
        if width - offset >= length:
            offset += measure(word)
        elif length > width:
            pieces = fold(word, width)
            for index, piece in enumerate(pieces):
                if start:
                    breaks.append(start)
                if index == len(pieces) - 1:
                    offset = measure(piece)
                else:
                    start += len(piece)
        elif offset and start:
            breaks.append(start)
            offset = measure(word)
    return breaks


def _divide(text: str, breaks: list[int]) -> list[str]:
    if not breaks:
        return [text]
    bounds = [0, *breaks, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]

"""Text layout of the console report, without rich: cell widths, word wrapping, table column widths and the
table texts as (text, style) pieces. rich.console (rtcdiag.report.console) turns the pieces into styled
Text; rtcdiag.report.plain joins them when there is no colour. rich is imported only to measure text that is
not plain printable ASCII (wide and zero-width characters).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence

from rtcdiag.report.model import Report, Table, where
from rtcdiag.textsafe import shown, shown_line
from rtcdiag.triage.finding import Finding

CELL_OVERHEAD = 3  # padding left + right and one divider per column (box.SIMPLE_HEAD)
Piece = tuple[str, str]  # text, style ("" for none)


def cell_len(text: str) -> int:
    """Terminal cells ``text`` takes (rich.cells.cell_len; printable ASCII is one cell per character)."""
    if text.isascii() and text.isprintable():
        return len(text)
    from rich.cells import cell_len as measure

    return measure(text)


def longest_word(value: str) -> int:
    return max((cell_len(w) for w in value.split()), default=0)


def longest_line(value: str) -> int:
    return max((cell_len(line) for line in value.splitlines()), default=0)


def column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[int] | None:
    """Widths that fit ``width`` without cutting a word, or None if even the longest words do not fit.

    Each column gets its longest word, then the remaining space in proportion to how much more it wants.
    """
    cells = [[columns[i], *(row[i] if i < len(row) else "" for row in rows)] for i in range(len(columns))]
    natural = [max(longest_line(c) for c in col) for col in cells]
    minimum = [max(longest_word(c) for c in col) for col in cells]
    available = width - CELL_OVERHEAD * len(columns) - 1
    if sum(natural) <= available:
        return natural
    if sum(minimum) > available:
        return None
    spare = available - sum(minimum)
    wants = [n - m for n, m in zip(natural, minimum, strict=True)]
    total_want = sum(wants) or 1
    widths = [m + spare * w // total_want for m, w in zip(minimum, wants, strict=True)]
    return widths


def wrap(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` cells, broken at spaces (a longer word is folded)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, used = "", 0
        for word in paragraph.split():
            size = cell_len(word)
            while size > width:  # fold a word that cannot fit on any line
                if line:
                    lines.append(line)
                    line, used = "", 0
                cut = width
                while cell_len(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
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


# --- rich's word wrap (Text.wrap, overflow "fold") ------------------------------------------------------

_WORD = re.compile(r"\s*\S+\s*")  # rich._wrap.re_word: a word and the white space to its right
_TRAILING_SPACE = re.compile(r"\s+$")


def fold_wrap(text: str, width: int) -> list[str]:
    """The lines rich.text.Text.wrap makes of ``text`` with overflow "fold" and no justification (text
    without control characters but line breaks, as every printed text here is: rtcdiag.textsafe)."""
    measure: Callable[[str], int] = len
    breaks: Callable[[str, int], list[int]] = _breaks
    crop: Callable[[str, int], str] = _crop
    if not one_cell_each(text):  # wide, zero-width or combining characters: rich's own measures
        from rich._wrap import divide_line
        from rich.cells import cell_len, set_cell_size

        measure, crop = cell_len, set_cell_size
        breaks = functools.partial(divide_line, fold=True)
    lines: list[str] = []
    for line in text.split("\n"):
        for part in _divide(line, breaks(line, width)):
            if len(part) > width:  # Text.rstrip_end: white space beyond the width goes (in characters)
                space = _TRAILING_SPACE.search(part)
                if space is not None:
                    part = part[: len(part) - min(len(space.group(0)), len(part) - width)]
            lines.append(crop(part, width) if measure(part) > width else part)  # Text.truncate("fold")
    return lines


def one_cell_each(text: str) -> bool:
    """Every character of ``text`` is printable ASCII (line breaks allowed): one cell each."""
    return text.isascii() and text.replace("\n", "").isprintable()


def _crop(text: str, width: int) -> str:
    return text[:width]


def _breaks(text: str, width: int) -> list[int]:
    """rich._wrap.divide_line(text, width, fold=True) for text of one cell per character."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            chunks = [word[i: i + width] for i in range(0, len(word), width)]
            for index, chunk in enumerate(chunks):
                if start:
                    breaks.append(start)
                if index == len(chunks) - 1:
                    offset = len(chunk)
                else:
                    start += len(chunk)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    return breaks


def _divide(text: str, breaks: list[int]) -> list[str]:
    if not breaks:
        return [text]
    bounds = [0, *breaks, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]

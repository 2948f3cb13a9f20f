"""Markdown report for pasting into a ticket: verdict, findings (symptom / cause / fix / evidence), tables.

The diagnosis comes first: each root cause with symptom, cause, fix and evidence, and the findings it explains
as a nested list. Table cells escape ``|`` and carry line breaks as ``<br>``; evidence is shown as code spans
whose fence is longer than any backtick run inside; prose has Markdown's inline syntax escaped so a server's
string cannot inject links, images or HTML. The model is already masked; every string is made printable and
each line bounded (rtcdiag.textsafe.shown; the JSON report keeps long server strings whole).
"""

from __future__ import annotations

import re

from rtcdiag.report.model import Report, Table, group_snippet, where
from rtcdiag.textsafe import shown
from rtcdiag.triage.finding import Finding

_SEVERITY_LABEL = {"error": "ERROR", "warning": "WARNING", "info": "INFO"}


def escape_cell(text: str) -> str:
    """A GFM table cell: pipes and backslashes escaped, line breaks as ``<br>``."""
    text = shown(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return "<br>".join(part.strip() for part in text.splitlines()) if "\n" in text else text.strip()


def code_span(text: str) -> str:
    """``text`` as inline code, whatever backticks it contains (CommonMark §6.1)."""
    text = " ".join(shown(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(lines: list[str], indent: str = "") -> list[str]:
    """``lines`` as a fenced code block (CommonMark §4.5), its fence longer than any backtick run inside;
    nothing for no lines."""
    if not lines:
        return []
    shown_lines = [" ".join(shown(line).splitlines()) for line in lines]
    longest = max((len(run) for line in shown_lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{indent}{fence}", *(f"{indent}{line}" for line in shown_lines), f"{indent}{fence}"]


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>!#|~])")


def _literal(text: str) -> str:
    """Echoed text on one line: no HTML, links, images or emphasis a server string could inject."""
    text = " ".join(shown(text).splitlines())
    return _MARKDOWN_SPECIAL.sub(lambda m: "&lt;" if m.group() == "<" else "&gt;" if m.group() == ">"
                                 else "\\" + m.group(), text)


def _inline(text: str) -> str:
    """rtcdiag's own prose on one line (a list item), with no accidental HTML."""
    return " ".join(shown(text).splitlines()).replace("<", "&lt;")


def _prose(finding: Finding, part: str) -> str:
    """A catalogue text of ``finding`` with its echoed parameters escaped as literal text."""
    return _inline(finding.text(part, _literal))


def _where(finding: Finding) -> str:
    return f"{where(finding)} ({finding.check}/{finding.step})"


GROUP_SHOWN = 8  # subjects listed for a statement shared by many; the rest are counted


def _group(group: list[Finding], report: Report) -> list[str]:
    first = group[0]
    explained = [f for member in group for f in report.explained(member)]
    if len(group) == 1:
        return _finding(first, explained)
    snippet = group_snippet(group)
    lines = [f"### {_SEVERITY_LABEL[first.severity.value]} `{first.id}`: {_prose(first, 'title')}"
             f" — {len(group)} subjects", ""]
    items = list(dict.fromkeys(f"- {code_span(_where(f))}: {_prose(f, 'symptom')}" for f in group))
    lines += items[:GROUP_SHOWN]
    if len(items) > GROUP_SHOWN:
        lines.append(f"- ... and {len(items) - GROUP_SHOWN} more (the JSON report lists every one)")
    return [*lines, "", *_finding_rest(first, explained, snippet)]


def _finding(finding: Finding, explained: list[Finding]) -> list[str]:
    lines = [
        f"### {_SEVERITY_LABEL[finding.severity.value]} `{finding.id}`: {_prose(finding, 'title')}"
        f" — {code_span(_where(finding))}",
        "",
        f"- **Symptom:** {_prose(finding, 'symptom')}",
    ]
    return lines + _finding_rest(finding, explained)


def _finding_rest(finding: Finding, explained: list[Finding], snippet: list[str] | None = None) -> list[str]:
    lines = [
        f"- **Cause:** {_prose(finding, 'cause')}",
        f"- **Fix:** {_prose(finding, 'fix')}",
        *code_block(finding.snippet if snippet is None else snippet, indent="  "),
    ]
    if finding.evidence:
        lines.append("- **Evidence:**")
        lines += [f"  - {code_span(line)}" for line in finding.evidence]
    if explained:
        lines.append(f"- **Explains** {len(explained)} other finding(s):")
        lines += [f"  - `{f.id}` {_prose(f, 'title')} — {code_span(_where(f))}"
                  for f in explained[:GROUP_SHOWN]]
        if len(explained) > GROUP_SHOWN:
            lines.append(f"  - ... and {len(explained) - GROUP_SHOWN} more (the JSON report lists every one)")
    lines.append("")
    return lines


def table_lines(table: Table) -> list[str]:
    width = len(table.columns)
    lines = [f"### {_literal(table.title)}", "",
             "| " + " | ".join(escape_cell(c) for c in table.columns) + " |",
             "|" + " --- |" * width]
    for row in table.rows:
        cells = [*row, *[""] * (width - len(row))][:width]
        lines.append("| " + " | ".join(escape_cell(c) for c in cells) + " |")
    lines.append("")
    if table.cut_note is not None:
        lines += [f"_{table.cut_note}._", ""]
    return lines


def render(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    lines = [f"## rtcdiag {report.command}", "", f"**Verdict:** {_inline(report.verdict)}", ""]
    if report.roots:
        lines += ["## Diagnosis", ""]
        for group in report.root_groups():
            lines += _group(group, report)
    info = report.info_groups()
    if info:
        lines += ["## Other findings", ""]
        for group in info:
            lines += _group(group, report)
    tables = report.tables
    if not tables and report.checks:
        tables = [Table(title="Checks", columns=["server", "check", "status", "message"],
                        rows=[[c.suite, c.name, c.status.value, c.message] for c in report.checks])]
    if tables:
        lines += ["## Details", ""]
        for table in tables:
            lines += table_lines(table)
    notes = [*report.notes, *report.detail_notes]
    for note in notes:
        lines.append(f"> {_literal(note)}")
    if notes:
        lines.append("")
    lines.append(f"_rtcdiag {report.command}, {report.duration_s:.2f} s; exit code {report.exit_code}._")
    return "\n".join(lines) + "\n"

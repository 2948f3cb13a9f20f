"""Markdown report for pasting into a ticket: verdict, findings (symptom / cause / fix / evidence), tables.

Table cells escape ``|`` and carry line breaks as ``<br>``; evidence is shown as code spans whose fence is
longer than any backtick run inside. Every piece of text is redacted before escaping (escaping could
change a secret's spelling) and the whole document once more.
"""

from __future__ import annotations

import re

from rtcdiag.redact import redact
from rtcdiag.report.model import Report, Table
from rtcdiag.triage.finding import Finding

_SEVERITY_LABEL = {"error": "ERROR", "warning": "WARNING", "info": "INFO"}


def escape_cell(text: str) -> str:
    """A GFM table cell: pipes and backslashes escaped, line breaks as ``<br>``."""
    text = redact(text).replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(part.strip() for part in text.splitlines()) if "\n" in text else text.strip()


def code_span(text: str) -> str:
    """``text`` as inline code, whatever backticks it contains (CommonMark §6.1)."""
    text = " ".join(redact(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _inline(text: str) -> str:
    """Prose on one line (a list item), with no accidental HTML."""
    return " ".join(redact(text).splitlines()).replace("<", "&lt;")


def _finding(finding: Finding) -> list[str]:
    subject = f" — {code_span(finding.subject)}" if finding.subject else ""
    lines = [
        f"### {_SEVERITY_LABEL[finding.severity.value]} `{finding.id}`: {_inline(finding.title)}{subject}",
        "",
        f"- **Symptom:** {_inline(finding.symptom)}",
        f"- **Cause:** {_inline(finding.cause)}",
        f"- **Fix:** {_inline(finding.fix)}",
    ]
    if finding.evidence:
        lines.append("- **Evidence:**")
        lines += [f"  - {code_span(line)}" for line in finding.evidence]
    lines.append("")
    return lines


def table_lines(table: Table) -> list[str]:
    width = len(table.columns)
    lines = [f"### {_inline(table.title)}", "",
             "| " + " | ".join(escape_cell(c) for c in table.columns) + " |",
             "|" + " --- |" * width]
    for row in table.rows:
        cells = [*row, *[""] * (width - len(row))][:width]
        lines.append("| " + " | ".join(escape_cell(c) for c in cells) + " |")
    lines.append("")
    return lines


def render(report: Report) -> str:
    """The report as GitHub-flavoured Markdown, secrets redacted."""
    lines = [f"## rtcdiag {report.command}", "", f"**Verdict:** {report.verdict}", ""]
    findings = report.sorted_findings()
    if findings:
        lines += ["## Findings", ""]
        for finding in findings:
            lines += _finding(finding)
    tables = report.tables
    if not tables and report.checks:
        tables = [Table(title="Checks", columns=["server", "check", "status", "message"],
                        rows=[[c.suite, c.name, c.status.value, c.message] for c in report.checks])]
    if tables:
        lines += ["## Details", ""]
        for table in tables:
            lines += table_lines(table)
    for note in report.notes:
        lines.append(f"> {_inline(note)}")
    if report.notes:
        lines.append("")
    lines.append(f"_rtcdiag {report.command}, {report.duration_s:.2f} s; exit code {report.exit_code}._")
    return redact("\n".join(lines)) + "\n"

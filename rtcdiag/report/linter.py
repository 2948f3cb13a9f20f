"""``rtcdiag lint`` as a linter speaks: one ``file:line: SEVERITY ID message`` line per finding, the fix below
it, a summary at the end (``--format text``); or ``gcc`` (``file:line:1: error: message [ID]``, what editors
and ``compile`` buffers read, as ``shellcheck -f gcc``) or ``github`` (GitHub Actions workflow commands:
``::error file=F,line=L,title=ID::message``, shown as annotations on the diff).

The line is the finding's own (``line`` parameter); a finding about the whole file (an option that is
missing) has none: ``file: ...`` in text, line 1 in gcc (which needs one), no line in github. The message is
the finding's symptom without the ``file line N:`` it starts with. Every string was made printable and masked
when the finding was made; GitHub's command syntax is escaped here (``%``, line breaks, and ``:``/``,`` in
properties).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from rtcdiag.report.model import Report
from rtcdiag.textsafe import shown_line
from rtcdiag.triage.finding import Finding, Severity


class LintFormat(StrEnum):
    TEXT = "text"
    GCC = "gcc"
    GITHUB = "github"
    JSON = "json"


_GCC_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def file_of(finding: Finding) -> str:
    return finding.params.get("file") or finding.subject.server


def line_of(finding: Finding) -> int | None:
    """The first line number the finding names, or None for a finding about the whole file."""
    found = re.match(r"\s*(\d+)", finding.params.get("line", ""))
    return int(found.group(1)) if found else None


def message(finding: Finding) -> str:
    """The symptom without the ``FILE line N:`` / ``FILE:`` it starts with (the location says it)."""
    text = finding.symptom
    file, line = file_of(finding), finding.params.get("line", "")
    for prefix in (f"{file} line {line}: ", f"{file}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def ordered(report: Report, files: Sequence[str]) -> list[Finding]:
    """Every finding, by file (in the order given), line (the whole file's first), severity."""
    rank = {name: index for index, name in enumerate(files)}
    return sorted(report.findings, key=lambda f: (rank.get(file_of(f), len(rank)), file_of(f),
                                                  line_of(f) or 0, -f.severity.rank, f.id))


def summary(report: Report, files: Sequence[str]) -> str:
    """``rtcdiag lint: FAIL: 3 errors, 2 warnings, 1 note in 1 file``."""
    counts = {s: sum(f.severity is s for f in report.findings) for s in Severity}
    word = {"pass": "PASS", "warn": "PASS with warnings", "fail": "FAIL", "inconclusive": "INCONCLUSIVE",
            "error": "INTERNAL ERROR", "interrupted": "INTERRUPTED"}[report.status]

    def many(n: int, what: str) -> str:
        return f"{n} {what}" + ("" if n == 1 else "s")

    return (f"rtcdiag lint: {word}: {many(counts[Severity.ERROR], 'error')}, "
            f"{many(counts[Severity.WARNING], 'warning')}, {many(counts[Severity.INFO], 'note')} in "
            f"{many(len(files), 'file')}")


def render_text(report: Report, files: Sequence[str], headline: str, *, verbose: bool = False) -> str:
    lines = [headline]
    for f in ordered(report, files):
        line = line_of(f)
        where = f"{file_of(f)}:{line}" if line is not None else file_of(f)
        lines.append(shown_line(f"{where}: {f.severity.value.upper()} {f.id} {message(f)}"))
        if verbose:
            lines.append(shown_line(f"    cause: {f.cause}"))
        lines.append(shown_line(f"    fix: {f.fix}"))
        lines += [shown_line(f"      {snippet}") for snippet in f.snippet]
    lines.append(summary(report, files) + ("; `rtcdiag explain ID` says more" if report.findings else ""))
    return "\n".join(lines) + "\n"


def render_gcc(report: Report, files: Sequence[str]) -> str:
    return "".join(shown_line(f"{file_of(f)}:{line_of(f) or 1}:1: {_GCC_SEVERITY[f.severity]}: {message(f)} "
                              f"[{f.id}]") + "\n" for f in ordered(report, files))


def _data(text: str) -> str:
    """A workflow command's message: ``%`` and line breaks escaped (GitHub Actions' own escaping)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report, files: Sequence[str], headline: str) -> str:
    lines = [headline]
    for f in ordered(report, files):
        props = [f"file={_property(file_of(f))}"]
        line = line_of(f)
        if line is not None:
            props.append(f"line={line}")
        props.append(f"title={_property(f.id)}")
        body = "\n".join(shown_line(part) for part in [message(f), f"Fix: {f.fix}", *f.snippet])
        lines.append(f"::{_GITHUB_SEVERITY[f.severity]} {','.join(props)}::{_data(body)}")
    lines.append(summary(report, files))
    return "\n".join(lines) + "\n"

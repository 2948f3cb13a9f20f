"""Markdown report for tickets: verdict, findings with symptom/cause/fix, tables with pipes escaped."""

from __future__ import annotations

import re

from test_report_samples import SERVER, sample_report

from rtcdiag.report import markdown
from rtcdiag.report.model import Report, Table


def test_verdict_findings_and_tables() -> None:
    text = markdown.render(sample_report())
    lines = text.splitlines()
    assert lines[0] == "## rtcdiag stun"
    assert ("**Verdict:** FAIL: 3 root causes (DNS-FAILURE, UDP-BLOCKED, STUN-INTERNAL-ADDRESS-LEAK); "
            "1/4 checks passed") in lines
    assert lines.index("## Diagnosis") < lines.index("## Other findings") < lines.index("## Details")
    headings = [line for line in lines if line.startswith("### ") and "`" in line]
    assert headings[0].startswith("### ERROR `DNS-FAILURE`: Host name does not resolve")
    assert headings[-1].startswith("### INFO `STUN-NO-FINGERPRINT`")
    assert f"### ERROR `UDP-BLOCKED`: UDP is blocked, TCP works — `{SERVER} over UDP (stun/binding)`" in lines
    assert any(line.startswith("- **Fix:** Clients will fall back to TURN/TCP") for line in lines)
    assert "  - `udp binding: Binding request -> timeout after 7 attempt(s)`" in lines
    assert lines[-1] == "_rtcdiag stun, 1.23 s; exit code 1._"


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_table_cells_escape_pipes_and_keep_the_column_count() -> None:
    text = markdown.render(sample_report())
    start = text.index("### Notes per transport")
    rows = [line for line in text[start:].splitlines() if line.startswith("|")]
    assert rows[0] == "| transport | what happened |"
    assert rows[1] == "| --- | --- |"
    assert rows[3].startswith("| tcp \\| tls | the connection opened")
    assert all(_unescaped_pipes(row) == 3 for row in rows)


def test_cell_newlines_and_backslashes() -> None:
    assert markdown.escape_cell("a\nb") == "a<br>b"
    assert markdown.escape_cell("C:\\path|x") == "C:\\\\path\\|x"


def test_code_span_survives_backticks() -> None:
    assert markdown.code_span("a`b") == "``a`b``"
    assert markdown.code_span("`x`") == "`` `x` ``"


def test_ragged_rows_and_no_findings() -> None:
    report = Report(command="dns", tables=[Table("T", ["a", "b"], [["1"], ["1", "2", "3"]])])
    text = markdown.render(report)
    assert "## Findings" not in text
    assert "| 1 |  |" in text and "| 1 | 2 |" in text
    assert "**Verdict:** PASS: 0/0 checks passed" in text


def test_server_strings_cannot_inject_markdown_or_html() -> None:
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject, make_finding
    from rtcdiag.triage.judgement import Judgement

    evil = ("[click](http://evil.example) ![x](http://evil.example/x.png) <script>alert(1)</script> **b** "
            "\x1b[31m")
    subject = Subject("stun:127.0.0.1:3478", "127.0.0.1", 3478, "udp")
    finding = make_finding("STUN-ERROR-RESPONSE", subject, check="stun", step="binding", server="s",
                           transport="UDP", detail=evil, evidence=[evil])
    text = markdown.render(build_report("stun", Judgement(findings=[finding]), notes=[evil]))
    outside_code = re.sub(r"(`+).*?\1", "", text)  # inside code spans nothing is interpreted
    assert "<script>" not in outside_code and "](http" not in outside_code.replace("\\](http", "")
    assert "\x1b" not in text
    symptom = next(line for line in text.splitlines() if line.startswith("- **Symptom:**"))
    assert "\\[click\\]" in symptom and "&lt;script&gt;" in symptom and "\\*\\*b\\*\\*" in symptom
    # the catalogue's own code spans stay Markdown
    fix = next(line for line in text.splitlines() if line.startswith("- **Fix:**"))
    assert "\\`" not in fix

"""Console report: layout, word-safe wrapping at 80 columns, colour only on a terminal, NO_COLOR."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from test_report_samples import finding_text_words, sample_report

from rtcdiag.report import console as console_report
from rtcdiag.report import layout
from rtcdiag.report.model import Report, Table

_BOX = re.compile(r"[\u2500-\u257f]")  # box-drawing characters of rich tables
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_COLOUR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(3[0-7]|9[0-7]|38;)")


def _source_words(report: Report) -> set[str]:
    words = finding_text_words(report.findings)
    for table in report.tables:
        for text in (table.title, *table.columns, *(cell for row in table.rows for cell in row)):
            words.update(text.split())
    for text in (report.verdict, f"rtcdiag {report.command}:", *report.notes, "Note:",
                 "Took 1.23 s. `rtcdiag explain ID` describes a finding. -v adds info finding, findings, "
                 "table, tables, note, notes.",
                 "Subject Symptom Cause Fix Evidence Explains - ERROR WARNING INFO",
                 "Diagnosis: root cause Diagnosis: 3 root causes",
                 *(f.id for f in report.findings)):
        words.update(text.split())
    return words


def _render(report: Report, width: int) -> str:
    buffer = io.StringIO()
    console_report.print_report(report, console_report.make_console(buffer, width=width),
                                console_report.VERBOSE)
    return buffer.getvalue()


def _assert_no_word_split(output: str, report: Report, width: int) -> None:
    allowed = _source_words(report)
    lines = output.splitlines()
    assert lines[0] == f"rtcdiag {report.command}: {report.verdict}"  # the verdict is never wrapped
    for line in lines[1:]:
        assert cell_len(line) <= width, f"line wider than {width}: {line!r}"
        for token in _BOX.sub(" ", line).split():
            assert token in allowed or token.isdigit(), \
                f"{token!r} is not a whole word of the report (split?): {line!r}"


def test_report_wraps_at_word_boundaries_under_columns_80(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    report = sample_report()
    buffer = io.StringIO()
    console = console_report.make_console(buffer)  # width from COLUMNS, as in a terminal
    assert console.width == 80
    console_report.print_report(report, console, console_report.VERBOSE)
    output = buffer.getvalue()
    _assert_no_word_split(output, report, 80)
    # Long prose really was wrapped (so the check above had something to check).
    assert any(len(line) > 60 for line in output.splitlines())
    assert "turns:443" in output


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_no_word_split_at_other_widths(width: int) -> None:
    report = sample_report()
    _assert_no_word_split(_render(report, width), report, width)


def test_layout_verdict_then_diagnosis_by_severity_then_tables() -> None:
    output = _render(sample_report(), 100)
    lines = output.splitlines()
    assert lines[0] == ("rtcdiag stun: FAIL: 3 root causes (DNS-FAILURE, UDP-BLOCKED, "
                        "STUN-INTERNAL-ADDRESS-LEAK); 1/4 checks passed")
    assert lines[2] == "Diagnosis: 3 root causes"
    headers = [line for line in lines if re.match(r"^(ERROR|WARNING|INFO) ", line)]
    assert [h.split()[1] for h in headers] == [
        "DNS-FAILURE", "UDP-BLOCKED", "STUN-INTERNAL-ADDRESS-LEAK", "STUN-NO-FINGERPRINT"]
    for label in ("Symptom", "Cause", "Fix", "Evidence"):
        assert any(line.strip().startswith(label) for line in lines)
    assert output.index("STUN-NO-FINGERPRINT") < output.index("Binding results") < output.index(
        "Notes per transport")
    assert lines[-1] == "Took 1.23 s. `rtcdiag explain ID` describes a finding."


def _with_summary(report: Report) -> Report:
    report.summary = Table("Servers", ["server", "transport", "result"],
                           [["stun:192.0.2.1:3478", "udp", "mapped 198.51.100.7:40000, rtt 12.3 ms"],
                            ["stun:missing.example.invalid:3478", "udp", "name does not resolve"]])
    return report


def test_default_view_is_the_verdict_the_roots_and_one_line_per_server() -> None:
    """No info block and no table by default when the command has a summary: the roots, then one line per
    server x transport (never wrapped), and a footer saying what -v adds."""
    buffer = io.StringIO()
    console_report.print_report(_with_summary(sample_report()), console_report.make_console(buffer, width=60))
    output = buffer.getvalue()
    lines = output.splitlines()
    assert "INFO " not in output and "Binding results" not in output
    assert "ERROR DNS-FAILURE" in output and "WARNING STUN-INTERNAL-ADDRESS-LEAK" in output
    assert "  stun:192.0.2.1:3478                udp  mapped 198.51.100.7:40000, rtt 12.3 ms" in lines
    footer = " ".join(lines[-2:])
    assert footer.startswith("Took 1.23 s. -v adds the fix of 1 warning, 1 info finding, 2 tables")
    assert "WARNING STUN-INTERNAL-ADDRESS-LEAK" in output and "INFO " not in output  # beside errors: one line


def test_quiet_view_is_the_verdict_line_only() -> None:
    buffer = io.StringIO()
    report = sample_report()
    console_report.print_report(report, console_report.make_console(buffer, width=30),
                                console_report.View(console_report.Detail.QUIET))
    assert buffer.getvalue() == f"rtcdiag stun: {report.verdict}\n"


def test_wide_view_lays_tables_out_in_one_line_per_row() -> None:
    buffer = io.StringIO()
    console_report.print_report(sample_report(), console_report.make_console(buffer, width=60),
                                console_report.View(console_report.Detail.VERBOSE, wide=True))
    output = buffer.getvalue()
    assert re.search(r"^server\s+transport\s+mapped address\s+RTT ms\s+retransmissions", output, re.MULTILINE)
    assert not re.search(r"^  retransmissions\s+6$", output, re.MULTILINE)  # no block per row


def test_narrow_table_is_a_grid_and_wide_table_becomes_records() -> None:
    output = _render(sample_report(), 80)
    # "Notes per transport" fits: one header line with both column names.
    assert re.search(r"^transport\s+what happened$", output, re.MULTILINE)
    # "Binding results" has eight columns whose longest words do not fit in 80: one block per row.
    assert re.search(r"^  retransmissions\s+6$", output, re.MULTILINE)
    assert re.search(r"^  other address\s+\[2001:db8::2\]:3479$", output, re.MULTILINE)


def test_wide_table_is_a_grid_when_there_is_room() -> None:
    output = _render(sample_report(), 200)
    assert re.search(r"^server\s+transport\s+mapped address\s+RTT ms\s+retransmissions", output, re.MULTILINE)


def test_column_widths_keep_longest_words() -> None:
    widths = console_report._column_widths(
        ["a", "b"], [["short", "a fairly long sentence that has to wrap somewhere"]], 30)
    assert widths is not None
    assert widths[0] >= len("short") and widths[1] >= len("sentence")
    assert sum(widths) <= 30 - 3 * 2 - 1
    assert console_report._column_widths(["a"], [["x" * 40]], 30) is None


def test_no_colour_when_not_a_terminal() -> None:
    output = _render(sample_report(), 80)
    assert not _ANSI.search(output)


def test_colour_on_a_terminal_and_none_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    buffer = io.StringIO()
    tty = Console(file=buffer, width=80, force_terminal=True, color_system="standard", markup=False)
    console_report.print_report(sample_report(), tty)
    assert _COLOUR_SGR.search(buffer.getvalue()), "a terminal gets colour"

    monkeypatch.setenv("NO_COLOR", "1")
    buffer = io.StringIO()
    tty = Console(file=buffer, width=80, force_terminal=True, color_system="standard", markup=False)
    console_report.print_report(sample_report(), tty)
    assert not _COLOUR_SGR.search(buffer.getvalue()), "NO_COLOR removes colour"
    assert "UDP-BLOCKED" in buffer.getvalue()


def test_print_report_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    console_report.print_report(sample_report())
    captured = capsys.readouterr()
    assert captured.out.startswith("rtcdiag stun: FAIL")
    assert captured.err == ""
    assert not _ANSI.search(captured.out)


def test_render_plain_has_no_colour_and_no_trailing_blanks() -> None:
    text = console_report.render_plain(sample_report())
    assert not _ANSI.search(text)
    assert all(line == line.rstrip() for line in text.splitlines())
    assert max(cell_len(line) for line in text.splitlines()[1:]) <= 100  # the verdict is never wrapped
    assert "UDP-BLOCKED" in text and "Binding results" in text


def test_server_text_with_brackets_is_not_markup() -> None:
    report = Report(command="stun", notes=["[bold]not markup[/bold] [::1]:3478"])
    output = _render(report, 80)
    assert "[bold]not markup[/bold] [::1]:3478" in output


def test_checks_shown_when_there_are_no_tables() -> None:
    report = sample_report()
    report.tables = []
    output = _render(report, 100)
    # A grid, whose narrow step column folds "udp/nat-discovery" after its "/" rather than one block per row.
    assert "Checks" in output and re.search(r"^\S+\s+udp/\s+inconclusive", output, re.MULTILINE)
    assert re.search(r"^\s+nat-discovery\s", output, re.MULTILINE)


def test_ragged_rows_are_padded() -> None:
    report = Report(command="x", tables=[Table("T", ["a", "b", "c"], [["1"], ["1", "2", "3", "4"]])])
    output = _render(report, 80)
    assert re.search(r"^1\s+2\s+3$", output, re.MULTILINE)


def test_root_cause_folds_the_findings_it_explains() -> None:
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject, make_finding
    from rtcdiag.triage.judgement import Judgement

    udp = Subject("turn:h.example:3478", "h.example", 3478, "udp")
    root = make_finding("DNS-FAILURE", udp.on(None), check="turn", step="resolve", host="h.example",
                        detail="NXDOMAIN")
    folded = make_finding("ICE-NO-RELAY", udp, check="ice", step="gather-relay", url="turn:h.example:3478",
                          reason="name does not resolve")
    report = build_report("check", Judgement(findings=[root, folded]))
    assert [r.id for r in report.roots] == ["DNS-FAILURE"]
    assert folded.explained_by == root.ref
    output = _render(report, 100)
    assert output.count("ERROR DNS-FAILURE") == 1 and "ERROR ICE-NO-RELAY" not in output
    explains = output[output.index("Explains"):]
    assert "ICE-NO-RELAY" in explains.splitlines()[0]


def test_control_characters_from_a_server_never_reach_the_terminal() -> None:
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject, make_finding
    from rtcdiag.triage.judgement import Judgement

    evil = "Coturn\x1b[2J\x1b]0;pwned\x07\x9b31m\u202etxt.exe\r\nFAKE LINE"
    subject = Subject("stun:127.0.0.1:3478", "127.0.0.1", 3478, "udp")
    finding = make_finding("STUN-ERROR-RESPONSE", subject, check="stun", step="binding", server=evil,
                           transport="UDP", detail=evil, evidence=[evil])
    report = build_report("stun", Judgement(findings=[finding]), tables=[Table(evil, ["a"], [[evil]])],
                          notes=[evil])
    for width in (60, 200):
        output = _render(report, width)
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", output), output
        assert "\\x1b[2J" in output and "FAKE LINE" in output
        assert not any(line.startswith("FAKE LINE") for line in output.splitlines())


def test_one_cause_over_many_servers_is_stated_once() -> None:
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject, make_finding
    from rtcdiag.triage.judgement import Judgement

    findings = [make_finding("SERVER-REFUSED", Subject(f"stun:127.0.0.1:{port}", "127.0.0.1", port, "udp"),
                             check="stun", step="binding", server=f"127.0.0.1:{port}", transport="UDP",
                             detail="ICMP port unreachable") for port in range(20000, 20200)]
    report = build_report("stun", Judgement(findings=findings))
    assert len(report.roots) == 200 and len(report.root_groups()) == 1
    output = _render(report, 100)
    assert output.count("ERROR SERVER-REFUSED") == 1 and output.count("Cause ") == 1
    assert "200 x" in output and "... and 192 more (--json lists every one)" in output
    assert len(output[: output.index("Checks")].splitlines()) < 40  # the table below lists every server


def _hard_report(seed: int) -> Report:
    """Findings whose texts have long words, wide characters, tabs, line breaks and repeated spaces, some
    stated for several subjects and some explaining others, and a table with such cells."""
    import random

    from rtcdiag.report.build import build_report
    from rtcdiag.triage.catalogue import CATALOGUE
    from rtcdiag.triage.finding import Subject, make_finding
    from rtcdiag.triage.judgement import Judgement

    rng = random.Random(seed)
    words = ["a", "longwordwithoutanyspaces" * 3, "\u65e5\u672c\u8a9e\u30c6\u30ad\u30b9\u30c8", "x\ty",
             "two  spaces", "end.", "[bold]x[/]", "\u00e9", "\U0001f600\U0001f600", "-" * 70, "line\nbreak"]

    def para(most: int = 25) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, most)))

    findings = []
    for n in range(rng.randint(2, 10)):
        fid = rng.choice(sorted(CATALOGUE))
        subject = Subject(rng.choice(["turn:h:1", para(4)]), rng.choice(["h", "h2"]), rng.choice([None, 1]),
                          rng.choice([None, "udp", "tcp"]))
        params = {name: para() for name in CATALOGUE[fid].placeholders}
        evidence = [para() for _ in range(rng.randint(0, 3))]
        finding = make_finding(fid, subject, check=rng.choice(["stun", "turn", "ice"]), step=para(2),
                               evidence=evidence, **params)
        findings.append(finding)
        if rng.random() < 0.4:  # the same statement about another subject: one group
            findings.append(make_finding(fid, Subject(f"other {n}", subject.host, subject.port,
                                                      subject.transport), check=finding.check,
                                         step=finding.step, evidence=evidence, **params))
    columns = [para(3) for _ in range(rng.randint(1, 7))]
    rows = [[para(6) for _ in range(rng.randint(0, len(columns)))] for _ in range(rng.randint(0, 5))]
    return build_report("check", Judgement(findings=findings), tables=[Table(para(8), columns, rows)])


def test_laid_out_blocks_read_exactly_like_the_rich_grids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The finding blocks are laid out without rich's grid measurement (for speed): at every width the
    text is the same, character for character, as the nested grids it replaces (the reference layout)."""
    reports = [sample_report("s3cret-value"), *(_hard_report(seed) for seed in range(12))]
    fast = console_report._group_block
    widths = [24, 27, 28, 31, 40, 57, 80, 99, 140]
    # rich folds a word wider than the line where the cells run out; the laid-out blocks prefer a separator
    # (test_long_tokens_fold_after_a_separator): compared here with that preference off.
    monkeypatch.setattr(layout, "FOLD_AFTER", frozenset())
    laid_out = [[render_plain_at(report, width) for width in widths] for report in reports]
    monkeypatch.setattr(console_report, "_group_block", lambda group, report, width=None: fast(group, report))
    grids = [[render_plain_at(report, width) for width in widths] for report in reports]
    assert laid_out == grids
    assert any("\u65e5" in text for texts in laid_out for text in texts)  # the hard texts were shown


def render_plain_at(report: Report, width: int) -> str:
    return console_report.render_plain(report, width=width)


def test_long_tokens_fold_after_a_separator() -> None:
    """An SDP fmtp or a URL wider than the line folds after a ";" or "/" (never mid-token when it has one);
    a token without one folds where the cells run out."""
    fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
    lines = [line.plain.rstrip() for line in console_report._wrap_lines(Text(f"has {fmtp} here"), 50)]
    assert lines == ["has", "level-asymmetry-allowed=1;packetization-mode=1;", "profile-level-id=42e01f here"]
    assert [line.plain for line in console_report._wrap_lines(Text("x" * 30), 12)] == ["x" * 12, "x" * 12,
                                                                                        "x" * 6]


def test_verdict_line_is_never_wrapped_even_in_colour() -> None:
    report = sample_report()
    buffer = io.StringIO()
    tty = Console(file=buffer, width=40, force_terminal=True, color_system="standard", markup=False)
    console_report.print_report(report, tty)
    first = _ANSI.sub("", buffer.getvalue().splitlines()[0])
    assert first == f"rtcdiag stun: {report.verdict}" and len(first) > 40


def test_a_cut_list_says_it_was_cut_in_every_format() -> None:
    """333 sessions in a coturn log, 200 rows shown: every format says so (issue 22). The log is built here
    (333 real coturn sessions would take minutes to make on loopback; the cut is what is tested)."""
    from rtcdiag.checks.capture import MAX_ROWS, log_tables
    from rtcdiag.evidence.coturn_log import CoturnLog, Session
    from rtcdiag.report import json_report, markdown
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.judgement import Judgement

    log = CoturnLog(source="turn.log")
    for n in range(333):
        log.sessions[str(n)] = Session(id=str(n), user="alice")
    sessions = log_tables([log])[0]
    assert len(sessions.rows) == MAX_ROWS == 200 and sessions.cut_note == "200 of 333 sessions shown"
    report = build_report("analyze", Judgement(), tables=[sessions])
    assert "(200 of 333 sessions shown)" in _render(report, 100)
    assert "_200 of 333 sessions shown._" in markdown.render(report)
    assert json_report.to_data(report)["tables"][0]["total"] == 333

"""A registered secret appears in no output format: console, plain text, JSON, JUnit, Markdown, files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_report_samples import sample_report

from rtcdiag.commands.shared.options import OutputOptions
from rtcdiag.commands.shared.output import emit
from rtcdiag.redact import ECHO, clear_secrets, echo, register_secret
from rtcdiag.report import console, json_report, junit, markdown
from rtcdiag.report.model import Report

# Plain, and with characters that JSON, XML and Markdown escape (escaping changes a secret's spelling).
SECRETS = ["s3cret-Turn-Pa55", 'pa"ss|w<rd&\\x', "Zürich-Geheimnis-" + "x" * 90]


@pytest.fixture(autouse=True)
def _secrets() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


def _renderings(report: Report) -> dict[str, str]:
    narrow = io.StringIO()
    console.print_report(report, console.make_console(narrow, width=40))
    return {
        "console": narrow.getvalue(),
        "plain": console.render_plain(report),
        "json": json_report.render(report),
        "junit": junit.render(report),
        "markdown": markdown.render(report),
    }


def _report_echoing(secret: str) -> Report:
    """The sample report, with the secret echoed in evidence, a step, a table, a note and the results."""
    from test_report_samples import sample_judgement

    from rtcdiag.report.build import build_report

    report = sample_report(secret)
    return build_report("stun", sample_judgement(secret), tables=report.tables, notes=report.notes,
                        results={"credential_echo": echo(secret), echo(secret): [echo(secret)],
                                 "software": _Echoing(f"server {secret}")})


@dataclass
class _Echoing:
    """A result whose field holds outside text (declared ECHO): masked without being marked by hand."""

    software: str = field(metadata=ECHO)


@pytest.mark.parametrize("secret", SECRETS)
def test_secret_in_evidence_results_tables_and_notes_is_masked_everywhere(secret: str) -> None:
    register_secret(secret)
    report = _report_echoing(secret)
    for fmt, text in _renderings(report).items():
        assert secret not in text, f"secret leaked in {fmt}"
        assert "***" in text, f"{fmt} shows no mask, so the secret was not there to hide"
        # Escaped spellings as well.
        assert json.dumps(secret)[1:-1] not in text
        assert secret.replace("|", "\\|") not in text
        assert secret.replace("&", "&amp;").replace("<", "&lt;") not in text
    json.loads(_renderings(report)["json"])  # still valid JSON after masking


COMMON_WORDS = ["turn", "wrong", "test", "udp", "alice"]


@pytest.mark.parametrize("password", COMMON_WORDS)
def test_a_common_word_password_masks_only_its_echo_never_prose(password: str) -> None:
    """A password that is an everyday word must not corrupt rtcdiag's own text nor give itself away."""
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject, make_finding
    from rtcdiag.triage.judgement import Judgement

    register_secret(password)
    subject = Subject("turn:nodeturn.test:3478", "nodeturn.test", 3478, "udp")
    auth = make_finding("TURN-AUTH-401", subject, check="turn", step="allocate", transport="UDP",
                        server="127.0.0.1:3478", host="nodeturn.test",
                        detail=f"(user alice, realm 'nodeturn.test'; echoed credential {echo(password)})",
                        evidence=[f"sent USERNAME alice, password {echo(password)}"])
    report = build_report("turn-check", Judgement(findings=[auth]),
                          notes=[f"turn:nodeturn.test:3478: server software "
                                 f"{echo(f'turnserver-{password}-edition')}"])
    for fmt, text in _renderings(report).items():
        flat = " ".join(text.split())
        assert f"password {password}" not in flat, f"{fmt}: echoed password not masked"
        assert "password ***" in flat, fmt
        assert "nodeturn.test" in flat, f"{fmt}: realm corrupted"
        assert "rtcdiag turn-check" in flat or '"command": "turn-check"' in flat, f"{fmt}: command corrupted"
        assert "turn:nodeturn.test:3478" in flat, f"{fmt}: the scheme of the subject was masked"
        note = "turn:nodeturn.test:3478: server software turnserver-***-edition"
        assert fmt == "junit" or note in flat.replace("\\*", "*"), fmt
        assert "alice" in flat or password == "alice", f"{fmt}: an unmarked word was masked"
        if fmt in ("plain", "console", "junit"):
            for prose in (auth.entry.cause, auth.entry.fix):
                assert " ".join(prose.split()) in flat, f"{fmt}: catalogue prose corrupted"
    finding = json.loads(json_report.render(report))["findings"][0]
    assert (finding["cause"], finding["fix"]) == (auth.entry.cause, auth.entry.fix)


def test_secret_never_split_across_wrapped_lines() -> None:
    secret = "Zürich-Geheimnis-" + "x" * 90
    register_secret(secret)
    text = _renderings(_report_echoing(secret))["console"]
    assert "Geheimnis" not in text and "x" * 30 not in text


def test_emit_writes_no_secret_to_stdout_or_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = SECRETS[0]
    register_secret(secret)
    for suffix in (".json", ".md", ".xml", ".txt"):
        out = OutputOptions(json=suffix == ".json", junit=tmp_path / f"junit{suffix}.xml",
                            report_file=tmp_path / f"report{suffix}")
        assert emit(_report_echoing(secret), out) == 1
        assert secret not in capsys.readouterr().out
        for path in (out.junit, out.report_file):
            assert path is not None
            assert secret not in path.read_text(encoding="utf-8")

"""A report with every kind of content, shared by the renderer tests (``from test_report_samples import``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcdiag import exitcodes
from rtcdiag.report.json_report import status
from rtcdiag.report.model import CheckCase, Report, Status, Table
from rtcdiag.triage.finding import Finding, Severity, make_finding

SERVER = "stun:[2001:db8::1]:3478"


@dataclass
class SampleResult:
    server: str
    raw: bytes
    rtts_ms: list[float] = field(default_factory=list)


def sample_report(secret: str = "") -> Report:
    """Errors, a warning and an info; pass/fail/skip/inconclusive checks; a wide and a small table."""
    leak = f" {secret}" if secret else ""
    report = Report(command="stun")
    report.findings = [
        make_finding("STUN-NO-FINGERPRINT", subject=f"{SERVER}?transport=tcp", server="[2001:db8::1]:3478",
                     transport="TCP"),
        make_finding("UDP-BLOCKED", subject=f"{SERVER}?transport=udp", server="[2001:db8::1]:3478",
                     detail="7 requests unanswered within 39.5 s",
                     evidence=["udp binding: Binding request -> timeout after 7 attempt(s)",
                               f"tcp binding: Binding request -> success in 12.3 ms{leak}"]),
        make_finding("STUN-INTERNAL-ADDRESS-LEAK", subject=f"{SERVER}?transport=tcp",
                     server="[2001:db8::1]:3478", detail="RESPONSE-ORIGIN 10.0.0.5:3478 (private)"),
        make_finding("DNS-FAILURE", subject="stun:missing.example.invalid:3478",
                     host="missing.example.invalid", detail="NXDOMAIN"),
    ]
    report.checks = [
        CheckCase(SERVER, "udp/binding", Status.FAIL, "timeout", 39.5, ["UDP-BLOCKED"]),
        CheckCase(SERVER, "tcp/binding", Status.WARN, f"mapped [2001:db8::99]:54321{leak}", 0.0123,
                  ["STUN-INTERNAL-ADDRESS-LEAK"]),
        CheckCase(SERVER, "tls/binding", Status.SKIP, "not requested"),
        CheckCase("stun:other.example.org:3478", "udp/nat-discovery", Status.INCONCLUSIVE,
                  "server returns no OTHER-ADDRESS"),
    ]
    report.tables = [
        Table("Binding results",
              ["server", "transport", "mapped address", "RTT ms", "retransmissions", "software",
               "response origin", "other address"],
              [[SERVER, "udp", "-", "-", "6", "", "", ""],
               [SERVER, "tcp", "[2001:db8::99]:54321", "12.3", "0", f"Coturn-4.6.1 'Gorst'{leak}",
                "10.0.0.5:3478", "[2001:db8::2]:3479"]]),
        Table("Notes per transport", ["transport", "what happened"],
              [["udp", "seven Binding requests were sent with the RFC 8489 schedule and none was answered"],
               ["tcp | tls",
                f"the connection opened at once and the answer came back within one round trip{leak}"]]),
    ]
    report.results = [SampleResult(server=SERVER, raw=b"\x01\x01\x00\x00", rtts_ms=[12.3])]
    report.notes = [f"UDP tried with an initial RTO of 500 ms{leak}"]
    report.duration_s = 1.234
    return report


def finding_text_words(findings: list[Finding]) -> set[str]:
    words: set[str] = set()
    for f in findings:
        for text in (f.title, f.subject, f.symptom, f.cause, f.fix, *f.evidence):
            words.update(text.split())
    return words


def test_sample_report_fails_with_exit_1() -> None:
    report = sample_report()
    assert report.exit_code == exitcodes.FINDING_ERROR
    assert status(report) == "fail"
    assert report.verdict.startswith("FAIL: 1/3 checks passed, 2 error(s), 1 warning(s)")


def test_status_word_for_each_verdict() -> None:
    report = Report(command="stun")
    assert status(report) == "pass"
    report.findings = [make_finding("STUN-NO-FINGERPRINT", server="s", transport="UDP")]
    assert status(report) == "pass"  # info does not change the verdict
    report.findings.append(make_finding("STUN-HIGH-RTT", server="s", transport="UDP", detail="400 ms"))
    assert status(report) == "warn"
    report.inconclusive = True
    assert (status(report), report.exit_code) == ("inconclusive", exitcodes.INCONCLUSIVE)
    report.findings.append(make_finding("SERVER-UNREACHABLE", server="s", transport="UDP", detail="x"))
    assert (status(report), report.exit_code) == ("fail", exitcodes.FINDING_ERROR)
    assert Severity.ERROR in {f.severity for f in report.findings}

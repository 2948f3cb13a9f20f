"""A report with every kind of content, shared by the renderer tests (``from test_report_samples import``).

Built the way every command builds its report: a Judgement (findings, step outcomes, facts) through
``rtcdiag.report.build.build_report``, so statuses and testcase names come from the one builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcdiag import exitcodes
from rtcdiag.redact import echo
from rtcdiag.report.build import build_report
from rtcdiag.report.json_report import status
from rtcdiag.report.model import Report, Table
from rtcdiag.triage.catalogue import CATALOGUE
from rtcdiag.triage.finding import Finding, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome, StepState

SERVER = "stun:[2001:db8::1]:3478"
HOST = "2001:db8::1"
UDP = Subject(SERVER, HOST, 3478, "udp")
TCP = Subject(SERVER, HOST, 3478, "tcp")
TLS = Subject(SERVER, HOST, 5349, "tls")
MISSING = Subject("stun:missing.example.invalid:3478", "missing.example.invalid", 3478, "udp")
OTHER = Subject("stun:other.example.org:3478", "other.example.org", 3478, "udp")


@dataclass
class SampleResult:
    server: str
    raw: bytes
    rtts_ms: list[float] = field(default_factory=list)


def sample_judgement(secret: str = "") -> Judgement:
    leak = f" {echo(secret)}" if secret else ""  # as a rule echoes a server's text
    findings = [
        make_finding("STUN-NO-FINGERPRINT", TCP, check="stun", step="binding", server="[2001:db8::1]:3478",
                     transport="TCP"),
        make_finding("UDP-BLOCKED", UDP, check="stun", step="binding", server="[2001:db8::1]:3478",
                     detail="7 requests unanswered within 39.5 s",
                     evidence=["udp binding: Binding request -> timeout after 7 attempt(s)",
                               f"tcp binding: Binding request -> success in 12.3 ms{leak}"]),
        make_finding("STUN-INTERNAL-ADDRESS-LEAK", TCP, check="stun", step="binding",
                     server="[2001:db8::1]:3478", transport="TCP",
                     detail="RESPONSE-ORIGIN 10.0.0.5:3478 (private)"),
        make_finding("DNS-FAILURE", MISSING, check="stun", step="resolve", host="missing.example.invalid",
                     detail="NXDOMAIN"),
    ]
    steps = [
        StepOutcome(UDP, "stun", "binding", detail="timeout", duration_s=39.5),
        StepOutcome(TCP, "stun", "binding", detail=f"mapped [2001:db8::99]:54321{leak}", duration_s=0.0123),
        StepOutcome(TLS, "stun", "binding", StepState.SKIPPED, detail="not requested"),
        StepOutcome(OTHER, "stun", "nat-discovery", StepState.UNDECIDED,
                    detail="server returns no OTHER-ADDRESS"),
    ]
    return Judgement(findings=findings, steps=steps, facts=Facts())


def sample_report(secret: str = "") -> Report:
    """Errors, a warning and an info; pass/fail/skip/inconclusive checks; a wide and a small table."""
    leak = f" {echo(secret)}" if secret else ""  # as a table echoes a server's text
    tables = [
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
    report = build_report("stun", sample_judgement(secret), tables=tables,
                          results=[SampleResult(server=SERVER, raw=b"\x01\x01\x00\x00", rtts_ms=[12.3])],
                          notes=[f"UDP tried with an initial RTO of 500 ms{leak}"])
    report.duration_s = 1.234
    return report


def finding_text_words(findings: list[Finding]) -> set[str]:
    words: set[str] = set()
    for f in findings:
        s = f.subject
        subject = s.server + (f" over {s.transport.upper()}" if s.transport else "") + \
            f" ({f.check} check, step {f.step})"
        for text in (f.title, subject, f.symptom, f.cause, f.fix, *f.evidence):
            words.update(text.split())
    return words


def test_sample_report_fails_with_exit_1() -> None:
    report = sample_report()
    assert report.exit_code == exitcodes.FINDING_ERROR
    assert status(report) == "fail"
    assert report.verdict == ("FAIL: 3 root causes (DNS-FAILURE, UDP-BLOCKED, STUN-INTERNAL-ADDRESS-LEAK); "
                              "1/4 checks passed")
    assert [r.id for r in report.roots] == ["DNS-FAILURE", "UDP-BLOCKED", "STUN-INTERNAL-ADDRESS-LEAK"]


def test_status_word_for_each_verdict() -> None:
    def report_of(*findings: Finding, inconclusive: bool = False) -> Report:
        facts = Facts(inconclusive=inconclusive)
        return build_report("stun", Judgement(findings=list(findings), facts=facts))

    subject = Subject("s", "s", 3478, "udp")
    info = make_finding("STUN-NO-FINGERPRINT", subject, check="stun", step="binding", server="s",
                        transport="UDP")
    high = make_finding("STUN-HIGH-RTT", subject, check="stun", step="binding", server="s", transport="UDP",
                        detail="400 ms")
    down = make_finding("SERVER-UNREACHABLE", subject, check="stun", step="binding", server="s",
                        transport="UDP", detail="x", host="s")
    assert status(report_of()) == "pass"
    assert status(report_of(info)) == "pass"  # info does not change the verdict
    assert status(report_of(info, high)) == "warn"
    inconclusive = report_of(info, high, inconclusive=True)
    assert (status(inconclusive), inconclusive.exit_code) == ("inconclusive", exitcodes.INCONCLUSIVE)
    failed = report_of(info, high, down, inconclusive=True)
    assert (status(failed), failed.exit_code) == ("fail", exitcodes.FINDING_ERROR)


def test_the_verdict_counts_root_blocks_not_root_findings() -> None:
    """One statement about three transports (or one id twice on one subject) is one root cause, as the
    report prints one block for it (issue 20)."""
    findings = [make_finding("SERVER-REFUSED", Subject("turn:h:3478", "h", 3478, transport), check="turn",
                             step="connect", server="h:3478", transport=transport.upper(), host="h",
                             port=3478, detail="refused", state="closed")
                for transport in ("udp", "tcp", "tls")]
    report = Report(command="turn-check", findings=findings, roots=list(findings))
    assert report.root_count == 1 and len(report.root_groups()) == 1
    assert report.verdict == "FAIL: 1 root cause (SERVER-REFUSED); 0/0 checks passed"
    twice = Report(command="turn-check", findings=findings[:1] * 2, roots=findings[:1] * 2)
    assert twice.root_count == 1


def test_a_pass_with_warnings_names_them_and_says_no_root_cause() -> None:
    """Warnings on a pass are warnings, not "root causes" (issue 22); more than three ids are counted."""
    ids = ["TLS-NO-ALPN", "TLS-OLD-VERSION", "TLS-EXPIRING-SOON", "STUN-NO-FINGERPRINT"]
    findings = [make_finding(fid, Subject("stuns:h:5349", "h", 5349, "tls"), check="ports", step="5349",
                             **{k: "x" for k in CATALOGUE[fid].placeholders}, severity=Severity.WARNING)
                for fid in ids]
    report = Report(command="ports", findings=findings, roots=list(findings))
    assert report.verdict == ("PASS with warnings: 4 warnings (TLS-NO-ALPN, TLS-OLD-VERSION, "
                              "TLS-EXPIRING-SOON, +1 more); 0/0 checks passed")
    assert Report(command="ports").verdict == "PASS: 0/0 checks passed"

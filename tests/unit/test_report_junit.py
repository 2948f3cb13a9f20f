"""JUnit XML: a suite per server, a testcase per check, failures name the finding ids (xml.etree parses)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from test_report_samples import SERVER, sample_report

from rtcdiag.report import junit
from rtcdiag.report.build import build_report
from rtcdiag.report.model import CheckCase, Report, Status
from rtcdiag.triage.finding import Finding, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome


def _parse(report: Report) -> ET.Element:
    text = junit.render(report)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def _case(root: ET.Element, suite: str, name: str) -> ET.Element:
    found = root.find(f"./testsuite[@name='{suite}']/testcase[@name='{name}']")
    assert found is not None, f"no testcase {suite} / {name}"
    return found


def test_suites_and_counts() -> None:
    root = _parse(sample_report())
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.findall("testsuite")] == [
        SERVER, "stun:other.example.org:3478", "stun:missing.example.invalid:3478"]
    # 4 steps + the DNS-FAILURE's own step (resolve), which no step outcome declared.
    counts = (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors"))
    assert counts == ("5", "2", "2", "0")
    server = root.find(f"./testsuite[@name='{SERVER}']")
    assert server is not None
    assert (server.get("tests"), server.get("failures"), server.get("skipped")) == ("3", "1", "1")
    assert server.get("time") == "39.512"


def test_testcase_attributes() -> None:
    case = _case(_parse(sample_report()), SERVER, "tcp/binding")
    assert (case.get("classname"), case.get("time")) == (SERVER, "0.012")
    assert case.find("failure") is None and case.find("skipped") is None


def test_failure_names_its_own_finding_once_with_title_cause_and_fix() -> None:
    failure = _case(_parse(sample_report()), SERVER, "udp/binding").find("failure")
    assert failure is not None
    assert failure.get("type") == "UDP-BLOCKED"
    assert failure.get("message") == "UDP-BLOCKED: UDP is blocked, TCP works"
    body = failure.text or ""
    assert body.startswith("UDP-BLOCKED [error]: UDP is blocked, TCP works")
    assert body.count("UDP-BLOCKED [error]") == 1
    assert "Cause: A firewall between here and the server drops UDP" in body
    assert "Fix: Clients will fall back to TURN/TCP; make sure turns:443 exists" in body
    assert "Evidence: udp binding: Binding request -> timeout after 7 attempt(s)" in body
    assert "STUN-NO-FINGERPRINT" not in body and "INTERNAL-ADDRESS-LEAK" not in body  # TCP's, not UDP's


def test_skip_and_inconclusive_say_why() -> None:
    root = _parse(sample_report())
    skipped = _case(root, SERVER, "tls/binding").find("skipped")
    assert skipped is not None and skipped.get("message") == "skip: not requested"
    inconclusive = _case(root, "stun:other.example.org:3478", "udp/nat-discovery").find("skipped")
    assert inconclusive is not None
    assert inconclusive.get("message") == "inconclusive: server returns no OTHER-ADDRESS"


def test_warning_check_passes_with_its_finding_in_system_out() -> None:
    case = _case(_parse(sample_report()), SERVER, "tcp/binding")
    out = case.find("system-out")
    assert out is not None and "STUN-INTERNAL-ADDRESS-LEAK [warning]" in (out.text or "")


def test_error_finding_without_a_declared_step_gets_its_own_testcase() -> None:
    root = _parse(sample_report())
    failure = _case(root, "stun:missing.example.invalid:3478", "udp/resolve").find("failure")
    assert failure is not None
    assert "missing.example.invalid could not be resolved: NXDOMAIN." in (failure.text or "")


def _turn_judgement() -> Judgement:
    findings, steps = [], []
    for host in ("a.example", "b.example"):
        for transport in ("udp", "tcp"):
            subject = Subject(f"turn:{host}:3478", host, 3478, transport)
            steps.append(StepOutcome(subject, "turn", "allocate", duration_s=0.004))
            if transport == "udp" and host == "b.example":
                findings.append(make_finding("SERVER-UNREACHABLE", subject, check="turn", step="allocate",
                                             server=f"{host}:3478", transport="UDP", host=host,
                                             detail="7 tries"))
    return Judgement(findings=findings, steps=steps)


def test_finding_only_in_the_testcase_of_its_own_server_transport_and_step() -> None:
    root = _parse(build_report("turn-check", _turn_judgement()))
    failure = _case(root, "turn:b.example:3478", "udp/allocate").find("failure")
    assert failure is not None and "b.example:3478" in (failure.text or "")
    for suite, name in (("turn:b.example:3478", "tcp/allocate"), ("turn:a.example:3478", "udp/allocate"),
                        ("turn:a.example:3478", "tcp/allocate")):
        case = _case(root, suite, name)
        assert case.find("failure") is None and case.find("skipped") is None
        assert case.get("time") == "0.004"


def test_names_are_unique_and_prefixed_by_check_in_multi_check_reports() -> None:
    subject = Subject("127.0.0.1", "127.0.0.1", 3478, "udp")
    steps = [StepOutcome(subject, "stun", "binding"), StepOutcome(subject, "turn", "allocate"),
             StepOutcome(subject, "stun", "binding")]
    root = _parse(build_report("check", Judgement(steps=steps)))
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["stun/udp/binding", "turn/udp/allocate", "stun/udp/binding #2"]


def test_characters_xml_cannot_carry_are_replaced() -> None:
    report = Report(command="stun", checks=[
        CheckCase("stun:127.0.0.1:9", "udp/binding", Status.FAIL, "garbage reply \x00\x01\x1b<&>\"")])
    failure = _case(_parse(report), "stun:127.0.0.1:9", "udp/binding").find("failure")
    assert failure is not None
    assert failure.get("message") == "garbage reply \ufffd\ufffd\ufffd<&>\""


def test_empty_report_is_valid_xml() -> None:
    root = _parse(Report(command="stun"))
    assert (root.get("tests"), root.findall("testsuite")) == ("0", [])


def _refused(entry: str, port: int, check: str) -> Finding:
    label = "ports:127.0.0.1" if check == "ports" else f"turn:127.0.0.1:{port}?transport=tcp"
    subject = Subject(f"{label} ({entry})", "127.0.0.1", port, "tcp", entry=f"127.0.0.1 ({entry})")
    step = "connect" if check == "turn" else str(port)
    return make_finding("SERVER-REFUSED", subject, check=check, step=step, server=f"127.0.0.1:{port}",
                        transport="TCP", host="127.0.0.1", detail="refused")


def test_explained_by_names_whose_root_cause_it_is() -> None:
    """Two server entries on one host: a failure folded under its root cause names that root's server entry,
    transport and port, never the bare id (which of two refused ports?)."""
    findings = [_refused("a", 3479, "ports"), _refused("a", 3479, "turn"), _refused("b", 3480, "ports"),
                _refused("b", 3480, "turn")]
    steps = [StepOutcome(f.subject, f.check, f.step) for f in findings]
    root = _parse(build_report("check", Judgement(findings=findings, steps=steps)))
    bodies = {(case.get("classname"), case.get("name")): failure.text or ""
              for case in root.iter("testcase") if (failure := case.find("failure")) is not None}
    assert ("Explained by: SERVER-REFUSED (ports:127.0.0.1 (a) over TCP, port 3479): Connection refused"
            in bodies[("turn:127.0.0.1:3479?transport=tcp (a)", "turn/tcp/connect")])
    assert ("Explained by: SERVER-REFUSED (ports:127.0.0.1 (b) over TCP, port 3480): Connection refused"
            in bodies[("turn:127.0.0.1:3480?transport=tcp (b)", "turn/tcp/connect")])

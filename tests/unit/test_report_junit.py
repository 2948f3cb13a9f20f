"""JUnit XML: a suite per server, a testcase per check, failures name the finding ids (xml.etree parses)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from test_report_samples import SERVER, sample_report

from rtcdiag.report import junit
from rtcdiag.report.model import CheckCase, Report, Status
from rtcdiag.triage.finding import make_finding


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
        SERVER, "stun:other.example.org:3478", "rtcdiag stun"]
    # 4 checks + 1 synthetic case for DNS-FAILURE, which no check names.
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


def test_failure_names_finding_ids_with_title_cause_and_fix() -> None:
    failure = _case(_parse(sample_report()), SERVER, "udp/binding").find("failure")
    assert failure is not None
    assert failure.get("type") == "UDP-BLOCKED"
    assert failure.get("message") == "UDP-BLOCKED: UDP is blocked, TCP works (timeout)"
    body = failure.text or ""
    assert body.startswith("UDP-BLOCKED [error]: UDP is blocked, TCP works")
    assert "Cause: A firewall between here and the server drops UDP" in body
    assert "Fix: Clients will fall back to TURN/TCP; make sure turns:443 exists" in body
    assert "Evidence: udp binding: Binding request -> timeout after 7 attempt(s)" in body


def test_skip_and_inconclusive_are_skipped() -> None:
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


def test_error_finding_without_a_check_still_fails_the_run() -> None:
    failure = _case(_parse(sample_report()), "rtcdiag stun", "finding/DNS-FAILURE").find("failure")
    assert failure is not None
    assert "missing.example.invalid could not be resolved: NXDOMAIN." in (failure.text or "")


def test_finding_picked_for_the_checks_own_server() -> None:
    report = Report(command="turn-check")
    report.findings = [make_finding("SERVER-UNREACHABLE", subject=f"turn:{h}:3478?transport=udp",
                                    server=f"{h}:3478", transport="UDP", detail="7 tries")
                       for h in ("a.example", "b.example")]
    report.checks = [CheckCase("turn:b.example:3478", "udp/allocate", Status.FAIL, "",
                               finding_ids=["SERVER-UNREACHABLE"])]
    failure = _case(_parse(report), "turn:b.example:3478", "udp/allocate").find("failure")
    assert failure is not None
    assert "b.example:3478" in (failure.text or "") and "a.example" not in (failure.text or "")


def test_characters_xml_cannot_carry_are_replaced() -> None:
    report = Report(command="stun", checks=[
        CheckCase("stun:127.0.0.1:9", "udp/binding", Status.FAIL, "garbage reply \x00\x01\x1b<&>\"")])
    failure = _case(_parse(report), "stun:127.0.0.1:9", "udp/binding").find("failure")
    assert failure is not None
    assert failure.get("message") == "garbage reply \ufffd\ufffd\ufffd<&>\""


def test_empty_report_is_valid_xml() -> None:
    root = _parse(Report(command="stun"))
    assert (root.get("tests"), root.findall("testsuite")) == ("0", [])

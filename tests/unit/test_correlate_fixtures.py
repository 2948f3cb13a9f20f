"""One diagnosis from a dump, a capture and a coturn log of one call (issue 19), on real calls: headless
Chromium through coturn, captured by tcpdump, logged by coturn (tests/correlate_calls.py made them; the
live test in tests/integration/test_analyze_correlate_browser.py makes them again). Each call's verdict is
compared with its ground truth (the page's own states and icecandidateerror events); files of different
calls must never be put together."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlate_calls import FIXTURES, PASSWORD, check_call, error_roots, files_of, report_of

from rtcdiag.checks.analyze import read_files
from rtcdiag.triage.call_facts import capture_call, dump_call, log_call
from rtcdiag.triage.call_match import Relation, relate

SCENARIOS = ("healthy", "wrong-password", "unknown-user", "turns-self-signed", "dead-port")
KINDS = ("dump", "capture", "log")


def truth(scenario: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{scenario}.truth.json").read_text())
    return loaded


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_three_files_of_a_call_give_one_diagnosis(scenario: str) -> None:
    check_call(report_of(files_of(FIXTURES, scenario)), truth(scenario), scenario)


@pytest.fixture(scope="module")
def facts() -> dict[str, tuple[Any, Any, Any]]:
    out = {}
    for scenario in SCENARIOS:
        ev = read_files(files_of(FIXTURES, scenario))
        out[scenario] = (dump_call(ev.dumps[0], ev.summaries), capture_call(ev.captures[0]),
                         log_call(ev.logs[0]))
    return out


# coturn never saw the dead-port call (its URL pointed elsewhere): its log cannot be tied to it, nor
# told apart from it
UNDECIDABLE = {("dead-port", "log")}


@pytest.mark.parametrize(("first", "second"), [(0, 1), (0, 2), (1, 2)], ids=["dump-capture", "dump-log",
                                                                              "capture-log"])
def test_files_are_one_call_exactly_when_they_are(facts: dict[str, tuple[Any, Any, Any]], first: int,
                                                  second: int) -> None:
    for a in SCENARIOS:
        for b in SCENARIOS:
            match = relate(facts[a][first], facts[b][second])
            assert match is not None
            if a != b:  # two calls: never one (the strongest claim is that they differ)
                assert match.relation is not Relation.SAME, (a, b, match)
            elif (a, KINDS[second]) in UNDECIDABLE:
                assert match.relation is Relation.UNKNOWN, (a, match)
            else:
                assert match.relation is Relation.SAME, (a, KINDS[first], KINDS[second], match)
    # the pairs that state what differs, not only that nothing matches
    assert relate(facts["healthy"][0], facts["wrong-password"][1]).relation is Relation.DIFFERENT


def test_files_of_two_calls_are_said_so_and_judged_apart() -> None:
    """The healthy call's dump with the wrong-password call's capture and log: not one call; the capture
    and the log keep their own verdicts (a 401 loop, refused credentials), and nothing is folded across."""
    paths = [FIXTURES / "healthy.webrtc-internals.json.gz", FIXTURES / "wrong-password.pcap.gz",
             FIXTURES / "wrong-password.turnserver.log.gz"]
    report = report_of(paths)
    apart = [f for f in report["findings"] if f["id"] == "CORRELATE-NOT-SAME-CALL"]
    assert apart and all(f["explained_by"] is None and f["severity"] == "warning" for f in apart)
    named = {name for f in apart for name in (f["params"]["first"], f["params"]["second"])}
    assert any(n.endswith("healthy.webrtc-internals.json.gz") for n in named), named
    assert len(apart) == 2  # the dump against the capture, and against the log
    # the capture and the log of the wrong-password call are one call with each other: their own root
    roots = {f["id"] for f in error_roots(report)}
    assert "CORRELATE-TURN-CREDENTIALS" in roots
    credentials = next(f for f in report["findings"] if f["id"] == "CORRELATE-TURN-CREDENTIALS")
    assert "healthy" not in " ".join(credentials["evidence"])  # nothing of the other call in it
    assert not any(f["id"].startswith("ANALYZE-") and f["explained_by"] and "CORRELATE" in f["explained_by"]
                   for f in report["findings"])


def test_a_dump_and_a_capture_of_different_calls_keep_their_own_verdicts() -> None:
    report = report_of([FIXTURES / "unknown-user.webrtc-internals.json.gz", FIXTURES / "healthy.pcap.gz"])
    ids = {f["id"] for f in report["findings"]}
    assert "CORRELATE-NOT-SAME-CALL" in ids and "CORRELATE-SAME-CALL" not in ids
    alone = report_of([FIXTURES / "unknown-user.webrtc-internals.json.gz"])
    # the dump's own verdict, unchanged by a capture of another call
    assert {f["id"] for f in error_roots(report)} == {f["id"] for f in error_roots(alone)} != set()


def test_no_committed_file_holds_the_password() -> None:
    for path in FIXTURES.iterdir():
        data = path.read_bytes()
        plain = gzip.decompress(data) if path.suffix == ".gz" else data
        assert PASSWORD.encode() not in plain and b"not-the-password" not in plain, path.name


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_the_tls_evidence_is_what_tshark_sees() -> None:
    """The ServerHello packets the certificate root quotes are the ones tshark dissects as ServerHello."""
    report = report_of(files_of(FIXTURES, "turns-self-signed"))
    root = next(f for f in report["findings"] if f["id"] == "CORRELATE-TURNS-TLS-REFUSED")
    quoted = {int(line.split("certificate (packet ", 1)[1].split(")", 1)[0]) for line in root["evidence"]
              if "certificate (packet " in line}
    port = truth("turns-self-signed")["tls_port"]
    proc = subprocess.run(["tshark", "-r", str(FIXTURES / "turns-self-signed.pcap.gz"), "-d",
                           f"tcp.port=={port},tls", "-Y", "tls.handshake.type == 2", "-T", "fields", "-e",
                           "frame.number"], capture_output=True, text=True, timeout=60, check=False)
    assert quoted and quoted == {int(n) for n in proc.stdout.split()}

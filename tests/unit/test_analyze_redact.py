"""``rtcdiag analyze --redact OUT`` on the real Chromium dumps: the copy holds none of the original addresses,
mDNS names, ICE ufrags/passwords, fingerprints or certificates, and still gives the same diagnosis."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rtcdiag.evidence.anonymize import anonymize
from rtcdiag.evidence.load import load_dump
from rtcdiag.evidence.sdp import parse_sdp
from rtcdiag.evidence.webrtc_internals import description_value
from rtcdiag.triage.analyze import summarize_all

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from make_fixtures import SCENARIOS, fixture_path

WITH_PEERS = [s.name for s in SCENARIOS if not s.name.startswith("gum-")]


def _rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "120"}, check=False)


def _secrets(path: Path) -> set[str]:
    """Everything the copy must not contain, collected by the parser (not by the anonymiser's regexes)."""
    dump = load_dump(path)
    found: set[str] = set()
    for summary in summarize_all([dump]):
        for c in summary.candidates:
            if c.candidate.address not in ("127.0.0.1", "0.0.0.0", "::1"):
                found.add(c.candidate.address)
            if c.candidate.ufrag:
                found.add(c.candidate.ufrag)
        for event in summary.pc.events:
            description = description_value(event.value) if "Description" in event.type else None
            if description is not None and description.sdp:
                sdp = parse_sdp(description.sdp)
                for m in sdp.media:
                    found.update(x for x in (m.ice_ufrag, m.ice_pwd) if x)
                    found.update(f.split()[-1] for f in m.fingerprints)
        for obj in summary.pc.of_type("certificate"):
            found.add(obj.text("fingerprint"))
            found.add(obj.text("base64Certificate")[:40])
    return {s for s in found if s}


@pytest.mark.parametrize("name", WITH_PEERS)
def test_redacted_copy_hides_everything_and_keeps_the_diagnosis(name: str, tmp_path: Path) -> None:
    source = fixture_path(name)
    secrets = _secrets(source)
    assert secrets  # the dump really had something to hide
    out = tmp_path / "redacted.json"
    before = _rtcdiag("analyze", "--json", "--redact", str(out), str(source))
    text = out.read_text()
    for secret in secrets:
        assert secret not in text, secret
        assert secret.lower() not in text.lower() or len(secret) < 6, secret
    assert "base64Certificate" not in text
    after = _rtcdiag("analyze", "--json", str(out))
    assert before.returncode == after.returncode
    ids = [[r["id"] for r in json.loads(p.stdout)["root_causes"]] for p in (before, after)]
    assert ids[0] == ids[1]


def test_mapping_is_consistent_and_keeps_the_kind_of_address() -> None:
    document = {"PeerConnections": {"1-1": {"updateLog": [
        {"type": "icecandidate",
         "value": "candidate:1 1 udp 1 10.1.2.3 5000 typ relay raddr 8.8.8.8 rport 1"},
        {"type": "addIceCandidate",
         "value": "candidate:2 1 udp 1 8.8.8.8 5001 typ srflx raddr 10.1.2.3 rport 2"},
        {"type": "x", "value": "2a00:1450::1 fe80::1%eth0 100.64.1.1 169.254.1.1 127.0.0.1 ::1 203.0.113.1 "
                               "0123abcd-0123-4567-89ab-0123456789ab.local 03:12:39 Chrome/156.0.0.0"}]}},
        "UserAgent": "Mozilla/5.0 Chrome/156.0.0.0"}
    copy = anonymize(document)
    log = copy["PeerConnections"]["1-1"]["updateLog"]
    first, second, words = log[0]["value"].split(), log[1]["value"].split(), log[2]["value"].split()
    assert first[4] == second[9] and first[9] == second[4]  # the same address, the same replacement
    assert first[4].startswith("10.200.") and second[4].startswith(("203.0.113.", "198.51.100."))
    assert words[0].startswith("2001:db8::") and words[1].startswith("fe80::ffff:")
    assert words[2].startswith("100.127.") and words[3].startswith("169.254.200.")
    assert words[4:6] == ["127.0.0.1", "::1"]  # loopback says nothing
    assert words[6] != "203.0.113.1" and re.fullmatch(r"203\.0\.113\.\d+", words[6])  # never an original
    assert words[7] == "mdns-1.local" and words[8] == "03:12:39"
    assert copy["UserAgent"] == document["UserAgent"]


def test_redact_takes_one_file(tmp_path: Path) -> None:
    path = str(fixture_path("glare"))
    result = _rtcdiag("analyze", "--redact", str(tmp_path / "out.json"), path, path)
    assert result.returncode == 2 and "exactly one FILE" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_redact_says_what_it_replaced_gzips_and_reports_on_the_copy(tmp_path: Path) -> None:
    """`--redact OUT.gz` writes gzip (as `browser --save-dump`), says on stderr what it wrote and how much it
    replaced, and the report printed beside it is the copy's: none of the dump's secrets in it (issue 22)."""
    source = fixture_path("private-host")
    secrets = _secrets(source)
    out = tmp_path / "redacted.json.gz"
    proc = _rtcdiag("analyze", "-v", "--redact", str(out), str(source))
    text = gzip.decompress(out.read_bytes()).decode()
    assert json.loads(text)["PeerConnections"]
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"rtcdiag analyze: wrote {out} (") and ", gzip): " in line
    assert re.search(r"\d+ IP address(es)?, .*replaced \(\d+ places\)", line), line
    assert "the report below is of that copy" in line
    assert str(out) in proc.stdout  # the notes name the copy, not the original
    for secret in secrets:
        assert secret not in proc.stdout, secret

"""``rtcdiag explain``: list, one entry (any case), unknown id -> close matches and exit 2, --json."""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len

from rtcdiag import exitcodes
from rtcdiag.cli import main
from rtcdiag.triage.catalogue import CATALOGUE


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["explain", *args])
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_list_shows_every_id_severity_and_title(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = _run([], capsys)
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.split() and line.split()[0] in CATALOGUE}
    assert set(rows) == set(CATALOGUE)
    assert "error" in rows["UDP-BLOCKED"] and "UDP is blocked, TCP works" in rows["UDP-BLOCKED"]
    assert "info" in rows["STUN-NO-FINGERPRINT"]


def test_list_fits_80_columns(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = _run([], capsys)
    assert code == 0
    assert max(cell_len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize("given", ["UDP-BLOCKED", "udp-blocked", " Udp-Blocked "])
def test_one_entry_any_case(given: str, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = _run([given], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "UDP-BLOCKED error (general)"
    assert lines[1] == "UDP is blocked, TCP works"
    text = " ".join(out.split())
    assert "Symptom No UDP answer from <server> while TCP/TLS" in text  # placeholders readable
    assert "Fix Clients will fall back to TURN/TCP; make sure turns:443 exists" in text
    assert "Reference RFC 8656 §3.1" in text


def test_unknown_id_suggests_close_matches_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["udp-blokced"], capsys)
    assert code == exitcodes.USAGE
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("rtcdiag: error: no finding id or word matches 'udp-blokced'; did you mean "
                          "UDP-BLOCKED")


def test_unknown_id_without_any_match(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["qqqqqqqq"], capsys)
    assert code == exitcodes.USAGE
    assert err == ("rtcdiag: error: no finding id or word matches 'qqqqqqqq' (`rtcdiag explain` lists them "
                   "all)\n")


def test_prefix_lists_the_family(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = _run(["tls"], capsys)
    assert (code, err) == (0, "")
    listed = [line.split()[0] for line in out.splitlines()[1:]
              if line.split() and line.split()[0] in CATALOGUE]
    assert listed[:4] == ["TLS-UNTRUSTED", "TLS-EXPIRED", "TLS-HOSTNAME", "TLS-HANDSHAKE"]  # ids first


@pytest.mark.parametrize(("given", "first", "also"), [
    ("701", "ANALYZE-TURN-UNREACHABLE", {"ANALYZE-STUN-UNREACHABLE", "ANALYZE-TURNS-CONNECT-FAILED"}),
    ("486", "TURN-QUOTA-486", {"ANALYZE-TURN-486"}),
    ("quota", "TURN-QUOTA-486", {"LINT-NO-QUOTA", "ANALYZE-TURN-486"}),
    ("Quota", "TURN-QUOTA-486", set()),
])
def test_a_code_or_a_word_lists_the_entries_it_names(given: str, first: str, also: set[str],
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`explain 701`, `explain quota` (issue 22): every entry the code or word names, id matches first."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = _run([given], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].endswith(f"entries name {given!r} (rtcdiag explain ID prints one)")
    listed = [line.split()[0] for line in lines if line.split() and line.split()[0] in CATALOGUE]
    assert int(lines[0].split()[0]) == len(listed) and listed[0] == first and also <= set(listed)
    _, data, _ = _run(["--json", given], capsys)
    assert [e["id"] for e in json.loads(data)["entries"]] == listed


def test_a_word_naming_one_entry_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["hairpin"], capsys)  # ("glare" names two since ANALYZE-ICE-RESTARTS speaks of it)
    assert code == 0 and out.splitlines()[0] == "NAT-NO-HAIRPIN warning (nat)"


def test_json_list_and_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--json"], capsys)
    data = json.loads(out)
    assert (code, data["schema"], data["command"]) == (0, "rtcdiag/1", "explain")
    assert {e["id"] for e in data["entries"]} == set(CATALOGUE)
    code, out, _ = _run(["--json", "stun-rfc3489-only"], capsys)
    (entry,) = json.loads(out)["entries"]
    assert code == 0
    assert entry["id"] == "STUN-RFC3489-ONLY"
    assert entry["area"] == "stun"
    assert entry["severity"] == "warning"
    assert set(entry) == {"id", "area", "severity", "title", "symptom", "cause", "fix", "reference",
                          "diagnosis"}
    assert "<server>" in entry["symptom"]

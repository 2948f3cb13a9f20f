"""``rtcdiag budget`` as a user runs it: the report (console, JSON, Markdown), the [budget] table of an
rtcdiag.toml, the measured relay ratio of a folder of dumps, and every bad input as one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtcdiag import exitcodes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONF = FIXTURES / "budget" / "turnserver.conf"


def _rtcdiag(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", "budget", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "120"}, check=False, cwd=cwd)


def test_json_report_holds_the_numbers_and_the_formulas() -> None:
    done = _rtcdiag("--topology", "sfu", "--participants", "10", "--rooms", "50", "--relay-ratio", "0.2",
                    "--video-kbps", "150,500,1500", "--minutes-per-month", "1000000",
                    "--price-per-gb", "0.08", "--json")
    assert done.returncode == exitcodes.OK, done.stderr
    report = json.loads(done.stdout)
    budget = report["results"]["budget"]
    assert budget["allocations"] == 100 and budget["udp_relay_ports"] == 100
    assert budget["streams"]["video_up"] == 3
    assert budget["cost_month"] == pytest.approx(budget["egress_gb_month"] * 0.08)
    assert any(f["quantity"] == "TURN allocations at peak" for f in budget["formulas"])
    assert report["findings"] == []  # a given ratio: nothing to say


def test_console_and_markdown_show_the_formulas() -> None:
    console = _rtcdiag("--topology", "p2p", "--participants", "4")
    assert console.returncode == exitcodes.OK
    # The tables by default (budget has no one-line summary); the info finding with -v (issue 22).
    assert "Formulas" in console.stdout and "BUDGET-RATIO-ASSUMED" not in console.stdout
    assert "-v adds 1 info finding" in console.stdout
    verbose = _rtcdiag("--topology", "p2p", "--participants", "4", "-v")
    assert "Formulas" in verbose.stdout and "BUDGET-RATIO-ASSUMED" in verbose.stdout
    markdown = _rtcdiag("--topology", "mcu", "--participants", "4", "--markdown")
    assert "| TURN allocations at peak |" in markdown.stdout


def test_the_fixture_conf_fails_with_its_shortfalls() -> None:
    done = _rtcdiag("--topology", "sfu", "--participants", "8", "--rooms", "20", "--relay-ratio", "0.5",
                    "--conf", str(CONF), "--fd-limit", "100", "--json")
    assert done.returncode == exitcodes.FINDING_ERROR
    ids = {f["id"] for f in json.loads(done.stdout)["findings"]}
    assert {"BUDGET-PORTS-SHORT", "BUDGET-QUOTA-UNLIMITED", "BUDGET-BPS-WITHOUT-MAX",
            "BUDGET-FD-SHORT"} <= ids


def test_inputs_from_a_budget_table_and_options_win(tmp_path: Path) -> None:
    (tmp_path / "coturn.conf").write_text("min-port=50000\nmax-port=50009\n")
    config = tmp_path / "rtcdiag.toml"
    config.write_text('[budget]\ntopology = "sfu"\nparticipants = 6\nrooms = 3\nrelay_ratio = 1.0\n'
                      'video_kbps = [200, 800]\nconf = "coturn.conf"\n')
    done = _rtcdiag("--config", str(config), "--json")
    result = json.loads(done.stdout)["results"]
    assert result["budget"]["allocations"] == 18
    assert result["limits"]["max_port"]["value"] == 50009  # the conf path is relative to the config file
    assert done.returncode == exitcodes.FINDING_ERROR  # 10 ports for 18 allocations
    wins = _rtcdiag("--config", str(config), "--rooms", "1", "--json")
    assert json.loads(wins.stdout)["results"]["budget"]["allocations"] == 6
    assert wins.returncode == exitcodes.OK


def test_the_relay_ratio_measured_from_dumps(tmp_path: Path) -> None:
    """--from-summary takes exactly what `analyze --summary` measures on the same folder (real Chromium
    dumps of tests/fixtures/analyze: some calls relayed, most not)."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    for dump in sorted((FIXTURES / "analyze").glob("*.webrtc-internals.json.gz")):
        (folder / dump.name).write_bytes(dump.read_bytes())
    analyzed = subprocess.run([sys.executable, "-m", "rtcdiag", "analyze", "--summary", str(folder),
                               "--json"], capture_output=True, text=True, timeout=120, check=False)
    summary = json.loads(analyzed.stdout)["results"]
    assert summary["relayed"] and summary["connected"] > summary["relayed"]
    done = _rtcdiag("--topology", "p2p", "--participants", "2", "--from-summary", str(folder), "--json")
    assert done.returncode == exitcodes.OK, done.stderr
    result = json.loads(done.stdout)
    inputs = result["results"]["budget"]["inputs"]
    assert inputs["relay_ratio"] == pytest.approx(summary["relay_ratio"])
    measured = f"measured: {summary['relayed']} of {summary['connected']}"
    assert inputs["relay_ratio_source"].startswith(measured)
    assert result["findings"] == []  # measured: no "assumed" note
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "note.txt").write_text("not a dump")
    none = _rtcdiag("--topology", "p2p", "--participants", "2", "--from-summary", str(empty))
    assert none.returncode == exitcodes.USAGE and "no connected call" in none.stderr


@pytest.mark.parametrize(("args", "message"), [
    ((), "give --topology"),
    (("--topology", "sfu"), "give --topology"),
    (("--topology", "ring", "--participants", "4"), "Invalid value for '--topology'"),
    (("--topology", "sfu", "--participants", "1"), "participants: 1 is not within 2..200"),
    (("--topology", "sfu", "--participants", "4", "--video-kbps", "1500,500"), "lowest first"),
    (("--topology", "sfu", "--participants", "4", "--video-kbps", "fast"), "is not a number"),
    (("--topology", "sfu", "--participants", "4", "--receive-layer", "2"), "receive-layer"),
    (("--topology", "sfu", "--participants", "4", "--relay-ratio", "2"), "relay-ratio"),
    (("--topology", "sfu", "--participants", "4", "--relay-ratio", "0.5", "--from-summary", "."),
     "mutually exclusive"),
    (("--topology", "sfu", "--participants", "4", "--fd-limit", "10"), "--fd-limit only applies with --conf"),
    (("--topology", "sfu", "--participants", "4", "--price-per-gb", "0.1"), "needs --minutes-per-month"),
    (("--topology", "sfu", "--participants", "4", "--conf", "/nonexistent.conf"), "no such file"),
    (("--topology", "sfu", "--participants", "4", "--from-coturn-log", str(CONF)), "not a coturn log"),
])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from rtcdiag.cli import main  # in this process: the same entry point, without a start-up each

    with pytest.raises(SystemExit) as exited:
        main(["budget", *args])
    out, err = capsys.readouterr()
    assert exited.value.code == exitcodes.USAGE
    assert message in err
    assert err.count("\n") == 1 and out == ""


def test_unknown_budget_key_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "rtcdiag.toml"
    config.write_text('[budget]\ntopology = "sfu"\nparticipant = 4\n')
    done = _rtcdiag("--config", str(config))
    assert done.returncode == exitcodes.USAGE
    assert "budget.participant: unknown key" in done.stderr


def test_measured_egress_from_a_real_coturn_log() -> None:
    """The coturn log of a real Chromium call relayed over TCP (tests/fixtures/matrix): the egress per
    allocation is the session's bytes sent to the client (sb) and to the peer (peer sb) over its life, from
    the "new" line to the "closed" line; recomputed here from the log text."""
    import gzip
    import re

    path = FIXTURES / "matrix" / "relay-tcp-both" / "coturn.log.gz"
    text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    opened = {m.group(2): int(m.group(1)) for m in re.finditer(r"^(\d+): : session (\d+): new,", text, re.M)}
    closed = {m.group(2): int(m.group(1))
              for m in re.finditer(r"^(\d+): : session (\d+): closed \(2nd stage\)", text, re.M)}
    sent = {}
    for m in re.finditer(r"session (\d+): (peer )?usage: .*sb=(\d+)", text):
        sent[m.group(1)] = sent.get(m.group(1), 0) + int(m.group(3))
    used = [sid for sid in opened if sid in closed and closed[sid] > opened[sid] and sent.get(sid)]
    assert used
    kbps = sum(sent[s] for s in used) * 8 / sum(closed[s] - opened[s] for s in used) / 1000
    done = _rtcdiag("--topology", "sfu", "--participants", "4", "--rooms", "10", "--relay-ratio", "0.5",
                    "--from-coturn-log", str(path), "--json")
    assert done.returncode == exitcodes.OK, done.stderr
    budget = json.loads(done.stdout)["results"]["budget"]
    assert budget["inputs"]["measured_leg_kbps"] == pytest.approx(kbps)
    assert budget["egress_mbps"] == pytest.approx(20 * kbps / 1000)  # 10 rooms x 4 legs x 0.5 relayed


def test_a_budget_table_does_not_upset_rtcdiag_check(tmp_path: Path) -> None:
    from rtcdiag.config import load_config

    config = tmp_path / "rtcdiag.toml"
    config.write_text('checks = ["stun"]\n\n[budget]\ntopology = "sfu"\nparticipants = 4\n\n'
                      '[[servers]]\nurls = ["stun:127.0.0.1:3478"]\n')
    assert [t.uri for s in load_config(config).servers for t in s.targets] == ["stun:127.0.0.1:3478"]


def test_the_shipped_example_budget() -> None:
    done = _rtcdiag("--config", str(FIXTURES.parent.parent / "examples" / "rtcdiag.toml"), "--json")
    assert done.returncode == exitcodes.OK, done.stderr
    budget = json.loads(done.stdout)["results"]["budget"]
    assert budget["allocations"] == 8 * 200 * 0.2  # 8 legs per room (SFU), 200 rooms, a fifth relayed
    assert budget["egress_gb_month"] > 0

"""Golden views of every committed fixture through the command line (issue 21: no behaviour change).

Each committed evidence file goes through ``rtcdiag analyze --json`` (in this process: the command's own code
path and exit code), alone and with the other files of its call; every lint fixture through ``rtcdiag lint``;
the budget fixture through ``rtcdiag budget``; the catalogue through ``rtcdiag explain``. What each run says
(exit code, findings, roots and what they explain, rows, tables, the JSON structure: tests/golden_view.py
lists every line and every normalisation) is compared with tests/golden/GROUP.json. A mismatch prints a
diff per run; an intended change is recorded with ``RTCDIAG_UPDATE_GOLDEN=1`` and reviewed in the diff of
the golden file. The live runs (selftest, the network commands against coturn) are
tests/integration/test_golden_live.py.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golden_view import REPO, Normaliser, Recorded, Run, compare, record, run_in_process, without_findings

FIXTURES = REPO / "tests" / "fixtures"
EXAMPLES = REPO / "examples"
GROUPS = ("analyze", "matrix", "capture", "correlate", "firefox", "lint", "budget", "explain")
ANALYZE = ("analyze", "--json")


def _evidence(files: list[Path]) -> list[Path]:
    """The evidence files of a folder (a ``*.truth.json`` / capture ``NAME.json`` is ground truth, not
    evidence)."""
    return sorted(p for p in files if p.is_file() and not p.name.endswith("truth.json")
                  and not (p.parent.name == "capture" and p.suffix == ".json"))


def _analyze(name: str, *paths: Path) -> Run:
    """``rtcdiag analyze --json FILE...`` in the folder of the (first) file."""
    folder = paths[0].parent
    return Run(name, (*ANALYZE, *(str(p.relative_to(folder)) for p in paths)), folder)


def _call_name(path: Path) -> str:
    """``NAME.kind.ext`` -> NAME (the call a file of a flat fixture folder belongs to)."""
    return path.name.split(".", 1)[0]


def analyze_runs() -> Iterator[Run]:
    folder = FIXTURES / "analyze"
    files = _evidence(list(folder.iterdir()))
    for path in files:
        yield _analyze(path.name, path)
    for offer in folder.glob("*.offer.sdp"):  # an offer with its answer
        yield _analyze(f"{_call_name(offer)}.offer+answer.sdp", offer,
                       offer.with_name(offer.name.replace(".offer.", ".answer.")))
    yield Run("summary", ("analyze", "--summary", ".", "--json"), folder)


def matrix_runs() -> Iterator[Run]:
    for cell in sorted(p for p in (FIXTURES / "matrix").iterdir() if p.is_dir()):
        files = _evidence(list(cell.iterdir()))
        for path in files:
            yield _analyze(f"{cell.name}/{path.name}", path)
        yield _analyze(f"{cell.name}/all", *files)


def _calls(folder: Path) -> dict[str, list[Path]]:
    calls: dict[str, list[Path]] = {}
    for path in _evidence(list(folder.iterdir())):
        calls.setdefault(_call_name(path), []).append(path)
    return calls


def per_call_runs(folder: Path) -> Iterator[Run]:
    """Each file alone, and every file of one call together (when there are several)."""
    for call, files in sorted(_calls(folder).items()):
        for path in files:
            yield _analyze(path.name, path)
        if len(files) > 1:
            yield _analyze(f"{call}/all", *files)


def firefox_runs() -> Iterator[Run]:
    yield from per_call_runs(FIXTURES / "firefox")
    for report in sorted((FIXTURES / "firefox").glob("*.report.json.gz")):  # the report with its ICE log
        log = report.with_name(report.name.replace(".report.json.gz", ".ice-log.txt.gz"))
        if log.exists():
            yield _analyze(f"{_call_name(report)}/report+log", report, log)


def _lint_version(path: Path) -> tuple[str, ...]:
    """The coturn version a lint fixture is for: its header (rules/), else by name; never the local binary's
    (``turnserver --version`` differs between machines)."""
    header = re.search(r"rtcdiag-lint-test: version=(\S+)", path.read_text())
    version = header.group(1) if header else ("4.17.1" if "4.17" in path.name else "4.6.1")
    return () if version == "none" else ("--coturn-version", version)


def lint_runs() -> Iterator[Run]:
    folder = FIXTURES / "lint"
    for path in sorted([*folder.glob("*.conf"), *(folder / "rules").glob("*.conf")]):
        name = str(path.relative_to(folder))
        yield Run(name, ("lint", "--json", *_lint_version(path), name), folder)
    for path in sorted(folder.glob("*.json")):
        yield Run(path.name, ("lint", "--json", path.name), folder)
    for name in ("ice-servers.json", "rtcdiag.toml"):
        yield Run(f"examples/{name}", ("lint", "--json", name), EXAMPLES)
    # the config names its secrets' variables; lint reads the config, so it wants them set (exit 2 above)
    yield Run("examples/rtcdiag.toml+secrets", ("lint", "--json", "rtcdiag.toml"), EXAMPLES,
              (("TURN_PASSWORD", "example-pw"), ("TURN_REST_SECRET", "example-secret")))


def budget_runs() -> Iterator[Run]:
    conf = ("--conf", "budget/turnserver.conf", "--fd-limit", "4096")
    yield Run("p2p-4", ("budget", "--json", "--topology", "p2p", "--participants", "4"))
    yield Run("sfu-simulcast-conf", ("budget", "--json", "--topology", "sfu", "--participants", "8",
                                     "--rooms", "50", "--video-kbps", "150,500,1500", "--receive-layer", "2",
                                     "--relay-ratio", "0.2", "--minutes-per-month", "100000",
                                     "--price-per-gb", "0.05", *conf), FIXTURES)
    yield Run("mcu-svc-shared-user", ("budget", "--json", "--topology", "mcu", "--participants", "12",
                                      "--layering", "svc", "--video-kbps", "300,900", "--shared-user",
                                      "--tcp-allocations", "0.1", *conf), FIXTURES)
    yield Run("sfu-from-summary", ("budget", "--json", "--topology", "sfu", "--participants", "6",
                                   "--from-summary", "analyze"), FIXTURES)
    yield Run("p2p-from-coturn-log", ("budget", "--json", "--topology", "p2p", "--participants", "2",
                                      "--from-coturn-log", "capture/hangup.log.gz",
                                      "--minutes-per-month", "6000"), FIXTURES)
    yield Run("bad-participants", ("budget", "--json", "--topology", "sfu", "--participants", "1000"))


def explain_runs() -> Iterator[Run]:
    yield Run("catalogue", ("explain", "--json"))


RUNS = {"analyze": analyze_runs, "matrix": matrix_runs,
        "capture": lambda: per_call_runs(FIXTURES / "capture"),
        "correlate": lambda: per_call_runs(FIXTURES / "correlate"), "firefox": firefox_runs,
        "lint": lint_runs, "budget": budget_runs, "explain": explain_runs}


@pytest.mark.parametrize("group", GROUPS)
def test_reports_are_the_golden_ones(group: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    norm = Normaliser()
    recorded: dict[str, Recorded] = {}
    for run in RUNS[group]():
        assert run.name not in recorded, f"two runs named {run.name}"
        with monkeypatch.context() as env:
            env.delenv("RTCDIAG_TURN_PASSWORD", raising=False)
            env.setenv("COLUMNS", "120")
            env.chdir(run.cwd)
            for variable, value in run.env:
                env.setenv(variable, value)
            if run.args[0] == "lint" and "--coturn-version" not in run.args:
                env.setenv("PATH", str(tmp_path))  # no turnserver binary: the version is unknown everywhere
            code, out, err = run_in_process(run.args)
        recorded[run.name] = record(list(run.args), code, out, err, norm, live=False)
    assert recorded
    compare(group, recorded, results_union=True)


def test_a_changed_report_fails_with_a_readable_diff(tmp_path: Path) -> None:
    """The comparison itself: a finding whose severity changed, a key gone from the JSON and a run no longer
    made are each named, with the old and the new line."""
    norm = Normaliser()
    finding = {"id": "X-ONE", "severity": "error", "subject": "s", "check": "c", "step": "t",
               "params": {"a": "1"}}
    report = {"status": "fail", "verdict": "FAIL", "findings": [finding], "checks": [], "tables": [],
              "root_causes": [], "results": {"n": 1}}
    stdout = json.dumps(report)
    before = {"one": record(["analyze"], 1, stdout, "", norm, live=False),
              "two": record(["analyze"], 1, stdout, "", norm, live=False)}
    compare("g", before, results_union=True, directory=tmp_path, update=True)
    compare("g", before, results_union=True, directory=tmp_path, update=False)  # the same: no difference
    report["findings"][0]["severity"] = "warning"
    del report["verdict"]
    after = {"one": record(["analyze"], 1, json.dumps(report), "", norm, live=False)}
    with pytest.raises(AssertionError) as failed:
        compare("g", after, results_union=True, directory=tmp_path, update=False)
    message = str(failed.value)
    assert "-finding error X-ONE subject='s'" in message and "+finding warning X-ONE subject='s'" in message
    assert "params={\"a\": \"1\"}" in message
    assert "-  .verdict: str" in message  # the structure, expanded in the diff
    assert "two: in the golden file but not run" in message


def test_a_skipped_live_finding_leaves_the_report_it_would_have_been() -> None:
    """A load-dependent warning left out of a live view takes its root, its row's warn and the report's
    warn with it, and nothing else."""
    loss = {"id": "TURN-DATA-LOSS", "ref": "L@s", "severity": "warning"}
    other = {"id": "TURN-RELAY-LOCAL", "ref": "R@s", "severity": "info"}
    report = {"status": "warn", "findings": [loss, other],
              "root_causes": [{"ref": "L@s", "id": "TURN-DATA-LOSS", "severity": "warning", "explains": []}],
              "checks": [{"name": "data", "status": "warn", "finding_ids": ["TURN-DATA-LOSS"],
                          "finding_refs": ["L@s"]},
                         {"name": "relay", "status": "pass", "finding_ids": ["TURN-RELAY-LOCAL"],
                          "finding_refs": ["R@s"]}]}
    kept = without_findings(report, {"TURN-DATA-LOSS"})
    assert kept["status"] == "pass" and kept["root_causes"] == [] and kept["findings"] == [other]
    assert [(c["name"], c["status"], c["finding_ids"]) for c in kept["checks"]] == [
        ("data", "pass", []), ("relay", "pass", ["TURN-RELAY-LOCAL"])]
    warned = {**report, "root_causes": [*report["root_causes"], {"ref": "W@s", "severity": "warning"}]}
    assert without_findings(warned, {"TURN-DATA-LOSS"})["status"] == "warn"  # another warning stays one
    assert without_findings(report, {"STUN-HIGH-RTT"}) is report

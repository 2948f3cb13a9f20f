"""One diagnosis over several servers, on real coturns: a matrix of multi-server configurations (TOML
``[[servers]]``, ``--ice-servers`` RTCIceServer entries, ``turn-check`` with several URLs of a JSON file),
several entries per host, healthy and broken side by side, on 127.0.0.1-4 and ::1.

The root causes each configuration must give are written down in ``tests/multi_servers.py`` (``CELLS``)
before the run, and asserted exactly (the set of root ids, each with its server entry, port and transport);
no finding may be folded under a cause of another server entry, or of another port of its entry (except the
same server-wide cause, e.g. one wrong password over UDP and TCP). The cells run concurrently and share the
coturns (one lab for the module).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds multi_servers.py (no package)
from multi_servers import CELLS, ICE, TOML, TURN_CHECK, Cell, Outcome, lab, run_all


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[tuple[str, str], Outcome]]:
    with lab() as running:
        done = run_all(running)
        yield {(o.cell.form, o.cell.name): o for o in done}


def _id(cell: Cell) -> str:
    return f"{cell.form.replace(' ', '')}:{cell.name}"


def test_the_matrix_covers_both_forms_several_hosts_and_healthy_cells() -> None:
    forms = {cell.form for cell in CELLS}
    assert len(CELLS) >= 12 and forms == {TOML, ICE, TURN_CHECK}
    assert any(not cell.roots for cell in CELLS if cell.form == TOML)
    assert any(not cell.roots for cell in CELLS if cell.form == ICE)
    assert max(len(cell.entries) for cell in CELLS) >= 13


@pytest.mark.parametrize("cell", CELLS, ids=_id)
def test_the_roots_are_exactly_the_expected_ones(cell: Cell,
                                                 outcomes: dict[tuple[str, str], Outcome]) -> None:
    outcome = outcomes[(cell.form, cell.name)]
    assert {str(r) for r in outcome.roots} == {str(r) for r in cell.roots}, outcome.output[-4000:]
    assert outcome.exit_code == cell.exit_code, outcome.output[-4000:]
    # The verdict's own roots, as the JSON lists them: one per expected root (nothing merged away).
    assert len(outcome.report["root_causes"]) == len(cell.roots)


@pytest.mark.parametrize("cell", CELLS, ids=_id)
def test_nothing_is_folded_under_another_servers_cause(cell: Cell,
                                                       outcomes: dict[tuple[str, str], Outcome]) -> None:
    """Every folding follows the causal chain: the root is of the same server entry and host; a root
    about a port explains nothing about another port (only the same server-wide finding seen again)."""
    outcome = outcomes[(cell.form, cell.name)]
    by_ref = {f["ref"]: f for f in outcome.report["findings"]}
    for finding in outcome.report["findings"]:
        root = by_ref.get(finding.get("explained_by") or "")
        if root is None:
            continue
        pair = f"{finding['ref']} under {root['ref']}"
        assert (root["entry"], root["host"]) == (finding["entry"], finding["host"]), pair
        if root["port"] is not None and finding["port"] is not None and root["id"] != finding["id"]:
            assert root["port"] == finding["port"], pair
    assert all(f.entry == r.entry for f, r in outcome.folded)


@pytest.mark.parametrize("cell", CELLS, ids=_id)
def test_no_secret_in_any_output(cell: Cell, outcomes: dict[tuple[str, str], Outcome]) -> None:
    outcome = outcomes[(cell.form, cell.name)]
    assert len(outcome.secrets) <= sum(e.password is not None for e in cell.entries)
    for secret in outcome.secrets:
        assert secret not in outcome.output and secret not in outcome.junit


def _outcome(outcomes: dict[tuple[str, str], Outcome], form: str, name: str) -> Outcome:
    return outcomes[(form, name)]


def _findings(outcome: Outcome, finding_id: str) -> list[dict[str, Any]]:
    return [f for f in outcome.report["findings"] if f["id"] == finding_id]


def test_expect_relay_counts_the_relays_that_failed_and_folds_under_its_own_refused_port(
        outcomes: dict[tuple[str, str], Outcome]) -> None:
    outcome = _outcome(outcomes, TOML, "expect_relay: one relay works, one refused")
    (expect,) = _findings(outcome, "EXPECT-RELAY")
    assert "got none" not in expect["title"]
    assert expect["title"].startswith("Expected every relay through 127.0.0.1 (mixed) to carry data: ")
    works = [line for line in expect["evidence"] if line.startswith("works: ")]
    failed = [line for line in expect["evidence"] if line.startswith("FAILED: ")]
    assert works and failed and f"{len(failed)} of {len(works) + len(failed)} did not" in expect["title"]
    assert any("echoed" in line for line in works)  # the UDP relay carried data: the title must not deny it
    root = next(f for f in outcome.report["findings"] if f["ref"] == expect["explained_by"])
    assert (root["id"], root["entry"], root["transport"]) == ("SERVER-REFUSED", "127.0.0.1 (mixed)", "tcp")


def test_expect_relay_folds_under_its_own_401_not_another_entrys_refused_tls(
        outcomes: dict[tuple[str, str], Outcome]) -> None:
    outcome = _outcome(outcomes, TOML, "expect_relay: own 401 beside another's refused TLS port")
    (expect,) = _findings(outcome, "EXPECT-RELAY")
    assert expect["explained_by"].startswith("TURN-AUTH-401@") and expect["entry"] == "127.0.0.2 (relay401)"


def test_junit_explained_by_names_whose_cause_it_is(outcomes: dict[tuple[str, str], Outcome]) -> None:
    """Every failing testcase folded under a root names that root's server entry (and it is the
    testcase's own entry): "Explained by: SERVER-REFUSED (ports:127.0.0.1 (dead) over TCP, port N)"."""
    import xml.etree.ElementTree as ET

    outcome = _outcome(outcomes, TOML, "same host: refused, two 401s, healthy")
    seen = 0
    for case in ET.fromstring(outcome.junit.encode()).iter("testcase"):
        failure = case.find("failure")
        suite = case.get("classname") or ""
        for line in (failure.text or "").splitlines() if failure is not None else []:
            if line.startswith("Explained by: "):
                seen += 1
                entry = suite[suite.rindex(" ("):]  # e.g. " (dead)"
                assert f"{entry} over " in line, (suite, line)
    assert seen >= 2


def test_two_wrong_passwords_on_one_host_are_two_causes_with_their_realms(
        outcomes: dict[tuple[str, str], Outcome]) -> None:
    outcome = _outcome(outcomes, TOML, "same host: refused, two 401s, healthy")
    roots = [f for f in _findings(outcome, "TURN-AUTH-401") if f["explained_by"] is None]
    assert {f["entry"] for f in roots} == {"127.0.0.1 (badpw)", "127.0.0.1 (badrealm)"}
    realms = " ".join(" ".join(f["evidence"]) + f["symptom"] for f in roots)
    assert "elsewhere.test" in realms  # the entry's own realm is part of its cause


def test_udp_blocked_only_within_the_port_family(outcomes: dict[tuple[str, str], Outcome]) -> None:
    """TCP on the same port answered: UDP-BLOCKED. TCP answered on another port (same host, same or another
    entry): the silent UDP port is SERVER-UNREACHABLE, never UDP-BLOCKED."""
    for form, name in ((TOML, "UDP silent: same port over TCP answers / another port"),
                       (ICE, "UDP silent: TCP answers in another entry")):
        outcome = _outcome(outcomes, form, name)
        blocked = {f["port"] for f in _findings(outcome, "UDP-BLOCKED")}
        silent = {f["port"] for f in _findings(outcome, "SERVER-UNREACHABLE") if f["transport"] == "udp"}
        assert silent and not blocked & silent, (form, blocked, silent)


def test_findings_carry_their_server_entry(outcomes: dict[tuple[str, str], Outcome]) -> None:
    outcome = _outcome(outcomes, ICE, "13 servers on 5 hosts")
    checks = ("ports", "stun", "turn", "ice")
    entries = {f["entry"] for f in outcome.report["findings"] if f["check"] in checks}
    assert "127.0.0.1 (iceServers[1])" in entries and None not in entries


def test_the_server_table_has_one_row_per_entry_and_transport(
        outcomes: dict[tuple[str, str], Outcome]) -> None:
    """Four entries on 127.0.0.1: four servers in the table, each row only its own entry's results."""
    outcome = _outcome(outcomes, TOML, "same host: refused, two 401s, healthy")
    table = next(t for t in outcome.report["tables"] if t["title"] == "Servers by transport")
    rows = {(row[0], row[1]): dict(zip(table["columns"], row, strict=True)) for row in table["rows"]}
    assert {label for label, _ in rows} == {"127.0.0.1 (good)", "127.0.0.1 (dead)", "127.0.0.1 (badpw)",
                                            "127.0.0.1 (badrealm)"}
    assert rows[("127.0.0.1 (good)", "udp")]["turn"].startswith("relay ")
    assert rows[("127.0.0.1 (badpw)", "udp")]["turn"].startswith("401")
    assert rows[("127.0.0.1 (dead)", "tcp")]["port"].endswith(" closed")  # RST: nothing listens

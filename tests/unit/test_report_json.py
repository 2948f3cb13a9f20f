"""JSON report: schema rtcdiag/1, validated against the JSON Schema file shipped in the package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from test_report_samples import SERVER, sample_report

from rtcdiag import __version__
from rtcdiag.report import json_report
from rtcdiag.report.model import Report

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")


def _validator() -> Any:
    schema = json_report.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_file_is_package_data() -> None:
    path = resources.files("rtcdiag").joinpath("schema", "report.schema.json")
    assert path.is_file()
    assert json.loads(path.read_text(encoding="utf-8"))["properties"]["schema"] == {"const": "rtcdiag/1"}


def test_sample_report_validates_and_carries_the_verdict() -> None:
    data = json.loads(json_report.render(sample_report()))
    errors = sorted(_validator().iter_errors(data), key=str)
    assert errors == []
    assert data["schema"] == "rtcdiag/1"
    assert data["version"] == __version__
    assert (data["command"], data["status"], data["exit_code"]) == ("stun", "fail", 1)
    assert data["verdict"].startswith("FAIL: ")
    assert data["timing"]["duration_s"] == 1.234
    assert data["timing"]["started_at"].endswith("+00:00")


def test_findings_sorted_by_severity_with_all_fields() -> None:
    data = json.loads(json_report.render(sample_report()))
    assert [f["severity"] for f in data["findings"]] == ["error", "error", "warning", "info"]
    blocked = next(f for f in data["findings"] if f["id"] == "UDP-BLOCKED")
    assert (blocked["subject"], blocked["transport"], blocked["check"], blocked["step"]) == (
        SERVER, "udp", "stun", "binding")
    assert blocked["explained_by"] is None and blocked["ref"] in [r["ref"] for r in data["root_causes"]]
    assert blocked["evidence"][0] == "udp binding: Binding request -> timeout after 7 attempt(s)"
    assert "turns:443" in blocked["fix"]


def test_checks_tables_and_results() -> None:
    data = json.loads(json_report.render(sample_report()))
    assert [c["status"] for c in data["checks"]] == ["fail", "warn", "skip", "inconclusive", "fail"]
    assert data["checks"][0]["finding_ids"] == ["UDP-BLOCKED"]
    assert data["checks"][1]["finding_ids"] == ["STUN-NO-FINGERPRINT", "STUN-INTERNAL-ADDRESS-LEAK"]
    assert data["tables"][0]["columns"][2] == "mapped address"
    # Results go through rtcdiag.jsonable: dataclasses -> objects, bytes -> hex.
    assert data["results"] == [{"server": SERVER, "raw": "01010000", "rtts_ms": [12.3]}]


def test_empty_and_inconclusive_reports_validate() -> None:
    validator = _validator()
    empty = json.loads(json_report.render(Report(command="explain")))
    assert list(validator.iter_errors(empty)) == []
    assert (empty["status"], empty["exit_code"], empty["results"]) == ("pass", 0, None)
    report = Report(command="nat-type", inconclusive=True)
    data = json.loads(json_report.render(report))
    assert list(validator.iter_errors(data)) == []
    assert (data["status"], data["exit_code"]) == ("inconclusive", 3)
    assert data["verdict"].startswith("INCONCLUSIVE: ")


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(schema="rtcdiag/2"), "schema"),
        (lambda d: d.pop("findings"), ""),
        (lambda d: d["findings"][0].update(severity="fatal"), "findings/0/severity"),
        (lambda d: d["findings"][0].pop("fix"), "findings/0"),
        (lambda d: d["checks"][0].update(status="ok"), "checks/0/status"),
        (lambda d: d["tables"][0]["rows"][0].append(3), "tables/0/rows/0/8"),
        (lambda d: d.update(extra=True), ""),
    ],
)
def test_schema_rejects_drift(mutate: Any, path: str) -> None:
    data = json.loads(json_report.render(sample_report()))
    mutate(data)
    errors = list(_validator().iter_errors(data))
    assert errors, "the schema must reject this document"
    assert any("/".join(str(p) for p in e.absolute_path) == path for e in errors)


def test_non_ascii_is_kept_readable() -> None:
    report = Report(command="stun", notes=["Zürich relay — ok"])
    text = json_report.render(report)
    assert "Zürich relay — ok" in text


def test_no_raw_control_or_format_character_in_json() -> None:
    raw = "soft\x1b[2J\x9b31m\u202eware\x7f"
    report = Report(command="stun", results={"software": raw}, notes=["ok"])
    text = json_report.render(report)
    assert not any(ch in text for ch in "\x1b\x9b\u202e\x7f")
    assert json.loads(text)["results"]["software"] == raw  # escaped, not lost


def test_explained_findings_name_their_root_cause() -> None:
    from rtcdiag.report.build import build_report
    from rtcdiag.triage.finding import Subject, make_finding
    from rtcdiag.triage.judgement import Judgement

    udp = Subject("turn:10.9.9.9:3478", "10.9.9.9", 3478, "udp")
    down = make_finding("SERVER-UNREACHABLE", udp, check="stun", step="binding", server="10.9.9.9:3478",
                        transport="UDP", host="10.9.9.9", detail="7 tries")
    again = make_finding("SERVER-UNREACHABLE", udp, check="turn", step="challenge", server="10.9.9.9:3478",
                         transport="UDP", host="10.9.9.9", detail="7 tries")
    data = json.loads(json_report.render(build_report("check", Judgement(findings=[again, down]))))
    assert list(_validator().iter_errors(data)) == []
    assert [r["ref"] for r in data["root_causes"]] == [down.ref]
    assert data["root_causes"][0]["explains"] == [again.ref]
    by_ref = {f["ref"]: f for f in data["findings"]}
    assert by_ref[again.ref]["explained_by"] == down.ref and by_ref[down.ref]["explained_by"] is None


def _json_values() -> Any:
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=30)


def test_dumps_writes_the_same_text_as_json_dumps_with_indent() -> None:
    """The fast encoder is byte for byte json.dumps(indent=2, ensure_ascii=False), NaN and tuples included."""
    from hypothesis import given, settings

    @settings(max_examples=300, deadline=None)
    @given(_json_values())
    def same(value: Any) -> None:
        assert json_report.dumps(value) == json.dumps(value, indent=2, ensure_ascii=False)

    same()
    odd = {"t": (1, (2.5, float("nan"))), 7: True, 2.5: None, None: "x", False: [], "e": {},
           "inf": -float("inf")}
    assert json_report.dumps(odd) == json.dumps(odd, indent=2, ensure_ascii=False)


def test_results_that_are_not_json_data_are_converted_not_lost() -> None:
    """A report built by hand with raw results (dataclasses, enums, bytes) still renders, as to_jsonable
    would have made them."""
    from dataclasses import dataclass
    from enum import StrEnum

    from rtcdiag.jsonable import to_jsonable

    class Kind(StrEnum):
        A = "a"

    @dataclass
    class Raw:
        kind: Kind
        blob: bytes

    raw = [Raw(Kind.A, b"\x01\x02")]
    report = Report(command="stun", results=raw)
    expected = [{"kind": "a", "blob": "0102"}]
    assert json.loads(json_report.render(report))["results"] == to_jsonable(raw) == expected

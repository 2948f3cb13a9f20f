"""JSON report (``"schema": "rtcdiag/1"``), described by the shipped ``rtcdiag/schema/report.schema.json``.

The report model is already masked for secrets and its finding texts made printable; JSON escapes C0
controls itself, and every other control or format character (DEL, C1 controls, bidi overrides) is written
as a ``\\uXXXX`` escape, so no raw control character is ever in the output while other text stays readable.
Root causes are listed first (``root_causes``, most severe first); every finding carries its ``ref`` and,
when a root cause explains it, ``explained_by``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from json.encoder import encode_basestring  # the C implementation when available
from typing import Any

from rtcdiag import __version__
from rtcdiag.jsonable import to_jsonable
from rtcdiag.report.model import SCHEMA, CheckCase, Report, Table
from rtcdiag.triage.finding import Finding

SCHEMA_FILE = "report.schema.json"
# Characters json.dumps(ensure_ascii=False) leaves raw that a terminal acts on (they occur only in strings).
_UNSAFE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def finding_data(f: Finding) -> dict[str, Any]:
    s = f.subject
    return {"id": f.id, "ref": f.ref, "severity": f.severity.value, "title": f.title,
            "subject": s.server, "host": s.host, "port": s.port, "transport": s.transport, "entry": s.entry,
            "check": f.check, "step": f.step, "symptom": f.symptom, "cause": f.cause, "fix": f.fix,
            "evidence": list(f.evidence), "snippet": list(f.snippet), "params": dict(f.params),
            "explained_by": f.explained_by}


def _case_data(c: CheckCase) -> dict[str, Any]:
    return {"suite": c.suite, "name": c.name, "status": c.status.value, "message": c.message,
            "duration_s": round(c.duration_s, 6), "finding_ids": c.finding_ids,
            "finding_refs": [f.ref for f in c.findings]}


def _table_data(table: Table) -> dict[str, Any]:
    data: dict[str, Any] = {"title": table.title, "columns": list(table.columns),
                            "rows": [list(r) for r in table.rows]}
    if table.cut_note is not None:
        data["total"] = table.total
    return data


def status(report: Report) -> str:
    """``pass`` / ``warn`` / ``fail`` / ``inconclusive`` / ``error``: the verdict as one word."""
    return report.status


def to_data(report: Report) -> dict[str, Any]:
    """The report as plain JSON-able data."""
    data = {
        "schema": SCHEMA,
        "version": __version__,
        "command": report.command,
        "status": report.status,
        "verdict": report.verdict,
        "exit_code": report.exit_code,
        "root_causes": [{"ref": r.ref, "id": r.id, "severity": r.severity.value, "title": r.title,
                         "explains": [f.ref for f in report.explained(r)]} for r in report.roots],
        "findings": [finding_data(f) for f in report.sorted_findings()],
        "checks": [_case_data(c) for c in report.checks],
        "tables": [_table_data(t) for t in report.tables],
        "results": report.results_data(),  # plain JSON data, masked (build_report)
        "notes": [*report.notes, *report.detail_notes],
        "timing": {
            "started_at": datetime.fromtimestamp(report.started_at, UTC).isoformat(timespec="milliseconds"),
            "duration_s": round(report.duration_s, 6),
        },
    }
    if report.summary is not None:
        data["summary"] = _table_data(report.summary)
    stopped = report.interrupted
    if stopped is not None and stopped.deadline_s is not None:  # --deadline ran out: what had finished
        data["deadline"] = {"deadline_s": stopped.deadline_s, "unfinished": list(stopped.unfinished),
                            "cut_allocations": stopped.cut_allocations, "unreleased": stopped.unreleased}
    elif stopped is not None:  # what had finished is all the report holds
        data["interrupted"] = {"signal": stopped.name, "exit_code": stopped.exit_code,
                               "after_s": round(max(stopped.at - report.started_at, 0.0), 3),
                               "unfinished": list(stopped.unfinished),
                               "cut_allocations": stopped.cut_allocations, "unreleased": stopped.unreleased}
    return data


def render(report: Report) -> str:
    """The report as indented JSON text (UTF-8; control and format characters escaped)."""
    text = dumps(to_data(report))
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps(value: Any) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False)``, same text, several times faster.

    (The standard library's C encoder is only used without ``indent``; its pure-Python fallback made the
    JSON of a 60-URL ``check`` cost more than its probes.) A value JSON cannot hold is first made JSON data
    with :func:`~rtcdiag.jsonable.to_jsonable`, as the raw results always were.
    """
    return _encode(value, "\n")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


_INFINITY = float("inf")


def _key(key: Any) -> str:
    """A dictionary key as json.dumps writes it."""
    if isinstance(key, str):
        return encode_basestring(key)
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return encode_basestring(int.__repr__(key))
    if isinstance(key, float):
        return encode_basestring(_float(key))
    return encode_basestring(str(key))


def _encode(value: Any, newline: str) -> str:
    """``value`` as indented JSON; ``newline`` is the line break plus the indentation of its own line."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        return "{" + inner + ("," + inner).join(
            [(encode_basestring(k) if type(k) is str else _key(k)) + ": " + _encode(v, inner)
             for k, v in value.items()]) + newline + "}"
    if kind is list:
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join([_encode(v, inner) for v in value]) + newline + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float(value)
    # Subclasses (str and int enums), tuples, and values JSON cannot hold.
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return _encode(dict(value), newline)
    if isinstance(value, list | tuple):
        return _encode(list(value), newline)
    return _encode(to_jsonable(value), newline)


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`render`'s output, as shipped in the package."""
    from importlib import resources  # (only here: the other commands never load it)

    text = resources.files("rtcdiag").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema

"""JSON report (``"schema": "rtcdiag/1"``), described by the shipped ``rtcdiag/schema/report.schema.json``.

Every string (keys included) passes through :func:`rtcdiag.redact.redact` before encoding, so a secret is
masked even where JSON escaping would change its spelling, and the final text is redacted once more.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from rtcdiag import __version__
from rtcdiag.jsonable import to_jsonable
from rtcdiag.redact import redact
from rtcdiag.report.model import SCHEMA, Report
from rtcdiag.triage.finding import Severity

SCHEMA_FILE = "report.schema.json"


def redacted(value: Any) -> Any:
    """``value`` (JSON-able data) with every string, key included, passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    return value


def status(report: Report) -> str:
    """``pass`` / ``warn`` / ``fail`` / ``inconclusive``: the verdict as one machine-readable word."""
    if report.exit_code == 1:
        return "fail"
    if report.inconclusive:
        return "inconclusive"
    if any(f.severity is Severity.WARNING for f in report.findings):
        return "warn"
    return "pass"


def to_data(report: Report) -> dict[str, Any]:
    """The report as plain JSON-able data (already redacted)."""
    data = {
        "schema": SCHEMA,
        "version": __version__,
        "command": report.command,
        "status": status(report),
        "verdict": report.verdict,
        "exit_code": report.exit_code,
        "findings": [
            {"id": f.id, "severity": f.severity.value, "title": f.title, "subject": f.subject,
             "symptom": f.symptom, "cause": f.cause, "fix": f.fix, "evidence": list(f.evidence)}
            for f in report.sorted_findings()
        ],
        "checks": [
            {"suite": c.suite, "name": c.name, "status": c.status.value, "message": c.message,
             "duration_s": round(c.duration_s, 6), "finding_ids": list(c.finding_ids)}
            for c in report.checks
        ],
        "tables": [{"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows]}
                   for t in report.tables],
        "results": to_jsonable(report.results),
        "notes": list(report.notes),
        "timing": {
            "started_at": datetime.fromtimestamp(report.started_at, UTC).isoformat(timespec="milliseconds"),
            "duration_s": round(report.duration_s, 6),
        },
    }
    result: dict[str, Any] = redacted(to_jsonable(data))
    return result


def render(report: Report) -> str:
    """The report as indented JSON text (UTF-8, not ASCII-escaped), secrets redacted."""
    return redact(json.dumps(to_data(report), indent=2, ensure_ascii=False))


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`render`'s output, as shipped in the package."""
    text = resources.files("rtcdiag").joinpath("schema", SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema

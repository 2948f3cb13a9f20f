"""Findings and catalogue entries.

A catalogue entry is the stable, documented knowledge (``rtcdiag explain ID``); a finding is one entry
applied to one subject (server, transport) with the evidence that triggered it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


@dataclass(frozen=True)
class CatalogueEntry:
    """Known symptom -> cause -> fix. Text may hold ``{placeholders}`` filled per finding."""

    id: str
    severity: Severity
    title: str
    symptom: str
    cause: str
    fix: str
    # Where the rule comes from (RFC section, peer issue), shown by ``rtcdiag explain``.
    reference: str = ""


@dataclass
class Finding:
    id: str
    severity: Severity
    title: str
    symptom: str
    cause: str
    fix: str
    subject: str = ""  # e.g. "turn:127.0.0.1:3478?transport=udp"
    evidence: list[str] = field(default_factory=list)


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fill(template: str, values: dict[str, object]) -> str:
    if not values:
        return template
    return string.Formatter().vformat(template, (), _Blank({k: str(v) for k, v in values.items()}))


def make_finding(
    finding_id: str,
    *,
    subject: str = "",
    evidence: list[str] | None = None,
    severity: Severity | None = None,
    **values: object,
) -> Finding:
    """Build a finding from the catalogue entry ``finding_id``; ``values`` fill ``{placeholders}``."""
    from rtcdiag.triage.catalogue import CATALOGUE

    entry = CATALOGUE[finding_id]
    return Finding(
        id=entry.id,
        severity=severity or entry.severity,
        title=_fill(entry.title, values),
        symptom=_fill(entry.symptom, values),
        cause=_fill(entry.cause, values),
        fix=_fill(entry.fix, values),
        subject=subject,
        evidence=list(evidence or []),
    )


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by id and subject, so output is stable."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.id, f.subject))

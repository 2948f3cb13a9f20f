"""Catalogue entries: turn."""

from rtcdiag.triage.finding import CatalogueEntry, Severity

ENTRIES: tuple[CatalogueEntry, ...] = ()

_ = Severity  # entries below use Severity

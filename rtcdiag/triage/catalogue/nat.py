"""Catalogue entries: nat."""

from rtcdiag.triage.finding import CatalogueEntry, Severity

ENTRIES: tuple[CatalogueEntry, ...] = ()

_ = Severity  # entries below use Severity

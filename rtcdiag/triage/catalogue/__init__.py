"""The catalogue of known symptom -> cause -> fix entries: one folder, one module per area, all data.

Each module defines ``ENTRIES: tuple[CatalogueEntry, ...]``. Ids are stable (they appear in JSON, JUnit and
in users' scripts): never rename one, add a new one instead.
"""

from __future__ import annotations

from importlib import import_module

from rtcdiag.triage.entry import CatalogueEntry

AREAS = ("general", "stun", "turn", "nat", "net", "ice", "analyze", "lint", "browser", "capture", "correlate",
         "capacity", "signal", "interop")


def _load() -> dict[str, CatalogueEntry]:
    catalogue: dict[str, CatalogueEntry] = {}
    for area in AREAS:
        module = import_module(f"rtcdiag.triage.catalogue.{area}")
        for entry in module.ENTRIES:
            if entry.id in catalogue:
                raise RuntimeError(f"duplicate catalogue id {entry.id}")
            catalogue[entry.id] = entry
    return catalogue


CATALOGUE: dict[str, CatalogueEntry] = _load()

"""``rtcdiag explain [ID]``: list the findings catalogue, or print one entry (symptom, cause, fix, reference).

Placeholders such as ``{server}`` are shown as ``<server>``: they are filled in when a finding is reported.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

from rtcdiag import exitcodes
from rtcdiag.errors import UsageError
from rtcdiag.triage.catalogue import AREAS
from rtcdiag.triage.finding import CatalogueEntry

_PLACEHOLDER = re.compile(r"\{(\w+?)(?:_sh)?\}")


def _entries_by_area() -> list[tuple[str, CatalogueEntry]]:
    from importlib import import_module

    return [(area, entry) for area in AREAS
            for entry in import_module(f"rtcdiag.triage.catalogue.{area}").ENTRIES]


def _readable(template: str) -> str:
    """Catalogue text with ``{server}`` shown as ``<server>``: filled in per finding."""
    return _PLACEHOLDER.sub(r"<\1>", template)


def _diagnosis(entry: CatalogueEntry) -> str:
    """Where the finding sits in a diagnosis: what it explains, or what explains it."""
    from rtcdiag.triage.diagnosis import meaning

    return meaning(entry.id)


def _entry_data(area: str, entry: CatalogueEntry) -> dict[str, str]:
    return {"id": entry.id, "area": area, "severity": entry.severity.value, "title": _readable(entry.title),
            "symptom": _readable(entry.symptom), "cause": _readable(entry.cause), "fix": _readable(entry.fix),
            "reference": entry.reference, "diagnosis": _diagnosis(entry)}


def find(entry_id: str) -> tuple[str, CatalogueEntry]:
    """The entry with ``entry_id`` (any case); a :class:`UsageError` naming close matches otherwise."""
    found = search(entry_id)
    if len(found) != 1 or found[0][1].id != entry_id.strip().upper():
        raise UsageError(_unknown(entry_id))
    return found[0]


def search(given: str) -> list[tuple[str, CatalogueEntry]]:
    """The entry whose id is ``given`` (any case), else every entry ``given`` names: a code (``701``,
    ``486``) or a word (``quota``, ``tls``) as a part of its id, or as a whole word of its title, symptom,
    cause or fix; id matches first, then title matches, then the rest. Nothing: :class:`UsageError` with
    the close ids."""
    entries = _entries_by_area()
    wanted = given.strip().upper()
    exact = [(area, entry) for area, entry in entries if entry.id == wanted]
    if exact or not wanted:
        return exact
    word = re.compile(rf"(?<![\w-]){re.escape(given.strip())}(?![\w-])", re.IGNORECASE)
    ranked: list[tuple[int, int, tuple[str, CatalogueEntry]]] = []
    for index, (area, entry) in enumerate(entries):
        parts = entry.id.split("-")
        if wanted in parts or entry.id.startswith(wanted + "-") or ("-" in wanted and wanted in entry.id):
            rank = 0
        elif word.search(entry.title):
            rank = 1
        elif any(word.search(text) for text in (entry.symptom, entry.cause, entry.fix)):
            rank = 2
        else:
            continue
        ranked.append((rank, index, (area, entry)))
    if not ranked:
        raise UsageError(_unknown(given))
    return [match for _, _, match in sorted(ranked)]


def _unknown(given: str) -> str:
    ids = [entry.id for _, entry in _entries_by_area()]
    wanted = given.strip().upper()
    close = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.5)
    close += [i for i in ids if wanted and i.startswith(wanted) and i not in close][: 5 - len(close)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"no finding id or word matches {given!r}{hint} (`rtcdiag explain` lists them all)"


def _print_list(entries: list[tuple[str, CatalogueEntry]], title: str = "rtcdiag findings catalogue") -> None:
    from rich.table import Table
    from rich.text import Text

    from rtcdiag.report.console import SEVERITY_STYLE, print_items

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("severity", no_wrap=True)
    table.add_column("title")
    for _, entry in entries:
        table.add_row(Text(entry.id), Text(entry.severity.value, style=SEVERITY_STYLE[entry.severity]),
                      Text(_readable(entry.title)))
    hint = Text("`rtcdiag explain ID` prints the symptom, cause, fix and reference of one entry.",
                style="dim")
    print_items([table, hint])


def _print_entry(area: str, entry: CatalogueEntry) -> None:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from rtcdiag.report.console import SEVERITY_STYLE, print_items

    header = Text()
    header.append(f"{entry.id} ", style="bold")
    header.append(entry.severity.value, style=SEVERITY_STYLE[entry.severity])
    header.append(f" ({area})", style="dim")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for label, value in (("Symptom", entry.symptom), ("Cause", entry.cause), ("Fix", entry.fix),
                         ("Reference", entry.reference), ("Diagnosis", _diagnosis(entry))):
        if value:
            grid.add_row(label, Text(_readable(value)))
    print_items([Group(header, Text(_readable(entry.title)), Text(), grid)])


def _complete_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion (``_RTCDIAG_COMPLETE``): the catalogue's ids that start with what was typed (any
    case), with their titles."""
    from click.shell_completion import CompletionItem

    wanted = incomplete.upper()
    return [CompletionItem(entry.id, help=_readable(entry.title)) for _, entry in _entries_by_area()
            if entry.id.startswith(wanted)]


@click.command(name="explain", epilog=exitcodes.epilog(
    "rtcdiag explain TURN-AUTH-401",
    "rtcdiag explain 701",
    "rtcdiag explain quota"))
@click.argument("finding_id", required=False, metavar="[ID|CODE|WORD]", shell_complete=_complete_id)
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def command(finding_id: str | None, as_json: bool) -> int:
    """List the findings catalogue, or explain one finding ID (case-insensitive), or the entries a CODE
    (701, 486) or a WORD (quota, certificate) names.

    Each entry says what you see (symptom), why (cause), what to do (fix) and where the rule comes from
    (reference). <server>, <detail> etc. are filled in when rtcdiag reports the finding.
    """
    chosen = search(finding_id) if finding_id is not None else _entries_by_area()
    if as_json:
        data = {"schema": "rtcdiag/1", "command": "explain",
                "entries": [_entry_data(area, entry) for area, entry in chosen]}
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif finding_id is None:
        _print_list(chosen)
    elif len(chosen) == 1:
        _print_entry(*chosen[0])
    else:
        _print_list(chosen, title=f"{len(chosen)} entries name {finding_id.strip()!r} (rtcdiag explain ID "
                                  "prints one)")
    return 0

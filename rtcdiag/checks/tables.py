"""``rtcdiag check``'s "Servers by transport" tables (full, and the console's one line per server x
transport), made of the cells each registered check gives from its typed result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rtcdiag.checks.engine import Ran
from rtcdiag.checks.registry import Cell, Entry, Labels, for_ran
from rtcdiag.report.model import Table
from rtcdiag.targets import TRANSPORTS

_COLUMNS = ["port", "stun", "turn", "data", "ice"]
_SHORT_ORDER = ("port", "result", "stun", "data", "ice")


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def _order(key: tuple[str, str]) -> tuple[str, int]:
    return key[0], TRANSPORTS.index(key[1]) if key[1] in TRANSPORTS else len(TRANSPORTS)


def _cells(ran: list[Ran[Any]], labels: Labels,
           pick: Callable[[Entry[Any, Any]], Callable[[Any, Labels], list[Cell]] | None]) -> list[Cell]:
    out: list[Cell] = []
    for each in ran:
        entry = for_ran(each.check)
        cells = pick(entry) if entry is not None else None
        if cells is None or each.result is None:  # a check that crashed or has no column
            continue
        # A check of one server entry: its own label (two entries on one host are two rows, never one).
        own = {each.subject.host: each.subject.server} if each.subject.entry is not None else labels
        out += cells(each.result, own)
    return out


def server_table(ran: list[Ran[Any]], labels: Labels) -> Table | None:
    """One row per server x transport: port, STUN, TURN, data path and ICE at a glance."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for label, transport, column, text in _cells(ran, labels, lambda entry: entry.cells):
        row = rows.setdefault((label, transport), {})
        row[column] = f"{row[column]}; {text}" if column in row else text
    if not rows:
        return None
    return Table(title="Servers by transport", columns=["server", "transport", *_COLUMNS],
                 rows=[[label, transport, *(rows[(label, transport)].get(c, "-") for c in _COLUMNS)]
                       for label, transport in sorted(rows, key=_order)])


def summary_table(ran: list[Ran[Any]], labels: Labels, nat_line: tuple[str, str] | None) -> Table | None:
    """The console's short view: one line per server x transport (what TURN gave, the data path's loss and
    RTT, ICE; STUN's mapped address where no TURN ran; a port only when it was not open), and the NAT."""
    rows: dict[tuple[str, str], dict[str, list[str]]] = {}
    for label, transport, column, text in _cells(ran, labels, lambda entry: entry.short_cells):
        rows.setdefault((label, transport), {}).setdefault(column, []).append(text)
    out: list[list[str]] = []
    for key in sorted(rows, key=_order):
        columns = rows[key]
        if "result" in columns:
            columns.pop("stun", None)  # the TURN outcome says more than the Binding
        texts = [text for column in _SHORT_ORDER for text in dict.fromkeys(columns.get(column, []))]
        out.append([key[0], key[1], ", ".join(texts)])
    if nat_line is not None:
        out.append([nat_line[0], "", nat_line[1]])
    if not out:
        return None
    return Table(title="Servers by transport", columns=["server", "transport", "result"], rows=out)

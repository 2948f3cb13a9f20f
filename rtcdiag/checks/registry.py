"""The check registry: one :class:`Entry` per check carries everything about it.

An entry holds the :class:`~rtcdiag.checks.engine.Check` (``run``: I/O only; ``judge``: pure), the type of
its result (what the JSON report's ``results`` hold), how ``rtcdiag check`` plans it from a config (once per
server entry, or once per config), the cells it adds to ``check``'s server tables, the tables it adds to
``check``'s report, and the metrics the exporter takes from its result. ``rtcdiag check``, ``selftest`` and
the exporter are filters of the registry (:func:`entries`); a single-purpose command runs its own entry.

Each check module defines ``ENTRIES``; :data:`MODULES` says where, so that a command loads only
the checks it runs (heavy probes stay unimported). Adding a check: a module in ``rtcdiag/checks/`` with its
``Check`` and ``ENTRIES``, a line in :data:`MODULES`, its catalogue entries (``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rtcdiag.checks.engine import Check, Job

if TYPE_CHECKING:
    from rtcdiag.checks.plan import ServerPlan
    from rtcdiag.config import CheckConfig
    from rtcdiag.report.model import Table
    from rtcdiag.timeouts import Timeouts
    from rtcdiag.triage.judgement import Facts, Judgement

P = TypeVar("P")
R = TypeVar("R")

Cell = tuple[str, str, str, str]  # server label, transport, column, text
Labels = dict[str, str]  # host -> the server label its rows go under


class Combine(Enum):
    """How two samples of one series (same name and labels) of one probe become one value."""

    LAST = "last"
    MAX = "max"
    MIN = "min"
    SUM = "sum"


@dataclass(frozen=True)
class Sample:
    """One metric value a check's result gives (the names and their labels: ``exporter.metrics.METRICS``)."""

    name: str
    value: float
    labels: tuple[object, ...] = ()
    combine: Combine = Combine.LAST


@dataclass(frozen=True)
class Planning:
    """What a check planned once per config sees: the config, its server plans, the run's options."""

    config: CheckConfig
    plans: list[ServerPlan]
    browser_path: str | None = None

    @property
    def timeouts(self) -> Timeouts:
        from rtcdiag.timeouts import Timeouts

        return Timeouts(self.config.timeout)


@dataclass(frozen=True)
class Entry(Generic[P, R]):
    """Everything about one check. Only ``check`` and ``result_type`` are required: a check without a
    planner runs from its own command only (``analyze``, ``lint``, ``budget``, ...)."""

    check: Check[P, R]
    result_type: Any  # the type ``check.run`` returns (tests/unit/test_registry.py checks they agree)
    # config -> plan, for ``rtcdiag check``: one job per server entry (None: not for this server) ...
    server_job: Callable[[ServerPlan, Timeouts], Job[P, R] | None] | None = None
    # ... or jobs planned once over the whole config (NAT of this network, signalling entries, a browser).
    config_jobs: Callable[[Planning], list[Job[P, R]]] | None = None
    # ``check``'s "Servers by transport" table (full) and its one-line summary (short).
    cells: Callable[[R, Labels], list[Cell]] | None = None
    short_cells: Callable[[R, Labels], list[Cell]] | None = None
    # Tables of this check in ``check``'s report (a subcommand may show more of its own).
    tables: Callable[[R], list[Table]] | None = None
    # Findings of a check over every server at once that belong to one server entry.
    assign_entries: Callable[[Judgement, list[ServerPlan]], None] | None = None
    # The exporter's metrics from the result (and the merged facts of the run).
    metrics: Callable[[R, Facts], list[Sample]] | None = None

    @property
    def name(self) -> str:
        return self.check.name


class Key(StrEnum):
    """The registry's keys: the checks' names."""

    DNS = "dns"
    PORTS = "ports"
    STUN = "stun"
    TURN = "turn"
    NAT = "nat"
    ICE = "ice"
    SIGNAL = "signal"
    BROWSER = "browser"
    INTEROP = "interop"
    ANALYZE = "analyze"
    LINT = "lint"
    BUDGET = "budget"
    LOAD = "load"


# registry key -> the module defining it (in the order ``rtcdiag check`` plans and reports them).
MODULES: dict[str, str] = {key.value: f"rtcdiag.checks.{key.value}" for key in Key}
# A check planned once per config that has nothing to do without this (non-empty) field of the config: its
# module (probes, rules) is then not even loaded.
NEEDS_CONFIG_FIELD: dict[str, str] = {Key.NAT.value: "nat_servers", Key.SIGNAL.value: "signalling"}


class UnknownCheck(KeyError):
    """A name the registry does not hold (a bug: config validation lists the names users may give)."""


def entry(key: str) -> Entry[Any, Any]:
    """The registered entry ``key`` (its module imported now, not before)."""
    module = MODULES.get(key)
    if module is None:
        raise UnknownCheck(key)
    for each in importlib.import_module(module).ENTRIES:
        if each.name == key:
            return each  # type: ignore[no-any-return]
    raise UnknownCheck(key)


def entries(keys: Iterable[str] | None = None) -> list[Entry[Any, Any]]:
    """The entries of ``keys`` in registry order (each once); every entry when ``keys`` is None."""
    wanted = set(MODULES if keys is None else keys)
    return [entry(key) for key in MODULES if key in wanted]


def has_input(config: object, key: str) -> bool:
    """Whether check ``key`` has something to check in ``config`` (see NEEDS_CONFIG_FIELD)."""
    needed = NEEDS_CONFIG_FIELD.get(key)
    return needed is None or bool(getattr(config, needed))


def for_ran(name: str) -> Entry[Any, Any] | None:
    """The entry of a job's check name, for its cells, tables and metrics (None: not a registered check)."""
    return entry(name) if name in MODULES else None

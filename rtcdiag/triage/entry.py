"""Catalogue entries: the stable, documented knowledge behind every finding (``rtcdiag explain ID``).

An entry carries its texts (symptom -> cause -> fix, with ``{placeholders}``) *and* its place in a diagnosis
(:mod:`rtcdiag.triage.diagnosis`): its :class:`Layer` on the causal chain of a call's path, the ids it
explains on its own layer, and whether it is one cause over a whole server entry, an observation never
folded under a failure, and so on. A new finding is one entry: nothing else lists ids.

This module is below both the catalogue (``rtcdiag.triage.catalogue``, data) and the findings
(``rtcdiag.triage.finding``), so that neither imports the other's module to define itself.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from functools import cache


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class CatalogueError(Exception):
    """A rule used an unknown finding id or left a placeholder unfilled (a bug in rtcdiag)."""


class Layer(IntEnum):
    """Where a finding sits on the causal chain of a call's path; a lower layer explains a higher one
    (:mod:`rtcdiag.triage.diagnosis` says within which scope)."""

    RUN = 0  # this machine (DNS does not work at all)
    NAME = 1  # a host name that does not resolve
    ENDPOINT = 2  # a port and transport of a server entry: refused, silent, no STUN, TLS failed
    SERVICE = 3  # the server answered but refused (auth, quota, ACL), or any finding about what it said
    CONSEQUENCE = 4  # ICE results and expectations: explain nothing


class AcrossFiles(Enum):
    """``rtcdiag analyze`` over several files of one call (rtcdiag.triage.correlate): what these explain
    is named by the correlation itself (``Facts.explained``), not by a layer."""

    FOLDS = "folds"  # a root cause only the files together show: folds what each file said on its own
    ABOUT = "about"  # says which files are one call; explains nothing


ROOTS_FIRST_DEFAULT = 3


@dataclass(frozen=True)
class CatalogueEntry:
    """Known symptom -> cause -> fix, and its place in a diagnosis. Text may hold ``{placeholders}``
    filled per finding."""

    id: str
    severity: Severity
    title: str
    symptom: str
    cause: str
    fix: str
    # Where the rule comes from (RFC section, peer issue), shown by ``rtcdiag explain``.
    reference: str = ""
    # -- its place in a diagnosis (rtcdiag.triage.diagnosis) --
    layer: Layer = field(kw_only=True)
    # Same-layer explanations: the ids this one explains about the same port of the same server entry
    # (any transport on it; with ``same_transport_only`` or on the SERVICE layer: the same transport).
    explains: frozenset[str] = field(default=frozenset(), kw_only=True)
    same_transport_only: bool = field(default=False, kw_only=True)
    # One cause over every port and transport of one server entry (a wrong password), stated once.
    server_wide: bool = field(default=False, kw_only=True)
    # Seen of an endpoint whatever else fails there (a certificate's dates): a failure of that endpoint
    # never explains it; it has its own fix.
    observation: bool = field(default=False, kw_only=True)
    # About a connection, not about one port or transport: a same-layer root of its entry on its host
    # explains it whatever port and transport that root is about.
    any_transport: bool = field(default=False, kw_only=True)
    # Within its layer, lower comes first among the roots (the findings that explain others).
    roots_first: int = field(default=ROOTS_FIRST_DEFAULT, kw_only=True)
    across_files: AcrossFiles | None = field(default=None, kw_only=True)

    @property
    def placeholders(self) -> frozenset[str]:
        """The parameters the texts need (``url`` for both ``{url}`` and ``{url_sh}``)."""
        return needed(_placeholders(self.title, self.symptom, self.cause, self.fix))


@cache
def _placeholders(*texts: str) -> frozenset[str]:
    formatter = string.Formatter()
    return frozenset(name for text in texts for _, name, _, _ in formatter.parse(text) if name)


SHELL_SUFFIX = "_sh"  # ``{url_sh}``: the parameter ``url`` quoted for a shell


def needed(placeholders: frozenset[str]) -> frozenset[str]:
    """The parameters ``placeholders`` need (``url`` for ``{url_sh}``)."""
    return frozenset(p.removesuffix(SHELL_SUFFIX) for p in placeholders)

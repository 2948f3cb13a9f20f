"""Findings: one catalogue entry (:mod:`rtcdiag.triage.entry`) applied to one :class:`Subject` by one check at
one step, with its parameters and the evidence that triggered it.

Parameters and evidence are rtcdiag's words around outside values (wire strings, user input) that the rule
marked with ``rtcdiag.redact.echo``: when the finding is made the marked values are masked for secrets
(``rtcdiag.redact.unmark``), so a secret never enters the report model, and everything is made printable
(``rtcdiag.textsafe.printable``), so no control character a server sent can reach any output. The
catalogue's prose and rtcdiag's own words (schemes, transports, check names) are never masked. A
placeholder the parameters do not fill is a bug caught when the finding is made (:class:`CatalogueError`),
never shown as a literal ``{name}``. ``{name_sh}`` is the parameter ``name`` quoted for a POSIX shell (and
zsh: ``'turn:h:3478?transport=udp'``), for the commands a fix suggests.

A finding's ``snippet`` is lines to paste as they are (config lines, commands), one a line: every renderer
shows them as a block of their own under the fix, never run together in prose.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from rtcdiag.redact import unmark
from rtcdiag.textsafe import printable

# The entry's vocabulary, re-exported: a rule needs Severity and the error beside make_finding.
from rtcdiag.triage.entry import SHELL_SUFFIX
from rtcdiag.triage.entry import CatalogueEntry as CatalogueEntry
from rtcdiag.triage.entry import CatalogueError as CatalogueError
from rtcdiag.triage.entry import Severity as Severity


class _Params(dict[str, str]):
    """Parameters, with ``{name_sh}`` filled as ``name`` quoted for a shell."""

    def __missing__(self, key: str) -> str:
        base = key.removesuffix(SHELL_SUFFIX)
        if base != key and base in self:
            return shlex.quote(self[base])
        raise KeyError(key)


MAX_EVIDENCE = 20  # lines kept per finding: a server cannot grow a finding without bound


@dataclass(frozen=True)
class Identity:
    """What a finding is about, as the diagnosis compares it: the causal chain runs host name -> server
    entry -> port -> transport, and an explanation never leaves it (rtcdiag.triage.diagnosis).

    ``entry`` is the server entry of the configuration (a ``[[servers]]`` table or RTCIceServer entry, as
    ``rtcdiag check`` labels it on one host; None: the run has no entries, e.g. one ``turn-check``);
    ``host`` the name or address as given; ``port`` and ``transport`` None when not narrowed to one.
    """

    entry: str | None
    host: str
    port: int | None = None
    transport: str | None = None  # "udp" | "tcp" | "tls" | None


@dataclass(frozen=True)
class Subject:
    """What a finding or a step is about: a server (as shown), its host and port, the transport, and the
    server entry of the configuration it belongs to.

    ``server`` is the label the report groups by (a URI, ``host:port``, ``dns:NAME``, ``local network``);
    ``host`` is the name or address as given ("" when the subject is not one server); ``entry`` the
    configured server entry (None when the run has none: see :class:`Identity`).
    """

    server: str
    host: str = ""
    port: int | None = None
    transport: str | None = None  # "udp" | "tcp" | "tls" | None (not transport-specific)
    entry: str | None = None

    def on(self, transport: str | None) -> Subject:
        return Subject(self.server, self.host, self.port, transport, self.entry)

    @cached_property
    def identity(self) -> Identity:
        return Identity(self.entry, self.host, self.port, self.transport)


@dataclass
class Finding:
    """One catalogue entry applied to one subject, check and step."""

    entry: CatalogueEntry
    subject: Subject
    check: str  # the registry name of the check that made it: "stun", "turn", "dns", ...
    step: str  # the step of that check, e.g. "allocate", "binding", "connect"
    params: dict[str, str] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    severity: Severity = Severity.INFO
    explained_by: str | None = None  # ``ref`` of the root cause that explains this finding
    # What a consequence needed, when that is narrower or other than its subject (an expectation over a
    # server entry failed because of these relays): a root explains it only through one of them. ``()``:
    # it needed nothing that can fail (a fact in its own right, explained by nothing); None: its subject.
    basis: tuple[Identity, ...] | None = None
    # Lines to paste as they are (config lines, shell commands), shown as a block under the fix.
    snippet: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def ref(self) -> str:
        """Unique within a report: id, subject, check and step."""
        s = self.subject
        return f"{self.entry.id}@{s.server}|{s.transport or '-'}|{self.check}/{self.step}"

    def text(self, part: str, escape: Callable[[str], str]) -> str:
        """``part`` (title, symptom, cause or fix) with every parameter passed through ``escape`` first
        (a renderer's escaping applies to the echoed values only, never to the catalogue's own markup)."""
        template: str = getattr(self.entry, part)
        return _fill(template, {k: escape(v) for k, v in self.params.items()})

    @property
    def title(self) -> str:
        return _fill(self.entry.title, self.params)

    @property
    def symptom(self) -> str:
        return _fill(self.entry.symptom, self.params)

    @property
    def cause(self) -> str:
        return _fill(self.entry.cause, self.params)

    @property
    def fix(self) -> str:
        return _fill(self.entry.fix, self.params)


def _fill(template: str, params: dict[str, str]) -> str:
    return template.format_map(_Params(params)) if "{" in template else template


def lookup(finding_id: str) -> CatalogueEntry:
    from rtcdiag.triage.catalogue import CATALOGUE

    try:
        return CATALOGUE[finding_id]
    except KeyError:
        raise CatalogueError(f"unknown finding id {finding_id!r}") from None


def make_finding(
    finding_id: str,
    subject: Subject,
    *,
    check: str,
    step: str,
    evidence: list[str] | None = None,
    severity: Severity | None = None,
    snippet: list[str] | None = None,
    **params: object,
) -> Finding:
    """A finding from the catalogue entry ``finding_id``; ``params`` fill its ``{placeholders}``;
    ``snippet``: lines to paste (see the module).

    Raises :class:`CatalogueError` for an unknown id or a placeholder ``params`` leave unfilled.
    """
    entry = lookup(finding_id)
    missing = entry.placeholders - params.keys()
    if missing:
        raise CatalogueError(f"{finding_id}: placeholder(s) {', '.join(sorted(missing))} not filled")
    return Finding(entry=entry, subject=subject, check=check, step=step,
                   params={k: printable(unmark(str(v))) for k, v in params.items()},
                   evidence=[printable(unmark(line)) for line in evidence or []][:MAX_EVIDENCE],
                   severity=severity or entry.severity,
                   snippet=[printable(unmark(line)) for line in snippet or []][:MAX_EVIDENCE])


def needing(finding: Finding, basis: tuple[Identity, ...] | None) -> Finding:
    """``finding`` with its basis (what it needed: see :attr:`Finding.basis`)."""
    finding.basis = basis
    return finding


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by id and subject, so output is stable."""
    return sorted(findings,
                  key=lambda f: (-f.severity.rank, f.id, f.subject.server, f.subject.transport or ""))

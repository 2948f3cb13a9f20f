"""Diagnosis: which findings are root causes, and which are consequences folded under them.

An explanation follows the causal chain of a call's path, on the typed identity of what each finding is
about (:class:`~rtcdiag.triage.finding.Identity`): this machine -> a host name -> a server entry of the
configuration on that host -> a port -> a transport. A root explains a finding only when the finding sits
inside the root's :class:`Scope` on that chain, never by host and transport alone: a refused port of one
server entry explains nothing of another entry on the same host, and a server-wide cause (a wrong password)
is wide over one server entry, not over a host.

Every catalogue entry sits on one *layer* (:class:`~rtcdiag.triage.entry.Layer`, declared on the entry
itself with the rest of its diagnosis data); a finding on a lower layer explains an error or warning on a
higher layer (never one more severe than itself) within its scope:

- ``RUN``: this machine (DNS does not work at all) explains every finding about a named host;
- ``NAME``: a name that does not resolve explains every finding about that name, in every server entry;
- ``ENDPOINT``: a server entry's port that refuses, never answers, speaks no STUN or fails TLS on a transport
  explains what needed that port and transport of that entry (TURN steps, ICE, expectations) and the same
  statement made again by another check (one SERVER-UNREACHABLE per endpoint, not one per probe) — never an
  observation made there anyway (:data:`OBSERVATIONS`: a certificate about to expire is its own cause);
- ``SERVICE``: the server answered but refused (auth, quota, ACL) explains the ICE runs and expectations that
  needed that port and transport of that entry;
- ``CONSEQUENCE``: ICE results and expectations, which explain nothing.

:data:`ALSO_EXPLAINS` (each entry's ``explains``) names the same-layer explanations (a TCP port that speaks
no STUN also explains UDP silence on that port; UDP-BLOCKED is the UDP SERVER-UNREACHABLE said precisely).
:data:`SERVER_WIDE` ids (``server_wide``) are one cause over every port and transport of one server entry
(stated once). A consequence that names what it needed (``Finding.basis``, e.g. EXPECT-RELAY: the relays
that failed) is explained through those only; one that names nothing more precise than a server entry (no
port or no transport) is explained by a root of that entry on any port or transport. A root cause is an
error or warning that nothing explains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from rtcdiag.addresses import parse_ip
from rtcdiag.triage import ids
from rtcdiag.triage.catalogue import CATALOGUE
from rtcdiag.triage.entry import ROOTS_FIRST_DEFAULT, AcrossFiles, CatalogueError
from rtcdiag.triage.entry import Layer as Layer
from rtcdiag.triage.finding import Finding, Identity, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Explained, NameFact


class Scope(Enum):
    """How far a root cause reaches on the identity chain (:class:`~rtcdiag.triage.finding.Identity`)."""

    RUN = "run"  # every server given by name (this machine's DNS)
    NAME = "name"  # one host name: every server entry under it
    ENTRY = "entry"  # one server entry on one host: all its ports and transports
    PORT = "port"  # one port of one server entry, over every transport
    ENDPOINT = "endpoint"  # one port and transport of one server entry


# The diagnosis data lives on each catalogue entry (rtcdiag.triage.entry.CatalogueEntry: layer, explains,
# server_wide, observation, any_transport, same_transport_only, roots_first, across_files); these are its
# views by id, built once.
LAYERS: dict[str, Layer] = {fid: entry.layer for fid, entry in CATALOGUE.items()}
# Same-layer explanations: root id -> ids it explains about the same port of the same server entry (any
# transport on it; same_transport_only and SERVICE-layer roots: the same transport too, see _ALSO_SCOPE).
ALSO_EXPLAINS: dict[str, frozenset[str]] = {fid: e.explains for fid, e in CATALOGUE.items() if e.explains}
ANY_TRANSPORT = frozenset(fid for fid, entry in CATALOGUE.items() if entry.any_transport)
SERVER_WIDE = frozenset(fid for fid, entry in CATALOGUE.items() if entry.server_wide)
OBSERVATIONS = frozenset(fid for fid, entry in CATALOGUE.items() if entry.observation)
FOLDS_FILES = frozenset(fid for fid, e in CATALOGUE.items() if e.across_files is AcrossFiles.FOLDS)
ABOUT_FILES = frozenset(fid for fid, e in CATALOGUE.items() if e.across_files is AcrossFiles.ABOUT)
_SAME_TRANSPORT_ONLY = frozenset(fid for fid, entry in CATALOGUE.items() if entry.same_transport_only)
_ROOT_FIRST = {fid: e.roots_first for fid, e in CATALOGUE.items() if e.roots_first != ROOTS_FIRST_DEFAULT}

# Which check states a shared fact first: its finding is the root, the others' repeats fold under it.
CHECK_ORDER = ("run", "dns", "ports", "stun", "turn", "nat", "ice", "expect")


LAYER_MEANING: dict[Layer, str] = {
    Layer.RUN: "a root cause for the whole run: explains every finding about a server given by name",
    Layer.NAME: "explains every other finding about the same host name, in every server entry under it",
    Layer.ENDPOINT: "explains what needed this port and transport of this server entry (TURN steps, ICE, "
                    "expectations) and the same finding made again by another check",
    Layer.SERVICE: "explains the ICE runs and expectations that needed this port and transport of this "
                   "server entry",
    Layer.CONSEQUENCE: "a consequence: folded under the root cause of what it needed, when there is one",
}


def layer_of(finding_id: str) -> Layer:
    """The layer of a catalogue id (:class:`~rtcdiag.triage.finding.CatalogueError` for an unknown one)."""
    try:
        return LAYERS[finding_id]
    except KeyError:
        raise CatalogueError(f"unknown finding id {finding_id!r}") from None


def meaning(finding_id: str) -> str:
    """Where a finding sits in a diagnosis, in words (``rtcdiag explain``)."""
    if finding_id in FOLDS_FILES:
        return ("a root cause only the files of one call together show: folds what each file (dump, capture, "
                "coturn log) said about it on its own")
    if finding_id in ABOUT_FILES:
        return "says which evidence files are one call; explains nothing"
    text = LAYER_MEANING[layer_of(finding_id)]
    if finding_id in SERVER_WIDE:
        text += "; seen again on another port or transport of the same server entry, it is one cause"
    if finding_id in OBSERVATIONS:
        text += "; never folded under a failure of the same endpoint (it has its own fix)"
    return text


# Same-layer explanations reach one port of the entry over every transport (a TCP port that speaks no
# STUN also explains the UDP silence on it), except on the SERVICE layer and for same_transport_only.
_ALSO_SCOPE: dict[Layer, Scope] = {Layer.ENDPOINT: Scope.PORT, Layer.SERVICE: Scope.ENDPOINT}


def reach(root_id: str, other_id: str) -> Scope | None:
    """The scope within which a root ``root_id`` explains a finding ``other_id``; None: it never does.

    The rule table of the diagnosis, on ids alone (:func:`explains` adds severity and identities).
    """
    r_layer, o_layer = layer_of(root_id), layer_of(other_id)
    also = other_id in ALSO_EXPLAINS.get(root_id, frozenset())
    if r_layer is Layer.RUN:
        return Scope.RUN if o_layer > Layer.RUN else None
    if r_layer is Layer.NAME:  # the same name failing again (in another check) is the same cause
        return Scope.NAME if o_layer > Layer.NAME or root_id == other_id or also else None
    if root_id == other_id and root_id in SERVER_WIDE:
        return Scope.ENTRY  # the same server-wide cause seen again over another port or transport
    if r_layer is o_layer:
        if not also or r_layer not in _ALSO_SCOPE:
            return None
        if other_id in ANY_TRANSPORT:
            return Scope.ENTRY
        return Scope.ENDPOINT if root_id in _SAME_TRANSPORT_ONLY else _ALSO_SCOPE[r_layer]
    if r_layer is Layer.ENDPOINT:
        return Scope.ENDPOINT if o_layer > Layer.ENDPOINT and other_id not in OBSERVATIONS else None
    if r_layer is Layer.SERVICE:
        return Scope.ENDPOINT if o_layer is Layer.CONSEQUENCE else None
    return None


def _named(host: str) -> bool:
    return bool(host) and parse_ip(host) is None


def _meets(root: object, other: object, loose: bool) -> bool:
    """A root's port (transport) covers the other's: the root is not narrowed to one, or it is the same;
    ``loose``: an other not narrowed to one (a consequence about its whole server entry) is covered too."""
    return root is None or root == other or (loose and other is None)


def covers(scope: Scope, root: Identity, other: Identity, *, loose: bool = False) -> bool:
    """Is ``other`` inside ``scope`` around ``root``, on the chain name -> entry -> port -> transport?"""
    if scope is Scope.RUN:
        return _named(other.host)
    if root.host != other.host:
        return False
    if scope is Scope.NAME:
        return True
    if root.entry != other.entry:
        return False
    if scope is Scope.ENTRY:
        return True
    if not _meets(root.port, other.port, loose):
        return False
    return scope is Scope.PORT or _meets(root.transport, other.transport, loose)


def _within(scope: Scope, root: Finding, other: Finding) -> bool:
    """``other`` (or one of the things it needed, its basis) is inside ``scope`` around ``root``."""
    mine = root.subject.identity
    if other.basis is not None:
        return any(covers(scope, mine, needed) for needed in other.basis)
    loose = layer_of(other.id) is Layer.CONSEQUENCE
    return covers(scope, mine, other.subject.identity, loose=loose)


def explains(root: Finding, other: Finding) -> bool:
    """Does ``root`` explain ``other``? (Its rule, :func:`reach`, and the identities: :func:`covers`.)"""
    if root is other or root.severity.rank < max(other.severity.rank, Severity.WARNING.rank):
        return False
    scope = reach(root.id, other.id)
    return scope is not None and _within(scope, root, other)


def _same_statement(a: Finding, b: Finding) -> bool:
    """The same finding about the same endpoint of the same server entry, made by two checks (e.g. ports
    and stun)."""
    return a.id == b.id and a.check != b.check and a.subject.identity == b.subject.identity


def _order(finding: Finding) -> tuple[int, int, int]:
    """Lower layers first; within a layer the findings that explain others, then by check."""
    check = CHECK_ORDER.index(finding.check) if finding.check in CHECK_ORDER else len(CHECK_ORDER)
    return (layer_of(finding.id), _ROOT_FIRST.get(finding.id, 3), check)


# Root id -> the ids it explains on its own layer: ALSO_EXPLAINS inverted (which roots to look at).
_EXPLAINED_BY_SAME_LAYER: dict[str, frozenset[str]] = {
    fid: frozenset(root for root, explained in ALSO_EXPLAINS.items() if fid in explained)
    for fid in {fid for explained in ALSO_EXPLAINS.values() for fid in explained}
}


class _Candidates:
    """The findings of one host seen so far (in :func:`_order`), indexed so that the first one explaining
    a finding is found without testing every earlier one (a host with hundreds of ports stays linear).

    Exactly the first candidate, in order, for which ``explains(c, f) or _same_statement(c, f)`` holds. On
    a lower layer: every RUN and NAME candidate (few; they reach the whole host), and of the others only
    those about a port the finding can be inside (the root's scope is at most one port of one entry once
    it is not a NAME: its own port, or every port when it names none). On the finding's own layer only
    those that can match: the same id (a NAME failing again, a server-wide cause over another transport, a
    repeated statement: same identity) and the ids that :data:`ALSO_EXPLAINS` it.
    """

    def __init__(self) -> None:
        self.position: dict[int, int] = {}  # id(finding) -> its place in the order
        self.by_layer: dict[Layer, list[Finding]] = {}
        self.by_port: dict[tuple[Layer, int | None], list[Finding]] = {}
        self.by_id: dict[str, list[Finding]] = {}
        self.by_id_port: dict[tuple[str, int | None], list[Finding]] = {}
        self.by_id_entry: dict[tuple[str, str | None], list[Finding]] = {}
        self.by_statement: dict[tuple[str, Identity], list[Finding]] = {}

    def add(self, finding: Finding) -> None:
        layer, s = layer_of(finding.id), finding.subject
        self.position[id(finding)] = len(self.position)
        self.by_layer.setdefault(layer, []).append(finding)
        self.by_port.setdefault((layer, s.port), []).append(finding)
        self.by_id.setdefault(finding.id, []).append(finding)
        self.by_id_port.setdefault((finding.id, s.port), []).append(finding)
        self.by_id_entry.setdefault((finding.id, s.entry), []).append(finding)
        self.by_statement.setdefault((finding.id, s.identity), []).append(finding)

    def _in_order(self, pools: list[list[Finding]]) -> list[Finding]:
        if sum(bool(pool) for pool in pools) <= 1:
            return next((pool for pool in pools if pool), [])
        return sorted((c for pool in pools for c in pool), key=lambda c: self.position[id(c)])

    def _lower(self, lower: Layer, finding: Finding) -> list[Finding]:
        """The candidates of layer ``lower`` that can explain ``finding``, in order."""
        if lower <= Layer.NAME:
            return self.by_layer[lower]
        if finding.basis is not None:
            ports = {needed.port for needed in finding.basis}
        elif finding.subject.port is None and layer_of(finding.id) is Layer.CONSEQUENCE:
            return self.by_layer[lower]  # a consequence about its whole entry: a root on any port
        else:
            ports = {finding.subject.port}
        return self._in_order([self.by_port.get((lower, port), []) for port in ports | {None}])

    def _same_layer(self, layer: Layer, finding: Finding) -> list[list[Finding]]:
        """The pools of same-layer candidates that can explain ``finding`` (each in order)."""
        s = finding.subject
        needed = finding.basis if finding.basis is not None else (s.identity,)
        if layer is Layer.NAME:  # the whole name: any port, any entry
            same = self.by_id.get(finding.id, [])
        elif finding.id in SERVER_WIDE:  # the whole entry
            same = self._in_order([self.by_id_entry.get((finding.id, entry), [])
                                   for entry in {n.entry for n in needed} | {s.entry}])
        else:  # a repeated statement: the same identity
            same = self.by_statement.get((finding.id, s.identity), [])
        pools = [same]
        ports = {n.port for n in needed} | {None}
        for root in sorted(_EXPLAINED_BY_SAME_LAYER.get(finding.id, ())):
            if layer is Layer.NAME or finding.id in ANY_TRANSPORT:  # any port
                pools.append(self.by_id.get(root, []))
            else:  # a port of the entry (a root on no port: every port)
                pools.append(self._in_order([self.by_id_port.get((root, port), []) for port in ports]))
        return pools

    def first_explaining(self, finding: Finding) -> Finding | None:
        layer = layer_of(finding.id)
        for lower in sorted(k for k in self.by_layer if k < layer):
            for candidate in self._lower(lower, finding):
                if explains(candidate, finding) or _same_statement(candidate, finding):
                    return candidate
        found: list[Finding] = []
        for pool in self._same_layer(layer, finding):
            for candidate in pool:
                if layer_of(candidate.id) is layer and (explains(candidate, finding)
                                                        or _same_statement(candidate, finding)):
                    found.append(candidate)
                    break
        return min(found, key=lambda c: self.position[id(c)], default=None)


def _apply(explained: Iterable[Explained], problems: list[Finding], refs: dict[str, Finding]) -> None:
    """Fold each ``finding`` under its ``root`` (both must be problems of this report), then point every
    explained finding at the root at the end of its chain (what a folded finding explained moves too)."""
    present = {id(f) for f in problems}
    links = [e for e in explained if id(e.root) in present and id(e.finding) in present
             and e.root is not e.finding]
    if not links:
        return
    for link in links:
        link.finding.explained_by = link.root.ref
    for finding in problems:
        seen: set[str] = set()
        root = finding
        while root.explained_by is not None and root.explained_by in refs and root.explained_by not in seen:
            seen.add(root.explained_by)
            root = refs[root.explained_by]
        if root is not finding:
            finding.explained_by = root.ref


@dataclass
class Diagnosis:
    roots: list[Finding] = field(default_factory=list)  # most severe first
    added: list[Finding] = field(default_factory=list)  # root causes no single check could see


def no_dns_at_all(names: Iterable[NameFact]) -> Finding | None:
    """DNS-NOT-WORKING when every lookup of the run failed, a well-known name among them."""
    facts = list(names)
    if not facts or any(f.resolved for f in facts) or not any(f.well_known for f in facts):
        return None
    hosts = sorted({f.host for f in facts})
    first: dict[str, str] = {}
    for fact in facts:  # one line per name: the first check's words for it
        if fact.host not in first or (fact.detail and first[fact.host] == "does not resolve"):
            first[fact.host] = fact.detail or "does not resolve"
    evidence = [f"{host}: {detail}" for host, detail in first.items()][:10]
    return make_finding(ids.DNS_NOT_WORKING, Subject("this machine"), check="run", step="dns",
                        evidence=evidence, names=", ".join(hosts[:5]) + (" ..." if len(hosts) > 5 else ""),
                        count=len(hosts))


def diagnose(findings: list[Finding], names: Iterable[NameFact] = (),
             explained: Iterable[Explained] = ()) -> Diagnosis:
    """Set ``explained_by`` on every finding a root cause explains; return the root causes. ``explained``:
    explanations found outside the layer rules (several files of one call put together), applied last."""
    diagnosis = Diagnosis()
    run_root = no_dns_at_all(names)
    if run_root is not None:
        diagnosis.added.append(run_root)
    everything = [*diagnosis.added, *findings]
    problems = [f for f in everything if f.severity.rank >= Severity.WARNING.rank]
    by_host: dict[str, list[Finding]] = {}  # every scope below RUN is inside one host
    for finding in problems:
        by_host.setdefault(finding.subject.host, []).append(finding)
    for finding in everything:
        finding.explained_by = None
    for finding in problems:
        if run_root is not None and finding is not run_root and explains(run_root, finding):
            finding.explained_by = run_root.ref
    refs = {f.ref: f for f in problems}
    for group in by_host.values():
        ordered = sorted(group, key=_order)
        candidates = _Candidates()
        for finding in ordered:
            if finding.explained_by is None:
                candidate = candidates.first_explaining(finding)
                if candidate is not None:
                    root = candidate
                    while root.explained_by is not None and root.explained_by in refs:
                        root = refs[root.explained_by]
                    finding.explained_by = root.ref
            candidates.add(finding)
    _apply(explained, problems, refs)
    diagnosis.roots = sorted((f for f in problems if f.explained_by is None),
                             key=lambda f: (-f.severity.rank, _order(f), f.subject.server))
    return diagnosis

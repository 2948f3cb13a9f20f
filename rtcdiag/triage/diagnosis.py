"""Diagnosis: which findings are root causes, and which are consequences folded under them.

Every catalogue id sits on one *layer* of the path a call takes. A finding on a lower layer explains an
error or warning on a higher layer about the same scope (never one more severe than itself):

- ``RUN``: this machine (DNS does not work at all) explains every finding about a named host;
- ``NAME``: a name that does not resolve explains every finding about that name;
- ``ENDPOINT``: a server that refuses, never answers, speaks no STUN or fails TLS on a transport explains
  what needed that transport of that host (TURN steps, ICE, expectations) and the same statement made
  again by another check (one SERVER-UNREACHABLE per endpoint, not one per probe);
- ``SERVICE``: the server answered but refused (auth, quota, ACL) explains the ICE runs and expectations
  that needed it;
- ``CONSEQUENCE``: ICE results and expectations, which explain nothing.

:data:`ALSO_EXPLAINS` names the same-layer explanations (a TCP port that speaks no STUN also explains UDP
silence on that port; UDP-BLOCKED is the UDP SERVER-UNREACHABLE said precisely). A root cause is an error or
warning that nothing explains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from rtcdiag.addresses import parse_ip
from rtcdiag.triage.finding import Finding, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Explained, NameFact


class Layer(IntEnum):
    RUN = 0
    NAME = 1
    ENDPOINT = 2
    SERVICE = 3
    CONSEQUENCE = 4


_LAYER_IDS: dict[Layer, tuple[str, ...]] = {
    Layer.RUN: ("DNS-NOT-WORKING",),
    Layer.NAME: ("DNS-FAILURE", "DNS-NXDOMAIN", "DNS-NO-ADDRESS"),
    Layer.ENDPOINT: ("SERVER-UNREACHABLE", "SERVER-REFUSED", "NO-ROUTE", "UDP-BLOCKED", "MALFORMED-REPLY",
                     "PORT-NOT-STUN", "TLS-UNTRUSTED", "TLS-EXPIRED", "TLS-HOSTNAME", "TLS-HANDSHAKE",
                     "TRACE-PATH-DROP", "TRACE-REJECTED", "TRACE-NO-ANSWER", "PORT-TLS443-MISSING",
                     # rtcdiag analyze: the browser could not reach an ICE server (701)
                     "ANALYZE-TURN-UNREACHABLE", "ANALYZE-STUN-UNREACHABLE",
                     # rtcdiag browser: Chromium's 701 for a turns: URL whose certificate aioice saw refused
                     "BROWSER-TURNS-CERTIFICATE"),
    Layer.CONSEQUENCE: ("ICE-NO-RELAY", "ICE-FAILED", "ICE-NO-DATA", "ICE-NO-SRFLX", "ICE-RELAY-PRIVATE",
                        "ICE-RELAY-INTERNAL-NOTED", "EXPECT-RELAY", "EXPECT-RTT", "EXPECT-NAT",
                        "EXPECT-UNCHECKED",
                        # rtcdiag analyze: what a TURN failure (same TURN host) or a failure of the same
                        # peer connection (its label is the subject's host) explains
                        "ANALYZE-RELAY-ONLY-NO-CANDIDATE", "ANALYZE-ICE-FAILED", "ANALYZE-ICE-NO-RESPONSES",
                        "ANALYZE-SLOW-GATHERING",
                        # rtcdiag browser: the page's calls and the comparison with aioice
                        "BROWSER-CALL-FAILED", "BROWSER-CHANNEL-NOT-OPEN", "BROWSER-AIOICE-DISAGREE"),
}
LAYERS: dict[str, Layer] = {fid: layer for layer, ids in _LAYER_IDS.items() for fid in ids}

# Same-layer explanations: root id -> ids it explains about the same host (and port, when both have one).
ALSO_EXPLAINS: dict[str, frozenset[str]] = {
    "PORT-NOT-STUN": frozenset({"SERVER-UNREACHABLE", "UDP-BLOCKED", "MALFORMED-REPLY", "SERVER-REFUSED"}),
    "UDP-BLOCKED": frozenset({"SERVER-UNREACHABLE"}),
    "TRACE-PATH-DROP": frozenset({"SERVER-UNREACHABLE", "UDP-BLOCKED"}),
    "TRACE-REJECTED": frozenset({"SERVER-UNREACHABLE", "SERVER-REFUSED", "UDP-BLOCKED"}),
    # The DNS check's precise words for a name that other checks could only call "does not resolve".
    "DNS-NXDOMAIN": frozenset({"DNS-FAILURE"}),
    "DNS-NO-ADDRESS": frozenset({"DNS-FAILURE"}),
    # SERVICE layer: a server that went silent after allocating explains what failed on that transport
    # around the same time (echoes that never came back, a Refresh or release without an answer).
    "TURN-SERVER-STOPPED": frozenset({"TURN-NO-DATA", "TURN-DATA-LOSS", "TURN-CHANNELDATA-NOT-RELAYED",
                                      "TURN-REFRESH-FAILED"}),
    # Chromium also sends a STUN Binding to every TURN URL: one dead server gives both 701s.
    "ANALYZE-TURN-UNREACHABLE": frozenset({"ANALYZE-STUN-UNREACHABLE"}),
    # The certificate is why Chromium could not reach the turns: server (it says only 701).
    "BROWSER-TURNS-CERTIFICATE": frozenset({"ANALYZE-TURN-UNREACHABLE"}),
}

# Findings about the server's configuration, not about one transport: the same one over UDP, TCP and TLS
# is one cause (a wrong password is wrong on every transport), stated once.
SERVER_WIDE = frozenset({"TURN-AUTH-401", "TURN-AUTH-441", "TURN-REST-EXPIRED", "TURN-CLOCK-SKEW",
                         "TURN-NO-CREDENTIALS", "TURN-OPEN-RELAY", "TURN-CHALLENGE-INVALID",
                         "TURN-QUOTA-486", "TURN-RELAY-PRIVATE", "TLS-EXPIRED", "TLS-UNTRUSTED",
                         "TLS-HOSTNAME", "TLS-EXPIRING-SOON"})

# Which check states a shared fact first: its finding is the root, the others' repeats fold under it.
CHECK_ORDER = ("run", "dns", "ports", "stun", "turn", "nat", "ice", "expect")


LAYER_MEANING: dict[Layer, str] = {
    Layer.RUN: "a root cause for the whole run: explains every finding about a server given by name",
    Layer.NAME: "explains every other finding about the same host name",
    Layer.ENDPOINT: "explains what needed this server and transport (TURN steps, ICE, expectations) and the "
                    "same finding made again by another check",
    Layer.SERVICE: "explains the ICE runs and expectations that needed this server and transport",
    Layer.CONSEQUENCE: "a consequence: folded under the server's own root cause when it has one",
}


def layer_of(finding_id: str) -> Layer:
    return LAYERS.get(finding_id, Layer.SERVICE)


# rtcdiag analyze over several files of one call (rtcdiag.triage.correlate): what these explain is named by
# the correlation itself (Facts.explained), not by a layer
FOLDS_FILES = frozenset({"CORRELATE-TURNS-TLS-REFUSED", "CORRELATE-TURN-UNREACHABLE",
                         "CORRELATE-TURN-CREDENTIALS", "CORRELATE-REFUTED"})
ABOUT_FILES = frozenset({"CORRELATE-SAME-CALL", "CORRELATE-NOT-SAME-CALL", "CORRELATE-UNDECIDED"})


def meaning(finding_id: str) -> str:
    """Where a finding sits in a diagnosis, in words (``rtcdiag explain``)."""
    if finding_id in FOLDS_FILES:
        return ("a root cause only the files of one call together show: folds what each file (dump, capture, "
                "coturn log) said about it on its own")
    if finding_id in ABOUT_FILES:
        return "says which evidence files are one call; explains nothing"
    return LAYER_MEANING[layer_of(finding_id)]


def _named(host: str) -> bool:
    return bool(host) and parse_ip(host) is None


def _transports_meet(root: Subject, other: Subject) -> bool:
    return root.transport is None or other.transport is None or root.transport == other.transport


def _ports_meet(root: Subject, other: Subject) -> bool:
    return root.port is None or other.port is None or root.port == other.port


def explains(root: Finding, other: Finding) -> bool:
    """Does ``root`` explain ``other``? (Both already known to concern the same host, or root is RUN.)"""
    if root is other or root.severity.rank < max(other.severity.rank, Severity.WARNING.rank):
        return False
    r_layer, o_layer = layer_of(root.id), layer_of(other.id)
    if r_layer is Layer.RUN:
        return o_layer > Layer.RUN and _named(other.subject.host)
    if root.subject.host != other.subject.host:
        return False
    if r_layer is Layer.NAME:  # the same name failing again (in another check) is the same cause
        return (o_layer > Layer.NAME or root.id == other.id
                or other.id in ALSO_EXPLAINS.get(root.id, frozenset()))
    if root.id == other.id and root.id in SERVER_WIDE:
        return True  # the same server-wide cause seen again over another transport
    if o_layer is Layer.ENDPOINT and r_layer is Layer.ENDPOINT:
        if not _ports_meet(root.subject, other.subject):
            return False
        if other.id in ALSO_EXPLAINS.get(root.id, frozenset()):
            if root.id == "UDP-BLOCKED":
                return other.subject.transport in ("udp", None)
            return True
        return False
    if r_layer is Layer.ENDPOINT:
        return o_layer > Layer.ENDPOINT and _transports_meet(root.subject, other.subject)
    if r_layer is Layer.SERVICE:
        if o_layer is Layer.SERVICE and other.id in ALSO_EXPLAINS.get(root.id, frozenset()):
            return (_ports_meet(root.subject, other.subject)
                    and root.subject.transport == other.subject.transport)
        return o_layer is Layer.CONSEQUENCE and _transports_meet(root.subject, other.subject)
    return False


def _same_statement(a: Finding, b: Finding) -> bool:
    """The same finding about the same endpoint, made by two checks (e.g. ports and stun)."""
    sa, sb = a.subject, b.subject
    return (a.id == b.id and sa.host == sb.host and sa.port == sb.port and sa.transport == sb.transport
            and a.check != b.check)


_ROOT_FIRST = {"PORT-NOT-STUN": 0, "TRACE-REJECTED": 1, "TRACE-PATH-DROP": 1, "UDP-BLOCKED": 2,
               "TURN-SERVER-STOPPED": 2}


def _order(finding: Finding) -> tuple[int, int, int]:
    """Lower layers first; within a layer the findings that explain others, then by check."""
    check = CHECK_ORDER.index(finding.check) if finding.check in CHECK_ORDER else len(CHECK_ORDER)
    return (layer_of(finding.id), _ROOT_FIRST.get(finding.id, 3), check)


# rtcdiag browser: the certificate is stated before the 701 it explains (same layer, same endpoint).
_ROOT_FIRST["BROWSER-TURNS-CERTIFICATE"] = 0
# rtcdiag check --browser: what the TURN and ports checks say about an endpoint explains Chromium's own report
# of the same failure (one cause, seen by two clients). Added to, never replacing, the entries above.
for _root, _ids in {"TURN-AUTH-401": {"ANALYZE-TURN-401"}, "TURN-QUOTA-486": {"ANALYZE-TURN-486"},
                    "SERVER-UNREACHABLE": {"ANALYZE-TURN-UNREACHABLE", "ANALYZE-STUN-UNREACHABLE"},
                    "TLS-UNTRUSTED": {"ANALYZE-TURN-UNREACHABLE"},
                    "TLS-EXPIRED": {"ANALYZE-TURN-UNREACHABLE"},
                    "TLS-HOSTNAME": {"ANALYZE-TURN-UNREACHABLE"}}.items():
    ALSO_EXPLAINS[_root] = ALSO_EXPLAINS.get(_root, frozenset()) | _ids


# Root id -> the ids it explains on its own layer: ALSO_EXPLAINS inverted (which roots to look at).
_EXPLAINED_BY_SAME_LAYER: dict[str, frozenset[str]] = {
    fid: frozenset(root for root, ids in ALSO_EXPLAINS.items() if fid in ids)
    for fid in {fid for ids in ALSO_EXPLAINS.values() for fid in ids}
}


class _Candidates:
    """The findings of one host seen so far (in :func:`_order`), indexed so that the first one explaining
    a finding is found without testing every earlier one (a host with hundreds of ports stays linear).

    Exactly the first candidate, in order, for which ``explains(c, f) or _same_statement(c, f)`` holds:
    every candidate on a lower layer is tested in order (they all come first: the order is by layer); on
    the finding's own layer only those that can match are tested: the same id (a NAME failing again, a
    server-wide cause over another transport, a repeated statement: same port and transport) and the ids
    that :data:`ALSO_EXPLAINS` it.
    """

    def __init__(self) -> None:
        self.position: dict[int, int] = {}  # id(finding) -> its place in the order
        self.by_layer: dict[Layer, list[Finding]] = {}
        self.by_id: dict[str, list[Finding]] = {}
        self.by_statement: dict[tuple[str, int | None, str | None], list[Finding]] = {}

    def add(self, finding: Finding) -> None:
        s = finding.subject
        self.position[id(finding)] = len(self.position)
        self.by_layer.setdefault(layer_of(finding.id), []).append(finding)
        self.by_id.setdefault(finding.id, []).append(finding)
        self.by_statement.setdefault((finding.id, s.port, s.transport), []).append(finding)

    def first_explaining(self, finding: Finding) -> Finding | None:
        layer = layer_of(finding.id)
        for lower in sorted(k for k in self.by_layer if k < layer):
            for candidate in self.by_layer[lower]:
                if explains(candidate, finding) or _same_statement(candidate, finding):
                    return candidate
        same_id = (layer is Layer.NAME or finding.id in SERVER_WIDE
                   or finding.id in ALSO_EXPLAINS.get(finding.id, frozenset()))
        pools = [self.by_id.get(finding.id, []) if same_id else
                 self.by_statement.get((finding.id, finding.subject.port, finding.subject.transport), [])]
        pools += [self.by_id.get(root, []) for root in sorted(_EXPLAINED_BY_SAME_LAYER.get(finding.id, ()))]
        found: list[Finding] = []
        for pool in pools:
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
    return make_finding("DNS-NOT-WORKING", Subject("this machine"), check="run", step="dns",
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
    by_host: dict[str, list[Finding]] = {}
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

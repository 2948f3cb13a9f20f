"""Which evidence files are one call: a dump, a capture and a coturn log tied together by what only one
call has (an ICE ufrag, a relayed or candidate address, the same refusal from the same server at the same
moment), told apart by what both state differently (times, ufrags, relayed addresses, TURN servers).
Pure; the root causes the files state together are rtcdiag.triage.correlate's."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from rtcdiag.triage.call_facts import (
    CaptureCall,
    DumpCall,
    LogCall,
    Window,
)

SLACK_S = 60.0  # two clocks, a capture started late: windows this far apart may still be one call
ERROR_SLACK_S = 5.0  # a refusal this close to the browser's error is the same refusal
MAX_SHOWN = 4  # addresses or ufrags named in a reason


class Relation(StrEnum):
    SAME = "same call"
    DIFFERENT = "not the same call"
    UNKNOWN = "cannot tell"


@dataclass(frozen=True)
class Match:
    relation: Relation
    reasons: tuple[str, ...]  # what matched (SAME), what differs (DIFFERENT), why nothing decides (UNKNOWN)


Evidence = DumpCall | CaptureCall | LogCall


@dataclass
class Call:
    """Files found to be one call, and how they were tied together."""

    dumps: list[DumpCall] = field(default_factory=list)
    captures: list[CaptureCall] = field(default_factory=list)
    logs: list[LogCall] = field(default_factory=list)
    how: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [e.label for e in self.evidence]

    @property
    def evidence(self) -> list[Evidence]:
        return [*self.dumps, *self.captures, *self.logs]

    @property
    def window(self) -> Window | None:
        """From the first to the last thing the dumps and captures saw (a log's lines span its server's
        whole run)."""
        windows = [w for w in [*(d.window for d in self.dumps), *(c.window for c in self.captures)]
                   if w is not None]
        return Window(min(w.start for w in windows), max(w.end for w in windows)) if windows else None


def clock(t: float) -> str:
    """A time as the report writes it: UTC, to the millisecond."""
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d} UTC"


def span(w: Window) -> str:
    """``12:00:01.000 UTC to 12:00:09.500 UTC``."""
    return f"{clock(w.start)} to {clock(w.end)}"


def some(items: Iterable[object]) -> str:
    """At most MAX_SHOWN of ``items``, sorted, and how many more there are."""
    names = sorted(str(i) for i in items)
    return ", ".join(names[:MAX_SHOWN]) + (f" and {len(names) - MAX_SHOWN} more" if len(names) > MAX_SHOWN
                                          else "")


def _times_apart(a: Window | None, b: Window | None, what: tuple[str, str]) -> list[str]:
    if a is None or b is None or a.gap(b) <= SLACK_S:
        return []
    return [f"their times do not meet: {what[0]} {span(a)}, {what[1]} {span(b)}"]


def match_dump_capture(d: DumpCall, c: CaptureCall) -> Match:
    same: list[str] = []
    if shared := d.ufrags & c.ufrags:
        same.append(f"ICE ufrag(s) {some(shared)} (the dump's SDP, the capture's checks)")
    if relays := d.relays & (c.relays | c.endpoints):
        same.append(f"relayed address(es) {some(relays)}")
    if others := (d.candidates - d.relays) & c.endpoints:
        same.append(f"candidate address(es) {some(others)}")
    if same:
        return Match(Relation.SAME, tuple(same))
    differ = _times_apart(d.window, c.window, ("the dump's events", "the capture"))
    if d.ufrags and c.ufrags:
        differ.append(f"no ICE ufrag in common (the dump's {some(d.ufrags)}, the capture's "
                      f"{some(c.ufrags)})")
    if d.relays and c.relays:
        differ.append(f"no relayed address in common (the dump's {some(d.relays)}, the capture's "
                      f"{some(c.relays)})")
    turn = [s for s in d.servers if s.is_turn]
    # by port only: a capture taken on the server's side of a NAT sees another address than the URL's
    if turn and c.servers and not {s.port for s in turn} & {e.port for e in c.servers}:
        differ.append(f"the capture's TURN traffic is with {some(c.servers)}, the dump's TURN server(s) are "
                      f"{some(s.url for s in turn)}")
    if differ:
        return Match(Relation.DIFFERENT, tuple(differ))
    same = _same_refusals(d, c)
    if same:
        return Match(Relation.SAME, tuple(same))
    return Match(Relation.UNKNOWN, ("no ICE ufrag, address, TURN server or error of one is in the other",))


def _same_refusals(d: DumpCall, c: CaptureCall) -> list[str]:
    """The dump's errors seen in the capture at the same moment with the same server (a call that failed
    before ICE has no ufrag or relay to match)."""
    out: list[str] = []
    for e in d.errors:
        if e.time is None:
            continue
        if e.code == 401 and any(t.refused and e.server.reached_at(t.server)
                                 and abs(t.refused_time - e.time) <= ERROR_SLACK_S for t in c.turn):
            out.append(f"the 401 of {e.server.url}, in both")
        elif e.code == 701 and (
                any(e.server.reached_at(h.server) and abs(h.time - e.time) <= ERROR_SLACK_S for h in c.tls)
                or any(e.server.reached_at(f.server) and f.time <= e.time + ERROR_SLACK_S
                       for f in (*c.silent, *c.refused))):
            out.append(f"the browser's connection to {e.server.url} that ended in 701")
    return list(dict.fromkeys(out))


def match_dump_log(d: DumpCall, log: LogCall) -> Match:
    same: list[str] = []
    if relays := d.relays & log.relays:
        same.append(f"relayed address(es) {some(relays)} (coturn's sessions)")
    if clients := d.candidates & log.clients:
        same.append(f"client address(es) {some(clients)}")
    if same:
        return Match(Relation.SAME, tuple(same))
    differ: list[str] = []
    if d.window is not None and log.window is not None and d.window.end < log.window.start - SLACK_S:
        differ.append(f"the call ({span(d.window)}) is before the log's first line "
                      f"({clock(log.window.start)})")
    # coturn with `verbose` logs every allocation and every refusal: a log that has such lines and not this
    # call's is another server's, or another time's
    verbose = bool(log.sessions or log.refusals)
    if verbose and d.relays:
        differ.append(f"none of the dump's relayed addresses ({some(d.relays)}) is among the log's "
                      f"{len(log.relays)} allocation(s)")
    refused = [e.time for e in d.errors if e.code == 401 and e.time is not None]
    if verbose and log.window is not None and refused and not any(
            r.time is not None and abs(r.time - t) <= ERROR_SLACK_S for t in refused for r in log.refusals):
        differ.append(f"coturn logged no 401 when the browser got one ({clock(min(refused))}; the log's "
                      f"lines are from {span(log.window)})")
    if differ:
        return Match(Relation.DIFFERENT, tuple(differ))
    same = [f"coturn refused user {r.user} at {r.first}, when the browser got 401 from {e.server.url}"
            for e in d.errors if e.code == 401 and e.time is not None
            for r in log.refusals if r.time is not None and abs(r.time - e.time) <= ERROR_SLACK_S]
    for e in d.errors:  # turns: refused: coturn saw the TLS connection end before any request, then
        if e.code != 701 or e.server.scheme != "turns" or e.time is None:
            continue
        closed = {s.client for s in log.sessions if s.closed is not None and s.client is not None
                  and not s.requests_seen and abs(s.closed - e.time) <= ERROR_SLACK_S}
        if closed:
            same.append(f"coturn's session(s) from {some(closed)} closed without a request when the browser "
                        f"reported 701 for {e.server.url}")
    if same:
        return Match(Relation.SAME, tuple(dict.fromkeys(same)))
    why = "no address in common" + ("" if log.window else ", and the log has no absolute times "
                                    "(new-log-timestamp) to compare with the dump's")
    return Match(Relation.UNKNOWN, (why,))


def match_capture_log(c: CaptureCall, log: LogCall) -> Match:
    same: list[str] = []
    if relays := c.relays & log.relays:
        same.append(f"relayed address(es) {some(relays)}")
    clients = {t.client for t in c.turn} | {h.client for h in c.tls}
    if shared := clients & log.clients:
        same.append(f"TURN client address(es) {some(shared)}")
    if same:
        return Match(Relation.SAME, tuple(same))
    differ: list[str] = []
    if c.window is not None and log.window is not None and c.window.end < log.window.start - SLACK_S:
        differ.append(f"the capture ({span(c.window)}) ends before the log's first line "
                      f"({clock(log.window.start)})")
    verbose = bool(log.sessions or log.refusals)  # see match_dump_log
    if verbose and c.relays:
        differ.append(f"none of the capture's relayed addresses ({some(c.relays)}) is among the log's "
                      f"{len(log.relays)} allocation(s)")
    refused = [t.refused_time for t in c.turn if t.refused]
    if verbose and log.window is not None and refused and not any(
            r.time is not None and abs(r.time - t) <= ERROR_SLACK_S for t in refused for r in log.refusals):
        differ.append(f"coturn logged no 401 when the capture shows one ({clock(min(refused))}; the log's "
                      f"lines are from {span(log.window)})")
    if differ:
        return Match(Relation.DIFFERENT, tuple(differ))
    same = [f"user {r.user} refused at {r.first}, in both" for t in c.turn for user in t.users
            for r in log.refusals if r.user == user and t.refused and r.time is not None
            and abs(r.time - t.refused_time) <= ERROR_SLACK_S]
    if same:
        return Match(Relation.SAME, tuple(dict.fromkeys(same)))
    return Match(Relation.UNKNOWN, ("no address or refusal in common",))


def relate(a: Evidence, b: Evidence) -> Match | None:
    """How two files of different kinds relate (None for two of one kind: several dumps or captures of
    different calls are a normal input)."""
    if isinstance(a, DumpCall) and isinstance(b, CaptureCall):
        return match_dump_capture(a, b)
    if isinstance(a, CaptureCall) and isinstance(b, DumpCall):
        return match_dump_capture(b, a)
    if isinstance(a, DumpCall) and isinstance(b, LogCall):
        return match_dump_log(a, b)
    if isinstance(a, LogCall) and isinstance(b, DumpCall):
        return match_dump_log(b, a)
    if isinstance(a, CaptureCall) and isinstance(b, LogCall):
        return match_capture_log(a, b)
    if isinstance(a, LogCall) and isinstance(b, CaptureCall):
        return match_capture_log(b, a)
    return None


@dataclass(frozen=True)
class Pair:
    first: Evidence
    second: Evidence
    match: Match


def group(files: Sequence[Evidence]) -> tuple[list[Call], list[Pair]]:
    """The calls (files tied together, transitively) and the pairs of files of different kinds that ended
    in different calls (said so, or undecided)."""
    parent = list(range(len(files)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs: list[tuple[int, int, Match]] = []
    for i in range(len(files)):
        for j in range(i + 1, len(files)):
            match = relate(files[i], files[j])
            if match is None:
                continue
            pairs.append((i, j, match))
            if match.relation is Relation.SAME:
                parent[find(j)] = find(i)
    calls: dict[int, Call] = {}
    for i, evidence in enumerate(files):
        call = calls.setdefault(find(i), Call())
        if isinstance(evidence, DumpCall):
            call.dumps.append(evidence)
        elif isinstance(evidence, CaptureCall):
            call.captures.append(evidence)
        else:
            call.logs.append(evidence)
    for i, j, match in pairs:
        if match.relation is Relation.SAME:
            calls[find(i)].how += [f"{files[i].label} and {files[j].label}: {r}" for r in match.reasons]
    apart = [Pair(files[i], files[j], m) for i, j, m in pairs if find(i) != find(j)]
    return list(calls.values()), apart

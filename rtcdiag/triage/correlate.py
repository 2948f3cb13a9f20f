"""One diagnosis from all the evidence of one call: a dump, a capture and a coturn log put together.

Pure. First, which files are one call (rtcdiag.triage.call_match): two files are when they share what only
one call has (an ICE ufrag, a relayed or candidate address, the same refusal from the same server at the same
moment); they are not when what both state differs (their times, their ICE ufrags, their relayed addresses,
the TURN servers their traffic went to); otherwise nobody can tell. Files not from the same call are said
so, and their verdicts stay separate.

Then, within a call, the root causes only the files together can state, each quoting every file's own
evidence and folding the findings each file made on its own (``Facts.explained``):

- a 701 on a ``turns:`` URL (the dump: "unreachable, or TLS refused") and, in the capture, the server's
  ServerHello on that port: the browser refused the TLS handshake (its certificate, almost always; a
  readable ``certificate_unknown`` alert says so);
- a 701 and, in the capture, the browser's packets to that server with nothing back: unreachable, confirmed;
- a 401 or "no relay and no error" in the dump, 401s to authenticated requests in the capture, 401s in
  coturn's log (which names the user, and says "Cannot find credentials" for a user it does not know): one
  credentials root naming the user, from any two of the three;
- "no relay and no error" while the capture shows this call's allocation on that server, its relayed
  address among the dump's candidates and data relayed both ways: the dump is contradicted (a warning).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rtcdiag.evidence.coturn_log import UNKNOWN_USER, WRONG_KEY
from rtcdiag.triage import ids
from rtcdiag.triage.call_facts import (
    CaptureCall,
    DumpCall,
    DumpError,
    Endpoint,
    IceServer,
    LogCall,
    LogRefusal,
    ice_server,
    parse_endpoint,
)
from rtcdiag.triage.call_match import (
    ERROR_SLACK_S,
    MAX_SHOWN,
    Call,
    Evidence,
    Relation,
    clock,
    group,
    some,
)
from rtcdiag.triage.finding import Finding, Severity, Subject, make_finding
from rtcdiag.triage.judgement import Explained, Facts, Judgement, StepOutcome

CHECK = "analyze"
STEP = "correlate"
MAX_PAIR_FINDINGS = 20

# What each file says on its own about a server, folded under a root found together (ids of
# rtcdiag.triage.catalogue.analyze / capture; a dump or capture rule with a new id for the same statement
# belongs in these sets).
DUMP_UNREACHABLE = frozenset({ids.ANALYZE_TURN_UNREACHABLE, ids.ANALYZE_STUN_UNREACHABLE,
                              ids.ANALYZE_TURN_NO_RELAY,
                              ids.ANALYZE_TURNS_CONNECT_FAILED})
DUMP_CREDENTIALS = frozenset({ids.ANALYZE_TURN_401, ids.ANALYZE_TURN_NO_RELAY})
DUMP_NO_RELAY = frozenset({ids.ANALYZE_TURN_NO_RELAY})
CAPTURE_TLS = frozenset({ids.CAPTURE_TLS_CERTIFICATE_REFUSED, ids.CAPTURE_TLS_CLIENT_ENDED,
                         ids.CAPTURE_TLS_HANDSHAKE_FAILED, ids.CAPTURE_TLS_ONLY, ids.CAPTURE_NO_WEBRTC})
CAPTURE_UNREACHABLE = frozenset({ids.CAPTURE_TURN_UNANSWERED, ids.CAPTURE_TLS_NO_SERVERHELLO,
                                 ids.CAPTURE_TCP_REFUSED})
CAPTURE_CREDENTIALS = frozenset({ids.CAPTURE_TURN_401_LOOP})
_ALL_REFUSED = frozenset({ids.CAPTURE_TURN_486, ids.CAPTURE_TURN_508, ids.CAPTURE_TURN_403_PEER})
LOG_TLS = frozenset({ids.COTURN_LOG_TLS_FAILED, ids.COTURN_LOG_CLOSED_BEFORE_REQUEST})
LOG_CREDENTIALS = frozenset({ids.COTURN_LOG_401})


@dataclass(frozen=True)
class Refusal:
    """What each file says, on its own, when a TURN server refuses a request with ``code``."""

    code: int
    dump: frozenset[str]
    capture: frozenset[str]
    log: str  # the coturn log's id (COTURN-LOG-QUOTA says 486 and 508 apart in its "what")


REFUSALS = (
    Refusal(486, frozenset({ids.ANALYZE_TURN_486}), frozenset({ids.CAPTURE_TURN_486}), ids.COTURN_LOG_QUOTA),
    Refusal(508, frozenset({ids.ANALYZE_TURN_508}), frozenset({ids.CAPTURE_TURN_508}), ids.COTURN_LOG_QUOTA),
    Refusal(403, frozenset({ids.ANALYZE_TURN_403, ids.ANALYZE_RELAY_REFUSED}),
            frozenset({ids.CAPTURE_TURN_403_PEER}), ids.COTURN_LOG_403),
)

# One ICE session's DTLS or consent failure, as a dump and as a capture say it: dump id -> the capture ids
# that say the same of that session, and whether the capture's is the root (it decides what the dump could
# not: a client's failed DTLS is a role conflict when the capture shows ClientHellos both ways, a certificate
# when it shows the other end's ServerHello). Any other pair of statements is a contradiction, left standing.
SESSION_AGREES: dict[str, tuple[frozenset[str], bool]] = {
    ids.ANALYZE_DTLS_ROLE_CONFLICT: (frozenset({ids.CAPTURE_DTLS_ROLE_CONFLICT}), False),
    ids.ANALYZE_DTLS_FAILED: (frozenset({ids.CAPTURE_DTLS_ALERT, ids.CAPTURE_DTLS_NOTHING_AFTER_HANDSHAKE}),
                              False),
    ids.ANALYZE_DTLS_FAILED_AS_CLIENT: (frozenset({ids.CAPTURE_DTLS_ROLE_CONFLICT, ids.CAPTURE_DTLS_ALERT,
                                                 ids.CAPTURE_DTLS_NOTHING_AFTER_HANDSHAKE}), True),
    ids.ANALYZE_DTLS_STUCK: (frozenset({ids.CAPTURE_DTLS_NOT_STARTED, ids.CAPTURE_DTLS_NO_SERVERHELLO}),
                             False),
    ids.ANALYZE_CONNECTION_LOST: (frozenset({ids.CAPTURE_ICE_CONSENT_LOST,
                                             ids.CAPTURE_ICE_UNANSWERED_AT_END}),
                                False),
}
# Alerts a client sends when it does not accept the server's certificate (RFC 8446 §6.2, RFC 5246 §7.2.2)
CERTIFICATE_ALERTS = frozenset({"bad_certificate", "unsupported_certificate", "certificate_revoked",
                                "certificate_expired", "certificate_unknown", "unknown_ca"})


def _key(server: IceServer) -> tuple[str, int | None, str]:
    """What a URL means to a browser: ``turn:h:p`` and ``turn:h:p?transport=udp`` are one server."""
    return (server.host.lower(), server.port, server.transport)


# ---- root causes only the files together can state -------------------------------------------------------

@dataclass
class _Findings:
    """The findings each file made on its own, by the file (subject server) they are about."""

    dump: list[Finding]
    capture: list[Finding]
    log: list[Finding]


def _about(finding: Finding, server: IceServer) -> bool:
    """Is a dump finding about ``server`` (its subject is the URL, spelt as the dump spells it; a peer
    connection's finding about a server names its URL)?"""
    other = ice_server(finding.subject.server) or ice_server(str(finding.params.get("url", "")))
    return other is not None and _key(other) == _key(server)


def _at(finding: Finding) -> Endpoint | None:
    """The TURN server a capture finding is about (its ``server`` parameter, ip:port)."""
    return parse_endpoint(str(finding.params.get("server", "")))


def _problems(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity.rank >= Severity.WARNING.rank]


class _Rules:
    def __init__(self, call: Call, label: str, found: _Findings, judgement: Judgement,
                 nearby: Sequence[LogCall] = ()) -> None:
        self.call, self.label, self.found, self.j = call, label, found, judgement
        # coturn logs neither tied to this call nor told apart from it (no absolute times, nothing
        # allocated): what they say of this call's server and users is still the same statement
        self.nearby = list(nearby)

    def root(self, finding: Finding, folds: list[Finding]) -> None:
        """A root cause of this call, and the findings of each file it explains."""
        self.j.findings.append(finding)
        self.fold(finding, folds)

    def fold(self, root: Finding, folds: list[Finding]) -> None:
        """The findings of each file that ``root`` (made here, or one file's own) explains."""
        unique = {id(f): f for f in folds if f is not root}  # a finding may be found by two searches
        self.j.facts.explained += [Explained(root, f) for f in unique.values()]

    def subject(self, server: IceServer) -> Subject:
        return Subject(server.url, self.label, server.port, server.transport)

    def of_dumps(self, wanted: frozenset[str], server: IceServer) -> list[Finding]:
        return [f for f in _problems(self.found.dump) if f.id in wanted and _about(f, server)]

    def of_captures(self, wanted: frozenset[str], at: set[Endpoint] | None) -> list[Finding]:
        """This call's capture findings ``wanted`` about a host of ``at`` (None: any)."""
        files = {c.source for c in self.call.captures}
        hosts = {e.ip for e in at} if at is not None else None
        return [f for f in _problems(self.found.capture) if f.id in wanted and f.subject.server in files
                and (hosts is None or not f.subject.host or f.subject.host in hosts)]

    def of_logs(self, wanted: frozenset[str], users: set[str] | None = None,
                logs: Iterable[LogCall] | None = None) -> list[Finding]:
        files = {log.source for log in (self.call.logs if logs is None else logs)}
        return [f for f in _problems(self.found.log) if f.id in wanted and f.subject.server in files
                and (users is None or "user" not in f.params or f.params["user"] in users)]

    # -- the rules ----------------------------------------------------------------------------------------
    def run(self) -> None:
        servers: dict[tuple[str, int | None, str], IceServer] = {}
        for d in self.call.dumps:
            for server in (*d.servers, *(e.server for e in d.errors)):
                if server.is_turn:
                    servers.setdefault(_key(server), server)
        for server in servers.values():
            if not (self.tls_refused(server) or self.unreachable(server) or self.credentials(server)):
                self.refuted(server)
            for refusal in REFUSALS:
                self.same_refusal(server, refusal)
        if not self.call.dumps:  # a capture and a log: the credentials and the refusals they both show
            refused = {(t.server, t.transport) for c in self.call.captures for t in c.turn if t.refused}
            for at, transport in sorted(refused):
                query = "" if transport == "udp" else f"?transport={transport}"
                self.credentials(IceServer(f"turn:{at}{query}", "turn", at.ip, at.port, transport))
            for at in sorted({e for f in self.of_captures(_ALL_REFUSED, None) if (e := _at(f)) is not None}):
                for refusal in REFUSALS:
                    self.same_refusal(IceServer(f"turn:{at}", "turn", at.ip, at.port, "udp"), refusal)
        self.same_session()

    def _errors(self, server: IceServer, code: int) -> list[tuple[DumpCall, list[DumpError]]]:
        """The dumps' icecandidateerrors ``code`` for ``server`` (any spelling of its URL), per dump."""
        out = []
        for d in self.call.dumps:
            mine = [e for e in d.errors if e.code == code and _key(e.server) == _key(server)
                    and e.server.is_turn == server.is_turn]
            if mine:
                out.append((d, mine))
        return out

    @staticmethod
    def _said(errors: list[tuple[DumpCall, list[DumpError]]]) -> tuple[str, list[str]]:
        """The dumps' errors: in short (the symptom), and one evidence line per dump."""
        lines, count, first = [], 0, None
        for d, mine in errors:
            earliest = min(mine, key=lambda e: e.time or 0.0)
            when = clock(earliest.time) if earliest.time is not None else "-"
            lines.append(f"{d.source}: error {earliest.code} \"{earliest.text}\" for {earliest.server.url} "
                         f"({len(mine)} time(s), first at {when} in {some({e.connection for e in mine})})")
            count += len(mine)
            if earliest.time is not None and (first is None or earliest.time < first):
                first = earliest.time
        return f"{count} time(s), first at {clock(first) if first is not None else '-'}", lines

    def tls_refused(self, server: IceServer) -> bool:
        """A 701 on a ``turns:`` URL while the server did answer: its ServerHello in the capture, or coturn's
        log showing the browser's TLS connections closed before any TURN request at that moment."""
        errors = self._errors(server, 701)
        if server.scheme != "turns" or not errors:
            return False
        handshakes = [(c, h) for c in self.call.captures for h in c.tls
                      if server.reached_at(h.server) and h.server_hello and not h.established]
        times = [e.time for _, mine in errors for e in mine if e.time is not None]
        clients = {h.client for _, h in handshakes}
        sessions = [(log, s) for log in self.call.logs for s in log.sessions if not s.requests_seen and (
            s.client in clients or (s.closed is not None and s.client is not None
                                    and any(abs(s.closed - t) <= ERROR_SLACK_S for t in times)))]
        if not handshakes and not sessions:
            return False
        short, evidence = self._said(errors)
        for c, h in handshakes[:MAX_SHOWN]:
            line = (f"{c.source}, {h.label}: ClientHello (packet {h.client_hello}), the server's ServerHello "
                    f"and certificate (packet {h.server_hello})")
            line += f", then the browser's alert {h.alert} (packet {h.alert_packet})" if h.alert else \
                ", then no TURN request"
            evidence.append(line)
        evidence += [f"{log.source} line {s.line}: coturn's session from {s.client} closed "
                     f"({s.reason or 'no reason'}) before any TURN request"
                     for log, s in sessions[:MAX_SHOWN]]
        alerts = [h.alert for _, h in handshakes if h.alert]
        certificate = next((a for a in alerts if a in CERTIFICATE_ALERTS), "")
        if handshakes:
            answered = (f"the capture shows the server answering its TLS ClientHello with a ServerHello and "
                        f"certificate ({len(handshakes)} connection(s), first ServerHello at packet "
                        f"{min(h.server_hello for _, h in handshakes)})")
            logged = "; coturn's log shows them closed before any TURN request" if sessions else ""
        else:
            answered = (f"coturn's log shows its TLS connections reaching the server and closed before any "
                        f"TURN request ({len(sessions)} session(s))")
            logged = ""
        self.root(make_finding(
            ids.CORRELATE_TURNS_TLS_REFUSED, self.subject(server), check=CHECK, step=STEP, evidence=evidence,
            url=server.url, host=server.host, certificate=": its certificate" if certificate else "",
            errors=short, answered=answered, logged=logged,
            alert=f" with the alert {alerts[0]}" if alerts else " without sending a TURN request"),
            self.of_dumps(DUMP_UNREACHABLE, server)
            + self.of_captures(CAPTURE_TLS | CAPTURE_UNREACHABLE, {h.server for _, h in handshakes})
            + self.of_logs(LOG_TLS))
        return True

    def unreachable(self, server: IceServer) -> bool:
        errors = self._errors(server, 701)
        silent = [(c, f) for c in self.call.captures for f in c.silent if server.reached_at(f.server)]
        refused = [(c, f) for c in self.call.captures for f in c.refused if server.reached_at(f.server)]
        unanswered = [(c, h) for c in self.call.captures for h in c.tls
                      if server.reached_at(h.server) and not h.server_hello]
        if not errors or not (silent or refused or unanswered):
            return False
        short, evidence = self._said(errors)
        evidence += [f"{c.source}, {f.label}: {f.packets} packet(s) from the browser (first: packet "
                     f"{f.first_packet} at {clock(f.time)}), not one back" for c, f in silent[:MAX_SHOWN]]
        evidence += [f"{c.source}, {f.label}: SYN (packet {f.first_packet} at {clock(f.time)}) answered by "
                     "RST: connection refused" for c, f in refused[:MAX_SHOWN]]
        evidence += [f"{c.source}, {h.label}: ClientHello (packet {h.client_hello}), no ServerHello"
                     for c, h in unanswered[:MAX_SHOWN]]
        sent = sum(f.packets for _, f in silent)
        said = []
        if silent:
            said.append(f"{sent} packet(s) from the browser to {some({f.server for _, f in silent})}, "
                        f"not one back (first: packet {min(f.first_packet for _, f in silent)})")
        if refused:
            said.append(f"{len(refused)} TCP connection(s) to {some({f.server for _, f in refused})} "
                        f"refused (SYN answered by RST: nothing listens there; first SYN: packet "
                        f"{min(f.first_packet for _, f in refused)})")
        if unanswered:
            said.append(f"{len(unanswered)} TLS ClientHello(s) without a ServerHello")
        silence = "; ".join(said)
        at = ({f.server for _, f in silent} | {f.server for _, f in refused}
              | {h.server for _, h in unanswered})
        self.root(make_finding(
            ids.CORRELATE_TURN_UNREACHABLE, self.subject(server), check=CHECK, step=STEP, evidence=evidence,
            url=server.url, server=some(at), transport=server.transport.upper(), errors=short,
            silence=silence),
            self.of_dumps(DUMP_UNREACHABLE, server) + self.of_captures(CAPTURE_UNREACHABLE, at))
        return True

    def _log_refusals(self, users: set[str], at: set[Endpoint]) -> list[tuple[LogCall, LogRefusal]]:
        """The log's refusals that are this call's: of a user the capture saw refused, or (absolute times)
        within the call's time; in a log not tied to the call, of such a user by a server listening where
        the call's TURN server is (the same statement, whichever call it came from)."""
        window = self.call.window
        out = []
        for log in self.call.logs:
            for r in log.refusals:
                if r.user in users or (window is not None and r.time is not None
                                       and window.contains(r.time, ERROR_SLACK_S)):
                    out.append((log, r))
        for log in self.nearby:
            if log.listeners & at:
                out += [(log, r) for r in log.refusals if r.user in users]
        return out

    def credentials(self, server: IceServer) -> bool:
        errors = self._errors(server, 401)
        no_relay = self.of_dumps(DUMP_NO_RELAY, server)
        turn = [(c, t) for c in self.call.captures for t in c.turn
                if t.refused and server.reached_at(t.server)]
        users = {u for _, t in turn for u in t.users}
        at = {t.server for _, t in turn} | ({server.endpoint} if server.endpoint else set())
        logged = self._log_refusals(users, at)
        users |= {r.user for _, r in logged}
        if sum(map(bool, (errors or no_relay, turn, logged))) < 2 or not users:
            return False
        seen: list[str] = []
        evidence: list[str] = []
        if errors:
            short, evidence = self._said(errors)
            seen.append(f"the browser got 401 from {server.url} ({short})")
        elif no_relay:
            evidence = [f"{f.subject.server}: {f.title}" for f in no_relay[:1]]
            seen.append(f"the browser got no relay candidate from {server.url} and no error")
        if turn:
            refused = sum(t.refused for _, t in turn)
            seen.append(f"the capture shows {refused} authenticated request(s) of user "
                        f"{some({u for _, t in turn for u in t.users})} answered 401")
            evidence += [f"{c.source}, {t.label}: {t.refused} authenticated request(s) of user "
                         f"{some(t.users)} answered 401 (packets {', '.join(map(str, t.refused_packets))}, "
                         f"first at {clock(t.refused_time)})" for c, t in turn[:MAX_SHOWN]]
        reasons = {r.reason for _, r in logged if r.reason}
        reason = next(iter(reasons)) if len(reasons) == 1 else ""
        if logged:
            seen.append(f"coturn's log refused user {some({r.user for _, r in logged})} "
                        f"{sum(r.count for _, r in logged)} time(s)" + (f" ({reason})" if reason else ""))
            evidence += [f"{log.source}: user {r.user} refused {r.count} time(s) (first {r.first}, line(s) "
                         f"{', '.join(map(str, r.lines))})" + (f": {r.reason}" if r.reason else "")
                         + ("" if log in self.call.logs else
                            f"; coturn listening at {some(log.listeners & at)} (the log has no absolute "
                            "times to tie it to this call)")
                         for log, r in logged[:MAX_SHOWN]]
        which = {UNKNOWN_USER: "Here coturn's log says it has no such user.",
                 WRONG_KEY: "Here coturn's log says the user exists and the password is wrong."}.get(
            reason, "Which one, these files do not say (coturn's log says it when `verbose`).")
        self.root(make_finding(
            ids.CORRELATE_TURN_CREDENTIALS, self.subject(server), check=CHECK, step=STEP, evidence=evidence,
            url=server.url, user=some(users), reason=f": {reason}" if reason else "", which=which,
            seen="T" + "; ".join(seen)[1:]),  # every statement starts with "the"
            self.of_dumps(DUMP_CREDENTIALS, server) + self.of_captures(CAPTURE_CREDENTIALS, at)
            + self.of_logs(LOG_CREDENTIALS, users, {log for log, _ in logged} | set(self.call.logs)))
        return True

    def same_refusal(self, server: IceServer, refusal: Refusal) -> None:
        """The same refusal (486, 508, a peer ACL's 403) from one TURN server, seen by the dumps, the capture
        and coturn's log of one call: one statement. The dump's finding states it (the browser's own words,
        the fix for that code); without a dump the capture's; every other file's folds under it."""
        dumps = self.of_dumps(refusal.dump, server)
        captures = [f for f in self.of_captures(refusal.capture, None) if (e := _at(f)) is not None
                    and server.reached_at(e)]
        logs = [f for f in self.of_logs(frozenset({refusal.log}))
                if str(f.params.get("what", refusal.code)).startswith(str(refusal.code))]
        said = [*dumps, *captures, *logs]
        if len({id(f) for f in said}) > 1:
            self.fold(said[0], said[1:])

    def same_session(self) -> None:
        """One ICE session's DTLS or consent failure said by a dump (per peer connection) and by the capture
        (per call, its ``ice`` key the two ufrags): one statement (:data:`SESSION_AGREES`)."""
        sessions = [f for f in _problems(self.found.capture) if "ice" in f.params
                    and f.subject.server in {c.source for c in self.call.captures}]
        ufrags = {label: mine for d in self.call.dumps for label, mine in d.connections}
        for finding in _problems(self.found.dump):
            agrees = SESSION_AGREES.get(finding.id)
            mine = ufrags.get(finding.subject.server)
            if agrees is None or not mine:
                continue
            agreeing, capture_decides = agrees
            same = [f for f in sessions if f.id in agreeing and set(str(f.params["ice"]).split("/")) & mine]
            if not same:
                continue
            if capture_decides:
                self.fold(same[0], [finding, *same[1:]])
            else:
                self.fold(finding, same)

    def refuted(self, server: IceServer) -> bool:
        """'No relay and no error' while the capture or the log shows this call's allocation at the server
        (its relayed address one of the dump's relay candidates)."""
        said = self.of_dumps(DUMP_NO_RELAY, server)
        relays = set().union(*(d.relays for d in self.call.dumps))
        shown = [(c, t) for c in self.call.captures for t in c.turn if server.reached_at(t.server)
                 and t.relayed_both_ways and set(t.relays) & relays]
        logged = [(log, s) for log in self.call.logs for s in log.sessions if s.relay in relays]
        if not said or not (shown or logged):
            return False
        found = ({r for _, t in shown for r in t.relays} | {s.relay for _, s in logged if s.relay}) & relays
        evidence = [f"{f.subject.server}: {f.title}" for f in said[:1]]
        evidence += [f"{c.source}, {t.label}: allocation {some(set(t.relays) & relays)} (a relay candidate "
                     f"of the dump), data relayed both ways" for c, t in shown[:MAX_SHOWN]]
        evidence += [f"{log.source} line {s.line}: session {s.id} of user {s.user or '-'} allocated "
                     f"{s.relay} (a relay candidate of the dump)" for log, s in logged[:MAX_SHOWN]]
        what = (["the capture shows the allocation with data relayed both ways"] if shown else []) + \
            (["coturn's log shows the allocation"] if logged else [])
        self.root(make_finding(ids.CORRELATE_REFUTED, self.subject(server), check=CHECK, step=STEP,
                               evidence=evidence, url=server.url, relays=some(found),
                               shown=" and ".join(what)), said)
        return True


def correlate(dumps: Sequence[DumpCall], captures: Sequence[CaptureCall], logs: Sequence[LogCall],
              dump_findings: list[Finding], capture_findings: list[Finding],
              log_findings: list[Finding]) -> Judgement:
    """Which files are one call, and the root causes of each call that only its files together show. The
    findings each file made are not changed: those a root explains are named in ``facts.explained``."""
    judgement = Judgement(facts=Facts())
    files: list[Evidence] = [*dumps, *captures, *logs]
    if len({type(f) for f in files}) < 2:
        return judgement  # one kind of evidence: nothing to put together
    calls, apart = group(files)
    together = [c for c in calls if len(c.files) > 1]
    found = _Findings(dump_findings, capture_findings, log_findings)
    for n, call in enumerate(together, start=1):
        label = "call" if len(together) == 1 else f"call {n}"
        subject = Subject(label, label)
        how = "; ".join(call.how) or "-"
        judgement.findings.append(make_finding(ids.CORRELATE_SAME_CALL, subject, check=CHECK, step=STEP,
                                               evidence=call.how, files=", ".join(call.files), how=how))
        judgement.steps.append(StepOutcome(subject, CHECK, STEP, detail=f"one call: {', '.join(call.files)}"))
        members = {id(e) for e in call.evidence}
        nearby = [log for log in logs if id(log) not in members and not any(
            pair.match.relation is Relation.DIFFERENT and id(log) in (id(pair.first), id(pair.second))
            and {id(pair.first), id(pair.second)} & members for pair in apart)]
        _Rules(call, label, found, judgement, nearby).run()
    shown = 0
    for pair in apart:
        if pair.match.relation is Relation.SAME or shown >= MAX_PAIR_FINDINGS:
            continue
        shown += 1
        subject = Subject("calls", "calls")
        why = "; ".join(pair.match.reasons)
        if pair.match.relation is Relation.DIFFERENT:
            judgement.findings.append(make_finding(ids.CORRELATE_NOT_SAME_CALL, subject, check=CHECK,
                                                   step=STEP,
                                                   first=pair.first.label, second=pair.second.label, why=why))
        else:
            judgement.findings.append(make_finding(ids.CORRELATE_UNDECIDED, subject, check=CHECK, step=STEP,
                                                   first=pair.first.label, second=pair.second.label, why=why))
    if apart:
        judgement.steps.append(StepOutcome(Subject("calls", "calls"), CHECK, STEP,
                                           detail=f"{len(calls)} call(s) among {len(files)} file(s)"))
    return judgement

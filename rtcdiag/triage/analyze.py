"""Triage a call from the browser's own evidence: parsed webrtc-internals dumps -> facts -> findings.

Pure: no I/O. ``rtcdiag.evidence.pc_facts.summarize`` turns one peer connection's update log and stats into
facts (timeline, candidates, candidate errors, selected pair, DTLS state); :func:`judge` applies the rules to
every peer connection of every dump and to the getUserMedia requests. The rules live by concept:
``analyze_servers`` (the ICE servers), ``analyze_sdp`` (signalling and descriptions), ``analyze_gathering``
(candidates), this module (ICE connectivity, getUserMedia, the whole dump), ``analyze_dtls`` (DTLS, data
channels); ``analyze_base`` holds what they share.

Root causes are stated once and their consequences are not repeated: a TURN error explains a relay-only
connection without a relay candidate (same TURN host, folded by the diagnosis), a signalling failure
explains that ICE never ran (the ICE step is then skipped with that reason), DTLS failing explains the
connection state "failed".
"""

from __future__ import annotations

# The facts, re-exported for the checks that read them beside the rules (checks/analyze*.py, call_charts).
from rtcdiag.evidence.pc_facts import PcSummary as PcSummary
from rtcdiag.evidence.pc_facts import Transition as Transition
from rtcdiag.evidence.pc_facts import has_evidence, stats_stamp, when
from rtcdiag.evidence.pc_facts import labels as labels
from rtcdiag.evidence.pc_facts import summarize as summarize
from rtcdiag.evidence.pc_facts import summarize_all as summarize_all
from rtcdiag.evidence.webrtc_internals import (
    GetUserMediaEntry,
    InternalsDump,
    UpdateEvent,
)
from rtcdiag.targets import IceServerUrl
from rtcdiag.triage import ids
from rtcdiag.triage.analyze_base import CHECK, configured, ice_url, local_ufrags, other_side, pc_subject
from rtcdiag.triage.analyze_dtls import judge_dtls
from rtcdiag.triage.analyze_gathering import judge_gathering
from rtcdiag.triage.analyze_sdp import judge_signaling
from rtcdiag.triage.analyze_servers import judge_servers
from rtcdiag.triage.finding import Severity, Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, RttFact, StepOutcome, StepState

MAX_CANDIDATE_ROWS = 200  # per peer connection, in the table
MAX_TIMELINE_ROWS = 200

# Unanswered connectivity checks take seconds to fail (RFC 8445 §14.3: Rc retransmissions); a relay-only
# connection that fails within this long after checking started was refused, not left unanswered.
REFUSED_WITHIN_MS = 1000.0


def _relay_refused(s: PcSummary, failed: Transition) -> tuple[str, float] | None:
    """A relay-only connection whose checks failed at once (the TURN server refused the permission for the
    peer: CreatePermission 403, RFC 8656 §9.1): the TURN URL and how fast, or None."""
    local = s.of("local")
    checking = s.reached("ice", "checking")
    if not local or any(c.candidate.type != "relay" for c in local) or checking is None:
        return None
    start = checking.event.timestamp_ms if checking.event else None
    end = failed.event.timestamp_ms if failed.event else None
    if start is None or end is None or not 0 <= end - start <= REFUSED_WITHIN_MS:
        return None
    urls = [c.url for c in local if c.url] or [u.text for u in configured(s) if u.is_turn]
    return (urls[0] if urls else "the TURN server"), end - start


def _consent(s: PcSummary) -> tuple[list[str], str]:
    """The consent-freshness evidence (RFC 7675) of the pair that carried the call: its requests, responses
    and consentRequestsSent from the last stats sample; and a clause for the symptom."""
    pair = s.pc.stats.get(s.selected.stats_id) if s.selected is not None else None
    if pair is None:
        pair = next((p for p in s.pair_stats if p.last("nominated") is True), None)
    if pair is None:
        return [], ""
    sent = pair.number("requestsSent")
    answered = pair.number("responsesReceived")
    consent = pair.number("consentRequestsSent")
    line = (f"stats {pair.id}: state={pair.text('state') or '-'} "
            f"requestsSent={pair.text('requestsSent') or '-'} "
            f"responsesReceived={pair.text('responsesReceived') or '-'} "
            f"consentRequestsSent={pair.text('consentRequestsSent') or '-'} "
            f"requestsReceived={pair.text('requestsReceived') or '-'}")
    if sent is None or answered is None or sent <= answered:
        return [line], ""
    clause = (f"; on the selected pair {pair.id}, {sent - answered:.0f} of {sent:.0f} connectivity/consent "
              f"requests went unanswered" + (f" ({consent:.0f} consent requests sent)" if consent else ""))
    return [line], clause


NO_REMOTE_WAIT_MS = 5000.0  # trickled candidates arrive within a second or two of the description


def _waited_ms(s: PcSummary) -> float:
    """How long after the remote description the dump was made (0 when either time is unknown)."""
    start = s.remote_set.timestamp_ms if s.remote_set is not None else None
    if start is None or s.dumped_at_ms is None:
        return 0.0
    return s.dumped_at_ms - start


def _waited(s: PcSummary, ms: float) -> bool:
    return _waited_ms(s) >= ms




def why_no_remote(s: PcSummary, by_ufrag: dict[str, PcSummary],
                  failed_urls: dict[str, str]) -> tuple[IceServerUrl, str] | None:
    """The TURN failure that explains why no remote candidate ever reached ``s`` (and the words for it), or
    None. Either the other side is in the evidence, gathered no candidate at all, and one of its TURN
    servers failed; or the other side is unknown and this relay-only side's own TURN server refused it (the
    other side, configured with the same servers, most likely met the same)."""
    other = other_side(s, by_ufrag)
    if other is not None:
        if other.of("local"):
            return None  # it had candidates to send: they were not delivered (signalling)
        for url in configured(other):
            if url.is_turn and url.key in failed_urls:
                return url, (f"; the other side ({other.label}, in this evidence) gathered no candidate to "
                             f"send: {url.text}: {failed_urls[url.key]}")
        return None
    if s.pc.ice_transport_policy != "relay":
        return None
    mine = {ice_url(e.url).key for e in s.errors}
    for url in configured(s):
        if url.is_turn and url.key in failed_urls and url.key in mine:
            return url, (f"; the other side is not in this evidence, and this relay-only side's own TURN "
                         f"server refused it ({url.text}: {failed_urls[url.key]}): with the same servers the "
                         "other side most likely met the same")
    return None


def closed_by_other_side(s: PcSummary) -> tuple[str, str] | None:
    """(transport stats id, when first seen) when this connection's DTLS transport went "closed" while the
    connection itself was never closed here: only a close_notify from the other side does that (W3C
    webrtc-pc RTCDtlsTransportState; RFC 8446 §6.1). A path lost in the network cannot carry one."""
    if any(e.type == "close" for e in s.pc.events) or s.reached("connection", "closed") or \
            s.reached("signaling", "closed"):
        return None
    for transport in s.pc.of_type("transport")[:4]:
        series = transport.series.get("dtlsState")
        states = [str(v) for v in series.values()] if series is not None else []
        if "closed" not in states:
            continue
        index = states.index("closed")
        stamps = transport.series["timestamp"].values() if "timestamp" in transport.series else []
        stamp = stats_stamp(stamps[index]) if len(stamps) == len(states) else None
        return transport.id, (f"first seen in the stats sample of {UpdateEvent('', '', stamp).when}"
                              if stamp is not None else "in the stats")
    return None


WARNING_RANK = Severity.WARNING.rank


def _ice(s: PcSummary, subject: Subject, judgement: Judgement, signaling_failed: bool,
         failed_urls: dict[str, str], by_ufrag: dict[str, PcSummary] | None = None) -> None:
    ice_state = s.last_state("ice")
    # ICE failing without a relay candidate, when the TURN server failed: a consequence of that failure
    # (the same TURN host lets the diagnosis fold it); otherwise this connection's own finding.
    turn_failed = [u for u in configured(s) if u.is_turn and u.key in failed_urls]
    fold = subject
    if turn_failed and not s.of("local", "relay"):
        fold = Subject(subject.server, turn_failed[0].host)
    if signaling_failed:
        judgement.steps.append(StepOutcome(subject, CHECK, "ice", StepState.SKIPPED,
                                           detail=f"signalling failed; ICE {ice_state}"))
        return
    if s.add_candidate_failures:
        first = s.add_candidate_failures[0]
        judgement.findings.append(make_finding(
            ids.ANALYZE_ADD_CANDIDATE_FAILED, subject, check=CHECK, step="ice",
            severity=Severity.WARNING if s.connected else None,
            evidence=[f"{e.when} {e.type}: {e.value[:300]}" for e in s.add_candidate_failures[:10]],
            pc=s.label, count=len(s.add_candidate_failures), when=first.when, error=first.value[:300]))
    failed = s.reached("ice", "failed")
    if failed is None and not s.connected:  # Chromium may end in ICE "disconnected", connection "failed"
        failed = s.reached("connection", "failed")
    lost: Transition | None = None
    lost_failed: Transition | None = None
    up = s.reached("ice", "connected", "completed")
    if up is not None:
        after = s.timeline[s.timeline.index(up):]
        lost = next((t for t in after if t.what in ("ice", "connection") and t.state == "disconnected"), None)
        if lost is not None:  # then failed (ICE or the connection), with no reconnection in between
            rest = after[after.index(lost):]
            back = next((t for t in rest if t.what == "ice" and t.state in ("connected", "completed")), None)
            lost_failed = next((t for t in rest if t.state == "failed"
                                and (back is None or rest.index(t) < rest.index(back))), None)
    closed = closed_by_other_side(s) if up is not None else None
    unexplained = ""
    if closed is not None:
        then = "" if lost is None else (
            f"; then ICE went \"disconnected\" at {when(lost.event)}"
            + (f" and \"failed\" at {when(lost_failed.event)}" if lost_failed is not None else "")
            + " as the other side stopped answering consent checks")
        judgement.findings.append(make_finding(
            ids.ANALYZE_REMOTE_CLOSED, subject, check=CHECK, step="ice",
            evidence=[f"stats {closed[0]}: dtlsState=closed ({closed[1]})",
                      *(f"{when(t.event)} {t.what} {t.state}" for t in s.timeline
                        if t.what in ("ice", "connection") and t.event is not None)][:10],
            pc=s.label, stats_id=closed[0], closed=closed[1], after=then))
    elif lost is not None and lost_failed is not None and not s.ice_restart:
        judgement.findings.append(make_finding(
            ids.ANALYZE_CONNECTION_LOST, subject, check=CHECK, step="ice",
            evidence=[f"{when(t.event)} {t.what} {t.state}" for t in s.timeline
                      if t.what in ("ice", "connection") and t.event is not None][:10] + _consent(s)[0],
            pc=s.label, lost=when(lost.event), failed=when(lost_failed.event), consent=_consent(s)[1]))
    elif not s.connected and (failed is not None or _waited(s, NO_REMOTE_WAIT_MS)):
        local_ok = bool(s.of("local"))
        if s.remote_set is not None and local_ok and not s.of("remote") and not s.remote_has_candidates:
            end = (f"{when(failed.event)} {failed.what} failed" if failed is not None else
                   f"dump made {_waited_ms(s) / 1000:.1f} s after the remote description, ICE still "
                   f"{ice_state}")
            # A TURN failure that explains it: the finding is about that server's host, so the diagnosis
            # folds it under the TURN error (diagnosis.ALSO_EXPLAINS); otherwise it is this connection's own.
            no_remote = why_no_remote(s, by_ufrag or {}, failed_urls)
            about = subject if no_remote is None else Subject(s.label, no_remote[0].host or s.label)
            judgement.findings.append(make_finding(
                ids.ANALYZE_NO_REMOTE_CANDIDATES, about, check=CHECK, step="ice",
                evidence=[f"{when(s.remote_set)} setRemoteDescription (no a=candidate lines)",
                          "no addIceCandidate call", end,
                          *([no_remote[1].lstrip("; ")] if no_remote else [])],
                pc=s.label, when=when(s.remote_set), ice_state=ice_state,
                remote=no_remote[1] if no_remote else ""))
        elif failed is None:
            pass  # not failed (yet): nothing to say about the checks
        elif local_ok and s.of("remote"):
            sent = sum(int(p.number("requestsSent") or 0) for p in s.pair_stats)
            answered = sum(int(p.number("responsesReceived") or 0) for p in s.pair_stats)
            received = sum(int(p.number("requestsReceived") or 0) for p in s.pair_stats)
            evidence = [f"{p.id}: state={p.text('state')} requestsSent={p.text('requestsSent')} "
                        f"responsesReceived={p.text('responsesReceived')} "
                        f"requestsReceived={p.text('requestsReceived')}" for p in s.pair_stats[:10]]
            evidence += s.pc.check_log[:6]  # what the browser's ICE log says of the checks (Firefox)
            if sent and not answered:
                one_way = (f"; {received} check(s) from the other side did arrive (one-way: its packets "
                           "get here, ours do not get there)") if received else ""
                judgement.findings.append(make_finding(
                    ids.ANALYZE_ICE_NO_RESPONSES, fold, check=CHECK, step="ice", evidence=evidence,
                    pc=s.label, when=when(failed.event), pairs=len(s.pair_stats), sent=sent, one_way=one_way))
            elif (refused := _relay_refused(s, failed)) is not None:
                url, ms = refused
                server = ice_url(url)
                judgement.findings.append(make_finding(
                    ids.ANALYZE_RELAY_REFUSED, Subject(s.label, server.host or s.label, server.port,
                                                     server.transport),
                    check=CHECK, step="ice",
                    evidence=[f"{t.event.when if t.event else '-'} {t.what} {t.state}"
                              for t in s.timeline if t.what in ("ice", "connection")][:10]
                    + [f"local relay candidate {c.candidate.address}:{c.candidate.port} url={c.url or '-'}"
                       for c in s.of("local", "relay")[:3]],
                    pc=s.label, url=url, ms=f"{ms:.0f}", when=when(failed.event)))
            else:
                judgement.findings.append(make_finding(
                    ids.ANALYZE_ICE_FAILED, fold, check=CHECK, step="ice", evidence=evidence,
                    pc=s.label, when=when(failed.event), pairs=len(s.pair_stats)))
        elif not turn_failed and not any(f.subject.server == s.label and f.severity.rank >= WARNING_RANK
                                         for f in judgement.findings):
            # ICE failed, and the evidence holds nothing to say why (no finding about this connection or its
            # TURN servers): no remote candidate and no signalling (a caller's own getStats output), or no
            # local candidate. Never a pass; no cause to name.
            unexplained = (f"ICE failed ({when(failed.event)}); " +
                           ("no local candidate" if not local_ok else "no remote candidate and no pair")
                           + (" in the getStats output, which holds no signalling or candidate errors to "
                              "tell why" if s.pc.stats_only else " in the evidence to tell why"))
    if s.selected is not None and s.selected.local_type == "relay" and \
            s.selected.relay_protocol in ("tcp", "tls"):
        rtt = "-" if s.selected.rtt_ms is None else f"{s.selected.rtt_ms:.1f} ms"
        judgement.findings.append(make_finding(
            ids.ANALYZE_RELAY_TCP, subject, check=CHECK, step="ice",
            evidence=[f"{s.selected.stats_id}: {s.selected.local} <-> {s.selected.remote}"],
            pc=s.label, protocol=s.selected.relay_protocol.upper(), pair=f"{s.selected.local} <-> "
            f"{s.selected.remote}", url=s.selected.url or "-", rtt=rtt))
    if s.selected is not None and s.selected.rtt_ms is not None:
        judgement.facts.rtts.append(RttFact(s.label, f"selected pair {s.selected.stats_id}",
                                            s.selected.rtt_ms))
    states = " -> ".join(t.state for t in s.states("ice")) or "new"
    state = StepState.DONE if s.states("ice") or s.of("remote") else StepState.SKIPPED
    detail = f"ICE {states}"
    if unexplained:
        state, detail = StepState.UNDECIDED, unexplained
        judgement.facts.inconclusive = True
    elif not s.connected and failed is None and s.remote_set is not None and s.of("local") and \
            not _waited(s, NO_REMOTE_WAIT_MS):
        # ICE had not connected when the evidence ends, and nothing says how long it had: no verdict.
        state, detail = StepState.UNDECIDED, (f"ICE {states} when the evidence ends, "
                                              f"{_waited_ms(s) / 1000:.1f} s after the remote description")
        judgement.facts.inconclusive = True
    elif not s.connected and failed is None and s.pc.stats_only and has_evidence(s) and not (
            s.local_set is not None and s.remote_set is None):  # a description of its own only: no ICE yet
        # getStats output has no signalling: a connection that never connected (nor failed) may have been
        # setting up, or waiting for candidates that never came (its dump says which): no verdict.
        state, detail = StepState.UNDECIDED, (f"ICE {states} in the last sample of {s.pc.stats_source}, "
                                              f"never connected; {s.pc.stats_source} holds no state log to "
                                              "tell why")
        judgement.facts.inconclusive = True
    if s.pc.ice_restarts:
        rollbacks = "-" if s.pc.ice_rollbacks is None else str(s.pc.ice_rollbacks)
        judgement.findings.append(make_finding(
            ids.ANALYZE_ICE_RESTARTS, subject, check=CHECK, step="ice", severity=Severity.INFO,
            evidence=[f"{s.pc.stats_source}: iceRestarts={s.pc.ice_restarts}",
                      *(f"{when(t.event)} {t.what} {t.state}" for t in s.states("ice")[:6])],
            pc=s.label, restarts=s.pc.ice_restarts, rollbacks=rollbacks, ice=ice_state))
    judgement.steps.append(StepOutcome(subject, CHECK, "ice", state, detail=detail[:300]))


_GUM_IDS = {"NotAllowedError": ids.ANALYZE_GUM_NOT_ALLOWED,
            "PermissionDeniedError": ids.ANALYZE_GUM_NOT_ALLOWED,
            "SecurityError": ids.ANALYZE_GUM_NOT_ALLOWED, "NotFoundError": ids.ANALYZE_GUM_NOT_FOUND,
            "DevicesNotFoundError": ids.ANALYZE_GUM_NOT_FOUND,
            "NotReadableError": ids.ANALYZE_GUM_NOT_READABLE,
            "TrackStartError": ids.ANALYZE_GUM_NOT_READABLE,
            "OverconstrainedError": ids.ANALYZE_GUM_OVERCONSTRAINED,
            "ConstraintNotSatisfiedError": ids.ANALYZE_GUM_OVERCONSTRAINED}
# Compared without case: Chromium 156 writes "OverConstrainedError" in webrtc-internals (its internal name)
# where the page sees the W3C "OverconstrainedError".
_GUM_BY_NAME = {name.lower(): fid for name, fid in _GUM_IDS.items()}


def _constraints(request: GetUserMediaEntry | None) -> str:
    if request is None:
        return "media"
    asked = (("audio", request.audio), ("video", request.video))
    parts = [f"{kind} {value or 'true'}" for kind, value in asked if value is not None]
    return ", ".join(parts)[:300] or "media"


def _get_user_media(entries: list[GetUserMediaEntry], label: str, judgement: Judgement) -> None:
    requests = {e.request_id: e for e in entries if e.audio is not None or e.video is not None}
    results = [e for e in entries if e.audio is None and e.video is None]
    subject = Subject(label)
    for result in results[:50]:
        request = requests.get(result.request_id)
        kind = result.request_type or "getUserMedia"
        if not result.error:
            judgement.steps.append(StepOutcome(subject, CHECK, "request", detail=f"{kind} succeeded"))
            continue
        fid = _GUM_BY_NAME.get(result.error.lower(), ids.ANALYZE_GUM_FAILED)
        when_text = UpdateEvent("", "", result.timestamp_ms).when
        judgement.findings.append(make_finding(
            fid, subject, check=CHECK, step="request",
            evidence=[f"{when_text} {kind} request {result.request_id}: error={result.error} "
                      f"error_message={result.error_message!r}", f"constraints: {_constraints(request)}"],
            request=kind, constraints=_constraints(request), when=when_text, message=result.error_message,
            error=result.error))
        judgement.steps.append(StepOutcome(subject, CHECK, "request", detail=f"{kind}: {result.error}"))


_FAILED_ICE = frozenset({ids.ANALYZE_PRIVATE_HOST_ONLY, ids.ANALYZE_ICE_FAILED, ids.ANALYZE_ICE_NO_RESPONSES})


def _private_hosts_in_context(judgement: Judgement) -> None:
    """Private-host-only candidates are the root cause when ICE failed (an error then), the one thing to
    say about a call that otherwise worked (a warning), and only a note (info) when the call failed or was
    warned about for another reason: one failure, one root cause."""
    others = {f.severity for f in judgement.findings if f.id not in _FAILED_ICE}
    for finding in judgement.findings:
        if finding.id != ids.ANALYZE_PRIVATE_HOST_ONLY:
            continue
        if Severity.ERROR in others or (finding.severity is Severity.WARNING and Severity.WARNING in others):
            finding.severity = Severity.INFO  # e.g. TCP-only or IPv6-only: no pair was possible at all


def judge(dumps: list[InternalsDump], summaries: list[PcSummary] | None = None, *,
          alone: bool = True) -> Judgement:
    """Every rule over every dump: one finding per root cause, a step per connection x stage. ``alone``:
    the dumps are all the evidence (``rtcdiag analyze``), so dumps with nothing to judge are inconclusive;
    ``rtcdiag browser`` passes False (its page's own records stand beside its dump). ``summaries``: those of
    :func:`summarize_all` when the caller already made them (they are the costly part of a big dump)."""
    judgement = Judgement(facts=Facts())
    summaries = summarize_all(dumps) if summaries is None else summaries
    failed_urls = judge_servers(summaries, judgement)
    by_ufrag = local_ufrags(summaries)
    for s in summaries:
        subject = pc_subject(s)
        signaling_failed = judge_signaling(s, subject, judgement)
        if s.pc.sdp_only:
            for step in ("gathering", "ice", "dtls"):
                judgement.steps.append(StepOutcome(subject, CHECK, step, StepState.SKIPPED,
                                                   detail="SDP files only: no ICE or DTLS events"))
            continue
        judge_gathering(s, subject, judgement, failed_urls)
        _ice(s, subject, judgement, signaling_failed, failed_urls, by_ufrag)
        judge_dtls(s, subject, judgement, by_ufrag)
    several = len(dumps) > 1
    for d in dumps:
        label = f"{d.source}: getUserMedia" if several else "getUserMedia"
        _get_user_media(d.get_user_media, label, judgement)
    _private_hosts_in_context(judgement)
    sources = [d.source for d in dumps]
    if alone and not any(e.error for d in dumps for e in d.get_user_media) and \
            not any(has_evidence(s) for s in summaries):
        # An empty dump, connections that never did anything (created and left "new"; what a file of another
        # shape read as getStats looks like), or only getUserMedia calls that succeeded (Chromium drops the
        # connections a page closed from webrtc-internals): nothing a verdict about a call can rest on, never
        # a pass. Beside another file that holds the call, it changes nothing (Facts.blank).
        judgement.facts.blank += sources
        gum = sum(1 for d in dumps for e in d.get_user_media if e.audio is not None or e.video is not None)
        detail = (f"no peer connection; {gum} getUserMedia request(s), none failed" if not summaries and gum
                  else "no peer connection and no getUserMedia call" if not summaries else
                  f"{len(summaries)} peer connection(s) without a candidate, a description or a state past "
                  "\"new\": nothing to judge")
        judgement.steps.append(StepOutcome(Subject("dump"), CHECK, "read", StepState.UNDECIDED,
                                           detail=detail))
    else:
        judgement.facts.judged += sources
    return judgement

"""rtcdiag analyze: the ICE servers of a dump (every peer connection together): TURN and STUN errors, servers
that gave no candidate, one finding per server and failure.
"""

from __future__ import annotations

from rtcdiag.evidence.pc_facts import (
    CandidateError,
    PcSummary,
)
from rtcdiag.targets import IceServerUrl, Transport
from rtcdiag.triage import ids
from rtcdiag.triage.analyze_base import CHECK, configured, ice_url, pcs_text, server_subject
from rtcdiag.triage.finding import make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState

# A TURN server's failure that the evidence cannot name (no icecandidateerror can be in it).
UNRECORDED = "no relay candidate, and the evidence does not record why"
_TURN_IDS = {401: ids.ANALYZE_TURN_401, 403: ids.ANALYZE_TURN_403, 437: ids.ANALYZE_TURN_437,
             486: ids.ANALYZE_TURN_486, 508: ids.ANALYZE_TURN_508}


def _gathered_from(summary: PcSummary, server: IceServerUrl, kind: str) -> bool | None:
    """Did ``server`` give this connection a ``kind`` (relay/srflx) candidate? Old dumps do not name the
    URL (and older Chromium named a STUN server by its address, not the name configured): a candidate of
    that kind whose URL names no configured server counts when ``server`` is the only server of its family,
    and when there are several nobody can tell which one gave it (None)."""
    mine = summary.of("local", kind)
    if any(c.url and ice_url(c.url).key == server.key for c in mine):
        return True
    keys = {u.key for u in configured(summary)}
    unnamed = [c for c in mine if not c.url or ice_url(c.url).key not in keys]
    if not unnamed:
        return False
    same_family = [u for u in configured(summary) if u.is_turn == server.is_turn]
    return True if len(same_family) <= 1 else None


def judge_servers(summaries: list[PcSummary], judgement: Judgement) -> dict[str, str]:
    """One finding per (server, error code) over every connection; a step per configured server. Servers
    are told apart by what they are to the browser (:class:`IceServerUrl` key), shown as configured.
    Returns what each server's failure was, by URL key (for the consequences' words)."""
    errors: dict[tuple[str, int | None], list[tuple[PcSummary, CandidateError]]] = {}
    for summary in summaries:
        for error in summary.errors:
            errors.setdefault((ice_url(error.url).key, error.code), []).append((summary, error))
    servers: dict[str, IceServerUrl] = {}
    users_of: dict[str, list[PcSummary]] = {}
    for summary in summaries:
        for known in configured(summary):
            servers.setdefault(known.key, known)
            users_of.setdefault(known.key, []).append(summary)
    for seen in errors.values():
        if seen[0][1].url:
            servers.setdefault(ice_url(seen[0][1].url).key, ice_url(seen[0][1].url))
    failed: dict[str, str] = {}
    for key, server in list(servers.items())[:100]:
        url = server.text
        kind = "relay" if server.is_turn else "srflx"
        users = users_of.get(key, [])
        verdicts = [(s, _gathered_from(s, server, kind)) for s in users]
        got = [s for s, v in verdicts if v]
        unknown = [s for s, v in verdicts if v is None]
        details: list[str] = []
        for (error_key, code), seen in errors.items():
            if error_key != key:
                continue
            if code == 701 and got:  # one interface could not reach it, another did: not a failure
                details.append(f"701 on some interfaces, {kind} candidate gathered anyway")
                continue
            first = min((e for _, e in seen), key=lambda e: e.event.timestamp_ms or 0.0)
            if code == 701 and server.is_turn and server.transport is Transport.TLS:
                # Chromium's 701 "Failed to establish connection" over TLS: nothing listening and a refused
                # certificate read the same (real dumps: turns-dead-port, turns-self-signed).
                fid = ids.ANALYZE_TURNS_CONNECT_FAILED
            elif code == 701:
                fid = ids.ANALYZE_TURN_UNREACHABLE if server.is_turn else ids.ANALYZE_STUN_UNREACHABLE
            elif server.is_turn:
                fid = _TURN_IDS.get(code or 0, ids.ANALYZE_TURN_ERROR)
            else:
                fid = ids.ANALYZE_TURN_ERROR
            evidence = [f"{s.label} {e.event.when} onicecandidateerror url={e.url} address={e.address} "
                        f"error_code={e.code} error_text={e.text!r}" for s, e in seen[:10]]
            judgement.findings.append(make_finding(
                fid, server_subject(server), check=CHECK, step="gather", evidence=evidence, url=url,
                code=str(code), text=first.text, count=len(seen), when=first.event.when,
                pcs=pcs_text(s.label for s, _ in seen), host=server.host or url))
            failed[key] = f"{code} {first.text}".strip()
            details.append(f"error {code} {first.text}")
        gathering_done = [s for s in users if s.reached("gathering", "complete")]
        # Silence from a server matters to a connection that did not connect: a browser stops gathering once
        # a pair works (Chromium surfaces no later relay or srflx candidate, and no error: real dumps, e.g.
        # tests/fixtures/analyze/mixed-urls), so a connected one says nothing about the server.
        needing = [s for s in users if s.gathered and not s.connected]
        silent = users and not got and key not in failed
        unrecorded = [s for s in needing if not s.pc.candidate_errors_recorded]
        if unknown and not got:
            details.append(f"{kind} candidates without a URL in the dump: which server gave them is unknown")
        elif server.is_turn and silent and needing and len(unrecorded) == len(needing):
            # No icecandidateerror can be in this evidence (a Firefox report without its ICE log): a refusal
            # (401) and a dead server look the same here. Neither is claimed.
            judgement.findings.append(make_finding(
                ids.ANALYZE_TURN_NO_RELAY_UNEXPLAINED, server_subject(server), check=CHECK, step="gather",
                evidence=[f"{s.label}: {len(s.of('local'))} local candidate(s), no relay candidate; "
                          f"{s.pc.stats_source} records no icecandidateerror" for s in needing[:10]],
                url=url, pcs=pcs_text(s.label for s in needing), source=needing[0].pc.stats_source))
            judgement.facts.inconclusive = True
            failed[key] = UNRECORDED
            details.append("no relay candidate; the evidence does not record why")
            judgement.steps.append(StepOutcome(server_subject(server), CHECK, "gather", StepState.UNDECIDED,
                                               detail="; ".join(details)[:300]))
            continue
        elif server.is_turn and silent and needing:
            state = ("gathering completed" if gathering_done else "gathering never completed")
            judgement.findings.append(make_finding(
                ids.ANALYZE_TURN_NO_RELAY, server_subject(server), check=CHECK, step="gather",
                evidence=[f"{s.label}: {len(s.of('local'))} local candidate(s), gathering "
                          f"{s.last_state('gathering')}" for s in needing[:10]],
                url=url, pcs=pcs_text(s.label for s in needing), gathering=state))
            failed[key] = "no relay candidate, no error"
            details.append("no relay candidate and no error")
        elif silent and not needing and any(s.gathered for s in users):
            details.append(f"no {kind} candidate and no error, and every connection connected without one "
                           "(a browser stops gathering once a pair works): nothing to say about the server")
        elif not server.is_turn and users and not got and not unknown and key not in failed and \
                any(s.reached("gathering", "complete") for s in users) and \
                any(c.candidate.type == "host" and not c.candidate.is_mdns
                    for s in users for c in s.of("local")):
            judgement.findings.append(make_finding(
                ids.ANALYZE_STUN_NO_SRFLX, server_subject(server), check=CHECK, step="gather",
                evidence=[f"{s.label}: {len(s.of('local'))} local candidate(s), none srflx; gathering "
                          f"{s.last_state('gathering')}" for s in users[:10]],
                url=url, pcs=pcs_text(s.label for s in users)))
            details.append("no srflx candidate and no error")
        if got:
            details.insert(0, f"{kind} candidate gathered in {len(got)}/{len(users)} connection(s)")
        judgement.steps.append(StepOutcome(server_subject(server), CHECK, "gather",
                                           detail="; ".join(details) or "no candidate error reported"))
    return failed

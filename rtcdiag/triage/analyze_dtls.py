"""rtcdiag analyze: DTLS and data channels of one peer connection (after ICE connected): role conflicts,
failed or stuck handshakes, channels that never opened.
"""

from __future__ import annotations

from rtcdiag.evidence.pc_facts import (
    PcSummary,
    Transition,
    when,
)
from rtcdiag.triage import ids
from rtcdiag.triage.analyze_base import CHECK, other_side
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome, StepState


def dtls_role(s: PcSummary) -> tuple[str, str] | None:
    """This end's DTLS role ("client" / "server") and where it was read: its transport's dtlsRole, else its
    descriptions (RFC 8842 §5.2, RFC 5763 §5: an answer's a=setup:active is the client; an offer's actpass
    takes the opposite of the answer's choice). None when neither says."""
    transport = s.pc.stats.get(s.dtls_stats_id) if s.dtls_stats_id else None
    role = transport.text("dtlsRole") if transport is not None else ""
    if role in ("client", "server"):
        return role, f"stats {s.dtls_stats_id}: dtlsRole={role}"
    local = s.local_sdp.setups() if s.local_sdp is not None else []
    remote = s.remote_sdp.setups() if s.remote_sdp is not None else []
    if len(local) == 1 and local[0] in ("active", "passive"):
        return ("client" if local[0] == "active" else "server"), f"local a=setup:{local[0]}"
    if local == ["actpass"] and len(remote) == 1 and remote[0] in ("active", "passive"):
        return ("server" if remote[0] == "active" else "client"), f"local a=setup:actpass, remote " \
            f"a=setup:{remote[0]}"
    return None


def judge_dtls(s: PcSummary, subject: Subject, judgement: Judgement, by_ufrag: dict[str, PcSummary]) -> None:
    connection_failed = s.reached("connection", "failed")
    ice_up = s.reached("ice", "connected", "completed")
    if ice_up is None:
        judgement.steps.append(StepOutcome(subject, CHECK, "dtls", StepState.SKIPPED,
                                           detail="ICE never connected"))
        return
    ice_failed = s.reached("ice", "failed", "disconnected")
    if s.dtls_state == "failed" or (connection_failed is not None and ice_failed is None):
        _dtls_failed(s, subject, judgement, ice_up, connection_failed, by_ufrag)
    elif not _dtls_stuck(s, subject, judgement, ice_up):
        _data_channels(s, subject, judgement)
    if not s.dtls_state and s.pc.stats_only:
        # ICE connected and no DTLS state (a saved about:webrtc page: no transport states, and nothing that
        # only a connected DTLS transport carries arrived): DTLS may have failed; never a pass.
        judgement.steps.append(StepOutcome(subject, CHECK, "dtls", StepState.UNDECIDED,
                                           detail=f"ICE connected; {s.pc.stats_source} holds no DTLS state, "
                                                  "and no data channel opened nor RTP arrived to show it "
                                                  "connected"))
        judgement.facts.inconclusive = True
        return
    judgement.steps.append(StepOutcome(subject, CHECK, "dtls",
                                       detail=f"DTLS {s.dtls_state or 'state not in the stats'}"))


def _dtls_failed(s: PcSummary, subject: Subject, judgement: Judgement, ice_up: Transition,
                 connection_failed: Transition | None, by_ufrag: dict[str, PcSummary]) -> None:
    """ICE up, DTLS failed. Its cause by the roles (RFC 8842 §5): this end a DTLS server got a ClientHello,
    so the other end was a client: the certificate did not match the fingerprint. This end a client: the
    same, or both ends clients (a role conflict), which only the other end's role tells: when that end is
    in the evidence (two connections of one page), said; when not, both causes are said."""
    evidence = [f"{when(ice_up.event)} {_source(ice_up, 'oniceconnectionstatechange')} {ice_up.state}",
                f"{when(connection_failed.event if connection_failed else None)} "
                f"{_source(connection_failed, 'onconnectionstatechange')} failed",
                f"stats {s.dtls_stats_id or '-'}: dtlsState={s.dtls_state or '-'}"]
    mine = dtls_role(s)
    other = other_side(s, by_ufrag)
    theirs = dtls_role(other) if other is not None else None
    failed_at = when(connection_failed.event if connection_failed else None)
    if mine is not None and mine[0] == "client" and theirs is not None and theirs[0] == "client":
        if any(f.id == ids.ANALYZE_DTLS_ROLE_CONFLICT and f.subject == subject for f in judgement.findings):
            return  # the descriptions already said it (signalling step)
        assert other is not None
        judgement.findings.append(make_finding(
            ids.ANALYZE_DTLS_ROLE_CONFLICT, subject, check=CHECK, step="dtls",
            evidence=[*evidence, f"this end: {mine[1]}", f"the other end ({other.label}): {theirs[1]}"],
            pc=s.label, role="DTLS client",
            how=f"this end is the DTLS client ({mine[1]}) and so is the other end, {other.label}, in this "
                f"evidence ({theirs[1]}); ICE connected, then DTLS failed at {failed_at}"))
        return
    if mine is not None and mine[0] == "client" and theirs is None:  # both causes stand
        judgement.findings.append(make_finding(
            ids.ANALYZE_DTLS_FAILED_AS_CLIENT, subject, check=CHECK, step="dtls",
            evidence=[*evidence, f"this end: {mine[1]}",
                      f"the other end ({other.label}): its DTLS role is not in the evidence"
                      if other is not None else "the other end is not in this evidence"],
            pc=s.label, ice_when=when(ice_up.event), when=failed_at, stats_id=s.dtls_stats_id or "-",
            dtls=s.dtls_state or "-", role=mine[1]))
        return
    roles = [f"this end: {mine[1]}"] if mine is not None else []
    if other is not None and theirs is not None:
        roles.append(f"the other end ({other.label}): {theirs[1]}")
    judgement.findings.append(make_finding(
        ids.ANALYZE_DTLS_FAILED, subject, check=CHECK, step="dtls",
        evidence=[*evidence, *roles, *(f"remote a=fingerprint:{f}" for f in s.remote_fingerprints[:3])],
        pc=s.label, ice_when=when(ice_up.event), when=failed_at,
        stats_id=s.dtls_stats_id or "-", dtls=s.dtls_state or "-",
        fingerprint=(s.remote_fingerprints[0] if s.remote_fingerprints else
                     "not in the evidence (getStats output holds no SDP)" if s.pc.stats_only
                     else "absent")))


def _source(transition: Transition | None, default: str) -> str:
    """The name of what a transition was read from: the update-log event, or the stats field."""
    return transition.event.type if transition is not None and transition.event is not None else default


DTLS_STUCK_MS = 10_000.0  # a DTLS handshake takes a few round trips; RFC 6347 §4.2.4 retransmits from 1 s


def _dtls_stuck(s: PcSummary, subject: Subject, judgement: Judgement, ice_up: Transition) -> bool:
    """ICE connected, DTLS still "new"/"connecting" in the last sample seconds later: nobody started the
    handshake (both sides DTLS server: a=setup munged) or the handshake's packets are lost."""
    if s.dtls_state not in ("new", "connecting") or s.reached("connection", "connected") is not None:
        return False
    transport = s.pc.stats.get(s.dtls_stats_id)
    start = ice_up.event.timestamp_ms if ice_up.event is not None else None
    sampled = transport.number("timestamp") if transport is not None else None
    if start is None or sampled is None or sampled - start < DTLS_STUCK_MS:
        return False
    role = transport.text("dtlsRole") if transport is not None else ""
    setups = (f"local a=setup:{'/'.join(s.local_sdp.setups()[:1]) or '-'}" if s.local_sdp else "",
              f"remote a=setup:{'/'.join(s.remote_sdp.setups()[:1]) or '-'}" if s.remote_sdp else "")
    judgement.findings.append(make_finding(
        ids.ANALYZE_DTLS_STUCK, subject, check=CHECK, step="dtls",
        evidence=[f"{when(ice_up.event)} {_source(ice_up, 'oniceconnectionstatechange')} {ice_up.state}",
                  f"stats {s.dtls_stats_id}: dtlsState={s.dtls_state} dtlsRole={role or '-'} "
                  f"{(sampled - start) / 1000:.1f} s later", *(x for x in setups if x)],
        pc=s.label, ice_when=when(ice_up.event), stats_id=s.dtls_stats_id, dtls=s.dtls_state,
        seconds=f"{(sampled - start) / 1000:.1f}", role=role or "unknown"))
    return True


DATACHANNEL_WAIT_MS = 3000.0  # an SCTP association comes up within a few round trips of DTLS


def _data_channels(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """A data channel still "connecting" in the last stats sample, seconds after the connection was up."""
    up = s.reached("connection", "connected")
    start = up.event.timestamp_ms if up is not None and up.event is not None else None
    if start is None:
        return
    for obj in s.pc.of_type("data-channel"):
        if obj.text("state") != "connecting":
            continue
        sampled = obj.number("timestamp")
        if sampled is None or sampled - start < DATACHANNEL_WAIT_MS:
            continue
        judgement.findings.append(make_finding(
            ids.ANALYZE_DATACHANNEL_NOT_OPEN, subject, check=CHECK, step="dtls",
            evidence=[f"{when(up.event if up else None)} onconnectionstatechange connected",
                      f"stats {obj.id}: label={obj.text('label')!r} state=connecting "
                      f"{(sampled - start) / 1000:.1f} s later"],
            pc=s.label, label=obj.text("label")[:100], stats_id=obj.id,
            seconds=f"{(sampled - start) / 1000:.1f}"))
        break

"""rtcdiag analyze: signalling and the descriptions (SDP) of one peer connection: failed and glared
negotiations, rejected m-lines, DTLS roles, BUNDLE, codecs, data channels, directions.
"""

from __future__ import annotations

from rtcdiag.evidence.pc_facts import (
    PcSummary,
    applied,
    when,
)
from rtcdiag.evidence.sdp import SessionDescription
from rtcdiag.evidence.webrtc_internals import (
    UpdateEvent,
    description_value,
    fields_value,
)
from rtcdiag.triage import ids
from rtcdiag.triage.analyze_base import CHECK
from rtcdiag.triage.finding import Severity, Subject, make_finding
from rtcdiag.triage.judgement import Judgement, StepOutcome


def _said(event: UpdateEvent) -> str:
    """One evidence line for a signalling event: a description is quoted by its type, not its SDP."""
    description = description_value(event.value) if event.type.endswith("Description") else None
    if description is not None:
        return f"{event.when} {event.type} (type: {description.type or '?'})"
    return f"{event.when} {event.type}: {event.value[:300]}"


def _sdp_rules(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """Offer/answer contents: m-lines the answer rejected, RTX without its payload type, DTLS roles."""
    local, remote = s.local_sdp, s.remote_sdp
    if local is None or remote is None:
        return
    offer, answer = (local, remote) if s.remote_type == "answer" else (remote, local)
    answer_event = s.remote_sdp_event if s.remote_type == "answer" else s.local_sdp_event
    if s.remote_type in ("answer", "pranswer") or s.local_type in ("answer", "pranswer"):
        for offered, answered in zip(offer.media, answer.media, strict=False):
            if not offered.rejected and answered.rejected and offered.kind in ("audio", "video"):
                judgement.findings.append(make_finding(
                    ids.ANALYZE_MLINE_REJECTED, subject, check=CHECK, step="signaling",
                    evidence=[f"{when(answer_event)} answer: m={answered.kind} 0 {answered.protocol} "
                              f"(mid {answered.mid or '-'})",
                              f"offered payload types: {' '.join(offered.formats[:20])}",
                              *(f"offered a=rtpmap:{pt} {codec}"
                                for pt, codec in list(offered.rtpmap.items())[:8])],
                    pc=s.label, kind=offered.kind, mid=offered.mid or "-", applied=applied(answer_event)))
        _data_channel_rejected(s, subject, judgement, offer, answer, answer_event)
        setups = (local.setups(), remote.setups())
        if setups[0] and setups[0] == setups[1] and setups[0][0] in ("active", "passive"):
            judgement.findings.append(make_finding(
                ids.ANALYZE_DTLS_ROLE_CONFLICT, subject, check=CHECK, step="signaling",
                evidence=[f"local a=setup:{setups[0][0]}", f"remote a=setup:{setups[1][0]}"],
                pc=s.label, role=setups[0][0],
                how=f"the local and the remote description both say a=setup:{setups[0][0]}"))
        _answer_rules(s, subject, judgement, offer, answer, answer_event)
        if local.ice_lite and remote.ice_lite:
            judgement.findings.append(make_finding(
                ids.ANALYZE_ICE_LITE_BOTH, subject, check=CHECK, step="signaling",
                evidence=["local a=ice-lite", "remote a=ice-lite"], pc=s.label))


def _data_channel_rejected(s: PcSummary, subject: Subject, judgement: Judgement, offer: SessionDescription,
                           answer: SessionDescription, answer_event: UpdateEvent | None) -> None:
    """This side made data channels and the answer rejected m=application (port 0): they cannot open."""
    created = [e for e in s.pc.events if e.type == "createDataChannel"]
    if not created or s.remote_type not in ("answer", "pranswer"):
        return  # only the offerer's own channels, refused by the other side's answer
    for offered, answered in zip(offer.media, answer.media, strict=False):
        if offered.kind == "application" and not offered.rejected and answered.rejected:
            labels = [fields_value(e.value).get("label", "").strip('"')[:60] for e in created[:5]]
            judgement.findings.append(make_finding(
                ids.ANALYZE_DATACHANNEL_REJECTED, subject, check=CHECK, step="signaling",
                evidence=[*(f"{e.when} createDataChannel {e.value[:200]}" for e in created[:5]),
                          f"{when(answer_event)} answer: m=application 0 {answered.protocol} "
                          f"(mid {answered.mid or '-'})",
                          f"answer a=group:BUNDLE {' '.join(answer.bundle) or '(none)'}"],
                pc=s.label, labels=", ".join(f'"{label}"' for label in labels if label) or "(unnamed)",
                applied=applied(answer_event), mid=answered.mid or "-"))
            return


# RFC 3264 §6.1: the answer's direction for each offered one (a sendonly offer is answered recvonly or
# inactive, ...); anything else is not a valid answer.
_VALID_ANSWER = {"sendrecv": {"sendrecv", "sendonly", "recvonly", "inactive"},
                 "sendonly": {"recvonly", "inactive"}, "recvonly": {"sendonly", "inactive"},
                 "inactive": {"inactive"}}


def _answer_rules(s: PcSummary, subject: Subject, judgement: Judgement, offer: SessionDescription,
                  answer: SessionDescription, answer_event: UpdateEvent | None) -> None:
    """The answer against its offer: directions (RFC 3264 §6.1) and BUNDLE groups (RFC 9143 §7.3)."""
    for offered, answered in zip(offer.media, answer.media, strict=False):
        if offered.rejected or answered.rejected:
            continue
        if answered.direction not in _VALID_ANSWER.get(offered.direction, set()):
            judgement.findings.append(make_finding(
                ids.ANALYZE_DIRECTION_MISMATCH, subject, check=CHECK, step="signaling",
                evidence=[f"offer m={offered.kind} mid {offered.mid or '-'}: a={offered.direction}",
                          f"{when(answer_event)} answer m={answered.kind} mid {answered.mid or '-'}: "
                          f"a={answered.direction}"],
                pc=s.label, kind=offered.kind, mid=offered.mid or "-", offered=offered.direction,
                answered=answered.direction))
            break
    _h264_rules(s, subject, judgement, offer, answer, answer_event)
    live_offer = {m.mid for m in offer.media if not m.rejected and m.mid}
    extra = [mid for mid in answer.bundle if mid not in offer.bundle or mid not in live_offer]
    if offer.bundle and (extra or not answer.bundle):
        judgement.findings.append(make_finding(
            ids.ANALYZE_BUNDLE_MISMATCH, subject, check=CHECK, step="signaling",
            evidence=[f"offer a=group:BUNDLE {' '.join(offer.bundle)}",
                      f"answer a=group:BUNDLE {' '.join(answer.bundle)}" if answer.bundle
                      else "answer: no a=group:BUNDLE"],
            pc=s.label, offered=" ".join(offer.bundle[:20]), answered=" ".join(answer.bundle[:20]) or "none"))


def _fmtp_params(line: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in line.split(";")[:30]:
        key, _, value = part.strip().partition("=")
        params[key.strip().lower()[:40]] = value.strip()[:40]
    return params


def _h264_rules(s: PcSummary, subject: Subject, judgement: Judgement, offer: SessionDescription,
                answer: SessionDescription, answer_event: UpdateEvent | None) -> None:
    """RFC 6184 §8.2.2: an answered H.264 payload type keeps the offer's packetization-mode (absent: 0) and
    profile (the first two bytes of profile-level-id: profile_idc, profile-iop); only the level may differ."""
    for offered, answered in zip(offer.media, answer.media, strict=False):
        if offered.kind != "video" or offered.rejected or answered.rejected:
            continue
        for pt in answered.formats[:64]:
            if not answered.rtpmap.get(pt, "").lower().startswith("h264/") or pt not in offered.rtpmap:
                continue
            if not offered.rtpmap[pt].lower().startswith("h264/"):
                continue
            mine, theirs = _fmtp_params(offered.fmtp.get(pt, "")), _fmtp_params(answered.fmtp.get(pt, ""))
            mode = (mine.get("packetization-mode") or "0", theirs.get("packetization-mode") or "0")
            profile = (mine.get("profile-level-id", "42000a")[:4].lower(),
                       theirs.get("profile-level-id", "42000a")[:4].lower())  # RFC 6184 §8.1 default
            what = ("packetization-mode" if mode[0] != mode[1] else
                    "profile" if profile[0] != profile[1] else "")
            if not what:
                continue
            judgement.findings.append(make_finding(
                ids.ANALYZE_H264_MISMATCH, subject, check=CHECK, step="signaling",
                evidence=[f"offer m=video mid {offered.mid or '-'}: a=rtpmap:{pt} {offered.rtpmap[pt]} "
                          f"a=fmtp:{pt} {offered.fmtp.get(pt, '(none)')[:200]}",
                          f"{when(answer_event)} answer m=video mid {answered.mid or '-'}: a=rtpmap:{pt} "
                          f"{answered.rtpmap[pt]} a=fmtp:{pt} {answered.fmtp.get(pt, '(none)')[:200]}"],
                pc=s.label, pt=pt, what=what, applied=applied(answer_event),
                offered=offered.fmtp.get(pt, "(no a=fmtp)")[:200],
                answered=answered.fmtp.get(pt, "(no a=fmtp)")[:200]))
            return


def _description_rules(s: PcSummary, subject: Subject, judgement: Judgement) -> None:
    """What is wrong in one description on its own: RTX without its payload type, ICE credentials shorter
    than RFC 8839 allows, no DTLS fingerprint. (A browser rejects a remote description with the last two,
    so they are mostly found in SDP files and in the descriptions of non-browser endpoints.)"""
    for side, sdp in (("remote", s.remote_sdp), ("local", s.local_sdp)):
        if sdp is None:
            continue
        for m in sdp.media:
            missing = sorted({apt for apt in m.rtx_apt.values() if apt not in m.formats})
            if missing and not m.rejected:
                judgement.findings.append(make_finding(
                    ids.ANALYZE_RTX_APT_MISSING, subject, check=CHECK, step="signaling",
                    evidence=[f"{side} m={m.kind} mid {m.mid or '-'}: payload types "
                              f"{' '.join(m.formats[:20])}",
                              *(f"a=fmtp:{rtx} apt={apt}" for rtx, apt in list(m.rtx_apt.items())[:8])],
                    pc=s.label, side=side, kind=m.kind, mid=m.mid or "-", apt=", ".join(missing[:5])))
                break
        live = [m for m in sdp.media if not m.rejected]
        # RFC 8839 §5.4: ice-ufrag 4-256 ice-chars, ice-pwd 22-256.
        ufrags = {m.ice_ufrag or sdp.ice_ufrag for m in live} - {""}
        pwds = {m.ice_pwd or sdp.ice_pwd for m in live} - {""}
        short = sorted({f"ice-ufrag of {len(u)} characters" for u in ufrags if len(u) < 4}
                       | {f"ice-pwd of {len(p)} characters" for p in pwds if len(p) < 22})
        if short:
            judgement.findings.append(make_finding(
                ids.ANALYZE_ICE_CREDENTIALS_SHORT, subject, check=CHECK, step="signaling",
                evidence=[f"{side} description: {item}" for item in short], pc=s.label, side=side,
                what=", ".join(short)))
        secured = [m for m in live if "TLS" in m.protocol.upper() or "DTLS" in m.protocol.upper()]
        if secured and not sdp.fingerprints and any(not m.fingerprints for m in secured):
            judgement.findings.append(make_finding(
                ids.ANALYZE_SDP_NO_FINGERPRINT, subject, check=CHECK, step="signaling",
                evidence=[f"{side} m={m.kind} {m.protocol} (mid {m.mid or '-'}): no a=fingerprint"
                          for m in secured if not m.fingerprints][:5], pc=s.label, side=side))


def judge_signaling(s: PcSummary, subject: Subject, judgement: Judgement) -> bool:
    """Findings about offer/answer; True when signalling failed (ICE then never had a chance)."""
    stable_failures = [e for e in s.failures if "wrong state: stable" in e.value.lower()]
    glare_text = [e for e in s.failures if "wrong state: have-local-offer" in e.value.lower()]
    failed = False
    if s.glare is not None or glare_text:
        first = s.glare or glare_text[0]
        follow = (stable_failures or glare_text)[:1]
        failure = (f"; then {follow[0].type} at {follow[0].when}: \"{follow[0].value[:200]}\""
                   if follow else "")
        judgement.findings.append(make_finding(
            ids.ANALYZE_SDP_GLARE, subject, check=CHECK, step="signaling",
            # Connected with no failed description: the app handled it (perfect negotiation's polite
            # side rolls back exactly like this): for the record only.
            severity=None if not s.connected else Severity.WARNING if follow else Severity.INFO,
            evidence=[_said(e) for e in [first, *stable_failures, *glare_text][:10]],
            pc=s.label, when=first.when, failure=failure))
        failed = not s.connected
    elif stable_failures:
        first = stable_failures[0]
        judgement.findings.append(make_finding(
            ids.ANALYZE_SDP_WRONG_STATE_STABLE, subject, check=CHECK, step="signaling",
            severity=Severity.WARNING if s.connected else None,
            evidence=[f"{e.when} {e.type}: {e.value[:300]}" for e in stable_failures[:10]],
            pc=s.label, operation=first.type.removesuffix("OnFailure"), when=first.when,
            error=first.value[:300]))
        failed = not s.connected
    for event in s.failures:
        if event in stable_failures or event in glare_text:
            continue
        judgement.findings.append(make_finding(
            ids.ANALYZE_SDP_FAILED, subject, check=CHECK, step="signaling",
            severity=Severity.WARNING if s.connected else None,
            evidence=[f"{event.when} {event.type}: {event.value[:300]}"], pc=s.label,
            operation=event.type.removesuffix("OnFailure"), when=event.when, error=event.value[:300]))
        failed = failed or not s.connected
    _sdp_rules(s, subject, judgement)
    _description_rules(s, subject, judgement)
    states = " -> ".join(t.state for t in s.states("signaling")) or (
        "descriptions from SDP files" if s.pc.sdp_only else "no signalling state change")
    judgement.steps.append(StepOutcome(subject, CHECK, "signaling", detail=states[:300]))
    return failed

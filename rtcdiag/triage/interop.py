"""Judge the Chromium <-> Firefox calls (rtcdiag.probes.interop): did each connect and echo, which codecs
did the answer keep of the offer (RFC 3264 §6: a rejected m-line has port 0), what each browser's own stats
say it sends and receives, and where the two browsers differ (a=max-message-size, RFC 8841 §6).

Pure: no I/O.
"""

from __future__ import annotations

import re

from rtcdiag.evidence.sdp import parse_sdp
from rtcdiag.probes.interop import InteropCall, InteropResult
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Facts, Judgement, StepOutcome, StepState

CHECK = "interop"
_NAMES = {"chromium": "Chromium", "firefox": "Firefox"}


def max_message_size(sdp: str) -> int | None:
    """a=max-message-size of the m=application section (RFC 8841 §6; absent: 64 KiB; 0: no limit)."""
    found = re.search(r"^a=max-message-size:(\d{1,12})", sdp, re.M)
    return int(found.group(1)) if found else None


def _codecs(call: InteropCall) -> tuple[list[str], str]:
    """(what the answer rejected, in words; the answer's codecs per kind, in words)."""
    offer, answer = parse_sdp(call.offer), parse_sdp(call.answer)
    rejected: list[str] = []
    kept: list[str] = []
    for offered, answered in zip(offer.media, answer.media, strict=False):
        if offered.kind not in ("audio", "video") or offered.rejected:
            continue
        names = [offered.rtpmap.get(pt, pt) for pt in offered.formats[:12]]
        if answered.rejected:
            rejected.append(f"{offered.kind}: offered {', '.join(names) or 'nothing'}")
        else:
            first = answered.rtpmap.get(answered.formats[0], answered.formats[0]) if answered.formats else "-"
            kept.append(f"{offered.kind} {first}")
    return rejected, ", ".join(kept)


def judge(result: InteropResult) -> Judgement:
    judgement = Judgement(facts=Facts())
    if result.error:
        judgement.steps.append(StepOutcome(Subject("interop"), CHECK, "run", StepState.UNDECIDED,
                                           detail=f"the interop run failed: {result.error}"))
        judgement.facts.inconclusive = True
        return judgement
    said_size = False
    for call in result.calls:
        subject = Subject(f"interop {call.label}")
        caller, callee = _NAMES.get(call.caller, call.caller), _NAMES.get(call.callee, call.callee)
        rejected, kept = _codecs(call) if call.offer and call.answer else ([], "")
        if rejected:
            forced = f" (the caller's setCodecPreferences kept only {result.video_codec})" \
                if result.video_codec else ""
            judgement.findings.append(make_finding(
                ids.INTEROP_NO_COMMON_CODEC, subject, check=CHECK, step="codecs",
                evidence=[f"{callee}'s answer rejected (port 0) {r}" for r in rejected] + [
                    f"{caller}'s offer{forced}"],
                call=call.label, caller=caller, callee=callee, rejected="; ".join(rejected)))
        if call.error or call.state != "connected":
            judgement.findings.append(make_finding(
                ids.INTEROP_CALL_FAILED, subject, check=CHECK, step="call",
                evidence=[f"{call.label}: {call.error or 'connection ' + call.state}",
                          f"connect wait {call.connect_ms or 0:.0f} ms"],
                call=call.label, caller=caller, callee=callee, state=call.error or call.state))
            judgement.steps.append(StepOutcome(subject, CHECK, "call", detail=call.error or call.state))
            continue
        offered, answered = max_message_size(call.offer), max_message_size(call.answer)
        if offered is not None and answered is not None and offered != answered and not said_size:
            small, big = (caller, callee) if offered < answered else (callee, caller)
            said_size = True  # two browsers that never met their limits still differ: said once
            judgement.findings.append(make_finding(
                ids.INTEROP_MAX_MESSAGE_SIZE, Subject("interop"), check=CHECK, step="datachannel",
                evidence=[f"{caller} a=max-message-size:{offered}",
                          f"{callee} a=max-message-size:{answered}"],
                small=small, big=big, limit=min(offered, answered)))
        if call.received < call.sent or not call.open:
            judgement.findings.append(make_finding(
                ids.INTEROP_ECHO_LOST, subject, check=CHECK, step="call",
                evidence=[f"{call.label}: data channel {'open' if call.open else 'never opened'}, "
                          f"{call.received}/{call.sent} echoed"],
                call=call.label, received=call.received, sent=call.sent))
        dtls = ", ".join(f"{_NAMES.get(s.browser, s.browser)} {dtls_version(s.tls_version)}"
                         for s in call.sides)
        detail = f"connected, {call.received}/{call.sent} echoed; codecs {kept or '-'}; DTLS {dtls or '-'}"
        judgement.steps.append(StepOutcome(subject, CHECK, "call", detail=detail[:300]))
    return judgement


def dtls_version(tls_version: str) -> str:
    """getStats' tlsVersion (the record version as hex: FEFD DTLS 1.2, FEFC DTLS 1.3) in words."""
    return {"FEFD": "DTLS 1.2", "FEFC": "DTLS 1.3"}.get(tls_version.upper(), tls_version or "-")

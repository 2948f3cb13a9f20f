"""Read Firefox's about:webrtc report into the same typed values as a webrtc-internals dump, so every
``ANALYZE-*`` rule reads it.

What Firefox gives (dom/webidl/RTCStatsReport.webidl, toolkit/content/aboutwebrtc/aboutWebrtc.mjs):

- "Copy Report": one ``RTCStatsReportInternal`` as JSON: ``pcid`` (``{uuid} handle (id=… url=…)``),
  ``configuration`` (``iceServers`` with ``urls`` and only ``credentialProvided``/``userNameProvided``),
  ``iceCandidateStats``/``iceCandidatePairStats`` and the other RTCStats lists, ``transportStats`` (Firefox
  ≥ ~140: ``iceState``, ``dtlsState``, ``selectedCandidatePairId``), ``rawLocalCandidates`` (nICEr labels:
  ``host(IP4:…/UDP)``, ``turn-relay(BASE|RELAYED)``) and ``rawRemoteCandidates`` (``candidate:`` lines),
  ``sdpHistory`` (``{timestamp, isLocal, sdp, errors}``), ``iceRestarts``, ``iceRollbacks``, ``closed``;
  "Copy Report" also adds ``codecStat``/``remoteRtpStats`` inside the RTP stats, which are read like any
  field;
- ``WebrtcGlobalInformation.getAllStats()`` and "Copy Report History": ``{"reports": [...],
  "sdpHistories": [{pcid, sdpHistory}]}`` (the history: several reports of one pcid over time);
- older Firefox: no ``transportStats``; legacy names (``candidatepair``, ``localcandidate``, ``ipAddress``,
  ``portNumber``, ``transport``, ``mozLocalTransport``, ``serverreflexive``/``relayed``, ``mozPriority``).

A report has no state log: the ICE/DTLS/connection states come from ``transportStats`` over the snapshots
(as for getStats output); without ``transportStats`` ICE is read from the pairs (a selected, succeeded pair:
connected) and DTLS from what only a connected DTLS transport carries (a data channel opened, RTP received).
No icecandidateerror is in a report: a TURN server's refusal and its silence look the same, so until the ICE
log is attached (:func:`attach_log`) no relay candidate is "unexplained", never "no error".
"""

from __future__ import annotations

import json
import re
from typing import Any

from rtcdiag.evidence.firefox_log import IceLog, TurnOutcome, nicer_address
from rtcdiag.evidence.sniff import EvidenceError
from rtcdiag.evidence.webrtc_internals import (
    InternalsDump,
    PeerConnection,
    StatsObject,
    UpdateEvent,
    server_urls,
    value_text,
)
from rtcdiag.targets import IceServerUrl

MAX_REPORTS = 20_000  # snapshots over every peer connection
MAX_PEER_CONNECTIONS = 2_000
MAX_STATS_OBJECTS = 5_000  # per peer connection
MAX_ITEMS = 5_000  # per list of a report
MAX_FIELDS = 200
MAX_SDP_ENTRIES = 500
MAX_SDP_CHARS = 1_000_000
MAX_DEPTH = 3
STATS_SOURCE = "the Firefox report"
USER_AGENT = "Firefox (about:webrtc report)"

# RTCStatsCollection's lists (RTCStatsReport.webidl), and older ones.
_COLLECTIONS = ("transportStats", "iceCandidatePairStats", "iceCandidateStats", "inboundRtpStreamStats",
                "outboundRtpStreamStats", "remoteInboundRtpStreamStats", "remoteOutboundRtpStreamStats",
                "codecStats", "dataChannelStats", "peerConnectionStats", "mediaSourceStats",
                "videoSourceStats", "rtpContributingSourceStats", "inboundRTPStreamStats",
                "outboundRTPStreamStats", "mediaStreamTrackStats")
_LEGACY_TYPES = {"candidatepair": "candidate-pair", "localcandidate": "local-candidate",
                 "remotecandidate": "remote-candidate", "inboundrtp": "inbound-rtp",
                 "outboundrtp": "outbound-rtp", "remoteinboundrtp": "remote-inbound-rtp",
                 "remoteoutboundrtp": "remote-outbound-rtp", "datachannel": "data-channel"}
_LEGACY_FIELDS = {"ipAddress": "address", "portNumber": "port", "transport": "protocol",
                  "mozLocalTransport": "relayProtocol", "componentId": "componentId"}
_CANDIDATE_TYPES = {"host": "host", "serverreflexive": "srflx", "srflx": "srflx", "peerreflexive": "prflx",
                    "prflx": "prflx", "relayed": "relay", "relay": "relay"}
_PCID = re.compile(r"^\s*(\{[0-9a-fA-F-]{1,64}\})?[^(]*(?:\(id=(\S{0,40})\s+url=(.{0,2000})\))?\s*$", re.S)


def is_report(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("pcid"), str)


def reports_of(document: Any, depth: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(reports, sdpHistories) in ``document``: one report, a list of them, or ``{reports, sdpHistories}``
    (getAllStats, "Copy Report History"), possibly inside a wrapper object."""
    if is_report(document):
        return [document], []
    if isinstance(document, list):
        return [r for r in document[:MAX_REPORTS] if is_report(r)], []
    if isinstance(document, dict) and depth < MAX_DEPTH:
        reports = document.get("reports")
        histories = document.get("sdpHistories")
        if isinstance(reports, list):
            found = [r for r in reports[:MAX_REPORTS] if is_report(r)]
            return found, [h for h in histories[:MAX_PEER_CONNECTIONS] if isinstance(h, dict)] \
                if isinstance(histories, list) else []
        for key in ("value", "report", "stats", "data"):
            if key in document:
                inner = reports_of(document[key], depth + 1)
                if inner[0]:
                    return inner
    return [], []


def pc_uuid(pcid: str) -> str:
    """``{42fb399e-…}`` of a pcid (lower case), or the pcid itself bounded."""
    found = _PCID.match(pcid)
    return (found.group(1) or "").lower() if found and found.group(1) else pcid.strip()[:100]


def pc_url(pcid: str) -> str:
    found = _PCID.match(pcid)
    return (found.group(3) or "").strip()[:2000] if found else ""


def _key(pcid: str, taken: set[str]) -> str:
    uuid = pc_uuid(pcid).strip("{}")
    key = uuid.split("-")[0][:16] or "firefox"
    n = 2
    while key in taken:
        key, n = f"{uuid.split('-')[0][:16]}-{n}", n + 1
    taken.add(key)
    return key


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _legacy(stats: dict[str, Any]) -> dict[str, Any]:
    kind = str(stats.get("type", ""))
    out: dict[str, Any] = {}
    for name, value in list(stats.items())[:MAX_FIELDS]:
        out[_LEGACY_FIELDS.get(name, name) if kind in _LEGACY_TYPES or name == "mozLocalTransport"
            else name] = value
    out["type"] = _LEGACY_TYPES.get(kind, kind)
    if "candidateType" in out:
        out["candidateType"] = _CANDIDATE_TYPES.get(str(out["candidateType"]).lower(), out["candidateType"])
    if out["type"] == "candidate-pair" and "priority" not in out and "mozPriority" in out:
        out["priority"] = out["mozPriority"]
    return out


def _add(pc: PeerConnection, stats: dict[str, Any], stamp: float | None) -> None:
    stats_id = str(stats.get("id", ""))[:300]
    kind = str(stats.get("type", ""))[:100]
    if not stats_id or not kind:
        return
    obj = pc.stats.get(stats_id)
    if obj is None:
        if len(pc.stats) >= MAX_STATS_OBJECTS:
            return
        obj = pc.stats[stats_id] = StatsObject(id=stats_id, type=kind)
    if "timestamp" not in stats and stamp is not None:
        stats = {**stats, "timestamp": stamp}
    for name, value in list(stats.items())[:MAX_FIELDS]:
        if name in ("id", "codecStat", "remoteRtpStats"):  # Copy Report's copies of other stats objects
            continue
        values = obj.raw.get(str(name)[:200])
        if values is None:
            values = obj.raw[str(name)[:200]] = []
        if isinstance(values, list):
            values.append(value)


_NICER = re.compile(r"^([a-z-]{1,20})\((.{1,400})\)(?:\s+(active|passive|so))?$")


def raw_candidate_line(text: str) -> str:
    """A raw candidate as an SDP ``candidate:`` line: remote ones already are; local ones are nICEr labels
    (``host(IP4:10.0.0.1:5000/UDP)``, ``turn-relay(IP4:base/UDP|IP4:relayed/UDP)``, ``srflx(base|mapped)``)
    whose priority and foundation are not given ("0")."""
    text = text.strip()[:1000]
    if text.startswith(("candidate:", "a=candidate:")):
        return text.removeprefix("a=")
    found = _NICER.match(text)
    if found is None:
        return ""
    kind = found.group(1)
    parts = found.group(2).split("|")
    ctype = "relay" if "relay" in kind else "srflx" if kind in ("srflx", "srvrflx", "stun") else \
        "prflx" if kind == "prflx" else "host" if kind == "host" else ""
    address = nicer_address(parts[-1] if ctype in ("relay", "srflx") else parts[0])
    if not ctype or address is None or not address.transport:
        return ""
    line = f"candidate:0 1 {address.transport.upper()} 0 {address.host} {address.port} typ {ctype}"
    if found.group(3):
        line += f" tcptype {found.group(3)}"
    return line


def _description_type(sdp: str, is_local: bool, offerer: bool | None) -> str:
    """An SDP history entry has no type: an offer says ``a=setup:actpass`` (RFC 8842 §5.2), an answer
    ``active``/``passive``; without a=setup, the report's ``offerer`` decides."""
    setups = re.findall(r"^a=setup:(\w+)", sdp, re.M)
    if setups:
        return "offer" if setups[0] == "actpass" else "answer"
    if offerer is None:
        return ""
    return "offer" if is_local == offerer else "answer"


def _sdp_events(pc: PeerConnection, entries: list[dict[str, Any]], offerer: bool | None) -> None:
    seen: set[tuple[Any, Any]] = set()
    ordered = sorted((e for e in entries if isinstance(e, dict)),
                     key=lambda e: _number(e.get("timestamp")) or 0.0)
    for entry in ordered[:MAX_SDP_ENTRIES]:
        mark = (entry.get("timestamp"), entry.get("isLocal"))
        if mark in seen:
            continue
        seen.add(mark)
        sdp = entry.get("sdp")
        if not isinstance(sdp, str) or not sdp.strip():
            continue
        sdp = sdp[:MAX_SDP_CHARS]
        stamp = _number(entry.get("timestamp"))
        is_local = entry.get("isLocal") is True
        kind = _description_type(sdp, is_local, offerer)
        value = json.dumps({"type": kind, "sdp": sdp})
        errors = entry.get("errors")
        problems = [f"line {value_text(e.get('lineNumber'))[:10]}: {value_text(e.get('error'))[:300]}"
                    for e in (errors if isinstance(errors, list) else [])[:10] if isinstance(e, dict)]
        side = "Local" if is_local else "Remote"
        if problems:
            pc.events.append(UpdateEvent(f"set{side}DescriptionOnFailure",
                                         f"SDP parsing errors: {'; '.join(problems)}"[:2000], stamp))
        elif is_local:
            pc.events.append(UpdateEvent("setLocalDescriptionOnSuccess", value, stamp))
        else:
            pc.events += [UpdateEvent("setRemoteDescription", value, stamp),
                          UpdateEvent("setRemoteDescriptionOnSuccess", "", stamp)]


def _derived_transport(pc: PeerConnection, stamp: float | None) -> None:
    """Reports without ``transportStats`` (older Firefox, a saved page): ICE from the pairs, DTLS from what
    only a connected DTLS transport carries. Said as derived (the stats id names it)."""
    pairs = pc.of_type("candidate-pair")
    ice = ""
    if any(p.text("state") == "succeeded" and (p.last("selected") is True or p.last("nominated") is True)
           for p in pairs):
        ice = "connected"
    elif pairs and all(p.text("state") == "failed" for p in pairs):
        ice = "failed"
    elif pairs:
        ice = "checking"
    opened = sum(int(o.number("dataChannelsOpened") or 0) for o in pc.of_type("peer-connection"))
    received = sum(int(o.number("packetsReceived") or 0) for o in pc.of_type("inbound-rtp"))
    dtls = "connected" if ice == "connected" and (opened or received) else ""
    if not ice:
        return
    selected = next((p.id for p in pairs if p.last("selected") is True), "")
    fields: dict[str, Any] = {"id": "transport (derived: ICE from the pairs, DTLS from data received)",
                              "type": "transport", "iceState": ice}
    if dtls:
        fields["dtlsState"] = dtls
    if selected:
        fields["selectedCandidatePairId"] = selected
    _add(pc, fields, stamp)


def _relay_urls(pc: PeerConnection) -> None:
    """Firefox's candidate stats name no ICE server: a local relay candidate gets the URL of the one TURN
    server it can come from (the only TURN URL, or the only one of its relay protocol on one host); left
    without one when that is not certain."""
    turn = [u for u in (IceServerUrl.lenient(t) for t in pc.ice_servers) if u.is_turn]
    for obj in pc.of_type("local-candidate"):
        if obj.text("candidateType") != "relay" or obj.text("url"):
            continue
        one_host = len({v.host for v in turn}) == 1
        fits = turn if len(turn) == 1 else [
            u for u in turn if one_host and str(u.transport or "") == obj.text("relayProtocol")]
        if len(fits) == 1:
            obj.raw["url"] = [fits[0].text]
            obj.parsed.pop("url", None)


def peer_connection(reports: list[dict[str, Any]], sdp_entries: list[dict[str, Any]],
                    taken: set[str]) -> PeerConnection:
    """One peer connection from its reports (oldest first) and its SDP history."""
    last = reports[-1]
    pcid = value_text(last.get("pcid"))[:3000]
    pc = PeerConnection(key=_key(pcid, taken), url=pc_url(pcid), stats_only=True, stats_source=STATS_SOURCE,
                        candidate_errors_recorded=False, native_id=pcid)
    config = last.get("configuration")
    if isinstance(config, dict):
        servers = config.get("iceServers")
        shown = {"iceServers": [{"urls": s.get("urls")} for s in (servers if isinstance(servers, list)
                                                                    else [])[:100] if isinstance(s, dict)],
                 "iceTransportPolicy": config.get("iceTransportPolicy", "all")}
        pc.configuration = value_text(shown)[:20000]
        pc.ice_servers, pc.ice_transport_policy = server_urls(pc.configuration)
    restarts = _number(last.get("iceRestarts"))
    pc.ice_restarts = int(restarts) if restarts is not None and 0 <= restarts < 1e9 else None
    rollbacks = _number(last.get("iceRollbacks"))
    pc.ice_rollbacks = int(rollbacks) if rollbacks is not None and 0 <= rollbacks < 1e9 else None
    offerer = last.get("offerer") if isinstance(last.get("offerer"), bool) else None
    entries = [e for r in reports for e in (r.get("sdpHistory") or [])[:MAX_SDP_ENTRIES]
               if isinstance(r.get("sdpHistory"), list)] + sdp_entries
    _sdp_events(pc, entries, offerer)
    local_raw: list[str] = []
    remote_raw: list[str] = []
    for report in reports:
        stamp = _number(report.get("timestamp"))
        for name in _COLLECTIONS:
            items = report.get(name)
            for raw in (items if isinstance(items, list) else [])[:MAX_ITEMS]:
                if isinstance(raw, dict):
                    _add(pc, _legacy(raw), stamp)
        for source, into in ((report.get("rawLocalCandidates"), local_raw),
                             (report.get("rawRemoteCandidates"), remote_raw)):
            for text in (source if isinstance(source, list) else [])[:MAX_ITEMS]:
                if isinstance(text, str) and text.strip() and text not in into:
                    into.append(text)
    if "transportStats" not in last:
        _derived_transport(pc, _number(last.get("timestamp")))
    _relay_urls(pc)
    for kind, texts in (("onicecandidate", local_raw), ("addIceCandidate", remote_raw)):
        for text in texts[:MAX_ITEMS]:
            line = raw_candidate_line(text)
            if line:
                pc.events.append(UpdateEvent(kind, json.dumps({"candidate": line}), None))
    if last.get("closed") is True:
        pc.events.append(UpdateEvent("close", "closed when the report was taken", None))
    return pc


def dump_from_reports(reports: list[dict[str, Any]], histories: list[dict[str, Any]], source: str,
                      ) -> InternalsDump:
    dump = InternalsDump(source=source, user_agent=USER_AGENT)
    groups: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        groups.setdefault(value_text(report.get("pcid"))[:3000], []).append(report)
    if len(groups) > MAX_PEER_CONNECTIONS:
        dump.notes.append(f"only the first {MAX_PEER_CONNECTIONS} of {len(groups)} peer connections read")
    sdp_by_pc: dict[str, list[dict[str, Any]]] = {}
    for history in histories:
        entries = history.get("sdpHistory")
        if isinstance(history.get("pcid"), str) and isinstance(entries, list):
            sdp_by_pc.setdefault(history["pcid"][:3000], []).extend(
                e for e in entries[:MAX_SDP_ENTRIES] if isinstance(e, dict))
    taken: set[str] = set()
    for pcid, group in list(groups.items())[:MAX_PEER_CONNECTIONS]:
        group.sort(key=lambda r: _number(r.get("timestamp")) or 0.0)
        dump.peer_connections.append(peer_connection(group, sdp_by_pc.get(pcid, []), taken))
    stamps = [t for r in reports if (t := _number(r.get("timestamp"))) is not None]
    dump.timestamp_ms = max(stamps) if stamps else None  # when the (last) report was taken
    return dump


def parse_firefox(data: bytes | str, source: str) -> InternalsDump:
    """A Firefox about:webrtc report (Copy Report, Copy Report History, getAllStats) as a dump."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise EvidenceError(f"{source}: not a Firefox about:webrtc report (not valid JSON: "
                            f"{str(exc)[:120]})") from None
    reports, histories = reports_of(document)
    if not reports:
        if isinstance(document, dict) and document.get("reports") == []:
            return InternalsDump(source=source, user_agent=USER_AGENT,
                                 notes=["the Firefox report holds no peer connection (reports: [])"])
        raise EvidenceError(f"{source}: not a Firefox about:webrtc report (no RTCStatsReportInternal with a "
                            "pcid)")
    return dump_from_reports(reports, histories, source)


# ---- the ICE log, read with its report ---------------------------------------------------------------------

def _server_url(pc: PeerConnection, outcome: TurnOutcome) -> str:
    """The configured TURN URL the log's server address is (host, port and transport), or one made from it."""
    address = nicer_address(outcome.server)
    urls = [u for u in (IceServerUrl.lenient(t) for t in pc.ice_servers) if u.is_turn]
    if address is not None:
        # nICEr names a turns: server's TCP connection "TCP"; a URL without ?transport= is UDP (Transport).
        wire = {"udp": ("udp",), "tcp": ("tcp", "tls"), "": ("udp", "tcp", "tls")}[address.transport]
        for url in urls:
            same_host = url.host.strip("[]").lower() == address.host.lower()
            if same_host and url.port == address.port and str(url.transport or "") in wire:
                return url.text
        by_port = [u for u in urls if u.port == address.port and str(u.transport or "") in wire]
        if len(by_port) == 1:  # the URL named the server, the log its address
            return by_port[0].text
        if address.transport:
            host = f"[{address.host}]" if ":" in address.host else address.host
            return f"turn:{host}:{address.port}?transport={address.transport}"
    return urls[0].text if len(urls) == 1 else ""


def _error_event(pc: PeerConnection, outcome: TurnOutcome) -> UpdateEvent:
    """The icecandidateerror Firefox fired for this failure (W3C: the server's STUN error code, or 701 when
    it could not be reached), as the ICE log says it."""
    if outcome.code is not None:
        code, text = outcome.code, f"ICE log: stun error code {outcome.code}, then the allocation failed"
    elif outcome.socket_error:
        code, text = 701, "ICE log: the TCP connection to the server failed (Error on reliable socket)"
    else:
        code, text = 701, "ICE log: Allocate timed out"
    address = nicer_address(outcome.server)
    value = {"url": _server_url(pc, outcome), "errorCode": code, "errorText": text,
             "address": address.host if address else ""}
    return UpdateEvent("onicecandidateerror", json.dumps(value), None)


def attach_log(dump: InternalsDump, log: IceLog) -> int:
    """Add what the ICE log says about each peer connection of ``dump``: its TURN failures as the
    icecandidateerror events Firefox fired, its check outcomes. Returns how many connections it named."""
    named = 0
    for pc in dump.peer_connections:
        uuid = pc_uuid(pc.native_id)
        if uuid not in log.pcs:
            continue
        named += 1
        pc.candidate_errors_recorded = True
        for outcome in [f for f in log.failures if f.pc_uuid == uuid][:100]:
            pc.events.append(_error_event(pc, outcome))
        checks = log.checks.get(uuid)
        failed = [p for p in log.pairs if p.pc_uuid == uuid and p.state == "FAILED"]
        lines = [f"ICE log: pair {p.pair} {p.local} -> {p.remote} FAILED" for p in failed[:5]]
        if checks is not None:
            lines.append(f"ICE log: all checks completed success={checks[0]} fail={checks[1]}")
        pc.check_log = lines
    if not named:
        dump.notes.append(f"{log.source}: the ICE log names none of this report's peer connections")
    return named

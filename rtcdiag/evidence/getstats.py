"""Parse getStats output saved by an app into the same typed values as a webrtc-internals dump, so every rule
reads it.

What apps save (W3C webrtc-stats; ``JSON.stringify`` of ``pc.getStats()``):

- one report as an array of RTCStats dictionaries (``[...report.values()]``), or as a map id -> dictionary
  (``Object.fromEntries(report)``);
- several reports over time: an array of such reports (oldest first);
- either one inside a wrapper object (``{"stats": ...}``, ``{"report": ...}``, ``{"getStats": ...}``, ...),
  the shape logging and monitoring libraries save;
- legacy Chrome stats (``googCandidatePair``, ``localcandidate``/``remotecandidate`` with ``ipAddress``,
  ``portNumber``, ``googActiveConnection``, all values strings): mapped to the standard names.

A getStats report has no update log: the states the rules read from events (ICE, DTLS, connection) come
from the transport's ``iceState``/``dtlsState`` over the snapshots, quoted as "stats <id>" with the
snapshot's time. The file is one peer connection. Untrusted input: bounded like every dump.
"""

from __future__ import annotations

import json
from typing import Any

from rtcdiag.evidence.sniff import EvidenceError
from rtcdiag.evidence.webrtc_internals import InternalsDump, PeerConnection, StatsObject

MAX_SNAPSHOTS = 10_000
MAX_STATS_OBJECTS = 5_000  # per peer connection (as for rtcstats)
MAX_FIELDS = 200  # per RTCStats dictionary
MAX_DEPTH = 4  # wrappers followed
_WRAPPERS = ("stats", "report", "reports", "getStats", "getstats", "statsReport", "snapshots", "results",
             "result", "data", "peerConnectionStats")

# Legacy (pre-standard) Chrome stats: type -> standard type, field renames.
_LEGACY_TYPES = {"googCandidatePair": "candidate-pair", "localcandidate": "local-candidate",
                 "remotecandidate": "remote-candidate", "googComponent": "transport"}
_LEGACY_FIELDS = {"ipAddress": "address", "portNumber": "port", "transport": "protocol",
                  "googActiveConnection": "nominated", "googLocalCandidateId": "localCandidateId",
                  "googRemoteCandidateId": "remoteCandidateId"}
_LEGACY_CANDIDATE_TYPES = {"local": "host", "host": "host", "serverreflexive": "srflx", "stun": "srflx",
                           "prflx": "prflx",
                           "peerreflexive": "prflx", "relayed": "relay", "relay": "relay"}


def _is_stats(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) and (
        "id" in value or "timestamp" in value)


def _report(value: Any) -> list[dict[str, Any]] | None:
    """One report (array of dictionaries, or map id -> dictionary) as a list; None when it is not one."""
    if isinstance(value, list) and value and all(_is_stats(v) for v in value[:50]):
        return [v for v in value if _is_stats(v)]
    if isinstance(value, dict) and value and all(_is_stats(v) for v in list(value.values())[:50]):
        return [{"id": key, **v} if "id" not in v else v for key, v in value.items() if _is_stats(v)]
    return None


def reports_of(document: Any, depth: int = 0) -> list[list[dict[str, Any]]]:
    """Every report in ``document``, oldest first; [] when there is none."""
    one = _report(document)
    if one is not None:
        return [one]
    if depth >= MAX_DEPTH:
        return []
    if isinstance(document, list):
        found = [_report(item) for item in document[:MAX_SNAPSHOTS]]
        if found and all(r is not None for r in found):
            return [r for r in found if r is not None]
        if len(document) <= MAX_SNAPSHOTS:  # wrapped snapshots: [{"timestamp": ..., "stats": [...]}, ...]
            nested = [reports_of(item, depth + 1) for item in document]
            if nested and all(len(n) == 1 for n in nested):
                return [n[0] for n in nested]
        return []
    if isinstance(document, dict):
        for key in _WRAPPERS:
            if key in document:
                inner = reports_of(document[key], depth + 1)
                if inner:
                    return inner
    return []


def _float_or_text(value: str) -> int | float | str:
    """Legacy stats values are all strings: numbers become numbers, the rest stays text."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if number == number and abs(number) != float("inf") else value  # no NaN/inf


def _legacy(stats: dict[str, Any]) -> dict[str, Any]:
    kind = stats["type"]
    if kind not in _LEGACY_TYPES:
        return stats
    out: dict[str, Any] = {"type": _LEGACY_TYPES[kind]}
    for name, value in stats.items():
        if name == "type":
            continue
        if isinstance(value, str) and value in ("true", "false"):
            value = value == "true"
        elif isinstance(value, str) and name not in ("id", "ipAddress") and not name.endswith("Id"):
            value = _float_or_text(value)
        out[_LEGACY_FIELDS.get(name, name)] = value
    if "candidateType" in out:
        out["candidateType"] = _LEGACY_CANDIDATE_TYPES.get(str(out["candidateType"]), out["candidateType"])
    if kind == "googCandidatePair":
        if out.get("nominated") is True:
            out["state"] = "succeeded"
        if isinstance(out.get("googRtt"), int | float) and not isinstance(out.get("googRtt"), bool):
            out["currentRoundTripTime"] = out["googRtt"] / 1000  # legacy: ms; standard: seconds
    return out


def _legacy_pair_candidates(pair: dict[str, Any]) -> list[dict[str, Any]]:
    """Older legacy pairs name no candidate ids, only ``googLocalAddress`` ("10.0.0.1:5000"),
    ``googLocalCandidateType`` ("local", "stun", "prflx", "relay") and ``googTransportType``: the pair's
    candidates are made from those, with ids derived from the pair's."""
    made: list[dict[str, Any]] = []
    for side, kind in (("Local", "local-candidate"), ("Remote", "remote-candidate")):
        key = f"{side[0].lower()}{side[1:]}CandidateId"
        address = pair.get(f"goog{side}Address")
        if key in pair or not isinstance(address, str) or ":" not in address:
            continue
        host, _, port = address.rpartition(":")
        candidate_id = f"{pair.get('id', 'pair')}-{side.lower()}"[:300]
        made.append({"id": candidate_id, "type": kind, "timestamp": pair.get("timestamp"),
                     "address": host.strip("[]"), "port": _float_or_text(port),
                     "protocol": pair.get("googTransportType", ""),
                     "candidateType": _LEGACY_CANDIDATE_TYPES.get(str(pair.get(f"goog{side}CandidateType")),
                                                                  pair.get(f"goog{side}CandidateType", ""))})
        pair[key] = candidate_id
    return made


def parse_getstats(data: bytes | str, source: str) -> InternalsDump:
    """Parse a (decompressed) getStats JSON file; :class:`EvidenceError` when it holds no report."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise EvidenceError(f"{source}: not getStats output (not valid JSON: {str(exc)[:120]})") from None
    reports = reports_of(document)
    if not reports:
        raise EvidenceError(f"{source}: not getStats output (no RTCStats dictionaries with id and type)")
    dump = InternalsDump(source=source)
    if len(reports) > MAX_SNAPSHOTS:
        dump.notes.append(f"only the first {MAX_SNAPSHOTS} of {len(reports)} getStats reports read")
    pc = PeerConnection(key="getStats", stats_only=True)
    for report in reports[:MAX_SNAPSHOTS]:
        legacy = [_legacy(raw) for raw in report]
        for stats in [s for s in legacy if s["type"] == "candidate-pair" and "googLocalAddress" in s]:
            legacy += _legacy_pair_candidates(stats)
        for stats in legacy:
            stats_id = str(stats.get("id", ""))[:300]
            obj = pc.stats.get(stats_id)
            if obj is None:
                if len(pc.stats) >= MAX_STATS_OBJECTS:
                    continue
                obj = pc.stats[stats_id] = StatsObject(id=stats_id, type=str(stats["type"])[:100])
            for name, value in list(stats.items())[:MAX_FIELDS]:
                if name == "id":
                    continue
                series = obj.raw.get(name)
                if series is None:
                    series = obj.raw[str(name)[:200]] = []
                if isinstance(series, list):
                    series.append(value)
    dump.peer_connections = [pc]
    stamps = [s.number("timestamp") for s in pc.stats.values()]
    known = [t for t in stamps if t is not None]
    dump.timestamp_ms = max(known) if known else None  # the last snapshot: the evidence ends there
    return dump

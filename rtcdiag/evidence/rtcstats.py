"""Parse an rtcstats dump (chrome://webrtc-internals' second download, or the rtcstats.js library's) into the
same typed values as a webrtc-internals dump, so every rule reads both.

Format: a ``RTCStatsDump`` line, a JSON line with ``fileFormat``, then one JSON array per line:
``[method, pcId, value, ..., Δt]``. The last element is the time since the previous line in ms; the first
``create`` line (pcId null) carries the absolute start time instead. ``create`` lines open a peer connection
(value: its configuration, then the page URL); ``navigator.mediaDevices.getUserMedia`` lines (pcId
``"<rid>-0"``) are the media requests, with the request id after the value; ``getStats``/``getstats`` lines
hold a report (``{id: stats}``) that may be delta-compressed (only changed fields): merged in order here, and
only the last value of each field is kept, with the history (time, value) of the few fields the ``--html``
charts draw (rtcdiag.evidence.series.HISTORY_FIELDS, bounded). Every other method is an update-log event.
"""

from __future__ import annotations

import json
from typing import Any

from rtcdiag.evidence.series import HISTORY_FIELDS, MAX_HISTORY
from rtcdiag.evidence.sniff import EvidenceError
from rtcdiag.evidence.webrtc_internals import (
    MAX_EVENTS,
    MAX_GUM_ENTRIES,
    MAX_PEER_CONNECTIONS,
    GetUserMediaEntry,
    InternalsDump,
    PeerConnection,
    StatsObject,
    UpdateEvent,
    canonical_event,
    server_urls,
    value_text,
)

MAX_LINES = 5_000_000
MAX_LINE_CHARS = 4_000_000
MAX_STATS_OBJECTS = 5_000  # per peer connection
_GUM = "navigator.mediaDevices.getUserMedia"
_DISPLAY = "navigator.mediaDevices.getDisplayMedia"


def _gum(method: str, line: list[Any], stamp: float) -> GetUserMediaEntry | None:
    kind = "getDisplayMedia" if method.startswith(_DISPLAY) else "getUserMedia"
    request_id = value_text(line[3])[:80] if len(line) > 4 else ""
    value = line[2]
    if method in (_GUM, _DISPLAY):
        constraints = value if isinstance(value, dict) else {}
        return GetUserMediaEntry(
            request_id=request_id, request_type=kind, timestamp_ms=stamp,
            audio=value_text(constraints["audio"])[:2000] if "audio" in constraints else None,
            video=value_text(constraints["video"])[:2000] if "video" in constraints else None,
            origin=value_text(line[4])[:500] if len(line) > 5 else "")
    if method.endswith("OnFailure"):
        error = value if isinstance(value, dict) else {"error": value_text(value)}
        return GetUserMediaEntry(request_id=request_id, request_type=kind, timestamp_ms=stamp,
                                 error=value_text(error.get("error"))[:200] or "Error",
                                 error_message=value_text(error.get("error_message"))[:2000])
    if method.endswith("OnSuccess"):
        return GetUserMediaEntry(request_id=request_id, request_type=kind, timestamp_ms=stamp,
                                 stream_id=value_text(value)[:200])
    return None


def _merge_stats(pc: PeerConnection, report: Any, clock: float) -> None:
    """Merge one (maybe delta-compressed) report; the fields charts draw keep their history, timed by the
    line's clock (``--html``: rtcdiag.evidence.series)."""
    if not isinstance(report, dict):
        return
    for stats_id, stats in report.items():
        if not isinstance(stats, dict):
            continue
        obj = pc.stats.get(stats_id)
        if obj is None:
            if len(pc.stats) >= MAX_STATS_OBJECTS:
                continue
            kind = stats.get("type")
            obj = pc.stats[stats_id] = StatsObject(id=str(stats_id)[:300],
                                                   type=kind[:100] if isinstance(kind, str) else "")
        charted = HISTORY_FIELDS.get(obj.type)
        if charted:  # the few fields charts draw keep (time, value) of every report (bounded)
            kept = pc.stats_history.setdefault(obj.id, {})
            for key in charted & stats.keys():
                history = kept.setdefault(key, [])
                if len(history) < MAX_HISTORY:
                    history.append((clock, stats[key]))
        for name, value in list(stats.items())[:200]:
            if name == "id":
                continue
            if name == "type" and isinstance(value, str):
                obj.type = value[:100]
            obj.raw[str(name)[:200]] = [value]


def parse_rtcstats(data: bytes | str, source: str) -> InternalsDump:
    """Parse a (decompressed) rtcstats dump; :class:`EvidenceError` when it is not one."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.splitlines()
    if not lines or not lines[0].strip().startswith("RTCStatsDump"):
        raise EvidenceError(f"{source}: not an rtcstats dump (no RTCStatsDump header)")
    dump = InternalsDump(source=source)
    pcs: dict[str, PeerConnection] = {}
    clock: float | None = None
    read = 0
    for number, raw in enumerate(lines[2:MAX_LINES], start=3):
        raw = raw.strip().rstrip(",")
        if not raw:
            continue
        if len(raw) > MAX_LINE_CHARS:
            dump.notes.append(f"line {number}: longer than {MAX_LINE_CHARS} characters, skipped")
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            if number == len(lines):  # the download was cut: keep what came before
                dump.notes.append(f"line {number}: truncated, ignored")
                continue
            raise EvidenceError(f"{source}: not an rtcstats dump (line {number} is not JSON)") from None
        if not isinstance(line, list) or len(line) < 3 or not isinstance(line[0], str):
            continue
        read += 1
        method, pc_id = line[0][:200], line[1]
        delta = line[-1] if isinstance(line[-1], int | float) and not isinstance(line[-1], bool) else 0.0
        clock = float(delta) if clock is None else clock + float(delta)
        if method == "create" and pc_id is None:
            value = line[2] if isinstance(line[2], dict) else {}
            agent = value.get("userAgent")
            dump.user_agent = value_text(agent)[:500] if agent else dump.user_agent
            continue
        if method.startswith((_GUM, _DISPLAY)):
            entry = _gum(method, line, clock)
            if entry is not None and len(dump.get_user_media) < MAX_GUM_ENTRIES:
                dump.get_user_media.append(entry)
            continue
        if not isinstance(pc_id, str):
            continue
        pc = pcs.get(pc_id)
        if pc is None:
            if len(pcs) >= MAX_PEER_CONNECTIONS:
                continue
            pc = pcs[pc_id] = PeerConnection(key=pc_id[:100])
        if method == "create":
            pc.configuration = value_text(line[2])[:20000]
            pc.ice_servers, pc.ice_transport_policy = server_urls(pc.configuration)
            pc.url = value_text(line[3])[:2000] if len(line) > 4 else ""
        elif method.lower() == "getstats":
            _merge_stats(pc, line[2], clock)
        elif len(pc.events) < MAX_EVENTS:
            pc.events.append(UpdateEvent(type=canonical_event(method), value=value_text(line[2]),
                                         timestamp_ms=clock))
    if read == 0:
        raise EvidenceError(f"{source}: an rtcstats dump with no records")
    dump.peer_connections = list(pcs.values())
    dump.timestamp_ms = clock  # the last record: the dump was made at or after it
    return dump

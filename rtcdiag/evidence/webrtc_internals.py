"""Parse a chrome://webrtc-internals dump ("Download the webrtc-internals dump") into typed values.

Layout (Chromium's webrtc_internals.js, ``dumpJson``):

- ``getUserMedia``: a list of requests (``request_type``, ``request_id``, ``audio``/``video`` constraints) and
  their results (``stream_id`` and track info, or ``error`` + ``error_message``);
- ``PeerConnections``: keyed ``"<rid>-<lid>"``, each with ``pid``, ``url``, ``rtcConfiguration`` (a JSON text:
  server URLs only, never credentials), ``updateLog`` (``{type, value, timestamp}``) and ``stats``
  (``"<statsId>-<field>"`` -> ``{statsType, startTime, endTime, values}``, ``values`` a JSON array in a
  string);
- ``UserAgent``.

Older Chromium wrote event names without ``on`` (``iceConnectionStateChange``), a ``time`` string instead of
``timestamp``, text values (``"type: offer, sdp: ..."``, ``"sdpMid: 0, ..., candidate: ..."``, unquoted
states)
and long stats ids (``RTCIceCandidatePair_AbCd_EfGh``); all are normalised here so the rules see one shape.

The dump is untrusted input: every count is bounded (what is dropped is said in ``notes``), strings are kept
as they are (escaped where they are shown) and nothing in it can raise anything but :class:`EvidenceError`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rtcdiag.evidence.sniff import EvidenceError

MAX_PEER_CONNECTIONS = 2000
MAX_EVENTS = 100_000  # update log entries per peer connection
MAX_STATS_SERIES = 200_000  # "<id>-<field>" series per peer connection
MAX_GUM_ENTRIES = 10_000
MAX_VALUE_CHARS = 1_000_000  # one event value (an SDP of a large conference is ~100 kB)
MAX_SERIES_CHARS = 4_000_000  # one stats series' values text

# Canonical event names, keyed by the lower-case name without a leading "on" (old dumps say
# "iceConnectionStateChange", "icecandidate", new ones "oniceconnectionstatechange").
_CANONICAL = {name.lower().removeprefix("on"): name for name in (
    "onsignalingstatechange", "onicegatheringstatechange", "oniceconnectionstatechange",
    "onconnectionstatechange", "onicecandidate", "onicecandidateerror", "onnegotiationneeded",
    "ondatachannel", "ontrack", "onaddstream", "onremovestream")}
_CANONICAL["icecandidateerror"] = "onicecandidateerror"
_CANONICAL["iceconnectionstatechange"] = "oniceconnectionstatechange"


def canonical_event(name: str) -> str:
    """``iceConnectionStateChange`` -> ``oniceconnectionstatechange``; other names unchanged."""
    return _CANONICAL.get(name.lower().removeprefix("on"), name)


@dataclass(frozen=True)
class UpdateEvent:
    """One entry of a peer connection's update log, as the page's API call or event."""

    type: str  # canonical name (see canonical_event)
    value: str
    timestamp_ms: float | None  # ms since the epoch (None when the dump gives none that parses)
    time_text: str = ""  # the dump's own time text (old dumps), for showing

    @property
    def when(self) -> str:
        if self.timestamp_ms is not None:
            try:
                return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
            except (OverflowError, OSError, ValueError):
                return f"{self.timestamp_ms:.0f}"
        return self.time_text or "-"


@dataclass
class StatsSeries:
    """One stats field over time; ``values`` is parsed on first use (most series are never read)."""

    stats_type: str
    raw_values: str | list[Any]
    _parsed: list[Any] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"StatsSeries({self.stats_type!r}, {len(self.raw_values)} values chars/items)"

    def values(self) -> list[Any]:
        if self._parsed is None:
            raw = self.raw_values
            parsed: Any = raw
            if isinstance(raw, str):
                try:
                    parsed = json.loads(raw) if len(raw) <= MAX_SERIES_CHARS else []
                except ValueError:
                    parsed = []
            self._parsed = parsed if isinstance(parsed, list) else []
        return self._parsed

    def last(self) -> Any:
        values = self.values()
        return values[-1] if values else None


@dataclass
class StatsObject:
    """One RTCStats object (``candidate-pair``, ``transport``, ...) with its series by field name."""

    id: str
    type: str
    series: dict[str, StatsSeries] = field(default_factory=dict)

    def last(self, name: str) -> Any:
        s = self.series.get(name)
        return None if s is None else s.last()

    def text(self, name: str) -> str:
        value = self.last(name)
        return "" if value is None else str(value)

    def number(self, name: str) -> float | None:
        """The last value as a finite float; None when absent, not a number, or not finite (a hostile
        dump's 1e999 or a 400-digit integer)."""
        value = self.last(name)
        try:
            if isinstance(value, bool) or not isinstance(value, int | float):
                number = float(str(value)) if value is not None else None
            else:
                number = float(value)
        except (ValueError, OverflowError):
            return None
        return number if number is None or math.isfinite(number) else None


@dataclass
class PeerConnection:
    key: str  # "<rid>-<lid>"
    url: str = ""
    pid: str = ""
    ice_servers: list[str] = field(default_factory=list)  # every URL of rtcConfiguration.iceServers
    ice_transport_policy: str = "all"
    configuration: str = ""  # rtcConfiguration as given (a JSON text; URLs only, never credentials)
    events: list[UpdateEvent] = field(default_factory=list)
    stats: dict[str, StatsObject] = field(default_factory=dict)
    # Stats id -> field -> (ms since the epoch, value) of every report, for the fields charts draw, where the
    # format keeps only each field's last value (rtcstats dumps; rtcdiag.evidence.series.HISTORY_FIELDS).
    stats_history: dict[str, dict[str, list[tuple[float, Any]]]] = field(default_factory=dict, repr=False)
    sdp_only: bool = False  # made from SDP files: descriptions, no ICE/DTLS events or stats
    stats_only: bool = False  # made from saved getStats output: stats over time, no update log

    def of_type(self, stats_type: str) -> list[StatsObject]:
        return [s for s in self.stats.values() if s.type == stats_type]

    def __repr__(self) -> str:  # short: a dump can be 100 MB (asyncio reprs a task's result on exit)
        return f"PeerConnection({self.key!r}, {len(self.events)} events, {len(self.stats)} stats objects)"


@dataclass(frozen=True)
class GetUserMediaEntry:
    request_id: str
    request_type: str  # getUserMedia / getDisplayMedia
    timestamp_ms: float | None
    audio: str | None = None  # constraints of a request (None on a result)
    video: str | None = None
    error: str = ""  # a failed result: NotAllowedError, NotFoundError, ...
    error_message: str = ""
    stream_id: str = ""  # a successful result
    origin: str = ""


@dataclass
class InternalsDump:
    source: str  # the file name, as given
    user_agent: str = ""
    timestamp_ms: float | None = None  # when the dump was made (newer Chromium); None when it does not say
    peer_connections: list[PeerConnection] = field(default_factory=list)
    get_user_media: list[GetUserMediaEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was bounded or could not be read

    def __repr__(self) -> str:
        return f"InternalsDump({self.source!r}, {len(self.peer_connections)} peer connections)"


def value_text(value: Any) -> str:
    """A dump value as bounded text: strings cut to MAX_VALUE_CHARS, anything else as JSON (or empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:MAX_VALUE_CHARS]
    try:
        return json.dumps(value)[:MAX_VALUE_CHARS]
    except (TypeError, ValueError):
        return ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


_TIME_FORMATS = ("%m/%d/%Y, %I:%M:%S %p", "%d/%m/%Y, %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


def parse_time_text(text: str) -> float | None:
    """An old dump's ``time`` string (the page's locale format) as ms since the epoch, or None."""
    text = text.strip()[:64]
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).timestamp() * 1000
        except ValueError:
            continue
    return None


def _event(raw: Any) -> UpdateEvent | None:
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        return None
    stamp = _number(raw.get("timestamp"))
    time_text = raw.get("time") if isinstance(raw.get("time"), str) else ""
    if stamp is None and time_text:
        stamp = parse_time_text(time_text)
    return UpdateEvent(type=canonical_event(kind[:200]), value=value_text(raw.get("value")),
                       timestamp_ms=stamp, time_text=str(time_text)[:64])


def server_urls(configuration: str) -> tuple[list[str], str]:
    """Every server URL and the iceTransportPolicy of an rtcConfiguration text (JSON, or the old
    ``{iceServers: [turn:..., stun:...], iceTransportPolicy: relay, ...}`` text)."""
    urls: list[str] = []
    policy = "all"
    try:
        parsed = json.loads(configuration)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        servers = parsed.get("iceServers")
        for server in servers if isinstance(servers, list) else []:
            entry = server.get("urls") if isinstance(server, dict) else None
            if entry is None and isinstance(server, dict):
                entry = server.get("url")
            for url in [entry] if isinstance(entry, str) else entry if isinstance(entry, list) else []:
                if isinstance(url, str):
                    urls.append(url[:500])
        if isinstance(parsed.get("iceTransportPolicy"), str):
            policy = parsed["iceTransportPolicy"][:20]
    else:
        urls = re.findall(r"\b(?:stuns?|turns?):[^\s,\]\[}{\"']+", configuration)[:100]
        found = re.search(r"iceTransportPolicy\W+(\w+)", configuration)
        if found:
            policy = found.group(1)
    return urls[:100], policy


def _peer_connection(key: str, raw: Any, notes: list[str]) -> PeerConnection:
    pc = PeerConnection(key=key[:100])
    if not isinstance(raw, dict):
        notes.append(f"peer connection {pc.key}: not an object, skipped")
        return pc
    pc.url = value_text(raw.get("url"))[:2000]
    pc.pid = value_text(raw.get("pid"))[:20]
    config = raw.get("rtcConfiguration")
    pc.configuration = value_text(config)[:20000]
    pc.ice_servers, pc.ice_transport_policy = server_urls(pc.configuration)
    log = raw.get("updateLog")
    if isinstance(log, list):
        if len(log) > MAX_EVENTS:
            notes.append(f"peer connection {pc.key}: only the first {MAX_EVENTS} of {len(log)} events read")
        for item in log[:MAX_EVENTS]:
            event = _event(item)
            if event is not None:
                pc.events.append(event)
    stats = raw.get("stats")
    if isinstance(stats, dict):
        if len(stats) > MAX_STATS_SERIES:
            notes.append(f"peer connection {pc.key}: only {MAX_STATS_SERIES} of {len(stats)} stats series "
                         "read")
        for count, (name, series) in enumerate(stats.items()):
            if count >= MAX_STATS_SERIES:
                break
            if not isinstance(name, str) or not isinstance(series, dict) or "-" not in name:
                continue
            stats_id, _, field_name = name.rpartition("-")  # ids contain '-', field names never do
            stats_type = series.get("statsType")
            values = series.get("values")
            if not isinstance(stats_type, str) or not isinstance(values, str | list):
                continue
            obj = pc.stats.get(stats_id)
            if obj is None:
                obj = pc.stats[stats_id] = StatsObject(id=stats_id[:300], type=stats_type[:100])
            obj.series[field_name[:200]] = StatsSeries(stats_type=stats_type[:100], raw_values=values)
    return pc


def _gum(raw: Any) -> GetUserMediaEntry | None:
    if not isinstance(raw, dict):
        return None

    def text(name: str, limit: int = 2000) -> str:
        return value_text(raw.get(name))[:limit]

    return GetUserMediaEntry(
        request_id=text("request_id", 40) or text("rid", 40), request_type=text("request_type", 40),
        timestamp_ms=_number(raw.get("timestamp")),
        audio=text("audio") if "audio" in raw else None, video=text("video") if "video" in raw else None,
        error=text("error", 200), error_message=text("error_message"), stream_id=text("stream_id", 200),
        origin=text("origin", 500))


def parse_internals(data: bytes | str, source: str) -> InternalsDump:
    """Parse a (decompressed) dump; raise :class:`EvidenceError` when it is not one (or is truncated)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        reason = "truncated" if isinstance(exc, ValueError) and "Expecting" in str(exc) else "not valid JSON"
        raise EvidenceError(f"{source}: not a webrtc-internals dump ({reason}: {str(exc)[:120]})") from None
    if not isinstance(document, dict) or not isinstance(document.get("PeerConnections", {}), dict) or not (
            "PeerConnections" in document or "getUserMedia" in document):
        raise EvidenceError(f"{source}: not a webrtc-internals dump (no PeerConnections or getUserMedia)")
    dump = InternalsDump(source=source, user_agent=value_text(document.get("UserAgent"))[:500],
                         timestamp_ms=_number(document.get("timestamp")))
    pcs = document.get("PeerConnections") or {}
    if len(pcs) > MAX_PEER_CONNECTIONS:
        dump.notes.append(f"only the first {MAX_PEER_CONNECTIONS} of {len(pcs)} peer connections read")
    for count, (key, raw) in enumerate(pcs.items()):
        if count >= MAX_PEER_CONNECTIONS:
            break
        dump.peer_connections.append(_peer_connection(str(key), raw, dump.notes))
    gum = document.get("getUserMedia")
    if isinstance(gum, list):
        for raw in gum[:MAX_GUM_ENTRIES]:
            entry = _gum(raw)
            if entry is not None:
                dump.get_user_media.append(entry)
    elif isinstance(gum, dict):  # some versions keyed the requests by id
        for raw in list(gum.values())[:MAX_GUM_ENTRIES]:
            entry = _gum(raw)
            if entry is not None:
                dump.get_user_media.append(entry)
    return dump


# ---- values of update-log events (new: JSON; old: text) -------------------------------------------------

def state_value(value: str) -> str:
    """A state-change event's state: ``"\\"connected\\""`` (new) or ``connected`` (old)."""
    text = value.strip()
    if text.startswith('"'):
        try:
            loaded = json.loads(text)
            if isinstance(loaded, str):
                return loaded[:40]
        except ValueError:
            pass
    return text.strip('"')[:40]


@dataclass(frozen=True)
class Description:
    type: str  # offer / answer / pranswer / rollback, or "" when the value does not say
    sdp: str


def description_value(value: str) -> Description | None:
    """``{"type":"offer","sdp":"..."}`` (new) or ``type: offer, sdp: v=0...`` (old); None when empty."""
    text = value.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            return Description(type=str(loaded.get("type") or "")[:20], sdp=str(loaded.get("sdp") or ""))
    found = re.match(r"type:\s*(\w+),\s*sdp:\s*(.*)", value.lstrip(), re.S)
    if found:
        return Description(type=found.group(1)[:20], sdp=found.group(2))
    found_type = re.match(r"\(?type:\s*\"?(\w+)", text)
    return Description(type=found_type.group(1)[:20] if found_type else "", sdp="")


def fields_value(value: str) -> dict[str, str]:
    """A JSON object event value (new) or ``key: value`` lines / comma-separated pairs (old), as strings."""
    text = value.strip()
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            return {str(k)[:100]: value_text(v)[:5000] for k, v in list(loaded.items())[:50]}
    out: dict[str, str] = {}
    # Old: "sdpMid: 0, sdpMLineIndex: 0, candidate: candidate:..." or "url: ...\naddress: ...".
    for part in re.split(r"\n|,\s(?=\w+:\s)", text)[:50]:
        key, sep, rest = part.partition(":")
        if sep and re.fullmatch(r"\s*\w+\s*", key):
            out[key.strip()[:100]] = rest.strip()[:5000]
    return out

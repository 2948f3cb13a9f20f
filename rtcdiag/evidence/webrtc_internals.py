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

import itertools
import json
import json.scanner
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

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
    known = _CANONICAL_OF.get(name)
    if known is None:
        known = _CANONICAL.get(name.lower().removeprefix("on"), name)
        if len(_CANONICAL_OF) < 1000:  # a dump names a few dozen kinds of event; a hostile one, any number
            _CANONICAL_OF[name] = known
    return known


_CANONICAL_OF: dict[str, str] = {}  # canonical_event's answers, by the name as written


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


def _scan_value(text: str, index: int) -> tuple[Any, int]:
    """The JSON value at ``text[index]`` and the index after it (the C scanner of :mod:`json`, on a slice of a
    big text without copying it); :class:`json.JSONDecodeError` when there is none."""
    try:
        return _SCAN(text, index)
    except StopIteration:
        raise json.JSONDecodeError("Expecting value", text, index) from None


_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, json.scanner).make_scanner(json.JSONDecoder())


def loads(text: str) -> Any:
    """``json.loads(text)`` (the same value, the same errors), a JSON value with nothing around it (the
    usual case: a stats series, an event's value) read in one call of the C scanner."""
    try:
        parsed, end = _SCAN(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):  # blanks around, extra data, nothing: json.loads' own rules (and errors)
        parsed = json.loads(text)
    return parsed


def parse_series(raw: str) -> list[Any]:
    """A stats series' ``values`` text as a list ([] when it is not a JSON array, too long or nested too
    deep)."""
    if len(raw) > MAX_SERIES_CHARS:
        return []
    try:
        parsed = loads(raw)
    except (ValueError, RecursionError):
        return []
    return parsed if isinstance(parsed, list) else []


class StatsSeries:
    """One field of a stats object over time (a view: the object keeps the values)."""

    __slots__ = ("_owner", "name")

    def __init__(self, owner: StatsObject, name: str) -> None:
        self._owner = owner
        self.name = name

    def __repr__(self) -> str:
        return f"StatsSeries({self._owner.type!r}, {self.name!r}, {len(self.raw_values)} values chars/items)"

    @property
    def stats_type(self) -> str:
        return self._owner.type

    @property
    def raw_values(self) -> str | list[Any]:
        return self._owner.raw[self.name]

    def values(self) -> list[Any]:
        return self._owner.values(self.name)

    def last(self) -> Any:
        return self._owner.last(self.name)


class SeriesView(Mapping[str, StatsSeries]):
    """A stats object's series by field name."""

    __slots__ = ("_owner",)

    def __init__(self, owner: StatsObject) -> None:
        self._owner = owner

    def __getitem__(self, name: str) -> StatsSeries:
        if name not in self._owner.raw:
            raise KeyError(name)
        return StatsSeries(self._owner, name)

    def __contains__(self, name: object) -> bool:
        return name in self._owner.raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._owner.raw)

    def __len__(self) -> int:
        return len(self._owner.raw)


@dataclass(slots=True)
class StatsObject:
    """One RTCStats object (``candidate-pair``, ``transport``, ...): ``raw`` holds each field's values as the
    evidence gave them (a JSON array text in a webrtc-internals dump, a list elsewhere), parsed on first use
    (most series are never read: a dump of many connections has hundreds of thousands)."""

    id: str
    type: str
    raw: dict[str, str | list[Any]] = field(default_factory=dict)
    parsed: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    @property
    def series(self) -> SeriesView:
        return SeriesView(self)

    def values(self, name: str) -> list[Any]:
        """Every value of field ``name`` ([] when the object has no such field or its values do not parse)."""
        parsed = self.parsed.get(name)
        if parsed is None:
            raw = self.raw.get(name)
            if raw is None:
                return []
            parsed = self.parsed[name] = parse_series(raw) if isinstance(raw, str) else raw
        return parsed

    # last() and text() are read tens of thousands of times in a dump of many connections (each candidate's
    # address, port, type...): the parsed values are looked up here, values() called only the first time.
    def last(self, name: str) -> Any:
        values = self.parsed.get(name)
        if values is None:
            values = self.values(name)
        return values[-1] if values else None

    def text(self, name: str) -> str:
        values = self.parsed.get(name)
        if values is None:
            values = self.values(name)
        if not values:
            return ""
        value = values[-1]
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
    # What the stats came from, in the words of a report ("getStats output", "the Firefox report").
    stats_source: str = "getStats output"
    # Would a TURN/STUN server's error be in this evidence (Chromium's onicecandidateerror events)? False for
    # a Firefox report read without its ICE log: no relay candidate is then unexplained, not "no error".
    candidate_errors_recorded: bool = True
    ice_restarts: int | None = None  # how many ICE restarts the browser counted (Firefox's iceRestarts)
    ice_rollbacks: int | None = None  # Firefox's iceRollbacks
    native_id: str = ""  # the browser's own name of the connection (Firefox's pcid)
    check_log: list[str] = field(default_factory=list)  # what an ICE log says of its checks (evidence lines)

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
        if value.__class__ is int:  # json.dumps of an int is its decimal text, made slower (a bool is no int)
            return str(value)[:MAX_VALUE_CHARS]
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
    """One update-log entry (a JSON object: its values are exactly str, int, float, ..., never subclasses)."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        return None
    stamp = raw.get("timestamp")
    stamp = float(stamp) if stamp.__class__ is float or stamp.__class__ is int else _number(stamp)
    time_text = raw.get("time")
    if not isinstance(time_text, str):
        time_text = ""
    elif stamp is None and time_text:
        stamp = parse_time_text(time_text)
    value = raw.get("value")
    return UpdateEvent(type=canonical_event(kind[:200]),
                       value=value[:MAX_VALUE_CHARS] if value.__class__ is str else value_text(value),
                       timestamp_ms=stamp, time_text=time_text[:64])


def server_urls(configuration: str) -> tuple[list[str], str]:
    """Every server URL and the iceTransportPolicy of an rtcConfiguration text (JSON, or the old
    ``{iceServers: [turn:..., stun:...], iceTransportPolicy: relay, ...}`` text)."""
    urls: list[str] = []
    policy = "all"
    try:
        parsed = loads(configuration)
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


def _read_stats(stats: dict[str, Any], objects: dict[str, StatsObject]) -> None:
    """Every ``"<statsId>-<field>": {statsType, values, ...}`` series into its stats object; a series that is
    not one (no '-', no statsType text, values neither text nor a list) is skipped. The hot loop of a dump of
    many connections (hundreds of thousands of series): nothing in it that is not needed. Chromium writes
    one object's series one after the other: the object of the previous series is reused without a look-up.
    (The values come from JSON: a str is a str, never a subclass.)"""
    last_id: str | None = None
    raw: dict[str, str | list[Any]] = {}
    for name, series in itertools.islice(stats.items(), MAX_STATS_SERIES):
        stats_id, dash, field_name = name.rpartition("-")  # ids contain '-', field names never do
        if not dash or series.__class__ is not dict:
            continue
        try:  # (subscripts: a method call each cost more)
            stats_type = series["statsType"]
            values = series["values"]
        except KeyError:
            continue
        if stats_type.__class__ is not str or (values.__class__ is not str and values.__class__ is not list):
            continue
        if stats_id != last_id:
            obj = objects.get(stats_id)
            if obj is None:
                obj = objects[stats_id] = StatsObject(stats_id[:300], stats_type[:100])
            raw, last_id = obj.raw, stats_id
        raw[field_name[:200]] = values


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
        _read_stats(stats, pc.stats)
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


_SPACE = re.compile(r"[ \t\n\r]*")


def _space(text: str, index: int) -> int:
    found = _SPACE.match(text, index)
    return found.end() if found else index


def _walk_object(text: str, index: int, member: Callable[[str, int], int]) -> int:
    """Walk the JSON object at ``text[index]`` (``{``) member by member: ``member(key, value index)``
    reads the value and returns the index after it. Returns the index after the ``}``. The errors are
    json's own (:class:`json.JSONDecodeError`, "Expecting ..." when the text ends early)."""
    index = _space(text, index + 1)
    if text.startswith("}", index):
        return index + 1
    while True:
        if not text.startswith('"', index):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, index)
        key, index = _scan_value(text, index)  # a JSON string: it starts with '"'
        index = _space(text, index)
        if not text.startswith(":", index):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, index)
        index = _space(text, member(key, _space(text, index + 1)))
        if text.startswith("}", index):
            return index + 1
        if not text.startswith(",", index):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, index)
        index = _space(text, index + 1)


def _read_document(text: str, dump: InternalsDump) -> dict[str, Any] | None:
    """The top-level object with its peer connections read one at a time into ``dump`` (each one's JSON is
    dropped once it is typed, so a dump of thousands of connections never exists twice in memory, issue
    19): the other top-level members, as parsed. None when the text is not a JSON object."""
    index = _space(text, 0)
    if not text.startswith("{", index):
        return None
    document: dict[str, Any] = {}
    connections: dict[str, PeerConnection] = {}
    skipped: set[str] = set()

    def peer_connection(key: str, at: int) -> int:
        raw, after = _scan_value(text, at)
        if key in connections or len(connections) < MAX_PEER_CONNECTIONS:
            connections[key] = _peer_connection(key, raw, dump.notes)
        else:
            skipped.add(key)
        return int(after)

    def top(key: str, at: int) -> int:
        if key == "PeerConnections" and text.startswith("{", at):
            connections.clear()
            skipped.clear()
            document[key] = connections
            return _walk_object(text, at, peer_connection)
        value, after = _scan_value(text, at)
        document[key] = value
        return int(after)

    index = _space(text, _walk_object(text, index, top))
    if index != len(text):
        raise json.JSONDecodeError("Extra data", text, index)
    if skipped:
        dump.notes.append(f"only the first {MAX_PEER_CONNECTIONS} of {len(connections) + len(skipped)} peer "
                          "connections read")
    return document


def parse_internals(data: bytes | str, source: str) -> InternalsDump:
    """Parse a (decompressed) dump; raise :class:`EvidenceError` when it is not one (or is truncated)."""
    dump = InternalsDump(source=source)
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        document = _read_document(text, dump)
        if document is None:  # not an object: json's own error when it is not JSON at all
            json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = "truncated" if isinstance(exc, ValueError) and "Expecting" in str(exc) else "not valid JSON"
        raise EvidenceError(f"{source}: not a webrtc-internals dump ({reason}: {str(exc)[:120]})") from None
    if document is None or not isinstance(document.get("PeerConnections", {}), dict) or not (
            "PeerConnections" in document or "getUserMedia" in document):
        raise EvidenceError(f"{source}: not a webrtc-internals dump (no PeerConnections or getUserMedia)")
    dump.user_agent = value_text(document.get("UserAgent"))[:500]
    dump.timestamp_ms = _number(document.get("timestamp"))
    dump.peer_connections = list((document.get("PeerConnections") or {}).values())
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
        inner = text[1:-1]
        if text.endswith('"') and len(text) > 1 and '"' not in inner and "\\" not in inner:
            return inner[:40]  # a JSON string without escapes is its own text (json.loads: the same, slower)
        try:
            loaded = loads(text)
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
            loaded = loads(text)
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
            loaded = loads(text)
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

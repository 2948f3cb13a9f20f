"""Read Firefox's ICE log: about:webrtc's "Connection Log" (``WebrtcGlobalInformation.getLogging()``), the
lines nICEr writes while gathering and checking (``ICE(PC:…)``, ``STUN-CLIENT(…)``, ``TURN(…)``,
``ICE-PEER(PC:…)/CAND-PAIR(…)``).

It is what Firefox's report JSON lacks: why a TURN server gave no relay candidate. A relay candidate is
named ``relay(BASE|SERVER)`` (nICEr's ``nr_ice_candidate_format_stun_label``): its Allocate is answered
(``Error processing response: … stun error code 401.``), times out (``Timed out``), or its TCP connection is
refused (``Error 10 on reliable socket … Abandoning.``); then ``TURN(relay(…)) failed`` or ``Succesfully
allocated``; ``ICE(PC:<pcid>)/CAND(relay(…)): failed to initialize`` names the peer connection. A 401 is
the first answer of every healthy allocation too (the challenge, RFC 8656 §7.2): only a relay that then
failed counts. The log has no timestamps.

Untrusted input: line count and length are bounded, and nothing here raises on any text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

MAX_LOG_LINES = 200_000
MAX_LINE_CHARS = 4_000

_PC = r"PC:(\{[0-9a-fA-F-]{1,64}\})"
_RELAY = r"relay\(([^|()]{1,200})\|([^()]{1,300})\)"
_ERROR_CODE = re.compile(r"^STUN-CLIENT\(" + _RELAY + r"::TURN\): .*stun error code (\d{3})\.?\s*$")
_TIMED_OUT = re.compile(r"^STUN-CLIENT\(" + _RELAY + r"::TURN\): Timed out")
_ALLOCATED = re.compile(r"^TURN\(" + _RELAY + r"\): Succes+fully allocated addr (\S+)")
_FAILED = re.compile(r"^TURN\(" + _RELAY + r"\) failed")
_CAND_FAILED = re.compile(r"^ICE\(" + _PC + r".*?\)/CAND\(" + _RELAY + r"\): failed to initialize")
_SOCKET_ERROR = re.compile(r"^ICE\(" + _PC + r".*\): Error (\d+) on reliable socket")
_PAIR_STATE = re.compile(r"^ICE-PEER\(" + _PC + r".*/CAND-PAIR\(([^)]{1,20})\): setting pair to state "
                         r"(FAILED|SUCCEEDED): \S+\|(\S+)\|(\S+)\(")
_CHECKS_DONE = re.compile(r"^ICE-PEER\(" + _PC + r".*\): all checks completed success=(\d+) fail=(\d+)")
_ANY_PC = re.compile(_PC)
_MARKERS = ("ICE(PC:", "ICE-PEER(PC:", "ICE-STREAM(PC:", "STUN-CLIENT(", "TURN(relay(",
            "+++++++ BEGIN (process id")


@dataclass(frozen=True)
class TurnOutcome:
    """What became of one relay candidate's allocation at one TURN server, for one peer connection."""

    pc_uuid: str  # "{42fb399e-…}": the first word of the report's pcid
    server: str  # as nICEr names it: "IP4:127.0.0.1:3478/UDP" or "turn.example.com:3478"
    code: int | None  # the last STUN error code before it failed (None: no answer at all)
    timed_out: bool
    socket_error: bool  # the TCP/TLS connection to the server failed ("Error N on reliable socket")
    line: str  # the line that says it failed, for the evidence


@dataclass(frozen=True)
class PairOutcome:
    pc_uuid: str
    pair: str  # nICEr's codeword for the pair
    state: str  # FAILED / SUCCEEDED
    local: str
    remote: str


@dataclass
class IceLog:
    """The facts of one ICE log, by peer connection (the ``{uuid}`` of its pcid)."""

    source: str
    lines: int = 0
    pcs: set[str] = field(default_factory=set)  # every peer connection the log names
    failures: list[TurnOutcome] = field(default_factory=list)
    allocated: set[str] = field(default_factory=set)  # servers that gave some relay candidate
    pairs: list[PairOutcome] = field(default_factory=list)
    checks: dict[str, tuple[int, int]] = field(default_factory=dict)  # pc uuid -> (succeeded, failed)
    notes: list[str] = field(default_factory=list)


def looks_like_ice_log(text: str) -> bool:
    """Two or more lines of nICEr's log among the first ones."""
    head = text[:65536]
    return sum(head.count(marker) for marker in _MARKERS) >= 2


def log_lines(data: str) -> list[str]:
    """The lines of a log saved as text, or as the JSON array of strings ``getLogging`` gives."""
    text = data.lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except (ValueError, RecursionError):
            loaded = None
        if isinstance(loaded, list):
            return [str(x) for x in loaded[:MAX_LOG_LINES] if isinstance(x, str)]
    return text.splitlines()[:MAX_LOG_LINES]


def parse_ice_log(lines: list[str], source: str) -> IceLog:
    """The TURN outcomes, pair outcomes and check counts of a log, per peer connection."""
    log = IceLog(source=source, lines=len(lines))
    if len(lines) >= MAX_LOG_LINES:
        log.notes.append(f"only the first {MAX_LOG_LINES} lines of the ICE log read")
    codes: dict[str, int] = {}  # relay label -> last error code seen
    timeouts: set[str] = set()
    socket_errors: set[str] = set()  # pc uuids whose TCP connection to a TURN server failed
    failed_labels: dict[str, str] = {}  # relay label -> its "failed" line
    allocated_labels: set[str] = set()
    for raw in lines:
        line = raw[:MAX_LINE_CHARS].strip()
        for uuid in _ANY_PC.findall(line[:600])[:2]:
            log.pcs.add(uuid.lower())
        if (found := _ERROR_CODE.match(line)) is not None:
            codes[_label(found)] = int(found.group(3))
        elif (found := _TIMED_OUT.match(line)) is not None:
            timeouts.add(_label(found))
        elif (found := _ALLOCATED.match(line)) is not None:
            allocated_labels.add(_label(found))
        elif (found := _FAILED.match(line)) is not None:
            failed_labels[_label(found)] = line[:300]
        elif (found := _SOCKET_ERROR.match(line)) is not None:
            socket_errors.add(found.group(1).lower())
        elif (found := _CAND_FAILED.match(line)) is not None:
            uuid, label = found.group(1).lower(), f"{found.group(2)}|{found.group(3)}"
            # A candidate given up without an answer, a timeout or a refused connection was cancelled (the
            # RTCP component once BUNDLE settles): not a server's failure.
            answered = label in codes or label in timeouts or uuid in socket_errors
            if label not in failed_labels or not answered or label in allocated_labels or \
                    len(log.failures) >= 1000:
                continue
            log.failures.append(TurnOutcome(
                pc_uuid=uuid, server=found.group(3), code=codes.get(label), timed_out=label in timeouts,
                socket_error=uuid in socket_errors, line=failed_labels.get(label, line[:300])))
        elif (found := _PAIR_STATE.match(line)) is not None and len(log.pairs) < 2000:
            log.pairs.append(PairOutcome(found.group(1).lower(), found.group(2), found.group(3),
                                         found.group(4)[:120], found.group(5)[:120]))
        elif (found := _CHECKS_DONE.match(line)) is not None:
            log.checks[found.group(1).lower()] = (int(found.group(2)), int(found.group(3)))
    log.allocated = {label.partition("|")[2] for label in allocated_labels}
    return log


def _label(found: re.Match[str]) -> str:
    return f"{found.group(1)}|{found.group(2)}"


@dataclass(frozen=True)
class NicerAddress:
    host: str
    port: int
    transport: str  # udp / tcp


_ADDRESS = re.compile(r"^IP([46]):(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})/(UDP|TCP)$")
_NAMED = re.compile(r"^([A-Za-z0-9.-]{1,253}):(\d{1,5})$")


def nicer_address(text: str) -> NicerAddress | None:
    """``IP4:127.0.0.1:3478/UDP``, ``IP6:[::1]:3478/TCP`` or ``turn.example.com:3478`` (a name nICEr has not
    resolved yet: no transport)."""
    found = _ADDRESS.match(text.strip())
    if found is not None:
        return NicerAddress(found.group(2).strip("[]"), int(found.group(3)), found.group(4).lower())
    named = _NAMED.match(text.strip())
    if named is not None:
        return NicerAddress(named.group(1), int(named.group(2)), "")
    return None

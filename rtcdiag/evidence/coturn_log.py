"""coturn's log (``log-file``, with or without ``simple-log``; ``verbose`` logs the sessions): sessions with
user, realm, client and relay address, lifetime, closing reason and usage (``rp/rb/sp/sb``: received and
sent packets and bytes, client side and peer side), 401s per user, 403 peers, quota and capacity errors,
and the connections that closed before any request (:class:`EarlyClose`: a TLS handshake that failed, a
client that completed TLS and left, a bare TCP connect).

Lines start with the seconds since start (``12: : ``) or, with ``new-log-timestamp``, an ISO time
(``2026-11-29T03:50:28+0000: ``). Read line by line, each line bounded; sessions bounded.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from rtcdiag.textsafe import printable

MAX_LINE = 8192
MAX_SESSIONS = 100_000
MAX_EXAMPLES = 20

_PREFIX = re.compile(r"^(?:(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d{4}|Z)?):\s*)?"
                     r"(?:(?P<uptime>\d+):\s*)?(?::\s*)?(?:(?:INFO|WARNING|ERROR|DEBUG|CONTROL):\s*)?")
_NEW = re.compile(r"session (\d+): new, realm=<([^>]*)>, username=<([^>]*)>, lifetime=(\d+)"
                  r"(?:, cipher=([^,]*), method=(\S+))?")
_REFRESHED = re.compile(r"session (\d+): refreshed, realm=<[^>]*>, username=<[^>]*>, lifetime=(\d+)")
_USAGE = re.compile(r"session (\d+): (peer )?usage: realm=<([^>]*)>, username=<([^>]*)>, rp=(\d+), rb=(\d+), "
                    r"sp=(\d+), sb=(\d+)")
_CLOSED = re.compile(r"session (\d+): closed \(2nd stage\), user <([^>]*)> realm <([^>]*)> origin <[^>]*>, "
                     r"local (\S+), remote (\S+), reason: (.*)")
_PACKET = re.compile(r"session (\d+): realm <([^>]*)> user <([^>]*)>: incoming packet (\S+) processed, "
                     r"(?:success|error (\d+): ?(.*))")
_DENIED = re.compile(r"A peer IP (\S+) denied in the range: ?(.*)")
_RELAY = re.compile(r"Local relay addr: (\S+)")
_CONNECTED = re.compile(r"tcp or tls connected to: (\S+)")
# "IPv4. UDP listener opened on: 203.0.113.1:3478", "IPv6. TLS/TCP listener opened on : [::1]:5349"
_LISTENER = re.compile(r"(?:UDP|TCP|TLS/TCP|DTLS/UDP|DTLS|TLS) listener opened on\s*:\s*(\S+)")
MAX_LISTENERS = 64
# Why a 401 was given (coturn's check_stun_auth): the user is not in the database, or its key does not match
_NO_USER = re.compile(r"check_stun_auth: Cannot find credentials of user <([^>]*)>")
_BAD_KEY = re.compile(r"check_stun_auth: user (.*) credentials are incorrect")
_MARKERS = (b"Coturn-", b"STUN/TURN Server", b": session 0", b"Listener address to use", b"turnserver",
            b"realm=<", b"> user <", b"incoming packet ")


def looks_like_coturn_log(head: bytes) -> bool:
    """A coturn log from its first bytes: its banner, or (a rotated log) its session lines. JSON, rtcstats
    and SDP files are not logs even when they quote coturn's SOFTWARE string."""
    if b"\x00" in head[:4096] or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return False
    if head.lstrip()[:12] == b"RTCStatsDump" or head.lstrip()[:3] == b"v=0":
        return False
    return sum(marker in head for marker in _MARKERS) >= 2


class EarlyClose(StrEnum):
    """How a coturn session that never made a request ended (its ``closed (2nd stage)`` reason)."""

    TLS_FAILED = "TLS handshake failed"  # "TLS/TCP socket buffer operation error": coturn's SSL read failed
    TLS_CLOSED = "closed by the client after TLS"  # "TLS/TCP connection closed by client": no request
    TCP_CLOSED = "TCP closed by the client"  # "TCP connection closed by client": a connect (health checks)


# coturn 4.6 closing reasons (ns_turn_server.c / dtls_listener.c) -> what they say about the connection
_EARLY_REASONS = (("TLS/TCP socket buffer operation error", EarlyClose.TLS_FAILED),
                  ("TLS/TCP connection closed by client", EarlyClose.TLS_CLOSED),
                  ("TCP connection closed by client", EarlyClose.TCP_CLOSED))


@dataclass
class Session:
    id: str
    user: str = ""
    realm: str = ""
    client: str = ""
    relay: str = ""
    lifetime: int = 0
    transport: str = ""  # TLSv1.2 (from the cipher line) or ""
    opened: float | None = None  # seconds (uptime, or epoch with new-log-timestamp)
    closed: float | None = None
    reason: str = ""
    refreshes: int = 0
    requests: int = 0  # "incoming packet ... processed" lines: requests coturn handled for it
    closed_line: int = 0
    rp: int = 0  # client side: received packets/bytes, sent packets/bytes
    rb: int = 0
    sp: int = 0
    sb: int = 0
    peer_rp: int = 0  # peer side
    peer_rb: int = 0
    peer_sp: int = 0
    peer_sb: int = 0
    line: int = 0

    @property
    def bytes_total(self) -> int:
        return self.rb + self.sb

    @property
    def allocated(self) -> bool:
        """coturn logged its allocation ("new, realm=..."), with ``verbose``."""
        return self.opened is not None

    @property
    def early_close(self) -> EarlyClose | None:
        """How it ended when it closed before coturn handled any request of it (else None)."""
        if not self.reason or self.requests or self.allocated or self.user:
            return None
        return next((kind for text, kind in _EARLY_REASONS if self.reason.startswith(text)), None)


@dataclass
class Counted:
    count: int = 0
    lines: list[int] = field(default_factory=list)
    first: str = ""  # time of the first, as written in the log
    detail: str = ""

    def add(self, line: int, when: str, detail: str = "") -> None:
        if not self.count:
            self.first, self.detail = when, detail
        self.count += 1
        if len(self.lines) < MAX_EXAMPLES:
            self.lines.append(line)


@dataclass
class CoturnLog:
    source: str
    lines: int = 0
    absolute_times: bool = False  # new-log-timestamp: times are epoch seconds
    sessions: dict[str, Session] = field(default_factory=dict)
    sessions_dropped: int = 0
    auth_401: dict[str, Counted] = field(default_factory=dict)  # user -> authenticated requests refused
    peers_403: dict[str, Counted] = field(default_factory=dict)  # peer IP -> refused
    quota: dict[str, Counted] = field(default_factory=dict)  # "486 Allocation Quota Reached" -> ...
    # sessions that closed before any request, by how (the closing line numbers, first time, a client)
    early_closes: dict[EarlyClose, Counted] = field(default_factory=dict)
    refusal_reasons: dict[str, str] = field(default_factory=dict)  # user -> UNKNOWN_USER or WRONG_KEY
    first_time: float | None = None  # of the first line with a time
    last_time: float | None = None
    version: str = ""
    listeners: list[str] = field(default_factory=list)  # "ip:port" coturn listened on (its start lines)
    long_lines: int = 0
    notes: list[str] = field(default_factory=list)


def read_coturn_log(path: Path, source: str) -> CoturnLog:
    log = CoturnLog(source=source)
    pending_relay = ""
    pending_client = ""
    pending_peer = ""
    from rtcdiag.evidence.sniff import open_maybe_gzip

    with open_maybe_gzip(path) as handle:
        while True:
            try:
                raw = handle.readline(MAX_LINE)
            except (EOFError, OSError, zlib.error) as exc:  # a gzip log cut short: read up to there
                log.notes.append("reading stopped: compressed data cut short or damaged "
                                 f"({printable(str(exc))})")
                break
            if not raw:
                break
            if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
                log.long_lines += 1
                while True:  # skip the rest of an over-long line
                    rest = handle.readline(MAX_LINE)
                    if not rest or rest.endswith(b"\n"):
                        break
            log.lines += 1
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            prefix = _PREFIX.match(text)
            msg = text[prefix.end():] if prefix else text
            when_text = ""
            now: float | None = None
            if prefix and prefix.group("stamp"):
                when_text = prefix.group("stamp")
                now = _epoch(when_text)
                log.absolute_times = log.absolute_times or now is not None
            elif prefix and prefix.group("uptime"):
                when_text = f"{prefix.group('uptime')} s after start"
                now = float(prefix.group("uptime"))
            if now is not None:
                log.last_time = now
                if log.first_time is None:
                    log.first_time = now
            number = log.lines
            if "Version Coturn-" in msg and not log.version:
                log.version = printable(msg.split("Version ", 1)[1])[:60]
            if "session " not in msg:
                if "check_stun_auth" in msg:
                    _refusal_reason(log, msg)
                if "listener opened on" in msg and (m := _LISTENER.search(msg)) and \
                        len(log.listeners) < MAX_LISTENERS and m.group(1) not in log.listeners:
                    log.listeners.append(printable(m.group(1))[:64])
                elif m := _RELAY.search(msg):
                    pending_relay = m.group(1)
                elif m := _CONNECTED.search(msg):
                    pending_client = m.group(1)
                elif m := _DENIED.search(msg):
                    pending_peer = m.group(1)
                continue
            if m := _PACKET.search(msg):
                sid, _realm, user, _what, code, reason = m.groups()
                if (session := _session(log, sid, number)) is not None:
                    session.requests += 1
                if code == "401" and user:
                    _count(log.auth_401, printable(user)[:128], number, when_text, sid)
                elif code == "403" and "processed" in msg and _what != "message":
                    _count(log.peers_403, printable(pending_peer or "(not logged)")[:64], number, when_text,
                           printable(user)[:128])
                    pending_peer = ""
                elif code in ("486", "508") and _what != "message":
                    _count(log.quota, f"{code} {printable(reason or '')[:60]}".strip(), number, when_text,
                           printable(user)[:128])
                continue
            if m := _NEW.search(msg):
                session = _session(log, m.group(1), number)
                if session is None:
                    continue
                session.realm, session.user = printable(m.group(2))[:128], printable(m.group(3))[:128]
                session.lifetime = int(m.group(4))
                session.transport = printable(m.group(6) or "")[:20]
                session.opened = now
                session.relay = session.relay or pending_relay
                session.client = session.client or pending_client
                pending_relay = pending_client = ""
            elif m := _REFRESHED.search(msg):
                session = _session(log, m.group(1), number)
                if session is not None and int(m.group(2)):
                    session.refreshes += 1
            elif m := _USAGE.search(msg):
                session = _session(log, m.group(1), number)
                if session is None:
                    continue
                values = [int(v) for v in m.group(5, 6, 7, 8)]
                if m.group(2):
                    session.peer_rp, session.peer_rb, session.peer_sp, session.peer_sb = values
                else:
                    session.rp, session.rb, session.sp, session.sb = values
                session.user = session.user or printable(m.group(4))[:128]
            elif m := _CLOSED.search(msg):
                session = _session(log, m.group(1), number)
                if session is None:
                    continue
                session.user = session.user or printable(m.group(2))[:128]
                session.realm = session.realm or printable(m.group(3))[:128]
                session.client = printable(m.group(5))[:64]
                session.reason = printable(m.group(6))[:120]
                session.closed = now
                session.closed_line = number
                if (kind := session.early_close) is not None:
                    counted = log.early_closes.setdefault(kind, Counted())
                    counted.add(number, when_text, session.client)
    if log.long_lines:
        log.notes.append(f"{log.long_lines} line(s) longer than {MAX_LINE} bytes were cut")
    if log.sessions_dropped:
        log.notes.append(f"more than {MAX_SESSIONS} sessions: {log.sessions_dropped} line(s) of further "
                         "sessions not counted")
    return log


UNKNOWN_USER = "no such user"  # "Cannot find credentials of user <x>"
WRONG_KEY = "wrong password"  # "user x credentials are incorrect": the user exists, the key differs


def _refusal_reason(log: CoturnLog, msg: str) -> None:
    found, reason = _NO_USER.search(msg), UNKNOWN_USER
    if found is None:
        found, reason = _BAD_KEY.search(msg), WRONG_KEY
    if found is not None and len(log.refusal_reasons) < 1000:
        log.refusal_reasons.setdefault(printable(found.group(1))[:128], reason)


def _count(table: dict[str, Counted], key: str, line: int, when: str, detail: str = "") -> None:
    counted = table.get(key)
    if counted is None:
        if len(table) >= 1000:
            return
        counted = table[key] = Counted()
    counted.add(line, when, detail)


def _session(log: CoturnLog, sid: str, line: int) -> Session | None:
    session = log.sessions.get(sid)
    if session is None:
        if len(log.sessions) >= MAX_SESSIONS:
            log.sessions_dropped += 1
            return None
        session = log.sessions[sid] = Session(id=sid, line=line)
    return session


def _epoch(stamp: str) -> float | None:
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        try:
            return datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            return None

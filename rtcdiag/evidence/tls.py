"""TLS on a TCP flow as a capture shows it, without decryption (RFC 8446, RFC 5246): record headers, the
handshake messages sent in clear, alerts in clear, who closed the connection, and from these how the
handshake ended (:class:`TlsOutcome`).

What is readable depends on the version the ServerHello selected:

- TLS 1.2 and older: ClientHello, ServerHello, Certificate, ServerKeyExchange, ServerHelloDone, ... are in
  clear until ChangeCipherSpec, and so is an alert sent before it: a client refusing the server's
  certificate sends a readable fatal alert (``certificate_unknown`` 46, ``bad_certificate`` 42,
  ``unknown_ca`` 48, ...).
- TLS 1.3: only ClientHello and ServerHello are in clear; the server's certificate and the client's alert
  are encrypted (content type application_data, RFC 8446 §5.2). A client refusing the certificate shows as
  one short encrypted record (19 bytes with a 16-byte AEAD tag: an alert's size, never proof of one) and the
  client closing the connection without ever getting an answer to its Finished.

Bounded: each direction is read up to MAX_RECORDS records (the handshake is over by then; what follows is
encrypted application data), with a reassembly buffer of at most one record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rtcdiag.evidence.dtls import ALERT_NAMES, alert_text
from rtcdiag.evidence.observation import Observation

MAX_RECORDS = 64  # per direction
MAX_RECORD = (1 << 14) + 2048  # RFC 8446 §5.2: TLSCiphertext length limit
MAX_HANDSHAKE_NAMES = 16
NO_ANSWER_S = 2.0  # a ClientHello this long without any TLS record back: the server did not answer


class TlsVersion(StrEnum):
    UNKNOWN = "unknown"
    SSL_3_0 = "SSL 3.0"
    TLS_1_0 = "TLS 1.0"
    TLS_1_1 = "TLS 1.1"
    TLS_1_2 = "TLS 1.2"
    TLS_1_3 = "TLS 1.3"


WIRE_VERSIONS = {0x0300: TlsVersion.SSL_3_0, 0x0301: TlsVersion.TLS_1_0, 0x0302: TlsVersion.TLS_1_1,
                 0x0303: TlsVersion.TLS_1_2, 0x0304: TlsVersion.TLS_1_3}

# RFC 8446 §4 and RFC 5246 §7.4: handshake message types worth naming
HANDSHAKE_NAMES = {0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket",
                   8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange",
                   13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify",
                   16: "ClientKeyExchange", 20: "Finished", 22: "CertificateStatus"}


class TlsOutcome(StrEnum):
    """How a TLS connection's handshake ended, as far as the capture shows."""

    ESTABLISHED = "established"  # both sides went on past the handshake (application data answered)
    CLIENT_ALERT = "client alert"  # the client sent a readable fatal alert during the handshake
    CLIENT_ENDED = "ended by the client"  # the client's last word in the handshake went unanswered and the
    # connection closed, with no readable alert (TLS 1.3 encrypts it; or the client just closed)
    SERVER_ALERT = "server alert"  # the server sent a readable fatal alert
    SERVER_CLOSED = "closed by the server"  # the server closed mid-handshake, no readable alert
    NO_SERVER_HELLO = "not answered"  # the server sent no TLS record at all (silent, or closed)
    INCOMPLETE = "incomplete"  # the capture ends (or lost bytes) before the handshake did


@dataclass(slots=True)
class TlsAlert:
    """An alert record: readable (level, description) or encrypted (both 0, ``encrypted`` True)."""

    from_client: bool
    level: int
    description: int
    number: int
    time: float
    encrypted: bool = False

    @property
    def fatal(self) -> bool:
        return self.level == 2

    @property
    def name(self) -> str:
        return ALERT_NAMES.get(self.description, f"alert {self.description}")

    @property
    def text(self) -> str:
        return "an encrypted alert" if self.encrypted else alert_text(self.level, self.description)


@dataclass(slots=True)
class TlsSide:
    """What one end of the connection sent."""

    first_number: int = 0
    first_time: float = 0.0
    records: int = 0
    handshake: list[tuple[str, int]] = field(default_factory=list)  # (message, packet) in clear, in order
    change_cipher_spec: int = 0  # its packet, 0 when none
    encrypted: Observation = field(default_factory=Observation)  # records sent encrypted (see module doc)
    encrypted_sizes: list[int] = field(default_factory=list)  # their lengths, the first 8
    last_encrypted_number: int = 0
    closed_number: int = 0  # its FIN or RST
    closed_time: float = 0.0
    reset: bool = False
    lost: str = ""  # why reading this side stopped early (bytes missing from the capture)
    # reading state
    _buffer: bytes = b""
    _handshake_left: int = 0  # bytes of a handshake message that runs on into the next record
    _in_clear: bool = True  # until ChangeCipherSpec (TLS 1.2) / ServerHello selecting TLS 1.3

    def sent(self, name: str) -> int:
        """The packet of the first ``name`` handshake message it sent in clear (0: none)."""
        return next((n for m, n in self.handshake if m == name), 0)


@dataclass
class TlsConnection:
    """One TLS connection on a TCP flow (for rtcdiag: TURN over TLS, ``turns:``): what each side sent, the
    alerts, who closed, and the :class:`TlsOutcome` (set by :meth:`finish`)."""

    flow: int  # the flow's index in its capture
    client: str  # "ip:port" that sent the ClientHello
    server: str
    client_forward: bool  # the client is the flow's side a
    version: TlsVersion = TlsVersion.UNKNOWN
    cipher_suite: int = 0
    offered: tuple[TlsVersion, ...] = ()  # the versions the ClientHello offered (RFC 8446 §4.2.1)
    client_side: TlsSide = field(default_factory=TlsSide)
    server_side: TlsSide = field(default_factory=TlsSide)
    alerts: list[TlsAlert] = field(default_factory=list)
    outcome: TlsOutcome = TlsOutcome.INCOMPLETE

    @property
    def server_port(self) -> int:
        return int(self.server.rsplit(":", 1)[1])

    def first_alert(self, from_client: bool) -> TlsAlert | None:
        return next((a for a in self.alerts if a.from_client == from_client and (a.fatal or a.encrypted)),
                    None)

    def feed(self, from_client: bool, data: bytes, number: int, time: float) -> list[str] | None:
        """In-order bytes of one direction; returns ladder lines for what is worth one."""
        side = self.client_side if from_client else self.server_side
        if side.lost or side.records >= MAX_RECORDS:
            return None
        if not side.first_number:
            side.first_number, side.first_time = number, time
        buf = side._buffer + data if side._buffer else data
        notes: list[str] = []
        pos = 0
        while pos + 5 <= len(buf) and side.records < MAX_RECORDS:
            ctype = buf[pos]
            length = buf[pos + 3] << 8 | buf[pos + 4]
            if ctype < 20 or ctype > 24 or buf[pos + 1] != 3 or length > MAX_RECORD:
                side.lost = f"not a TLS record at packet {number}"
                side._buffer = b""
                return notes or None
            if pos + 5 + length > len(buf):
                break
            body = buf[pos + 5:pos + 5 + length]
            pos += 5 + length
            side.records += 1
            self._record(side, from_client, ctype, body, number, time, notes)
        rest = buf[pos:]
        side._buffer = rest if side.records < MAX_RECORDS else b""
        return notes or None

    def _record(self, side: TlsSide, from_client: bool, ctype: int, body: bytes, number: int, time: float,
                notes: list[str]) -> None:
        if ctype == 22 and side._in_clear:  # handshake in clear: one or more messages, maybe continued
            self._handshake(side, from_client, body, number, notes)
        elif ctype == 20:  # ChangeCipherSpec: TLS 1.2 encrypts from here (in TLS 1.3 it means nothing)
            side.change_cipher_spec = side.change_cipher_spec or number
            side._in_clear = False
        elif ctype == 21 and side._in_clear and len(body) >= 2:
            alert = TlsAlert(from_client, body[0], body[1], number, time)
            self.alerts.append(alert)
            notes.append(f"TLS {alert.text}")
        elif ctype == 21:
            self.alerts.append(TlsAlert(from_client, 0, 0, number, time, encrypted=True))
            notes.append("TLS encrypted alert")
        elif ctype in (22, 23):  # encrypted (TLS 1.2 Finished after ChangeCipherSpec, all of TLS 1.3)
            if not side.encrypted.count:
                notes.append(f"TLS encrypted record ({len(body)} bytes)")
            side.encrypted.add(number, time)
            side.last_encrypted_number = number
            if len(side.encrypted_sizes) < 8:
                side.encrypted_sizes.append(len(body))

    def _handshake(self, side: TlsSide, from_client: bool, body: bytes, number: int,
                   notes: list[str]) -> None:
        pos = 0
        if side._handshake_left:
            skip = min(side._handshake_left, len(body))
            side._handshake_left -= skip
            pos = skip
        while pos + 4 <= len(body):
            kind = body[pos]
            length = body[pos + 1] << 16 | body[pos + 2] << 8 | body[pos + 3]
            name = HANDSHAKE_NAMES.get(kind, f"handshake type {kind}")
            if len(side.handshake) < MAX_HANDSHAKE_NAMES:
                side.handshake.append((name, number))
            if kind == 1 and from_client and not self.offered:
                self.offered = _offered(body[pos + 4:pos + 4 + length])
            if kind == 2 and not from_client:
                self._server_hello(body[pos + 4:pos + 4 + length])
                notes.append(f"TLS ServerHello ({self.version})" if self.version is not TlsVersion.UNKNOWN
                             else "TLS ServerHello")
                if self.version is TlsVersion.TLS_1_3:  # everything after it is encrypted, both ways
                    self.server_side._in_clear = self.client_side._in_clear = False
            else:
                notes.append(f"TLS {name}")
            end = pos + 4 + length
            if end > len(body):
                side._handshake_left = end - len(body)
                return
            pos = end

    def _server_hello(self, body: bytes) -> None:
        """legacy_version, random, session id, cipher suite, compression, extensions (supported_versions,
        43: RFC 8446 §4.2.1)."""
        if len(body) < 2 + 32 + 1:
            return
        legacy = body[0] << 8 | body[1]
        pos = 35 + body[34]
        if pos + 3 > len(body):
            return
        self.cipher_suite = body[pos] << 8 | body[pos + 1]
        self.version = WIRE_VERSIONS.get(legacy, TlsVersion.UNKNOWN)
        pos += 3
        if pos + 2 > len(body):
            return
        end = min(len(body), pos + 2 + (body[pos] << 8 | body[pos + 1]))
        pos += 2
        while pos + 4 <= end:
            ext, ext_len = body[pos] << 8 | body[pos + 1], body[pos + 2] << 8 | body[pos + 3]
            if ext == 43 and ext_len == 2 and pos + 6 <= end:
                self.version = WIRE_VERSIONS.get(body[pos + 4] << 8 | body[pos + 5], self.version)
                return
            pos += 4 + ext_len

    def close(self, from_client: bool, number: int, time: float, reset: bool) -> None:
        side = self.client_side if from_client else self.server_side
        if not side.closed_number:
            side.closed_number, side.closed_time, side.reset = number, time, reset

    def lose(self, from_client: bool, why: str) -> None:
        """Bytes of this direction are missing from the capture: stop reading it."""
        side = self.client_side if from_client else self.server_side
        side.lost = side.lost or why
        side._buffer = b""

    @property
    def established(self) -> bool:
        c, s = self.client_side, self.server_side
        if self.version is TlsVersion.TLS_1_3:
            # the server answered after the client's first encrypted record (its Finished, then data)
            return bool(c.encrypted.count and s.last_encrypted_number > c.encrypted.numbers[0])
        # TLS 1.2 and older: both ChangeCipherSpecs sent (the handshake is complete either way round)
        return bool(c.change_cipher_spec and s.change_cipher_spec)

    def _client_ended(self, end_time: float) -> bool:
        """The server sent its flight; the client answered with something the server never answered (TLS
        1.3: encrypted records, e.g. an alert; TLS 1.2: nothing, or no ChangeCipherSpec) and the
        connection closed (by either side: a server closes once it reads the client's alert), or the client
        closed first."""
        c, s = self.client_side, self.server_side
        closed = bool(c.closed_number or s.closed_number)
        if c.closed_number and (not s.closed_number or c.closed_number <= s.closed_number):
            return True
        if self.version is TlsVersion.TLS_1_3 and c.encrypted.count:
            unanswered = s.last_encrypted_number < c.encrypted.numbers[0]
            return unanswered and (closed or end_time - c.encrypted.last_time >= NO_ANSWER_S)
        return False

    def finish(self, end_time: float) -> TlsOutcome:
        """Decide the outcome once the capture is read (``end_time``: its last packet)."""
        c, s = self.client_side, self.server_side
        server_alert, client_alert = self.first_alert(False), self.first_alert(True)
        if self.established:
            outcome = TlsOutcome.ESTABLISHED
        elif server_alert is not None and not server_alert.encrypted and (
                client_alert is None or server_alert.number < client_alert.number):
            outcome = TlsOutcome.SERVER_ALERT
        elif client_alert is not None and not client_alert.encrypted:
            outcome = TlsOutcome.CLIENT_ALERT
        elif not s.records:
            answered_late = c.first_number and end_time - c.first_time >= NO_ANSWER_S
            outcome = (TlsOutcome.NO_SERVER_HELLO if s.closed_number or c.closed_number or answered_late
                       else TlsOutcome.INCOMPLETE)
        elif self._client_ended(end_time):
            outcome = TlsOutcome.CLIENT_ENDED
        elif s.closed_number:
            outcome = TlsOutcome.SERVER_CLOSED
        else:
            outcome = TlsOutcome.INCOMPLETE
        self.outcome = outcome
        return outcome


def _offered(body: bytes) -> tuple[TlsVersion, ...]:
    """The versions a ClientHello offers: its supported_versions extension, else its legacy version."""
    if len(body) < 35:
        return ()
    legacy = WIRE_VERSIONS.get(body[0] << 8 | body[1], TlsVersion.UNKNOWN)
    pos = 35 + body[34]  # session id
    if pos + 2 > len(body):
        return (legacy,)
    pos += 2 + (body[pos] << 8 | body[pos + 1])  # cipher suites
    if pos + 1 > len(body):
        return (legacy,)
    pos += 1 + body[pos]  # compression methods
    if pos + 2 > len(body):
        return (legacy,)
    end = min(len(body), pos + 2 + (body[pos] << 8 | body[pos + 1]))
    pos += 2
    while pos + 4 <= end:
        ext, ext_len = body[pos] << 8 | body[pos + 1], body[pos + 2] << 8 | body[pos + 3]
        if ext == 43 and ext_len >= 3 and pos + 5 <= end:
            listed = body[pos + 5:pos + 5 + min(body[pos + 4], ext_len - 1)]
            versions = [WIRE_VERSIONS.get(listed[i] << 8 | listed[i + 1], TlsVersion.UNKNOWN)
                        for i in range(0, len(listed) - 1, 2)]
            return tuple(v for v in versions if v is not TlsVersion.UNKNOWN)  # GREASE values dropped
        pos += 4 + ext_len
    return (legacy,)


def looks_like_tls(payload: bytes) -> bool:
    """The first bytes of a TLS connection: a handshake record (22) of version 3.x (RFC 8446 §5.1)."""
    return len(payload) >= 6 and payload[0] == 22 and payload[1] == 3 and payload[5] in (1, 2)

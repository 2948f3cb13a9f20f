"""DTLS records as a capture shows them, without decryption: DTLS 1.0/1.2 (RFC 6347, 13-byte header) and
DTLS 1.3 (RFC 9147: plaintext ClientHello/ServerHello, then the unified header ``001CSLEE``).

What can be known from the wire, and only that:

- DTLS 1.2: every record's content type is in clear (RFC 6347 §4.1), so application data, handshake and
  alerts are told apart even once encrypted; an alert after ChangeCipherSpec is known to be an alert, not
  which one.
- DTLS 1.3: after the ServerHello every record has the unified header (RFC 9147 §4; RFC 9443 extends the
  RFC 7983 demultiplexing range to 20-63 for it). Its content type is encrypted: a record of the
  application epoch (3, then 4, 5, ... after a KeyUpdate) may be application data, an ACK (RFC 9147 §7) or an
  alert, and nothing in the capture tells which. Counts here say "records in the application epoch", never
  "data" or "alert".
- The connection ID (C bit, RFC 9147 §4, RFC 9146) has the length both sides negotiated, which the capture
  does not show: a record with one is counted, and the rest of its datagram is not split into records.
- A record without the L bit runs to the end of its datagram (RFC 9147 §4).

The version comes from the ServerHello's supported_versions extension (RFC 8446 §4.2.1: DTLS 1.3 is 0xFEFC),
else from its legacy version; a unified-header record also means DTLS 1.3.

Pure and allocation-light: :func:`read_datagram` updates a :class:`DtlsSent` per flow direction in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from rtcdiag.evidence.observation import MAX_EXAMPLES, Observation

MAX_RECORDS_PER_DATAGRAM = 32
# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest (the same in DTLS 1.3)
HELLO_RETRY_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
# An AEAD record of a 2-byte alert: alert + inner content type + 16-byte tag (AES-GCM, ChaCha20-Poly1305)
ENCRYPTED_ALERT_SIZE = 19


class DtlsVersion(StrEnum):
    UNKNOWN = "unknown"
    DTLS_1_0 = "DTLS 1.0"
    DTLS_1_2 = "DTLS 1.2"
    DTLS_1_3 = "DTLS 1.3"


WIRE_VERSIONS = {0xFEFF: DtlsVersion.DTLS_1_0, 0xFEFD: DtlsVersion.DTLS_1_2, 0xFEFC: DtlsVersion.DTLS_1_3}


class ContentType(IntEnum):
    """TLS/DTLS record content types (IANA TLS ContentType registry)."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24
    TLS12_CID = 25  # RFC 9146: DTLS 1.2 record with a connection ID
    ACK = 26  # RFC 9147 §7


class HandshakeType(IntEnum):
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3  # DTLS 1.0/1.2 cookie exchange (RFC 6347 §4.2.1)


# RFC 8446 §6 (and the TLS Alerts registry): description -> name
ALERT_NAMES = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
               40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
               44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
               47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
               51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
               86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
               110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required",
               120: "no_application_protocol"}
# The alerts a peer sends when it does not accept the other's certificate (RFC 8446 §6.2)
CERTIFICATE_ALERTS = frozenset((42, 43, 44, 45, 46, 48))


def alert_text(level: int, description: int) -> str:
    """``fatal certificate_unknown (46)`` from the two bytes of a readable alert."""
    name = ALERT_NAMES.get(description, "alert")
    lvl = {1: "warning", 2: "fatal"}.get(level, f"level {level}")
    return f"{lvl} {name} ({description})"


@dataclass(slots=True)
class DtlsSent:
    """What one endpoint sent over DTLS: one direction of one flow, or (merged by
    :mod:`rtcdiag.evidence.ice_session`) one ICE agent of a call over all its paths.

    Counts are records (a datagram may carry several). ``application`` is DTLS 1.2 application_data, or, in
    DTLS 1.3, every record of the application epoch: data, ACKs and alerts alike (they are encrypted).
    ``alerts`` are readable alerts only (plaintext: before the handshake is encrypted), their first one in
    ``alerts.detail`` ("fatal handshake_failure (40)"); ``encrypted_alerts`` are DTLS 1.2 alert records after
    ChangeCipherSpec (an alert, which one is encrypted).
    """

    client_hello: Observation = field(default_factory=Observation)
    server_hello: Observation = field(default_factory=Observation)
    hello_retry: Observation = field(default_factory=Observation)  # HelloRetryRequest / HelloVerifyRequest
    change_cipher_spec: Observation = field(default_factory=Observation)
    handshake_encrypted: Observation = field(default_factory=Observation)  # 1.2 Finished; 1.3 epoch 2
    application: Observation = field(default_factory=Observation)
    application_bytes: int = 0
    alerts: Observation = field(default_factory=Observation)
    encrypted_alerts: Observation = field(default_factory=Observation)
    unified: int = 0  # records with the DTLS 1.3 unified header
    connection_id: int = 0  # records with a connection ID (their length, and what follows, not readable)
    version: DtlsVersion = DtlsVersion.UNKNOWN  # what this endpoint's ServerHello selected
    cipher_suite: int = 0  # from this endpoint's ServerHello
    application_epoch: bool = False  # a DTLS 1.3 record of epoch 3 was seen: later epochs are KeyUpdates
    application_sizes: list[int] = field(default_factory=list)  # the first few record lengths (bounded)

    @property
    def records(self) -> int:
        return (self.client_hello.count + self.server_hello.count + self.hello_retry.count
                + self.change_cipher_spec.count + self.handshake_encrypted.count + self.application.count
                + self.alerts.count + self.encrypted_alerts.count)


def _fast_add(obs: Observation, number: int, time: float) -> None:
    if obs.count >= MAX_EXAMPLES:  # past the example packets kept: count only (the hot path)
        obs.count += 1
        obs.last_time = time
    else:
        obs.add(number, time)


def read_datagram(sent: DtlsSent, data: bytes, number: int, time: float) -> list[str] | None:
    """Count the records of one datagram (first byte 20-63, RFC 9443) into ``sent``. Returns ladder lines
    for what is worth a line (a hello, the first record of an epoch, an alert), else None."""
    notes: list[str] | None = None
    pos = 0
    size = len(data)
    records = 0
    while pos < size and records < MAX_RECORDS_PER_DATAGRAM:
        records += 1
        first = data[pos]
        if 32 <= first <= 63:  # RFC 9147 §4 unified header: 0 0 1 C S L E E
            sent.unified += 1
            if sent.version is DtlsVersion.UNKNOWN:
                sent.version = DtlsVersion.DTLS_1_3
            epoch_bits = first & 0x03
            head = pos + 1
            if first & 0x10:  # C: a connection ID of the negotiated length, unknown here
                sent.connection_id += 1
                length = size - head  # the rest of the datagram, counted as this one record
                cid_unknown = True
            else:
                cid_unknown = False
                head += 2 if first & 0x08 else 1  # S: 16-bit or 8-bit sequence number
                if first & 0x04:  # L: a 16-bit length follows
                    if head + 2 > size:
                        break
                    length = data[head] << 8 | data[head + 1]
                    head += 2
                else:  # no length: the record runs to the end of the datagram
                    length = size - head
            if epoch_bits == 3:
                first_app = not sent.application_epoch
                sent.application_epoch = True
                _application(sent, number, time, length)
                if first_app:
                    notes = _note(notes, "DTLS 1.3 application epoch begins (encrypted: data, ACK or alert)")
            elif epoch_bits == 2 and not sent.application_epoch:  # the handshake epoch (RFC 9147 §6.1)
                if not sent.handshake_encrypted.count:
                    notes = _note(notes, "DTLS 1.3 encrypted handshake")
                _fast_add(sent.handshake_encrypted, number, time)
            else:  # epochs 4+ after a KeyUpdate, or early data (epoch 1): application records too
                _application(sent, number, time, length)
            if cid_unknown:
                break
            pos = head + length
            continue
        if first > 31 or pos + 13 > size:  # 27-31: unassigned content types; or a cut header
            break
        epoch = data[pos + 3] << 8 | data[pos + 4]
        if first == ContentType.TLS12_CID:  # RFC 9146: the CID's length is negotiated, so is the rest
            sent.connection_id += 1
            _application(sent, number, time, size - pos - 11)
            break
        length = data[pos + 11] << 8 | data[pos + 12]
        body = data[pos + 13:pos + 13 + length]
        pos += 13 + length
        if first == ContentType.APPLICATION_DATA:
            _application(sent, number, time, length)
        elif first == ContentType.HANDSHAKE:
            if epoch or not body:  # encrypted handshake (DTLS 1.2 Finished after ChangeCipherSpec)
                _fast_add(sent.handshake_encrypted, number, time)
                continue
            kind = body[0]
            if kind == HandshakeType.CLIENT_HELLO:
                if not sent.client_hello.count:
                    notes = _note(notes, "DTLS ClientHello")
                sent.client_hello.add(number, time)
            elif kind == HandshakeType.SERVER_HELLO:
                retry, version, suite = _server_hello(body)
                if retry:
                    notes = _note(notes, "DTLS HelloRetryRequest")
                    sent.hello_retry.add(number, time)
                    continue
                if version is not DtlsVersion.UNKNOWN:
                    sent.version, sent.cipher_suite = version, suite
                if not sent.server_hello.count:
                    notes = _note(notes, "DTLS ServerHello" + (f" ({version})" if version is not
                                                                DtlsVersion.UNKNOWN else ""))
                sent.server_hello.add(number, time)
            elif kind == HandshakeType.HELLO_VERIFY_REQUEST:
                if not sent.hello_retry.count:
                    notes = _note(notes, "DTLS HelloVerifyRequest")
                sent.hello_retry.add(number, time)
        elif first == ContentType.CHANGE_CIPHER_SPEC:
            _fast_add(sent.change_cipher_spec, number, time)
        elif first == ContentType.ALERT:
            if epoch == 0 and len(body) >= 2:  # RFC 8446 §6: level, description, in clear before keys
                text = alert_text(body[0], body[1])
                sent.alerts.add(number, time, text)
                notes = _note(notes, f"DTLS {text}")
            else:
                sent.encrypted_alerts.add(number, time, "an encrypted alert")
                notes = _note(notes, "DTLS encrypted alert")
        # heartbeat (24), ACK (26, plaintext only at epoch 0): nothing to say
    return notes


def _application(sent: DtlsSent, number: int, time: float, length: int) -> None:
    _fast_add(sent.application, number, time)
    sent.application_bytes += length
    if len(sent.application_sizes) < 8:
        sent.application_sizes.append(length)


def _note(notes: list[str] | None, text: str) -> list[str]:
    if notes is None:
        return [text]
    if len(notes) < 4:
        notes.append(text)
    return notes


def _server_hello(body: bytes) -> tuple[bool, DtlsVersion, int]:
    """(HelloRetryRequest?, selected version, cipher suite) of a plaintext DTLS ServerHello record body:
    handshake header (12 bytes, RFC 9147 §5.2), legacy_version, random, session id, cipher suite,
    compression, extensions (supported_versions = 43, RFC 8446 §4.2.1)."""
    if len(body) < 12 + 2 + 32 + 1 or (body[6] << 16 | body[7] << 8 | body[8]):  # not the first fragment
        return False, DtlsVersion.UNKNOWN, 0
    legacy = body[12] << 8 | body[13]
    random = body[14:46]
    if random == HELLO_RETRY_RANDOM:
        return True, DtlsVersion.UNKNOWN, 0
    pos = 47 + body[46]
    if pos + 3 > len(body):
        return False, DtlsVersion.UNKNOWN, 0
    suite = body[pos] << 8 | body[pos + 1]
    pos += 3
    if pos + 2 > len(body):  # no extensions at all: the legacy version is the version
        return False, WIRE_VERSIONS.get(legacy, DtlsVersion.UNKNOWN), suite
    end = min(len(body), pos + 2 + (body[pos] << 8 | body[pos + 1]))
    pos += 2
    while pos + 4 <= end:
        ext, ext_len = body[pos] << 8 | body[pos + 1], body[pos + 2] << 8 | body[pos + 3]
        if ext == 43 and ext_len == 2 and pos + 6 <= end:
            return False, WIRE_VERSIONS.get(body[pos + 4] << 8 | body[pos + 5], DtlsVersion.UNKNOWN), suite
        pos += 4 + ext_len
    if pos == end and end == len(body):  # every extension read, none selects a version
        return False, WIRE_VERSIONS.get(legacy, DtlsVersion.UNKNOWN), suite
    return False, DtlsVersion.UNKNOWN, suite  # a fragment cut before the extensions end: cannot tell

"""Read an evidence file (bounded, gzip or plain) and tell what it is from its content, not its name."""

from __future__ import annotations

import zlib
from enum import StrEnum
from pathlib import Path

from rtcdiag.errors import UsageError
from rtcdiag.textsafe import printable

# A dump of a long call with many peer connections is tens of MB; bigger than this is refused, not read.
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 1024 * 1024 * 1024  # a gzip bomb stops here
_GZIP_MAGIC = b"\x1f\x8b"
_GETSTATS_TYPES = (b'"candidate-pair"', b'"local-candidate"', b'"transport"', b'"inbound-rtp"',
                   b'"outbound-rtp"', b'"googCandidatePair"', b'"localcandidate"')


class EvidenceError(UsageError):
    """The file is not evidence rtcdiag can read (not a dump, truncated, empty, too big): exit 2."""


class EvidenceKind(StrEnum):
    WEBRTC_INTERNALS = "webrtc-internals"  # chrome://webrtc-internals "webrtc-internals dump" (JSON)
    RTCSTATS = "rtcstats"  # the page's second download: "RTCStatsDump" header, then JSON lines
    SDP = "sdp"  # a bare session description (v=0 ...)
    GETSTATS = "getstats"  # pc.getStats() output saved by an app (RTCStats dictionaries, JSON)


def _name(path: Path) -> str:
    return printable(str(path))[:200]


def read_evidence(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, gunzipped when it is gzip (Chromium's "Compress" download option); bounded."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise EvidenceError(f"{_name(path)}: {size} bytes is more than the {max_bytes}-byte limit")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise EvidenceError(f"{_name(path)}: cannot read: {printable(exc.strerror or str(exc))}") from None
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(path, data)
    if not data.strip():
        raise EvidenceError(f"{_name(path)}: empty file, not a webrtc-internals dump")
    return data


def _gunzip(path: Path, data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16+: gzip framing (RFC 1952)
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise EvidenceError(f"{_name(path)}: damaged gzip data ({printable(str(exc))})") from None
    if len(out) > MAX_DECOMPRESSED_BYTES:
        raise EvidenceError(f"{_name(path)}: decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes")
    if not inflater.eof:
        raise EvidenceError(f"{_name(path)}: truncated gzip file (the download did not finish?)")
    return out


def sniff(data: bytes) -> EvidenceKind | None:
    """What the (decompressed) content is, from its first bytes; None when it is none of the known kinds."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"RTCStatsDump"):
        return EvidenceKind.RTCSTATS
    if head.startswith(b"{"):
        # A webrtc-internals dump: an object with "PeerConnections" (and "getUserMedia", "UserAgent").
        for marker in (b'"PeerConnections"', b'"getUserMedia"', b'"UserAgent"'):
            if marker in data[:65536] or marker in data[-65536:]:
                return EvidenceKind.WEBRTC_INTERNALS
    if head.startswith((b"{", b"[")):
        # getStats output: RTCStats dictionaries with a standard (or legacy Chrome) type name.
        for marker in _GETSTATS_TYPES:
            if marker in data[:262144]:
                return EvidenceKind.GETSTATS
        return None
    if head.startswith(b"v=0"):
        return EvidenceKind.SDP
    return None

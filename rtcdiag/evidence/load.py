"""Read one evidence file: bounded read, gzip, type sniffed from the content, parsed."""

from __future__ import annotations

from pathlib import Path

from rtcdiag.evidence.sniff import EvidenceError, EvidenceKind, read_evidence, sniff
from rtcdiag.evidence.webrtc_internals import InternalsDump, parse_internals
from rtcdiag.textsafe import printable


def load_dump(path: Path) -> InternalsDump:
    """A webrtc-internals dump from ``path``; :class:`EvidenceError` (one line, exit 2) for anything else."""
    name = printable(str(path))[:200]
    data = read_evidence(path)
    kind = sniff(data)
    if kind is EvidenceKind.WEBRTC_INTERNALS:
        # Decoded here and the bytes dropped before json.loads: it would otherwise hold bytes, its own
        # decoded copy and the objects at once (peak memory is a budget: issue 11).
        try:
            text = data.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            raise EvidenceError(f"{name}: not a webrtc-internals dump (not UTF-8: {exc.reason})") from None
        del data
        return parse_internals(text, name)
    if kind is EvidenceKind.RTCSTATS:
        from rtcdiag.evidence.rtcstats import parse_rtcstats

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EvidenceError(f"{name}: not an rtcstats dump (not UTF-8: {exc.reason})") from None
        del data
        return parse_rtcstats(text, name)
    if kind is EvidenceKind.SDP:
        raise EvidenceError(f"{name}: a bare SDP; rtcdiag analyze reads webrtc-internals dumps for now")
    raise EvidenceError(f"{name}: not a webrtc-internals dump (expected the JSON file of chrome://webrtc-internals"
                        " \"Download the webrtc-internals dump\")")


def redacted_copy(path: Path) -> bytes:
    """The dump at ``path`` anonymised (see :mod:`rtcdiag.evidence.anonymize`), as JSON bytes."""
    import json

    from rtcdiag.evidence.anonymize import anonymize

    name = printable(str(path))[:200]
    data = read_evidence(path)
    if sniff(data) is not EvidenceKind.WEBRTC_INTERNALS:
        raise EvidenceError(f"{name}: --redact reads webrtc-internals dumps only")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise EvidenceError(f"{name}: not a webrtc-internals dump (not valid JSON)") from None
    return json.dumps(anonymize(document), indent=1).encode()

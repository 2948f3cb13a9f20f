"""Read one evidence file: bounded read, gzip, type sniffed from the content, parsed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rtcdiag.evidence.sniff import EvidenceError, EvidenceKind, json_shape, mapped, read_evidence, sniff
from rtcdiag.evidence.webrtc_internals import InternalsDump, parse_internals
from rtcdiag.textsafe import printable

if TYPE_CHECKING:
    import mmap

    from rtcdiag.evidence.anonymize import Redactions


def load_dump(path: Path) -> InternalsDump:
    """A webrtc-internals or rtcstats dump (or saved getStats output) from ``path``;
    :class:`EvidenceError` (one line, exit 2) for anything else."""
    name = printable(str(path))[:200]
    dump = _parse_mapped(path, name)
    if dump is not None:
        return dump
    holder = [read_evidence(path)]
    return _parse(name, holder)


# The JSON kinds, read from the decoded text (see _parse_text).
_TEXT_KINDS = frozenset({EvidenceKind.FIREFOX_WEBRTC, EvidenceKind.WEBRTC_INTERNALS, EvidenceKind.RTCSTATS,
                         EvidenceKind.GETSTATS})


def _parse_mapped(path: Path, name: str) -> InternalsDump | None:
    """A plain (not gzip) file of a JSON kind parsed from its text decoded straight out of the file mapped in
    memory (:func:`rtcdiag.evidence.sniff.mapped`; the map is closed before the parse: its pages count in
    the peak RSS); None for any other file: it is then read whole."""
    with mapped(path) as view:
        if view is None:
            return None
        kind = sniff(view)
        if kind is None or kind not in _TEXT_KINDS:
            return None
        text = _decode(kind, view, name)
    return _parse_text(kind, text, name)


def _parse(name: str, holder: list[bytes]) -> InternalsDump:
    """Parse the bytes in ``holder`` (taken out of it, so that they can be freed once decoded: json.loads
    would otherwise hold the bytes, the text and the objects at once; peak memory is a budget, issue 11)."""
    data = holder.pop()
    kind = sniff(data)
    if kind is not None and kind in _TEXT_KINDS:
        text = _decode(kind, data, name)
        del data
        return _parse_text(kind, text, name)
    if kind is EvidenceKind.FIREFOX_PAGE:
        from rtcdiag.evidence.firefox_page import parse_page

        return parse_page(data, name)
    if kind is EvidenceKind.FIREFOX_LOG:
        raise EvidenceError(f"{name}: a Firefox ICE log (about:webrtc Connection Log) is read with its "
                            "report: give the Copy Report JSON too (rtcdiag analyze report.json ice.log)")
    if kind is EvidenceKind.SDP:
        raise EvidenceError(f"{name}: a bare SDP: give it with its answer (rtcdiag analyze OFFER ANSWER)")
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        raise EvidenceError(f"{name} looks like {json_shape(data)}")
    raise EvidenceError(f"{name}: not a webrtc-internals dump (expected the JSON file of chrome://webrtc-internals"
                        " \"Download the webrtc-internals dump\"), a packet capture or a coturn log")


def _decode(kind: EvidenceKind, data: bytes | mmap.mmap, name: str) -> str:
    """The content of a file of a JSON kind (the bytes, or the file mapped) as text (UTF-8, BOM dropped)."""
    try:
        return str(data, "utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        what = {EvidenceKind.FIREFOX_WEBRTC: "a Firefox about:webrtc report",
                EvidenceKind.RTCSTATS: "a rtcstats dump", EvidenceKind.GETSTATS: "getStats output",
                }.get(kind, "a webrtc-internals dump")
        raise EvidenceError(f"{name}: not {what} (not UTF-8: {exc.reason})") from None


def _parse_text(kind: EvidenceKind, text: str, name: str) -> InternalsDump:
    """A file of a JSON kind, from its text, by the kind's reader."""
    if kind is EvidenceKind.FIREFOX_WEBRTC:
        from rtcdiag.evidence.firefox import parse_firefox

        return parse_firefox(text, name)
    if kind is EvidenceKind.WEBRTC_INTERNALS:
        return parse_internals(text, name)
    if kind is EvidenceKind.RTCSTATS:
        from rtcdiag.evidence.rtcstats import parse_rtcstats

        return parse_rtcstats(text, name)
    from rtcdiag.evidence.getstats import parse_getstats

    return parse_getstats(text, name)


def redacted_copy(path: Path) -> bytes:
    """The dump at ``path`` anonymised (see :mod:`rtcdiag.evidence.anonymize`), as JSON bytes."""
    return redacted_copy_counted(path)[0]


def redacted_copy_counted(path: Path) -> tuple[bytes, Redactions]:
    """:func:`redacted_copy`, and what was replaced."""
    from rtcdiag.evidence.anonymize import anonymize_counted

    name = printable(str(path))[:200]
    data = read_evidence(path)
    if sniff(data) is not EvidenceKind.WEBRTC_INTERNALS:
        raise EvidenceError(f"{name}: --redact reads webrtc-internals dumps only")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise EvidenceError(f"{name}: not a webrtc-internals dump (not valid JSON)") from None
    copy, counts = anonymize_counted(document)
    return json.dumps(copy, indent=1).encode(), counts


MAX_SDP_BYTES = 1024 * 1024


def sdp_session(files: list[tuple[str, str]]) -> InternalsDump:
    """An offer and its answer (or one description alone) from SDP files, as a peer connection whose
    update log applied them: the offer as the local description, the answer as the remote one. The files'
    order is the offer first, unless the first one answers (``a=setup:active|passive``) and the second
    offers (``a=setup:actpass``)."""
    from rtcdiag.evidence.sdp import parse_sdp
    from rtcdiag.evidence.webrtc_internals import PeerConnection, UpdateEvent

    ordered = list(files)
    if len(ordered) == 2:
        setups = [parse_sdp(text).setups() for _, text in ordered]
        if setups[0] and setups[0][0] in ("active", "passive") and setups[1] == ["actpass"]:
            ordered.reverse()
    names = " + ".join(name for name, _ in ordered)
    pc = PeerConnection(key="sdp", url=names[:2000], sdp_only=True)
    kinds = ("offer", "answer")
    for (_, text), kind in zip(ordered, kinds, strict=False):
        value = json.dumps({"type": kind, "sdp": text})
        if kind == "offer":
            pc.events.append(UpdateEvent("setLocalDescriptionOnSuccess", value, None))
        else:
            pc.events += [UpdateEvent("setRemoteDescription", value, None),
                          UpdateEvent("setRemoteDescriptionOnSuccess", "", None)]
    return InternalsDump(source=names[:400], peer_connections=[pc])


def load_all(paths: list[Path]) -> list[InternalsDump]:
    """Every file read before any report (exit 2 on the first bad one); SDP files pair up in order
    (offer, answer, offer, answer, ...): each pair is one session. A Firefox ICE log is read with the
    Firefox reports among the files (its lines name their peer connections)."""
    dumps: list[InternalsDump] = []
    sdps: list[tuple[str, str]] = []
    logs: list[tuple[str, bytes]] = []
    for path in paths:
        name = printable(str(path))[:200]
        dump = _parse_mapped(path, name)
        if dump is not None:
            dumps.append(dump)
            continue
        data = read_evidence(path)
        if sniff(data) is EvidenceKind.FIREFOX_LOG:
            logs.append((name, data))
            continue
        if sniff(data) is EvidenceKind.SDP:
            if len(data) > MAX_SDP_BYTES:
                raise EvidenceError(f"{name}: an SDP of {len(data)} bytes is more than {MAX_SDP_BYTES}")
            sdps.append((name, data.decode("utf-8", "replace")))
            continue
        holder = [data]
        del data
        dumps.append(_parse(name, holder))
    for i in range(0, len(sdps), 2):
        dumps.append(sdp_session(sdps[i:i + 2]))
    if logs:
        _attach_logs(dumps, logs)
    return dumps


def _attach_logs(dumps: list[InternalsDump], logs: list[tuple[str, bytes]]) -> None:
    from rtcdiag.evidence.firefox import USER_AGENT, attach_log
    from rtcdiag.evidence.firefox_log import log_lines, parse_ice_log

    firefox = [d for d in dumps if d.user_agent == USER_AGENT]
    if not firefox:
        raise EvidenceError(f"{logs[0][0]}: a Firefox ICE log (about:webrtc Connection Log) is read with its "
                            "report: give the Copy Report JSON too (rtcdiag analyze report.json ice.log)")
    for name, data in logs:
        log = parse_ice_log(log_lines(data.decode("utf-8", "replace")), name)
        if not sum(attach_log(dump, log) for dump in firefox):
            firefox[0].notes.append(f"{name}: this ICE log names none of the reports' peer connections")

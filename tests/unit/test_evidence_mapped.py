"""A plain (not gzip) dump is decoded straight from the file mapped in memory (issue 19: no copy of a 100 MB
file's bytes first). The map must read exactly what reading the file reads: the same kind, the same dump,
the same one-line errors; a file that cannot be mapped (gzip, empty, not a regular file) is read as before.

The dumps are the real fixtures (made by Chromium and Firefox, see tests/browser), written out plain."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import pytest

import rtcdiag.evidence.load as load
from rtcdiag.evidence.load import load_all, load_dump
from rtcdiag.evidence.sniff import EvidenceError, EvidenceKind, mapped, read_evidence, sniff
from rtcdiag.textsafe import printable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JSON_KINDS = {EvidenceKind.WEBRTC_INTERNALS, EvidenceKind.RTCSTATS, EvidenceKind.GETSTATS,
              EvidenceKind.FIREFOX_WEBRTC}


def _plain_copies(tmp_path: Path) -> list[tuple[Path, bytes]]:
    """Every fixture of analyze and firefox, decompressed into tmp_path (name kept, .gz dropped)."""
    copies = []
    for source in sorted([*(FIXTURES / "analyze").iterdir(), *(FIXTURES / "firefox").iterdir()]):
        data = source.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        if not data:
            continue
        target = tmp_path / f"{source.parent.name}-{source.name.removesuffix('.gz')}"
        target.write_bytes(data)
        copies.append((target, data))
    return copies


def test_every_fixture_sniffs_the_same_mapped_and_read(tmp_path: Path) -> None:
    kinds = set()
    for path, data in _plain_copies(tmp_path):
        with mapped(path) as view:
            assert view is not None, path
            assert sniff(view) == sniff(data), path
            kinds.add(sniff(data))
    assert JSON_KINDS | {EvidenceKind.SDP, EvidenceKind.FIREFOX_PAGE, EvidenceKind.FIREFOX_LOG} <= kinds


def test_every_json_fixture_reads_the_same_mapped_and_read(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    read_back = {}
    copies = [(path, data) for path, data in _plain_copies(tmp_path) if sniff(data) in JSON_KINDS]
    assert len(copies) > 50
    for path, data in copies:
        read_back[path] = load._parse(printable(str(path))[:200], [data])  # the bytes read, as before the map
    monkeypatch.setattr(load, "read_evidence", _never)  # from here on, only the map can read a file
    for path, _ in copies:
        dump = load_all([path])[0]
        assert dataclasses.asdict(dump) == dataclasses.asdict(read_back[path]), path
        assert dataclasses.asdict(load_dump(path)) == dataclasses.asdict(read_back[path]), path


def _never(path: Path) -> bytes:
    raise AssertionError(f"{path} was read, not mapped")


@pytest.mark.parametrize(("content", "words"), [
    (b'{"PeerConnections": {}, "UserAgent": "\xff"}',
     "not a webrtc-internals dump (not UTF-8: invalid start byte)"),
    (b"RTCStatsDump\n\xc3", "not a rtcstats dump (not UTF-8: unexpected end of data)"),
    (b'{"PeerConnections": {"1-1": {"updateLog": [{"type": "createOffer"', "(truncated: Expecting"),
])
def test_errors_are_the_same_mapped_and_read(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(content)
    with pytest.raises(EvidenceError) as from_map:
        load_dump(path)
    with pytest.raises(EvidenceError) as from_bytes:
        load._parse(str(path), [read_evidence(path)])
    assert words in str(from_map.value)
    assert str(from_map.value) == str(from_bytes.value)


def test_gzip_empty_and_unmappable_files_are_read(tmp_path: Path) -> None:
    source = FIXTURES / "analyze" / "healthy-relay.webrtc-internals.json.gz"
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with mapped(source) as view:
        assert view is None  # gzip: inflated by read_evidence
    with mapped(empty) as view:
        assert view is None
    with pytest.raises(EvidenceError, match="empty file"):
        load_dump(empty)
    with mapped(Path("/dev/null")) as view:  # not a regular file
        assert view is None



def test_the_size_bound_holds_for_the_map(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(b'{"PeerConnections": {}, "UserAgent": "' + b"x" * 5000 + b'"}')
    with mapped(path, max_bytes=4096) as view:
        assert view is None  # bigger than the bound: read_evidence refuses it with its own words
    with mapped(path, max_bytes=10_000) as view:
        assert view is not None and len(view) == path.stat().st_size

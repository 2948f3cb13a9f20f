"""parse_sdp is tuned for speed (issue 19: thousands of descriptions in a big dump); the reference here is
the plain reader it replaced, line for line as it was. Both must read every real SDP of the fixtures, and
thousands of hostile variants of them (seeded mutations: blanks, CR, LF, Unicode spaces, prefixes cut and
doubled, lines cut), into the same SessionDescription."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

from rtcdiag.evidence.sdp import (
    _DIRECTIONS,
    _READ,
    MAX_CANDIDATES,
    MAX_LINES,
    MAX_SECTIONS,
    MediaSection,
    SessionDescription,
    parse_candidate,
    parse_sdp,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_PREFIXES = ("m=", *(f"a={name}" for name in sorted(_READ)))


def reference_parse_sdp(text: str) -> SessionDescription:
    session = SessionDescription()
    current: MediaSection | None = None
    for raw in text.replace("\r\n", "\n").split("\n")[:MAX_LINES]:
        if not raw.startswith(_PREFIXES) and not raw[:1].isspace():
            continue
        line = raw.strip()[:4000]
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if len(session.media) >= MAX_SECTIONS:
                current = None
                continue
            parts = value.split()
            port = int(parts[1].split("/")[0]) if len(parts) > 1 and parts[1].split("/")[0].isdigit() else 0
            current = MediaSection(kind=parts[0][:20] if parts else "", port=port,
                                   protocol=parts[2][:40] if len(parts) > 2 else "", formats=parts[3:][:100])
            session.media.append(current)
            continue
        if kind != "a":
            continue
        name, _, arg = value.partition(":")
        if name not in _READ:
            continue
        if name == "group" and arg.startswith("BUNDLE") and not session.bundle:
            session.bundle = arg.split()[1:][:MAX_SECTIONS]
        elif name == "ice-lite":
            session.ice_lite = True
        elif name == "setup":
            if current is None:
                session.setup = arg.strip()[:10]
            else:
                current.setup = arg.strip()[:10]
        elif name == "fingerprint":
            (session.fingerprints if current is None else current.fingerprints).append(arg.strip()[:200])
        elif name == "ice-ufrag":
            if current is None:
                session.ice_ufrag = arg[:256]
            else:
                current.ice_ufrag = arg[:256]
        elif name == "ice-pwd":
            if current is None:
                session.ice_pwd = arg[:256]
            else:
                current.ice_pwd = arg[:256]
        elif current is None:
            continue
        elif name == "mid":
            current.mid = arg[:64]
        elif name in _DIRECTIONS:
            current.direction = name
        elif name == "candidate" and len(current.candidates) < MAX_CANDIDATES:
            candidate = parse_candidate(arg)
            if candidate is not None:
                current.candidates.append(candidate)
        elif name == "rtpmap":
            pt, _, codec = arg.partition(" ")
            current.rtpmap[pt[:8]] = codec[:100]
        elif name == "fmtp":
            pt, _, params = arg.partition(" ")
            current.fmtp[pt[:8]] = params[:1000]
            if current.rtpmap.get(pt, "").lower().startswith("rtx/"):
                for param in params.split(";"):
                    key, _, val = param.strip().partition("=")
                    if key == "apt":
                        current.rtx_apt[pt[:8]] = val[:8]
    for m in session.media:  # an fmtp line may come before its rtpmap
        for pt, params in m.fmtp.items():
            if pt not in m.rtx_apt and m.rtpmap.get(pt, "").lower().startswith("rtx/"):
                for param in params.split(";"):
                    key, _, val = param.strip().partition("=")
                    if key == "apt":
                        m.rtx_apt[pt] = val[:8]
    return session


def _sdps() -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "v=0" in value:
            if value.startswith("{"):
                try:
                    inner = json.loads(value)
                except ValueError:
                    return
                if isinstance(inner, dict) and isinstance(inner.get("sdp"), str):
                    found.append(inner["sdp"])
            else:
                found.append(value[value.index("v=0"):])

    for path in sorted((FIXTURES / "analyze").glob("*.webrtc-internals.json.gz")):
        walk(json.loads(gzip.decompress(path.read_bytes())))
    found += [p.read_text() for p in sorted((FIXTURES / "analyze").glob("*.sdp"))]
    return sorted(set(found))


PIECES = [" ", "\t", "\r", "\n", "\r\n", "\r\r\n", "a=", "m=", ":", "rtpmap", "fmtp", "candidate", "\u00a0",
          "\x0b", "\x85", "\u2028", "x", "=", "a=rtpmap:96 rtx/90000", "apt=", ";", "a=mid:", "a=sendonly",
          "a=group:BUNDLE 0", "a=ice-lite", "m=audio 0 x", " a=setup:active", "a=fmtp:96 apt=111"]


def _mutate(text: str, rnd: random.Random) -> str:
    chars = list(text)
    for _ in range(rnd.randint(1, 12)):
        at = rnd.randint(0, len(chars))
        roll = rnd.random()
        if roll < 0.5:
            chars.insert(at, rnd.choice(PIECES))
        elif roll < 0.8 and chars:
            del chars[min(at, len(chars) - 1)]
        else:
            del chars[at:rnd.randint(at, min(len(chars), at + 40))]
    return "".join(chars)


def test_parse_sdp_reads_what_the_plain_reader_read() -> None:
    sdps = _sdps()
    assert len(sdps) > 50
    rnd = random.Random(19)
    for text in sdps:
        for variant in [text, *(_mutate(text, rnd) for _ in range(30))]:
            assert parse_sdp(variant) == reference_parse_sdp(variant), variant


def test_parse_sdp_line_bound_is_the_plain_readers() -> None:
    many = "v=0\r\nm=audio 9 RTP/AVP 0\r\n" + "a=x\r\n" * (MAX_LINES - 3) + "a=mid:late\r\na=mid:later\r\n"
    assert parse_sdp(many) == reference_parse_sdp(many)
    assert parse_sdp(many).media[0].mid == "late"

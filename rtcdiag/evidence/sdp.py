"""A minimal SDP reader (RFC 8866) for what triage needs: m-lines, mid, BUNDLE (RFC 9143), DTLS setup and
fingerprint (RFC 8122, RFC 8842), ICE ufrag/pwd/lite (RFC 8839), candidates, rtpmap/fmtp, RTX ``apt``
(RFC 4588) and direction. Untrusted text: bounded line count and lengths; unknown lines are ignored."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINES = 20_000
MAX_SECTIONS = 500
MAX_CANDIDATES = 1_000
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# The attributes read below; the others (extmap, ssrc, rtcp-fb...: most lines of an SDP) are skipped at once.
_READ = frozenset({"group", "ice-lite", "setup", "fingerprint", "ice-ufrag", "ice-pwd", "mid", "candidate",
                   "rtpmap", "fmtp", *_DIRECTIONS})


@dataclass(frozen=True)
class Candidate:
    """An ICE candidate line (RFC 8839 §5.1), with the browser's extensions it carries."""

    foundation: str
    component: int
    protocol: str  # udp / tcp
    priority: int
    address: str  # an IP, or an mDNS name (``<uuid>.local``) when the browser hides its address
    port: int
    type: str  # host / srflx / prflx / relay
    related_address: str = ""
    related_port: int | None = None
    tcp_type: str = ""
    ufrag: str = ""

    @property
    def is_mdns(self) -> bool:
        return self.address.lower().endswith(".local")


def parse_candidate(text: str) -> Candidate | None:
    """``candidate:1 1 udp 2122194687 192.0.2.2 5000 typ host ...`` (with or without ``a=``); None if bad."""
    line = text.strip()[:2000]
    for prefix in ("a=", "candidate:"):
        line = line.removeprefix(prefix)
    parts = line.split()
    if len(parts) < 8 or parts[6] != "typ":
        return None
    try:
        component, priority, port = int(parts[1]), int(parts[3]), int(parts[5])
    except ValueError:
        return None
    extra = dict(zip(parts[8::2], parts[9::2], strict=False))
    related_port: int | None = None
    if extra.get("rport", "").isdigit():
        related_port = int(extra["rport"])
    return Candidate(foundation=parts[0][:64], component=component, protocol=parts[2].lower()[:8],
                     priority=priority, address=parts[4][:255], port=port, type=parts[7][:10],
                     related_address=extra.get("raddr", "")[:255], related_port=related_port,
                     tcp_type=extra.get("tcptype", "")[:10], ufrag=extra.get("ufrag", "")[:256])


@dataclass
class MediaSection:
    kind: str  # audio / video / application
    port: int
    protocol: str
    formats: list[str]
    mid: str = ""
    direction: str = "sendrecv"
    setup: str = ""
    fingerprints: list[str] = field(default_factory=list)  # "sha-256 AB:CD:..."
    ice_ufrag: str = ""
    ice_pwd: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    rtpmap: dict[str, str] = field(default_factory=dict)  # payload type -> "opus/48000/2"
    fmtp: dict[str, str] = field(default_factory=dict)
    rtx_apt: dict[str, str] = field(default_factory=dict)  # RTX payload type -> associated payload type

    @property
    def rejected(self) -> bool:
        return self.port == 0  # RFC 8843 §7.3.3 bundle-only has port 0 too, with a=bundle-only


@dataclass
class SessionDescription:
    bundle: list[str] = field(default_factory=list)  # mids of the first a=group:BUNDLE
    ice_lite: bool = False
    setup: str = ""  # session-level defaults
    fingerprints: list[str] = field(default_factory=list)
    ice_ufrag: str = ""
    ice_pwd: str = ""
    media: list[MediaSection] = field(default_factory=list)

    def all_fingerprints(self) -> list[str]:
        found = list(self.fingerprints)
        for m in self.media:
            found += [f for f in m.fingerprints if f not in found]
        return found

    def setups(self) -> list[str]:
        live = [m for m in self.media if not m.rejected]
        return sorted({m.setup or self.setup for m in live if m.setup or self.setup})

    def candidates(self) -> list[Candidate]:
        return [c for m in self.media for c in m.candidates]


# What a line read below starts with (an m-line, or an attribute of _READ): any other line that does not
# start with a blank (which strip() would drop) is skipped before any other work; most lines of a browser's
# SDP are such (ssrc, extmap, rtcp-fb, msid, c=...).
# The most frequent first (rtpmap and fmtp are most of the lines read): the test stops at the first match.
_READ_PREFIXES = ("a=rtpmap", "a=fmtp", "a=candidate", "m=",
                  *(f"a={name}" for name in sorted(_READ - {"rtpmap", "fmtp", "candidate"})))


def parse_sdp(text: str) -> SessionDescription:
    session = SessionDescription()
    current: MediaSection | None = None
    # Split at "\n" alone: the "\r" of a "\r\n" ends its line, a blank that strip() drops (the same lines).
    for raw in text.split("\n")[:MAX_LINES]:
        if raw.startswith(_READ_PREFIXES):  # "m=" or "a=...": no blank before, the "=" second
            line = raw.rstrip()
            if len(line) > 4000:
                line = line[:4000]
        elif raw[:1].isspace():
            line = raw.strip()[:4000]
            if len(line) < 2 or line[1] != "=":
                continue
        else:
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
        # The most frequent first (rtpmap, fmtp, candidate: most of the lines read); the names are distinct.
        if name == "rtpmap":
            if current is not None:
                pt, _, codec = arg.partition(" ")
                current.rtpmap[pt[:8]] = codec[:100]
        elif name == "fmtp":
            if current is not None:
                pt, _, params = arg.partition(" ")
                current.fmtp[pt[:8]] = params[:1000]
                if current.rtpmap.get(pt, "").lower().startswith("rtx/"):
                    for param in params.split(";"):
                        key, _, val = param.strip().partition("=")
                        if key == "apt":
                            current.rtx_apt[pt[:8]] = val[:8]
        elif name == "candidate":
            if current is not None and len(current.candidates) < MAX_CANDIDATES:
                candidate = parse_candidate(arg)
                if candidate is not None:
                    current.candidates.append(candidate)
        elif name not in _READ:
            continue
        elif name == "group" and arg.startswith("BUNDLE") and not session.bundle:
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
    for m in session.media:  # an fmtp line may come before its rtpmap
        for pt, params in m.fmtp.items():
            if pt not in m.rtx_apt and m.rtpmap.get(pt, "").lower().startswith("rtx/"):
                for param in params.split(";"):
                    key, _, val = param.strip().partition("=")
                    if key == "apt":
                        m.rtx_apt[pt] = val[:8]
    return session

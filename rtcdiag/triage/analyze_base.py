"""rtcdiag analyze: what every rule of a dump shares: the check name, a server URL as a browser reads it, the
subject of a server and of a peer connection.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from rtcdiag.evidence.pc_facts import (
    PcSummary,
)
from rtcdiag.evidence.sdp import SessionDescription
from rtcdiag.targets import IceServerUrl
from rtcdiag.triage.finding import Subject

CHECK = "analyze"


@functools.lru_cache(maxsize=4096)
def ice_url(text: str) -> IceServerUrl:
    """A server URL from the evidence as a browser reads it: compared by its key, never as text (a dump
    names ``turn:h:3478`` of the configuration ``turn:h:3478?transport=udp`` in candidates and errors)."""
    return IceServerUrl.lenient(text)


def server_subject(url: IceServerUrl) -> Subject:
    """The subject of a finding or step about one ICE server (``rtcdiag browser`` uses it too, so that the
    two meet): shown as written, with the host, port and transport the browser uses."""
    return Subject(url.text or url.key, url.host, url.port, url.transport)


def configured(s: PcSummary) -> list[IceServerUrl]:
    """The connection's configured servers, one per browser-equivalent URL, in the configuration's order."""
    return list(_configured(tuple(s.pc.ice_servers)))


@functools.lru_cache(maxsize=1024)
def _configured(texts: tuple[str, ...]) -> tuple[IceServerUrl, ...]:
    out: dict[str, IceServerUrl] = {}
    for text in texts:
        url = ice_url(text)
        out.setdefault(url.key, url)
    return tuple(out.values())


def pc_subject(summary: PcSummary) -> Subject:
    # The host is the peer connection itself: the diagnosis folds one connection's consequences under
    # that connection's own root cause, never under another connection's.
    return Subject(summary.label, summary.label)


def pcs_text(labels: Iterable[str]) -> str:
    names = sorted(set(labels))
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _ufrags(sdp: SessionDescription | None) -> set[str]:
    return {m.ice_ufrag or sdp.ice_ufrag for m in sdp.media} - {""} if sdp is not None else set()


def _stats_ufrags(s: PcSummary, side: str) -> set[str]:
    """getStats output has no descriptions: the ufrags of its candidates (and of its transport's own end)."""
    found = {c.candidate.ufrag for c in s.of(side) if c.candidate.ufrag}
    if side == "local":
        transport = s.pc.stats.get(s.dtls_stats_id) if s.dtls_stats_id else None
        if transport is not None and transport.text("iceLocalUsernameFragment"):
            found.add(transport.text("iceLocalUsernameFragment"))
    return found


def _own_ufrags(s: PcSummary) -> set[str]:
    # Stats-only evidence may still carry descriptions (Firefox's report keeps its sdpHistory): both count.
    return _stats_ufrags(s, "local") | _ufrags(s.local_sdp) if s.pc.stats_only else _ufrags(s.local_sdp)


def _their_ufrags(s: PcSummary) -> set[str]:
    return _stats_ufrags(s, "remote") | _ufrags(s.remote_sdp) if s.pc.stats_only else _ufrags(s.remote_sdp)


def local_ufrags(summaries: list[PcSummary]) -> dict[str, PcSummary]:
    """Every connection by the ICE ufrags of its own description (RFC 8839 §5.4; getStats output: of its own
    candidates): how the other end of a connection is found when both are in the evidence (two peer
    connections of one page, or files of one call)."""
    out: dict[str, PcSummary] = {}
    for summary in summaries:
        for ufrag in sorted(_own_ufrags(summary)):
            out.setdefault(ufrag, summary)
    return out


def other_side(s: PcSummary, by_ufrag: dict[str, PcSummary]) -> PcSummary | None:
    mine = _own_ufrags(s)
    found = (by_ufrag.get(u) for u in sorted(_their_ufrags(s) - mine))
    return next((o for o in found if o is not None and o is not s), None)

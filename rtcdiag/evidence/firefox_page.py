"""Read a Firefox about:webrtc page saved with its "Save Page" button (``aboutWebrtc.html``, what Mozilla asks
for in bug reports) into the same shape as the report JSON, then into a dump (rtcdiag.evidence.firefox).

"Save Page" writes ``#content``'s ``outerHTML`` through a byte stream: characters above U+00FF lose their
high byte (so the file is Latin-1, not UTF-8, and the copy buttons' emoji become noise), sections stay in
the DOM whether folded or not, and the page's own text is localised: elements are told apart by their
``data-l10n-id`` (and ``data-l10n-args``), never by their words. Per peer connection it holds the pcid
(``pc-tools: <pcid>``), "(closed)", the configuration's text (``iceTransportPolicy: relay``, ``urls:
[...]``), the ICE table (pair state, nominated, selected, local and remote candidate as
``address:port/protocol(type[-relayProtocol]) [proxied]``), ICE restarts and rollbacks, raw candidates, the
SDP history (``Timestamp N (+ ms)`` then the SDP, in a local and a remote column), "Data Channels Opened",
"Received N packets"; and the Connection Log (the ICE log, one ``<p>`` a line). No transport states.

Hostile input: read with the standard library's tolerant ``html.parser``; every count and text is bounded.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from rtcdiag.evidence.firefox import dump_from_reports
from rtcdiag.evidence.firefox_log import MAX_LOG_LINES, parse_ice_log
from rtcdiag.evidence.sniff import EvidenceError
from rtcdiag.evidence.webrtc_internals import InternalsDump

if TYPE_CHECKING:
    import mmap

MAX_PAGE_CHARS = 64 * 1024 * 1024
MAX_PCS = 2_000
MAX_ROWS = 5_000  # per table
MAX_TEXT = 1_000_000  # one element's text (an SDP)
_CANDIDATE = re.compile(r"^\s*(\[?[0-9A-Za-z:.%-]{1,100}\]?):(\d{1,5})/(\w{1,5})\((\w{1,8})(?:-(\w{1,5}))?\)")


def looks_like_page(data: bytes | mmap.mmap) -> bool:
    head = data[:262144]
    return b'data-l10n-id="about-webrtc-' in head and (b'id="content"' in head or b"pc-tools: " in head)


def page_text(data: bytes) -> str:
    """UTF-8 when the file is (a browser's own "Save as"), else Latin-1: "Save Page" writes each UTF-16
    unit's low byte."""
    try:
        return data.decode("utf-8")[:MAX_PAGE_CHARS]
    except UnicodeDecodeError:
        return data.decode("latin-1")[:MAX_PAGE_CHARS]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.reports: list[dict[str, Any]] = []
        self.log: list[str] = []
        self.stack: list[str] = []
        self.text: list[str] | None = None  # collecting an element's text
        self.text_tag = ""
        self.text_depth = 0
        self.want = ""  # what the collected text is for
        self.pending_label = ""  # an info-label's l10n id waiting for its info-body
        self.table: list[list[str]] | None = None
        self.table_kind = ""
        self.row: list[str] | None = None
        self.side = ""  # local / remote column of the SDP history
        self.sdp_stamp: float | None = None
        self.in_log = False
        self.config_depth = 0
        self.config_text: list[str] = []

    @property
    def pc(self) -> dict[str, Any] | None:
        return self.reports[-1] if self.reports else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "input", "meta", "link", "img", "hr", "wbr"):
            if tag == "br" and self.text is not None:
                self.text.append("\n")
            return
        self.stack.append(tag)
        if len(self.stack) > 400:  # a hostile nesting: stop tracking depth beyond this
            self.stack = self.stack[-400:]
        a = {k: v or "" for k, v in attrs[:20]}
        l10n = a.get("data-l10n-id", "")
        element_id = a.get("id", "")
        classes = a.get("class", "").split()
        if element_id.startswith("pc-tools: ") and len(self.reports) < MAX_PCS:
            self.reports.append({"pcid": element_id.removeprefix("pc-tools: ")[:3000], "closed": False,
                                 "iceCandidateStats": [], "iceCandidatePairStats": [], "sdpHistory": [],
                                 "rawLocalCandidates": [], "rawRemoteCandidates": [],
                                 "peerConnectionStats": [], "inboundRtpStreamStats": [],
                                 "configuration": {"iceServers": []}})
        pc = self.pc
        if l10n == "about-webrtc-connection-closed" and pc is not None:
            pc["closed"] = True
        if l10n == "about-webrtc-log-heading":
            self.in_log = True
        if "peer-connection-config" in classes and pc is not None:
            self.config_depth, self.config_text = len(self.stack), []
        if l10n in ("about-webrtc-local-sdp-heading", "about-webrtc-remote-sdp-heading"):
            self.side = "local" if "local" in l10n else "remote"
        if l10n == "about-webrtc-sdp-set-timestamp":
            self.sdp_stamp = _arg_number(a.get("data-l10n-args", ""), "timestamp")
        if l10n == "about-webrtc-received-label" and pc is not None:
            packets = _arg_number(a.get("data-l10n-args", ""), "packets")
            if packets is not None and len(pc["inboundRtpStreamStats"]) < MAX_ROWS:
                pc["inboundRtpStreamStats"].append({"id": f"page-inbound-{len(pc['inboundRtpStreamStats'])}",
                                                    "type": "inbound-rtp", "packetsReceived": packets})
        if tag == "th" and self.table is not None and not self.table_kind:
            self.table_kind = {"about-webrtc-ice-state": "pairs",
                               "about-webrtc-raw-local-candidate": "raw-local",
                               "about-webrtc-raw-remote-candidate": "raw-remote"}.get(l10n, "")
        if tag == "table":
            self.table, self.table_kind = [], ""
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag == "td" and self.row is not None:
            self._collect(tag, "cell")
        elif tag == "span" and "info-label" in classes:
            self.pending_label = l10n
        elif tag == "span" and "info-body" in classes and self.pending_label:
            self._collect(tag, self.pending_label)
            self.pending_label = ""
        elif tag == "pre" and self.sdp_stamp is not None and self.side:
            self._collect(tag, "sdp")
        elif tag == "p" and self.in_log:
            self._collect(tag, "log")

    def _collect(self, tag: str, want: str) -> None:
        if self.text is None:
            self.text, self.text_tag, self.text_depth, self.want = [], tag, len(self.stack), want

    def handle_endtag(self, tag: str) -> None:
        if self.text is not None and tag == self.text_tag and len(self.stack) == self.text_depth:
            self._done("".join(self.text)[:MAX_TEXT])
            self.text = None
        if self.config_depth and len(self.stack) == self.config_depth and tag == "div":
            self._config("".join(self.config_text))
            self.config_depth = 0
        if tag == "tr" and self.row is not None and self.table is not None:
            if self.row and len(self.table) < MAX_ROWS:
                self.table.append(self.row)
            self.row = None
        elif tag == "table" and self.table is not None:
            self._table(self.table_kind, self.table)
            self.table = None
        if self.stack and tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.text is not None and sum(map(len, self.text)) < MAX_TEXT:
            self.text.append(data)
        if self.config_depth and sum(map(len, self.config_text)) < 200_000:
            self.config_text.append(data)

    def _done(self, text: str) -> None:
        pc = self.pc
        if self.want == "cell" and self.row is not None:
            self.row.append(text.strip()[:2000])
        elif self.want == "log" and len(self.log) < MAX_LOG_LINES:
            self.log.append(text)
        elif self.want == "sdp" and pc is not None and len(pc["sdpHistory"]) < 500:
            pc["sdpHistory"].append({"timestamp": self.sdp_stamp, "isLocal": self.side == "local",
                                     "sdp": text.replace("\r\n", "\n").replace("\n", "\r\n"), "errors": []})
            self.sdp_stamp = None
        elif pc is not None and self.want in _COUNTERS:
            number = _int(text)
            if number is not None:
                if self.want == "about-webrtc-data-channels-opened-label":
                    pc["peerConnectionStats"] = [{"id": "page-peer-connection", "type": "peer-connection",
                                                  "dataChannelsOpened": number}]
                else:
                    pc[_COUNTERS[self.want]] = number

    def _config(self, text: str) -> None:
        pc = self.pc
        if pc is None:
            return
        policy = re.search(r"iceTransportPolicy:\s*(\w+)", text)
        if policy:
            pc["configuration"]["iceTransportPolicy"] = policy.group(1)[:20]
        for found in re.finditer(r"urls:\s*(\[[^\]\n]{0,5000}\])", text):
            try:
                urls = json.loads(found.group(1))
            except ValueError:
                continue
            if isinstance(urls, list) and len(pc["configuration"]["iceServers"]) < 100:
                pc["configuration"]["iceServers"].append({"urls": [u for u in urls if isinstance(u, str)]})

    def _table(self, kind: str, rows: list[list[str]]) -> None:
        pc = self.pc
        if pc is None or not kind:
            return
        if kind in ("raw-local", "raw-remote"):
            key = "rawLocalCandidates" if kind == "raw-local" else "rawRemoteCandidates"
            pc[key] += [row[0] for row in rows if row and row[0]][:MAX_ROWS]
            return
        for n, row in enumerate(rows):
            if len(row) < 5:
                continue
            local = _candidate(row[3], f"page-local-{n}", "local-candidate")
            remote = _candidate(row[4], f"page-remote-{n}", "remote-candidate")
            if local is None:
                continue
            pc["iceCandidateStats"] += [c for c in (local, remote) if c is not None]
            pair: dict[str, Any] = {"id": f"page-pair-{n}", "type": "candidate-pair", "state": row[0][:20],
                                    "nominated": row[1] == "true", "selected": row[2] == "true",
                                    "localCandidateId": local["id"]}
            if remote is not None:
                pair["remoteCandidateId"] = remote["id"]
            for index, name in ((7, "bytesSent"), (8, "bytesReceived")):
                if len(row) > index and _int(row[index]) is not None:
                    pair[name] = _int(row[index])
            pc["iceCandidatePairStats"].append(pair)


_COUNTERS = {"about-webrtc-ice-restart-count-label": "iceRestarts",
             "about-webrtc-ice-rollback-count-label": "iceRollbacks",
             "about-webrtc-data-channels-opened-label": "dataChannelsOpened"}


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 16 else None


def _arg_number(args: str, name: str) -> float | None:
    try:
        loaded = json.loads(args) if args else None
    except ValueError:
        return None
    value = loaded.get(name) if isinstance(loaded, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _candidate(text: str, stats_id: str, kind: str) -> dict[str, Any] | None:
    """``127.0.0.1:50902/udp(relay-udp) [non-proxied]`` as candidate stats."""
    found = _CANDIDATE.match(text)
    if found is None:
        return None
    out: dict[str, Any] = {"id": stats_id, "type": kind, "address": found.group(1).strip("[]"),
                           "port": int(found.group(2)), "protocol": found.group(3).lower(),
                           "candidateType": found.group(4)}
    if found.group(5):
        out["relayProtocol"] = found.group(5).lower()
    return out


def parse_page(data: bytes, source: str) -> InternalsDump:
    """A saved about:webrtc page as a dump, its Connection Log attached."""
    parser = _Page()
    try:
        parser.feed(page_text(data))
        parser.close()
    except (ValueError, AssertionError, RecursionError) as exc:  # html.parser's own complaints
        raise EvidenceError(f"{source}: not a readable about:webrtc page ({str(exc)[:120]})") from None
    if not parser.reports and not parser.log:  # about:webrtc with nothing in it: nothing to judge (exit 3)
        return InternalsDump(source=source, user_agent="Firefox (about:webrtc saved page)",
                             notes=["the saved page shows no peer connection and an empty Connection Log"])
    for report in parser.reports:
        report.pop("dataChannelsOpened", None)
    dump = dump_from_reports(parser.reports, [], source)
    dump.user_agent = "Firefox (about:webrtc saved page)"
    for pc in dump.peer_connections:
        pc.stats_source = "the saved about:webrtc page"
    if parser.log:
        from rtcdiag.evidence.firefox import attach_log

        attach_log(dump, parse_ice_log(parser.log, f"{source} (Connection Log)"))
    else:
        dump.notes.append("the saved page has no Connection Log: TURN errors cannot be read from it")
    return dump

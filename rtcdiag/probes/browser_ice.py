"""The Trickle ICE page, run by a real Chromium: gather from each ICE server alone and from all together,
then a relay-only call and a normal-policy call between two RTCPeerConnections in one page, each echoing
messages over a data channel. The browser is driven by :mod:`rtcdiag.probes.browser` (the one driver), which
also downloads the run's chrome://webrtc-internals dump.

Credentials reach the page only as the argument of Playwright's ``evaluate`` (never in the page URL); the
page script logs nothing, and webrtc-internals keeps only the URLs of ``rtcConfiguration``. Everything the
page returns (candidate addresses, a server's error text) is bounded and made printable here: a hostile
server chooses the error text Chromium reports.

Records facts only; rtcdiag.triage.browser decides what they mean.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rtcdiag.probes.browser import BrowserOptions, run_script
from rtcdiag.probes.ice import IceServer
from rtcdiag.probes.pages import page_script
from rtcdiag.redact import ECHO
from rtcdiag.targets import IceServerUrl
from rtcdiag.textsafe import printable

MAX_CANDIDATES = 200  # per peer connection (the page stops recording there too)
MAX_ERRORS = 100
MAX_MESSAGES = 1000
READY_MARKER = "rtcdiag-page-done"  # the label of the data channel the page creates last

# The Trickle ICE page (pages/trickle_ice.js): every peer connection up front, in the order webrtc-internals
# numbers them; bounded waits only.
PAGE_SCRIPT = page_script("trickle_ice.js")


@dataclass(frozen=True)
class PageCandidate:
    """One candidate as the Trickle ICE page lists it."""

    type: str
    protocol: str
    address: str
    port: int
    priority: int
    relay_protocol: str  # udp / tcp / tls for a relay candidate (how it reaches its TURN server)
    url: str  # the ICE server URL that gave it ("" for host candidates)
    foundation: str
    ms: float  # since the page started


@dataclass(frozen=True)
class PageError:
    """One ``icecandidateerror`` (W3C: 300-699 the server's STUN error code, 701 not reachable)."""

    url: str
    code: int
    text: str = field(metadata=ECHO)  # Chromium's errorText: for 300-699 the server's reason phrase
    address: str
    port: int
    ms: float


@dataclass
class Gathering:
    label: str  # "gather turn:..." (one server alone) or "gather all"
    urls: list[str]
    state: str  # complete / timeout
    ms: float | None
    candidates: list[PageCandidate] = field(default_factory=list)
    errors: list[PageError] = field(default_factory=list)


@dataclass(frozen=True)
class PagePair:
    local_type: str
    local: str
    local_protocol: str
    relay_protocol: str
    url: str
    remote_type: str
    remote: str
    rtt_ms: float | None


@dataclass
class Call:
    """Two peer connections in the page, signalling to each other directly; ``a`` echoes through ``b``."""

    label: str  # "relay call" / "normal call"
    policy: str  # relay / all
    state: str  # connected / failed / closed / timeout / new
    connect_ms: float | None
    open: bool  # the data channel opened
    sent: int
    received: int
    rtts_ms: list[float]
    pair: PagePair | None
    candidates: list[PageCandidate] = field(default_factory=list)  # caller's own
    errors: list[PageError] = field(default_factory=list)
    error: str = ""  # signalling failed (the browser's message)

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def lost(self) -> int:
        return max(0, self.sent - self.received)


@dataclass
class BrowserIceResult:
    servers: list[str]  # the URLs, as given to the page
    user_agent: str = ""
    gatherings: list[Gathering] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    page_ms: float | None = None
    duration_ms: float = 0.0
    # As downloaded (gzip; URLs only, never credentials). Kept out of the JSON report (the "secret" mark drops
    # a field there): --save-dump writes it.
    internals_dump: bytes = field(default=b"", repr=False, metadata={"secret": True})
    engine: str = "chromium"  # chromium / firefox: which browser ran the page
    # Firefox's own evidence of the run (getAllStats JSON, getLogging lines; URLs only, never credentials):
    # kept out of the JSON report like the dump; --save-dump writes them.
    firefox_report: bytes = field(default=b"", repr=False, metadata={"secret": True})
    firefox_log: list[str] = field(default_factory=list, repr=False, metadata={"secret": True})
    pc_labels: list[str] = field(default_factory=list)  # the page's connections in creation order
    console: list[str] = field(default_factory=list)  # what the page logged (the script itself logs nothing)
    error: str = ""  # the browser run itself failed (in words)


@dataclass(frozen=True)
class BrowserIceOptions:
    executable: str | None = None
    relay_only: bool = False  # gather relay-only, and no normal-policy call
    messages: int = 10  # data-channel echo messages per call
    timeout_s: float = 10.0  # for gathering, for connecting, for the echo (each)
    engine: str = "chromium"  # chromium (Playwright) / firefox (Marionette, rtcdiag.probes.firefox)


def _text(value: Any, limit: int = 300) -> str:
    return printable(str(value))[:limit] if value is not None else ""


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _list(value: Any, limit: int) -> list[Any]:
    return list(value[:limit]) if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _candidates(raw: Any) -> list[PageCandidate]:
    out = []
    for item in _list(raw, MAX_CANDIDATES):
        c = _dict(item)
        out.append(PageCandidate(type=_text(c.get("type"), 10), protocol=_text(c.get("protocol"), 10),
                                 address=_text(c.get("address"), 100), port=_int(c.get("port")),
                                 priority=_int(c.get("priority")),
                                 relay_protocol=_text(c.get("relayProtocol"), 10),
                                 url=_text(c.get("url"), 500), foundation=_text(c.get("foundation"), 40),
                                 ms=_num(c.get("ms")) or 0.0))
    return out


def _errors(raw: Any) -> list[PageError]:
    out = []
    for item in _list(raw, MAX_ERRORS):
        e = _dict(item)
        out.append(PageError(url=_text(e.get("url"), 500), code=_int(e.get("code")),
                             text=_text(e.get("text")),
                             address=_text(e.get("address"), 100), port=_int(e.get("port")),
                             ms=_num(e.get("ms")) or 0.0))
    return out


def _pair(raw: Any) -> PagePair | None:
    p = _dict(raw)
    if not p:
        return None
    return PagePair(local_type=_text(p.get("localType"), 10), local=_text(p.get("local"), 120),
                    local_protocol=_text(p.get("localProtocol"), 10),
                    relay_protocol=_text(p.get("relayProtocol"), 10), url=_text(p.get("url"), 500),
                    remote_type=_text(p.get("remoteType"), 10), remote=_text(p.get("remote"), 120),
                    rtt_ms=_num(p.get("rttMs")))


def parse_page(raw: Any, result: BrowserIceResult) -> None:
    """What the page script returned, bounded and printable, into ``result``."""
    data = _dict(raw)
    for item in _list(data.get("gathers"), 100):
        g = _dict(item)
        result.gatherings.append(Gathering(
            label=_text(g.get("label"), 600), urls=[_text(u, 500) for u in _list(g.get("urls"), 100)],
            state=_text(g.get("state"), 20), ms=_num(g.get("ms")),
            candidates=_candidates(g.get("candidates")),
            errors=_errors(g.get("errors"))))
    for item in _list(data.get("calls"), 4):
        c = _dict(item)
        result.calls.append(Call(
            label=_text(c.get("label"), 40), policy=_text(c.get("policy"), 10),
            state=_text(c.get("state"), 20),
            connect_ms=_num(c.get("connectMs")), open=c.get("open") is True, sent=_int(c.get("sent")),
            received=_int(c.get("received")),
            rtts_ms=[v for r in _list(c.get("rtts"), MAX_MESSAGES) if (v := _num(r)) is not None],
            pair=_pair(c.get("pair")), candidates=_candidates(c.get("candidates")),
            errors=_errors(c.get("errors")), error=_text(c.get("error"))))
    result.page_ms = _num(data.get("ms"))


def canonical_url(url: str) -> str:
    """A URL as Chromium reports it back (:attr:`IceServerUrl.browser_form`): the page is given this form,
    so that its configuration, candidates and errors name one URL."""
    return IceServerUrl.lenient(url).browser_form


def page_servers(servers: list[IceServer]) -> list[dict[str, str]]:
    """RTCIceServer dictionaries for the page (credentials included: handed to evaluate, never logged)."""
    out: list[dict[str, str]] = []
    for server in servers:
        entry = {"urls": canonical_url(server.url)}
        if server.username is not None and server.password is not None:
            entry |= {"username": server.username, "credential": server.password}
        out.append(entry)
    return out


def connection_labels(servers: list[IceServer], options: BrowserIceOptions) -> list[str]:
    """The page's peer connections in the order it creates them (the dump numbers them so)."""
    alone = len(servers) > 1
    labels = [f"gather {canonical_url(s.url)}" for s in servers] if alone else []
    labels.append("gather all" if alone or not servers else f"gather {canonical_url(servers[0].url)}")
    if any(s.is_turn for s in servers):
        labels += ["relay call a", "relay call b"]
    if not options.relay_only:
        labels += ["normal call a", "normal call b"]
    return labels


async def probe(servers: list[IceServer], options: BrowserIceOptions | None = None) -> BrowserIceResult:
    """Run the page in a fresh headless Chromium; the browser's failure is recorded, never raised."""
    opts = options or BrowserIceOptions()
    started = time.perf_counter()
    result = BrowserIceResult(servers=[canonical_url(s.url) for s in servers])
    has_turn = any(s.is_turn for s in servers)
    arg = {"servers": page_servers(servers), "alone": len(servers) > 1,
           "policy": "relay" if opts.relay_only else "all", "timeoutMs": int(opts.timeout_s * 1000),
           "messages": max(0, min(opts.messages, MAX_MESSAGES)), "relayCall": has_turn,
           "normalCall": not opts.relay_only, "marker": READY_MARKER}
    result.pc_labels = connection_labels(servers, opts)
    result.engine = opts.engine
    if opts.engine == "firefox":
        return await _firefox(arg, opts, result, started)
    browser_options = BrowserOptions(executable=opts.executable, fake_media=False, auto_accept=False,
                                     timeout_s=max(30.0, opts.timeout_s * 4), rtcstats_dump=False,
                                     ready_marker=READY_MARKER)
    try:
        run = await run_script(PAGE_SCRIPT, arg, browser_options)
    except Exception as exc:  # Playwright's errors: the browser did not start, crashed or timed out
        result.error = _text(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result
    result.user_agent = _text(run.user_agent)
    result.internals_dump = run.internals_dump
    result.console = [_text(line) for line in run.console[:50]]
    parse_page(run.result, result)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


async def _firefox(arg: dict[str, Any], opts: BrowserIceOptions, result: BrowserIceResult,
                   started: float) -> BrowserIceResult:
    """The same page in a fresh headless Firefox; its evidence is Firefox's own report and ICE log."""
    import json

    from rtcdiag.probes.firefox import FirefoxOptions
    from rtcdiag.probes.firefox import run_script as firefox_script

    options = FirefoxOptions(executable=opts.executable, fake_media=False, auto_accept=False,
                             timeout_s=max(30.0, opts.timeout_s * 4))
    try:
        run = await firefox_script(PAGE_SCRIPT, arg, options)
    except Exception as exc:  # Marionette's errors, Firefox not starting, a script that threw
        result.error = _text(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result
    result.user_agent = _text(run.user_agent)
    result.firefox_report = json.dumps(run.report).encode()
    result.firefox_log = run.log
    parse_page(run.result, result)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result

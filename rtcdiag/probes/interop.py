"""A call between a real Chromium (Playwright, Debian's chromium) and a real Firefox (Marionette, Debian's
firefox-esr): rtcdiag is the signalling server. Each side makes its RTCPeerConnection with the user's ICE
servers, its fake camera and microphone and (caller) a data channel; the driver carries the offer and the
answer between the two pages (each description once its gathering completed, its candidates inside it), then
each side reports its states, the data-channel echo, the codecs its getStats says it sends and receives,
its DTLS version and cipher, and both descriptions. Calls: relay-only and normal policy, each direction.

Records facts only (bounded, printable); rtcdiag.triage.interop decides what they mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from rtcdiag.probes.browser import PAGE_URL, find_chromium
from rtcdiag.probes.browser_ice import page_servers
from rtcdiag.probes.firefox import FirefoxOptions, FirefoxSession, firefox_session
from rtcdiag.probes.ice import IceServer
from rtcdiag.probes.pages import page_script
from rtcdiag.textsafe import printable

MAX_SDP = 200_000

# Page functions (pages/interop_*.js): each is evaluated with one argument in its browser.
SETUP = page_script("interop_setup.js")
DESCRIBE = "async (remote) => await window.rtcdiagDescribe(remote)"
SETTLE = page_script("interop_settle.js")
STATS = page_script("interop_stats.js")


@dataclass(frozen=True)
class CodecUse:
    kind: str  # audio / video
    direction: str  # send / recv
    mime_type: str
    fmtp: str


@dataclass
class SideReport:
    """What one browser's own getStats said at the end of the call."""

    browser: str  # chromium / firefox
    codecs: list[CodecUse] = field(default_factory=list)
    tls_version: str = ""  # DTLS version as the stats say (FEFD = 1.2, FEFC = 1.3)
    dtls_cipher: str = ""
    dtls_state: str = ""
    local_type: str = ""
    relay_protocol: str = ""
    packets_received: dict[str, int] = field(default_factory=dict)
    packets_sent: dict[str, int] = field(default_factory=dict)
    user_agent: str = ""


@dataclass
class InteropCall:
    label: str  # "relay chromium->firefox"
    policy: str  # relay / all
    caller: str
    callee: str
    state: str = "new"  # the caller's connection state (or where it stopped)
    connect_ms: float | None = None
    open: bool = False
    sent: int = 0
    received: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    offer: str = field(default="", repr=False)
    answer: str = field(default="", repr=False)
    sides: list[SideReport] = field(default_factory=list)
    error: str = ""


@dataclass
class InteropResult:
    servers: list[str]
    calls: list[InteropCall] = field(default_factory=list)
    video_codec: str = ""  # the caller's setCodecPreferences for video, when forced
    duration_ms: float = 0.0
    error: str = ""


def _failure(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return _text(f"{type(exc).__name__}: {first}")


def _text(value: Any, limit: int = 300) -> str:
    return printable(str(value))[:limit] if value is not None else ""


def _side(browser: str, raw: Any) -> SideReport:
    data = raw if isinstance(raw, dict) else {}
    listed = data.get("codecs")
    codecs = [CodecUse(_text(c.get("kind"), 10), _text(c.get("direction"), 10), _text(c.get("mimeType"), 60),
                       _text(c.get("fmtp"), 300))
              for c in (listed if isinstance(listed, list) else [])[:20] if isinstance(c, dict)]

    def counts(value: Any) -> dict[str, int]:
        return {_text(k, 10): int(v) for k, v in (value.items() if isinstance(value, dict) else [])
                if isinstance(v, int | float) and not isinstance(v, bool)}

    return SideReport(browser, codecs, _text(data.get("tlsVersion"), 10), _text(data.get("dtlsCipher"), 80),
                      _text(data.get("dtlsState"), 20), _text(data.get("localType"), 10),
                      _text(data.get("relayProtocol"), 10), counts(data.get("packetsReceived")),
                      counts(data.get("packetsSent")), _text(data.get("ua"), 200))


class _Chromium:
    def __init__(self, page: Any) -> None:
        self.page = page

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        return await self.page.evaluate(script, arg)


async def _call(call: InteropCall, sides: dict[str, Any], servers: list[dict[str, str]], timeout_s: float,
                messages: int, video_codec: str) -> None:
    caller, callee = sides[call.caller], sides[call.callee]
    common = {"servers": servers, "policy": call.policy, "timeoutMs": int(timeout_s * 1000)}
    await caller.evaluate(SETUP, {**common, "caller": True, "videoCodec": video_codec})
    await callee.evaluate(SETUP, {**common, "caller": False, "videoCodec": ""})
    offer = await caller.evaluate(DESCRIBE, None)
    answer = await callee.evaluate(DESCRIBE, offer)
    # SDP kept as text (its CRLFs matter), bounded; escaped only where it is shown.
    call.offer = str(offer.get("sdp"))[:MAX_SDP] if isinstance(offer, dict) else ""
    call.answer = str(answer.get("sdp"))[:MAX_SDP] if isinstance(answer, dict) else ""
    started = time.perf_counter()
    await caller.evaluate(DESCRIBE, answer)
    settled = await caller.evaluate(SETTLE, {**common, "messages": messages})
    call.connect_ms = (time.perf_counter() - started) * 1000
    data = settled if isinstance(settled, dict) else {}
    call.state, call.open = _text(data.get("state"), 20), data.get("open") is True
    sent, received = data.get("sent"), data.get("received")
    call.sent = int(sent) if isinstance(sent, int | float) else 0
    call.received = int(received) if isinstance(received, int | float) else 0
    rtts = data.get("rtts")
    call.rtts_ms = [float(r) for r in (rtts if isinstance(rtts, list) else [])[:1000]
                    if isinstance(r, int | float)]
    if call.state == "connected":
        reports = await asyncio.gather(caller.evaluate(STATS), callee.evaluate(STATS))
        call.sides = [_side(call.caller, reports[0]), _side(call.callee, reports[1])]


async def probe(servers: list[IceServer], *, timeout_s: float = 10.0, messages: int = 10,
                video_codec: str = "", chromium: str | None = None, firefox: str | None = None,
                ) -> InteropResult:
    """The calls, each in fresh peer connections of the same two browsers; failures recorded, not raised."""
    from playwright.async_api import Route, async_playwright

    result = InteropResult(servers=[s.url for s in servers], video_codec=video_codec)
    page_list = page_servers(servers)
    has_turn = any(s.is_turn for s in servers)
    policies = (["relay"] if has_turn else []) + ["all"]
    started = time.perf_counter()
    try:
        async with async_playwright() as pw, firefox_session(
                FirefoxOptions(executable=firefox, timeout_s=max(30.0, timeout_s * 4))) as fox:
            browser = await pw.chromium.launch(
                executable_path=chromium or find_chromium(), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
                      "--use-fake-ui-for-media-stream"])
            try:
                page = await browser.new_page()

                async def serve(route: Route) -> None:
                    await route.fulfill(status=200, content_type="text/html", body="<html>rtcdiag</html>")

                await page.route(PAGE_URL, serve)
                await page.goto(PAGE_URL)
                sides: dict[str, Any] = {"chromium": _Chromium(page), "firefox": _FirefoxSide(fox)}
                for policy in policies:
                    for caller, callee in (("chromium", "firefox"), ("firefox", "chromium")):
                        call = InteropCall(f"{policy} {caller}->{callee}", policy, caller, callee)
                        result.calls.append(call)
                        try:
                            await asyncio.wait_for(_call(call, sides, page_list, timeout_s, messages,
                                                         video_codec), timeout_s * 6)
                        except Exception as exc:  # a page script that threw, a browser that hung
                            call.error = _failure(exc)
            finally:
                with contextlib.suppress(Exception):
                    await browser.close()
    except Exception as exc:
        result.error = _failure(exc)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


class _FirefoxSide:
    def __init__(self, session: FirefoxSession) -> None:
        self.session = session

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        return await self.session.evaluate(script, arg)

"""Drive a real headless Chromium (Debian's ``chromium``, through Playwright for Python) and collect its own
WebRTC evidence: run a script in a page, then download the dumps ``chrome://webrtc-internals`` offers.

Playwright is imported lazily (it is the optional ``browser`` extra) and its bundled browsers are never used:
``executable_path`` points at the system Chromium. The page is served by Playwright's request interception at
``http://localhost/`` (a secure context for getUserMedia; nothing listens and no request leaves the browser).

chrome://webrtc-internals is opened first: Chromium collects getStats samples for it only while it is open
(the update log is kept from the start either way).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PAGE_URL = "http://localhost/rtcdiag"
_PAGE_HTML = "<!doctype html><html><head><title>rtcdiag</title></head><body>rtcdiag</body></html>"
MAX_DUMP_BYTES = 50 * 1024 * 1024  # a dump bigger than this is not kept (the scenarios make ~20 kB)


@dataclass(frozen=True)
class BrowserOptions:
    executable: str | None = None  # default: the first of CHROMIUM_PATHS that exists
    fake_media: bool = True  # --use-fake-device-for-media-stream: a fake camera and microphone
    auto_accept: bool = True  # --use-fake-ui-for-media-stream: permission prompts are accepted
    extra_args: tuple[str, ...] = ()
    timeout_s: float = 60.0  # for the page script, and for each download
    rtcstats_dump: bool = True  # also download the rtcstats dump (``rtcdiag browser`` needs only the first)
    # Wait (on the internals page's own updates, no fixed sleep) until some connection's update log shows
    # this text before making the dump: the page script's last act is e.g. createDataChannel(marker) on a
    # connection of its own. webrtc-internals receives the updates in batches (~0.5 s) and in order, so once
    # the marker is there every earlier event of the page is too.
    ready_marker: str | None = None
    # Awaited with the page (a Playwright ``Page``) once the script has returned, before the dumps are made:
    # e.g. close the page (the dumps then show what Chromium kept of a closed tab) or stop a capture.
    after_script: Callable[[Any], Awaitable[None]] | None = None
    # Awaited with the page before the script runs: e.g. expose a function the script calls mid-call
    # (``page.expose_function``: no network traffic, the call goes over the DevTools pipe).
    before_script: Callable[[Any], Awaitable[None]] | None = None


@dataclass
class BrowserRun:
    """What one page script returned and the two dumps chrome://webrtc-internals downloaded (as saved:
    Chromium gzips them when its "Compress" box is ticked, the default)."""

    result: Any
    internals_dump: bytes
    rtcstats_dump: bytes
    user_agent: str = ""
    console: list[str] = field(default_factory=list)


def find_chromium() -> str | None:
    override = os.environ.get("RTCDIAG_CHROMIUM")
    for path in (override, *CHROMIUM_PATHS):
        if path and os.path.exists(path):
            return path
    for name in BROWSER_NAMES:  # Chromium or Chrome found on PATH
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable_reason() -> str | None:
    """Why a browser run cannot happen here (None when Chromium and Playwright are both installed)."""
    if find_chromium() is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install 'rtcdiag[browser]')"
    return None


def _args(options: BrowserOptions) -> list[str]:
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run"]
    if options.fake_media:
        args.append("--use-fake-device-for-media-stream")
    if options.auto_accept:
        args.append("--use-fake-ui-for-media-stream")
    return [*args, *options.extra_args]


async def run_script(script: str, arg: Any = None, options: BrowserOptions | None = None) -> BrowserRun:
    """Run ``script`` (a JS function expression, awaited with ``arg``) in a fresh headless Chromium and
    download both webrtc-internals dumps afterwards. The browser is closed on every path."""
    from playwright.async_api import Route, async_playwright

    opts = options or BrowserOptions()
    executable = opts.executable or find_chromium()
    if executable is None:
        raise RuntimeError(unavailable_reason() or "no Chromium")
    timeout_ms = opts.timeout_s * 1000
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=_args(opts))
        try:
            context = await browser.new_context(accept_downloads=True)
            internals = await context.new_page()
            await internals.goto("chrome://webrtc-internals")
            page = await context.new_page()
            console: list[str] = []
            page.on("console", lambda msg: console.append(msg.text[:500]) if len(console) < 200 else None)

            async def serve(route: Route) -> None:
                await route.fulfill(status=200, content_type="text/html", body=_PAGE_HTML)

            await page.route(PAGE_URL, serve)
            await page.goto(PAGE_URL)
            page.set_default_timeout(timeout_ms)
            if opts.before_script is not None:
                await opts.before_script(page)
            result = await page.evaluate(script, arg)
            user_agent = await page.evaluate("navigator.userAgent")
            if opts.after_script is not None:
                await opts.after_script(page)
            if opts.ready_marker is not None:
                await internals.wait_for_function(
                    "m => [...document.querySelectorAll('[id$=\"-update-log\"]')]"
                    ".some(e => e.textContent.includes(m))", arg=opts.ready_marker, polling=50,
                    timeout=timeout_ms)
            await internals.click("text=Create a WebRTC-Internals dump")
            dumps: list[bytes] = []
            buttons = ("#dump-click-target", "#dump-click-target-rtcstats")
            for button in buttons if opts.rtcstats_dump else buttons[:1]:
                async with internals.expect_download(timeout=timeout_ms) as waiting:
                    await internals.click(button)
                download = await waiting.value
                path = await download.path()
                size = os.path.getsize(path)
                if size > MAX_DUMP_BYTES:
                    raise RuntimeError(f"webrtc-internals dump of {size} bytes is too big")
                with open(path, "rb") as handle:
                    dumps.append(handle.read())
            return BrowserRun(result=result, internals_dump=dumps[0], rtcstats_dump=dumps[1] if len(dumps) > 1
                              else b"",
                              user_agent=str(user_agent), console=console)
        finally:
            await browser.close()

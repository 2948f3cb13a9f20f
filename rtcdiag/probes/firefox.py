"""Drive a real headless Firefox (Debian's ``firefox-esr``) and collect its own WebRTC evidence: run a script
in a page, then take from Firefox itself the about:webrtc report (``WebrtcGlobalInformation.getAllStats``),
its ICE log (``getLogging``) and, when asked, the about:webrtc page as "Save Page" writes it.

Marionette, spoken here directly (asyncio, ~100 lines), rather than the ``marionette-driver`` package or
WebDriver BiDi: its protocol is length-prefixed JSON over one loopback TCP connection
(``<len>:[0, id, "Command", params]``), it is the documented way into Firefox's chrome context (where
``WebrtcGlobalInformation`` lives; ESR 153 needs ``--remote-allow-system-access`` for it), and speaking it on
the event loop lets one process drive Firefox and Playwright's Chromium side by side (the interop call).
``marionette-driver`` is synchronous and pulls in mozrunner/mozprofile/mozversion; BiDi needs a WebSocket
client and reaches chrome context only through newer, Firefox-specific extensions. Nothing is downloaded.

Firefox runs with a fresh profile in a temporary directory (removed afterwards): Marionette on a port it
picks (``marionette.port`` 0, read from ``MarionetteActivePort``), fake media and no permission prompt when
asked, host addresses not hidden behind mDNS (no multicast), and every background service that would reach
the network (updates, telemetry, safe browsing, remote settings, captive portal, OpenH264 download) off. The
page is served by a loopback HTTP server of this process at ``http://127.0.0.1:<port>/rtcdiag`` (a secure
context). Firefox is stopped by its process id (its own process group) on every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

FIREFOX_PATHS = ("/usr/bin/firefox-esr", "/usr/lib/firefox-esr/firefox-esr", "/usr/bin/firefox")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one Marionette answer (a report with many connections is ~1 MB)
MAX_LOG_LINES = 50_000
START_TIMEOUT_S = 60.0
PAGE_HTML = b"<!doctype html><html><head><title>rtcdiag</title></head><body>rtcdiag</body></html>"

# Prefs of the temporary profile. Background services off: this machine's network is closed, and a
# diagnostic run must not phone home.
PREFS: dict[str, bool | int | str] = {
    "marionette.port": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.search.update": False,
    "browser.region.network.url": "",
    "browser.topsites.contile.enabled": False,
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "captivedetect.canonicalURL": "",
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "geo.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "http://127.0.0.1:9/",
    "media.gmp-gmpopenh264.autoupdate": False,
    "media.peerconnection.ice.obfuscate_host_addresses": False,  # no mDNS names: no multicast on the LAN
    "media.aboutwebrtc.hist.enabled": True,
    # Loopback candidates (and a TURN relay address on 127.0.0.1, which Firefox otherwise drops as a remote
    # candidate): the TURN servers rtcdiag tests against are often on loopback.
    "media.peerconnection.ice.loopback": True,
}


class FirefoxError(RuntimeError):
    """Firefox did not start, Marionette failed, or a script threw (the browser's message)."""


@dataclass(frozen=True)
class FirefoxOptions:
    executable: str | None = None  # default: $RTCDIAG_FIREFOX or the first of FIREFOX_PATHS
    fake_media: bool = True  # media.navigator.streams.fake: a fake camera and microphone
    auto_accept: bool = True  # media.navigator.permission.disabled: no permission prompt
    extra_prefs: tuple[tuple[str, bool | int | str], ...] = ()
    timeout_s: float = 60.0  # for the page script, and for each evidence call
    save_page: bool = False  # also render about:webrtc and keep its #content as "Save Page" writes it


@dataclass
class FirefoxRun:
    """What one page script returned and the evidence Firefox gave."""

    result: Any
    report: dict[str, Any]  # getAllStats(): {"reports": [...], "sdpHistories": [...]}
    log: list[str]  # getLogging(): the ICE log
    page: bytes = b""  # about:webrtc #content, bytes as "Save Page" writes them
    user_agent: str = ""
    version: str = ""


def find_firefox() -> str | None:
    override = os.environ.get("RTCDIAG_FIREFOX")
    for path in (override, *FIREFOX_PATHS):
        if path and os.path.exists(path):
            return path
    for name in ("firefox-esr", "firefox"):
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable_reason() -> str | None:
    return None if find_firefox() else "Firefox is not installed (apt-get install -y firefox-esr)"


def save_page_bytes(html: str) -> bytes:
    """What about:webrtc's "Save Page" writes: each UTF-16 code unit's low byte (nsIOutputStream.write of a
    JS string): Latin-1 text survives, anything above U+00FF loses its high byte."""
    return html.encode("utf-16-le", "surrogatepass")[0::2]


class Marionette:
    """One Marionette connection: ``await command("WebDriver:Navigate", {"url": ...})``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer, self._id = reader, writer, 0

    @classmethod
    async def connect(cls, port: int) -> Marionette:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=MAX_MESSAGE_BYTES)
        client = cls(reader, writer)
        hello = await client._read()
        if not isinstance(hello, dict) or hello.get("marionetteProtocol") != 3:
            raise FirefoxError(f"not a Marionette server (said {str(hello)[:100]})")
        return client

    async def _read(self) -> Any:
        size = await self._reader.readuntil(b":")
        if not size[:-1].isdigit() or int(size[:-1]) > MAX_MESSAGE_BYTES:
            raise FirefoxError("Marionette sent a malformed message")
        return json.loads(await self._reader.readexactly(int(size[:-1])))

    async def command(self, name: str, params: dict[str, Any] | None = None) -> Any:
        self._id += 1
        body = json.dumps([0, self._id, name, params or {}]).encode()
        self._writer.write(str(len(body)).encode() + b":" + body)
        await self._writer.drain()
        while True:
            message = await self._read()
            if isinstance(message, list) and len(message) == 4 and message[0] == 1 and message[1] == self._id:
                break
        if message[2]:
            error = message[2]
            text = error.get("message", error) if isinstance(error, dict) else error
            raise FirefoxError(f"{name}: {str(text)[:300]}")
        result = message[3]
        return result.get("value") if isinstance(result, dict) and "value" in result else result

    async def execute(self, body: str, args: list[Any] | None = None, *, asynchronous: bool = False) -> Any:
        command = "WebDriver:ExecuteAsyncScript" if asynchronous else "WebDriver:ExecuteScript"
        return await self.command(command, {"script": body, "args": args or []})

    def close(self) -> None:
        self._writer.close()


async def _serve_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % len(PAGE_HTML) + PAGE_HTML)
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        pass
    finally:
        writer.close()


def _user_js(options: FirefoxOptions) -> str:
    prefs = dict(PREFS)
    prefs["media.navigator.streams.fake"] = options.fake_media
    prefs["media.navigator.permission.disabled"] = options.auto_accept
    prefs.update(dict(options.extra_prefs))
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


class FirefoxSession:
    """A started Firefox with one Marionette session on the rtcdiag page."""

    def __init__(self, client: Marionette, page_url: str, timeout_s: float, version: str) -> None:
        self.client, self.page_url, self.timeout_s, self.version = client, page_url, timeout_s, version

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        """Await ``script`` (a JS function expression) with ``arg`` in the page, as Playwright's evaluate."""
        body = ("const [arg, done] = [arguments[0], arguments[arguments.length - 1]];\n"
                f"Promise.resolve(({script})(arg)).then(v => done({{ok: v === undefined ? null : v}}),\n"
                "  e => done({error: String(e && e.name ? e.name + ': ' + e.message : e)}));")
        answer = await self.client.execute(body, [arg], asynchronous=True)
        if isinstance(answer, dict) and "error" in answer:
            raise FirefoxError(f"page script: {str(answer['error'])[:300]}")
        return answer.get("ok") if isinstance(answer, dict) else answer

    async def webrtc_evidence(self) -> tuple[dict[str, Any], list[str]]:
        """(getAllStats, getLogging) from the chrome context."""
        await self.client.command("Marionette:SetContext", {"value": "chrome"})
        try:
            report = await self.client.execute(
                "const done = arguments[arguments.length - 1];"
                "WebrtcGlobalInformation.getAllStats(s => done(JSON.parse(JSON.stringify(s))));",
                asynchronous=True)
            log = await self.client.execute(
                "const done = arguments[arguments.length - 1];"
                "WebrtcGlobalInformation.getLogging('', s => done(s));", asynchronous=True)
        finally:
            await self.client.command("Marionette:SetContext", {"value": "content"})
        return (report if isinstance(report, dict) else {"reports": []},
                [str(x) for x in log[:MAX_LOG_LINES]] if isinstance(log, list) else [])

    async def saved_page(self, connections: int) -> bytes:
        """about:webrtc in a new tab (the page's connections stay open), once it shows ``connections`` peer
        connections and its Connection Log; its #content as "Save Page" writes it (``.no-print`` hidden)."""
        main = await self.client.command("WebDriver:GetWindowHandle")
        opened = await self.client.command("WebDriver:NewWindow", {"type": "tab"})
        handle = opened.get("handle") if isinstance(opened, dict) else None
        await self.client.command("WebDriver:SwitchToWindow", {"handle": handle})
        try:
            await self.client.command("WebDriver:Navigate", {"url": "about:webrtc"})
            html = await self.client.execute(
                "const [want, done] = [arguments[0], arguments[arguments.length - 1]];"
                "const ready = () => document.querySelectorAll('#content .peer-connection').length >= want"
                "  && document.querySelector('#content h3[data-l10n-id=\"about-webrtc-log-heading\"]');"
                "const finish = () => { const c = document.querySelector('#content');"
                "  const hidden = [...c.querySelectorAll('.no-print')];"
                "  hidden.forEach(n => n.style.setProperty('display', 'none'));"
                "  const out = c.outerHTML; hidden.forEach(n => n.style.removeProperty('display'));"
                "  done(out); };"
                "const start = Date.now();"
                "const poll = () => (ready() || Date.now() - start > 15000) ? setTimeout(finish, 600)"
                "  : setTimeout(poll, 100);"
                "poll();", [connections], asynchronous=True)
        finally:
            await self.client.command("WebDriver:CloseWindow")
            await self.client.command("WebDriver:SwitchToWindow", {"handle": main})
        return save_page_bytes(html) if isinstance(html, str) else b""


@contextlib.asynccontextmanager
async def firefox_session(options: FirefoxOptions | None = None) -> AsyncIterator[FirefoxSession]:
    """A fresh headless Firefox on the rtcdiag page; stopped and its profile removed on every path."""
    opts = options or FirefoxOptions()
    executable = opts.executable or find_firefox()
    if executable is None:
        raise FirefoxError(unavailable_reason() or "no Firefox")
    profile = tempfile.mkdtemp(prefix="rtcdiag-firefox-")
    server = await asyncio.start_server(_serve_page, "127.0.0.1", 0)
    process: asyncio.subprocess.Process | None = None
    client: Marionette | None = None
    try:
        with open(os.path.join(profile, "user.js"), "w") as handle:
            handle.write(_user_js(opts))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOZ_", "RTCDIAG_TURN_"))}
        env["MOZ_HEADLESS"] = "1"
        process = await asyncio.create_subprocess_exec(
            executable, "--headless", "--marionette", "--remote-allow-system-access", "--no-remote",
            "--profile", profile, "about:blank", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env,
            start_new_session=True)
        port = await _marionette_port(profile, process)
        client = await Marionette.connect(port)
        session = await client.command("WebDriver:NewSession", {"capabilities": {}})
        caps = session.get("capabilities", {}) if isinstance(session, dict) else {}
        timeout_ms = int(opts.timeout_s * 1000)
        await client.command("WebDriver:SetTimeouts", {"script": timeout_ms, "pageLoad": timeout_ms})
        page_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/rtcdiag"
        await client.command("WebDriver:Navigate", {"url": page_url})
        yield FirefoxSession(client, page_url, opts.timeout_s, str(caps.get("browserVersion", "")))
    finally:
        if client is not None:
            client.close()
        server.close()
        if process is not None:
            await _stop(process)
        shutil.rmtree(profile, ignore_errors=True)


async def _marionette_port(profile: str, process: asyncio.subprocess.Process) -> int:
    path = os.path.join(profile, "MarionetteActivePort")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        if process.returncode is not None:
            raise FirefoxError(f"Firefox exited at start (status {process.returncode})")
        with contextlib.suppress(OSError, ValueError), open(path) as handle:
            return int(handle.read().strip())
        await asyncio.sleep(0.05)
    raise FirefoxError(f"Firefox did not open Marionette within {START_TIMEOUT_S:.0f} s")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Stop Firefox by its process group (it was started as its own session): content processes too."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), wait)


async def run_script(script: str, arg: Any = None, options: FirefoxOptions | None = None) -> FirefoxRun:
    """Run ``script`` (a JS function expression, awaited with ``arg``) in a fresh headless Firefox and take
    its about:webrtc report, ICE log and (``save_page``) saved page afterwards."""
    opts = options or FirefoxOptions()
    async with firefox_session(opts) as session:
        result = await session.evaluate(script, arg)
        user_agent = await session.client.execute("return navigator.userAgent")
        report, log = await session.webrtc_evidence()
        reports = report.get("reports")
        page = await session.saved_page(len(reports) if isinstance(reports, list) else 0) \
            if opts.save_page else b""
        return FirefoxRun(result=result, report=report, log=log, page=page, user_agent=str(user_agent),
                          version=session.version)


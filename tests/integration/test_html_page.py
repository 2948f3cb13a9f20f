"""``--html``: the pages ``rtcdiag analyze`` (dumps in every form, captures, coturn logs, ``--summary``),
``check`` and ``browser`` write, opened in a real headless Chromium (Debian's chromium through Playwright for
Python, ``executable_path``; never ``playwright install``), from ``file://`` as a user opens an attached
report.

Every request the page makes is recorded and aborted: a page makes none (0 requests besides its own file),
logs no console error and violates no part of its Content-Security-Policy. The root cause's title is visible
above the fold; the charts the evidence allows are there, each with drawn data (a non-empty ``path.datum``
with a size), those one click away appear on that click. Ground truth: Chromium's and coturn's own records of
the calls (tests/fixtures/matrix/<cell>/truth.json: what the page saw, coturn's allocations and errors).

The hostile dump is the committed real Chromium dump of tests/fixtures/matrix/auth-wrong-password, edited
here to carry ``<script>``, ``<img onerror>`` and ``javascript:`` in its page URL and its candidate error
text (no browser writes those: hand-edited, as said). The README's screenshot (docs/img/html-report.png) is
written by test_failed_call_page_above_the_fold when RTCDIAG_UPDATE_SCREENSHOTS=1, else compared loosely.

Load times in this browser are printed (``pytest -s``), not asserted; benchmarks/bench_html.py measures the
page of the 100 MB dump.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rtcdiag.coturn import CoturnOptions, RunningCoturn
from rtcdiag.probes.browser import find_chromium, unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MATRIX = FIXTURES / "matrix"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "html-report.png"
VIEWPORT = {"width": 1280, "height": 800}
# The flags rtcdiag.probes.browser uses on this machine (no sandbox in a container, no GPU).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]
WATCH_CSP = ("window.__violations = [];"
             "document.addEventListener('securitypolicyviolation',"
             " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")
# Per chart: how many data shapes were drawn with a size (a line, a state span, a bar, an arrow).
DRAWN = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const drawn = [...svg.querySelectorAll('path.datum')].filter(p => {
    const b = p.getBBox(); return (p.getAttribute('d') || '').length > 2 && b.width + b.height > 0; });
  return {kind: svg.dataset.kind, title: svg.getAttribute('aria-label'), drawn: drawn.length,
          shown: svg.checkVisibility()};  // false inside a closed <details>
})"""


@dataclass
class Opened:
    page: Any
    url: str
    requests: list[str] = field(default_factory=list)  # besides the page itself
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    load_s: float = 0.0

    def charts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate(DRAWN)
        return result

    def open_all(self) -> None:
        """Open what is folded: the first "More charts" by a real click (one click away: it opens), the rest
        as that click would (quicker than a click each)."""
        more = self.page.locator("details.more:not([open]) > summary")
        if more.count():
            more.first.click()
            assert self.page.locator("details.more[open]").count() == 1
        self.page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations")
        return found


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Callable[[Path], Opened]]:
    contexts: list[Any] = []

    def opener(path: Path) -> Opened:
        context = chromium.new_context(viewport=VIEWPORT)
        contexts.append(context)
        url = path.resolve().as_uri()
        page = context.new_page()
        opened = Opened(page=page, url=url)

        def record(request: Any) -> None:
            if request.url != url:
                opened.requests.append(request.url)

        def refuse(route: Any) -> None:
            if route.request.url == url:
                route.continue_()
            else:
                opened.requests.append(route.request.url)
                route.abort()

        context.on("request", record)
        context.route("**/*", refuse)
        page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        page.add_init_script(WATCH_CSP)
        page.goto(url, wait_until="load")
        page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        opened.load_s = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000
        print(f"\n{path.name}: {path.stat().st_size / 1000:.0f} kB, load event {opened.load_s:.3f} s")
        return opened

    yield opener
    for context in contexts:
        context.close()


def rtcdiag(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """``rtcdiag ARGS --json``: exit code and report."""
    done = subprocess.run([sys.executable, "-m", "rtcdiag", *args, "--json"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, check=False)
    assert done.stdout.startswith("{"), done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


SCRIPT, IMAGE, LINK = ("<script>window.__pwned=1</script>", '<img src=x onerror="window.__pwned=2">',
                       "javascript:window.__pwned=3")


def hostile_dump(path: Path) -> None:
    """The real dump of matrix/auth-wrong-password with hostile strings in its page URL and error text."""
    document = json.loads(gzip.decompress((MATRIX / "auth-wrong-password" / "webrtc-internals.json.gz")
                                         .read_bytes()))
    for pc in document["PeerConnections"].values():
        pc["url"] = f"{LINK}//{SCRIPT}"
        for event in pc["updateLog"]:
            if event["type"] == "onicecandidateerror":
                value = json.loads(event["value"])
                value["error_text"] = f"Unauthorized. {IMAGE}"
                event["value"] = json.dumps(value)
    path.write_text(json.dumps(document))


class Pages:
    """Every ``rtcdiag analyze ... --html`` page of this module, made at once (one process each, as a user
    runs it) while Chromium starts: the machine is shared, and the tests wait only for their own."""

    def __init__(self, folder: Path) -> None:
        dumps = folder / "dumps"
        dumps.mkdir()
        for cell in ("relay-udp-bare-av", "relay-tcp-both", "host-av", "auth-wrong-password", "quota-486"):
            shutil.copy(MATRIX / cell / "webrtc-internals.json.gz", dumps / f"{cell}.json.gz")
        hostile_dump(folder / "hostile.json")
        call = MATRIX / "relay-udp-bare-av"
        runs: dict[str, list[str]] = {
            "turn-killed": [str(FIXTURES / "analyze" / "turn-killed.webrtc-internals.json.gz")],
            "hostile": [str(folder / "hostile.json")],
            "wire": [str(call / "capture.pcap.gz"), str(call / "coturn.log.gz"),
                     str(FIXTURES / "capture" / "killed.pcap.gz")],
            "fleet": ["--summary", str(dumps)],
            **{form: [str(call / form)] for form in FORMS},
        }
        self.paths = {name: folder / f"{name.split('.')[0]}.html" for name in runs}
        self.running = {name: subprocess.Popen(
            [sys.executable, "-m", "rtcdiag", "analyze", *args, "--json", "--html", str(self.paths[name])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name, args in runs.items()}

    def get(self, name: str) -> tuple[int, dict[str, Any], Path]:
        """Exit code, JSON report and page of one run."""
        out, err = self.running[name].communicate(timeout=120)
        assert out.startswith("{"), err[-2000:]
        return self.running[name].returncode, json.loads(out), self.paths[name]

    def close(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
            process.communicate()


FORMS = ("webrtc-internals.json.gz", "rtcstats.gz", "getstats.json.gz")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    made = Pages(tmp_path_factory.mktemp("pages"))
    try:
        yield made
    finally:
        made.close()


def assert_clean(opened: Opened) -> None:
    assert opened.requests == []
    assert opened.errors == []
    assert opened.violations() == []


def assert_root_above_the_fold(opened: Opened, report: dict[str, Any]) -> None:
    title = opened.page.locator("article.root h3").first
    assert title.is_visible()
    box = title.bounding_box()
    assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"]
    root = report["root_causes"][0]
    assert root["id"] in title.inner_text() and root["title"] in title.inner_text()


def assert_all_drawn(charts: list[dict[str, Any]]) -> None:
    for chart in charts:
        assert chart["drawn"] > 0, chart


def truth(cell: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((MATRIX / cell / "truth.json").read_text())
    return result


COLOURS = """async data => {
  const image = new Image();
  image.src = 'data:image/png;base64,' + data;
  await image.decode();
  const canvas = new OffscreenCanvas(image.width, image.height);
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  const seen = new Set();
  for (let i = 0; i < pixels.length; i += 4) seen.add(pixels[i] << 16 | pixels[i + 1] << 8 | pixels[i + 2]);
  return [image.width, image.height, seen.size];
}"""


def png_size_and_colours(chromium: Any, png: bytes) -> tuple[int, int, int]:
    """Width, height and distinct colours of a PNG, decoded by Chromium in a blank page of its own."""
    context = chromium.new_context()
    try:
        found = context.new_page().evaluate(COLOURS, base64.b64encode(png).decode())
    finally:
        context.close()
    return int(found[0]), int(found[1]), int(found[2])


# ---- analyze: browser dumps ------------------------------------------------------------------------------

def test_failed_call_page_above_the_fold(pages: Pages, open_page: Callable[[Path], Opened],
                                         chromium: Any) -> None:
    """A call lost mid-call (the TURN server killed, tests/fixtures/analyze/turn-killed): the root cause on
    top, then per connection its timeline and charts; the README's screenshot is this page."""
    code, report, page = pages.get("turn-killed")
    assert code == 1 and report["root_causes"][0]["id"] == "ANALYZE-CONNECTION-LOST"
    opened = open_page(page)
    assert_clean(opened)
    assert_root_above_the_fold(opened, report)
    charts = opened.charts()
    visible = [c for c in charts if c["shown"]]
    assert [c["kind"] for c in visible].count("lanes") == 2  # one timeline per peer connection
    assert_all_drawn(visible)
    # The timeline shows what the rules read: ICE went disconnected, the connection failed.
    spans = opened.page.locator("svg.lanes path.span title").all_text_contents()
    assert any(t.startswith("ice: disconnected") for t in spans)
    assert any(t.startswith("connection: failed") for t in spans)
    opened.open_all()
    assert len(opened.charts()) > len(visible)
    assert_all_drawn(opened.charts())
    shot = opened.page.screenshot(clip={"x": 0, "y": 0, "width": 1160, "height": 1040}, full_page=True)
    width, height, colours = png_size_and_colours(chromium, shot)
    assert (width, height) == (1160, 1040) and colours > 12  # not blank
    if os.environ.get("RTCDIAG_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(shot)
    committed = png_size_and_colours(chromium, SCREENSHOT.read_bytes())
    assert committed[:2] == (width, height) and committed[2] > 12  # loosely: same size, not blank


EXPECTED_AV = ["Timeline: signalling, gathering, ICE, connection and DTLS states (s)", "Audio bitrate",
               "Video bitrate", "Packet loss", "Round-trip time", "Jitter"]
MORE_AV = ["Selected candidate pair bitrate (all media and data)", "Packets lost", "Frames per second",
           "Resolution (frame height)", "Available outgoing bitrate",
           "Quality limitation reason (send video)"]


@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_a_healthy_call_draws_its_media(pages: Pages, open_page: Callable[[Path], Opened],
                                                      form: str) -> None:
    """The same real call (relay-udp-bare-av: audio and video both ways, truth.json) in each evidence form:
    per connection the default charts shown, six more one click away, every one with data."""
    seen = truth("relay-udp-bare-av")["page"]["final"]
    assert all(seen[side]["rtpReceived"]["audio"] > 0 and seen[side]["rtpReceived"]["video"] > 0
               for side in ("a", "b"))
    code, report, page = pages.get(form)
    assert code == 0 and report["root_causes"] == []
    opened = open_page(page)
    assert_clean(opened)
    connections = 1 if form.startswith("getstats") else 2  # saved getStats output is one connection
    visible = [c for c in opened.charts() if c["shown"]]
    assert [c["title"] for c in visible] == EXPECTED_AV * connections
    assert_all_drawn(visible)
    opened.open_all()
    everything = opened.charts()
    assert [c["title"] for c in everything] == (EXPECTED_AV + MORE_AV) * connections
    assert_all_drawn(everything)
    # The selected pair is highlighted in the pair table of each connection.
    assert opened.page.locator("table tr.selected").count() >= 3 * connections


def test_hostile_dump_runs_no_script(pages: Pages, open_page: Callable[[Path], Opened],
                                     tmp_path: Path) -> None:
    """The real dump edited to carry a script, an image with onerror and a javascript: URL (hostile_dump):
    shown as text, nothing runs, with the page's CSP and without it (escaping alone holds)."""
    code, report, page = pages.get("hostile")
    assert code == 1 and [r["id"] for r in report["root_causes"]] == ["ANALYZE-TURN-401"]  # unchanged
    text = page.read_text()
    without_policy = tmp_path / "no-policy.html"  # escaping alone must hold, without the CSP's help
    without_policy.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text))
    for path in (page, without_policy):
        opened = open_page(path)
        if path == page:
            assert_clean(opened)
        assert opened.requests == [] and opened.errors == []
        assert opened.page.evaluate("window.__pwned") is None
        assert opened.page.locator("script, img, iframe, [onerror], [onmouseover], [href^='javascript']"
                                   ).count() == 0
        opened.open_all()
        shown = opened.page.inner_text("body")
        for hostile in (SCRIPT, IMAGE, LINK):
            assert hostile in shown, hostile
        assert_root_above_the_fold(opened, report)


# ---- analyze: captures, coturn logs, the fleet -------------------------------------------------------------

def test_capture_and_coturn_log_page(pages: Pages, open_page: Callable[[Path], Opened]) -> None:
    """The capture and coturn's log of one real call (relay-udp-bare-av), and a capture of a call whose peer
    was killed (tests/fixtures/capture/killed): allocations on a time axis as many as coturn made, the
    ladders (every 401 coturn sent is the challenge, not drawn as an error), usage and busiest hours."""
    made = truth("relay-udp-bare-av")["coturn"]
    code, report, page = pages.get("wire")
    assert code == 1  # the killed call's root cause
    opened = open_page(page)
    assert_clean(opened)
    assert_root_above_the_fold(opened, report)
    sections = opened.page.locator("section.visual")
    assert sections.count() == 3
    call, log = sections.nth(0), sections.nth(2)
    assert call.locator("svg.lanes").first.locator("path.span").count() == made["allocations"]
    assert log.locator("svg.lanes").first.locator("path.span").count() == made["allocations"]
    assert log.locator(":scope > .charts svg.bars").count() == 2  # usage per user, busiest hours
    opened.open_all()
    assert_all_drawn(opened.charts())
    arrows = call.locator("svg.ladder path.arrow title").all_text_contents()
    challenges = [t for t in arrows if "error 401" in t]
    assert len(challenges) == made["errors"]["message 401"]
    assert call.locator("svg.ladder path.arrow.tone-bad").count() == 0


def test_summary_page(pages: Pages, open_page: Callable[[Path], Opened]) -> None:
    """Five real dumps of the matrix: the fleet's numbers (the JSON report's) drawn."""
    code, report, page = pages.get("fleet")
    assert code == 0
    numbers = report["results"]
    opened = open_page(page)
    assert_clean(opened)
    shown = [c for c in opened.charts() if c["shown"]]
    assert [c["kind"] for c in shown] == ["bars"] * 5  # ratio, protocols, percentiles, errors, causes
    assert_all_drawn(shown)
    opened.open_all()  # the histogram of the times to connected, one click away
    assert len(opened.charts()) == 6
    assert_all_drawn(opened.charts())
    ratio = opened.page.locator("svg.bars").first.locator("path.bar title").all_text_contents()
    assert ratio[0].endswith(f": {numbers['relayed']}")
    causes = opened.page.locator("svg.bars").nth(4).locator("path.bar title").all_text_contents()
    assert {t.split(":")[0] for t in causes} == set(numbers["causes"])


# ---- check and browser ----------------------------------------------------------------------------------

USER, PASSWORD = "html-user", "html-pass-3f9a1c"


@pytest.fixture(scope="module")
def coturn(coturn_factory: Callable[[CoturnOptions], RunningCoturn]) -> RunningCoturn:
    return coturn_factory(CoturnOptions(users={USER: PASSWORD}, allow_loopback_peers=True))


def test_check_page(open_page: Callable[[Path], Opened], coturn: RunningCoturn, tmp_path: Path) -> None:
    """``check`` with a wrong password: its root cause on top, its tables open (no charts), no secret."""
    page = tmp_path / "check.html"
    code, report = rtcdiag("check", f"turn:{coturn.hostport()}", "-u", USER, "--checks", "turn",
                           "--html", str(page), env={"RTCDIAG_TURN_PASSWORD": "wrong-" + PASSWORD})
    assert code == 1
    assert PASSWORD not in page.read_text()
    opened = open_page(page)
    assert_clean(opened)
    assert_root_above_the_fold(opened, report)
    assert opened.page.locator("section.tables details[open] table").count() == len(report["tables"]) > 0


def test_browser_page(open_page: Callable[[Path], Opened], coturn: RunningCoturn, tmp_path: Path) -> None:
    """``browser``: its tables, and the run's own webrtc-internals dump drawn per connection."""
    page = tmp_path / "browser.html"
    code, report = rtcdiag("browser", f"turn:{coturn.hostport()}?transport=udp", "-u", USER, "--no-compare",
                           "--messages", "2", "--relay-only", "--html", str(page),
                           env={"RTCDIAG_TURN_PASSWORD": PASSWORD})
    assert code == 0, report["verdict"]
    assert PASSWORD not in page.read_text()
    opened = open_page(page)
    assert_clean(opened)
    timelines = opened.page.locator("svg.lanes")
    calls = [c for c in report["results"]["browser"]["calls"]]
    assert timelines.count() >= 2 * len(calls)  # both connections of each call
    assert_all_drawn([c for c in opened.charts() if c["shown"]])
    states = opened.page.locator("svg.lanes path.span title").all_text_contents()
    assert sum(t.startswith("connection: connected") for t in states) >= 2 * len(calls)

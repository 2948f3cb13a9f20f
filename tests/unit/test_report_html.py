"""The HTML page (rtcdiag.report.html) as markup, without a browser: inert (no script, no event handler,
no link out, no style attribute), its one style sheet allowed by the hash in its Content-Security-Policy,
every outside string escaped, secrets masked, the same diagnosis as the console, the JSON report unchanged,
and the options (``--html FILE``, ``--report-file x.html``) checked before anything runs.

The page in a real Chromium: tests/integration/test_html_page.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report_samples import sample_report

from rtcdiag.evidence.load import load_dump
from rtcdiag.redact import clear_secrets, echo, register_secret
from rtcdiag.report import html, json_report
from rtcdiag.report.build import build_report
from rtcdiag.report.model import Report, Table
from rtcdiag.report.visual import (
    Bar,
    BarChart,
    Ladder,
    Lane,
    LaneChart,
    Line,
    LineChart,
    Mark,
    MarkedTable,
    Message,
    Section,
    Span,
    Tone,
)
from rtcdiag.triage.analyze import summarize_all
from rtcdiag.triage.finding import Subject, make_finding
from rtcdiag.triage.judgement import Judgement

MATRIX = Path(__file__).resolve().parents[1] / "fixtures" / "matrix"
HOSTILE = ('<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=2">',
           'javascript:window.__pwned=3', '" onmouseover="window.__pwned=4', "</svg><script>x()</script>")


@pytest.fixture(autouse=True)
def _secrets() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


class Markup(HTMLParser):
    """Every tag with its attributes, the text, and the style sheets, as the browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


def assert_inert(page: str) -> Markup:
    markup = Markup(page)
    names = [tag for tag, _ in markup.tags]
    for forbidden in ("script", "iframe", "object", "embed", "img", "form", "base", "foreignobject", "use"):
        assert forbidden not in names, forbidden
    for tag, attrs in markup.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in ("style", "src", "srcdoc", "xlink:href", "action", "formaction"), (tag, name)
            if name == "href":
                assert (tag, value) == ("link", "data:,") or re.fullmatch(r"#part-\d+", value or ""), value
    csp = [attrs["content"] for tag, attrs in markup.tags if tag == "meta"
           and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and csp[0] is not None
    assert [tag for tag, _ in markup.tags[:4]] == ["html", "head", "meta", "meta"]  # the policy comes first
    assert markup.tags[3] == ("meta", {"http-equiv": "Content-Security-Policy", "content": csp[0]})
    policy = dict(part.strip().split(" ", 1) for part in csp[0].split(";"))
    assert policy["default-src"] == "'none'" and policy["img-src"] == "data:"
    assert len(markup.styles) == 1
    digest = base64.b64encode(hashlib.sha256(markup.styles[0].encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"
    return markup


def hostile_section() -> Section:
    """Every kind of chart with outside strings in every place a string can go."""
    bad = " ".join(HOSTILE)
    return Section(
        title=f"pc {bad}",
        charts=[LineChart(title=bad, unit=bad, lines=(Line(bad, ((0.0, 1.0), (1.0, None), (2.0, 3.0))),),
                          marks=(Mark(1.5, bad),)),
                LaneChart(title=bad, lanes=(Lane(bad, (Span(0.0, 2.0, bad, Tone.BAD),), (Mark(1.0, bad),)),)),
                BarChart(title=bad, bars=(Bar(bad, 3.0, bad),)),
                Ladder(title=bad, left=bad, right=bad, messages=(Message(0.5, True, bad, 7),))],
        more=[BarChart(title=bad, bars=(Bar(bad, 0.0, bad),))],
        tables=[MarkedTable(Table(bad, [bad], [[bad]]), frozenset({0}))],
        notes=[bad])


def test_the_sample_report_page_is_inert_and_its_style_allowed_by_hash() -> None:
    report = sample_report()
    markup = assert_inert(html.render(report))
    text = " ".join(" ".join(markup.text).split())
    assert report.verdict in text
    for group in report.root_groups():  # every root cause, as the console states it
        first = group[0]
        for part in (first.id, first.title, first.cause, first.fix):
            assert " ".join(part.split()) in text, part


def test_hostile_strings_stay_text_everywhere() -> None:
    """Hand-made hostile values (a dump's URL, SDP line, error text), in a finding, a table, a note and every
    chart: the parser sees them as text, never as a tag or an attribute."""
    bad = " ".join(HOSTILE)
    finding = make_finding("ANALYZE-TURN-401", Subject(f"turn:{bad}"), check="analyze", step="gather",
                           url=echo(bad), text=echo(bad), count="1", when=echo(bad), pcs=echo(bad),
                           evidence=[echo(bad)])
    report = build_report("analyze", Judgement(findings=[finding]), tables=[Table(bad, [bad], [[bad]])],
                          notes=[echo(bad)])
    report.visuals = [hostile_section()]
    page = html.render(report)
    markup = assert_inert(page)
    text = "".join(markup.text)
    assert text.count("<script>window.__pwned=1</script>") >= 10  # shown, as text
    assert '<img src=x onerror="window.__pwned=2">' in text
    assert "<script" not in page.lower().replace("&lt;script", "")


def test_secrets_are_masked_in_the_page() -> None:
    secret = "s3cret-Turn-Pa55"
    register_secret(secret)
    report = sample_report(secret)
    chart = BarChart(title="x", bars=(Bar(secret, 1, secret),))
    report.visuals = [Section(title=f"pc {secret}", charts=[chart])]
    page = html.render(report)
    assert secret not in page
    assert "***" in page


def test_the_json_report_is_the_same_with_charts_attached() -> None:
    report = sample_report()
    before = json_report.render(report)
    report.visuals = [hostile_section()]
    assert json_report.render(report) == before


def _rtcdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcdiag", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "120"}, check=False)


def test_html_options_and_report_file_suffix(tmp_path: Path) -> None:
    dump = str(MATRIX / "auth-wrong-password" / "webrtc-internals.json.gz")
    page, copy = tmp_path / "page.html", tmp_path / "copy.htm"
    done = _rtcdiag("analyze", dump, "--json", "--html", str(page), "--report-file", str(copy))
    assert done.returncode == 1
    roots = [r["title"] for r in json.loads(done.stdout)["root_causes"]]
    for written in (page, copy):
        text = written.read_text()
        assert_inert(text)
        assert all(html_text(title) in text for title in roots)
        assert text.count('<svg class="chart') == 2  # one timeline per peer connection: nothing else ran
    assert page.read_text().split("<main>")[1].split("run ")[0] == copy.read_text().split("<main>")[1].split(
        "run ")[0]
    for args, message in ((["--html", str(tmp_path)], "is a directory"),
                          (["--html", str(tmp_path / "none" / "p.html")], "does not exist"),
                          (["--html", str(page), "--junit", str(page)], "name the same file"),
                          (["--report-file", str(tmp_path / "r.pdf")], ".html suffix")):
        bad = _rtcdiag("analyze", dump, *args)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
    capture = str(MATRIX / "auth-wrong-password" / "capture.pcap.gz")
    both = _rtcdiag("analyze", capture, "--ladder", "3", "--html", str(tmp_path / "l.html"))
    assert both.returncode == 2 and "--ladder" in both.stderr
    assert not (tmp_path / "l.html").exists()


def html_text(text: str) -> str:
    import html as stdlib_html

    return stdlib_html.escape(text, quote=True)


def test_redact_applies_to_the_page(tmp_path: Path) -> None:
    """``--redact OUT --html``: the page shows the anonymised copy (the same diagnosis); no address, ufrag or
    fingerprint of the original dump reaches it, nor the report printed beside it (issue 22: the report
    printed alongside is the copy's too), though the original's own report shows them."""
    source = MATRIX / "auth-wrong-password" / "webrtc-internals.json.gz"
    dump = load_dump(source)
    hidden: set[str] = set()
    for s in summarize_all([dump]):
        hidden.update(c.candidate.address for c in s.candidates)
        hidden.update(e.address for e in s.errors if e.address)
        hidden.update(e.url.split(":")[1] for e in s.errors if e.url)
        for sdp in (s.local_sdp, s.remote_sdp):
            if sdp is not None:
                hidden.update(x for m in sdp.media for x in (m.ice_ufrag, m.ice_pwd) if x)
    # Chromium writes a candidate error's address with its last octet hidden ("10.19.0.x"); the anonymiser
    # leaves that as it is (not an address), so it is not counted here.
    hidden = {h for h in hidden if h not in ("127.0.0.1", "0.0.0.0", "::1") and not h.endswith(".x")}
    raw = gzip.decompress(source.read_bytes()).decode()
    assert hidden and all(h in raw for h in hidden)
    page, copy = tmp_path / "page.html", tmp_path / "public.json"
    plain = _rtcdiag("analyze", str(source), "--json")
    done = _rtcdiag("analyze", str(source), "--json", "--redact", str(copy), "--html", str(page))
    assert done.returncode == plain.returncode == 1
    text = page.read_text()
    assert_inert(text)
    for value in hidden:
        assert value not in text, value
    assert any(value in plain.stdout for value in hidden)  # the original's own report names them
    for value in hidden:
        assert value not in done.stdout, value  # the report printed beside the copy is the copy's
    ids = [r["id"] for r in json.loads(plain.stdout)["root_causes"]]
    assert ids and all(f"<code>{i}</code>" in text for i in ids)
    assert "anonymised copy" in text


def test_a_report_without_charts_shows_its_tables_open() -> None:
    report: Report = sample_report()
    page = html.render(report)
    assert "<details open><summary>The report's tables" in page
    report.visuals = [hostile_section()]
    assert "<details><summary>The report's tables" in html.render(report)


def test_the_page_is_the_whole_report_as_verbose_shows_it() -> None:
    """Issue 22's report model on the page: a fix's lines to paste (whole, escaped), the one-line-per-server
    summary, the notes only -v prints and a cut table's count — every outside string still escaped."""
    hostile = HOSTILE[0]
    finding = make_finding("TURN-ALLOCATE-TIMEOUT", Subject("turn:h:3478", "h", 3478, "udp"), check="turn",
                           step="allocate", detail="no answer", transport="UDP",
                           snippet=[f"ss -lun 'sport = :3478' {hostile}", "# listening-port=3478"])
    summary = Table("Servers by transport", ["server", "transport", "result"], [["h", "udp", hostile]])
    cut = Table("sessions", ["id"], [["1"], ["2"]], total=333, unit="sessions")
    report = build_report("check", Judgement(findings=[finding]), tables=[cut], summary=summary,
                          detail_notes=[f"the user agent {hostile}"])
    page = html.render(report)
    assert_inert(page)
    assert '<pre class="snippet"><code>ss -lun &#x27;sport = :3478&#x27; &lt;script&gt;' in page
    assert "\n# listening-port=3478</code></pre>" in page
    assert '<section class="summary"><div class="scroll"><table><caption>Servers by transport' in page
    assert "the user agent &lt;script&gt;" in page and "(2 of 333 sessions shown)" in page

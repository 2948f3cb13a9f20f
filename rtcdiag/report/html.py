"""HTML report (``--html FILE``, ``--report-file x.html``): one self-contained page per diagnosis.

The fifth renderer of the one report model: the verdict and the root causes on top, each with symptom,
cause, fix and evidence and the findings it explains folded under it (as the console shows them), then the
evidence's charts (``Report.visuals``: per peer connection, capture, coturn log or fleet; drawn by
rtcdiag.report.svg), then the report's tables and notes.

Offline and inert: no script, no external resource of any kind (no font, no image but ``data:``), folding
by ``<details>``; the page carries a Content-Security-Policy that allows nothing but its one style sheet
(by hash), so even a string that escaped escaping could not run or load anything. Every string is escaped
(rtcdiag.report.svg.safe): a dump is hostile input, and its ``<script>`` stays text.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from rtcdiag import __version__
from rtcdiag.report import svg
from rtcdiag.report.model import Report, Table, group_snippet, where
from rtcdiag.report.visual import BarChart, Chart, Ladder, LaneChart, LineChart, MarkedTable, Section, Tone
from rtcdiag.textsafe import shown, shown_line
from rtcdiag.triage.finding import Finding

GROUP_SHOWN = 8  # subjects or explained findings shown before "... and N more" (folded, up to MAX_FOLDED)
MAX_FOLDED = 500
MAX_TABLE_ROWS = 2000

_TONE_COLOURS = {Tone.GOOD: "#2f9e5a", Tone.BUSY: "#4a7fc1", Tone.IDLE: "#b4bac2", Tone.WARN: "#e0a526",
                 Tone.BAD: "#d0392b"}
_LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _style() -> str:
    tones = "".join(
        f".span.tone-{t.value},.bar.tone-{t.value},.head.tone-{t.value},.mark-head.tone-{t.value}{{fill:{c}}}"
        f".tick.tone-{t.value},.arrow.tone-{t.value},.mark.tone-{t.value}{{stroke:{c}}}"
        for t, c in _TONE_COLOURS.items())
    lines = "".join(f"path.l{i}{{stroke:{c}}}.sw.l{i}{{background:{c}}}" for i, c in enumerate(_LINE_COLOURS))
    return (
        "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2125;"
        "background:#fff}"
        "header{padding:10px 20px;border-bottom:1px solid #dde1e6;background:#f5f6f8}"
        "h1{font-size:17px;margin:0}h2{font-size:16px;margin:18px 0 6px}h3{font-size:15px;margin:4px 0}"
        ".verdict{font-weight:600;margin:2px 0}.meta,.note,footer{color:#5c6570;font-size:12px}"
        ".status-pass{color:#2f7d4a}.status-warn,.status-inconclusive,.status-interrupted{color:#9a6b00}"
        ".status-fail,.status-error{color:#b3261e}"
        "main{padding:0 20px 40px;max-width:1120px}"
        "article.finding{border-left:4px solid #b4bac2;padding:4px 12px;margin:10px 0;background:#fafbfc}"
        ".sev-error{border-color:#d0392b!important}.sev-warning{border-color:#e0a526!important}"
        ".sev-info{border-color:#4a7fc1!important}.sev{font-size:12px;font-weight:700;margin-right:4px}"
        ".sev-error .sev{color:#b3261e}.sev-warning .sev{color:#9a6b00}.sev-info .sev{color:#2457a6}"
        "dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:4px 0}dt{font-weight:600}"
        "dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}dd ul{margin:0;padding-left:18px}"
        "code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef0f3;padding:0 3px;"
        "overflow-wrap:anywhere;white-space:pre-wrap}"
        "pre.snippet{margin:4px 0;padding:4px 8px;background:#eef0f3;overflow-x:auto;white-space:pre}"
        "pre.snippet code{padding:0;white-space:pre}"
        "figure{margin:8px 0 14px;min-width:0}figcaption{font-weight:600;font-size:13px}"
        ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:0 28px}"
        "figure.wide{grid-column:1/-1}"
        "svg.chart{width:100%;height:auto;max-width:980px;display:block}"
        ".chart text{font:11px system-ui,sans-serif;fill:#333}.chart text.in{fill:#fff}"
        ".chart text.axis{fill:#6b737c}.chart text.msg{fill:#1d2125}.chart text.end{font-weight:600}"
        ".grid{stroke:#eceef1;stroke-width:1}.life{stroke:#9aa1a9;stroke-dasharray:4 3}"
        "path.line{fill:none;stroke-width:1.7;stroke-linejoin:round;stroke-linecap:round}"
        ".tick{stroke-width:2}.arrow{stroke-width:1.4;fill:none}.mark{stroke-width:1.3;stroke-dasharray:3 2}"
        f"{tones}{lines}"
        ".legend{list-style:none;padding:0;margin:2px 0;display:flex;flex-wrap:wrap;gap:2px 16px;"
        "font-size:12px}.sw{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:5px}"
        ".scroll{overflow-x:auto}table{border-collapse:collapse;margin:6px 0 16px;font-size:12px}"
        "caption{text-align:left;font-weight:600;padding:4px 0}"
        "th,td{border:1px solid #dde1e6;padding:2px 6px;text-align:left;vertical-align:top;"
        "white-space:pre-wrap;"
        "overflow-wrap:anywhere}th{background:#f5f6f8}tr.selected td{background:#fff3bf;font-weight:600}"
        "details>summary{cursor:pointer;color:#2457a6;margin:6px 0}"
        "section.visual{border-top:1px solid #dde1e6;"
        "margin-top:22px}nav ul{margin:4px 0;padding-left:18px;font-size:13px}a{color:#2457a6}"
    )


STYLE = _style()
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
# Nothing may load or run: no script, no connection, no frame, no font; images only as data: (the icon,
# so the browser asks no server for /favicon.ico); the one style sheet by its hash.
CSP = (f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src data:; base-uri 'none'; "
       "form-action 'none'")


def _e(text: str) -> str:
    """Text of the report model (masked when the report was built): printable, each line bounded, escaped."""
    return html.escape(shown(text), quote=True)


def _line(text: str) -> str:
    """A one-liner of the report model: printable (line breaks escaped too), bounded, escaped."""
    return html.escape(shown_line(text), quote=True)


# ---- findings ----------------------------------------------------------------------------------------------

def _subject(finding: Finding) -> str:
    return f"{where(finding)} ({finding.check} check, step {finding.step})"


def _items(items: Sequence[str], what: str) -> str:
    """A list: the first GROUP_SHOWN items, the rest folded (up to MAX_FOLDED)."""
    shown_items = "".join(f"<li>{item}</li>" for item in items[:GROUP_SHOWN])
    out = f"<ul>{shown_items}</ul>"
    rest = items[GROUP_SHOWN:MAX_FOLDED]
    if rest:
        more = len(items) - GROUP_SHOWN
        hidden = f" ({len(items) - MAX_FOLDED} more in --json)" if len(items) > MAX_FOLDED else ""
        out += (f"<details><summary>... and {more} more {what}{hidden}</summary><ul>"
                + "".join(f"<li>{item}</li>" for item in rest) + "</ul></details>")
    return out


def _block(group: Sequence[Finding], report: Report, root: bool) -> str:
    """One finding, or one statement about several subjects, with what it explains folded under it: the
    rows of the console's block (Subject, Symptom, Cause, Fix, Evidence, Explains)."""
    first = group[0]
    explained = [f for member in group for f in report.explained(member)]
    severity = first.severity.value
    rows: list[tuple[str, str]] = []
    if len(group) == 1:
        rows += [("Subject", _e(_subject(first))), ("Symptom", _e(first.symptom))]
    else:
        lines = list(dict.fromkeys(f"{_subject(f)}: {f.symptom}" for f in group))
        rows.append((f"{len(group)} x", _items([_e(line) for line in lines], "subjects")))
    snippet = "\n".join(_line(line) for line in group_snippet(list(group)))  # lines to paste, each whole
    fix = _e(first.fix) + (f'<pre class="snippet"><code>{snippet}</code></pre>' if snippet else "")
    rows += [("Cause", _e(first.cause)), ("Fix", fix)]
    if first.evidence:
        rows.append(("Evidence", "<ul>" + "".join(f"<li><code>{_line(line)}</code></li>"
                                                  for line in first.evidence) + "</ul>"))
    body = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    folded = ""
    if explained:
        entries = [f"<code>{_line(f.id)}</code> {_e(f.title)} - {_e(_subject(f))}" for f in explained]
        folded = (f'<details class="explains"><summary>Explains {len(explained)} other finding(s)</summary>'
                  f"{_items(entries, 'findings')}</details>")
    kind = "root" if root else "record"
    return (f'<article class="finding {kind} sev-{severity}"><h3><span class="sev">{severity.upper()}</span>'
            f"<code>{_line(first.id)}</code> {_e(first.title)}</h3><dl>{body}</dl>{folded}</article>")


# ---- charts and tables -------------------------------------------------------------------------------------

def _not_drawn(chart: Chart) -> int:
    """What a bounded chart left out (lanes, bars, arrows)."""
    if isinstance(chart, LaneChart):
        return chart.more_lanes
    if isinstance(chart, BarChart):
        return chart.more_bars
    if isinstance(chart, Ladder):
        return chart.more_messages
    return 0


def _figure(chart: Chart) -> str:
    caption = f"<figcaption>{svg.safe(chart.title, 300)}"
    if isinstance(chart, LineChart) and chart.unit:
        caption += f" ({svg.safe(chart.unit, 30)})"
    caption += "</figcaption>"
    legend = svg.legend(chart)
    keys = ""
    if legend:
        keys = '<ul class="legend">' + "".join(
            f'<li><span class="sw {colour}"></span>{svg.safe(label, 200)}</li>'
            for colour, label in legend) + "</ul>"
    hidden = _not_drawn(chart)
    note = (f'<p class="note">{hidden} more not drawn (the tables and --json have them).</p>'
            if hidden else "")
    wide = "" if isinstance(chart, LineChart) else ' class="wide"'
    return f"<figure{wide}>{caption}{svg.draw(chart)}{keys}{note}</figure>"


def _figures(charts: Sequence[Chart]) -> str:
    """Line charts two abreast on a wide screen; timelines, ladders and bars across the page."""
    return '<div class="charts">' + "".join(_figure(chart) for chart in charts) + "</div>"


def table_html(table: Table, marked: Iterable[int] = ()) -> str:
    chosen = set(marked)
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows: list[str] = []
    for index, row in enumerate(table.rows[:MAX_TABLE_ROWS]):
        cls = ' class="selected"' if index in chosen else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>")
    more = len(table.rows) - MAX_TABLE_ROWS
    tail = f'<p class="note">{more} more rows in --json.</p>' if more > 0 else ""
    if table.cut_note is not None:  # cut before the report was built: say so (issue 22)
        tail += f'<p class="note">({_e(table.cut_note)})</p>'

    return (f'<div class="scroll"><table><caption>{_e(table.title)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>{tail}")


def _marked(table: MarkedTable) -> str:
    return table_html(table.table, table.marked)


def _section(section: Section, anchor: str) -> str:
    parts = [f'<section class="visual" id="{anchor}"><h2>{svg.safe(section.title, 400)}</h2>']
    parts += [f'<p class="note">{svg.safe(note)}</p>' for note in section.notes]
    if section.charts:
        parts.append(_figures(section.charts))
    if section.more:
        parts.append(f'<details class="more"><summary>More charts ({len(section.more)}): '
                     + svg.safe(", ".join(c.title for c in section.more), 400) + "</summary>"
                     + _figures(section.more) + "</details>")
    parts += [_marked(table) for table in section.tables]
    parts.append("</section>")
    return "".join(parts)


# ---- the page ----------------------------------------------------------------------------------------------

def render(report: Report) -> str:
    """The report as one self-contained HTML page."""
    status = report.status
    made = datetime.fromtimestamp(report.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body: list[str] = [
        f'<header><h1>rtcdiag {_line(report.command)}</h1>'
        f'<p class="verdict status-{status}">{_e(report.verdict)}</p>'
        f'<p class="meta">exit code {report.exit_code} - run {made} - rtcdiag {__version__}</p>'
        "</header><main>"]
    if report.roots:
        word = "warning" if status == "warn" else "root cause"  # a pass has warnings, not causes
        title = f"Diagnosis: {word}" if report.root_count == 1 else \
            f"Diagnosis: {report.root_count} {word}s"
        body.append(f'<section class="diagnosis"><h2>{title}</h2>')
        body += [_block(group, report, root=True) for group in report.root_groups()]
        body.append("</section>")
    summary = report.summary
    if summary is not None and summary.rows:  # one line per server x transport, as the console's first screen
        body.append(f'<section class="summary">{table_html(summary)}</section>')
    info = report.info_groups()
    if info:
        body.append('<section class="record"><h2>For the record</h2>')
        body += [_block(group, report, root=False) for group in info]
        body.append("</section>")
    sections = report.visuals
    if len(sections) > 1:
        body.append("<nav><h2>Contents</h2><ul>" + "".join(
            f'<li><a href="#part-{i}">{svg.safe(s.title, 200)}</a></li>' for i, s in enumerate(sections))
            + "</ul></nav>")
    body += [_section(s, f"part-{i}") for i, s in enumerate(sections)]
    tables = report.tables or ([Table(title="Checks", columns=["server", "check", "status", "message"],
                                      rows=[[c.suite, c.name, c.status.value, c.message]
                                            for c in report.checks])] if report.checks else [])
    if tables:
        opened = "" if sections else " open"
        body.append(f'<section class="tables"><details{opened}><summary>The report\'s tables '
                    f"({len(tables)}, as "
                    "the console shows them)</summary>" + "".join(table_html(t) for t in tables)
                    + "</details></section>")
    notes = [*report.notes, *report.detail_notes]  # the whole report, as -v shows it
    if notes:
        body.append('<section class="notes"><h2>Notes</h2><ul>'
                    + "".join(f"<li>{_e(note)}</li>" for note in notes) + "</ul></section>")
    footer = f"Took {report.duration_s:.2f} s."
    if report.findings:
        footer += " <code>rtcdiag explain ID</code> describes a finding."
    body.append(f"<footer>{footer}</footer></main>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="referrer" content="no-referrer">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>rtcdiag {_line(report.command)}: {_e(report.verdict)}</title>"
            '<link rel="icon" href="data:,">'
            f"<style>{STYLE}</style></head>\n<body>" + "".join(body) + "</body></html>\n")

"""The ``browser`` check: the Trickle ICE page in a real headless Chromium (rtcdiag.probes.browser_ice), and
aioice with the same servers side by side; the run's webrtc-internals dump is parsed here and judged by
``rtcdiag analyze``'s rules (rtcdiag.triage.browser). Also the report's tables."""

from __future__ import annotations

import asyncio
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

from rtcdiag.checks.engine import Check, Job
from rtcdiag.checks.plan import assign_browser_entries, usable_ice_targets
from rtcdiag.checks.registry import Entry, Planning
from rtcdiag.evidence.sniff import EvidenceError, inflate_gzip, is_gzip
from rtcdiag.evidence.webrtc_internals import InternalsDump, parse_internals
from rtcdiag.probes.browser_ice import READY_MARKER, BrowserIceOptions, Gathering
from rtcdiag.probes.browser_ice import BrowserIceResult as BrowserIceResult  # the result type, for commands
from rtcdiag.probes.browser_ice import probe as browser_probe
from rtcdiag.probes.ice import IceOptions, IceServer
from rtcdiag.redact import echo
from rtcdiag.report.model import Table
from rtcdiag.timeouts import Timeouts
from rtcdiag.triage import browser as rules
from rtcdiag.triage.browser import BrowserEvidence
from rtcdiag.triage.finding import Subject

MAX_DUMP_TEXT = 50 * 1024 * 1024


@dataclass(frozen=True)
class BrowserPlan:
    servers: list[IceServer]
    options: BrowserIceOptions
    ice_options: IceOptions | None = None  # None: no aioice run to compare with
    label_prefix: str = ""  # "firefox " when two engines share one report


def dump_text(raw: bytes) -> str:
    """The downloaded dump as text (Chromium gzips it when its "Compress" box is ticked, the default)."""
    data = raw
    if is_gzip(raw):
        inflated = inflate_gzip(raw, MAX_DUMP_TEXT)
        if inflated.over_limit:
            raise EvidenceError("webrtc-internals dump larger than 50 MB")
        data = inflated.data
    return data.decode("utf-8", errors="replace")


def relabel(dump: InternalsDump, labels: list[str]) -> None:
    """Drop the page's marker connection and name the others after what the page made them for (they are
    numbered in creation order, ``<rid>-<lid>``); unchanged when the count does not match."""
    pcs = [pc for pc in dump.peer_connections
           if not any(READY_MARKER in e.value for e in pc.events[:5])]
    dump.peer_connections = pcs

    def lid(key: str) -> int:
        tail = key.rpartition("-")[2]
        return int(tail) if tail.isdigit() else 0

    if len(pcs) != len(labels):
        dump.notes.append(f"{len(pcs)} peer connections in the dump, {len(labels)} made by the page: "
                          "connections keep their webrtc-internals ids")
        return
    for pc, label in zip(sorted(pcs, key=lambda p: lid(p.key)), labels, strict=True):
        pc.key = label


def read_firefox(result: BrowserIceResult) -> tuple[InternalsDump | None, str]:
    """Firefox's report and ICE log of the run, read as ``rtcdiag analyze`` reads them; the connections
    named after what the page made them for (Firefox numbers its pcids in creation order), the page's
    marker connection (the last one) dropped."""
    from rtcdiag.evidence.firefox import attach_log, parse_firefox
    from rtcdiag.evidence.firefox_log import parse_ice_log

    if not result.firefox_report:
        return None, "Firefox gave no report"
    try:
        dump = parse_firefox(result.firefox_report.decode("utf-8", "replace"), "Firefox report of this run")
    except EvidenceError as exc:
        return None, str(exc)[:300]
    attach_log(dump, parse_ice_log(result.firefox_log, "Firefox ICE log of this run"))

    def created(pcid: str) -> int:
        handle = pcid.partition("}")[2].split("(")[0].strip()
        return int(handle) if handle.isdigit() else 0

    pcs = sorted(dump.peer_connections, key=lambda pc: created(pc.native_id))
    if len(pcs) == len(result.pc_labels) + 1:
        pcs = pcs[:-1]  # the marker connection the page makes last
        for pc, label in zip(pcs, result.pc_labels, strict=True):
            pc.key = label
    else:
        dump.notes.append(f"{len(pcs)} peer connections in the report, {len(result.pc_labels)} made by the "
                          "page: connections keep Firefox's ids")
    dump.peer_connections = pcs
    return dump, ""


def read_dump(result: BrowserIceResult, source: str = "webrtc-internals dump of this run",
              ) -> tuple[InternalsDump | None, str]:
    if result.engine == "firefox":
        return read_firefox(result)
    if not result.internals_dump:
        return None, "Chromium gave no dump"
    try:
        dump = parse_internals(dump_text(result.internals_dump), source)
    except (EvidenceError, ValueError) as exc:
        return None, str(exc)[:300]
    relabel(dump, result.pc_labels)
    return dump, ""


async def _run(plan: BrowserPlan) -> BrowserEvidence:
    from rtcdiag.probes.ice import probe as ice_probe

    browser_task = browser_probe(plan.servers, plan.options)
    if plan.ice_options is not None:
        page, ice = await asyncio.gather(browser_task, ice_probe(plan.servers, plan.ice_options))
    else:
        page, ice = await browser_task, None
    prefix = plan.label_prefix
    if prefix:  # two engines in one report: their connections and calls apart
        page.pc_labels = [f"{prefix}{label}" for label in page.pc_labels]
        for call in page.calls:
            call.label = f"{prefix}{call.label}"
        for gathering in page.gatherings:
            gathering.label = f"{prefix}{gathering.label}"
    dump, error = read_dump(page) if not page.error else (None, "")
    return BrowserEvidence(page=page, dump=dump, dump_error=error, ice=ice, timeout_s=plan.options.timeout_s)


BROWSER: Check[BrowserPlan, BrowserEvidence] = Check(rules.CHECK, _run, rules.judge)


# ---- tables ------------------------------------------------------------------------------------------------

def candidate_table(g: Gathering, browser: str = "Chromium") -> Table:
    """One gathering's candidates, as the Trickle ICE page lists them."""
    rows = [[f"{c.ms:.0f}", c.type, c.foundation[:10], c.protocol, c.address, str(c.port), str(c.priority),
             c.relay_protocol or "-", c.url or "-"] for c in g.candidates]
    rows += [[f"{e.ms:.0f}", "error", "-", "-", e.address or "-", str(e.port or "-"), "-", "-",
              f"{e.url} {e.code} {echo(e.text)}"] for e in g.errors]
    title = f"{browser} candidates: {g.label.removeprefix('gather ')} (gathering {g.state}"
    title += f" in {g.ms:.0f} ms)" if g.ms is not None else ")"
    return Table(title=title, columns=["ms", "type", "foundation", "protocol", "address", "port", "priority",
                                       "relay protocol", "URL / error"], rows=rows)


def calls_table(result: BrowserIceResult) -> Table:
    rows = [[c.label, c.policy, c.state, "-" if c.connect_ms is None else f"{c.connect_ms:.0f} ms",
             rules.pair_text(c), f"{c.received}/{c.sent}", str(c.lost), rules.rtt_text(c)]
            for c in result.calls]
    title = f"{rules.browser_name(result)} calls (two peer connections in the page, data-channel echo)"
    return Table(title=title,
                 columns=["call", "policy", "connection", "connected in", "selected pair", "echoed", "lost",
                          "RTT min / median / max"], rows=rows)


def comparison_table(evidence: BrowserEvidence) -> Table | None:
    rows = [[c.url, c.browser, c.aioice, "-" if c.agree is None else "yes" if c.agree else "NO"]
            for c in rules.compare(evidence.page, evidence.ice)]
    if not rows:
        return None
    browser = rules.browser_name(evidence.page)
    return Table(title=f"{browser} and aioice (rtcdiag ice) with the same servers",
                 columns=["server", browser, "aioice", "agree"], rows=rows)


def browser_tables(evidence: BrowserEvidence) -> list[Table]:
    page = evidence.page
    out: list[Table] = [candidate_table(g, rules.browser_name(page)) for g in page.gatherings]
    if page.calls:
        out.append(calls_table(page))
    table = comparison_table(evidence)
    if table is not None:
        out.append(table)
    return out


def browser_notes(evidence: BrowserEvidence) -> list[str]:
    browser = rules.browser_name(evidence.page)
    notes = [f"{browser}: {evidence.page.user_agent}"] if evidence.page.user_agent else []
    if evidence.dump is not None:
        notes += [f"{browser} evidence: {n}" for n in evidence.dump.notes[:10]]
    return notes


def gzip_dump(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"))


SUBJECT = "chromium"
MESSAGES = 3  # data-channel echoes per call in ``rtcdiag check --browser``


def config_jobs(planning: Planning) -> list[Job[BrowserPlan, BrowserEvidence]]:
    """``check --browser``: one headless Chromium run with every server's URLs (aioice already runs as the
    ``ice`` check, so no second comparison run)."""
    from rtcdiag.checks.ice import ice_servers_from_targets

    servers = ice_servers_from_targets(usable_ice_targets(planning.plans))
    if not servers:
        return []
    options = BrowserIceOptions(executable=planning.browser_path, messages=MESSAGES,
                                timeout_s=planning.timeouts.browser_s)
    return [Job(BROWSER, BrowserPlan(servers, options), Subject(SUBJECT), f"browser {len(servers)} URL(s)")]


ENTRIES = (Entry(BROWSER, BrowserEvidence, config_jobs=config_jobs, tables=browser_tables,
                 assign_entries=assign_browser_entries),)


# ---- `rtcdiag browser`: can a browser run here, and the plan of each engine ----------------------------

INSTALL_HINT = "apt-get install -y chromium (or --browser-path PATH) and pip install 'rtcdiag[browser]'"
FIREFOX_HINT = "apt-get install -y firefox-esr (or --browser-path PATH with --engine firefox)"


def firefox_unavailable(path: Path | None) -> str | None:
    """Why no Firefox run can happen here (None: it can): Firefox is driven over Marionette, no package."""
    from rtcdiag.probes.firefox import find_firefox

    if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
        return f"--browser-path {path}: not an executable file"
    if path is None and find_firefox() is None:
        return f"no browser: Firefox is not installed; install: {FIREFOX_HINT}"
    return None


def chromium_unavailable(path: Path | None) -> str | None:
    """Why no browser run can happen here, in one line with how to install (None: it can). Nothing is
    imported: Playwright loads only when the run starts."""
    import importlib.util

    from rtcdiag.probes.browser import find_chromium

    if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
        return f"--browser-path {path}: not an executable file"
    if path is None and find_chromium() is None:
        return f"no browser: Chromium is not installed; install: {INSTALL_HINT}"
    if importlib.util.find_spec("playwright") is None:
        return f"no browser driver: Playwright for Python is not installed; install: {INSTALL_HINT}"
    return None




def chromium_installed() -> bool:
    from rtcdiag.probes.browser import find_chromium

    return find_chromium() is not None


def unavailable(engine: str, path: Path | None) -> str | None:
    """Why ``engine`` ("chromium" or "firefox") cannot run here, in one line with how to install."""
    return firefox_unavailable(path) if engine == "firefox" else chromium_unavailable(path)


def engine_plans(servers: list[IceServer], engines: tuple[str, ...], *, executable: str | None,
                 relay_only: bool, messages: int, timeouts: Timeouts, compare: bool) -> list[BrowserPlan]:
    """One plan per engine, run one after the other; aioice (when compared) runs once, beside the first."""
    from rtcdiag.checks.ice import ice_options as make_ice_options

    ice_options = (make_ice_options(timeouts, packets=min(messages, 20), relay_only=relay_only) if compare
                   else None)
    plans: list[BrowserPlan] = []
    for name in engines:
        options = BrowserIceOptions(executable=executable, relay_only=relay_only, messages=messages,
                                    timeout_s=timeouts.transaction_s, engine=name)
        prefix = f"{name} " if len(engines) > 1 else ""
        plans.append(BrowserPlan(servers, options, ice_options if name == engines[0] else None, prefix))
    return plans
